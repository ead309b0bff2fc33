-- Recording a run's conflicts checks a conflict against its decision only
-- where there is one: the check reads the tables' references, a query of
-- its own, and once per conflict it made consolidation three times slower
-- (decision 301). Counted with track_functions, in this transaction.
BEGIN;
SELECT plan(3);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;
SET track_functions = 'all';

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_dc_e1;
  CREATE SCHEMA tap_dc_e2;
  CREATE TABLE tap_dc_e1.dc_item (id int PRIMARY KEY, label text, tdm_release text, tdm_feature text);
  CREATE TABLE tap_dc_e2.dc_item (LIKE tap_dc_e1.dc_item INCLUDING ALL);
  INSERT INTO tap_dc_e1.dc_item SELECT i, 'one ' || i, 'TDC', 'F' FROM generate_series(1, 20) i;
  INSERT INTO tap_dc_e2.dc_item SELECT i, 'two ' || i, 'TDC', 'F' FROM generate_series(1, 20) i$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_dc_self');
CREATE TABLE staging.dc_item (id int PRIMARY KEY, label text, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('dc1', 'tap_dc_self', 10, 'tap_dc_e1'),
       tdm.add_environment('dc2', 'tap_dc_self', 20, 'tap_dc_e2');
SELECT tdm.manage_table('staging.dc_item', core_columns => '{label}');
SELECT tdm.create_release('TDC'), tdm.add_feature('TDC', 'F', 1);
SELECT tdm.tag_release('TDC'), tdm.consolidate('TDC');
SELECT is((SELECT count(*) FROM tdm.review_queue), 20::bigint, 'twenty conflicts wait for review');
SELECT is((SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions
            WHERE schemaname = 'tdm' AND funcname = '_decided_on'), 0::numeric,
  'recording them checked no decision: there is none');

SELECT tdm.resolve(conflict_id, 'keep', keep_env => 'dc1', rationale => 'dc1 is right')
  FROM tdm.review_queue ORDER BY conflict_id LIMIT 2;
CREATE TEMP TABLE calls_before AS
  SELECT coalesce(sum(calls), 0) AS n FROM pg_stat_xact_user_functions
   WHERE schemaname = 'tdm' AND funcname = '_decided_on';
SELECT tdm.consolidate('TDC');
SELECT ok((SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions
            WHERE schemaname = 'tdm' AND funcname = '_decided_on') - (SELECT n FROM calls_before) BETWEEN 2 AND 10,
  'with two decisions, it checks those, not each of the twenty conflicts');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_dc_e1 CASCADE;
DROP SCHEMA tap_dc_e2 CASCADE;
