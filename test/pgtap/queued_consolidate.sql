-- Two background consolidations of one release and target in one
-- transaction: the second call returns the first's run, with a NOTICE
-- naming the queued job, and queues no second job. (It took the run for a
-- job of its own; at commit the first job found the release busy and
-- failed its run, while the second made another, p322.) A job another
-- transaction queued, whose worker may be gone, is not joined (p323).
BEGIN;
SELECT plan(4);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_qc_e1;
  CREATE TABLE tap_qc_e1.qc_item (id int PRIMARY KEY, label text, tdm_release text, tdm_feature text);
  INSERT INTO tap_qc_e1.qc_item VALUES (1, 'one', 'TQC', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_qc_self');
CREATE SCHEMA tap_qc;
CREATE TABLE tap_qc.qc_item (id int PRIMARY KEY, label text, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('qc1', 'tap_qc_self', 10, 'tap_qc_e1');
SELECT tdm.manage_table('tap_qc.qc_item');
SELECT tdm.create_release('TQC'), tdm.add_feature('TQC', 'F', 1);
SELECT tdm.tag_release('TQC');

-- (a job left queued by another transaction: its worker never started)
INSERT INTO tdm.job (kind, release, status, detail)
VALUES ('consolidate', 'TQC', 'queued', '{"target": "tap_qc", "run_id": -1, "launched_in": "3"}');
SELECT tdm.consolidate('TQC', 'tap_qc', wait => false) AS first_run \gset
SELECT isnt(:first_run::bigint, -1::bigint, 'a job another transaction queued is not joined');
CREATE TEMP TABLE second_call AS SELECT tdm.consolidate('TQC', 'tap_qc', wait => false) AS run_id;
SELECT is((SELECT run_id FROM second_call), :first_run::bigint, 'the second call returns the first''s run');
SELECT is((SELECT count(*)::int FROM tdm.job WHERE kind = 'consolidate' AND release = 'TQC'
                                                AND detail ->> 'run_id' = :'first_run'), 1,
  'one job is queued for the run');
SELECT is((SELECT job_id FROM tdm.run WHERE run_id = :first_run),
          (SELECT job_id FROM tdm.job WHERE kind = 'consolidate' AND release = 'TQC'
                                        AND detail ->> 'run_id' = :'first_run'),
  'the run names that job');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_qc_e1 CASCADE;
