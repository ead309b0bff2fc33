-- Consolidation (phase 2): runs, the conflicts they found, reviewers'
-- decisions, re-keyed rows and integrity findings.

CREATE TYPE tdm.action AS ENUM ('keep', 'keep_all', 'merge', 'delete_all');

CREATE TABLE tdm.run (
  run_id         bigserial PRIMARY KEY,
  job_id         bigint REFERENCES tdm.job (job_id),
  release        text NOT NULL REFERENCES tdm.release (release),
  target         text NOT NULL,
  status         text NOT NULL DEFAULT 'collecting'
                 CHECK (status IN ('collecting', 'detecting', 'awaiting_review', 'validating',
                                   'invalid', 'loading', 'completed', 'failed')),
  rows_collected bigint NOT NULL DEFAULT 0,
  conflicts      bigint NOT NULL DEFAULT 0,
  auto_resolved  bigint NOT NULL DEFAULT 0,
  manual         bigint NOT NULL DEFAULT 0,
  rows_loaded    bigint NOT NULL DEFAULT 0,
  rows_merged    bigint NOT NULL DEFAULT 0,  -- resolved away in favour of a survivor
  rows_renamed   bigint NOT NULL DEFAULT 0,  -- kept under a new key
  rows_deleted   bigint NOT NULL DEFAULT 0,  -- delete_all and relationship deletions
  phase_ms       jsonb NOT NULL DEFAULT '{}',
  tables         jsonb NOT NULL DEFAULT '{}',  -- per table: collected per environment, outcome
  calls          int NOT NULL DEFAULT 0,       -- consolidate calls that worked on this run
  decisions      jsonb,  -- the decisions a completed run applied, as its report lists them
  decisions_gone text[], -- decided conflicts of an earlier call this one no longer finds
  started_by     name NOT NULL DEFAULT current_user,
  started_at     timestamptz NOT NULL DEFAULT now(),
  finished_at    timestamptz
);
CREATE INDEX ON tdm.run (release, target);
COMMENT ON TABLE tdm.run IS 'One consolidation of a release into a target; resumed by later calls';

-- tdm.conflict and tdm.key_map hold up to millions of rows a run, written
-- by consolidation for the run it holds locked: their run_id is not a
-- declared foreign key, whose per-row check cost more than the rows' own
-- writing (decision 57). tdm._run_detail_guard and tdm._run_truncate_guard
-- keep the references whole when runs are deleted.
CREATE TABLE tdm.conflict (
  run_id      bigint NOT NULL,
  conflict_id text NOT NULL,
  rel         regclass NOT NULL,
  kind        tdm.conflict_kind NOT NULL,
  class       text NOT NULL CHECK (class IN ('simple', 'complex')),
  priority    int NOT NULL CHECK (priority BETWEEN 1 AND 3),
  status      text NOT NULL
              CHECK (status IN ('auto_resolved', 'pending', 'decided', 'applied', 'stale')),
  rule        text NOT NULL,
  suggestion  text,
  rationale   text,
  members     jsonb NOT NULL,
  differing   jsonb NOT NULL DEFAULT '{}',
  related     jsonb NOT NULL DEFAULT '{}',  -- collected child rows per table and member
  survivor    int,                          -- position in members of the suggested survivor
  rekeyed     int[] NOT NULL DEFAULT '{}',  -- positions the rule re-keys
  merged      jsonb,                        -- the rule's merged row
  -- What a decision on it is taken on: md5 of its members' rows as
  -- collected (environment and row hash: a reference its parent's
  -- resolution translated is no change) and of the table's masks.
  members_checksum text,
  -- Of a conflict its delete_all settled: the rows of other conflicts'
  -- members it deleted along with its own (an environment's copy merged
  -- into a member), as members are spelled, with `into`, the row each was
  -- merged into: later releases' references to them are relationship
  -- conflicts too.
  deleted_along jsonb,
  -- By conflict id first: it serves the lookups of one conflict across runs.
  PRIMARY KEY (conflict_id, run_id)
);
CREATE INDEX ON tdm.conflict (run_id, rel);
CREATE INDEX ON tdm.conflict (run_id, rel) WHERE deleted_along IS NOT NULL;
-- A run's conflicts that wait for, hold or applied a decision (few): the checks
-- for them read no rule-settled conflict (p303: 0.87 s -> 0.15 s over
-- 103,000 conflicts a rule settled).
CREATE INDEX ON tdm.conflict (run_id, rel) WHERE status IN ('pending', 'stale', 'decided', 'applied');
COMMENT ON TABLE tdm.conflict IS 'Conflicts of a run: rule or decision, and the members';

