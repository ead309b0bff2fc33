-- A reviewer's keep on a key collision outranks the rule that merges the
-- kept row into another member's copy: st1's and st2's order 1 are exact
-- duplicates (the rule keeps st1's, by precedence), and st3's order 1 is
-- another; the reviewer keeps st2's on the key collision, merging st1's
-- and st3's into it. Each of st1's and st2's was merged into the other,
-- neither loaded, and st1's line failed validation ("no such parent row").
BEGIN;
SELECT plan(3);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.dc_tables(s text) RETURNS text LANGUAGE sql AS $$
  SELECT format($ddl$
    CREATE TABLE %1$I.dc_customer (id int PRIMARY KEY, email text NOT NULL UNIQUE, tier text,
                                   tdm_release text, tdm_feature text);
    CREATE TABLE %1$I.dc_order (id int PRIMARY KEY, note text, amount int, tdm_release text, tdm_feature text);
    CREATE TABLE %1$I.dc_line (order_id int REFERENCES %1$I.dc_order, line_no int, sku text NOT NULL UNIQUE,
                               tdm_release text, tdm_feature text, PRIMARY KEY (order_id, line_no));$ddl$, s)
$$;
SELECT dblink_exec(pg_temp.conninfo(current_database()), format($$
  CREATE SCHEMA tap_dc_e1;
  CREATE SCHEMA tap_dc_e2;
  CREATE SCHEMA tap_dc_e3;
  %1$s
  %2$s
  %3$s
  INSERT INTO tap_dc_e1.dc_customer VALUES (1, 'a@x', 'gold', 'TDC', 'F1');
  INSERT INTO tap_dc_e2.dc_customer VALUES (1, 'a@x', 'silver', 'TDC', 'F1');
  INSERT INTO tap_dc_e1.dc_order VALUES (1, 'o6', 36, 'TDC', 'F1');
  INSERT INTO tap_dc_e1.dc_line VALUES (1, 1, 'L7', 'TDC', 'F1');
  INSERT INTO tap_dc_e2.dc_order VALUES (1, 'o6', 36, 'TDC', 'F1');
  INSERT INTO tap_dc_e3.dc_order VALUES (1, 'o14', 469, 'TDC', 'F1');$$,
  pg_temp.dc_tables('tap_dc_e1'), pg_temp.dc_tables('tap_dc_e2'), pg_temp.dc_tables('tap_dc_e3'))) \g /dev/null
SELECT pg_temp.loopback_server('tap_dc_self');
CREATE SCHEMA tap_dc;
SELECT format('%s', pg_temp.dc_tables('tap_dc')) \gexec
SELECT tdm.add_environment('dc1', 'tap_dc_self', 10, 'tap_dc_e1'), tdm.add_environment('dc2', 'tap_dc_self', 20, 'tap_dc_e2'),
       tdm.add_environment('dc3', 'tap_dc_self', 30, 'tap_dc_e3');
SELECT tdm.manage_table('tap_dc.dc_customer', '{email}', core_columns => '{tier}'),
       tdm.manage_table('tap_dc.dc_order', surrogate_key => true), tdm.manage_table('tap_dc.dc_line', '{sku}');
SELECT tdm.create_release('TDC'), tdm.add_feature('TDC', 'F1', 1);
SELECT tdm.tag_release('TDC');
-- (the customer's tier waits for a reviewer: the rules are not applied yet)
SELECT tdm.consolidate('TDC', 'tap_dc') AS run \gset
SELECT tdm.resolve(conflict_id, 'keep', 'dc1', rationale => 'gold') FROM tdm.review_queue;
SELECT tdm.resolve(conflict_id, 'keep', 'dc2', rationale => 'one order, st2''s')
  FROM tdm.conflict WHERE run_id = :run AND rel = 'tap_dc.dc_order'::regclass AND kind = 'duplicate_pk';
CREATE ROLE tap_dc_approver;
GRANT tdm_reviewer TO tap_dc_approver;
SET SESSION AUTHORIZATION tap_dc_approver;
SELECT tdm.approve(conflict_id) FROM tdm.decision WHERE approved_by IS NULL AND decided_priority = 1;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TDC', 'tap_dc');

SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'the run completes');
SELECT results_eq($$SELECT o.id, o.note, l.sku FROM tap_dc.dc_order o LEFT JOIN tap_dc.dc_line l ON l.order_id = o.id$$,
  $$VALUES (1, 'o6', 'L7')$$, 'one order 1, with st1''s line');
SELECT results_eq(format($$SELECT (tables -> 'tap_dc.dc_order' ->> 'loaded')::int, (tables -> 'tap_dc.dc_order' ->> 'merged')::int
                             FROM tdm.run WHERE run_id = %s$$, :run),
  $$VALUES (1, 2)$$, 'st1''s and st3''s orders are merged into st2''s');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_dc_e1, tap_dc_e2, tap_dc_e3 CASCADE;
