-- A row re-keyed by an earlier call keeps its key unless a row of the
-- table now holds it, or held it and was deleted: order B1 of rk2 (key
-- 1, taken by rk1's A1) got key 2 in the first call; rk2 then gains
-- order X2 with its own key 2, whose customer a reviewer deletes, and X2
-- with it. X2's lines are named by (rk2, 2): had B1 kept 2, its lines
-- would have been taken for X2's and deleted with them.
BEGIN;
SELECT plan(5);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.rk_tables(s text) RETURNS text LANGUAGE sql AS $$
  SELECT format($ddl$
    CREATE TABLE %1$I.rk_customer (customer_id serial PRIMARY KEY, email text NOT NULL UNIQUE, name text NOT NULL,
                                   tdm_release text, tdm_feature text);
    CREATE TABLE %1$I.rk_order (order_id serial PRIMARY KEY, order_no text NOT NULL UNIQUE,
                                customer_id int NOT NULL REFERENCES %1$I.rk_customer, tdm_release text, tdm_feature text);
    CREATE TABLE %1$I.rk_line (order_id int NOT NULL REFERENCES %1$I.rk_order, line_no int NOT NULL, qty int NOT NULL,
                               tdm_release text, tdm_feature text, PRIMARY KEY (order_id, line_no));$ddl$, s)
$$;
SELECT dblink_exec(pg_temp.conninfo(current_database()), format($$
  CREATE SCHEMA tap_rk_e1;
  CREATE SCHEMA tap_rk_e2;
  %1$s
  %2$s
  INSERT INTO tap_rk_e1.rk_customer VALUES (1, 'a@x', 'A', 'TRK', 'F1');
  INSERT INTO tap_rk_e1.rk_order VALUES (1, 'A1', 1, 'TRK', 'F1');
  INSERT INTO tap_rk_e1.rk_line VALUES (1, 1, 1, 'TRK', 'F1');
  INSERT INTO tap_rk_e2.rk_customer VALUES (1, 'a@x', 'A', 'TRK', 'F1');
  INSERT INTO tap_rk_e2.rk_order VALUES (1, 'B1', 1, 'TRK', 'F1');
  INSERT INTO tap_rk_e2.rk_line VALUES (1, 1, 7, 'TRK', 'F1'), (1, 2, 8, 'TRK', 'F1');$$,
  pg_temp.rk_tables('tap_rk_e1'), pg_temp.rk_tables('tap_rk_e2'))) \g /dev/null
SELECT pg_temp.loopback_server('tap_rk_self');
CREATE SCHEMA tap_rk;
SELECT format('%s', pg_temp.rk_tables('tap_rk')) \gexec
SELECT tdm.add_environment('rk1', 'tap_rk_self', 10, 'tap_rk_e1'), tdm.add_environment('rk2', 'tap_rk_self', 20, 'tap_rk_e2');
SELECT tdm.manage_table('tap_rk.rk_customer', '{email}'), tdm.manage_table('tap_rk.rk_order', '{order_no}'),
       tdm.manage_table('tap_rk.rk_line');
SELECT tdm.create_release('TRK'), tdm.add_feature('TRK', 'F1', 1), tdm.add_feature('TRK', 'F2', 1);
CREATE ROLE tap_rk_approver IN ROLE tdm_reviewer;
SELECT tdm.tag_release('TRK');
SELECT tdm.consolidate('TRK', 'tap_rk') AS run \gset
SELECT results_eq(format($$SELECT env, old_key ->> 'order_id', new_key ->> 'order_id' FROM tdm.key_map
                            WHERE run_id = %s AND rel = 'tap_rk.rk_order'::regclass$$, :run),
  $$VALUES ('rk2', '1', '2')$$, 'the first call gives rk2''s B1 key 2');

-- rk2 gains X2 (its own key 2), rk1 another X2 of another customer x@x.
-- (Written through the server tdm reads them by: its remote transaction,
-- open since the first call, sees them.)
CREATE SCHEMA tap_rk_w1;
CREATE SCHEMA tap_rk_w2;
IMPORT FOREIGN SCHEMA tap_rk_e1 FROM SERVER tap_rk_self INTO tap_rk_w1;
IMPORT FOREIGN SCHEMA tap_rk_e2 FROM SERVER tap_rk_self INTO tap_rk_w2;
INSERT INTO tap_rk_w2.rk_customer VALUES (5, 'x@x', 'X', 'TRK', 'F1');
INSERT INTO tap_rk_w2.rk_order VALUES (2, 'X2', 5, 'TRK', 'F1');
INSERT INTO tap_rk_w2.rk_line VALUES (2, 1, 99, 'TRK', 'F1');
INSERT INTO tap_rk_w1.rk_customer VALUES (6, 'x@x', 'X other', 'TRK', 'F2');
INSERT INTO tap_rk_w1.rk_order VALUES (9, 'X2', 6, 'TRK', 'F1');
INSERT INTO tap_rk_w1.rk_line VALUES (9, 1, 99, 'TRK', 'F1');
SELECT tdm.tag_release('TRK');
-- (every waiting conflict deleted, approved where it needs it, three
-- rounds: the customer, its orders, their lines)
CREATE FUNCTION pg_temp.delete_waiting() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tdm.resolve(q.conflict_id, 'delete_all', rationale => 'x@x is junk')
     FROM tdm.review_queue q WHERE q.release = 'TRK';
  EXECUTE 'SET SESSION AUTHORIZATION tap_rk_approver';
  PERFORM tdm.approve(d.conflict_id) FROM tdm.decision d JOIN tdm.conflict c USING (conflict_id)
    WHERE c.priority = 1 AND d.approved_by IS NULL;
  EXECUTE 'RESET SESSION AUTHORIZATION';
END
$$;
SELECT tdm.consolidate('TRK', 'tap_rk');
SELECT pg_temp.delete_waiting(), tdm.consolidate('TRK', 'tap_rk');
SELECT pg_temp.delete_waiting(), tdm.consolidate('TRK', 'tap_rk');
SELECT pg_temp.delete_waiting(), tdm.consolidate('TRK', 'tap_rk');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'the run completes');
SELECT results_eq($$SELECT o.order_no, l.line_no, l.qty FROM tap_rk.rk_line l JOIN tap_rk.rk_order o USING (order_id)
                     ORDER BY 1, 2$$,
  $$VALUES ('A1', 1, 1), ('B1', 1, 7), ('B1', 2, 8)$$, 'B1 keeps its lines; only X2''s go');
SELECT ok((SELECT order_id FROM tap_rk.rk_order WHERE order_no = 'B1') NOT IN (2, 9),
  'B1 takes a key no deleted order of the table had');
SELECT results_eq(format($$SELECT rows_loaded, rows_merged, rows_deleted, rows_renamed FROM tdm.run WHERE run_id = %s$$,
                         :run),
  $$VALUES (6::bigint, 1::bigint, 6::bigint, 3::bigint)$$,
  'the accounting: 13 collected = 6 loaded + 1 merged + 6 deleted; B1 and its lines renamed');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_rk_e1, tap_rk_e2 CASCADE;