-- One row per member of a conflict, read from the conflict's own members:
-- the rows are stored once (writing them again as rows of their own was
-- the largest part of detection). The label is the environment, with the
-- key when the environment has two members in the conflict, and `#n` for
-- the n-th of its members under one key (one re-pointed onto another's):
-- as detection labels them.
CREATE VIEW tdm.conflict_member AS
SELECT c.run_id, c.conflict_id,
       (e.n - 1)::int AS member,
       e.m->>'env' AS env,
       CASE WHEN cardinality(array_positions(envs.list, e.m->>'env')) > 1
            THEN (e.m->>'env') || ':' || array_to_string(k.key, ',')
                 || coalesce((SELECT '#' || (count(*) + 1)
                                FROM jsonb_array_elements(c.members) WITH ORDINALITY AS o(m, n)
                               WHERE o.n < e.n AND o.m->>'env' = e.m->>'env'
                                 AND ARRAY(SELECT o.m->'row'->>u.col
                                             FROM unnest(mt.pk_columns) WITH ORDINALITY AS u(col, i)
                                            ORDER BY u.i) = k.key
                              HAVING count(*) > 0), '')
            ELSE e.m->>'env' END AS label,
       e.m->>'feature' AS feature,
       e.m->>'ts' AS ts,
       e.m->>'ts' AS "timestamp",  -- (DESIGN.md's name for ts: the member's update time)
       e.m->'row' AS "row",
       k.key
  FROM tdm.conflict c
  LEFT JOIN tdm.managed_table mt ON mt.rel = c.rel
 CROSS JOIN LATERAL (SELECT array_agg(o->>'env') AS list
                       FROM jsonb_array_elements(c.members) o) envs
 CROSS JOIN LATERAL jsonb_array_elements(c.members) WITH ORDINALITY AS e(m, n)
 CROSS JOIN LATERAL (SELECT ARRAY(SELECT e.m->'row'->>u.col
                                    FROM unnest(mt.pk_columns) WITH ORDINALITY AS u(col, i)
                                   ORDER BY u.i) AS key) k;
COMMENT ON VIEW tdm.conflict_member IS
  'One row per source row of a conflict (member: 0-based position, key: the primary key as text[])';

CREATE TABLE tdm.decision (
  conflict_id      text PRIMARY KEY,
  action           tdm.action NOT NULL,
  keep_env         text,
  renames          jsonb,
  merged           jsonb,
  rationale        text,
  decided_by       name NOT NULL DEFAULT current_user,
  decided_at       timestamptz NOT NULL DEFAULT now(),
  approved_by      name,
  approved_at      timestamptz,
  members_checksum text,  -- the conflict's members_checksum when decided: a change makes it stale
  decided_priority int    -- the conflict's priority when decided: a priority 1 decision needs
                          -- approval in every run, whatever its conflict ranks there later
);
COMMENT ON TABLE tdm.decision IS
  'Reviewers'' decisions: INSERT or UPDATE from psql, or tdm.resolve(); checked at once';

-- A decided conflict's members as its decision was taken (the latest
-- one): what a stale conflict's members changed from, for the review
-- queue (tdm._changed_members). Written by tdm._decision_record.
CREATE TABLE tdm.decided_members (
  conflict_id text PRIMARY KEY,
  members     jsonb NOT NULL
);
COMMENT ON TABLE tdm.decided_members IS
  'Each decision''s conflict members as they were when it was taken: what a stale conflict changed from';

