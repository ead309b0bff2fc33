-- Jobs: every long operation runs in the calling backend (wait => true) or
-- in a dynamic background worker (wait => false), through the same job
-- function and the same tdm.job bookkeeping; tdm.progress shows where
-- running jobs are, from shared memory.

CREATE FUNCTION tdm._launch_job(job_id bigint, kind text) RETURNS void
AS 'MODULE_PATHNAME', 'tdm_launch_job' LANGUAGE C STRICT;
CREATE FUNCTION tdm._wait_latch(ms int) RETURNS void
AS 'MODULE_PATHNAME', 'tdm_wait_latch' LANGUAGE C;
CREATE FUNCTION tdm._progress_begin(job_id bigint, kind text, release text) RETURNS void
AS 'MODULE_PATHNAME', 'tdm_progress_begin' LANGUAGE C;
CREATE FUNCTION tdm._progress(job_id bigint, phase text, done bigint DEFAULT 0,
                              total bigint DEFAULT 0) RETURNS void
AS 'MODULE_PATHNAME', 'tdm_progress' LANGUAGE C;
CREATE FUNCTION tdm._request_cancel(job_id bigint) RETURNS bool
AS 'MODULE_PATHNAME', 'tdm_request_cancel' LANGUAGE C STRICT;
CREATE FUNCTION tdm._progress_rows()
RETURNS TABLE (job_id bigint, kind text, release text, phase text, done bigint, total bigint,
               pid int, started timestamptz, phase_started timestamptz)
AS 'MODULE_PATHNAME', 'tdm_progress_rows' LANGUAGE C;

