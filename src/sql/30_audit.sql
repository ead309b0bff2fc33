-- The audit trail: append-only and hash-chained. Each row's hash is
-- SHA-256 over the previous row's hash and the row's own content, so a
-- changed, removed or inserted row breaks the chain at that point.

CREATE TABLE tdm.audit (
  audit_id  bigserial PRIMARY KEY,
  at        timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor     name NOT NULL DEFAULT session_user,
  role      name NOT NULL DEFAULT current_user,
  action    text NOT NULL,
  object    text,
  detail    jsonb NOT NULL DEFAULT '{}',
  prev_hash text NOT NULL,
  hash      text NOT NULL
);
COMMENT ON TABLE tdm.audit IS 'Append-only, hash-chained record of every tdm operation';
-- (A run's calls, for its report.)
CREATE INDEX ON tdm.audit ((detail ->> 'run_id')) WHERE action = 'consolidate';
-- (A decision's latest decider, for its approval: without it each approval
-- read the whole trail, which only grows: 8,000 approvals took 7.9 s.)
CREATE INDEX ON tdm.audit (object, audit_id) WHERE action = 'decide';
-- (a report's approvers' logins)
CREATE INDEX ON tdm.audit (object, audit_id) WHERE action = 'approve';
-- Ids are given in chain order, by the appender that holds the chain's
-- head (tdm._audit_chain), not when the row is formed.
ALTER TABLE tdm.audit ALTER COLUMN audit_id DROP DEFAULT;

-- The chain's head: the last row appended, locked by each appender until
-- it commits. Locking it reads its latest version whatever the snapshot:
-- under READ COMMITTED the appender waits and reads the new head; under
-- REPEATABLE READ or SERIALIZABLE, a head changed since the snapshot is a
-- serialization failure (retry), not a second row chained to the same one.
CREATE TABLE tdm.audit_head (
  one      bool PRIMARY KEY DEFAULT true CHECK (one),
  audit_id bigint,
  hash     text NOT NULL
);
INSERT INTO tdm.audit_head (audit_id, hash) VALUES (NULL, repeat('0', 64));

-- The genesis value the first row chains to.
CREATE FUNCTION tdm._audit_genesis() RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT repeat('0', 64) $$;

-- The hash of one row: the one definition used to write and to verify.
-- Time is hashed in UTC so the chain does not depend on TimeZone.
CREATE FUNCTION tdm._audit_hash(r tdm.audit) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT encode(sha256(convert_to(r.prev_hash || jsonb_build_object(
           'audit_id', r.audit_id,
           'at', to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           'actor', r.actor, 'role', r.role, 'action', r.action, 'object', r.object,
           'detail', r.detail)::text, 'UTF8')), 'hex')
$$;

-- The other sessions whose open transactions wrote to `rel` (backend and
-- user), not those only waiting for a lock; NULL when none. For the
-- messages of a wait that lock_timeout ended.
CREATE FUNCTION tdm._open_writers(rel regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(DISTINCT format('backend %s (%s)', a.pid, a.usename), ', ')
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
   WHERE l.relation = rel AND l.mode = 'RowExclusiveLock' AND l.pid <> pg_backend_pid()
     AND a.wait_event_type IS DISTINCT FROM 'Lock'
$$;

-- The end of a wait for a lock that the caller's lock_timeout gave
-- (PostgreSQL's bare "canceling statement due to lock timeout"), said as
-- `caller`'s: what waited (on what, when known), and the sessions holding
-- locks on the tables of `schemas` in this database: writers and stronger
-- locks, else readers (which hold off an ACCESS EXCLUSIVE lock). Returns
-- when `message` is tdm's own, a wait it names already ("collect: ...",
-- "rollback: ..."), for the caller to raise it again. `undone` says what
-- the failed call left as it was.
CREATE FUNCTION tdm._lock_wait_ended(caller text, waited text, on_what text, schemas text[], undone text,
                                     message text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  this_database oid := (SELECT d.oid FROM pg_database d WHERE d.datname = current_database());
  holders text;
  advisory_holders text;
BEGIN
  IF message ~ '^[a-z_]+: ' OR message LIKE 'environment "%' OR message LIKE 'decision on %' THEN
    RETURN;
  END IF;
  SELECT coalesce(string_agg(DISTINCT x.holder, ', ') FILTER (WHERE x.mode <> 'AccessShareLock'),
                  string_agg(DISTINCT x.holder, ', '))
    INTO holders
    FROM (SELECT l.mode, format('backend %s (%s, %s on %s)', a.pid, coalesce(a.usename::text, a.backend_type), l.mode,
                                l.relation::regclass) AS holder
            FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE l.database = this_database
             AND n.nspname = ANY (schemas) AND c.relkind IN ('r', 'p')
             AND l.granted AND l.pid <> pg_backend_pid()) x;
  -- (None: perhaps one of tdm's own advisory locks, a call of the same
  -- kind in a transaction still open; which one waited is not known here.)
  IF holders IS NULL THEN
    advisory_holders := (SELECT string_agg(DISTINCT format('backend %s (%s, %s)', a.pid, a.usename, coalesce(a.state, 'state unknown')), ', ')
                           FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                          WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid()
                            AND l.database = this_database);
  END IF;
  RAISE EXCEPTION '%: % waited for a lock%, and lock_timeout (%) ended the wait',
    caller, waited, coalesce(' on ' || on_what, ''), current_setting('lock_timeout')
    USING ERRCODE = 'lock_not_available',
          DETAIL = coalesce('Sessions holding locks on its tables: ' || holders || '.',
                            format('No other session holds a lock on the tables of %s now: the wait was for one'
                                   ' that has ended, or for another lock (one of tdm''s own, a table of tdm or'
                                   ' a call of the same kind). Sessions holding advisory locks (tdm''s calls take'
                                   ' turns by them): %s. tdm calls running: %s.', array_to_string(schemas, ', '),
                                   coalesce(advisory_holders, 'none'), coalesce(tdm._running_calls(), 'none'))),
          HINT = undone || ' Let those transactions end (a DBA can end a forgotten one with'
                 ' pg_terminate_backend(pid)), or allow a longer lock_timeout; then call tdm.' || caller || ' again.';
END
$$;

-- The same for the calls that run as jobs, in the foreground or the
-- background (a worker runs tdm._run_job, not the call): one wording for
-- both. A kind without one says nothing, and the error stands as it is.
CREATE FUNCTION tdm._job_lock_wait_ended(kind text, release text, target text, snapshot_id bigint,
                                         message text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  CASE kind
    WHEN 'consolidate' THEN
      PERFORM tdm._lock_wait_ended('consolidate', format('the consolidation of %s', release), NULL,
                                   ARRAY[target, 'master'], 'Nothing was changed: the run is as it was.', message);
    WHEN 'snapshot' THEN
      PERFORM tdm._lock_wait_ended('snapshot', format('the snapshot of %s', target), NULL, ARRAY[target],
                                   'No snapshot was taken.', message);
    WHEN 'rollback' THEN
      PERFORM tdm._lock_wait_ended('rollback', format('the rollback to snapshot %s', snapshot_id), NULL,
                                   ARRAY[(SELECT x.target FROM tdm.snapshot x WHERE x.snapshot_id = _job_lock_wait_ended.snapshot_id)],
                                   'Nothing was rolled back.', message);
    ELSE
      NULL;
  END CASE;
END
$$;

-- Who may hold the audit trail's head, for a DETAIL: a transaction that
-- wrote to the audit, or a tdm call that took the head before it writes
-- (tdm._head_then_lock).
CREATE FUNCTION tdm._audit_holders() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT format('Open transactions that wrote to it (a decision, an approval, a tdm call): %s. tdm calls'
                ' running, which take it before they write: %s.',
                coalesce(tdm._open_writers('tdm.audit'), 'none now'), coalesce(tdm._running_calls(), 'none'))
$$;

-- The error of a wait for the head that lock_timeout ended, saying who
-- may hold it; its table field names the head, for callers to tell it
-- from a wait for their own tables.
CREATE FUNCTION tdm._audit_head_busy() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'tdm: an open transaction holds the audit trail, and lock_timeout (%) ended the wait',
    current_setting('lock_timeout')
    USING ERRCODE = 'lock_not_available', SCHEMA = 'tdm', TABLE = 'audit_head',
          DETAIL = tdm._audit_holders(),
          HINT = 'Every write to the audit trail holds it until its transaction ends: that session commits or'
                 ' rolls back (a DBA can end a forgotten one with pg_terminate_backend(pid)); then try again.';
END
$$;

-- The chain's head, locked to the end of the transaction: appenders take
-- turns. A lock_timeout ends the wait with the transactions that hold it
-- named (a reviewer's decision left uncommitted holds it, and every other
-- decision and load waits).
CREATE FUNCTION tdm._audit_lock_head() RETURNS tdm.audit_head
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  head tdm.audit_head;
BEGIN
  SELECT * INTO head FROM tdm.audit_head FOR UPDATE;
  RETURN head;
EXCEPTION WHEN lock_not_available THEN
  PERFORM tdm._audit_head_busy();
END
$$;

-- Fills in who, when and the chain. Ordinary roles cannot choose these
-- values; a superuser inserting a complete row (a pg_dump restore) keeps it
-- as it was, and tdm.verify_audit() still checks it. The head's row lock
-- keeps the chain linear: one appender at a time, until its commit.
CREATE FUNCTION tdm._audit_chain() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
DECLARE
  head tdm.audit_head;
  latest tdm.audit;
BEGIN
  IF NEW.hash <> '' AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RETURN NEW;
  END IF;
  head := tdm._audit_lock_head();
  -- Rows restored (a superuser's complete rows, pg_dump) after the head:
  -- the last row is the head. Rows removed from the end leave the head
  -- ahead: the new row chains to it, and verify_audit shows the gap.
  SELECT * INTO latest FROM tdm.audit a ORDER BY a.audit_id DESC LIMIT 1;
  IF latest.audit_id > coalesce(head.audit_id, 0) THEN
    head.audit_id := latest.audit_id;
    head.hash := latest.hash;
  END IF;
  -- (Past every id in use, whatever the sequence says after a restore.)
  NEW.audit_id := greatest(nextval('tdm.audit_audit_id_seq'), coalesce(head.audit_id, 0) + 1);
  NEW.at := clock_timestamp();
  NEW.actor := session_user;
  -- The current role; tdm's own definer code (a superuser's) names the role
  -- it records for, as the review triggers do for a reviewer.
  NEW.role := CASE WHEN (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
                   THEN coalesce(NEW.role, current_user) ELSE current_user END;
  NEW.prev_hash := head.hash;
  NEW.hash := tdm._audit_hash(NEW);
  RETURN NEW;  -- (the head moves after the insert: tdm._audit_head_move)
END
$$;

CREATE FUNCTION tdm._audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'tdm.audit is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Audit rows are never changed or removed; tdm.verify_audit() checks the chain.';
END
$$;

CREATE TRIGGER audit_chain BEFORE INSERT ON tdm.audit
  FOR EACH ROW EXECUTE FUNCTION tdm._audit_chain();
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON tdm.audit
  FOR EACH ROW EXECUTE FUNCTION tdm._audit_refuse_change();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON tdm.audit
  FOR EACH STATEMENT EXECUTE FUNCTION tdm._audit_refuse_change();
-- After an append (or a restored row past the head), the head names it:
-- only where the rows after the head chain from it. A superuser who
-- removed rows at the end (or changed and hashed them again) and then
-- appended a complete row chained to what is left does not move it, so
-- verify_audit still sees what the head remembers (no head yet, as
-- after a restore: the rows as they are).
CREATE FUNCTION tdm._audit_head_move() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
BEGIN
  -- To the last row, once the rows up to it chain from the head: rows
  -- restored by one COPY move it once; rows restored out of their order
  -- (pg_dump --inserts writes them as stored) once the gap is filled.
  UPDATE tdm.audit_head h SET audit_id = last.audit_id, hash = last.hash
    FROM (SELECT a.audit_id, a.hash FROM tdm.audit a ORDER BY a.audit_id DESC LIMIT 1) last
   WHERE coalesce(h.audit_id, 0) < last.audit_id
     AND (h.audit_id IS NULL
          OR NOT EXISTS (SELECT FROM (SELECT a.prev_hash,
                                             lag(a.hash, 1, h.hash) OVER (ORDER BY a.audit_id) AS before
                                        FROM tdm.audit a
                                       WHERE a.audit_id > h.audit_id AND a.audit_id <= last.audit_id) x
                          WHERE x.prev_hash IS DISTINCT FROM x.before));
  RETURN NULL;
END
$$;
CREATE TRIGGER audit_head_move AFTER INSERT ON tdm.audit
  FOR EACH ROW EXECUTE FUNCTION tdm._audit_head_move();

-- The head only ever names the last row of tdm.audit, as it is: any other
-- value would make every later row look tampered with (or hide rows
-- removed from the end). Checked on the row itself, which no caller can
-- fake: an audit row is hashed by tdm._audit_chain.
CREATE FUNCTION tdm._audit_head_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
BEGIN
  IF TG_OP <> 'UPDATE'
     OR NEW.audit_id IS DISTINCT FROM (SELECT max(a.audit_id) FROM tdm.audit a)
     OR NOT EXISTS (SELECT 1 FROM tdm.audit a WHERE a.audit_id = NEW.audit_id AND a.hash = NEW.hash) THEN
    RAISE EXCEPTION 'tdm.audit_head moves only with an append to tdm.audit: % refused', TG_OP
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'Audit rows are appended by tdm''s functions; tdm.verify_audit() checks the chain.';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER audit_head_guard BEFORE INSERT OR UPDATE OR DELETE ON tdm.audit_head
  FOR EACH ROW EXECUTE FUNCTION tdm._audit_head_guard();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON tdm.audit_head
  FOR EACH STATEMENT EXECUTE FUNCTION tdm._audit_refuse_change();
ALTER TABLE tdm.audit_head ENABLE ALWAYS TRIGGER audit_head_guard,
  ENABLE ALWAYS TRIGGER audit_head_no_truncate;

-- (They fire whatever session_replication_role says: a session in replica
-- mode appends to the chain and cannot remove rows either.)
ALTER TABLE tdm.audit ENABLE ALWAYS TRIGGER audit_chain, ENABLE ALWAYS TRIGGER audit_append_only,
  ENABLE ALWAYS TRIGGER audit_no_truncate, ENABLE ALWAYS TRIGGER audit_head_move;

-- Appends one audit row; every tdm operation that changes something calls it.
CREATE FUNCTION tdm._audit(action text, object text, detail jsonb DEFAULT '{}') RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO tdm.audit (action, object, detail, prev_hash, hash)
  VALUES (action, object, coalesce(detail, '{}'), '', '')
  RETURNING audit_id
$$;

-- Takes the audit trail's head now, before the caller locks its target:
-- the head waits for any other transaction that appended (a reviewer's
-- open transaction that wrote a decision), and waiting here holds nothing
-- the target's readers would wait behind. The caller's audit row, at its
-- end, then finds the head its own.
CREATE FUNCTION tdm._audit_reserve() RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT FROM tdm._audit_lock_head()
$$;

-- Takes the audit's head, then the locks `statements` take (each run with
-- $1 = `release`), never waiting long for those while holding the head: a
-- session holding what they lock that then waits for the head (a write
-- on master, then an audited call in the same transaction) would
-- deadlock with it. The first try waits for them a quarter of
-- deadlock_timeout at most, then gives everything back (a
-- subtransaction), sleeps a little and tries again, each try waiting
-- twice as long as the last, up to 4 x deadlock_timeout: readers that
-- each hold a table longer than a try, one after another, would otherwise
-- keep an ACCESS EXCLUSIVE lock from ever being granted (while a try
-- waits, new readers queue behind it; the ones already in finish).
-- `give_up_after` bounds the tries (false when it ends them), else the
-- caller's lock_timeout, if any (its error).
CREATE FUNCTION tdm._head_then_lock(statements text[], release text DEFAULT NULL,
                                    give_up_after interval DEFAULT NULL) RETURNS bool
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  waited_ms bigint := (SELECT s.setting::bigint FROM pg_settings s WHERE s.name = 'lock_timeout');
  give_up timestamptz := clock_timestamp() + coalesce(give_up_after, CASE WHEN waited_ms > 0
                                                                          THEN make_interval(secs => waited_ms / 1000.0) END);
  deadlock_ms bigint := (SELECT s.setting::bigint FROM pg_settings s WHERE s.name = 'deadlock_timeout');
  try_ms bigint := greatest(10, deadlock_ms / 4);
  longest_try_ms bigint := greatest(10, deadlock_ms * 4);
  statement text;
  waiting_for_head bool;
BEGIN
  LOOP
    BEGIN
      -- (The head locked here, not by tdm._audit_reserve, whose own
      -- subtransaction would end first: a session waiting for the head
      -- then waits for this transaction's end, not this try's.)
      waiting_for_head := true;
      PERFORM FROM tdm.audit_head FOR UPDATE;
      waiting_for_head := false;
      -- (A try never waits past the end of the tries.)
      PERFORM set_config('lock_timeout',
                         greatest(1, least(try_ms, coalesce(ceil(extract(epoch FROM give_up - clock_timestamp()) * 1000)::bigint,
                                                            try_ms))) || 'ms', true);
      FOREACH statement IN ARRAY statements LOOP
        CONTINUE WHEN statement IS NULL;  -- (no table to lock)
        EXECUTE statement USING release;
      END LOOP;
      PERFORM set_config('lock_timeout', waited_ms || 'ms', true);
      RETURN true;
    EXCEPTION WHEN lock_not_available THEN
      -- (the subtransaction's end gave the head, the locks and the
      -- setting back)
      IF waiting_for_head THEN
        PERFORM tdm._audit_head_busy();
      ELSIF give_up_after IS NOT NULL AND clock_timestamp() >= give_up THEN
        RETURN false;
      ELSIF give_up IS NOT NULL AND clock_timestamp() >= give_up THEN
        RAISE;
      END IF;
    END;
    try_ms := least(try_ms * 2, longest_try_ms);
    PERFORM pg_sleep(0.02 + random() * 0.08);
  END LOOP;
END
$$;

-- The first broken link of the chain, or no row when the chain is intact.
CREATE FUNCTION tdm.verify_audit()
RETURNS TABLE (audit_id bigint, problem text, expected_hash text, found_hash text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
DECLARE
  r tdm.audit;
  head tdm.audit_head;
  previous text := tdm._audit_genesis();
  previous_id bigint;
BEGIN
  FOR r IN SELECT * FROM tdm.audit a ORDER BY a.audit_id LOOP
    IF r.prev_hash IS DISTINCT FROM previous THEN
      RETURN QUERY SELECT r.audit_id,
        CASE WHEN previous_id IS NULL
             THEN format('audit row %s does not chain to the start: rows before it were removed',
                         r.audit_id)
             ELSE format('audit row %s does not chain to row %s: rows between them were removed '
                         'or row %s was changed', r.audit_id, previous_id, previous_id)
        END, previous, r.prev_hash;
      RETURN;
    END IF;
    IF tdm._audit_hash(r) IS DISTINCT FROM r.hash THEN
      RETURN QUERY SELECT r.audit_id,
        format('audit row %s was changed after it was written', r.audit_id),
        tdm._audit_hash(r), r.hash;
      RETURN;
    END IF;
    previous := r.hash;
    previous_id := r.audit_id;
  END LOOP;
  -- The last row is the one the head says was appended last: rows removed
  -- from the end leave no broken link, but the head remembers. (No head
  -- yet after a restore: the first append takes the last row as the head.)
  SELECT * INTO head FROM tdm.audit_head;
  IF head.audit_id IS NOT NULL AND (head.audit_id IS DISTINCT FROM previous_id OR head.hash <> previous) THEN
    RETURN QUERY SELECT head.audit_id,
      CASE WHEN head.audit_id = previous_id
             THEN format('row %s is not the row appended last under that id: it, and maybe rows before it,'
                         ' were changed and hashed again', head.audit_id)
           WHEN head.audit_id < previous_id
             THEN format('rows after row %s, appended last as far as the head knows, do not chain from it:'
                         ' rows up to it were removed or changed, and rows appended since (to row %s)',
                         head.audit_id, previous_id)
           ELSE format('the chain ends at %s, but row %s was appended last: rows at its end were removed '
                       'or changed', coalesce('row ' || previous_id, 'the start'), head.audit_id) END,
      head.hash, previous;
  END IF;
END
$$;

SELECT pg_catalog.pg_extension_config_dump('tdm.audit', '');
SELECT pg_catalog.pg_extension_config_dump('tdm.audit_audit_id_seq', '');
