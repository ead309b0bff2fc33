-- A row kept on its relationship conflict whose key names its deleted
-- parent: rk2's line (1, 1) belongs to order B (rk2's order 1), which a
-- reviewer deletes; rk1's line (1, 1) belongs to order A (rk1's order 1).
-- A rule took the kept line for rk1's, by its key, and merged it away:
-- the reviewer's keep overruled, the line lost, the run completed. It
-- stays now, and validation refuses it, naming the decision; decided
-- delete_all, the run completes with A's line.
BEGIN;
SELECT plan(5);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.rl_tables(s text) RETURNS text LANGUAGE sql AS $$
  SELECT format($ddl$
    CREATE TABLE %1$I.rl_order (order_id serial PRIMARY KEY, order_no text UNIQUE, note text,
                                tdm_release text, tdm_feature text);
    CREATE TABLE %1$I.rl_line (order_id int REFERENCES %1$I.rl_order, line_no int, sku text,
                               tdm_release text, tdm_feature text, PRIMARY KEY (order_id, line_no));$ddl$, s)
$$;
SELECT dblink_exec(pg_temp.conninfo(current_database()), format($$
  CREATE SCHEMA tap_rl_e1;
  CREATE SCHEMA tap_rl_e2;
  %1$s
  %2$s
  INSERT INTO tap_rl_e1.rl_order VALUES (1, 'A', 'x', 'TRL', 'F1'), (2, 'B', 'n1', 'TRL', 'F1');
  INSERT INTO tap_rl_e1.rl_line VALUES (1, 1, 'line-of-A', 'TRL', 'F1');
  INSERT INTO tap_rl_e2.rl_order VALUES (1, 'B', 'n2', 'TRL', 'F2');
  INSERT INTO tap_rl_e2.rl_line VALUES (1, 1, 'line-of-B', 'TRL', 'F1');$$,
  pg_temp.rl_tables('tap_rl_e1'), pg_temp.rl_tables('tap_rl_e2'))) \g /dev/null
SELECT pg_temp.loopback_server('tap_rl_self');
CREATE SCHEMA tap_rl;
SELECT format('%s', pg_temp.rl_tables('tap_rl')) \gexec
SELECT tdm.add_environment('rl1', 'tap_rl_self', 10, 'tap_rl_e1'), tdm.add_environment('rl2', 'tap_rl_self', 20, 'tap_rl_e2');
SELECT tdm.manage_table('tap_rl.rl_order', '{order_no}'), tdm.manage_table('tap_rl.rl_line');
-- (features of one priority: the two B orders wait for a reviewer)
SELECT tdm.create_release('TRL'), tdm.add_feature('TRL', 'F1', 1), tdm.add_feature('TRL', 'F2', 1);
CREATE ROLE tap_rl_approver IN ROLE tdm_reviewer;
CREATE FUNCTION pg_temp.approve_all() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE 'SET SESSION AUTHORIZATION tap_rl_approver';
  PERFORM tdm.approve(d.conflict_id) FROM tdm.decision d JOIN tdm.conflict c USING (conflict_id)
    WHERE c.priority = 1 AND d.approved_by IS NULL;
  EXECUTE 'RESET SESSION AUTHORIZATION';
END
$$;
SELECT tdm.tag_release('TRL');
SELECT tdm.consolidate('TRL', 'tap_rl') AS run \gset
SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'order B is junk')
  FROM tdm.review_queue WHERE rel = 'tap_rl.rl_order'::regclass AND kind <> 'relationship';
SELECT pg_temp.approve_all(), tdm.consolidate('TRL', 'tap_rl');
SELECT conflict_id AS kept_line FROM tdm.review_queue WHERE kind = 'relationship' \gset
SELECT tdm.resolve(:'kept_line', 'keep', rationale => 'keep the line');
SELECT pg_temp.approve_all(), tdm.consolidate('TRL', 'tap_rl');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'invalid',
  'the kept line is not merged into order A''s line: the run is invalid');
SELECT results_eq(format($$SELECT kind, row_key ->> 'env', detail -> 'decision' ->> 'conflict_id' FROM tdm.violation
                            WHERE run_id = %s AND kind = 'foreign_key'$$, :run),
  format($$VALUES ('foreign_key', 'rl2', %L)$$, :'kept_line'),
  'validation refuses its reference, naming the reviewer''s decision');
SELECT is((SELECT count(*) FROM tap_rl.rl_line), 0::bigint, 'nothing is loaded');

UPDATE tdm.decision SET action = 'delete_all', rationale = 'B''s line goes with B' WHERE conflict_id = :'kept_line';
SELECT pg_temp.approve_all(), tdm.consolidate('TRL', 'tap_rl');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'decided delete_all, the run completes');
SELECT results_eq($$SELECT o.order_no, l.sku FROM tap_rl.rl_line l JOIN tap_rl.rl_order o USING (order_id)$$,
  $$VALUES ('A', 'line-of-A')$$, 'order A keeps its own line');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_rl_e1, tap_rl_e2 CASCADE;
