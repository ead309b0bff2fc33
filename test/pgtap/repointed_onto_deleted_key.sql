-- A row re-pointed onto the key a deleted row of its environment had:
-- km3's order 12 (O10) merges into km2's order 10, so km3's line (12, 1)
-- becomes (10, 1), the key of km3's line of its own order 10 (O2), which
-- a reviewer deletes with O2. The key map lost the re-pointed line's
-- entry: it was taken for the deleted line's, by environment and key.
BEGIN;
SELECT plan(3);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.km_tables(s text) RETURNS text LANGUAGE sql AS $$
  SELECT format($ddl$
    CREATE TABLE %1$I.km_order (order_id serial PRIMARY KEY, order_no text UNIQUE, note text,
                                tdm_release text, tdm_feature text);
    CREATE TABLE %1$I.km_line (order_id int REFERENCES %1$I.km_order, line_no int, sku text,
                               tdm_release text, tdm_feature text, PRIMARY KEY (order_id, line_no));$ddl$, s)
$$;
SELECT dblink_exec(pg_temp.conninfo(current_database()), format($$
  CREATE SCHEMA tap_km_e1;
  CREATE SCHEMA tap_km_e2;
  CREATE SCHEMA tap_km_e3;
  %1$s
  %2$s
  %3$s
  INSERT INTO tap_km_e1.km_order VALUES (7, 'O2', 'a', 'TKM', 'F1');
  INSERT INTO tap_km_e2.km_order VALUES (10, 'O10', 'n', 'TKM', 'F1');
  INSERT INTO tap_km_e3.km_order VALUES (10, 'O2', 'b', 'TKM', 'F1'), (12, 'O10', 'n', 'TKM', 'F1');
  INSERT INTO tap_km_e3.km_line VALUES (10, 1, 'S6', 'TKM', 'F1'), (12, 1, 'S7', 'TKM', 'F1');$$,
  pg_temp.km_tables('tap_km_e1'), pg_temp.km_tables('tap_km_e2'), pg_temp.km_tables('tap_km_e3'))) \g /dev/null
SELECT pg_temp.loopback_server('tap_km_self');
CREATE SCHEMA tap_km;
SELECT format('%s', pg_temp.km_tables('tap_km')) \gexec
SELECT tdm.add_environment('km1', 'tap_km_self', 10, 'tap_km_e1'), tdm.add_environment('km2', 'tap_km_self', 20, 'tap_km_e2'),
       tdm.add_environment('km3', 'tap_km_self', 30, 'tap_km_e3');
SELECT tdm.manage_table('tap_km.km_order', '{order_no}', core_columns => '{note}'), tdm.manage_table('tap_km.km_line');
SELECT tdm.create_release('TKM'), tdm.add_feature('TKM', 'F1', 1);
CREATE ROLE tap_km_approver IN ROLE tdm_reviewer;
CREATE FUNCTION pg_temp.delete_waiting() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tdm.resolve(q.conflict_id, 'delete_all', rationale => 'O2 is junk') FROM tdm.review_queue q WHERE q.release = 'TKM';
  EXECUTE 'SET SESSION AUTHORIZATION tap_km_approver';
  PERFORM tdm.approve(d.conflict_id) FROM tdm.decision d JOIN tdm.conflict c USING (conflict_id)
    WHERE c.priority = 1 AND d.approved_by IS NULL;
  EXECUTE 'RESET SESSION AUTHORIZATION';
END
$$;
SELECT tdm.tag_release('TKM');
SELECT tdm.consolidate('TKM', 'tap_km') AS run \gset
SELECT pg_temp.delete_waiting(), tdm.consolidate('TKM', 'tap_km');
SELECT pg_temp.delete_waiting(), tdm.consolidate('TKM', 'tap_km');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'the run completes');
SELECT results_eq($$SELECT o.order_no, l.order_id, l.line_no, l.sku FROM tap_km.km_line l JOIN tap_km.km_order o USING (order_id)$$,
  $$VALUES ('O10', 10, 1, 'S7')$$, 'O10''s line is loaded under its survivor''s key; O2''s is deleted');
SELECT results_eq(format($$SELECT env, old_key, new_key, reason FROM tdm.key_map
                            WHERE run_id = %s AND rel = 'tap_km.km_line'::regclass$$, :run),
  $$VALUES ('km3', '{"line_no": 1, "order_id": 12}'::jsonb, '{"line_no": 1, "order_id": 10}'::jsonb, 'repointed')$$,
  'the key map has the re-pointed line, though a deleted line of km3 had its new key');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_km_e1, tap_km_e2, tap_km_e3 CASCADE;