-- Jobs whose process is gone (killed, crashed, server restarted) are never
-- left running: marked failed, with why. A process counts as the job's
-- only if it started before the job did (pids are reused) and is
-- connected to this database (a copy of it restored in the same cluster
-- holds the original's running jobs, whose pids live there). Definer: it
-- must see every session in pg_stat_activity.
CREATE FUNCTION tdm._reap_jobs() RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  -- pg_stat_activity is otherwise frozen for the transaction (wait_job
  -- would never see a worker die while it waits).
  SELECT pg_stat_clear_snapshot();
  UPDATE tdm.job j
     SET status = 'failed', finished_at = clock_timestamp(), sqlstate = '57P01',
         error = CASE WHEN j.status = 'queued'
                      THEN 'the job never started: its worker is gone (a server restart, or '
                           'it was stopped before it began)'
                      -- (alive in another database: this one is a copy)
                      ELSE coalesce((SELECT format('the job ran in database %s, not in this one (a copy of it,'
                                                   ' restored while the job ran): it is not running here',
                                                   quote_ident(a.datname))
                                       FROM pg_stat_activity a
                                      WHERE a.pid = j.pid AND a.backend_start <= j.started_at
                                        AND a.datname <> current_database()),
                                    format('the job''s process (pid %s) is gone: it was terminated, crashed, '
                                           'or the server restarted', j.pid)) END
   -- (Not from a REPEATABLE READ or SERIALIZABLE transaction: a job it
   -- sees running may have ended since its snapshot, and the update of
   -- that row would fail the caller's call; a later call reaps.)
   WHERE current_setting('transaction_isolation') NOT IN ('repeatable read', 'serializable')
     AND ((j.status = 'running' AND j.pid IS DISTINCT FROM pg_backend_pid()
          AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                           WHERE a.pid = j.pid AND a.backend_start <= j.started_at
                             AND a.datname = current_database()))
      OR (j.status = 'queued' AND j.queued_at < pg_postmaster_start_time())
      -- committed, queued for a minute, and no worker carries its name
      -- (the clock: wait_job's transaction started before the minute ran)
      OR (j.status = 'queued' AND j.queued_at < clock_timestamp() - interval '1 minute'
          AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                           WHERE a.application_name = 'tdm job ' || j.job_id
                             AND a.datname = current_database())))
$$;

-- A new job of `kind`: running in this backend, or queued for a worker
-- that is launched now (and starts when this transaction commits).
CREATE FUNCTION tdm._start_job(kind text, release text, wait bool, detail jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
DECLARE
  job bigint;
BEGIN
  PERFORM tdm._require_given(kind, 'wait', wait IS NOT NULL);
  PERFORM tdm._reap_jobs();
  IF wait THEN
    INSERT INTO tdm.job (kind, release, status, pid, started_at, detail)
    VALUES (kind, release, 'running', pg_backend_pid(), clock_timestamp(), detail)
    RETURNING job_id INTO job;
  ELSE
    -- (The launching transaction, top level: wait_job refuses to wait in
    -- it, savepoints included, since the worker starts at its commit.)
    INSERT INTO tdm.job (kind, release, status, detail)
    VALUES (kind, release, 'queued', detail || jsonb_build_object('launched_in', pg_current_xact_id()::text))
    RETURNING job_id INTO job;
    PERFORM tdm._launch_job(job, kind);
    RETURN job;  -- its worker takes the progress slot
  END IF;
  PERFORM tdm._progress_begin(job, kind, release);
  RETURN job;
END
$$;

-- What a background worker runs: the job function of the job's kind.
CREATE FUNCTION tdm._run_job(job_id bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
DECLARE
  j tdm.job;
BEGIN
  SELECT * INTO j FROM tdm.job WHERE job.job_id = _run_job.job_id;
  PERFORM tdm._progress_begin(j.job_id, j.kind, j.release);
  CASE j.kind
    WHEN 'tag_release' THEN PERFORM tdm._tag_release_job(j.job_id);
    WHEN 'consolidate' THEN PERFORM tdm._consolidate_job(j.job_id);
    WHEN 'snapshot' THEN PERFORM tdm._snapshot_job(j.job_id);
    WHEN 'rollback' THEN PERFORM tdm._rollback_job(j.job_id);
    ELSE RAISE EXCEPTION 'tdm: jobs of kind % do not run in the background', j.kind
           USING ERRCODE = 'feature_not_supported';
  END CASE;
EXCEPTION WHEN lock_not_available THEN
  -- (said as the foreground call says it: the job's error is its message)
  PERFORM tdm._job_lock_wait_ended(j.kind, j.release, j.detail ->> 'target', (j.detail ->> 'snapshot_id')::bigint,
                                   SQLERRM);
  RAISE;
END
$$;

-- A job by id, for `caller`; unknown ids are an error.
CREATE FUNCTION tdm._require_job(job_id bigint, caller text) RETURNS tdm.job
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
DECLARE
  j tdm.job;
  running int;  -- the backend of a call whose job row is not committed yet
BEGIN
  PERFORM tdm._require_given(caller, 'job_id', job_id IS NOT NULL);
  SELECT * INTO j FROM tdm.job WHERE job.job_id = _require_job.job_id;
  IF NOT FOUND THEN
    -- (A foreground call's job row is its transaction's, seen once it
    -- commits; tdm.progress shows the call meanwhile.)
    running := (SELECT p.pid FROM tdm._progress_rows() p WHERE p.job_id = _require_job.job_id LIMIT 1);
    IF running IS NOT NULL THEN
      RAISE EXCEPTION '%: job % is a call running in backend %, not a background job', caller, job_id, running
        USING ERRCODE = 'object_not_in_prerequisite_state',
              DETAIL = 'Its row in tdm.job is written by that call''s transaction, seen once it commits.',
              HINT = format('Follow it in tdm.progress. To stop it: SELECT pg_cancel_backend(%s);', running);
    END IF;
    -- (A background job's worker waits for the transaction that started
    -- it, whose row it is.)
    running := (SELECT a.pid FROM pg_stat_activity a
                 WHERE a.application_name = format('tdm job %s', job_id) AND a.backend_type LIKE E'tdm\\_%'
                   AND a.datname = current_database()
                 LIMIT 1);
    IF running IS NOT NULL THEN
      RAISE EXCEPTION '%: job % was started by a transaction still open', caller, job_id
        USING ERRCODE = 'object_not_in_prerequisite_state',
              DETAIL = format('Its worker (backend %s) waits for that transaction to end; its row in tdm.job is'
                              ' seen once it commits.', running),
              HINT = 'Commit the transaction that started it, then call again.';
    END IF;
    RAISE EXCEPTION '%: job % does not exist', caller, job_id
      USING ERRCODE = 'undefined_object', HINT = 'Jobs are in tdm.job.';
  END IF;
  RETURN j;
END
$$;

-- The advisory lock a tdm.cancel_job call holds on job `job_id` until it
-- commits (its worker waits for it to read the call's audit row).
CREATE FUNCTION tdm._cancel_key(job_id bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT pg_catalog.hashtextextended('tdm cancel_job ' || job_id, 0)
$$;

-- Waits (on the latch, woken when a worker this backend launched ends;
-- otherwise re-checking every second) until the job ends or the timeout
-- passes; returns its status.
CREATE FUNCTION tdm.wait_job(job_id bigint, timeout interval DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
DECLARE
  j tdm.job;
  deadline timestamptz;
BEGIN
  -- (A timeout past the calendar's end waits as NULL does: until the job ends.)
  BEGIN
    deadline := clock_timestamp() + timeout;
  EXCEPTION WHEN datetime_field_overflow THEN
    deadline := NULL;
  END;
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'wait_job: a % transaction would never see the job change', current_setting('transaction_isolation')
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Wait outside an explicit REPEATABLE READ or SERIALIZABLE transaction.';
  END IF;
  IF timeout < interval '0' THEN
    RAISE EXCEPTION 'wait_job: timeout must not be negative, not %', timeout
      USING ERRCODE = 'invalid_parameter_value', HINT = 'NULL waits until the job ends.';
  END IF;
  LOOP
    PERFORM tdm._reap_jobs();
    j := tdm._require_job(job_id, 'wait_job');
    IF j.status IN ('completed', 'failed', 'cancelled') THEN
      RETURN j.status;
    END IF;
    IF j.status = 'queued' AND j.detail ->> 'launched_in' = pg_current_xact_id_if_assigned()::text THEN
      RAISE EXCEPTION 'wait_job: the job was started in this transaction; its worker starts at commit'
        USING ERRCODE = 'object_not_in_prerequisite_state',
                     HINT = 'Commit first, then wait.';
    END IF;
    -- (A cancel of this transaction's: its worker may wait for the commit,
    -- which waiting here would put off. Said, not raised: an error would
    -- roll the cancel's audit row back.)
    IF j.status = 'running'
       AND EXISTS (SELECT FROM pg_locks l
                    WHERE l.locktype = 'advisory' AND l.pid = pg_backend_pid() AND l.objsubid = 1
                      AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
                      AND (l.classid::bigint << 32 | l.objid::bigint) = tdm._cancel_key(job_id)) THEN
      RAISE NOTICE 'wait_job: this transaction cancelled job % (tdm.cancel_job), which may end only once the transaction commits: not waited for',
        job_id
        USING HINT = 'Commit first, then wait.';
      RETURN j.status;
    END IF;
    IF clock_timestamp() >= deadline THEN
      RETURN j.status;
    END IF;
    PERFORM tdm._wait_latch(least(1000, greatest(1, coalesce(
      ceil(1000 * extract(epoch FROM deadline - clock_timestamp())), 1000)))::int);
  END LOOP;
END
$$;

-- Sends a cancel to a tdm worker (definer: the worker may run as another
-- role than the one cancelling).
-- Only a worker of this database: another database's jobs are not this
-- catalog's to cancel.
CREATE FUNCTION tdm._cancel_worker(pid int) RETURNS bool
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT pg_cancel_backend(a.pid) FROM pg_stat_activity a
   WHERE a.pid = _cancel_worker.pid AND a.backend_type LIKE E'tdm\\_%'
     AND a.datname = current_database()
$$;

-- Records a cancel in tdm.audit. The cancel is done by then; its row
-- waits for the audit trail, which an open transaction may hold (a
-- reviewer's decision not committed, that a job waits for too): a NOTICE
-- says so at once, not when that transaction ends.
-- Returns false, writing nothing, when the job completed after all: it
-- was committing when the cancel came (each job function marks its job
-- completed, then writes its audit row, which holds the head until the
-- job commits).
CREATE FUNCTION tdm._audit_cancel(job_id bigint, detail jsonb) RETURNS bool
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  BEGIN
    PERFORM FROM tdm.audit_head FOR UPDATE NOWAIT;
  EXCEPTION WHEN lock_not_available THEN
    RAISE NOTICE 'cancel_job: this call returns once it can write its row in tdm.audit, which an open transaction holds'
      USING DETAIL = tdm._audit_holders(),
            HINT = 'That session commits or rolls back (a DBA can end a forgotten one with pg_terminate_backend(pid)).'
                   ' Cancelling this call leaves a running job''s cancel sent, without its audit row.';
    PERFORM tdm._audit_reserve();
  END;
  IF (SELECT j.status FROM tdm.job j WHERE j.job_id = _audit_cancel.job_id) = 'completed' THEN
    RETURN false;
  END IF;
  PERFORM tdm._audit('cancel_job', job_id::text, detail);
  RETURN true;
END
$$;

-- Cancels a job: a queued one never starts; a running worker is
-- interrupted, its transaction rolls back (targets untouched) and the job
-- ends `cancelled`. Returns what happened.
CREATE FUNCTION tdm.cancel_job(job_id bigint) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
DECLARE
  j tdm.job;
BEGIN
  PERFORM tdm._reap_jobs();
  -- No row lock: a running job holds its own row until it ends.
  j := tdm._require_job(job_id, 'cancel_job');
  IF j.status IN ('completed', 'failed', 'cancelled') THEN
    RAISE NOTICE 'cancel_job: the job already ended (%); nothing to cancel', j.status;
    RETURN j.status;
  END IF;
  IF j.status = 'queued' THEN
    UPDATE tdm.job SET status = 'cancelled', finished_at = clock_timestamp(),
                       error = 'cancelled before it started'
     WHERE job.job_id = cancel_job.job_id AND status = 'queued';
    IF FOUND THEN
      PERFORM tdm._audit_cancel(job_id, jsonb_build_object('status', 'queued'));  -- (it cannot complete now)
      RETURN 'cancelled';
    END IF;
    SELECT * INTO j FROM tdm.job WHERE job.job_id = cancel_job.job_id;  -- it just started
  END IF;
  IF j.pid = pg_backend_pid() THEN
    RAISE EXCEPTION 'cancel_job: job % runs in this session', job_id
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Cancel the statement (Ctrl-C) instead.';
  END IF;
  -- Marked first (shared memory): the worker then ends the job as
  -- `cancelled` rather than `failed`. A worker that has no slot yet to
  -- mark reads this call's audit row instead, waiting for this lock to
  -- know it committed.
  PERFORM pg_advisory_xact_lock(tdm._cancel_key(job_id));
  -- (Read again once the lock is held: another cancel_job that held it
  -- may have ended the job meanwhile; its worker is not signalled twice.)
  SELECT * INTO j FROM tdm.job WHERE job.job_id = cancel_job.job_id;
  IF j.status IN ('completed', 'failed', 'cancelled') THEN
    RAISE NOTICE 'cancel_job: the job already ended (%); nothing to cancel', j.status;
    RETURN j.status;
  END IF;
  PERFORM tdm._request_cancel(job_id);
  IF NOT coalesce(tdm._cancel_worker(j.pid), false) THEN
    RAISE NOTICE 'cancel_job: job % has no worker to signal (pid %)', job_id, j.pid;
  END IF;
  IF NOT tdm._audit_cancel(job_id, jsonb_build_object('pid', j.pid)) THEN
    RAISE NOTICE 'cancel_job: job % completed before the cancel reached it; nothing was cancelled', job_id
      USING DETAIL = 'It was committing: what it did stands, as tdm.job and tdm.audit say.';
    RETURN 'completed';
  END IF;
  RETURN 'cancel requested';
END
$$;

-- The wait event of a running tdm job's backend, for every tdm role:
-- pg_stat_activity shows another role's wait events only to its members
-- (and pg_read_all_stats). Nothing of a backend that runs no tdm job.
CREATE FUNCTION tdm._job_wait(job_pid int, OUT wait_event_type text, OUT wait_event text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT a.wait_event_type, a.wait_event FROM pg_catalog.pg_stat_activity a
   WHERE a.pid = job_pid AND a.pid IN (SELECT p.pid FROM tdm._progress_rows() p)
$$;

-- Running jobs, live: phase, items done of total, elapsed, and an estimate
-- of the phase's time left. \watch 1 on it follows a consolidation.
CREATE VIEW tdm.progress AS
  SELECT p.job_id, p.kind, p.release, p.phase, p.done, p.total,
         CASE WHEN p.total > 0 THEN round(100.0 * p.done / p.total, 1) END AS percent,
         date_trunc('second', clock_timestamp() - p.started) AS elapsed,
         CASE WHEN p.done > 0 AND p.total > p.done
              THEN date_trunc('second', (clock_timestamp() - p.phase_started)
                                        * ((p.total - p.done)::float8 / p.done)) END AS eta,
         p.pid,
         -- (What the job waits for, if anything: the sessions holding a
         -- lock it wants, or an environment's server answering a query.)
         (SELECT CASE WHEN cardinality(b.pids) > 0
                      THEN 'backend ' || (SELECT string_agg(format('%s (%s)', x.pid, coalesce(a.usename::text, '?')), ', '
                                                            ORDER BY x.pid)
                                            FROM unnest(b.pids) AS x(pid)
                                            LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = x.pid)
                      -- (postgres_fdw's wait for an answer; an Append of
                      -- environments' scans waiting for any of them)
                      WHEN w.wait_event_type = 'Extension' OR w.wait_event = 'AppendReady'
                      THEN 'an environment''s server (a remote query)' END
            FROM (SELECT pg_catalog.pg_blocking_pids(p.pid) AS pids) b
            LEFT JOIN tdm._job_wait(p.pid) w ON true) AS waiting_for
    FROM tdm._progress_rows() p
   ORDER BY p.job_id;
COMMENT ON VIEW tdm.progress IS 'Running tdm jobs and where they are (shared memory, live)';

-- The tdm calls other sessions are running now, for a message about a
-- wait (one of tdm's own locks: they take them): "promote of R2 (backend
-- 123), ...", or NULL.
CREATE FUNCTION tdm._running_calls() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(format('%s%s (backend %s%s)', p.kind, coalesce(' of ' || nullif(p.release, ''), ''), p.pid,
                            -- (a call that has returned holds what it took to its transaction's end)
                            CASE WHEN a.state LIKE 'idle in transaction%' THEN ', returned, its transaction open'
                                 ELSE '' END), ', '
                    ORDER BY p.job_id)
    FROM tdm.progress p LEFT JOIN pg_stat_activity a ON a.pid = p.pid
   WHERE p.pid <> pg_backend_pid()
$$;
