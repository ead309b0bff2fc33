-- tdm.progress counts rows as collection and the load write them, not
-- tables (DESIGN.md: rows done / total; p316 saw collect 0/1 and load
-- 0/45000 until each phase ended): collection adds the rows it has
-- written to its job's slot every 8,192 rows and at its end, and so does
-- the direct load, whose total is the rows to load.
BEGIN;
SELECT plan(3);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_pr_e1;
  CREATE TABLE tap_pr_e1.pr_item (id int PRIMARY KEY, label text, tdm_release text, tdm_feature text);
  INSERT INTO tap_pr_e1.pr_item SELECT g, 'item ' || g, 'TPR', 'F' FROM generate_series(1, 20000) g$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_pr_self');
CREATE SCHEMA tap_pr;
CREATE TABLE tap_pr.pr_item (id int PRIMARY KEY, label text, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('pr1', 'tap_pr_self', 10, 'tap_pr_e1');
SELECT tdm.manage_table('tap_pr.pr_item');
SELECT tdm.create_release('TPR'), tdm.add_feature('TPR', 'F', 1);
SELECT tdm.tag_release('TPR');

-- Collection's copy, under a job slot of its own (given back after).
SAVEPOINT collecting;
SELECT tdm._progress_begin(-7101, 'consolidate', 'TPR');
SELECT tdm._progress(-7101, 'collect', 0, 20000);
CREATE TEMP TABLE tap_pr_collected (tdm_row_hash bigint, id int, label text, tdm_env text);
SELECT tdm._collect_rows('pg_temp.tap_pr_collected'::regclass,
                         'SELECT 1, g, ''item '' || g FROM generate_series(1, 20000) g WHERE $1 IS NOT NULL',
                         'TPR', '{pr1}');
SELECT is((SELECT done || '/' || total FROM tdm.progress WHERE job_id = -7101), '20000/20000',
  'collection counts the rows it has written (two steps of 8,192 and the rest)');
ROLLBACK TO SAVEPOINT collecting;

-- The consolidation's slot stays until the transaction ends, in its last
-- phase: the load, every row counted.
SELECT tdm.consolidate('TPR', 'tap_pr');
SELECT job_id AS consolidating FROM tdm.run WHERE release = 'TPR' \gset
SELECT is((SELECT phase FROM tdm.progress WHERE job_id = :consolidating), 'load', 'the last phase is the load');
SELECT is((SELECT done || '/' || total FROM tdm.progress WHERE job_id = :consolidating), '20000/20000',
  'the load counts the rows it has written, of the rows to load');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_pr_e1 CASCADE;
