-- A row merged into a survivor that a decision on another conflict then
-- removes goes where its survivor goes. The second environment's davolio
-- (4) is merged into the first's (1) by their email; ids 1 collide
-- (davolio and buchanan) and ids 4 (eve and davolio). delete_all on the
-- id-1 collision deletes davolio's survivor: the second environment's
-- davolio is deleted with it, and its order becomes a relationship
-- conflict naming that decision (it was loaded as eve's order, untranslated).
-- keep of buchanan merges davolio's survivor into buchanan: the order
-- follows it there.
BEGIN;
SELECT plan(5);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_mr_e1;
  CREATE SCHEMA tap_mr_e2;
  CREATE TABLE tap_mr_e1.mr_employee (employee_id int PRIMARY KEY, email text NOT NULL UNIQUE, last_name text,
                                      tdm_release text, tdm_feature text);
  CREATE TABLE tap_mr_e1.mr_order (order_id int PRIMARY KEY, employee_id int REFERENCES tap_mr_e1.mr_employee,
                                   order_date date, tdm_release text, tdm_feature text);
  CREATE TABLE tap_mr_e2.mr_employee (LIKE tap_mr_e1.mr_employee INCLUDING ALL);
  CREATE TABLE tap_mr_e2.mr_order (order_id int PRIMARY KEY, employee_id int REFERENCES tap_mr_e2.mr_employee,
                                   order_date date, tdm_release text, tdm_feature text);
  INSERT INTO tap_mr_e1.mr_employee VALUES (1, 'davolio@nw', 'Davolio', 'TMR', 'F'), (4, 'eve@nw', 'Eve', 'TMR', 'F'),
                                            (7, 'pat@nw', 'Pat', 'TMR', 'F');
  INSERT INTO tap_mr_e1.mr_order VALUES (1, 4, '2024-01-01', 'TMR', 'F');
  INSERT INTO tap_mr_e2.mr_employee VALUES (1, 'buchanan@nw', 'Buchanan', 'TMR', 'F'), (4, 'davolio@nw', 'Davolio', 'TMR', 'F'),
                                            (7, 'pat@nw', 'Patricia', 'TMR', 'G');
  INSERT INTO tap_mr_e2.mr_order VALUES (1, 4, '2024-01-08', 'TMR', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_mr_self');
CREATE SCHEMA tap_mr;
CREATE TABLE tap_mr.mr_employee (employee_id int PRIMARY KEY, email text NOT NULL UNIQUE, last_name text,
                                 tdm_release text, tdm_feature text);
CREATE TABLE tap_mr.mr_order (order_id int PRIMARY KEY, employee_id int REFERENCES tap_mr.mr_employee,
                              order_date date, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('mr1', 'tap_mr_self', 10, 'tap_mr_e1'), tdm.add_environment('mr2', 'tap_mr_self', 20, 'tap_mr_e2');
SELECT tdm.manage_table('tap_mr.mr_employee', '{email}', surrogate_key => true),
       tdm.manage_table('tap_mr.mr_order', surrogate_key => true);
SELECT tdm.create_release('TMR'), tdm.add_feature('TMR', 'F', 1), tdm.add_feature('TMR', 'G', 1);
SELECT tdm.tag_release('TMR'), tdm.consolidate('TMR', 'tap_mr') AS run \gset
SELECT c.conflict_id AS id1 FROM tdm.conflict c
 WHERE c.run_id = :run AND c.rel = 'tap_mr.mr_employee'::regclass AND c.rule = 'distinct_entities'
   AND c.members -> 0 -> 'row' ->> 'employee_id' = '1' \gset
-- (pat's features tie: the run waits for that decision.)
SELECT tdm.resolve(conflict_id, 'keep', 'mr1', rationale => 'Pat') FROM tdm.review_queue;

SELECT tdm.resolve(:'id1', 'delete_all', rationale => 'drop the id-1 rows');
SELECT tdm.consolidate('TMR', 'tap_mr');
SELECT is((SELECT string_agg(format('%s %s: %s', rel, kind, rationale), '; ') FROM tdm.review_queue),
          format('tap_mr.mr_order relationship: references tap_mr.mr_employee (4) of mr2 by employee_id, merged into mr1''s row (1), which decision %s deleted',
                 :'id1'),
          'delete_all of davolio''s survivor: the copy merged into it is deleted too, its order goes to review');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'awaiting_review', 'nothing is loaded meanwhile');
SELECT results_eq($$SELECT rows_merged, rows_deleted FROM tdm.run WHERE run_id = $$ || :run, $$VALUES (1::bigint, 3::bigint)$$,
          'row accounting: davolio of mr2 counts as deleted, not merged (pat of mr2 is merged)');

-- The reviewer keeps buchanan instead: davolio's survivor is merged into him.
DELETE FROM tdm.decision WHERE conflict_id = :'id1';
SELECT tdm.resolve(:'id1', 'keep', 'mr2', rationale => 'buchanan stays');
SELECT tdm.consolidate('TMR', 'tap_mr');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'the run completes');
SELECT results_eq($$SELECT o.order_date::text, e.email FROM tap_mr.mr_order o JOIN tap_mr.mr_employee e USING (employee_id)
                     ORDER BY 1$$,
                  $$VALUES ('2024-01-01', 'eve@nw'), ('2024-01-08', 'buchanan@nw')$$,
                  'mr2''s order follows davolio where the decision sent him, not to eve who holds key 4');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_mr_e1, tap_mr_e2 CASCADE;
