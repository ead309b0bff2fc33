-- A background consolidation's job that ends before its worker began
-- (status failed by the reaper) fails its run only if no call works it:
-- a run whose row another session holds (a foreground call working it,
-- its transaction still open) is skipped, not waited for. Waiting blocked
-- whoever reaped the job (wait_job, cancel_job, every call starting a
-- job) until that session committed, past wait_job's timeout, and a
-- wait_job of that session itself deadlocked with it.
-- (The job and its run are committed by another session, as a worker's
-- would be; this transaction holds the run's row.)
BEGIN;
SELECT plan(3);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_connect('tap_uw', pg_temp.conninfo(current_database()));
SELECT dblink_exec('tap_uw', $$SET idle_in_transaction_session_timeout = '30s'$$);
SELECT job_id AS held_job, run_id AS held_run
  FROM dblink('tap_uw', $$
    WITH r AS (INSERT INTO tdm.release (release) VALUES ('TUW') RETURNING release),
         j AS (INSERT INTO tdm.job (kind, release, status) SELECT 'consolidate', release, 'queued' FROM r
               RETURNING job_id, release)
    INSERT INTO tdm.run (release, target, job_id) SELECT release, 'staging', job_id FROM j
    RETURNING job_id, run_id$$) AS t(job_id bigint, run_id bigint) \gset
SELECT dblink_exec('tap_uw', format('UPDATE tdm.job SET detail = jsonb_build_object(''run_id'', %s) WHERE job_id = %s',
                                    :held_run, :held_job));

SELECT run_id FROM tdm.run WHERE run_id = :held_run FOR UPDATE;
SELECT dblink_exec('tap_uw', $$SET lock_timeout = '3s'$$);
SELECT lives_ok(format($$SELECT dblink_exec('tap_uw', 'UPDATE tdm.job SET status = ''failed'' WHERE job_id = %s')$$,
                       :held_job),
  'the job ends failed at once, though the run''s row is held');
SELECT is((SELECT status FROM tdm.job WHERE job_id = :held_job), 'failed', 'the job is failed');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :held_run), 'collecting',
  'the run the holder works on is left to it');

SELECT * FROM finish();
ROLLBACK;
SELECT dblink_disconnect('tap_uw') \g /dev/null
DELETE FROM tdm.run WHERE release = 'TUW';
DELETE FROM tdm.job WHERE release = 'TUW';
DELETE FROM tdm.release WHERE release = 'TUW';