CREATE TABLE tdm.key_map (
  run_id      bigint NOT NULL,  -- see tdm.conflict
  rel         regclass NOT NULL,
  env         text NOT NULL,
  old_key     jsonb NOT NULL,
  new_key     jsonb NOT NULL,
  reason      text NOT NULL CHECK (reason IN ('rekeyed', 'renamed', 'merged', 'repointed')),
  conflict_id text
);
CREATE INDEX ON tdm.key_map (run_id, rel, env);
COMMENT ON TABLE tdm.key_map IS
  'Every (environment, old key) -> final key of a run; children are re-pointed through it';

-- What the foreign keys of tdm.conflict (restrict) and tdm.key_map
-- (cascade) to tdm.run would do.
CREATE FUNCTION tdm._run_detail_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.run_id = OLD.run_id THEN
    RETURN NEW;
  END IF;
  IF EXISTS (SELECT 1 FROM tdm.conflict c WHERE c.run_id = OLD.run_id) THEN
    RAISE EXCEPTION 'tdm.run %: the run''s conflicts in tdm.conflict refer to it', OLD.run_id
      USING ERRCODE = 'foreign_key_violation', TABLE = 'run', SCHEMA = 'tdm',
            HINT = format('Delete them first: DELETE FROM tdm.conflict WHERE run_id = %s;',
                          OLD.run_id);
  END IF;
  IF TG_OP = 'UPDATE' THEN
    IF EXISTS (SELECT 1 FROM tdm.key_map k WHERE k.run_id = OLD.run_id) THEN
      RAISE EXCEPTION 'tdm.run %: the run''s key map in tdm.key_map refers to it', OLD.run_id
        USING ERRCODE = 'foreign_key_violation', TABLE = 'run', SCHEMA = 'tdm',
              HINT = 'A run keeps its id.';
    END IF;
    RETURN NEW;
  END IF;
  -- (The run whose rows of its release master holds: its key map says
  -- which keys the environments' rows took there, and a later release's
  -- references to them, or those rows brought again, are translated by
  -- it. Without it they are taken for other rows of those keys.)
  -- (Not once its promotion was rolled back: master holds none of its rows
  -- then. An archived release's come back with restore_release.)
  IF OLD.run_id = tdm._promoted_run(OLD.release)
     AND (SELECT r.status IN ('promoted', 'deployed', 'archived') FROM tdm.release r WHERE r.release = OLD.release)
     AND EXISTS (SELECT 1 FROM tdm.key_map k WHERE k.run_id = OLD.run_id) THEN
    RAISE EXCEPTION 'tdm.run %: its key map translates later releases'' references to the rows of release % it loaded',
      OLD.run_id, OLD.release
      USING ERRCODE = 'foreign_key_violation', TABLE = 'run', SCHEMA = 'tdm',
            DETAIL = format('Run %s is the run release %s was promoted from; its %s key map entries say which key'
                            ' each environment''s row took.', OLD.run_id, OLD.release,
                            (SELECT count(*) FROM tdm.key_map k WHERE k.run_id = OLD.run_id)),
            HINT = 'Its conflicts hold most of a run''s space and can go (DELETE FROM tdm.conflict WHERE run_id = '
                   || OLD.run_id || ';); the run and its key map stay while the release''s rows are in master (or in its'
                   || ' archive, which restore_release brings back).';
  END IF;
  DELETE FROM tdm.key_map k WHERE k.run_id = OLD.run_id;
  RETURN OLD;
END
$$;
CREATE TRIGGER run_detail_guard BEFORE DELETE OR UPDATE OF run_id ON tdm.run
  FOR EACH ROW EXECUTE FUNCTION tdm._run_detail_guard();

-- TRUNCATE fires no row trigger: while conflicts or a key map refer to
-- runs, truncating the runs is refused.
CREATE FUNCTION tdm._run_truncate_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM tdm.conflict) OR EXISTS (SELECT 1 FROM tdm.key_map) THEN
    RAISE EXCEPTION 'tdm.run: conflicts or key maps in tdm.conflict and tdm.key_map refer to its runs'
      USING ERRCODE = 'foreign_key_violation', TABLE = 'run', SCHEMA = 'tdm',
            HINT = 'Delete the runs one by one instead (their conflicts first): the run a promoted release came'
                   ' from keeps its key map, which later releases translate their references through.';
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER run_truncate_guard BEFORE TRUNCATE ON tdm.run
  FOR EACH STATEMENT EXECUTE FUNCTION tdm._run_truncate_guard();
