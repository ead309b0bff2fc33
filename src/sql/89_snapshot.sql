-- Phases 4 and 5: snapshots of a target, rollback to one, and deployments
-- that take the pre-deploy snapshot so that data rolls back with the code.
-- A snapshot is a copy of every managed table of the target in schema
-- tdm_snapshot, taken under one SHARE lock on all of them (one consistent
-- state, readers not blocked), counted and checksummed. After it, a worker
-- builds from each copy a "spare": a table laid out exactly as the target
-- table, indexes included, checked against the checksum. A rollback swaps
-- the spares' storage into the targets' place in the catalog (the lock
-- lasts as long whatever the size), and a worker builds the next spares
-- from the copies. Where a swap would skip something the tables carry
-- (triggers, foreign keys from or to tables outside the snapshot,
-- publications), the rollback changes only the rows that differ under
-- EXCLUSIVE locks, else replaces them all. Either way a reader sees the
-- state before or after, never a mix; the snapshot stays usable.

CREATE SCHEMA tdm_snapshot;
COMMENT ON SCHEMA tdm_snapshot IS 'Snapshot copies of target tables (tdm.snapshot_table says which)';

CREATE TABLE tdm.snapshot (
  snapshot_id bigserial PRIMARY KEY,
  label       text NOT NULL,
  target      text NOT NULL,
  job_id      bigint REFERENCES tdm.job (job_id),
  created_at  timestamptz NOT NULL DEFAULT now(),
  created_by  name NOT NULL DEFAULT current_user
);
CREATE TABLE tdm.snapshot_table (
  snapshot_id bigint NOT NULL REFERENCES tdm.snapshot (snapshot_id),
  rel         regclass NOT NULL,  -- the target table
  managed     regclass NOT NULL,  -- its managed table
  storage     text NOT NULL,      -- the copy, in tdm_snapshot
  row_count   bigint NOT NULL,
  checksum    text NOT NULL,
  shape       text NOT NULL,      -- columns and types when taken
  constraints text,               -- constraints and NOT NULL columns when taken
  PRIMARY KEY (snapshot_id, rel)
);
CREATE TABLE tdm.deployment (
  deployment_id  bigserial PRIMARY KEY,
  release        text NOT NULL REFERENCES tdm.release (release),
  code_version   text NOT NULL CHECK (btrim(code_version) <> ''),
  target         text NOT NULL,
  snapshot_id    bigint NOT NULL REFERENCES tdm.snapshot (snapshot_id),
  deployed_by    name NOT NULL DEFAULT current_user,
  deployed_at    timestamptz NOT NULL DEFAULT now(),
  rolled_back_at timestamptz
);
-- Each release's status when a snapshot was taken: where its rows were
-- then (a rollback to the snapshot puts them back there), and the run
-- that consolidated the rows the snapshot holds (NULL where it holds none
-- of the release's): its key map translates later releases' references to
-- them, so consolidation does not repeat that run, and a rollback to the
-- snapshot makes it the release's completed run again. `consolidated_run`:
-- a release consolidated into the snapshot's target (not promoted), its
-- completed run there, which a rollback forward to the snapshot makes
-- completed again (tdm._reconcile_unloaded); nothing else reads it (a
-- re-run of the release repeats its run, as before the snapshot).
CREATE TABLE tdm.snapshot_release (
  snapshot_id      bigint NOT NULL REFERENCES tdm.snapshot (snapshot_id),
  release          text NOT NULL REFERENCES tdm.release (release),
  status           text NOT NULL,
  run_id           bigint,
  consolidated_run   bigint,
  consolidated_calls int,   -- its calls then (called again since: its rows are another call's)
  locked_rows        text,  -- its lock then (tdm._locked_rows): tagged since with other rows, another
  -- (whose rows the snapshot holds: its lock then, put back with them,
  -- tdm._reconcile_releases; {"locked_at", "rows": tdm.release_lock rows})
  lock               jsonb,
  PRIMARY KEY (snapshot_id, release)
);
CREATE INDEX ON tdm.snapshot_release (run_id);

-- What a release's lock holds, as one value: each environment's and
-- table's row count and checksum, tables by name (a restored dump's OIDs
-- are new), tables and environments without its rows left out (one added
-- since adds none). Two tags of the same rows give the same value (not
-- their times: two tags in one transaction share theirs).
CREATE FUNCTION tdm._locked_rows(release text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(md5(string_agg(format('%s|%s|%s|%s', l.env, l.rel, l.row_count, l.checksum), ','
                                 ORDER BY l.env COLLATE "C", l.rel::text COLLATE "C")), 'no rows')
    FROM tdm.release_lock l WHERE l.release = _locked_rows.release AND l.row_count > 0
$$;

-- A release's lock as one value (tdm.snapshot_release.lock): when it was
-- locked, and its rows per environment and table (tables by name, and
-- OID: tdm._lock_rows reads them back).
CREATE FUNCTION tdm._lock_of(release text) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT jsonb_build_object('locked_at', (SELECT x.locked_at FROM tdm.release x WHERE x.release = _lock_of.release),
                            'rows', coalesce(jsonb_agg(to_jsonb(l) - 'release' || jsonb_build_object('rel_oid', l.rel::oid)
                                                       ORDER BY l.env COLLATE "C", l.rel::text COLLATE "C"), '[]'))
    FROM tdm.release_lock l WHERE l.release = _lock_of.release
$$;

-- The rows of a lock tdm._lock_of recorded, each table as it is now: by
-- its name where that is a managed table (a restored dump's OIDs are
-- new), else by its OID where that is one (renamed since); a table
-- neither finds (dropped) is left out.
CREATE FUNCTION tdm._lock_rows(lock jsonb)
RETURNS TABLE (env text, rel regclass, row_count bigint, checksum text, locked_at timestamptz, shape text,
               fills jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  -- (One row per environment and table: where tables swapped names, or
  -- one was renamed onto another's, the row found by name wins.)
  SELECT DISTINCT ON (y.env, y.rel) y.env, y.rel, y.row_count, y.checksum, y.locked_at, y.shape, y.fills
    FROM (SELECT x.env, coalesce(n.rel, o.rel) AS rel, n.rel IS NOT NULL AS by_name,
                 x.row_count, x.checksum, x.locked_at, x.shape, coalesce(x.fills, '{}') AS fills
            FROM jsonb_to_recordset(lock -> 'rows')
                   AS x(env text, rel text, rel_oid oid, row_count bigint, checksum text, locked_at timestamptz,
                        shape text, fills jsonb)
            LEFT JOIN tdm.managed_table n ON n.rel = to_regclass(x.rel)
            LEFT JOIN tdm.managed_table o ON o.rel::oid = x.rel_oid) y
   WHERE y.rel IS NOT NULL
   ORDER BY y.env, y.rel, y.by_name DESC
$$;

-- Whether run `run_id` consolidated rows a snapshot holds (in master, or
-- archived from there) while its release's rows are out of master now (a
-- rollback took them out): a later call starts a new run rather than
-- repeat it, so that a rollback to the snapshot finds its key map whole.
-- (While they are in master, a call repeats the run: its rows and keys
-- are master's.)
CREATE FUNCTION tdm._run_kept(run_id bigint) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT FROM tdm.snapshot_release sr WHERE sr.run_id = _run_kept.run_id)
         AND (SELECT tdm._presence(x.status) FROM tdm.run r JOIN tdm.release x USING (release)
               WHERE r.run_id = _run_kept.run_id) = 'neither'
$$;

-- A rollback's spares (not dumped: a restored database builds them again).
CREATE TABLE tdm.snapshot_spare (
  snapshot_id    bigint NOT NULL REFERENCES tdm.snapshot (snapshot_id),
  rel            regclass NOT NULL,  -- the target table
  spare          regclass NOT NULL,  -- laid out as it, in tdm_snapshot
  target_indexes oid[] NOT NULL,     -- the target's indexes ...
  spare_indexes  oid[] NOT NULL,     -- ... and the spare's, pair by pair
  PRIMARY KEY (snapshot_id, rel)
);
SELECT pg_catalog.pg_extension_config_dump('tdm.snapshot', '');
SELECT pg_catalog.pg_extension_config_dump('tdm.snapshot_snapshot_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tdm.snapshot_table', '');
SELECT pg_catalog.pg_extension_config_dump('tdm.snapshot_release', '');
SELECT pg_catalog.pg_extension_config_dump('tdm.deployment', '');
SELECT pg_catalog.pg_extension_config_dump('tdm.deployment_deployment_id_seq', '');

-- A table's columns and types, to notice a changed shape.
CREATE FUNCTION tdm._shape(rel regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(format('%I %s', column_name, column_type), ', ' ORDER BY ordinal)
    FROM tdm._columns(rel)
$$;

-- A table's constraints and NOT NULL columns: a swap does not check
-- them, so one added or changed since a snapshot makes a rollback to it
-- change rows instead.
CREATE FUNCTION tdm._constraints(rel regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT concat_ws('; ',
    (SELECT string_agg(format('%I %s', c.conname, pg_get_constraintdef(c.oid)), ', ' ORDER BY c.conname)
       FROM pg_constraint c WHERE c.conrelid = rel),
    (SELECT 'not null ' || string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum)
       FROM pg_attribute a
      WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull))
$$;

-- The attribute numbers, in `rel`, of the columns of `columns_of` in the
-- order tdm._hash_args hashes them: what a copy's checksum covers. (A
-- snapshot's checksums cover its target tables' own columns: neither a
-- column only master has, nor one renamed in staging alone, escapes a
-- rollback.)
CREATE FUNCTION tdm._hashed_attnums(rel regclass, columns_of regclass) RETURNS int2[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT ARRAY(SELECT a.attnum FROM tdm._columns(columns_of) c
                 JOIN pg_attribute a ON a.attrelid = rel AND a.attname = c.column_name
                ORDER BY c.ordinal)
$$;

-- A table of snapshot `snapshot_id` in tdm_snapshot for target table
-- `rel`: `kind` 's' for the copy, 'r' for the rollback's spare.
CREATE FUNCTION tdm._snapshot_relation(kind text, snapshot_id bigint, rel regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT format('tdm_snapshot.%I',
                tdm._fitted_name(format('%s%s_%s', kind, snapshot_id,
                                        (SELECT relname FROM pg_class WHERE oid = rel)), rel::oid::text))
$$;

-- Copies a table's rows into an empty table of the same columns, hashing
-- them on the way (the checksum of tdm._release_checksum over `hashed`, the
-- attribute numbers of the managed table's columns).
CREATE FUNCTION tdm._copy_rows(source regclass, storage regclass, hashed int2[],
                               OUT row_count bigint, OUT checksum text)
AS 'MODULE_PATHNAME', 'tdm_copy_rows' LANGUAGE C VOLATILE STRICT;

-- The spare of `target` built from a snapshot's copy, and its checksum
-- (over `hashed`, attribute numbers of the copy); and the swap of a spare's
-- storage into its target's place (the caller holds ACCESS EXCLUSIVE).
CREATE FUNCTION tdm._make_spare(target regclass, storage regclass, hashed int2[], name text,
                                OUT spare regclass, OUT target_indexes oid[],
                                OUT spare_indexes oid[], OUT row_count bigint, OUT checksum text)
AS 'MODULE_PATHNAME', 'tdm_make_spare' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION tdm._swap_storage(target regclass, spare regclass, target_indexes oid[],
                                  spare_indexes oid[]) RETURNS void
AS 'MODULE_PATHNAME', 'tdm_swap_storage' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION tdm._drop_spare(spare regclass) RETURNS void
AS 'MODULE_PATHNAME', 'tdm_drop_spare' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION tdm._launch_spare(snapshot_id bigint, after_rollback bool DEFAULT false) RETURNS bool
AS 'MODULE_PATHNAME', 'tdm_launch_spare' LANGUAGE C VOLATILE STRICT;

-- ANALYZE of a snapshot's target tables: after a swap their planner
-- statistics are still those of the rows swapped out.
CREATE FUNCTION tdm._analyze_snapshot_tables(snapshot_id bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  tables text := (SELECT string_agg(x.rel::text, ', ') FROM tdm.snapshot_table x
                   WHERE x.snapshot_id = _analyze_snapshot_tables.snapshot_id);
BEGIN
  IF tables IS NOT NULL THEN
    EXECUTE 'ANALYZE ' || tables;
  END IF;
END
$$;

-- Why a rollback to this snapshot cannot swap storage (NULL when it can):
-- what a swap would skip or break that changing rows would not.
CREATE FUNCTION tdm._swap_refusal(snapshot_id bigint) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH t AS (SELECT x.rel FROM tdm.snapshot_table x WHERE x.snapshot_id = _swap_refusal.snapshot_id)
  SELECT coalesce(
    (SELECT format('%s may not truncate %s (a swap replaces every row)', current_user, t.rel)
       FROM t WHERE NOT has_table_privilege(t.rel, 'TRUNCATE') LIMIT 1),
    (SELECT format('%s is not a plain table', c.oid::regclass)
       FROM t JOIN pg_class c ON c.oid = t.rel WHERE c.relkind <> 'r' OR c.relispartition LIMIT 1),
    (SELECT format('%s is part of an inheritance tree', t.rel) FROM t
      WHERE EXISTS (SELECT 1 FROM pg_inherits i WHERE t.rel IN (i.inhrelid, i.inhparent)) LIMIT 1),
    (SELECT format('foreign key %I of %s links it to a table outside the snapshot',
                   k.conname, k.conrelid::regclass)
       FROM pg_constraint k
      WHERE k.contype = 'f' AND k.conparentid = 0
        AND (k.conrelid IN (SELECT rel FROM t)) <> (k.confrelid IN (SELECT rel FROM t)) LIMIT 1),
    (SELECT format('trigger %I on %s would not fire', g.tgname, g.tgrelid::regclass)
       FROM pg_trigger g
      WHERE g.tgrelid IN (SELECT rel FROM t) AND NOT g.tgisinternal AND g.tgenabled <> 'D' LIMIT 1),
    (SELECT format('rule %I on %s would not apply', r.rulename, r.ev_class::regclass)
       FROM pg_rewrite r WHERE r.ev_class IN (SELECT rel FROM t) AND r.rulename <> '_RETURN' LIMIT 1),
    (SELECT format('the constraints of %s changed since the snapshot', x.rel)
       FROM tdm.snapshot_table x
      WHERE x.snapshot_id = _swap_refusal.snapshot_id
        AND x.constraints IS DISTINCT FROM tdm._constraints(x.rel) LIMIT 1),
    (SELECT format('logical replication slot %I decodes this database', r.slot_name)
       FROM pg_replication_slots r
      WHERE r.slot_type = 'logical' AND r.database = current_database() LIMIT 1),
    (SELECT format('%s is in publication %I', t.rel, p.pubname)
       FROM t CROSS JOIN pg_publication p
      WHERE p.puballtables
         OR EXISTS (SELECT 1 FROM pg_publication_rel r WHERE r.prpubid = p.oid AND r.prrelid = t.rel)
         OR EXISTS (SELECT 1 FROM pg_publication_namespace n JOIN pg_class c ON c.relnamespace = n.pnnspid
                     WHERE n.pnpubid = p.oid AND c.oid = t.rel) LIMIT 1))
$$;

-- Builds the spares a rollback to the snapshot swaps in, for the tables
-- that have none or a stale one (the target's columns or indexes changed
-- since), each checked against the snapshot's checksum. One target keeps
-- the spares of one snapshot: building them drops other snapshots' spares
-- of the same target. The background builder and a rollback take turns.
CREATE FUNCTION tdm._prepare_spares(snapshot_id bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s tdm.snapshot;
  t record;
  made record;
  name text;
BEGIN
  SELECT * INTO s FROM tdm.snapshot x WHERE x.snapshot_id = _prepare_spares.snapshot_id;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  -- One preparation per target at a time, held to the end of the
  -- transaction: a spare worker of another snapshot of the target drops
  -- this one's spares, and must not do it while a rollback swaps them.
  PERFORM pg_advisory_xact_lock(hashtext('tdm spare'), hashtext(s.target));
  IF (SELECT j.status FROM tdm.job j WHERE j.job_id = s.job_id) IS DISTINCT FROM 'completed' THEN
    RETURN;
  END IF;
  FOR t IN SELECT sp.* FROM tdm.snapshot_spare sp JOIN tdm.snapshot o USING (snapshot_id)
            WHERE o.target = s.target
              AND (sp.snapshot_id <> s.snapshot_id
                   OR NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = sp.spare)
                   OR ARRAY(SELECT i.indexrelid FROM pg_index i WHERE i.indrelid = sp.rel ORDER BY 1)
                      <> ARRAY(SELECT o2 FROM unnest(sp.target_indexes) o2 ORDER BY 1)
                   OR (SELECT relnatts FROM pg_class WHERE oid = sp.rel)
                      IS DISTINCT FROM (SELECT relnatts FROM pg_class WHERE oid = sp.spare)) LOOP
    IF EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.spare) THEN
      PERFORM tdm._drop_spare(t.spare);
    END IF;
    DELETE FROM tdm.snapshot_spare sp WHERE sp.snapshot_id = t.snapshot_id AND sp.rel = t.rel;
  END LOOP;
  FOR t IN SELECT x.* FROM tdm.snapshot_table x
            WHERE x.snapshot_id = s.snapshot_id
              AND NOT EXISTS (SELECT 1 FROM tdm.snapshot_spare sp
                               WHERE sp.snapshot_id = x.snapshot_id AND sp.rel = x.rel) LOOP
    name := tdm._snapshot_relation('r', s.snapshot_id, t.rel);
    -- A spare no row lists (a restored dump's) is left over: it goes.
    IF to_regclass(name) IS NOT NULL THEN
      PERFORM tdm._drop_spare(name::regclass);
    END IF;
    made := tdm._make_spare(t.rel, t.storage::regclass, tdm._hashed_attnums(t.storage::regclass, t.storage::regclass),
                            (parse_ident(name))[2]);
    IF made.row_count <> t.row_count OR made.checksum <> t.checksum THEN
      RAISE EXCEPTION 'rollback: the copy % of snapshot % does not match its checksum (% rows, % when taken)',
        t.storage, s.snapshot_id, made.row_count, t.row_count
        USING ERRCODE = 'data_corrupted',
              HINT = 'The copy was changed, or an enum label its rows hold was renamed since (ALTER TYPE .. RENAME VALUE: rename it back to roll back); else take a new snapshot.';
    END IF;
    INSERT INTO tdm.snapshot_spare (snapshot_id, rel, spare, target_indexes, spare_indexes)
    VALUES (s.snapshot_id, t.rel, made.spare, made.target_indexes, made.spare_indexes);
  END LOOP;
END
$$;

-- Where a release's rows are, by its status: its target (master, or
-- where it was promoted), archive or neither.
CREATE FUNCTION tdm._presence(status text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN status IN ('promoted', 'deployed', 'rolled_back') THEN 'target'
              WHEN status = 'archived' THEN 'archive' ELSE 'neither' END
$$;

-- The managed tables whose rows a completed promote copied into `target`
-- (its job's `tables`), with the releases promoted there with them whose
-- rows are there still (not rolled back to before, nor archived), and
-- with `archived` those archived from there too (restore_release puts
-- their rows back into it: named `R2 (archived)`). A table by its OID
-- (renamed since), or by its name then (in a restored dump, whose OIDs
-- are new).
CREATE FUNCTION tdm._promoted_tables(target text, archived bool DEFAULT false)
RETURNS TABLE (managed regclass, releases text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT m.rel, string_agg(DISTINCT j.release || CASE WHEN r.status = 'archived' THEN ' (archived)' ELSE '' END,
                           ', ')
    FROM tdm.job j
    JOIN tdm.release r ON r.release = j.release
   CROSS JOIN LATERAL jsonb_array_elements(j.detail -> 'tables') AS x(t)
    JOIN tdm.managed_table m ON m.rel = (x.t ->> 'oid')::oid OR m.rel::text = x.t ->> 'name'
   WHERE j.kind = 'promote' AND j.status = 'completed' AND j.detail ->> 'to' = target
     AND (tdm._presence(r.status) = 'target' OR archived AND r.status = 'archived')
     AND tdm._promoted_to(r.release) = target
   GROUP BY m.rel
$$;

-- A target must still hold a table for every managed table a release was
-- promoted into it with: one renamed or dropped since would be left out
-- of a snapshot, and promote would create an empty one beside it. A
-- release archived from it counts: restoring it puts its rows back there.
CREATE FUNCTION tdm._require_promoted_tables(caller text, target text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  missing record;
BEGIN
  SELECT p.managed, p.releases, c.relname INTO missing
    FROM tdm._promoted_tables(target, archived => true) p JOIN pg_class c ON c.oid = p.managed
   WHERE tdm._target_table(target, p.managed) IS NULL
   ORDER BY c.relname LIMIT 1;
  IF FOUND AND to_regnamespace(quote_ident(target)) IS NULL THEN
    RAISE EXCEPTION '%: schema % does not exist, and releases were promoted into it (%)',
      caller, quote_ident(target), missing.releases
      USING ERRCODE = 'invalid_schema_name',
            DETAIL = 'It was renamed or dropped since they were promoted.',
            HINT = format('Give it back its name (ALTER SCHEMA <its name now> RENAME TO %I), or restore it.',
                          target);
  ELSIF FOUND THEN
    RAISE EXCEPTION '%: %.% does not exist, and releases were promoted into it (%)',
      caller, quote_ident(target), quote_ident(missing.relname), missing.releases
      USING ERRCODE = 'undefined_table',
            DETAIL = 'It was renamed, moved or dropped since they were promoted.',
            HINT = format('Give it back its name (ALTER TABLE %1$I.<its name now> RENAME TO %2$I), or restore'
                          ' it; tdm creates in %1$I only the tables no release was promoted into. If those'
                          ' rows are to go, create it empty yourself: CREATE TABLE %1$I.%2$I (LIKE %3$s'
                          ' INCLUDING ALL); or, for a table retired, stop managing it: SELECT'
                          ' tdm.unmanage_table(%4$L);', target, missing.relname, missing.managed,
                          missing.managed::text);
  END IF;
END
$$;

-- A target `caller` snapshots must hold tables of the managed tables,
-- every one that a release was promoted into it with.
CREATE FUNCTION tdm._require_target_tables(caller text, target text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM tdm._require_promoted_tables(caller, target);
  IF to_regnamespace(quote_ident(target)) IS NULL THEN
    RAISE EXCEPTION '%: schema % does not exist', caller, tdm._quoted(target)
      USING ERRCODE = 'invalid_schema_name',
            HINT = 'A target is a schema holding tables named like the managed tables (master, staging).';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM tdm._target_tables(target)) THEN
    RAISE EXCEPTION '%: target % has no managed tables', caller, tdm._quoted(target)
      USING ERRCODE = 'undefined_table',
            HINT = 'A target is a schema holding tables named like the managed tables.';
  END IF;
  PERFORM tdm._refuse_inheritance_parents(caller, ARRAY(SELECT x.rel FROM tdm._target_tables(target) x));
END
$$;

-- Takes a snapshot of `target`: returns its id (in the background with
-- wait => false; the copy is complete when its job is).
CREATE FUNCTION tdm.snapshot(label text, target text DEFAULT 'master', wait bool DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
DECLARE
  id bigint;
  job bigint;
BEGIN
  PERFORM tdm._require_given('snapshot', 'wait', wait IS NOT NULL);
  IF label IS NULL OR btrim(label) = '' THEN
    RAISE EXCEPTION 'snapshot: a label is required' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM tdm._require_target_name('snapshot', 'target', target);
  PERFORM tdm._require_managed_tables('snapshot');
  PERFORM tdm._require_target_tables('snapshot', target);
  -- (and row level security refused: a copy of what policies hide from
  -- the caller would be the caller's)
  PERFORM tdm._require_privileges('snapshot', target, '{SELECT}');
  INSERT INTO tdm.snapshot (label, target) VALUES (label, target) RETURNING snapshot_id INTO id;
  job := tdm._start_job('snapshot', NULL, wait, jsonb_build_object('snapshot_id', id, 'target', target));
  UPDATE tdm.snapshot s SET job_id = job WHERE s.snapshot_id = id;
  IF wait THEN
    PERFORM tdm._snapshot_job(job);
  END IF;
  RETURN id;
EXCEPTION WHEN lock_not_available THEN
  PERFORM tdm._job_lock_wait_ended('snapshot', NULL, target, NULL, SQLERRM);
  RAISE;
END
$$;

CREATE FUNCTION tdm._snapshot_job(job bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
DECLARE
  id bigint := (SELECT (j.detail ->> 'snapshot_id')::bigint FROM tdm.job j WHERE j.job_id = job);
  s tdm.snapshot;
  rels regclass[];
  manageds regclass[];
  storage text;
  taken record;
  done int := 0;
BEGIN
  PERFORM tdm._hold_managed_tables();
  SELECT * INTO s FROM tdm.snapshot WHERE snapshot_id = id;
  -- The target's tables, listed once (the listing reads the catalog).
  SELECT array_agg(x.rel ORDER BY x.step), array_agg(x.managed ORDER BY x.step)
    INTO rels, manageds FROM tdm._target_tables(s.target) x;
  -- One consistent state: writers wait, readers do not. The audit's head
  -- first (decision 120: a promotion or a rollback holding it waits for
  -- nothing this holds), never waiting long for the tables with it.
  PERFORM tdm._progress(job, 'lock');
  PERFORM tdm._head_then_lock(ARRAY['LOCK TABLE ' || array_to_string(rels::text[], ', ') || ' IN SHARE MODE']);
  -- (promote, archive and restore write the target: their statuses are
  -- settled under this lock)
  INSERT INTO tdm.snapshot_release (snapshot_id, release, status, run_id, consolidated_run, consolidated_calls,
                                    locked_rows, lock)
  SELECT id, r.release, r.status,
         CASE WHEN held THEN tdm._promoted_run(r.release) END,
         -- (consolidated into it, not promoted: a rollback forward to the
         -- snapshot makes that run the completed one again)
         c.run_id, c.calls,
         CASE WHEN r.status = 'consolidated' THEN tdm._locked_rows(r.release) END,
         CASE WHEN held THEN tdm._lock_of(r.release) END
    FROM tdm.release r
   CROSS JOIN LATERAL (SELECT tdm._presence(r.status) <> 'neither' AND tdm._promoted_to(r.release) = s.target
                         AS held) h
    LEFT JOIN LATERAL (SELECT x.run_id, x.calls FROM tdm.run x
                        WHERE r.status = 'consolidated' AND x.release = r.release AND x.target = s.target
                          AND x.status = 'completed'
                        ORDER BY x.run_id DESC LIMIT 1) c ON true;
  FOR i IN 1 .. cardinality(rels) LOOP
    PERFORM tdm._progress(job, 'copy', done, cardinality(rels));
    storage := tdm._snapshot_relation('s', id, rels[i]);
    EXECUTE format('CREATE TABLE %s AS SELECT * FROM %s WITH NO DATA', storage, rels[i]);
    PERFORM tdm._share_with_admins(storage::regclass);
    IF (SELECT c.relkind FROM pg_class c WHERE c.oid = rels[i]) = 'r' THEN
      taken := tdm._copy_rows(rels[i], storage::regclass, tdm._hashed_attnums(rels[i], rels[i]));
    ELSE
      -- A partitioned table's rows are its partitions': copied by the
      -- executor, then counted and hashed as the copy does.
      EXECUTE format('INSERT INTO %s SELECT * FROM %s', storage, rels[i]);
      taken := tdm._release_checksum(storage::regclass, rels[i],
                                     (SELECT m.release_column FROM tdm.managed_table m
                                       WHERE m.rel = manageds[i]), NULL);
    END IF;
    INSERT INTO tdm.snapshot_table (snapshot_id, rel, managed, storage, row_count, checksum, shape,
                                    constraints)
    VALUES (id, rels[i], manageds[i], storage, taken.row_count, taken.checksum, tdm._shape(rels[i]),
            tdm._constraints(rels[i]));
    done := done + 1;
  END LOOP;
  UPDATE tdm.job j SET status = 'completed', finished_at = clock_timestamp(),
                       detail = j.detail || jsonb_build_object('tables', done)
   WHERE j.job_id = job;
  PERFORM tdm._audit('snapshot', s.label, jsonb_build_object('snapshot_id', id, 'target', s.target));
  -- The spares, once this commits, off the caller's time (the worker
  -- builds none when a swap would be refused).
  PERFORM tdm._launch_spare(id);
END
$$;

-- Returns the target exactly to a snapshot (returns the job id).
CREATE FUNCTION tdm.rollback(snapshot_id bigint, wait bool DEFAULT true) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
DECLARE
  s tdm.snapshot;
  job bigint;
BEGIN
  PERFORM tdm._require_given('rollback', 'wait', wait IS NOT NULL);
  -- (Its changes and their check read with the transaction's snapshot,
  -- taken before the locks: rows other sessions committed meanwhile would
  -- stay, unseen, and the check pass. Background jobs read committed.)
  IF wait AND current_setting('transaction_isolation') IN ('repeatable read', 'serializable') THEN
    RAISE EXCEPTION 'rollback: a % transaction does not see what other sessions committed since it began',
      upper(current_setting('transaction_isolation'))
      USING ERRCODE = 'invalid_transaction_state',
            DETAIL = 'Rows written after its snapshot would stay in the target, and the rollback''s check would'
                     ' not see them.',
            HINT = 'Call it in a READ COMMITTED transaction: BEGIN ISOLATION LEVEL READ COMMITTED; '
                   || tdm._rollback_call(snapshot_id)
                   -- (rollback_release runs its rollback itself: no background form)
                   || CASE WHEN coalesce(current_setting('tdm_rollback.release', true), '') = ''
                           THEN format(' Or in the background: SELECT tdm.rollback(%s, wait => false);', snapshot_id)
                           ELSE '' END;
  END IF;
  s := tdm._rollback_check(snapshot_id);
  -- (The release whose deployment tdm.rollback_release rolls back, if
  -- any: the job says it.)
  job := tdm._start_job('rollback', nullif(current_setting('tdm_rollback.release', true), ''), wait,
                        jsonb_build_object('snapshot_id', snapshot_id, 'target', s.target));
  IF wait THEN
    PERFORM tdm._rollback_job(job);
  END IF;
  RETURN job;
EXCEPTION WHEN lock_not_available THEN
  PERFORM tdm._job_lock_wait_ended('rollback', NULL, NULL, snapshot_id, SQLERRM);
  RAISE;
END
$$;

-- The HINT for a row that constraint `constraint_name` of a table refuses
-- when it is NOT VALID (rows older than it may break it, and `holder`,
-- a snapshot or an archive, holds one): drop it for the `what`, make
-- `call` again, add it back as it was. NULL for a validated constraint.
CREATE FUNCTION tdm._not_valid_hint(schema_name text, table_name text, constraint_name text, holder text,
                                    what text, call text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT format('Its constraint %I is NOT VALID: rows older than it may break it, and %s holds one. Drop it'
                ' for the %s, then add it back as it was: ALTER TABLE %s DROP CONSTRAINT %I; %s ALTER TABLE %s'
                ' ADD CONSTRAINT %I %s;',
                c.conname, holder, what, c.conrelid::regclass, c.conname, call, c.conrelid::regclass, c.conname,
                pg_get_constraintdef(c.oid))
    FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace
   WHERE n.nspname = schema_name AND r.relname = table_name AND c.conname = constraint_name AND NOT c.convalidated
$$;

-- A snapshot a target can return to: complete, its tables still there with
-- the same columns and types.
CREATE FUNCTION tdm._rollback_check(snapshot_id bigint) RETURNS tdm.snapshot
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s tdm.snapshot;
  changed text;
  dropped_copies text;  -- the snapshot's copies dropped from tdm_snapshot
  newer regclass;
  holds_rows bool;
  lacking text;  -- tables whose rights the caller lacks, with them
BEGIN
  PERFORM tdm._refuse_replica_role('rollback');
  IF snapshot_id IS NULL THEN
    RAISE EXCEPTION 'rollback: a snapshot id is required' USING ERRCODE = 'null_value_not_allowed',
      HINT = 'Snapshots are in tdm.snapshot; a deployment''s pre-deploy snapshot is in tdm.deployment.';
  END IF;
  -- (The managed tables held first: the checks below read them.)
  PERFORM tdm._hold_managed_tables();
  SELECT * INTO s FROM tdm.snapshot x WHERE x.snapshot_id = _rollback_check.snapshot_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'rollback: snapshot % does not exist', snapshot_id
      USING ERRCODE = 'undefined_object', HINT = 'Snapshots are in tdm.snapshot.';
  END IF;
  PERFORM tdm._refuse_unwritable('rollback', ARRAY(SELECT x.rel FROM tdm.snapshot_table x
                                                   WHERE x.snapshot_id = s.snapshot_id));
  -- (The rights changing the rows needs, in the call: a background job
  -- found them missing only after its locks. TRUNCATE as well lets it
  -- swap storage, tdm._swap_refusal.)
  lacking := (SELECT string_agg(format('%s (%s)', x.rel, array_to_string(l.privileges, ', ')), '; '
                                ORDER BY x.rel::text COLLATE "C")
                FROM tdm.snapshot_table x
               CROSS JOIN LATERAL (SELECT ARRAY(SELECT p FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']
                                                                     -- (a table without a primary key has
                                                                     -- all its rows replaced)
                                                                     || CASE WHEN NOT EXISTS (
                                                                          SELECT FROM pg_constraint k
                                                                           WHERE k.conrelid = x.rel AND k.contype = 'p')
                                                                        THEN ARRAY['TRUNCATE'] END) AS p
                                                 WHERE NOT has_table_privilege(x.rel, p)) AS privileges) l
               WHERE x.snapshot_id = s.snapshot_id AND cardinality(l.privileges) > 0);
  IF lacking IS NOT NULL THEN
    RAISE EXCEPTION 'rollback: % may not change the rows of %', current_user, lacking
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'A rollback needs SELECT, INSERT, UPDATE and DELETE on the target''s tables (and TRUNCATE to'
                   ' swap their storage, the fast way): the tables'' owner grants them (GRANT ... ON <table> TO'
                   ' <role>;).';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM tdm.snapshot_table x WHERE x.snapshot_id = s.snapshot_id)
     OR (SELECT j.status FROM tdm.job j WHERE j.job_id = s.job_id) IS DISTINCT FROM 'completed' THEN
    -- (A job whose worker is gone is no longer running: said as failed,
    -- not "wait for it".)
    PERFORM tdm._reap_jobs();
    RAISE EXCEPTION 'rollback: snapshot % is not complete', snapshot_id
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = CASE WHEN (SELECT j.status FROM tdm.job j WHERE j.job_id = s.job_id) IN ('queued', 'running')
                        THEN format('Its job is %s; wait for it: SELECT tdm.wait_job(%s);', s.job_id, s.job_id)
                        ELSE format('%s: it will never complete. Take a new snapshot (tdm.snapshot), or roll'
                                    ' back to another one.',
                                    coalesce((SELECT format('Its job %s ended %s', j.job_id, j.status)
                                                FROM tdm.job j WHERE j.job_id = s.job_id),
                                             'It has no job')) END;
  END IF;
  -- (A copy dropped by hand from tdm_snapshot: said here, naming the
  -- snapshot, not as PostgreSQL's bare missing relation from the job.)
  dropped_copies := (SELECT string_agg(format('%s (of %s)', x.storage, x.rel), ', ' ORDER BY x.storage)
                       FROM tdm.snapshot_table x
                      WHERE x.snapshot_id = s.snapshot_id AND to_regclass(x.storage) IS NULL);
  IF dropped_copies IS NOT NULL THEN
    RAISE EXCEPTION 'rollback: snapshot % (%) cannot be restored: its copies % were dropped', snapshot_id,
                    quote_literal(s.label), dropped_copies
      USING ERRCODE = 'undefined_table', SCHEMA = 'tdm_snapshot',
            HINT = 'Nothing was changed. Roll back to another snapshot of the target (tdm.snapshot lists them);'
                   ' a snapshot''s copies in tdm_snapshot are its only copy of the rows.';
  END IF;
  -- (Policies would hide rows from the restore's checks, or refuse the
  -- rows it writes back.)
  PERFORM tdm._refuse_row_security('rollback', s.target);
  -- (A column dropped and added back comes last: the same columns in
  -- another order, which ALTER TABLE cannot undo, are said to be so.)
  -- (Each table by the name the target must give it: a table renamed
  -- since shows its new name too, one dropped is not a bare OID.)
  -- (A table unmanaged since, or whose managed table was dropped, is not
  -- left as it is without a word: the rollback restores managed tables.)
  SELECT string_agg(format('%s (then: %s; now: %s)%s', coalesce(n.expected, x.rel::text), x.shape,
                           CASE WHEN n.managed THEN coalesce(n.shape,
                                                             'missing' || coalesce(' (the table is ' || n.actual || ' now)', ''))
                                WHEN n.expected IS NULL
                                THEN format('not managed: its managed table %s was dropped',
                                            coalesce(tdm._managed_name(x.managed), 'OID ' || x.managed::oid))
                                ELSE format('not managed: %s was unmanaged since', x.managed) END,
                           CASE WHEN n.managed
                                     AND (SELECT array_agg(p ORDER BY p) FROM unnest(string_to_array(x.shape, ', ')) p)
                                         = (SELECT array_agg(p ORDER BY p) FROM unnest(string_to_array(n.shape, ', ')) p)
                                THEN ' [the same columns in another order, which ALTER TABLE cannot'
                                     ' restore]'
                                ELSE '' END), '; ')
    INTO changed
    FROM tdm.snapshot_table x
   CROSS JOIN LATERAL (SELECT (SELECT format('%I.%I', s.target, c.relname) FROM pg_class c
                                WHERE c.oid = x.managed) AS expected,
                              (SELECT c.oid::regclass::text FROM pg_class c WHERE c.oid = x.rel) AS actual,
                              tdm._shape(tdm._target_table(s.target, x.managed)) AS shape,
                              EXISTS (SELECT FROM tdm.managed_table m WHERE m.rel = x.managed) AS managed) n
   WHERE x.snapshot_id = s.snapshot_id
     AND (n.shape IS DISTINCT FROM x.shape OR NOT n.managed);
  IF changed IS NOT NULL THEN
    RAISE EXCEPTION 'rollback: %', CASE WHEN changed LIKE '%now: not managed: %'
                                        THEN format('snapshot %s holds tables that are managed no more', snapshot_id)
                                        ELSE format('the tables of snapshot %s changed shape since it was taken',
                                                    snapshot_id) END
      USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = changed,
            HINT = CASE WHEN changed LIKE '%[the same columns in another order%'
                        THEN 'This snapshot can no longer be restored: a column dropped since comes back only'
                             ' at the end of its table. Roll back to a snapshot taken since the change'
                             ' (tdm.snapshot lists them).'
                        WHEN changed LIKE '%now: not managed: %'
                        THEN 'Manage the table again (tdm.manage_table; one created again in place of a dropped'
                             ' one takes over its copies), or roll back to a snapshot taken since (tdm.snapshot'
                             ' lists them).'
                        ELSE 'Undo the schema change first (its shape then is in the DETAIL), or roll back to'
                             ' a snapshot taken since the change.' END;
  END IF;
  -- A table managed since the snapshot holds rows the snapshot knows
  -- nothing of (rows that may reference what the rollback removes): the
  -- target would not return to the snapshot, only part of it.
  changed := NULL;
  FOR newer IN SELECT x.rel FROM tdm._target_tables(s.target) x
                WHERE NOT EXISTS (SELECT 1 FROM tdm.snapshot_table t
                                   WHERE t.snapshot_id = s.snapshot_id AND t.managed = x.managed)
                ORDER BY x.rel::text LOOP
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s)', newer) INTO holds_rows;
    IF holds_rows THEN
      changed := concat_ws(', ', changed, newer::text);
    END IF;
  END LOOP;
  IF changed IS NOT NULL THEN
    RAISE EXCEPTION 'rollback: snapshot % has no copy of %, managed since it was taken', snapshot_id, changed
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Roll back to a snapshot taken since; or, for these tables to go back too, empty them first.';
  END IF;
  RETURN s;
END
$$;

-- Rows `a` and `b` of `rel` have the same primary key (NULL: it has none).
CREATE FUNCTION tdm._primary_key_match(rel regclass, a text, b text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(format('%1$s.%3$I = %2$s.%3$I', a, b, att.attname), ' AND ')
    FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) AS k(attnum)
    JOIN pg_attribute att ON att.attrelid = i.indrelid AND att.attnum = k.attnum
   WHERE i.indrelid = rel AND i.indisprimary
$$;

-- Refuses a rollback whose row changes a foreign key of a table outside
-- the snapshot would carry into that table's rows without a word, or
-- refuse at commit: rows referencing a row the rollback deletes, or one
-- whose referenced columns it sets back, by a key ON DELETE (UPDATE)
-- CASCADE, SET NULL or SET DEFAULT, or a deferrable one (a key with no
-- action, not deferred, refuses the statement, and the rollback then
-- says so). As consolidation refuses (tdm._refuse_referenced_delete).
-- Partitions are their partitioned table's. One join per such key.
CREATE FUNCTION tdm._refuse_outside_actions(snapshot_id bigint) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  f record;
  referencing bigint;
  first record;
  first_referencing bigint;
  others text[] := '{}';
BEGIN
  FOR f IN SELECT c.conname, c.conrelid::regclass AS child, x.rel AS parent, x.storage,
                  'ON DELETE ' || CASE WHEN c.confdeltype IN ('c', 'n', 'd') THEN tdm._fk_action(c.confdeltype) END
                    AS on_delete,
                  'ON UPDATE ' || CASE WHEN c.confupdtype IN ('c', 'n', 'd') THEN tdm._fk_action(c.confupdtype) END
                    AS on_update,
                  c.condeferrable AS deferrable,
                  tdm._fk_match(c.conrelid, c.conname, 'y', 'r') AS matches,
                  tdm._primary_key_match(x.rel, 's', 'y') AS same_key,
                  (SELECT string_agg(format('s.%1$I IS DISTINCT FROM y.%1$I', a.attname), ' OR ')
                     FROM unnest(c.confkey) AS k(attnum)
                     JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum) AS set_back
             FROM tdm.snapshot_table x
             JOIN pg_constraint c ON coalesce(pg_partition_root(c.confrelid), c.confrelid) = x.rel
                                 AND c.contype = 'f' AND c.conparentid = 0
            WHERE x.snapshot_id = _refuse_outside_actions.snapshot_id
              AND coalesce(pg_partition_root(c.conrelid), c.conrelid) NOT IN (SELECT t.rel FROM tdm.snapshot_table t
                                                                           WHERE t.snapshot_id = _refuse_outside_actions.snapshot_id)
              AND (c.confdeltype IN ('c', 'n', 'd') OR c.confupdtype IN ('c', 'n', 'd') OR c.condeferrable)
            ORDER BY c.conrelid::regclass::text, c.conname LOOP
    CONTINUE WHEN f.same_key IS NULL;  -- (no primary key: every row is replaced, which the key refuses)
    BEGIN
      EXECUTE format('SELECT count(*) FROM %s r JOIN %s y ON %s WHERE %s', f.child, f.parent, f.matches,
                     concat_ws(' OR ',
                               CASE WHEN f.on_delete IS NOT NULL OR f.deferrable
                                    THEN format('NOT EXISTS (SELECT FROM %s s WHERE %s)', f.storage, f.same_key) END,
                               CASE WHEN f.on_update IS NOT NULL OR f.deferrable
                                    THEN format('EXISTS (SELECT FROM %s s WHERE %s AND (%s))', f.storage,
                                                f.same_key, f.set_back) END))
        INTO referencing;
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE EXCEPTION 'rollback: % may not read %, whose foreign key % references %: the rows it would change cannot be counted',
        current_user, f.child, quote_ident(f.conname), f.parent
        USING ERRCODE = 'insufficient_privilege', DETAIL = SQLERRM,
              HINT = format('Nothing was rolled back. Its owner grants it: GRANT SELECT ON %s TO %I;', f.child,
                            current_user);
    END;
    CONTINUE WHEN referencing = 0;
    IF first_referencing IS NULL THEN
      first := f;
      first_referencing := referencing;
    ELSE
      others := others || format('%s row(s) of %s (foreign key %s)', referencing, f.child, quote_ident(f.conname));
    END IF;
  END LOOP;
  IF first_referencing IS NOT NULL THEN
    RAISE EXCEPTION 'rollback: % row(s) of % reference rows of % that rolling back to snapshot % deletes or changes',
      first_referencing, first.child, first.parent, snapshot_id
      -- (not 23503, which the rollback's handlers take for a row the
      -- target refuses)
      USING ERRCODE = 'dependent_objects_still_exist',
            DETAIL = concat_ws(' ',
                       format('%s is not in the snapshot, and its foreign key %s is %s: %s', first.child,
                              quote_ident(first.conname),
                              concat_ws(', ', first.on_delete, first.on_update,
                                        CASE WHEN first.deferrable THEN 'deferrable' END),
                              CASE WHEN first.on_delete IS NULL AND first.on_update IS NULL
                                   THEN 'PostgreSQL would refuse the rollback at commit.'
                                   ELSE 'the rollback would change its rows without a word.' END),
                       'Also: ' || nullif(array_to_string(others, '; '), '') || '.'),
            HINT = format('Nothing was rolled back. Delete or change those rows of %s, or drop its foreign key %s'
                          ' for the rollback and add it back after, then roll back again: %s',
                          first.child, quote_ident(first.conname), tdm._rollback_call(snapshot_id));
  END IF;
END
$$;

-- The statement that returns the snapshot's tables to their copies by
-- changing only the rows that differ: rows whose primary key the copy
-- lacks are deleted, rows whose key both have but whose hash differs are
-- updated, rows the target lacks are inserted. NULL when a table has no
-- primary key (the rollback then replaces every row).
CREATE FUNCTION tdm._rollback_changes_sql(snapshot_id bigint) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t record;
  clauses text[] := '{}';
  key_match text;
  set_columns text;
BEGIN
  FOR t IN SELECT x.*, o.step FROM tdm.snapshot_table x JOIN tdm._table_order() o ON o.rel = x.managed
            WHERE x.snapshot_id = _rollback_changes_sql.snapshot_id ORDER BY o.step LOOP
    key_match := tdm._primary_key_match(t.rel, 's', 'x');
    IF key_match IS NULL THEN
      RETURN NULL;
    END IF;
    SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum)
      INTO set_columns
      FROM pg_attribute a
     WHERE a.attrelid = t.rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
       AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = t.rel AND i.indisprimary
                                                  AND a.attnum = ANY (i.indkey));
    clauses := clauses || format('d%s AS (DELETE FROM %s x WHERE NOT EXISTS (SELECT 1 FROM %s s WHERE %s))',
                                 t.step, t.rel, t.storage, key_match);
    IF set_columns IS NOT NULL THEN
      clauses := clauses || format(
        'u%s AS (UPDATE %s x SET (%s) = ROW(%s) FROM %s s WHERE %s AND tdm._row_hash(%s) <> tdm._row_hash(%s))',
        t.step, t.rel, set_columns,
        (SELECT string_agg('s.' || c, ', ') FROM unnest(string_to_array(set_columns, ', ')) AS c),
        t.storage, key_match, tdm._hash_args(t.rel, 'x'), tdm._hash_args(t.rel, 's'));
    END IF;
    clauses := clauses || tdm._insert_clause('i' || t.step, t.rel,
      format('%s s WHERE NOT EXISTS (SELECT 1 FROM %s x WHERE %s)', t.storage, t.rel, key_match));
  END LOOP;
  RETURN format('WITH %s SELECT 1', array_to_string(clauses, ', '));
END
$$;

-- The restored tables against the snapshot's counts and checksums.
CREATE FUNCTION tdm._rollback_verify(snapshot_id bigint) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t record;
  got record;
BEGIN
  FOR t IN SELECT x.*, m.release_column FROM tdm.snapshot_table x
             JOIN tdm.managed_table m ON m.rel = x.managed
            WHERE x.snapshot_id = _rollback_verify.snapshot_id LOOP
    got := tdm._release_checksum(t.rel, t.rel, t.release_column, NULL);
    IF got.row_count <> t.row_count OR got.checksum <> t.checksum THEN
      RAISE EXCEPTION 'rollback: % does not match snapshot % after restore (% rows, % expected%)',
        t.rel, snapshot_id, got.row_count, t.row_count,
        CASE WHEN got.row_count = t.row_count THEN ', with another checksum' ELSE '' END
        USING ERRCODE = 'data_corrupted',
              HINT = format('Nothing was rolled back. A trigger or rule of the target changed the restored rows'
                            ' (on INSERT, UPDATE or DELETE: %s; disable it for the rollback, ALTER TABLE ...'
                            ' DISABLE TRIGGER ..., then enable it), the snapshot''s copy was changed, or an enum'
                            ' label its rows hold was renamed since (ALTER TYPE .. RENAME VALUE: rename it back'
                            ' to roll back); else take a new snapshot.',
                            coalesce(tdm._writing_triggers((SELECT x.target FROM tdm.snapshot x
                                                             WHERE x.snapshot_id = _rollback_verify.snapshot_id),
                                                           28), 'none found'));
    END IF;
  END LOOP;
END
$$;

-- Runs the changed-rows statement. Its joins of each target table with its
-- copy are planned without nested loops (quadratic on misestimated sizes);
-- the setting stays here, catalog queries elsewhere need nested loops.
CREATE FUNCTION tdm._rollback_apply(statement text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET enable_nestloop = off SET jit = off AS $$
BEGIN
  EXECUTE statement;
END
$$;

-- The call that rolls back to snapshot `id` again, as a HINT gives it:
-- tdm.rollback_release when that is what is running (it also marks the
-- release and tells deployment tooling), else tdm.rollback.
CREATE FUNCTION tdm._rollback_call(id bigint) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN coalesce(current_setting('tdm_rollback.release', true), '') <> ''
              THEN format('SELECT tdm.rollback_release(%L);', current_setting('tdm_rollback.release', true))
              ELSE format('SELECT tdm.rollback(%s);', id) END
$$;

CREATE FUNCTION tdm._rollback_job(job bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
DECLARE
  id bigint := (SELECT (j.detail ->> 'snapshot_id')::bigint FROM tdm.job j WHERE j.job_id = job);
  s tdm.snapshot := tdm._rollback_check(id);
  t record;
  tables text := (SELECT string_agg(x.rel::text, ', ') FROM tdm.snapshot_table x WHERE x.snapshot_id = id);
  inserts text[] := '{}';
  refusal text := tdm._swap_refusal(id);
  method text;
  changes text;
  locked timestamptz;
  releases jsonb;  -- statuses the rollback changed
  runs jsonb;      -- runs' statuses it changed
  unloaded jsonb;  -- what it changed of releases consolidated into the target since
  undeployed jsonb;  -- the deployments it undid: [{release, deployment_id, code_version}]
  payload jsonb;
  refused text;  -- a restore's SQLSTATE, message, detail, schema and table
  refused_message text;
  refused_detail text;
  refused_schema text;
  refused_table text;
  refused_constraint text;
  not_valid_hint text;  -- for a row a NOT VALID constraint refuses
  in_place_state text;  -- why changing the rows in place failed
  not_in_place text;    -- the same, said (the job's detail, when every row was replaced)
  in_place_message text;
  in_place_detail text;
  in_place_hint text;
  referencing text;  -- foreign keys of tables the rollback leaves alone
  refused_hint text;
  refused_context text;
BEGIN
  -- A consolidation into the target and its rollback take turns (the
  -- consolidation's lock): the call holds its run's row, which the
  -- rollback settles, and then waits for the tables the rollback holds
  -- (a deadlock, before).
  PERFORM pg_advisory_xact_lock(hashtext('tdm load'), hashtext(s.target));
  IF refusal IS NULL THEN
    BEGIN
      -- Ready, normally, since the snapshot (or the last rollback) ended.
      PERFORM tdm._progress(job, 'prepare');
      PERFORM tdm._prepare_spares(id);
      IF (SELECT count(*) FROM tdm.snapshot_spare sp WHERE sp.snapshot_id = id)
         <> (SELECT count(*) FROM tdm.snapshot_table x WHERE x.snapshot_id = id) THEN
        RAISE EXCEPTION 'rollback: snapshot % lacks a spare for some table', id
          USING ERRCODE = 'feature_not_supported';
      END IF;
      -- Readers and writers still holding the tables past the timeout:
      -- change rows instead (readers then go on reading meanwhile).
      PERFORM tdm._progress(job, 'lock');
      -- (The audit's head first, decision 120, not waiting long for the
      -- tables with it: tdm._head_then_lock.)
      IF NOT tdm._head_then_lock(ARRAY['LOCK TABLE ' || tables || ' IN ACCESS EXCLUSIVE MODE'], NULL,
                                 nullif(current_setting('tdm.swap_lock_timeout')::interval, '0')) THEN
        RAISE EXCEPTION USING ERRCODE = 'lock_not_available';
      END IF;
      locked := clock_timestamp();
      PERFORM tdm._progress(job, 'swap');
      PERFORM tdm._swap_storage(sp.rel, sp.spare, sp.target_indexes, sp.spare_indexes)
         FROM tdm.snapshot_spare sp WHERE sp.snapshot_id = id;
      DELETE FROM tdm.snapshot_spare sp WHERE sp.snapshot_id = id;
      method := 'swapped storage';
      PERFORM tdm._launch_spare(id, after_rollback => true);  -- statistics, next spares
    EXCEPTION
      WHEN feature_not_supported OR object_in_use THEN
        -- e.g. an index not valid, a cursor of this session open on a
        -- table: rows are changed instead
        refusal := SQLERRM;
      WHEN lock_not_available THEN
        -- (Not the audit trail's head, which lock_timeout ended: changing
        -- rows would wait for it as long again, decision 331.)
        GET STACKED DIAGNOSTICS refused_table = TABLE_NAME;
        IF refused_table = 'audit_head' THEN
          RAISE;
        END IF;
        refusal := format('the tables stayed in use past tdm.swap_lock_timeout (%s)',
                          current_setting('tdm.swap_lock_timeout'));
      WHEN undefined_function OR undefined_table OR undefined_object THEN
        -- (A function an index of the target calls, building the spare's
        -- index, did not find a name: changing rows would not either.)
        GET STACKED DIAGNOSTICS refused = RETURNED_SQLSTATE, refused_message = MESSAGE_TEXT,
                                refused_detail = PG_EXCEPTION_DETAIL, refused_hint = PG_EXCEPTION_HINT,
                                refused_context = PG_EXCEPTION_CONTEXT;
        PERFORM tdm._raise_own_code('rollback', format('restoring snapshot %s', id), s.target,
                                    'Nothing was rolled back', '', 60, refused_message, refused_detail,
                                    refused_hint, refused_context, refused);
    END;
  END IF;
  IF method IS NULL THEN
    BEGIN
      changes := tdm._rollback_changes_sql(id);
      method := 'changed rows';
      -- Writers wait; readers go on reading the state before until commit.
      PERFORM tdm._progress(job, 'lock');
      PERFORM tdm._head_then_lock(ARRAY['LOCK TABLE ' || tables || ' IN EXCLUSIVE MODE']);
      locked := clock_timestamp();
      PERFORM tdm._refuse_outside_actions(id);
      PERFORM tdm._progress(job, 'restore');
      BEGIN
        IF changes IS NULL THEN
          RAISE EXCEPTION USING ERRCODE = 'feature_not_supported';
        END IF;
        PERFORM tdm._rollback_apply(changes);
        PERFORM tdm._progress(job, 'verify');
        PERFORM tdm._rollback_verify(id);
      EXCEPTION WHEN feature_not_supported OR unique_violation OR exclusion_violation
                     OR foreign_key_violation OR data_corrupted THEN
        -- No primary key, values swapped between rows of a unique key (or
        -- an exclusion constraint: a row moved away and another in its
        -- place), or an ON DELETE action that touched rows: replace every
        -- row instead (readers now wait too). Anything else is an error of
        -- the rollback.
        GET STACKED DIAGNOSTICS in_place_state = RETURNED_SQLSTATE, in_place_message = MESSAGE_TEXT,
                                in_place_detail = PG_EXCEPTION_DETAIL, in_place_hint = PG_EXCEPTION_HINT;
        not_in_place := CASE WHEN in_place_message = 'feature_not_supported' THEN 'a table has no primary key'
                             ELSE regexp_replace(in_place_message, '^rollback: ', '') END;
        method := 'all rows';
        PERFORM tdm._progress(job, 'restore');
        EXECUTE 'LOCK TABLE ' || tables || ' IN ACCESS EXCLUSIVE MODE';
        BEGIN
          EXECUTE 'TRUNCATE ' || tables;
        EXCEPTION WHEN insufficient_privilege THEN
          -- (Asked for in the call only for a table without a primary key:
          -- the other reasons to replace every row show only now.)
          RAISE EXCEPTION 'rollback: snapshot % cannot be restored into %: its rows could not be changed in place'
                          ' (%), and replacing every row needs TRUNCATE, which % lacks on %', id, s.target,
                          not_in_place, current_user,
                          (SELECT string_agg(x.rel::text, ', ' ORDER BY x.rel::text COLLATE "C")
                             FROM tdm.snapshot_table x
                            WHERE x.snapshot_id = id AND NOT has_table_privilege(x.rel, 'TRUNCATE'))
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Nothing was rolled back. The tables'' owner grants it (GRANT TRUNCATE ON <table> TO'
                         ' <role>;), then roll back again.';
        WHEN feature_not_supported OR object_in_use THEN
          -- A foreign key of a table the rollback leaves alone (or a cursor
          -- of this session open on one of them): no row can be replaced.
          -- Said with why changing them failed, which is what to mend (a
          -- trigger, for a failed verification).
          GET STACKED DIAGNOSTICS refused_message = MESSAGE_TEXT, refused_detail = PG_EXCEPTION_DETAIL;
          SELECT string_agg(format('ALTER TABLE %s DROP CONSTRAINT %I;', c.conrelid::regclass, c.conname), ' '
                            ORDER BY c.conrelid::regclass::text, c.conname)
                 || ' ' || tdm._rollback_call(id) || ' '
                 || string_agg(format('ALTER TABLE %s ADD CONSTRAINT %I %s;', c.conrelid::regclass, c.conname,
                                      pg_get_constraintdef(c.oid)), ' '
                               ORDER BY c.conrelid::regclass::text, c.conname)
            INTO referencing
            FROM pg_constraint c
           WHERE c.contype = 'f'
             AND c.confrelid IN (SELECT x.rel FROM tdm.snapshot_table x WHERE x.snapshot_id = id)
             AND c.conrelid NOT IN (SELECT x.rel FROM tdm.snapshot_table x WHERE x.snapshot_id = id)
             -- (a partitioned table's key, not its copies on the partitions)
             AND c.conparentid = 0;
          RAISE EXCEPTION 'rollback: snapshot % cannot be restored into %: %', id, s.target,
            CASE WHEN in_place_state = 'XX001' THEN not_in_place
                 ELSE 'its rows could not be changed in place (' || not_in_place || ')' END
            -- (A failed verification's code; else TRUNCATE's own, which the
            -- handler below, for rows the target refuses, leaves alone.)
            USING ERRCODE = CASE WHEN in_place_state = 'XX001' THEN 'XX001' ELSE '0A000' END,
                  DETAIL = concat_ws(E'\n', nullif(in_place_detail, ''),
                                     format('Replacing every row instead was refused: %s (%s)', refused_message,
                                            refused_detail)),
                  HINT = coalesce(nullif(in_place_hint, ''),
                                  'Nothing was rolled back. Drop the foreign keys of the tables tdm does not'
                                  ' restore for the rollback, then add them back (their rows must find their'
                                  ' parents again): ' || referencing,
                                  'Nothing was rolled back. Close the cursors this session holds open on them,'
                                  ' then roll back again.');
        END;
        FOR t IN SELECT x.*, o.step FROM tdm.snapshot_table x JOIN tdm._table_order() o ON o.rel = x.managed
                  WHERE x.snapshot_id = id ORDER BY o.step LOOP
          inserts := inserts || tdm._insert_clause('i' || t.step, t.rel, t.storage);
        END LOOP;
        EXECUTE format('WITH %s SELECT 1', array_to_string(inserts, ', '));
        PERFORM tdm._progress(job, 'verify');
        PERFORM tdm._rollback_verify(id);
      END;
    EXCEPTION WHEN raise_exception OR undefined_function OR undefined_table OR undefined_object THEN
      -- (A trigger of the target's own refused a change: an append-only
      -- table's, say; or a function of the target's did not find a name.)
      GET STACKED DIAGNOSTICS refused = RETURNED_SQLSTATE, refused_message = MESSAGE_TEXT,
                              refused_detail = PG_EXCEPTION_DETAIL, refused_hint = PG_EXCEPTION_HINT,
                              refused_context = PG_EXCEPTION_CONTEXT;
      PERFORM tdm._raise_own_code('rollback', format('restoring snapshot %s', id), s.target,
                                  'Nothing was rolled back',
                                  'Disable that trigger for the rollback (ALTER TABLE ... DISABLE TRIGGER ...),'
                                  ' roll back again, then enable it.', 60, refused_message, refused_detail,
                                  refused_hint, refused_context, refused);
    WHEN integrity_constraint_violation OR data_exception THEN
      -- A table changed since the snapshot (a partition detached, a
      -- constraint added) refuses a row it held then.
      GET STACKED DIAGNOSTICS refused = RETURNED_SQLSTATE, refused_message = MESSAGE_TEXT,
                              refused_detail = PG_EXCEPTION_DETAIL, refused_schema = SCHEMA_NAME,
                              refused_table = TABLE_NAME, refused_constraint = CONSTRAINT_NAME;
      -- (Or a constraint added NOT VALID before the snapshot, which rows
      -- older than it break: the snapshot holds them, no insert takes them.)
      not_valid_hint := tdm._not_valid_hint(refused_schema, refused_table, refused_constraint, 'the snapshot',
                                            'rollback', tdm._rollback_call(id));
      PERFORM tdm._raise_refused('rollback', format('a row of snapshot %s', id), refused, refused_message,
                                 refused_detail, refused_schema, refused_table, s.target,
                                 'nothing was rolled back',
                                 coalesce(not_valid_hint,
                                          'The table changed since the snapshot: make it accept its rows again'
                                          ' (attach the partition again, or change the constraint), then roll'
                                          ' back again.'));
    END;
  END IF;
  -- (The snapshot's rows may hold keys the sequences have not reached.)
  PERFORM tdm._advance_sequences(ARRAY(SELECT x.rel FROM tdm.snapshot_table x WHERE x.snapshot_id = id));
  -- Deployments to the target from the snapshot on are undone with it:
  -- the one whose pre-deploy snapshot it is, and the later ones (a
  -- rollback_release of one would restore its release's rows).
  WITH undone AS (UPDATE tdm.deployment x SET rolled_back_at = now()
                    WHERE x.target = s.target AND x.rolled_back_at IS NULL AND x.snapshot_id >= id
                   RETURNING x.release, x.deployment_id, x.code_version)
  SELECT jsonb_agg(jsonb_build_object('release', u.release, 'deployment_id', u.deployment_id,
                                      'code_version', u.code_version) ORDER BY u.deployment_id)
    INTO undeployed FROM undone u;
  releases := tdm._reconcile_releases(id);
  runs := tdm._reconcile_runs(id);
  unloaded := tdm._reconcile_unloaded(id);
  releases := nullif(coalesce(releases, '{}') || coalesce(unloaded -> 'releases', '{}'), '{}');
  runs := nullif(coalesce(runs, '{}') || coalesce(unloaded -> 'runs', '{}'), '{}');
  UPDATE tdm.job j SET status = 'completed', finished_at = clock_timestamp(),
                       detail = j.detail || jsonb_strip_nulls(jsonb_build_object(
                         'locked_ms', round(1000 * extract(epoch FROM clock_timestamp() - locked), 1),
                         'restored', method, 'not_swapped', refusal, 'not_in_place', not_in_place,
                         'releases', releases, 'runs', runs, 'deployments', undeployed))
   WHERE j.job_id = job;
  PERFORM tdm._audit('rollback', s.label, jsonb_strip_nulls(jsonb_build_object(
    'snapshot_id', id, 'target', s.target, 'job_id', job, 'restored', method,
    'not_swapped', refusal, 'not_in_place', not_in_place, 'releases', releases, 'runs', runs,
    'deployments', undeployed)));
  -- Live deployments undone by a rollback to a snapshot: the deployment
  -- tooling hears it as from rollback_release (which tells its own).
  IF undeployed IS NOT NULL AND coalesce(current_setting('tdm_rollback.release', true), '') = '' THEN
    payload := jsonb_build_object('snapshot_id', id, 'target', s.target, 'job_id', job,
                                  'return_to_code_version',
                                  (SELECT x.code_version FROM tdm.deployment x
                                    WHERE x.target = s.target AND x.rolled_back_at IS NULL
                                    ORDER BY x.deployment_id DESC LIMIT 1),
                                  'also_rolled_back', undeployed);
    RAISE WARNING 'rollback: the deployments on % from snapshot % on were rolled back with it: %', s.target, id,
      (SELECT string_agg(format('%s (%s)', x ->> 'release', x ->> 'code_version'), ', ')
         FROM jsonb_array_elements(undeployed) x)
      USING DETAIL = format('%s went back to snapshot %s; the code version to return to is %s.', s.target, id,
                            coalesce(payload ->> 'return_to_code_version', 'not recorded (no deployment is live)')),
            HINT = 'Deployment tooling hears it on NOTIFY tdm_rollback (return_to_code_version), when this'
                   ' transaction commits. Deploy a release again (tdm.deploy) to make it live again.';
    PERFORM pg_notify('tdm_rollback', tdm._notify_payload(payload));
  END IF;
END
$$;

-- After a target's rows went back to snapshot `snapshot_id`, each release
-- promoted into that target says again where its rows are: in the target
-- (promoted, deployed or rolled back), archived (master only), or
-- neither, as when the snapshot was taken (tdm.snapshot_release). A
-- release back in the target is promoted (deployed while a deployment of
-- it is live); one that had been archived is archived again
-- (restore_release keeps the archive's copy); one that was not there yet
-- is consolidated (it can be promoted again). Releases whose rows are in
-- another target keep their status. Returns {release: "old -> new"} of
-- the statuses changed (NULL when none).
CREATE FUNCTION tdm._reconcile_releases(snapshot_id bigint) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
  target text := (SELECT s.target FROM tdm.snapshot s WHERE s.snapshot_id = snapshot_id);
  r record;
  now_status text;
  changed jsonb := '{}';
BEGIN
  FOR r IN SELECT x.release, x.status, tdm._presence(x.status) AS now_at,
                  tdm._presence(coalesce(sr.status, 'open')) AS then_at,
                  tdm._promoted_to(x.release) AS promoted_to, sr.lock
             FROM tdm.release x
             LEFT JOIN tdm.snapshot_release sr ON sr.snapshot_id = snapshot_id AND sr.release = x.release
            ORDER BY x.release FOR NO KEY UPDATE OF x LOOP
    -- (the release tdm.rollback_release rolls back: it marks it itself)
    CONTINUE WHEN r.release = current_setting('tdm_rollback.release', true);
    -- (promoted into another target: this rollback did not move it)
    CONTINUE WHEN coalesce(r.promoted_to, 'master') <> target;
    IF NOT (r.now_at = r.then_at
            -- (a deployed release whose deployments the rollback undid
            -- is promoted again)
            AND NOT (r.status = 'deployed' AND tdm._status_in_target(r.release) = 'promoted')) THEN
      now_status := CASE r.then_at
                      WHEN 'target' THEN tdm._status_in_target(r.release)
                      WHEN 'archive' THEN 'archived'
                      ELSE 'consolidated' END;
      UPDATE tdm.release x SET status = now_status WHERE x.release = r.release;
      changed := changed || jsonb_build_object(r.release, r.status || ' -> ' || now_status);
    END IF;
    -- (Back in the target or archived, with the rows its lock then
    -- counted: that lock again, which a tagging since may have dropped or
    -- replaced; later releases' tagging reads it. Tables dropped since
    -- are left out. In the target before and after too: promoted again
    -- since from a run of a later tagging, the target holds the earlier
    -- run's rows again, p297.)
    IF r.then_at <> 'neither' AND r.lock IS NOT NULL
       AND ((SELECT x.locked_at FROM tdm.release x WHERE x.release = r.release)
              IS DISTINCT FROM (r.lock ->> 'locked_at')::timestamptz
            -- (rows of managed tables only, on both sides: a table
            -- unmanaged or dropped since keeps its row, as unmanage_table
            -- leaves it; shape and fills are never changed in place)
            OR EXISTS (SELECT x.env, x.rel, x.row_count, x.checksum FROM tdm._lock_rows(r.lock) x
                       EXCEPT SELECT l.env, l.rel, l.row_count, l.checksum FROM tdm.release_lock l
                               WHERE l.release = r.release AND l.rel IN (SELECT m.rel FROM tdm.managed_table m))
            OR EXISTS (SELECT l.env, l.rel, l.row_count, l.checksum FROM tdm.release_lock l
                        WHERE l.release = r.release AND l.rel IN (SELECT m.rel FROM tdm.managed_table m)
                       EXCEPT SELECT x.env, x.rel, x.row_count, x.checksum FROM tdm._lock_rows(r.lock) x)) THEN
      changed := changed || jsonb_build_object(r.release, format(
                   '%s (its lock put back: %s rows, where it held %s)', coalesce(changed ->> r.release, r.status),
                   (SELECT coalesce(sum(x.row_count), 0) FROM tdm._lock_rows(r.lock) x),
                   (SELECT coalesce(sum(l.row_count), 0) FROM tdm.release_lock l
                     WHERE l.release = r.release AND l.rel IN (SELECT m.rel FROM tdm.managed_table m))));
      DELETE FROM tdm.release_lock l
       WHERE l.release = r.release AND l.rel IN (SELECT m.rel FROM tdm.managed_table m);
      INSERT INTO tdm.release_lock (release, env, rel, row_count, checksum, locked_at, shape, fills)
      SELECT r.release, x.env, x.rel, x.row_count, x.checksum, x.locked_at, x.shape, x.fills
        FROM tdm._lock_rows(r.lock) x;
      UPDATE tdm.release x SET locked_at = (r.lock ->> 'locked_at')::timestamptz WHERE x.release = r.release;
    END IF;
  END LOOP;
  RETURN nullif(changed, '{}');
END
$$;

-- After a rollback of a consolidation's target (staging) to snapshot
-- `snapshot_id`: a release open or locked when it was taken, consolidated
-- into the target since, has its rows gone with the rollback. Its
-- completed runs into the target are failed, and a consolidated release is
-- locked again (consolidate it again), rather than said to be there until
-- promote finds its rows missing. Returns {"releases": {release: "old ->
-- new"}, "runs": {run_id: "old -> new"}} (NULLs where none changed).
CREATE FUNCTION tdm._reconcile_unloaded(snapshot_id bigint) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
  target text := (SELECT s.target FROM tdm.snapshot s WHERE s.snapshot_id = snapshot_id);
  runs jsonb;
  releases jsonb;
  back text[];  -- releases whose consolidated run's rows the rollback put back (forward, below)
BEGIN
  WITH gone AS (SELECT r.run_id, r.release FROM tdm.run r
                  JOIN tdm.release x ON x.release = r.release
                  LEFT JOIN tdm.snapshot_release sr ON sr.snapshot_id = snapshot_id AND sr.release = r.release
                 WHERE r.target = target AND r.status = 'completed'
                   -- (not a release promoted since: its run's key map is
                   -- what later releases' references in master go through)
                   AND tdm._presence(x.status) = 'neither'
                   AND ((coalesce(sr.status, 'open') IN ('open', 'locked')
                         -- (not a run of before, its release tagged again since)
                         AND r.finished_at > (SELECT s.created_at FROM tdm.snapshot s
                                               WHERE s.snapshot_id = snapshot_id))
                        -- (consolidated then, from tags it has not now, and
                        -- consolidated again since, by another run or another
                        -- call of that run: the rows put back are not its; a
                        -- run not called since keeps its rows)
                        OR (sr.status = 'consolidated'
                            AND tdm._locked_rows(x.release) IS DISTINCT FROM sr.locked_rows
                            AND (r.run_id IS DISTINCT FROM sr.consolidated_run
                                 OR r.calls IS DISTINCT FROM sr.consolidated_calls)))),
       done AS (UPDATE tdm.run x SET status = 'failed' FROM gone g WHERE x.run_id = g.run_id
                RETURNING x.run_id)
  SELECT jsonb_object_agg(d.run_id::text, 'completed -> failed') INTO runs FROM done d;
  WITH done AS (UPDATE tdm.release x SET status = 'locked'
                 WHERE x.status = 'consolidated' AND target = tdm._staging_target()
                   AND EXISTS (SELECT FROM tdm.run r
                                WHERE r.release = x.release AND r.target = target AND r.status = 'failed'
                                  AND runs ? r.run_id::text)
                   AND NOT EXISTS (SELECT FROM tdm.run r
                                    WHERE r.release = x.release AND r.target = target AND r.status = 'completed')
                RETURNING x.release)
  SELECT jsonb_object_agg(d.release, 'consolidated -> locked') INTO releases FROM done d;
  -- And forward: a release consolidated when the snapshot was taken,
  -- whose rows there are back, neither promoted since (its runs are
  -- master's business then) nor tagged again (its tags are not that
  -- run's): that run is its completed one again (its other runs into the
  -- target, whose rows are gone, failed), and a release a rollback to
  -- before locked is consolidated again.
  back := ARRAY(SELECT sr.release FROM tdm.snapshot_release sr JOIN tdm.release x ON x.release = sr.release
                 WHERE sr.snapshot_id = snapshot_id AND sr.status = 'consolidated'
                   AND sr.consolidated_run IS NOT NULL AND tdm._presence(x.status) = 'neither'
                   AND target = tdm._staging_target()
                   AND tdm._locked_rows(x.release) IS NOT DISTINCT FROM sr.locked_rows);
  WITH moved AS (SELECT y.run_id, y.status AS was,
                        CASE WHEN y.run_id = sr.consolidated_run THEN 'completed' ELSE 'failed' END AS now
                   FROM tdm.snapshot_release sr JOIN tdm.run y ON y.release = sr.release AND y.target = target
                  WHERE sr.snapshot_id = snapshot_id AND sr.release = ANY (back)
                    AND ((y.run_id = sr.consolidated_run AND y.status = 'failed')
                         OR (y.run_id <> sr.consolidated_run AND y.status = 'completed'))),
       done AS (UPDATE tdm.run y SET status = m.now FROM moved m WHERE y.run_id = m.run_id
                RETURNING y.run_id, m.was, m.now)
  SELECT nullif(coalesce(runs, '{}') || coalesce(jsonb_object_agg(d.run_id::text, d.was || ' -> ' || d.now), '{}'),
                '{}') INTO runs FROM done d;
  WITH done AS (UPDATE tdm.release x SET status = 'consolidated'
                  FROM tdm.snapshot_release sr JOIN tdm.run r ON r.run_id = sr.consolidated_run
                 WHERE sr.snapshot_id = snapshot_id AND sr.release = x.release AND x.release = ANY (back)
                   AND x.status = 'locked' AND r.status = 'completed'
                RETURNING x.release)
  SELECT nullif(coalesce(releases, '{}') || coalesce(jsonb_object_agg(d.release, 'locked -> consolidated'), '{}'),
                '{}') INTO releases FROM done d;
  RETURN jsonb_strip_nulls(jsonb_build_object('releases', releases, 'runs', runs));
END
$$;

-- After a rollback to snapshot `snapshot_id`, each release whose rows
-- the snapshot holds has as its completed run the one that consolidated
-- them (tdm.snapshot_release.run_id), whose key map later releases'
-- references go through: its later runs into the same target, made after
-- an earlier rollback took it out, are failed (their rows are not where
-- the release's are), and that run, failed by an earlier rollback, is
-- completed again. Returns {run_id: "old -> new"} of the statuses changed
-- (NULL when none).
CREATE FUNCTION tdm._reconcile_runs(snapshot_id bigint) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
  changed jsonb;
BEGIN
  WITH held AS (SELECT r.run_id, r.release, r.target FROM tdm.snapshot_release sr
                  JOIN tdm.run r ON r.run_id = sr.run_id
                 WHERE sr.snapshot_id = snapshot_id),
       moved AS (SELECT x.run_id, x.status AS was,
                        CASE WHEN x.run_id = h.run_id THEN 'completed' ELSE 'failed' END AS now
                   FROM held h JOIN tdm.run x ON x.release = h.release AND x.target = h.target
                  WHERE (x.run_id > h.run_id AND x.status <> 'failed')
                     OR (x.run_id = h.run_id AND x.status = 'failed')),
       done AS (UPDATE tdm.run x SET status = m.now FROM moved m WHERE x.run_id = m.run_id
                RETURNING x.run_id, m.was, m.now)
  SELECT jsonb_object_agg(d.run_id::text, d.was || ' -> ' || d.now) INTO changed FROM done d;
  RETURN changed;
END
$$;

-- The status of a release whose rows are (back) in its target: deployed
-- while a deployment of it is live, else promoted.
CREATE FUNCTION tdm._status_in_target(release text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN EXISTS (SELECT FROM tdm.deployment d
                            WHERE d.release = _status_in_target.release AND d.rolled_back_at IS NULL)
              THEN 'deployed' ELSE 'promoted' END
$$;

-- Phase 4: records a deployment of `release` with its code version, after
-- taking the pre-deploy snapshot of the target. Returns the deployment id.
CREATE FUNCTION tdm.deploy(release text, code_version text, target text DEFAULT 'master')
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
#variable_conflict use_variable
DECLARE
  r tdm.release := tdm._require_release_inputs(release, 'deploy');
  job bigint;
  snap bigint;
  id bigint;
  live tdm.deployment;  -- the release's deployment still live, if any
  other_release text;   -- the releases of the code version given, when not this one
BEGIN
  PERFORM tdm._refuse_replica_role('deploy');
  r := tdm._release_turn(release);
  IF code_version IS NULL OR btrim(code_version) = '' THEN
    RAISE EXCEPTION 'deploy: a code version is required' USING ERRCODE = 'invalid_parameter_value',
      HINT = format('SELECT tdm.deploy(%L, ''v2.0.1'');', release);
  END IF;
  PERFORM tdm._require_target_name('deploy', 'target', target);
  IF r.status NOT IN ('promoted', 'deployed', 'rolled_back') THEN
    RAISE EXCEPTION 'deploy: release "%" is %; deploy it once it is promoted', release, r.status
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = tdm._next_step(r);
  END IF;
  -- (Its rows are where it was promoted: a deployment elsewhere would
  -- snapshot, and roll back, a target that holds none of them.)
  IF tdm._promoted_to(release) IS DISTINCT FROM target THEN
    RAISE EXCEPTION 'deploy: release "%" was promoted into %, not into %', release,
      coalesce(tdm._promoted_to(release), 'no target'), target
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('Deploy it where its rows are: SELECT tdm.deploy(%L, %L, target => %L);', release,
                          code_version, tdm._promoted_to(release));
  END IF;
  -- The same deployment again (a deploy script run twice): that
  -- deployment, not a second pre-deploy snapshot that would hold the
  -- first one's changes. (Another code version is a deployment of its
  -- own, which rollback_release undoes first.)
  SELECT * INTO live FROM tdm.deployment x
   WHERE x.release = deploy.release AND x.rolled_back_at IS NULL AND x.target = deploy.target
   ORDER BY x.deployed_at DESC, x.deployment_id DESC LIMIT 1;
  IF FOUND AND live.code_version = code_version THEN
    RAISE NOTICE 'deploy: release "%" is deployed already with code version % (deployment %)', release,
      code_version, live.deployment_id
      USING HINT = 'Nothing was done: its pre-deploy snapshot stays the one tdm.rollback_release returns to.';
    RETURN live.deployment_id;
  END IF;
  PERFORM tdm._require_target_tables('deploy', target);
  PERFORM tdm._refuse_row_security('deploy', target);
  -- (Code and data ship under one version. Another release's version is
  -- a slip that rollback_release would later send the tooling back to; a
  -- version of no release, a hotfix, is not.)
  IF r.code_version IS NOT NULL AND r.code_version <> code_version THEN
    other_release := (SELECT string_agg(format('"%s"', x.release), ', ' ORDER BY x.release) FROM tdm.release x
                       WHERE x.code_version = deploy.code_version AND x.release <> deploy.release);
    IF other_release IS NOT NULL THEN
      RAISE WARNING 'deploy: code version % is that of release %, and release "%" was created for %', code_version,
        other_release, release, r.code_version
        USING DETAIL = 'tdm.deployment records the code version given here; rollback_release returns the'
                       ' tooling to it when a later deployment is rolled back.',
              HINT = format('If it is a slip, undo it (SELECT tdm.rollback_release(%L);) and deploy it with %s.',
                            release, r.code_version);
    END IF;
  END IF;
  -- (a job of its own, as every operation of the contract has: its
  -- snapshot's job is another)
  job := tdm._start_job('deploy', release, true,
                        jsonb_build_object('target', target, 'code_version', code_version));
  snap := tdm.snapshot(format('pre-deploy %s %s', release, code_version), target);
  INSERT INTO tdm.deployment (release, code_version, target, snapshot_id)
  VALUES (release, code_version, target, snap) RETURNING deployment_id INTO id;
  UPDATE tdm.release x SET status = 'deployed' WHERE x.release = deploy.release;
  UPDATE tdm.job j SET status = 'completed', finished_at = clock_timestamp(),
                       detail = j.detail || jsonb_build_object('deployment_id', id, 'snapshot_id', snap)
   WHERE j.job_id = job;
  PERFORM tdm._audit('deploy', release, jsonb_build_object(
    'deployment_id', id, 'code_version', code_version, 'target', target, 'snapshot_id', snap,
    'job_id', job));
  RETURN id;
EXCEPTION WHEN lock_not_available THEN
  PERFORM tdm._lock_wait_ended('deploy', format('the deployment of %s', release),
                               NULL,
                               ARRAY[target],
                               'Nothing was deployed.', SQLERRM);
  RAISE;
END
$$;

-- What NOTIFY can carry of a rollback's payload: PostgreSQL refuses one of
-- 8000 bytes or more, which would undo the rollback itself (many later
-- deployments undone with it, long code versions or release names). Past
-- that: without also_rolled_back, then also without the rolled back code
-- version and the release, then only the ids, and "truncated": the audit
-- row and tdm.deployment hold the rest.
CREATE FUNCTION tdm._notify_payload(payload jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT x.sent
    FROM (VALUES (1, payload::text),
                 (2, ((payload - 'also_rolled_back' - 'also_removed') || '{"truncated": true}')::text),
                 -- (what the tooling acts on: the code version to return to)
                 (3, (jsonb_build_object('return_to_code_version', payload -> 'return_to_code_version')
                      || (payload - 'also_rolled_back' - 'also_removed' - 'rolled_back_code_version' - 'release')
                      || '{"truncated": true}')::text),
                 (4, jsonb_build_object('deployment_id', payload -> 'deployment_id',
                                        'snapshot_id', payload -> 'snapshot_id', 'job_id', payload -> 'job_id',
                                        'truncated', true)::text)) AS x(n, sent)
   WHERE octet_length(x.sent) < 8000 OR x.n = 4
   ORDER BY x.n LIMIT 1
$$;

-- Phase 5: the release's data goes back to its pre-deploy snapshot, and
-- NOTIFY tdm_rollback tells deployment tooling which code version to
-- return to (delivered when this transaction commits). Returns the
-- deployment id.
CREATE FUNCTION tdm.rollback_release(release text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
#variable_conflict use_variable
DECLARE
  r tdm.release := tdm._require_release_inputs(release, 'rollback_release');
  d tdm.deployment;
  job bigint;
  return_to text;
  payload jsonb;
  later jsonb;  -- live deployments on the target after this one: undone with it
  kept text;    -- their releases whose rows the snapshot holds
  gone text;    -- and those promoted since it was taken
  undeployed jsonb;  -- releases promoted since it was taken, not live there: their rows gone too
  one bool;          -- (one of them: the WARNING's grammar)
BEGIN
  PERFORM tdm._refuse_replica_role('rollback_release');
  -- (Locked: a second call waits for this one, then takes the release's
  -- next live deployment, if any, as a call made afterwards would.)
  SELECT * INTO d FROM tdm.deployment x
   WHERE x.release = rollback_release.release AND x.rolled_back_at IS NULL
   ORDER BY x.deployed_at DESC, x.deployment_id DESC LIMIT 1 FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'rollback_release: release "%" has no deployment to roll back', release
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = CASE WHEN EXISTS (SELECT 1 FROM tdm.deployment x WHERE x.release = rollback_release.release)
                        THEN 'Its deployments are rolled back already (tdm.deployment.rolled_back_at): by'
                             ' tdm.rollback_release, or by a tdm.rollback of their target to an earlier snapshot.'
                        ELSE 'Deployments are in tdm.deployment.' END;
  END IF;
  -- The release is rolled_back, its rows staying in the target: the
  -- rollback's settling of statuses leaves it alone
  -- (tdm._reconcile_releases), and it is marked once the rollback holds the
  -- audit's head and the target (decision 173: its row is not locked before).
  PERFORM set_config('tdm_rollback.release', release, true);
  job := tdm.rollback(d.snapshot_id);
  -- (The later deployments the rollback undid, read once it holds the
  -- target: one made while it waited for the target is among them.)
  later := (SELECT coalesce(jsonb_agg(jsonb_build_object('release', x.release, 'deployment_id', x.deployment_id,
                                                          'code_version', x.code_version)
                                       ORDER BY x.deployment_id), '[]')
              FROM tdm.deployment x
             WHERE x.target = d.target AND x.deployment_id > d.deployment_id AND x.rolled_back_at = now());
  PERFORM set_config('tdm_rollback.release', '', true);
  UPDATE tdm.deployment x SET rolled_back_at = now() WHERE x.deployment_id = d.deployment_id;
  -- (An earlier deployment of the release, with another code version,
  -- stays live: the release is deployed with that one.)
  UPDATE tdm.release x SET status = CASE tdm._status_in_target(release) WHEN 'deployed' THEN 'deployed'
                                         ELSE 'rolled_back' END
   WHERE x.release = rollback_release.release;
  -- The code to return to: the deployment before this one on the target,
  -- else the nearest ancestor release's code version, passing over those
  -- rolled back (code known bad).
  return_to := coalesce(
    (SELECT x.code_version FROM tdm.deployment x
      WHERE x.target = d.target AND x.deployment_id < d.deployment_id AND x.rolled_back_at IS NULL
      ORDER BY x.deployment_id DESC LIMIT 1),
    (WITH RECURSIVE ancestor AS (
       SELECT p.release, p.parent, p.status, p.code_version, 1 AS depth FROM tdm.release p WHERE p.release = r.parent
       UNION ALL
       SELECT p.release, p.parent, p.status, p.code_version, a.depth + 1
         FROM ancestor a JOIN tdm.release p ON p.release = a.parent
        WHERE a.depth < 1000)
     SELECT a.code_version FROM ancestor a
      WHERE a.status <> 'rolled_back' AND a.code_version IS NOT NULL
      ORDER BY a.depth LIMIT 1));
  -- (Releases the rollback took out of the target that no later
  -- deployment names: promoted after the snapshot, not deployed.)
  undeployed := (SELECT coalesce(jsonb_agg(x.key ORDER BY x.key), '[]')
                   FROM tdm.job j, jsonb_each_text(j.detail -> 'releases') x
                  WHERE j.job_id = job AND x.key <> release
                    AND split_part(x.value, ' -> ', 1) IN ('promoted', 'deployed', 'rolled_back')
                    AND NOT later @> jsonb_build_array(jsonb_build_object('release', x.key)));
  payload := jsonb_build_object('release', release, 'deployment_id', d.deployment_id,
                                'rolled_back_code_version', d.code_version,
                                'return_to_code_version', return_to,
                                'snapshot_id', d.snapshot_id, 'target', d.target, 'job_id', job,
                                'also_rolled_back', later, 'also_removed', undeployed);
  IF jsonb_array_length(undeployed) > 0 THEN
    one := jsonb_array_length(undeployed) = 1;
    RAISE WARNING 'rollback_release: the rows of % on % were taken out with it: %',
      CASE WHEN one THEN 'a release' ELSE 'releases' END, d.target,
      (SELECT string_agg(x, ', ') FROM jsonb_array_elements_text(undeployed) x)
      USING DETAIL = format('%s went back to the pre-deploy snapshot of %s, taken before %s promoted;'
                            ' %s consolidated again (tdm.release), not live on %s.', d.target, release,
                            CASE WHEN one THEN 'it was' ELSE 'they were' END,
                            CASE WHEN one THEN 'it is' ELSE 'they are' END, d.target),
            -- (from where each was promoted, into this target)
            HINT = format('Promote %s again to bring %s rows back (%s).',
                          CASE WHEN one THEN 'it' ELSE 'them' END, CASE WHEN one THEN 'its' ELSE 'their' END,
                          (SELECT string_agg(CASE WHEN d.target = 'master' AND coalesce(f.source, 'staging') = 'staging'
                                                  THEN format('SELECT tdm.promote(%L);', x)
                                                  ELSE format('SELECT tdm.promote(%L, %L, %L);', x,
                                                              coalesce(f.source, 'staging'), d.target) END,
                                             ' ' ORDER BY x)
                             FROM jsonb_array_elements_text(undeployed) x
                             LEFT JOIN LATERAL (SELECT j.detail ->> 'from' AS source FROM tdm.job j
                                                 WHERE j.kind = 'promote' AND j.release = x AND j.status = 'completed'
                                                 ORDER BY j.job_id DESC LIMIT 1) f ON true));
  END IF;
  IF jsonb_array_length(later) > 0 THEN
    -- (A later release promoted before this one's pre-deploy snapshot was
    -- taken is in the snapshot: its rows stay, only its deployment is
    -- undone. One promoted after it is gone with the rows since.)
    SELECT string_agg(DISTINCT x.release, ', ') FILTER (WHERE tdm._presence(x.status) = 'target'),
           string_agg(DISTINCT x.release, ', ') FILTER (WHERE tdm._presence(x.status) <> 'target')
      INTO kept, gone
      FROM (SELECT e->>'release' AS release, r2.status
              FROM jsonb_array_elements(later) e JOIN tdm.release r2 ON r2.release = e->>'release') x;
    RAISE WARNING 'rollback_release: the deployments of % on % after it were rolled back with it: %',
      release, d.target,
      (SELECT string_agg(format('%s (%s)', x->>'release', x->>'code_version'), ', ') FROM jsonb_array_elements(later) x)
      USING DETAIL = format('%s went back to the pre-deploy snapshot of %s.', d.target, release)
                     || CASE WHEN gone IS NOT NULL
                             THEN format(' The rows of %s, promoted after it was taken, are gone from %s.', gone, d.target)
                             ELSE '' END
                     || CASE WHEN kept IS NOT NULL
                             THEN format(' The rows of %s, promoted before it was taken, are still in %s: only the'
                                         ' deployment is undone.', kept, d.target)
                             ELSE '' END,
            HINT = 'Deployment tooling returns to the code version in the NOTIFY payload (return_to_code_version).'
                   || CASE WHEN gone IS NOT NULL
                           THEN format(' Promote and deploy %s again to bring its rows back.', gone) ELSE '' END
                   || CASE WHEN kept IS NOT NULL
                           THEN format(' Deploy %s again (tdm.deploy) to make it live again.', kept) ELSE '' END;
  END IF;
  PERFORM pg_notify('tdm_rollback', tdm._notify_payload(payload));
  PERFORM tdm._audit('rollback_release', release, payload);
  -- (What the tooling hears, said to whoever rolled back in psql too.)
  RAISE NOTICE 'rollback_release: % (code version %) rolled back on %; %', release, d.code_version, d.target,
    CASE WHEN return_to IS NULL THEN 'no earlier code version is recorded to return to'
         ELSE format('return to code version %s', return_to) END
    USING DETAIL = 'Sent as NOTIFY tdm_rollback when this transaction commits.';
  RETURN d.deployment_id;
EXCEPTION WHEN lock_not_available THEN
  PERFORM tdm._lock_wait_ended('rollback_release', format('the rollback of %s', release),
                               NULL,
                               ARRAY[coalesce(d.target, 'master')],
                               'Nothing was rolled back.', SQLERRM);
  RAISE;
END
$$;
