-- Background jobs: wait => false starts a dynamic background worker; the
-- job is followed in tdm.progress, waited for, cancelled; a killed worker
-- leaves a failed job, not a running one. Every wait below is bounded
-- polling on a state the test itself holds (locks in other sessions), so
-- nothing depends on timing.
\set SHOW_CONTEXT never

-- Other sessions (dblink, with st1's loopback credentials): one in st1 and
-- one in this database, to hold locks a job will wait on.
\ir sql/include/sessions.sql
SELECT dblink_connect('env', pg_temp.env_conninfo('st1')) AS env_session,
       dblink_connect('here', pg_temp.conninfo(current_database())) AS second_session;

-- An asynchronous consolidation (R2 again: its run repeats), held first
-- in collection (st1's users locked) and then where it first reads
-- staging.users (locked too): progress shows both phases while the job's
-- transaction is open.
SELECT dblink_exec('env', 'BEGIN'), dblink_exec('env', 'LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
SELECT dblink_exec('here', 'BEGIN'),
       dblink_exec('here', 'LOCK TABLE staging.users IN ACCESS EXCLUSIVE MODE');
-- (In the background too the call returns the run id; tdm.run.job_id
-- names the job to wait for.)
SELECT tdm.consolidate('R2', wait => false) AS run \gset
SELECT job_id AS job FROM tdm.run WHERE run_id = :run \gset
SELECT status IN ('queued', 'running') AS started, kind, (detail ->> 'run_id')::bigint = :run AS job_of_the_run
  FROM tdm.job WHERE job_id = :job;
SELECT pg_temp.wait_until(format('EXISTS (SELECT 1 FROM tdm.progress WHERE job_id = %s AND phase = %L)',
                                 :job, 'collect')) AS seen_collect;
SELECT backend_type, a.pid = j.pid AS is_the_job
  FROM pg_stat_activity a JOIN tdm.job j ON j.job_id = :job AND a.pid = j.pid;
SELECT kind, release, phase, done, total, percent, elapsed >= '0 s' AS timed
  FROM tdm.progress WHERE job_id = :job;
-- (What it waits for: the environment's server, whose table is locked.)
SELECT pg_temp.wait_until(format('EXISTS (SELECT 1 FROM tdm.progress WHERE job_id = %s AND waiting_for = %L)',
                                 :job, 'an environment''s server (a remote query)')) AS waits_for_the_environment;
SELECT dblink_exec('env', 'ROLLBACK');
SELECT pg_temp.wait_until(format('EXISTS (SELECT 1 FROM tdm.progress WHERE job_id = %s AND phase <> %L)',
                                 :job, 'collect')) AS moved_on;
SELECT pg_temp.wait_until('EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted AND relation = ''staging.users''::regclass)')
         AS waits_for_staging;
-- (rows: the collected rows of the tables whose turn is over, of all
-- collected; staging.users, the first parent, has its turn first)
SELECT phase, done, total, waiting_for LIKE 'backend %' AS waits_for_a_backend
  FROM tdm.progress WHERE job_id = :job;
SELECT dblink_exec('here', 'ROLLBACK');
SELECT tdm.wait_job(:job, '120 s') AS final_status;
SELECT status, error, detail ->> 'run_status' AS run_status, finished_at >= started_at AS timed
  FROM tdm.job WHERE job_id = :job;
SELECT count(*) AS progress_rows_left FROM tdm.progress WHERE job_id = :job;
-- Waiting on a finished job returns at once (with a timeout past the
-- calendar's end too); cancelling it says so.
SELECT tdm.wait_job(:job);
SELECT tdm.wait_job(:job, '300000 years');
SELECT tdm.cancel_job(:job);

-- Tagging in the background too.
SELECT tdm.create_release('R4', 'v4.0', parent => 'R3');
SELECT tdm.add_feature('R4', 'FEAT-101', 1);
SELECT tdm.tag_release('R4', wait => false) AS tag_job \gset
SELECT tdm.wait_job(:tag_job, '60 s') AS tag_status;
SELECT kind, status, detail ->> 'locked' AS locked, detail ? 'launched_in' AS launched_in
  FROM tdm.job WHERE job_id = :tag_job;

-- Cancel: the worker stops where it is (held in collection), its
-- transaction rolls back, the job ends `cancelled`, staging is untouched.
CREATE TEMP TABLE staging_before AS
  SELECT (SELECT count(*) FROM staging.users) AS users, (SELECT count(*) FROM staging.accounts) AS accounts;
SELECT dblink_exec('env', 'BEGIN'), dblink_exec('env', 'LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
SELECT tdm.consolidate('R2', wait => false) AS run \gset
SELECT job_id AS job FROM tdm.run WHERE run_id = :run \gset
SELECT pg_temp.wait_until(format('EXISTS (SELECT 1 FROM tdm.progress WHERE job_id = %s AND phase = %L)',
                                 :job, 'collect')) AS running;
SELECT tdm.cancel_job(:job);
SELECT tdm.wait_job(:job, '60 s') AS final_status;
SELECT dblink_exec('env', 'ROLLBACK');
SELECT status, sqlstate, error FROM tdm.job WHERE job_id = :job;
-- (The run, which earlier calls worked on, stays as it was.)
SELECT status, calls > 0 AS worked_on FROM tdm.run WHERE run_id = :run;
SELECT (SELECT count(*) FROM staging.users) = users AND (SELECT count(*) FROM staging.accounts) = accounts
         AS staging_untouched
  FROM staging_before;
-- Cancelled at once (another session's calls, each committed): before its
-- worker has taken the progress slot the cancel marks, the job still ends
-- `cancelled`, as cancel_job's audit row says (five tries: the race is the
-- worker's start).
CREATE FUNCTION pg_temp.cancelled_at_once() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  job bigint;
  ended text;
BEGIN
  SELECT t.run INTO job FROM dblink('here', 'SELECT tdm.consolidate(''R2'', wait => false)') AS t(run bigint);
  SELECT t.job INTO job FROM dblink('here', format('SELECT job_id FROM tdm.run WHERE run_id = %s', job)) AS t(job bigint);
  PERFORM * FROM dblink('here', format('SELECT tdm.cancel_job(%s)', job)) AS t(said text);
  ended := tdm.wait_job(job, '60 s');
  RETURN ended || CASE WHEN (SELECT j.error FROM tdm.job j WHERE j.job_id = job)
                            IN ('cancelled by tdm.cancel_job', 'cancelled before it started')
                       THEN ' (by tdm.cancel_job)'
                       ELSE ': ' || (SELECT j.error FROM tdm.job j WHERE j.job_id = job) END;
END
$$;
SELECT pg_temp.cancelled_at_once() AS ended, count(*) FROM generate_series(1, 5) GROUP BY 1;
SELECT count(*) AS cancels_audited FROM tdm.audit a JOIN tdm.job j ON a.object = j.job_id::text
 WHERE a.action = 'cancel_job' AND j.status <> 'cancelled';
-- A cancel and a wait in one transaction: the wait does not wait for a
-- worker that may be waiting for this transaction's commit (a NOTICE says
-- so then); once committed, the job ends cancelled.
SELECT t.run AS run FROM dblink('here', 'SELECT tdm.consolidate(''R2'', wait => false)') AS t(run bigint) \gset
SELECT job_id AS job FROM tdm.run WHERE run_id = :run \gset
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT tdm.cancel_job(:job) IN ('cancel requested', 'cancelled') AS cancel_sent;
SELECT tdm.wait_job(:job, '60 s') IN ('running', 'cancelled') AS returned;
COMMIT;
SELECT tdm.wait_job(:job, '60 s') AS final_status;

-- A terminated worker: the job is found failed, not running.
SELECT dblink_exec('env', 'BEGIN'), dblink_exec('env', 'LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
SELECT tdm.consolidate('R2', wait => false) AS run \gset
SELECT job_id AS job FROM tdm.run WHERE run_id = :run \gset
SELECT pg_temp.wait_until(format('EXISTS (SELECT 1 FROM tdm.progress WHERE job_id = %s AND phase = %L)',
                                 :job, 'collect')) AS running;
SELECT pg_terminate_backend(pid, 10000) AS terminated FROM tdm.job WHERE job_id = :job;
SELECT dblink_exec('env', 'ROLLBACK');
SELECT tdm.wait_job(:job, '60 s') AS final_status;
SELECT status, sqlstate, error LIKE 'the job''s process (pid %) is gone%' AS says_why
  FROM tdm.job WHERE job_id = :job;

-- A running job whose pid is a session of another database (as in a copy
-- of this database restored in the same cluster while a job ran): failed
-- too, not waited for.
INSERT INTO tdm.job (kind, release, status, pid, started_at)
SELECT 'consolidate', 'R2', 'running', t.pid, clock_timestamp()
  FROM dblink('env', 'SELECT pg_backend_pid()') AS t(pid int)
RETURNING job_id AS job \gset
SELECT tdm.wait_job(:job, '5 s') AS final_status;
SELECT status, error LIKE 'the job ran in database %, not in this one%' AS says_why FROM tdm.job WHERE job_id = :job;

-- While a consolidation of R2 runs, another one is refused at once.
SELECT dblink_exec('env', 'BEGIN'), dblink_exec('env', 'LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
SELECT tdm.consolidate('R2', wait => false) AS run \gset
SELECT job_id AS job FROM tdm.run WHERE run_id = :run \gset
SELECT pg_temp.wait_until(format('EXISTS (SELECT 1 FROM tdm.progress WHERE job_id = %s AND phase = %L)',
                                 :job, 'collect')) AS running;
\set VERBOSITY terse
SELECT tdm.consolidate('R2', wait => false);
-- ... and so is a decision on one of its conflicts (the run replaces them).
SELECT tdm.resolve((SELECT conflict_id FROM tdm.conflict
                     WHERE run_id = (SELECT max(run_id) FROM tdm.run WHERE release = 'R2')
                     ORDER BY conflict_id LIMIT 1),
                   'delete_all', rationale => 'meanwhile');
DELETE FROM tdm.decision WHERE conflict_id = (SELECT min(d.conflict_id) FROM tdm.decision d
                                                JOIN tdm.conflict c USING (conflict_id)
                                                JOIN tdm.run r USING (run_id)
                                               WHERE r.release = 'R2');
-- (An unknown conflict meanwhile is said as unknown, not as a release
-- being consolidated.)
SELECT tdm.resolve('C-000000000000', 'keep', 'st1', rationale => 'a typo');
\set VERBOSITY default
SELECT dblink_exec('env', 'ROLLBACK');
SELECT tdm.wait_job(:job, '120 s') AS final_status;

-- Bad input.
SELECT tdm.wait_job(999999);
SELECT tdm.cancel_job(999999);
BEGIN;
SELECT tdm.tag_release('R4', wait => false) AS uncommitted_job \gset
SELECT tdm.wait_job(:uncommitted_job);
ROLLBACK;
-- The same from a savepoint (a subtransaction wrote the job).
BEGIN;
SAVEPOINT launch;
SELECT tdm.tag_release('R4', wait => false) AS uncommitted_job \gset
SELECT tdm.wait_job(:uncommitted_job);
ROLLBACK;
SELECT count(*) AS rolled_back_jobs FROM tdm.job WHERE job_id = :uncommitted_job;
SET ROLE tdm_regress_reviewer;
SELECT tdm.consolidate('R2', wait => false);
SELECT tdm.tag_release('R2', wait => false);
SELECT count(*) >= 0 AS reviewers_see_progress FROM tdm.progress;
RESET ROLE;

-- The database's statement_timeout bounds a job in its worker too, as it
-- bounds the call in the foreground (set for the worker's connection, and
-- taken back once the worker has read it).
SELECT format('ALTER DATABASE %I SET statement_timeout = %L', current_database(), '1ms') \gexec
SELECT tdm.consolidate('R2', wait => false) AS run \gset
SELECT job_id AS job FROM tdm.run WHERE run_id = :run \gset
SELECT pg_temp.wait_until(format('(SELECT status FROM tdm.job WHERE job_id = %s) <> %L', :job, 'queued'));
SELECT format('ALTER DATABASE %I RESET statement_timeout', current_database()) \gexec
SELECT tdm.wait_job(:job, '60 s') AS final_status;
SELECT sqlstate, error FROM tdm.job WHERE job_id = :job;

-- The database's lock_timeout and default_transaction_read_only reach a
-- worker too; they are the job's, not the worker's wait for the
-- launching transaction or its bookkeeping: a launch whose transaction
-- outlasts the lock_timeout completes (it failed, said as a worker gone).
SELECT format('ALTER DATABASE %I SET lock_timeout = %L', current_database(), '100ms') \gexec
SELECT format('ALTER DATABASE %I SET default_transaction_read_only = on', current_database()) \gexec
BEGIN;
SELECT tdm.tag_release('R4', wait => false) AS tag_job \gset
-- (its worker waits for this transaction, then longer than lock_timeout)
SELECT pg_temp.wait_until('EXISTS (SELECT FROM pg_locks WHERE locktype = ''transactionid'' AND NOT granted'
                          '         AND transactionid = pg_current_xact_id()::xid)') AS worker_waits;
SELECT pg_sleep(0.3);
COMMIT;
SELECT format('ALTER DATABASE %I RESET lock_timeout', current_database()) \gexec
SELECT format('ALTER DATABASE %I RESET default_transaction_read_only', current_database()) \gexec
SELECT tdm.wait_job(:tag_job, '60 s') AS tag_status;

-- A lock wait that lock_timeout ends in the worker is said as the
-- foreground call says it (the job's error), not as PostgreSQL's bare
-- "canceling statement due to lock timeout".
SELECT dblink_exec('here', 'BEGIN'),
       dblink_exec('here', 'LOCK TABLE staging.users IN ACCESS EXCLUSIVE MODE');
SELECT format('ALTER DATABASE %I SET lock_timeout = %L', current_database(), '200ms') \gexec
SELECT tdm.consolidate('R2', wait => false) AS run \gset
SELECT job_id AS job FROM tdm.run WHERE run_id = :run \gset
SELECT pg_temp.wait_until(format('(SELECT status FROM tdm.job WHERE job_id = %s) <> %L', :job, 'queued'));
SELECT format('ALTER DATABASE %I RESET lock_timeout', current_database()) \gexec
SELECT tdm.wait_job(:job, '60 s') AS final_status;
SELECT dblink_exec('here', 'ROLLBACK');
SELECT sqlstate, regexp_replace(error, 'backend [0-9]+', 'backend N') AS error FROM tdm.job WHERE job_id = :job;

-- A call running in the foreground shows in tdm.progress with its job id,
-- whose row its transaction has not committed: wait_job says so, and how
-- to stop it, rather than that the job does not exist.
\ir sql/include/errors.sql
SELECT dblink_exec('env', 'BEGIN'), dblink_exec('env', 'LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
SELECT pid AS here_pid FROM dblink('here', 'SELECT pg_backend_pid()') AS t(pid int) \gset
SELECT dblink_send_query('here', 'SELECT tdm.consolidate(''R2'')') AS sent;
SELECT pg_temp.wait_until(format('EXISTS (SELECT FROM tdm.progress WHERE pid = %s)', :here_pid)) AS running;
SELECT job_id AS fg_job FROM tdm.progress WHERE pid = :here_pid \gset
SELECT regexp_replace(e.message, '[0-9]+', 'N', 'g') AS message, regexp_replace(e.hint, '[0-9]+', 'N', 'g') AS hint
  FROM pg_temp.error_of(format('SELECT tdm.wait_job(%s)', :fg_job)) e;
-- cancel_job too: no job to cancel, but the call, and how to stop it.
SELECT regexp_replace(e.message, '[0-9]+', 'N', 'g') AS message, regexp_replace(e.hint, '[0-9]+', 'N', 'g') AS hint
  FROM pg_temp.error_of(format('SELECT tdm.cancel_job(%s)', :fg_job)) e;
SELECT dblink_exec('env', 'ROLLBACK');
SELECT run IS NOT NULL AS consolidated FROM dblink_get_result('here') AS t(run bigint);
SELECT * FROM dblink_get_result('here') AS t(run bigint);
-- A background job started by a transaction still open: its worker waits
-- for that transaction, whose row the job is; wait_job from another
-- session says so (before: that the job does not exist).
SELECT dblink_exec('here', 'BEGIN');
SELECT job AS open_job FROM dblink('here', 'SELECT tdm.tag_release(''R4'', wait => false)') AS t(job bigint) \gset
SELECT pg_temp.wait_until(format('(SELECT count(*) FROM pg_stat_clear_snapshot()) = 1 AND EXISTS (SELECT FROM'
                                 ' pg_stat_activity WHERE application_name = %L)', 'tdm job ' || :open_job))
       AS worker_waits;
SELECT regexp_replace(e.message, '[0-9]+', 'N', 'g') AS message, regexp_replace(e.detail, '[0-9]+', 'N', 'g') AS detail,
       e.hint
  FROM pg_temp.error_of(format('SELECT tdm.wait_job(%s)', :open_job)) e;
SELECT dblink_exec('here', 'ROLLBACK');

-- cancel_job while another session's open transaction holds the audit
-- trail (a reviewer's decision not committed): the cancel is done at
-- once, and a NOTICE says what its audit row waits for, before it waits
-- (here until lock_timeout; the transaction rolls the cancel back).
SELECT dblink_exec('here', 'BEGIN');
SELECT audited > 0 AS holder_audited FROM dblink('here', 'SELECT tdm._audit(''test'', ''holder'')') AS t(audited bigint);
BEGIN;
INSERT INTO tdm.job (kind, release, status) VALUES ('consolidate', 'R2', 'queued') RETURNING job_id AS queued_job \gset
SET LOCAL lock_timeout = '300ms';
\set VERBOSITY terse
SELECT tdm.cancel_job(:queued_job);
\set VERBOSITY default
ROLLBACK;
SELECT dblink_exec('here', 'ROLLBACK');

-- A job committing when the cancel comes: its audit row holds the trail
-- until it commits, and it completes in that transaction. cancel_job waits
-- for it, reads it again, and says it completed: nothing cancelled, no
-- audit row (before: "cancel requested", and a cancel_job audit row for a
-- job whose work stood).
\ir sql/include/second_waits.sql
INSERT INTO tdm.job (kind, release, status, pid, started_at)
VALUES ('snapshot', NULL, 'running', pg_backend_pid(), clock_timestamp()) RETURNING job_id AS racing_job \gset
SELECT pg_temp.second_waits(
  format($$WITH done AS (UPDATE tdm.job SET status = 'completed', finished_at = clock_timestamp()
                          WHERE job_id = %s RETURNING job_id)
           SELECT tdm._audit('test', 'the job commits')::text FROM done$$, :racing_job),
  format('SELECT tdm.cancel_job(%s)', :racing_job)) AS cancel_job_returned;
SELECT status, (SELECT count(*) FROM tdm.audit a WHERE a.action = 'cancel_job' AND a.object = :'racing_job') AS cancel_audited
  FROM tdm.job WHERE job_id = :racing_job;

SELECT dblink_disconnect('env'), dblink_disconnect('here');