ALTER TABLE tdm.run ENABLE ALWAYS TRIGGER run_detail_guard, ENABLE ALWAYS TRIGGER run_truncate_guard;

CREATE TABLE tdm.violation (
  run_id   bigint NOT NULL REFERENCES tdm.run (run_id) ON DELETE CASCADE,
  rel      regclass NOT NULL,
  kind     text NOT NULL CHECK (kind IN ('foreign_key', 'not_null', 'check', 'unique', 'rule')),
  severity text NOT NULL CHECK (severity IN ('error', 'warning')),
  row_key  jsonb NOT NULL,  -- {"env": .., "key": {..}}
  detail   jsonb NOT NULL
);
CREATE INDEX ON tdm.violation (run_id);
COMMENT ON TABLE tdm.violation IS 'Integrity findings of a run''s validation; errors load nothing';

SELECT pg_catalog.pg_extension_config_dump('tdm.run', '');
SELECT pg_catalog.pg_extension_config_dump('tdm.run_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tdm.conflict', '');
SELECT pg_catalog.pg_extension_config_dump('tdm.decision', '');
SELECT pg_catalog.pg_extension_config_dump('tdm.decided_members', '');
SELECT pg_catalog.pg_extension_config_dump('tdm.key_map', '');
SELECT pg_catalog.pg_extension_config_dump('tdm.violation', '');

-- A run made for a background consolidation (tdm.consolidate with
-- wait => false returned its id) whose job ended with no call having
-- worked on it (failed, cancelled, never started) is `failed`, as the run
-- is: the next call starts a new one. A run a call has worked on stays as
-- it was, as it does when the same call fails in the foreground.
CREATE FUNCTION tdm._fail_unworked_run() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
BEGIN
  -- (Not a run whose row another session holds: a call working it, in a
  -- transaction still open. Waiting for it blocked whoever reaped the job,
  -- wait_job and every call starting a job, and could deadlock with that
  -- call's own wait_job.)
  UPDATE tdm.run r SET status = 'failed', finished_at = clock_timestamp()
   WHERE r.run_id = (SELECT x.run_id FROM tdm.run x
                      WHERE x.run_id = (NEW.detail ->> 'run_id')::bigint AND x.calls = 0 AND x.status = 'collecting'
                        FOR UPDATE SKIP LOCKED);
  RETURN NULL;
END
$$;
CREATE TRIGGER job_ended_unworked AFTER UPDATE OF status ON tdm.job
  FOR EACH ROW WHEN (NEW.kind = 'consolidate' AND NEW.status IN ('failed', 'cancelled')
                     AND OLD.status IS DISTINCT FROM NEW.status)
  EXECUTE FUNCTION tdm._fail_unworked_run();

-- The staging target: the schema of the managed tables when they are all
-- in one (a DBA's "Staging Area"), else `staging`. A completed
-- consolidation into it makes a release `consolidated`, ready to promote.
CREATE FUNCTION tdm._staging_target() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN count(DISTINCT c.relnamespace) = 1 THEN min(n.nspname::text) ELSE 'staging' END
    FROM tdm.managed_table m JOIN pg_class c ON c.oid = m.rel JOIN pg_namespace n ON n.oid = c.relnamespace
$$;

-- `SELECT tdm.consolidate('R2');` for a HINT, with the target when it is
-- not the default (NULL: the staging target).
CREATE FUNCTION tdm._consolidate_call(release text, target text DEFAULT NULL) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT format('SELECT tdm.consolidate(%L%s);', release,
                CASE WHEN t.target <> 'staging' THEN format(', %L', t.target) ELSE '' END)
    FROM (SELECT coalesce(_consolidate_call.target, tdm._staging_target()) AS target) t
$$;
