-- A boarding pass is keyed by its (ticket_no, flight_id), a foreign key to
-- the ticket's flight, and known by its seat, (flight_id, seat_no). Two
-- environments' passes on one seat, of two tickets, are two passengers'
-- passes: a reviewer says which keeps the seat (decision 341). A rule used
-- to merge them as one pass, "attributes identical", and the second
-- ticket's pass was gone, mapped to the first ticket's in the key map.
-- Two environments' passes of one ticket on one seat are still one pass.
BEGIN;
SELECT plan(7);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_ir_e1;
  CREATE SCHEMA tap_ir_e2;
  CREATE TABLE tap_ir_e1.ir_leg (ticket_no char(13), flight_id int, fare text, tdm_release text, tdm_feature text,
                                 PRIMARY KEY (ticket_no, flight_id));
  CREATE TABLE tap_ir_e1.ir_pass (ticket_no char(13), flight_id int, seat_no varchar(4) NOT NULL,
                                  tdm_release text, tdm_feature text, PRIMARY KEY (ticket_no, flight_id),
                                  FOREIGN KEY (ticket_no, flight_id) REFERENCES tap_ir_e1.ir_leg,
                                  UNIQUE (flight_id, seat_no));
  CREATE TABLE tap_ir_e2.ir_leg (LIKE tap_ir_e1.ir_leg INCLUDING ALL);
  CREATE TABLE tap_ir_e2.ir_pass (LIKE tap_ir_e1.ir_pass INCLUDING ALL);
  ALTER TABLE tap_ir_e2.ir_pass ADD FOREIGN KEY (ticket_no, flight_id) REFERENCES tap_ir_e2.ir_leg;
  INSERT INTO tap_ir_e1.ir_leg VALUES ('T1', 1, 'Economy', 'TIR', 'F'), ('T3', 2, 'Economy', 'TIR', 'F');
  INSERT INTO tap_ir_e2.ir_leg VALUES ('T2', 1, 'Economy', 'TIR', 'F'), ('T3', 2, 'Economy', 'TIR', 'F');
  INSERT INTO tap_ir_e1.ir_pass VALUES ('T1', 1, '1A', 'TIR', 'F'), ('T3', 2, '7C', 'TIR', 'F');
  INSERT INTO tap_ir_e2.ir_pass VALUES ('T2', 1, '1A', 'TIR', 'F'), ('T3', 2, '7C', 'TIR', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_ir_self');
CREATE SCHEMA tap_ir;
CREATE TABLE tap_ir.ir_leg (ticket_no char(13), flight_id int, fare text, tdm_release text, tdm_feature text,
                            PRIMARY KEY (ticket_no, flight_id));
CREATE TABLE tap_ir.ir_pass (ticket_no char(13), flight_id int, seat_no varchar(4) NOT NULL,
                             tdm_release text, tdm_feature text, PRIMARY KEY (ticket_no, flight_id),
                             FOREIGN KEY (ticket_no, flight_id) REFERENCES tap_ir.ir_leg,
                             UNIQUE (flight_id, seat_no));
SELECT tdm.add_environment('ir1', 'tap_ir_self', 10, 'tap_ir_e1'), tdm.add_environment('ir2', 'tap_ir_self', 20, 'tap_ir_e2');
SELECT tdm.manage_table('tap_ir.ir_leg'), tdm.manage_table('tap_ir.ir_pass', natural_keys => '{"flight_id, seat_no"}');
SELECT tdm.create_release('TIR'), tdm.add_feature('TIR', 'F', 1);
SELECT tdm.tag_release('TIR'), tdm.consolidate('TIR', 'tap_ir') AS run \gset

SELECT results_eq($$SELECT kind::text, status::text, rule::text, priority, rationale FROM tdm.conflict
                     WHERE run_id = (SELECT max(run_id) FROM tdm.run) AND rel = 'tap_ir.ir_pass'::regclass AND members::text LIKE '%ir2%'
                       AND members::text LIKE '%T2%'$$,
  $$VALUES ('duplicate_natural_key', 'pending', 'manual', 3,
            'ir1 and ir2 reference two rows by ticket_no under one key:'
            ' one row or two, a human decides (keep one, or keep_all with renames)')$$,
  'two tickets'' passes on one seat wait for a reviewer');
SELECT results_eq($$SELECT kind::text, status::text, rule::text FROM tdm.conflict
                     WHERE run_id = (SELECT max(run_id) FROM tdm.run) AND rel = 'tap_ir.ir_pass'::regclass AND members::text LIKE '%T3%'$$,
  $$VALUES ('exact_duplicate', 'auto_resolved', 'exact_duplicate')$$,
  'one ticket''s pass in both environments is still one pass');
SELECT is((SELECT status::text FROM tdm.run WHERE run_id = (SELECT max(run_id) FROM tdm.run)), 'awaiting_review', 'nothing is loaded before that');
SELECT is((SELECT count(*) FROM tdm.key_map
            WHERE run_id = (SELECT max(run_id) FROM tdm.run) AND rel = 'tap_ir.ir_pass'::regclass), 0::bigint,
          'no pass is mapped to another ticket''s');

-- The reviewer keeps both, the second on another seat.
SELECT tdm.resolve((SELECT conflict_id FROM tdm.review_queue WHERE release = 'TIR' AND rel = 'tap_ir.ir_pass'::regclass),
                   'keep_all', renames => '{"ir2": {"seat_no": "1B"}}', rationale => 'two passengers, two seats');
SELECT tdm.consolidate('TIR', 'tap_ir');
SELECT is((SELECT status::text FROM tdm.run WHERE run_id = (SELECT max(run_id) FROM tdm.run)), 'completed', 'decided, the release loads');
SELECT results_eq('SELECT rtrim(ticket_no), flight_id, seat_no::text FROM tap_ir.ir_pass ORDER BY 1',
                  $$VALUES ('T1', 1, '1A'), ('T2', 1, '1B'), ('T3', 2, '7C')$$,
                  'each ticket keeps its pass, on a seat of its own');
SELECT is((SELECT rows_collected - rows_loaded - rows_merged FROM tdm.run WHERE run_id = (SELECT max(run_id) FROM tdm.run)), 0::bigint,
          'every pass accounted for: one merged copy, the rest loaded');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_ir_e1, tap_ir_e2 CASCADE;
