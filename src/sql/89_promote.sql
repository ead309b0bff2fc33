-- Phase 3, promotion: a consolidated release's rows move from staging into
-- the cumulative master data set, which holds every release's rows with
-- their release tag. Master's tables carry the same keys and constraints as
-- staging's (foreign keys re-pointed to master's own tables), so integrity
-- across releases is PostgreSQL's own, at all times; see decisions.md on
-- why master is not partitioned by release. Archived releases move to the
-- tdm_archive schema and can be restored.

CREATE SCHEMA tdm_archive;
COMMENT ON SCHEMA tdm_archive IS 'Archived releases'' rows, restorable with tdm.restore_release';

-- Gives a copy tdm made for every admin (a snapshot's or an archived
-- release's, in tdm_snapshot or tdm_archive) to tdm_admin, so that any
-- admin, not only the one whose call made it, may read, restore or drop
-- it. Left to its maker where tdm_admin may not own it (the caller lacks
-- tdm_admin's rights, or tdm_admin may not create in the schema).
CREATE FUNCTION tdm._share_with_admins(made regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF pg_has_role('tdm_admin', 'USAGE')
     AND has_schema_privilege('tdm_admin', (SELECT c.relnamespace FROM pg_class c WHERE c.oid = made), 'CREATE') THEN
    EXECUTE format('ALTER TABLE %s OWNER TO tdm_admin', made);
  END IF;
END
$$;

-- Creates table `name` in schema `target` like `source`: same columns,
-- defaults, CHECK, keys and indexes (LIKE .. INCLUDING ALL); a partitioned
-- source gives a table partitioned the same way, with its partitions (of
-- the same names and bounds, at every level), as a DBA who made master by
-- hand would have it: each with the constraints and indexes declared on
-- it alone, not its parent (an EXCLUDE on one month's bookings, which
-- PostgreSQL 15 allows on a partition only), as staging's has them
-- (NOT VALID ones too). Not a partition's own foreign keys: they name
-- staging's tables.
CREATE FUNCTION tdm._create_table_like(target text, name text, source regclass, parent regclass DEFAULT NULL)
RETURNS regclass
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  made regclass;
  part record;
  own record;
  renamed int;
BEGIN
  EXECUTE format('CREATE TABLE %I.%I ', target, name)
          || CASE WHEN parent IS NULL THEN format('(LIKE %s INCLUDING ALL)', source)
                  ELSE format('PARTITION OF %s %s', parent,
                              (SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c WHERE c.oid = source)) END
          || coalesce(' PARTITION BY ' || pg_get_partkeydef(source), '');
  made := format('%I.%I', target, name)::regclass;
  -- Every admin promotes into it, reads, snapshots and rolls it back, not
  -- only the one whose call made it. (Granted, not given: its owner's
  -- rights run its index expressions, in index builds and ANALYZE, and
  -- tdm_admin may not have what they call.)
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON %s TO tdm_admin', made);
  -- (LIKE made its CHECKs validated: those staging holds NOT VALID are
  -- made again as staging has them.)
  FOR own IN SELECT c.conname, pg_get_constraintdef(c.oid) AS definition FROM pg_constraint c
              WHERE c.conrelid = source AND c.contype = 'c' AND NOT c.convalidated
                AND EXISTS (SELECT FROM pg_constraint m WHERE m.conrelid = made AND m.conname = c.conname
                                                          AND m.contype = 'c' AND m.coninhcount = 0)
              ORDER BY c.conname LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I, ADD CONSTRAINT %2$I %3$s', made, own.conname,
                   own.definition);
  END LOOP;
  IF parent IS NOT NULL THEN
    -- (its constraints and its indexes that are no partition of its
    -- parent's, nor a constraint's: by their names, where the schema has
    -- them free, else named by PostgreSQL)
    FOR own IN SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s', made, c.conname, pg_get_constraintdef(c.oid))
                        AS named,
                      format('ALTER TABLE %s ADD %s', made, pg_get_constraintdef(c.oid)) AS unnamed
                 FROM pg_constraint c
                WHERE c.conrelid = source AND c.contype IN ('c', 'u', 'p', 'x')
                  AND c.conparentid = 0 AND c.coninhcount = 0
               UNION ALL
               SELECT replace(x.ddl, ' %s ON ', format(' %I ON ', x.relname)), replace(x.ddl, ' %s ON ', ' ON ')
                 FROM (SELECT ic.relname,
                              regexp_replace(pg_get_indexdef(i.indexrelid),
                                             E'^(CREATE (?:UNIQUE )?INDEX) (?:"(?:[^"]|"")*"|[^ ]+) ON (?:ONLY )?'
                                             '(?:(?:"(?:[^"]|"")*"|[^ ."]+)\\.)?(?:"(?:[^"]|"")*"|[^ ."]+) ',
                                             format(E'\\1 %%s ON %s ', made)) AS ddl
                         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                        WHERE i.indrelid = source
                          AND NOT EXISTS (SELECT FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
                          AND NOT EXISTS (SELECT FROM pg_constraint c
                                           WHERE c.conindid = i.indexrelid AND c.conrelid = source)) x
                ORDER BY 1 LOOP
      BEGIN
        EXECUTE own.named;
      EXCEPTION WHEN duplicate_table THEN
        EXECUTE own.unnamed;
      END;
    END LOOP;
    -- (and its columns NOT NULL there alone)
    FOR own IN SELECT a.attname FROM pg_attribute a
                 JOIN pg_attribute p ON p.attrelid = parent AND p.attname = a.attname AND NOT p.attnotnull
                WHERE a.attrelid = source AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull
                ORDER BY a.attnum LOOP
      EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET NOT NULL', made, own.attname);
    END LOOP;
  END IF;
  -- Its indexes (and so their constraints) by the source's names, where
  -- the schema has them free: LIKE names them anew (phone_account_id_idx
  -- for phone_primary_uq), and a violation or error in the target would
  -- name an index the DBA never made. Matched by definition and by the
  -- constraint each backs (a key's index is not a plain one's of the same
  -- columns); again while a pass renames one, for a name LIKE gave one
  -- index is another's to take, freed by the first's rename (a few
  -- passes: indexes of one definition may trade names, which is no harm).
  FOR pass IN 1 .. 4 LOOP
    renamed := 0;
    FOR own IN WITH x AS (SELECT i.indrelid, c.relname, i.indisunique, tdm._index_keys_sql(i.indexrelid) AS keys,
                                 coalesce((SELECT format('%s %s %s', k.contype, k.condeferrable, k.condeferred)
                                             FROM pg_constraint k
                                            WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid
                                              AND k.contype IN ('p', 'u', 'x')), '') AS backs
                            FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                           WHERE i.indrelid IN (made, source)),
                    nth AS (SELECT x.*, row_number() OVER (PARTITION BY x.indrelid, x.indisunique, x.keys, x.backs
                                                           ORDER BY x.relname) AS nth FROM x)
               SELECT m.relname AS made_name, s.relname AS source_name
                 FROM nth m JOIN nth s USING (indisunique, keys, backs, nth)
                WHERE m.indrelid = made AND s.indrelid = source
                  AND m.relname <> s.relname ORDER BY s.relname LOOP
      CONTINUE WHEN to_regclass(format('%I.%I', target, own.source_name)) IS NOT NULL;
      EXECUTE format('ALTER INDEX %I.%I RENAME TO %I', target, own.made_name, own.source_name);
      renamed := renamed + 1;
    END LOOP;
    EXIT WHEN renamed = 0;
  END LOOP;
  FOR part IN SELECT c.oid, c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = source AND c.relispartition ORDER BY c.relname LOOP
    PERFORM tdm._create_table_like(target, part.relname, part.oid::regclass, made);
  END LOOP;
  RETURN made;
END
$$;

-- Creates in schema `target` the partitions of `source` (a partitioned
-- table of staging, at every level) that `dest`, its partitioned table
-- there, lacks by name: a partition for next month added to staging since
-- the first promotion. Only where a row of its bounds has no other place
-- in `dest`: none when `dest` has a default partition or another
-- partition key, or when the bounds overlap partitions of `dest`'s own
-- (master's layout is the DBA's, and a row that fits it goes where it
-- puts it). Returns the partitions made.
CREATE FUNCTION tdm._mirror_partitions(target text, source regclass, dest regclass) RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  part record;
  made text[] := '{}';
BEGIN
  -- (Bounds mean the same only over the same partition key.)
  IF pg_get_partkeydef(source) IS DISTINCT FROM pg_get_partkeydef(dest) THEN
    RETURN made;
  END IF;
  FOR part IN SELECT c.oid, c.relname, c.relkind, pg_get_expr(c.relpartbound, c.oid) AS bound,
                     (SELECT d.oid FROM pg_inherits di JOIN pg_class d ON d.oid = di.inhrelid
                       WHERE di.inhparent = dest AND d.relname = c.relname) AS existing
                FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = source AND c.relispartition ORDER BY c.relname LOOP
    IF part.existing IS NOT NULL THEN
      IF part.relkind = 'p' AND (SELECT relkind FROM pg_class WHERE oid = part.existing) = 'p' THEN
        made := made || tdm._mirror_partitions(target, part.oid, part.existing);
      END IF;
      CONTINUE;
    END IF;
    CONTINUE WHEN (SELECT p.partdefid <> 0 FROM pg_partitioned_table p WHERE p.partrelid = dest);
    BEGIN
      made := made || tdm._create_table_like(target, part.relname, part.oid::regclass, dest)::text;
      RAISE NOTICE 'promote: partition % of % created as % has it: %',
        made[cardinality(made)], dest, part.oid::regclass, part.bound;
    EXCEPTION WHEN invalid_object_definition OR duplicate_table OR insufficient_privilege THEN
      -- (bounds over master's own partitions, a name master uses for
      -- another table, a table another role owns: left as it is; a row
      -- with no place there is refused by the copy, which says so)
      NULL;
    END;
  END LOOP;
  RETURN made;
END
$$;

-- Creates, in schema `target`, the tables of the managed tables that are
-- missing there (tdm._create_table_like), then the foreign keys between
-- them; partitions staging has and a table there lacks
-- (tdm._mirror_partitions).
CREATE FUNCTION tdm._create_target_tables(from_target text, to_target text) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t record;
  fk record;
  created regclass[] := '{}';
  name text;
BEGIN
  IF to_regnamespace(quote_ident(to_target)) IS NULL THEN
    IF NOT has_database_privilege(current_database(), 'CREATE') THEN
      RAISE EXCEPTION 'promote: schema % does not exist, and % may not create it', quote_ident(to_target),
        current_user
        USING ERRCODE = 'insufficient_privilege',
              HINT = format('The database''s owner creates it for you (CREATE SCHEMA %I AUTHORIZATION %I;), or'
                            ' lets you (GRANT CREATE ON DATABASE %I TO %I;); then promote again.',
                            to_target, current_user, current_database(), current_user);
    END IF;
    -- (Master only: a target of another name is more likely a slip than
    -- a new target, and a release promoted there stays there.)
    IF to_target <> 'master' THEN
      RAISE EXCEPTION 'promote: schema % does not exist, and tdm creates only master', quote_ident(to_target)
        USING ERRCODE = 'invalid_schema_name',
              HINT = format('Master, the default to_target, is created when missing. To promote into a target of'
                            ' your own, create it first (CREATE SCHEMA %I;), then promote again.', to_target);
    END IF;
    EXECUTE format('CREATE SCHEMA %I', to_target);
    EXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO tdm_admin', to_target);
  END IF;
  FOR t IN SELECT o.rel, tdm._target_table(from_target, o.rel) AS source
             FROM tdm._table_order() o ORDER BY o.step LOOP
    name := (SELECT c.relname FROM pg_class c WHERE c.oid = t.rel);
    IF tdm._target_table(to_target, t.rel) IS NULL
       AND NOT has_schema_privilege(to_regnamespace(quote_ident(to_target)), 'CREATE') THEN
      RAISE EXCEPTION 'promote: %.% does not exist, and % may not create it', quote_ident(to_target),
        quote_ident(name), current_user
        USING ERRCODE = 'insufficient_privilege',
              HINT = format('The schema''s owner creates it (CREATE TABLE %I.%I (LIKE %s INCLUDING ALL);), or lets'
                            ' you (GRANT CREATE ON SCHEMA %I TO %I;); then promote again.',
                            to_target, name, t.source, to_target, current_user);
    END IF;
    IF tdm._target_table(to_target, t.rel) IS NULL THEN
      created := created || tdm._create_table_like(to_target, name, t.source);
      -- (with the managed table's types, where the source has others it
      -- may hold: a domain of staging's own schema, a longer varchar; the
      -- target is checked against the managed table by type)
      PERFORM tdm._retype_like_managed(t.rel, created[cardinality(created)]);
    ELSIF (SELECT c.relkind FROM pg_class c WHERE c.oid = t.source) = 'p'
          AND (SELECT c.relkind FROM pg_class c WHERE c.oid = tdm._target_table(to_target, t.rel)) = 'p' THEN
      PERFORM tdm._mirror_partitions(to_target, t.source, tdm._target_table(to_target, t.rel));
    END IF;
  END LOOP;
  -- Foreign keys of the new tables, pointing at the target's own tables
  -- when the parent is managed.
  FOR fk IN SELECT c.conname, c.conrelid, c.confrelid, c.condeferrable, c.condeferred, c.convalidated,
                   c.confupdtype, c.confdeltype, c.confmatchtype, n.nspname AS child_schema,
                   -- (ON DELETE SET NULL (assignee_id): the columns it sets, not all)
                   ARRAY(SELECT a.attname::text FROM unnest(c.confdelsetcols) WITH ORDINALITY k(n, i)
                           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
                          ORDER BY k.i) AS delete_set_cols,
                   (SELECT m.rel FROM tdm.managed_table m
                     WHERE tdm._target_table(from_target, m.rel) = c.confrelid) AS managed_parent,
                   ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
                          ORDER BY k.i) AS cols,
                   ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                           JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n
                          ORDER BY k.i) AS ref_cols,
                   (SELECT x.rel FROM tdm.managed_table x
                     WHERE tdm._target_table(from_target, x.rel) = c.conrelid) AS managed_child
              FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
              JOIN pg_namespace n ON n.oid = r.relnamespace
             -- (not the copies PostgreSQL keeps for partitions: the
             -- partitioned table's own key makes them again)
             WHERE c.contype = 'f' AND n.nspname = from_target AND c.conparentid = 0 LOOP
    CONTINUE WHEN fk.managed_child IS NULL
              OR NOT tdm._target_table(to_target, fk.managed_child) = ANY (created);
    EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I FOREIGN KEY (%s) REFERENCES %s (%s)%s'
                   ' ON UPDATE %s ON DELETE %s%s %s',
                   tdm._target_table(to_target, fk.managed_child), fk.conname,
                   (SELECT string_agg(format('%I', c), ', ') FROM unnest(fk.cols) c),
                   coalesce(tdm._target_table(to_target, fk.managed_parent), fk.confrelid::regclass),
                   (SELECT string_agg(format('%I', c), ', ') FROM unnest(fk.ref_cols) c),
                   CASE fk.confmatchtype WHEN 'f' THEN ' MATCH FULL' ELSE '' END,
                   tdm._fk_action(fk.confupdtype), tdm._fk_action(fk.confdeltype),
                   CASE WHEN cardinality(fk.delete_set_cols) > 0
                        THEN format(' (%s)', (SELECT string_agg(format('%I', c), ', ')
                                                FROM unnest(fk.delete_set_cols) c)) ELSE '' END,
                   CASE WHEN fk.condeferred THEN 'DEFERRABLE INITIALLY DEFERRED'
                        WHEN fk.condeferrable THEN 'DEFERRABLE' ELSE '' END
                   -- (as staging holds it: NOT VALID checks the rows written, not those there)
                   || CASE WHEN fk.convalidated THEN '' ELSE ' NOT VALID' END);
  END LOOP;
  RETURN cardinality(created);
END
$$;

-- Gives the columns of `made`, a table tdm just created empty, the types
-- of the managed table `managed` where they differ (partitions follow).
CREATE FUNCTION tdm._retype_like_managed(managed regclass, made regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  alters text;
  columns text;
  message text;
BEGIN
  SELECT string_agg(format('ALTER COLUMN %1$I TYPE %2$s USING %1$I::%2$s', r.column_name,
                           (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                             WHERE a.attrelid = managed AND a.attname = r.column_name)), ', ' ORDER BY r.ordinal),
         string_agg(format('%I (%s)', r.column_name, r.column_type), ', ' ORDER BY r.ordinal)
    INTO alters, columns
    FROM tdm._retyped_columns(managed, made) r;
  IF alters IS NOT NULL THEN
    EXECUTE format('ALTER TABLE %s %s', made, alters);
  END IF;
EXCEPTION WHEN feature_not_supported OR datatype_mismatch OR cannot_coerce OR undefined_function
               OR invalid_table_definition OR wrong_object_type THEN
  -- (A partition key, a column a generated one reads, a default or CHECK
  -- of the copy's type: PostgreSQL will not retype it in place.)
  GET STACKED DIAGNOSTICS message = MESSAGE_TEXT;
  RAISE EXCEPTION 'promote: % cannot be created with the types of the managed table %: %', made, managed, message
    USING ERRCODE = 'datatype_mismatch',
          DETAIL = format('Its source has columns of other types: %s.', columns),
          HINT = format('Give the copy promoted from the types of %s (ALTER TABLE), or create %s by hand with them'
                        ' (CREATE TABLE %s (LIKE %s INCLUDING ALL)%s, and its foreign keys); then promote again.',
                        managed, made, made, managed,
                        coalesce(' PARTITION BY ' || pg_get_partkeydef(managed), ''));
END
$$;

-- The runs of `releases` into `target` that loaded rows there and were
-- failed by a rollback after their release's last completed run: their
-- rows stay in the target (a rollback of master does not roll staging
-- back, decision 183), no release's. "run 3 of R2, ..."; NULL when none.
CREATE FUNCTION tdm._failed_runs_left(releases text[], target text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(format('run %s of %s', x.run_id, x.release), ', ' ORDER BY x.run_id)
    FROM tdm.run x
   WHERE x.release = ANY (releases) AND x.target = _failed_runs_left.target AND x.status = 'failed'
     AND x.rows_loaded > 0
     AND x.run_id > (SELECT max(y.run_id) FROM tdm.run y
                      WHERE y.release = x.release AND y.target = _failed_runs_left.target AND y.status = 'completed')
$$;

CREATE FUNCTION tdm._fk_action(code "char") RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE code WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
                   WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END
$$;

-- Copies the rows of `release` from one target's tables to another's in
-- one statement (foreign keys, cycles included, are checked at its end)
-- and verifies count and checksum per table. Returns the rows copied.
CREATE FUNCTION tdm._copy_release(release text, from_target text, to_target text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t record;
  inserts text[] := '{}';
  copied bigint := 0;
  before record;
  after record;
BEGIN
  FOR t IN SELECT x.managed AS rel, x.step, x.release_column, x.rel AS source,
                  tdm._target_table(to_target, x.managed) AS dest
             FROM tdm._target_tables(from_target) x LOOP
    inserts := inserts || tdm._insert_clause('i' || t.step, t.dest, t.source::text, t.release_column);
  END LOOP;
  EXECUTE format('WITH %s SELECT 1', array_to_string(inserts, ', ')) USING release;
  FOR t IN SELECT x.managed AS rel, x.release_column, x.rel AS source,
                  tdm._target_table(to_target, x.managed) AS dest
             FROM tdm._target_tables(from_target) x LOOP
    before := tdm._release_checksum(t.source, t.rel, t.release_column, release, true);
    after := tdm._release_checksum(t.dest, t.rel, t.release_column, release, true);
    IF before.row_count <> after.row_count OR before.checksum <> after.checksum THEN
      RAISE EXCEPTION USING
        MESSAGE = format('copy of release %s: %s holds %s rows of it, %s got %s%s', release, t.source,
                         before.row_count, t.dest, after.row_count,
                         CASE WHEN before.row_count = after.row_count THEN ' with another checksum' ELSE '' END),
        ERRCODE = 'data_corrupted',
              HINT = format('Nothing was copied. A trigger or rule of %s changed the rows it got (on INSERT:'
                            ' %s): disable the trigger for the copy (ALTER TABLE ... DISABLE TRIGGER ...), then'
                            ' enable it.',
                            to_target, coalesce(tdm._writing_triggers(to_target, 4), 'none found'));
    END IF;
    copied := copied + after.row_count;
  END LOOP;
  PERFORM tdm._advance_sequences(ARRAY(SELECT tdm._target_table(to_target, x.managed)
                                         FROM tdm._target_tables(from_target) x));
  RETURN copied;
END
$$;

-- The schema a release was last promoted into (tdm.promote's to_target),
-- NULL when it never was.
CREATE FUNCTION tdm._promoted_to(release text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT j.detail ->> 'to' FROM tdm.job j
   WHERE j.kind = 'promote' AND j.release = _promoted_to.release AND j.status = 'completed'
   ORDER BY j.job_id DESC LIMIT 1
$$;

-- The run whose rows of the release are in the target it was promoted
-- into: its completed run into the source of its last promotion (a
-- rollback that put back an earlier promotion's rows made that one's run
-- the completed one again: tdm._reconcile_runs); NULL when it was never
-- promoted.
CREATE FUNCTION tdm._promoted_run(release text) RETURNS bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT max(r.run_id) FROM tdm.run r
   WHERE r.release = _promoted_run.release AND r.status = 'completed'
     AND r.target = (SELECT j.detail ->> 'from' FROM tdm.job j
                      WHERE j.kind = 'promote' AND j.release = _promoted_run.release AND j.status = 'completed'
                      ORDER BY j.job_id DESC LIMIT 1)
$$;

-- The call that takes release `r` to its next status, for a HINT: a
-- refusal sends to the step that works now, not to one that is refused
-- in turn.
CREATE FUNCTION tdm._next_step(r tdm.release) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE
           WHEN r.status = 'open' AND NOT EXISTS (SELECT 1 FROM tdm.feature f WHERE f.release = r.release)
             THEN format('Plan it first (SELECT tdm.add_feature(%L, ''FEAT-1'', 1);), then tag it'
                         ' (SELECT tdm.tag_release(%1$L);).', r.release)
           WHEN r.status = 'open' THEN format('Tag it first: SELECT tdm.tag_release(%L);', r.release)
           WHEN r.status = 'locked' THEN 'Consolidate it first: ' || tdm._consolidate_call(r.release)
           WHEN r.status = 'consolidated' THEN format('Promote it first: SELECT tdm.promote(%L%s);', r.release,
                                                      CASE WHEN tdm._staging_target() <> 'staging'
                                                           THEN format(', %L', tdm._staging_target()) ELSE '' END)
           WHEN r.status = 'archived' THEN format('Restore it first: SELECT tdm.restore_release(%L);', r.release)
         END
$$;

-- The columns `attnums` of table `rel`, quoted, in their order.
CREATE FUNCTION tdm._column_list(rel oid, attnums int2[]) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n)
    FROM unnest(attnums) WITH ORDINALITY k(attnum, n)
    JOIN pg_attribute a ON a.attrelid = rel AND a.attnum = k.attnum
$$;

-- The constraints of table `rel` (CHECK, UNIQUE, FOREIGN KEY, NOT NULL),
-- each spelled without its name or schemas, so that two targets' copies
-- of one table compare.
CREATE FUNCTION tdm._constraint_forms(rel regclass) RETURNS SETOF text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE c.contype
           WHEN 'c' THEN tdm._check_text_canonical(regexp_replace(pg_get_constraintdef(c.oid), ' NOT VALID$', ''))
           ELSE format('%s (%s)%s', CASE c.contype WHEN 'u' THEN 'UNIQUE' ELSE 'FOREIGN KEY' END,
                       tdm._column_list(c.conrelid, c.conkey),
                       CASE WHEN c.contype = 'f'
                            THEN format(' REFERENCES %s (%s)', quote_ident(r.relname),
                                        tdm._column_list(c.confrelid, c.confkey))
                            ELSE '' END) END
    FROM pg_constraint c LEFT JOIN pg_class r ON r.oid = c.confrelid
   WHERE c.conrelid = rel AND c.contype IN ('c', 'u', 'f') AND c.conparentid = 0
  UNION
  SELECT format('%s NOT NULL', quote_ident(a.attname)) FROM pg_attribute a
   WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull
$$;

-- A WARNING for (`caller`) each table of `to_target` that lacks
-- constraints its copy in `from_target` has: a migration applied to
-- staging after the first promotion created master's tables, and not to
-- master, whose rows are then not held to it.
CREATE FUNCTION tdm._warn_constraints_lacking(caller text, from_target text, to_target text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t record;
BEGIN
  FOR t IN SELECT x.rel AS source, tdm._target_table(to_target, x.managed) AS dest,
                  ARRAY(SELECT f FROM tdm._constraint_forms(x.rel) f
                        EXCEPT SELECT f FROM tdm._constraint_forms(tdm._target_table(to_target, x.managed)) f
                        ORDER BY 1) AS lacking
             FROM tdm._target_tables(from_target) x
            WHERE tdm._target_table(to_target, x.managed) IS NOT NULL
            ORDER BY x.step LOOP
    CONTINUE WHEN cardinality(t.lacking) = 0;
    RAISE WARNING '%: % lacks constraints % has: %', caller, t.dest, t.source, tdm._first_ten(t.lacking)
      USING DETAIL = format('A migration of %s not applied to %s (whose tables tdm makes like %s''s at the'
                            ' first promotion), or a table made without them: its rows are not held to them.',
                            from_target, to_target, from_target),
            HINT = format('Apply it to %s too (ALTER TABLE %s ADD ...), as to %s.', t.dest, t.dest, from_target);
  END LOOP;
END
$$;

-- The releases of the rows in `from_target` that release `the_release`'s
-- rows there reference through foreign key `constraint_name` of
-- `to_target`'s table `child` and that `to_target` lacks: what a promote
-- refused by that key waits for (not the release itself: its own rows go
-- in with it). NULL when there are none (the rows are in neither:
-- archived, rolled back).
CREATE FUNCTION tdm._referenced_releases(the_release text, from_target text, to_target text,
                                         child regclass, constraint_name text) RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  fk record;
  holders text[];
BEGIN
  SELECT c.release_column AS child_release, p.release_column AS parent_release,
         tdm._target_table(from_target, c.managed) AS from_child,
         tdm._target_table(from_target, p.managed) AS from_parent, p.rel AS to_parent
    INTO fk
    FROM pg_constraint con
    JOIN tdm._target_tables(to_target) c ON c.rel = con.conrelid
    JOIN tdm._target_tables(to_target) p ON p.rel = con.confrelid
   WHERE con.conrelid = child AND con.conname = constraint_name AND con.contype = 'f';
  IF fk.from_child IS NULL OR fk.from_parent IS NULL THEN
    RETURN NULL;
  END IF;
  -- (Matched as the key matches them: tdm._fk_match.)
  EXECUTE format('SELECT array_agg(DISTINCT p.%1$I ORDER BY p.%1$I) FROM %2$s c JOIN %3$s p ON %4$s'
                 ' WHERE c.%5$I = $1 AND p.%1$I IS DISTINCT FROM $1 AND NOT EXISTS (SELECT FROM %6$s p WHERE %4$s)',
                 fk.parent_release, fk.from_child, fk.from_parent, tdm._fk_match(child, constraint_name, 'p', 'c'),
                 fk.child_release, fk.to_parent)
    INTO holders USING the_release;
  RETURN holders;
END
$$;

-- Phase 3: a consolidated release's rows go from `from_target` (staging)
-- into `to_target` (master). Consolidation settles the release's rows
-- against master's as conflicts (tdm._collect_earlier); rows that still
-- collide with earlier releases' rows (master changed since) make the
-- promotion change nothing and name them. Returns the job id.
CREATE FUNCTION tdm.promote(release text, from_target text DEFAULT 'staging',
                            to_target text DEFAULT 'master') RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
#variable_conflict use_variable
DECLARE
  r tdm.release := tdm._require_release_inputs(release, 'promote');
  the_release text := release;
  job bigint;
  created int;
  t record;
  rolled record;  -- a rollback of to_target since the run, that changed runs
  latest record;  -- the release's latest run into from_target, not failed
  elsewhere text;  -- the call from the staging target of another name, when the release completed there
  collisions bigint := 0;
  n bigint;
  examples jsonb;
  copied bigint;
  renamed_from text;  -- tables of the run no managed table is called now
  renamed_to text;    -- managed tables the run does not name
  unmanaged text;     -- tables the run loaded rows into that are managed no more
  refused text;  -- a failed copy's SQLSTATE, message, detail, hint, schema, table and context
  refused_message text;
  refused_detail text;
  refused_hint text;
  refused_schema text;
  refused_table text;
  refused_context text;
  refused_constraint text;
  holders text[];  -- the releases of the rows a refused foreign key misses (tdm._referenced_releases)
  left_by text;    -- their later runs into from_target a rollback failed: "rows run 3 of R2 loaded ..."
  dest_only bool;  -- the refused constraint is the destination's alone
BEGIN
  PERFORM tdm._refuse_replica_role('promote');
  PERFORM tdm._require_target_name('promote', 'from_target', from_target);
  PERFORM tdm._require_target_name('promote', 'to_target', to_target);
  IF from_target = to_target THEN
    RAISE EXCEPTION 'promote: from_target and to_target are both "%"', from_target
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A release is promoted from the target it was consolidated into (staging) to another (master).';
  END IF;
  elsewhere := (SELECT format('It was consolidated into %s: SELECT tdm.promote(%L, %L);',
                              quote_ident(s.target), the_release, s.target)
                  FROM tdm._staging_target() AS s(target)
                 WHERE s.target <> from_target
                   AND EXISTS (SELECT 1 FROM tdm.run x WHERE x.release = the_release AND x.target = s.target
                                  AND x.status = 'completed'));
  IF to_regnamespace(quote_ident(from_target)) IS NULL THEN
    -- (where the release was consolidated, or where the managed tables are)
    RAISE EXCEPTION 'promote: schema % does not exist', tdm._quoted(from_target)
      USING ERRCODE = 'invalid_schema_name',
            HINT = CASE WHEN elsewhere IS NOT NULL THEN elsewhere
                        WHEN tdm._staging_target() <> from_target
                        THEN format('The managed tables are in %s: consolidate it there, then SELECT tdm.promote(%L, %L);',
                                    quote_ident(tdm._staging_target()), the_release, tdm._staging_target())
                        ELSE 'from_target is the schema the release was consolidated into.' END;
  END IF;
  -- (The caller reads the source: the schema and its tables; policies
  -- that would hide or refuse the rows copied are named first.)
  PERFORM tdm._require_privileges('promote', from_target, '{SELECT}');
  IF to_regnamespace(quote_ident(to_target)) IS NOT NULL THEN
    PERFORM tdm._refuse_unwritable('promote', ARRAY(SELECT x.rel FROM tdm._target_tables(to_target) x));
    IF has_schema_privilege(to_target, 'USAGE') THEN
      PERFORM tdm._refuse_row_security('promote', to_target);
    END IF;
  END IF;
  -- One promote of a release at a time (nor with its deploy, archive or
  -- restore): a second call waits for the first, then reads the status it
  -- left (below).
  PERFORM tdm._release_turn(the_release);
  -- Nor while it is consolidated again: the two would meet on the target's
  -- tables in opposite orders (a deadlock, one of them lost).
  IF tdm._consolidating_backend(the_release) IS NOT NULL THEN
    RAISE EXCEPTION 'promote: release "%" is being consolidated', the_release
      USING ERRCODE = 'lock_not_available',
            DETAIL = format('Backend %s holds it.', tdm._consolidating_backend(the_release)),
            HINT = 'Promote it once that call has finished (tdm.progress shows it).';
  END IF;
  SELECT * INTO r FROM tdm.release x WHERE x.release = the_release;
  -- (The status, not an earlier promote job: a rollback that took the
  -- release out again made it consolidated, tdm._reconcile_releases.)
  IF r.status IN ('promoted', 'deployed') THEN
    RAISE EXCEPTION 'promote: release "%" is already in %', the_release,
      coalesce(tdm._promoted_to(the_release), to_target)
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('A release is promoted once; its rows stay in %s with their release tag.',
                          coalesce(tdm._promoted_to(the_release), to_target));
  END IF;
  IF r.status = 'archived' THEN
    RAISE EXCEPTION 'promote: release "%" is archived', the_release
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('Bring its rows back into master: SELECT tdm.restore_release(%L);', the_release);
  END IF;
  IF r.status = 'rolled_back' THEN
    RAISE EXCEPTION 'promote: release "%" is rolled_back: its rows stayed in % when its deployment was rolled back',
      the_release, coalesce(tdm._promoted_to(the_release), to_target)
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('Deploy it again (SELECT tdm.deploy(%L, <code version>);), or archive it (tdm.archive_release).',
                          the_release);
  END IF;
  IF NOT EXISTS (SELECT 1 FROM tdm.run x WHERE x.release = the_release AND x.target = from_target
                    AND x.status = 'completed') THEN
    SELECT x.run_id, x.status INTO latest FROM tdm.run x
     WHERE x.run_id = tdm._latest_run(the_release, from_target);
    -- (its latest run there said: a release consolidated before, whose
    -- new run waits, is still `consolidated`)
    RAISE EXCEPTION 'promote: release "%" is % and has no completed consolidation into %',
      the_release, r.status, from_target
      || CASE WHEN latest.run_id IS NOT NULL
           THEN format(': its latest run there, %s, %s', latest.run_id,
                       CASE latest.status WHEN 'awaiting_review' THEN 'awaits review'
                                          ELSE 'is ' || latest.status END) ELSE '' END
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = CASE WHEN from_target = 'staging' AND elsewhere IS NOT NULL THEN elsewhere
                        WHEN from_target = tdm._staging_target() AND r.status = 'open' THEN tdm._next_step(r)
                        -- (a run that stopped: calling again alone gives the same)
                        WHEN latest.status = 'invalid'
                        THEN format('Its run %s into %s is invalid: fix what SELECT tdm.report(%s); names (the'
                                    ' rows, or the decision its HINT named), then consolidate again: %s',
                                    latest.run_id, from_target, latest.run_id,
                                    tdm._consolidate_call(the_release, from_target))
                        WHEN latest.status = 'awaiting_review'
                        THEN format('Its run %s into %s awaits review: decide the conflicts in tdm.review_queue'
                                    ' (a priority 1 decision also needs tdm.approve by another reviewer), then'
                                    ' consolidate again: %s', latest.run_id, from_target,
                                    tdm._consolidate_call(the_release, from_target))
                        WHEN from_target = tdm._staging_target()
                        THEN 'Consolidate it first: ' || tdm._consolidate_call(the_release)
                        ELSE 'Consolidate it there first: ' || tdm._consolidate_call(the_release, from_target) END;
  END IF;
  -- (A consolidation into another target leaves the release locked: only
  -- staging's is the release's own. Tagged again since, it is locked too.)
  IF r.status <> 'consolidated' AND from_target = tdm._staging_target() THEN
    RAISE EXCEPTION 'promote: release "%" is %: it was tagged again after its consolidation into % completed',
      the_release, r.status, quote_ident(from_target)
      USING ERRCODE = 'object_not_in_prerequisite_state',
            -- (open: that tagging found errors, and consolidate needs a lock)
            HINT = CASE WHEN r.status = 'open'
                        THEN format('Fix what its tagging found and tag it again (SELECT tdm.tag_release(%L);), then'
                                    ' consolidate it again: %s', the_release,
                                    tdm._consolidate_call(the_release, from_target))
                        ELSE 'Consolidate it again: ' || tdm._consolidate_call(the_release, from_target) END;
  ELSIF r.status <> 'consolidated' THEN
    RAISE EXCEPTION 'promote: release "%" is %: its consolidation into % completed, but only a consolidation into % makes a release consolidated',
      the_release, r.status, quote_ident(from_target), quote_ident(tdm._staging_target())
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('Consolidate it into %s too: %s', quote_ident(tdm._staging_target()),
                          tdm._consolidate_call(the_release));
  END IF;
  -- A first release into a target while others are in another: likely a
  -- slip for master (a release is promoted once, and the next ones'
  -- references to its rows look for them in their own target).
  IF NOT EXISTS (SELECT FROM tdm.release x WHERE x.status IN ('promoted', 'deployed')
                    AND tdm._promoted_to(x.release) = to_target)
     AND EXISTS (SELECT FROM tdm.release x WHERE x.status IN ('promoted', 'deployed')) THEN
    RAISE WARNING 'promote: release % is the first promoted into %; promoted releases are in %', the_release,
      quote_ident(to_target),
      (SELECT string_agg(DISTINCT quote_ident(tdm._promoted_to(x.release)), ', ') FROM tdm.release x
        WHERE x.status IN ('promoted', 'deployed'))
      USING DETAIL = 'A release is promoted once; later releases that reference its rows must be promoted into the same target.',
            HINT = 'Promote the releases into one target: name it in every tdm.promote call (the default is master).';
  END IF;
  job := tdm._start_job('promote', the_release, true,
                        jsonb_build_object('from', from_target, 'to', to_target));
  PERFORM tdm._progress(job, 'prepare');
  -- The run that loaded the release into the source.
  SELECT x.run_id, x.tables, x.started_at, x.finished_at INTO t FROM tdm.run x
   WHERE x.release = the_release AND x.target = from_target AND x.status = 'completed'
   ORDER BY x.run_id DESC LIMIT 1;
  -- A rollback of to_target since that run, which put back another run's
  -- rows of another release (tdm._reconcile_runs): the run translated its
  -- references to other releases' rows by the keys master had then.
  -- (Conservative: where a table of the run has a foreign key to a table
  -- of those runs, its rows may still reference none of their rows.)
  SELECT s.label, j.detail -> 'runs' AS runs INTO rolled FROM tdm.job j
    JOIN tdm.snapshot s ON s.snapshot_id = (j.detail ->> 'snapshot_id')::bigint
   WHERE j.kind = 'rollback' AND j.status = 'completed' AND j.detail ? 'runs' AND s.target = to_target
     AND j.finished_at > t.finished_at
     -- (runs of other releases, the release's own say nothing of its
     -- references; into tables the run's tables reference. Not only of
     -- its lineage: its rows may have been matched with master's rows of
     -- any release, and its children re-pointed to them)
     AND EXISTS (SELECT 1 FROM jsonb_object_keys(j.detail -> 'runs') AS k
                   JOIN tdm.run x ON x.run_id = k::bigint
                  CROSS JOIN LATERAL jsonb_each(x.tables) AS parent(name, v)
                  CROSS JOIN LATERAL jsonb_each(t.tables) AS child(name, v)
                   JOIN pg_constraint fk ON fk.contype = 'f' AND fk.conrelid = to_regclass(child.name)
                                        AND fk.confrelid = to_regclass(parent.name)
                  WHERE x.release <> the_release
                    AND (parent.v ->> 'loaded')::bigint > 0 AND (child.v ->> 'loaded')::bigint > 0)
   ORDER BY j.job_id DESC LIMIT 1;
  IF rolled.label IS NOT NULL THEN
    RAISE EXCEPTION 'promote: % was rolled back to snapshot % after run % of release % completed, and that changed which runs'' rows of other releases it holds',
      to_target, quote_literal(rolled.label), t.run_id, the_release
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = format('Runs whose status the rollback changed: %s. The run translated the release''s'
                            ' references to earlier releases'' rows by the keys %s had before.',
                            rolled.runs, to_target),
            HINT = format('Consolidate it again (SELECT tdm.consolidate(%L);), then promote it. Where %s still'
                          ' holds earlier releases'' rows as master had them before the rollback (the'
                          ' consolidation meets them as unique violations), delete those from it first,'
                          ' children first.', the_release, from_target);
  END IF;
  -- (Its tables by the names they had then: a managed table renamed
  -- since would read as holding rows it never loaded. Not a table
  -- unmanaged since, whose name still names a table, nor one managed
  -- since; a view of the old name, kept for compatibility, is no table.)
  SELECT string_agg(k, ', ' ORDER BY k) INTO renamed_from FROM jsonb_object_keys(t.tables) k
   WHERE NOT EXISTS (SELECT 1 FROM tdm.managed_table m WHERE m.rel::text = k)
     AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = to_regclass(k) AND c.relkind IN ('r', 'p'));
  SELECT string_agg(m.rel::text, ', ' ORDER BY m.rel::text) INTO renamed_to FROM tdm.managed_table m
   WHERE NOT t.tables ? m.rel::text AND m.managed_at <= t.started_at;
  IF renamed_from IS NOT NULL AND renamed_to IS NOT NULL THEN
    RAISE EXCEPTION 'promote: run % of release % loaded %, and no managed table has that name now (% is not in the run)',
      t.run_id, the_release, renamed_from, renamed_to
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = 'A managed table was renamed since the consolidation.',
            HINT = 'Give it back its name; or, once the environments hold it under the new name too, tag the'
                   ' release again and consolidate it.';
  END IF;
  -- A table the run loaded rows into, unmanaged since (or dropped): the
  -- copy is of managed tables, and would leave its rows out without a word.
  SELECT string_agg(format('%s row(s) into %s', k.value ->> 'loaded', k.key), ', ' ORDER BY k.key)
    INTO unmanaged FROM jsonb_each(t.tables) k
   WHERE (k.value ->> 'loaded')::bigint > 0
     AND NOT EXISTS (SELECT 1 FROM tdm.managed_table m WHERE m.rel::text = k.key);
  IF unmanaged IS NOT NULL THEN
    RAISE EXCEPTION 'promote: run % of release % loaded % (managed no more): they would be left out',
      t.run_id, the_release, unmanaged
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = 'A table was unmanaged (tdm.unmanage_table) or dropped since the consolidation.',
            HINT = format('Manage it again (tdm.manage_table, with the keys it had), then promote; or, to leave'
                          ' its rows out of the release, tag it again and consolidate it'
                          ' (SELECT tdm.tag_release(%L);).', the_release);
  END IF;
  PERFORM tdm._require_promoted_tables('promote', to_target);
  created := tdm._create_target_tables(from_target, to_target);
  PERFORM tdm._require_privileges('promote', to_target, '{SELECT,INSERT}');
  PERFORM tdm._require_same_columns('promote', from_target, false);
  PERFORM tdm._require_same_columns('promote', to_target, true);
  PERFORM tdm._warn_constraints_lacking('promote', from_target, to_target);

  -- The source holds the release's rows as its consolidation loaded them:
  -- a rollback of that target, or a write, since then would promote other
  -- rows (or none).
  PERFORM tdm._progress(job, 'check');
  FOR n, examples IN
    SELECT t.run_id, jsonb_build_object('table', x.rel::text, 'loaded', t.tables -> x.managed::text -> 'loaded',
                                        'holds', c.row_count, 'managed', x.managed::text,
                                        -- (its columns when the release was locked, if they changed since)
                                        'then', (SELECT l.shape FROM tdm.release_lock l
                                                  WHERE l.release = the_release AND l.rel = x.managed
                                                    AND l.shape IS DISTINCT FROM tdm._shape(x.managed)
                                                  LIMIT 1))
      FROM tdm._target_tables(from_target) x
     CROSS JOIN LATERAL tdm._release_checksum(x.rel, x.managed, x.release_column, the_release, true, x.rel) c
     WHERE coalesce((t.tables -> x.managed::text ->> 'loaded')::bigint, 0) <> c.row_count
        OR coalesce(t.tables -> x.managed::text ->> 'checksum', '0') <> c.checksum
     ORDER BY x.step LIMIT 1 LOOP
    -- A migration of the table since (a column added, say) changes every
    -- row's checksum: said as the migration, with what it takes.
    IF examples ->> 'then' IS NOT NULL THEN
      RAISE EXCEPTION 'promote: the columns of % changed since release % was tagged; its run % loaded its rows as they were',
        examples ->> 'managed', the_release, n
        USING ERRCODE = 'object_not_in_prerequisite_state',
              DETAIL = format('Then: %s. Now: %s.', examples ->> 'then', tdm._shape((examples ->> 'managed')::regclass)),
              HINT = format('Undo the change; or, once the environments and master have it too, tag the release'
                            ' again (SELECT tdm.tag_release(%L);), consolidate it (%s), then promote it.',
                            the_release, tdm._consolidate_call(the_release, from_target));
    END IF;
    RAISE EXCEPTION 'promote: % holds % row(s) of release %, not the % its run % loaded%',
      examples ->> 'table', examples ->> 'holds', the_release, coalesce(examples ->> 'loaded', '0'), n,
      CASE WHEN examples ->> 'holds' = examples ->> 'loaded' THEN ' (the same count, other values)' ELSE '' END
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = format('%s changed since the consolidation: a rollback of %s, or a write to it.',
                            from_target, from_target),
            HINT = format('Consolidate it again (%s), then promote it.',
                          tdm._consolidate_call(the_release, from_target));
  END LOOP;

  -- Collisions with earlier releases' rows, on every unique index of master.
  FOR t IN SELECT o.rel, m.release_column, tdm._target_table(from_target, o.rel) AS source,
                  tdm._target_table(to_target, o.rel) AS dest,
                  ci.relname AS index_name,
                  ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(n, o2)
                          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n
                         WHERE k.o2 <= i.indnkeyatts ORDER BY k.o2) AS cols
             FROM tdm._table_order() o JOIN tdm.managed_table m ON m.rel = o.rel
             JOIN pg_index i ON i.indrelid = tdm._target_table(to_target, o.rel)
             JOIN pg_class ci ON ci.oid = i.indexrelid
            WHERE i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
            ORDER BY o.step, ci.relname LOOP
    EXECUTE format('SELECT count(*), jsonb_agg(z.key) FILTER (WHERE z.n <= 3) FROM ('
                   ' SELECT %s AS key, row_number() OVER () AS n FROM %s s WHERE s.%I = $1'
                   ' AND EXISTS (SELECT 1 FROM %s x WHERE %s AND x.%I IS DISTINCT FROM $1)) z',
                   tdm._key_json(t.dest, t.cols, 's'), t.source, t.release_column, t.dest,
                   tdm._columns_match(t.dest, t.cols, 'x', 's'),
                   t.release_column)
      INTO n, examples USING the_release;
    IF n > 0 THEN
      RAISE WARNING 'promote: % row(s) of % collide with earlier releases in % on %: %',
        n, t.source, t.dest, t.index_name, examples;
      collisions := collisions + n;
    END IF;
  END LOOP;
  IF collisions > 0 THEN
    RAISE EXCEPTION 'promote: % row(s) of release % collide with earlier releases'' rows in %; nothing was promoted',
      collisions, the_release, to_target
      USING ERRCODE = 'unique_violation',
            HINT = format('Master changed since the release was consolidated: consolidate it again'
                          ' (SELECT tdm.consolidate(%L);), which checks its rows against master''s'
                          ' (and settles them as conflicts on the primary and natural keys), then'
                          ' promote it.', the_release);
  END IF;

  PERFORM tdm._progress(job, 'copy');
  PERFORM tdm._audit_reserve();
  BEGIN
    copied := tdm._copy_release(the_release, from_target, to_target);
  EXCEPTION
    -- The source changed while it was copied (the release tagged and
    -- consolidated again meanwhile), or, under REPEATABLE READ, another
    -- promote's rows arrived after this snapshot: say so, not what the
    -- copy's check or the unique index says.
    WHEN data_corrupted OR integrity_constraint_violation OR data_exception THEN
      GET STACKED DIAGNOSTICS refused = RETURNED_SQLSTATE, refused_message = MESSAGE_TEXT,
                              refused_detail = PG_EXCEPTION_DETAIL, refused_schema = SCHEMA_NAME,
                              refused_table = TABLE_NAME, refused_constraint = CONSTRAINT_NAME;
      IF refused IN ('XX001', '23505')
         AND ((SELECT x.status <> 'consolidated' OR x.locked_at IS DISTINCT FROM r.locked_at
                 FROM tdm.release x WHERE x.release = the_release)
              OR current_setting('transaction_isolation') <> 'read committed') THEN
        RAISE EXCEPTION 'promote: release "%" changed while it was being promoted; nothing was promoted',
          the_release
          USING ERRCODE = 'serialization_failure',
                HINT = format('Promote it again (SELECT tdm.promote(%L);) in a transaction of its own'
                              ' (READ COMMITTED), once other calls on it have ended.', the_release);
      END IF;
      IF refused = 'XX001' THEN
        RAISE;
      END IF;
      -- A table of the destination that refuses a row staging took: a
      -- constraint, index or partitioning staging lacks; or, for a unique
      -- or exclusion constraint the check above does not read (partial,
      -- on expressions, exclusion), rows of other releases there.
      -- (The hint first: the call's text is its error's CONTEXT.)
      IF refused = '23503' THEN
        BEGIN  -- (a hint's: whatever it meets, the refusal is said)
          holders := tdm._referenced_releases(the_release, from_target, to_target,
                                              to_regclass(format('%I.%I', refused_schema, refused_table)),
                                              refused_constraint);
        EXCEPTION WHEN OTHERS THEN
          holders := NULL;
        END;
        left_by := 'rows ' || tdm._failed_runs_left(holders, from_target)
                   || format(' loaded into %s, failed by a rollback of %s since (tdm.run; %s holds the rows of an'
                             ' earlier run)', from_target, to_target, to_target);
      END IF;
      -- (A unique or exclusion constraint only the destination has:
      -- validation did not check it, and two rows of the release itself
      -- may break it.)
      dest_only := refused IN ('23505', '23P01') AND NOT EXISTS (
        SELECT FROM pg_constraint s, pg_constraint d
         WHERE d.conrelid = to_regclass(format('%I.%I', refused_schema, refused_table))
           AND d.conname = refused_constraint
           AND s.conrelid = to_regclass(format('%I.%I', from_target, refused_table))
           AND pg_get_constraintdef(s.oid) = pg_get_constraintdef(d.oid))
        AND EXISTS (SELECT FROM pg_constraint d
                     WHERE d.conrelid = to_regclass(format('%I.%I', refused_schema, refused_table))
                       AND d.conname = refused_constraint);
      refused_hint := CASE WHEN dest_only
                      THEN format('%1$s.%2$s has constraint %3$s and %4$s.%2$s has not: validation did not check'
                                  ' it, and the row it conflicts with may be another of release %5$s as well as'
                                  ' one of another release. Add the constraint to %4$s.%2$s and consolidate'
                                  ' again (%6$s), which names every row that breaks it; or drop it from %1$s;'
                                  ' then promote again.',
                                  quote_ident(refused_schema), quote_ident(refused_table), quote_ident(refused_constraint),
                                  quote_ident(from_target), the_release, tdm._consolidate_call(the_release, from_target))
                      WHEN refused IN ('23505', '23P01')
                      THEN format('The row it conflicts with is in %1$s: a row of another'
                                  ' release written there since the consolidation, or one'
                                  ' only %1$s''s constraint or index compares. Change one'
                                  ' of the two rows (the release''s in its environment, then'
                                  ' tag and consolidate it again), or make %1$s''s table'
                                  ' accept what %2$s''s does; then promote again.',
                                  to_target, from_target)
                      -- (the rows it references are in from_target, of releases
                      -- promoted into to_target, which lost them since: deleted
                      -- there by hand; promoting those again is refused)
                      WHEN holders IS NOT NULL AND NOT EXISTS (
                             SELECT FROM unnest(holders) AS h(release) LEFT JOIN tdm.release r2 USING (release)
                              WHERE r2.status IS DISTINCT FROM 'promoted' AND r2.status IS DISTINCT FROM 'deployed'
                                AND r2.status IS DISTINCT FROM 'rolled_back'
                                 OR tdm._promoted_to(h.release) IS DISTINCT FROM to_target) THEN
                        format('The rows it references are in %1$s, of %2$s, promoted into %3$s, which %7$s'
                               ' them: %5$sthey were deleted from %3$s since. Put them back into %3$s (copy'
                               ' them from %1$s, or roll %3$s back to a snapshot that holds them: tdm.snapshot),'
                               ' then promote %4$s again.%6$s',
                               from_target, (SELECT string_agg(format('release %s', h.release), ', '
                                                               ORDER BY h.release)
                                               FROM unnest(holders) AS h(release)),
                               to_target, the_release,
                               -- (a later run of theirs loaded them, and a rollback of
                               -- to_target failed it: its rows stay in from_target,
                               -- decision 183)
                               CASE WHEN left_by IS NOT NULL THEN 'either they are ' || left_by || ', or ' END,
                               CASE WHEN left_by IS NOT NULL
                                    THEN format(' Or, rows of a failed run: delete them from %1$s (children first),'
                                                ' tag the rows they came from for %2$s if they are to go to %3$s, and'
                                                ' consolidate %2$s again.', from_target, the_release, to_target)
                                    ELSE '' END,
                               CASE WHEN left_by IS NOT NULL THEN 'does not hold' ELSE 'no longer holds' END)
                      -- (the rows it references are in from_target, of releases not
                      -- in to_target: named, with their statuses)
                      WHEN holders IS NOT NULL THEN
                        (SELECT format('The rows it references are in %1$s, of %2$s, and not in %3$s:'
                                       ' promote %4$s first%5$s, then promote %6$s again.',
                                       from_target,
                                       string_agg(format('release %s (%s)', x.release, x.status), ', '
                                                  ORDER BY x.release),
                                       to_target, CASE WHEN count(*) = 1 THEN 'it' ELSE 'them' END,
                                       CASE WHEN count(*) = 1 AND min(x.status) = 'consolidated'
                                            THEN format(' (SELECT tdm.promote(%L);)', min(x.release))
                                            WHEN count(*) = 1 AND min(x.status) IN ('open', 'locked')
                                            THEN ' (tagged since its consolidation: consolidate it again, then promote it)'
                                            ELSE ' (consolidated again first where tagged since)' END,
                                       the_release)
                           FROM (SELECT h.release, coalesce(r2.status, 'unknown') AS status
                                   FROM unnest(holders) AS h(release)
                                   LEFT JOIN tdm.release r2 ON r2.release = h.release) x)
                      -- (a parent of an earlier release taken out since the consolidation)
                      -- (or of one consolidated there and not promoted yet)
                      WHEN refused = '23503' THEN
                        format('A row it references is not in %1$s: one of a release archived or'
                               ' rolled back out of it since the consolidation%2$s, or one only'
                               ' %3$s holds%5$s. Bring that release back%4$s, or promote that'
                               ' one first%6$s, then promote again.%7$s',
                               to_target,
                               (SELECT ' (archived: ' || string_agg(x.release, ', ' ORDER BY x.release) || ')'
                                  FROM tdm.release x WHERE x.status = 'archived'),
                               from_target,
                               (SELECT format(' (SELECT tdm.restore_release(%L);)', min(x.release))
                                  FROM tdm.release x WHERE x.status = 'archived'
                                 HAVING count(*) = 1),
                               (SELECT ' (consolidated, not promoted: ' || string_agg(x.release, ', ' ORDER BY x.release) || ')'
                                  FROM tdm.release x WHERE x.status = 'consolidated' AND x.release <> the_release
                                   AND tdm._latest_run(x.release, from_target) IS NOT NULL),
                               (SELECT format(' (SELECT tdm.promote(%L);)', min(x.release))
                                  FROM tdm.release x WHERE x.status = 'consolidated' AND x.release <> the_release
                                   AND tdm._latest_run(x.release, from_target) IS NOT NULL
                                 HAVING count(*) = 1),
                               -- (or one promoted into another target)
                               (SELECT ' Promoted into another target: '
                                       || string_agg(format('%s (into %s)', x.release, tdm._promoted_to(x.release)),
                                                     ', ' ORDER BY x.release) || '.'
                                  FROM tdm.release x
                                 WHERE x.status IN ('promoted', 'deployed')
                                   AND tdm._promoted_to(x.release) IS DISTINCT FROM to_target))
                      -- (a CHECK staging holds NOT VALID: added after the rows were loaded)
                      WHEN refused = '23514' AND EXISTS (
                             SELECT FROM pg_constraint s
                              WHERE s.conrelid = to_regclass(format('%I.%I', from_target, refused_table))
                                AND s.conname = refused_constraint AND NOT s.convalidated) THEN
                        format('%1$s.%2$s holds constraint %3$s NOT VALID: release %4$s''s rows there were loaded'
                               ' before it was added, and break it; %5$s checks every row written. Change those'
                               ' rows (in the environments, then tag and consolidate again), or the constraint'
                               ' (in %1$s and %5$s alike); then promote again.',
                               quote_ident(from_target), quote_ident(refused_table), quote_ident(refused_constraint),
                               the_release, quote_ident(to_target))
                      ELSE format('Make %s''s table accept what %s''s does (add the partition,'
                                  ' or change the constraint or index), then promote again.',
                                  to_target, from_target) END;
      PERFORM tdm._raise_refused('promote', format('a row of release %s', the_release), refused,
                                 refused_message, refused_detail, refused_schema, refused_table, to_target,
                                 'nothing was promoted', refused_hint);
    WHEN raise_exception OR undefined_function OR undefined_table OR undefined_object THEN
      -- Code of the destination's own (a trigger, a function a constraint
      -- or an index calls) refused a row, or did not find a name.
      GET STACKED DIAGNOSTICS refused = RETURNED_SQLSTATE, refused_message = MESSAGE_TEXT,
                              refused_detail = PG_EXCEPTION_DETAIL, refused_hint = PG_EXCEPTION_HINT,
                              refused_context = PG_EXCEPTION_CONTEXT;
      PERFORM tdm._raise_own_code('promote', format('the copy of release %s into %s', the_release, to_target),
                                  to_target, 'Nothing was promoted',
                                  'Change the code, or the rows (in the environments, then tag and consolidate'
                                  ' again), and promote again.',
                                  4, refused_message, refused_detail, refused_hint, refused_context, refused);
  END;
  -- (Tagged again while the rows were copied: they are not the release's
  -- any more; nothing is promoted.)
  UPDATE tdm.release x SET status = 'promoted'
   WHERE x.release = the_release AND x.status = 'consolidated' AND x.locked_at IS NOT DISTINCT FROM r.locked_at;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'promote: release "%" was tagged again while it was being promoted; nothing was promoted',
      the_release
      USING ERRCODE = 'serialization_failure',
            HINT = format('Consolidate it again (SELECT tdm.consolidate(%L);), then promote it.', the_release);
  END IF;
  UPDATE tdm.job j SET status = 'completed', finished_at = clock_timestamp(),
                       detail = j.detail || jsonb_build_object('rows', copied, 'tables_created', created,
                                                               'tables', (SELECT jsonb_agg(jsonb_build_object(
                                                                                   'oid', x.managed::oid,
                                                                                   'name', x.managed::text))
                                                                            FROM tdm._target_tables(to_target) x))
   WHERE j.job_id = job;
  PERFORM tdm._audit('promote', the_release, jsonb_build_object(
    'job_id', job, 'from', from_target, 'to', to_target, 'rows', copied));
  RETURN job;
EXCEPTION WHEN lock_not_available THEN
  PERFORM tdm._lock_wait_ended('promote', format('the promotion of %s', the_release),
                               NULL,
                               ARRAY[from_target, to_target],
                               'Nothing was promoted.', SQLERRM);
  RAISE;
END
$$;

-- Rows per release and cumulative per table in master, releases in the
-- order they were created (coverage growth: R1 500, R2 +150 = 650, ...).
CREATE FUNCTION tdm._release_rows(target text DEFAULT 'master')
RETURNS TABLE (release text, rel regclass, rows bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  m tdm.managed_table;
  dest regclass;
BEGIN
  FOR m IN SELECT * FROM tdm.managed_table ORDER BY managed_table.rel::text LOOP
    dest := tdm._target_table(target, m.rel);
    CONTINUE WHEN dest IS NULL;
    IF NOT (has_schema_privilege((SELECT c.relnamespace FROM pg_class c WHERE c.oid = dest), 'USAGE')
            AND has_table_privilege(dest, 'SELECT')) THEN
      RAISE EXCEPTION 'release_stats: counting the rows of % takes USAGE on its schema and SELECT on it, which % lacks',
        dest, current_user
        USING ERRCODE = 'insufficient_privilege',
              HINT = format('tdm_admin has them (tdm.release and tdm.run say where each release is); else its'
                            ' owner grants them: GRANT USAGE ON SCHEMA %s TO %s; GRANT SELECT ON %s TO %s;',
                            quote_ident(target), quote_ident(current_user), dest, quote_ident(current_user));
    END IF;
    RETURN QUERY EXECUTE format('SELECT %I::text, $1, count(*) FROM %s GROUP BY 1',
                                m.release_column, dest) USING m.rel;
  END LOOP;
END
$$;

CREATE VIEW tdm.release_stats AS
  SELECT r.release, x.rel, coalesce(x.rows, 0) AS rows,
         sum(coalesce(x.rows, 0)) OVER (PARTITION BY x.rel ORDER BY r.created_at, r.release)::bigint
           AS cumulative_rows
    FROM tdm.release r
    JOIN tdm._release_rows() x ON x.release = r.release
   ORDER BY x.rel::text, r.created_at, r.release;
COMMENT ON VIEW tdm.release_stats IS 'Rows per release and cumulative, per table, in master';

-- The archive table of a release's rows of one table, <release>__<table>.
-- A name cut to fit ends with a hash of the release and the table: two
-- long release names that begin alike get two tables (with the table's
-- OID, they shared one, and archiving the second dropped the first's
-- rows), and a dump restored elsewhere, where OIDs differ, still finds
-- its archive. So does a release whose name holds `__` or ends with `_`,
-- where the name alone does not tell the release from the table (release
-- P's table a__b and release P__a's table b).
CREATE FUNCTION tdm._archive_table(release text, rel regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT format('tdm_archive.%I',
                CASE WHEN release ~ '(__|_$)' THEN tdm._fitted_name(x.name || '_' || x.uniq, x.uniq)
                     ELSE tdm._fitted_name(x.name, x.uniq) END)
    FROM pg_class c
   CROSS JOIN LATERAL (SELECT release || '__' || c.relname AS name,
                              left(md5(quote_ident(release) || '.' || quote_ident(c.relname)), 12) AS uniq) x
   WHERE c.oid = rel
$$;

-- Moves a release's rows out of master into tdm_archive (counts and
-- checksums checked); refused while later releases' rows reference them
-- (the foreign keys say which).
CREATE FUNCTION tdm.archive_release(release text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
#variable_conflict use_variable
DECLARE
  r tdm.release := tdm._require_release_inputs(release, 'archive_release');
  t record;
  deletes text[] := '{}';
  before record;
  after record;
  archived bigint := 0;
  archive_tables jsonb := '{}';  -- each archive table, with the table whose rows it holds
  refused_state text;  -- a trigger's refusal: SQLSTATE, message, detail, hint, context
  refused_message text;
  refused_detail text;
  refused_hint text;
  refused_context text;
BEGIN
  PERFORM tdm._refuse_replica_role('archive_release');
  r := tdm._release_turn(release);
  IF tdm._presence(r.status) <> 'target' THEN
    RAISE EXCEPTION 'archive_release: release "%" is not in master (it is %)', release, r.status
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Only promoted releases are archived.';
  END IF;
  -- (Master must hold every table the release's rows went into: one
  -- renamed since would keep its rows while the release reads archived.)
  PERFORM tdm._require_promoted_tables('archive_release', 'master');
  -- (policies would hide rows from the copy, the delete and the checks)
  PERFORM tdm._refuse_row_security('archive_release', 'master');
  -- (The audit's head before master's tables and the release's rows there,
  -- decision 120, not waiting long for those while holding it.)
  PERFORM tdm._head_then_lock(
    ARRAY(SELECT 'LOCK TABLE ' || string_agg(x.rel::text, ', ') || ' IN ROW EXCLUSIVE MODE'
            FROM tdm._target_tables('master') x)
    || ARRAY(SELECT format('SELECT FROM %s WHERE %I = $1 FOR UPDATE', x.rel, x.release_column)
               FROM tdm._target_tables('master') x ORDER BY x.step),
    release);
  FOR t IN SELECT x.managed AS rel, x.step, x.release_column, x.rel AS dest
             FROM tdm._target_tables('master') x ORDER BY x.step LOOP
    -- (a copy an earlier archiving left, before a restore or a rollback
    -- brought the release back: replaced)
    IF to_regclass(tdm._archive_table(release, t.rel)) IS NOT NULL THEN
      EXECUTE format('DROP TABLE %s', tdm._archive_table(release, t.rel));
    END IF;
    EXECUTE format('CREATE TABLE %s AS SELECT * FROM %s WHERE %I = $1',
                   tdm._archive_table(release, t.rel), t.dest, t.release_column) USING release;
    PERFORM tdm._share_with_admins(tdm._archive_table(release, t.rel)::regclass);
    -- (Whose rows it holds, for restore_release: a table renamed since
    -- would not find its archive by name.)
    archive_tables := archive_tables || jsonb_build_object(tdm._archive_table(release, t.rel), jsonb_build_object(
      'table', (SELECT c.relname FROM pg_class c WHERE c.oid = t.rel),
      'oid', to_regclass(tdm._archive_table(release, t.rel))::oid));
    before := tdm._release_checksum(t.dest, t.rel, t.release_column, release);
    after := tdm._release_checksum(tdm._archive_table(release, t.rel)::regclass, t.rel,
                                   t.release_column, release);
    IF before.row_count <> after.row_count OR before.checksum <> after.checksum THEN
      RAISE EXCEPTION 'archive_release: the copy of % differs', t.dest USING ERRCODE = 'data_corrupted';
    END IF;
    archived := archived + before.row_count;
    deletes := deletes || format('d%s AS (DELETE FROM %s WHERE %I = $1)', t.step, t.dest,
                                 t.release_column);
  END LOOP;
  -- (Known from the copies, not from a scan of master first: nothing of
  -- this transaction is left when it is refused.)
  IF archived = 0 THEN
    RAISE EXCEPTION 'archive_release: master holds no row of release "%"', release
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Releases are archived from master; this one was promoted to another schema'
                   ' (tdm.promote''s to_target), or holds no rows.';
  END IF;
  -- Foreign keys that would not refuse the delete (ON DELETE CASCADE, SET
  -- NULL or SET DEFAULT) would delete or change other releases' rows, which
  -- no restore brings back; a deferred one would refuse only at commit:
  -- refused here as the others are.
  PERFORM tdm._refuse_referenced_delete('archive_release', 'master', release, 'archiving',
                                        'Archive the releases that reference it first.', false);
  PERFORM tdm._refuse_rules_in_with('archive_release', ARRAY(SELECT x.rel FROM tdm._target_tables('master') x));
  BEGIN
    EXECUTE format('WITH %s SELECT 1', array_to_string(deletes, ', ')) USING release;
    PERFORM tdm._refuse_kept_rows('archive_release', 'master', release, 'archiving deletes', 'Nothing was archived');
  EXCEPTION WHEN foreign_key_violation THEN
    -- (The deletes undone: which releases reference the rows, by key.)
    PERFORM tdm._refuse_referenced_delete('archive_release', 'master', release, 'archiving',
                                          'Archive the releases that reference it first.', true);
    RAISE EXCEPTION 'archive_release: rows of other releases in master reference release %''s rows',
      release USING ERRCODE = 'foreign_key_violation', DETAIL = SQLERRM,
                    HINT = 'Archive the releases that reference it first.';
  WHEN raise_exception OR undefined_function OR undefined_table OR undefined_object THEN
    GET STACKED DIAGNOSTICS refused_state = RETURNED_SQLSTATE, refused_message = MESSAGE_TEXT,
                            refused_detail = PG_EXCEPTION_DETAIL, refused_hint = PG_EXCEPTION_HINT,
                            refused_context = PG_EXCEPTION_CONTEXT;
    PERFORM tdm._raise_own_code('archive_release', format('deleting release %s''s rows from master', release),
                                'master', 'Nothing was archived',
                                'Disable that trigger while archiving (ALTER TABLE ... DISABLE TRIGGER ...),'
                                ' archive again, then enable it.', 8, refused_message, refused_detail,
                                refused_hint, refused_context, refused_state);
  END;
  UPDATE tdm.release x SET status = 'archived', archived_tables = archive_tables
   WHERE x.release = archive_release.release;
  PERFORM tdm._audit('archive_release', release, '{}');
EXCEPTION WHEN lock_not_available THEN
  PERFORM tdm._lock_wait_ended('archive_release', format('the archiving of %s', release),
                               NULL,
                               ARRAY['master', 'tdm_archive'],
                               'Nothing was archived.', SQLERRM);
  RAISE;
END
$$;

-- The columns a release's archive table gives back to master's table as
-- it is now (a migration since the archive): master's columns the archive
-- holds (by name), with master's type. A column master gained is left to
-- master (its default, identity or generated value); a column master no
-- longer has is refused by name, since restoring would drop its values.
CREATE FUNCTION tdm._restore_columns(release text, archived regclass, dest regclass)
RETURNS TABLE (column_name name, column_type text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  gone text;
BEGIN
  SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum) INTO gone
    FROM pg_attribute a
   WHERE a.attrelid = archived AND a.attnum > 0 AND NOT a.attisdropped
     AND NOT EXISTS (SELECT FROM pg_attribute m WHERE m.attrelid = dest AND m.attname = a.attname
                        AND m.attnum > 0 AND NOT m.attisdropped);
  IF gone IS NOT NULL THEN
    RAISE EXCEPTION 'restore_release: % has no column % any more, which the archive of release % holds',
      dest, gone, release
      USING ERRCODE = 'undefined_column',
            DETAIL = format('The archived rows are in %s.', archived),
            HINT = format('Add the column back to %s, or rename it in the archive as it was renamed in master'
                          ' (ALTER TABLE %s RENAME COLUMN ...), or drop it there to restore the rows'
                          ' without its values (ALTER TABLE %s DROP COLUMN ...).', dest, archived, archived);
  END IF;
  RETURN QUERY
  SELECT m.attname, format_type(m.atttypid, m.atttypmod)
    FROM pg_attribute m
   WHERE m.attrelid = dest AND m.attnum > 0 AND NOT m.attisdropped AND m.attgenerated = ''
     AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = archived AND a.attname = m.attname
                    AND a.attnum > 0 AND NOT a.attisdropped)
   ORDER BY m.attnum;
END
$$;

-- The archive tables a release's archiving listed (tdm.release.
-- archived_tables): each by its name then, the table whose rows it holds,
-- and the table now: by that name, or by its OID if the DBA renamed it
-- within tdm_archive since (NULL: gone).
CREATE FUNCTION tdm._listed_archives(listed jsonb) RETURNS TABLE (archive text, held text, now regclass)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT a.archive, a.v ->> 'table',
         coalesce(to_regclass(a.archive),
                  (SELECT c.oid::regclass FROM pg_class c
                    WHERE c.oid = (a.v ->> 'oid')::oid AND c.relnamespace = to_regnamespace('tdm_archive')))
    FROM jsonb_each(coalesce(listed, '{}')) AS a(archive, v)
$$;

-- The tables of master restore_release takes `release`'s rows back into,
-- each with its archive: the archive of its name, where it exists and,
-- when the release lists its archives (`listed`), is one of them (one an
-- earlier archiving left holds rows that were not archived this time).
CREATE FUNCTION tdm._restored_archives(release text, listed jsonb)
RETURNS TABLE (managed regclass, step int, dest regclass, release_column text, archived regclass)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT x.managed, x.step, x.rel, x.release_column, a.archived
    FROM tdm._target_tables('master') x
   CROSS JOIN LATERAL (SELECT to_regclass(tdm._archive_table(release, x.managed)) AS archived) a
   WHERE a.archived IS NOT NULL
     AND (listed IS NULL OR a.archived IN (SELECT l.now FROM tdm._listed_archives(listed) l))
   ORDER BY x.step
$$;

CREATE FUNCTION tdm.restore_release(release text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
#variable_conflict use_variable
DECLARE
  r tdm.release := tdm._require_release_inputs(release, 'restore_release');
  t record;
  inserts text[] := '{}';
  columns text;
  key_order text;
  from_archive text[];
  in_master text[];
  before_count bigint;
  before_sum text;
  after_count bigint;
  after_sum text;
  others text;  -- the other archived releases
  untaken_list text;  -- archives no table takes, and how many
  untaken bigint;
  rename text;     -- the rename that joins the one archive left to its table
  refused_table text;
  refused_state text;  -- code of master's own: SQLSTATE, message, detail, hint, context
  refused_message text;
  refused_detail text;
  refused_hint text;
  refused_context text;
  refused_schema text;  -- the schema and constraint of a row master refused
  refused_constraint text;
BEGIN
  PERFORM tdm._refuse_replica_role('restore_release');
  r := tdm._release_turn(release);
  IF r.status <> 'archived' THEN
    RAISE EXCEPTION 'restore_release: release "%" is not archived (it is %)', release, r.status
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = CASE WHEN tdm._presence(r.status) = 'target'
                        THEN format('Its rows are in %s already: restore_release puts back the rows of a release'
                                    ' tdm.archive_release took out of master.',
                                    coalesce(tdm._promoted_to(release), 'master'))
                        ELSE 'restore_release puts back the rows of a release tdm.archive_release took out of master;'
                             ' this one''s rows are not in master now (never promoted, or a rollback took them'
                             ' out): promote it (tdm.promote).' END;
  END IF;
  PERFORM tdm._refuse_row_security('restore_release', 'master');
  -- (The audit's head before master's tables, decision 120, not waiting
  -- long for those while holding it; nor for the rows the restored rows
  -- reference, which their foreign keys' checks lock FOR KEY SHARE.)
  PERFORM tdm._head_then_lock(
    ARRAY(SELECT 'LOCK TABLE ' || string_agg(x.rel::text, ', ') || ' IN ROW EXCLUSIVE MODE'
            FROM tdm._target_tables('master') x)
    || ARRAY(SELECT format('SELECT FROM %s p WHERE (%s) IN (SELECT %s FROM %s a) FOR KEY SHARE',
                           c.confrelid::regclass,
                           string_agg(format('p.%I', pa.attname), ', ' ORDER BY k.i),
                           string_agg(format('a.%I', ca.attname), ', ' ORDER BY k.i), ra.archived)
               FROM tdm._restored_archives(release, r.archived_tables) ra
               JOIN pg_constraint c ON c.conrelid = ra.dest AND c.contype = 'f' AND c.conparentid = 0
              CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(n, ref_n, i)
               JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.n
               JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.ref_n
               -- (the archive's columns as master's: else the restore's
               -- own checks say what changed)
               LEFT JOIN pg_attribute aa ON aa.attrelid = ra.archived AND aa.attname = ca.attname
                                        AND NOT aa.attisdropped AND aa.atttypid = ca.atttypid
              GROUP BY c.oid, c.confrelid, ra.archived
             HAVING bool_and(aa.attnum IS NOT NULL)));
  FOR t IN SELECT * FROM tdm._restored_archives(release, r.archived_tables) LOOP
    columns := (SELECT string_agg(format('%I', c.column_name), ', ')
                  FROM tdm._restore_columns(release, t.archived, t.dest) c);
    -- (In primary key order: identity values a column added since gives
    -- the rows, and the row a refusal names, do not depend on the
    -- archive's physical order.)
    key_order := (SELECT ' ORDER BY ' || string_agg(format('%I', a.attname), ', ' ORDER BY k.i)
                    FROM pg_index x CROSS JOIN unnest(x.indkey) WITH ORDINALITY AS k(attnum, i)
                    JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
                   WHERE x.indrelid = t.dest AND x.indisprimary
                     AND a.attname::text IN (SELECT c.column_name FROM tdm._restore_columns(release, t.archived, t.dest) c));
    inserts := inserts || format('i%s AS (INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s%s)',
                                 t.step, t.dest, columns, columns, t.archived, coalesce(key_order, ''));
  END LOOP;
  -- An archive of the release's last archiving that is gone (dropped or
  -- renamed away), or that no table of master takes (the table renamed
  -- or unmanaged since): restoring the others would leave its rows
  -- behind. (An archive the DBA renamed to join its table is found by its
  -- OID.)
  SELECT string_agg(format('%s (its rows of table %s)%s', l.archive, quote_ident(l.held),
                           CASE WHEN l.now IS NULL THEN ', which no longer exists' ELSE '' END),
                    ', ' ORDER BY l.archive),
         count(*) FILTER (WHERE l.now IS NOT NULL)
    INTO untaken_list, untaken
    FROM tdm._listed_archives(r.archived_tables) l
   WHERE l.now IS NULL
      OR l.now NOT IN (SELECT a.archived FROM tdm._restored_archives(release, r.archived_tables) a);
  IF untaken_list IS NOT NULL THEN
    -- (One archive left and one table of master without its archive: the
    -- rename that joins them.)
    SELECT format('ALTER TABLE %s RENAME TO %I;', l.now, (parse_ident(tdm._archive_table(release, x.managed)))[2])
      INTO rename
      FROM tdm._listed_archives(r.archived_tables) l, tdm._target_tables('master') x
     WHERE untaken = 1 AND l.now IS NOT NULL
       AND l.now NOT IN (SELECT a.archived FROM tdm._restored_archives(release, r.archived_tables) a)
       AND to_regclass(tdm._archive_table(release, x.managed)) IS NULL
       AND (SELECT count(*) FROM tdm._target_tables('master') z
             WHERE to_regclass(tdm._archive_table(release, z.managed)) IS NULL) = 1;
    RAISE EXCEPTION 'restore_release: % holds release %''s rows, and no table of master takes them now',
      untaken_list, release
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = 'Since the release was archived, its archive was dropped or renamed, or the table was'
                     ' renamed or is no longer managed; restoring the other tables would leave those rows behind.',
            HINT = coalesce('If it is the table renamed since: ' || rename || ' then restore again.',
                            'Give the archive or the table its name back, or manage the table again; then restore'
                            ' again.');
  END IF;
  IF cardinality(inserts) = 0 THEN
    RAISE EXCEPTION 'restore_release: no archive table of release "%" is in tdm_archive', release
      USING ERRCODE = 'undefined_table',
            HINT = format('Archiving kept its rows in %s and the like, one per table: they were dropped'
                          ' since, or a restored dump lacked them.',
                          (SELECT tdm._archive_table(release, x.managed) FROM tdm._target_tables('master') x
                            ORDER BY x.step LIMIT 1));
  END IF;
  PERFORM tdm._refuse_rules_in_with('restore_release', ARRAY(SELECT x.rel FROM tdm._target_tables('master') x));
  BEGIN
    EXECUTE format('WITH %s SELECT 1', array_to_string(inserts, ', '));
  EXCEPTION WHEN not_null_violation OR datatype_mismatch OR invalid_text_representation
              OR string_data_right_truncation OR numeric_value_out_of_range OR check_violation THEN
    -- (A migration of master since the archive that its rows do not fit;
    -- or a constraint master had NOT VALID when they were archived.)
    GET STACKED DIAGNOSTICS refused_table = TABLE_NAME, refused_detail = PG_EXCEPTION_DETAIL,
                            refused_schema = SCHEMA_NAME, refused_constraint = CONSTRAINT_NAME;
    refused_hint := coalesce(tdm._not_valid_hint(refused_schema, refused_table, refused_constraint, 'the archive',
                                                 'restore', format('SELECT tdm.restore_release(%L);', release)),
                             'Master changed since the release was archived: make its table accept the archived'
                             ' rows (a default for a new NOT NULL column, a type the old values convert to), or'
                             ' change the archive table in tdm_archive the same way; then restore again.');
    refused_message := format('restore_release: %s refused the archived rows of release %s: %s',
                              CASE WHEN refused_table <> '' THEN format('master.%I', refused_table) ELSE 'master' END,
                              release, SQLERRM);
    IF coalesce(refused_detail, '') = '' THEN  -- (an empty DETAIL would be shown)
      RAISE EXCEPTION '%', refused_message USING ERRCODE = SQLSTATE, HINT = refused_hint;
    END IF;
    RAISE EXCEPTION '%', refused_message USING ERRCODE = SQLSTATE, DETAIL = refused_detail, HINT = refused_hint;
  WHEN foreign_key_violation THEN
    -- (The archived releases of its lineage, which it may reference; else
    -- every other archived one.)
    others := coalesce((SELECT string_agg(x.release, ', ' ORDER BY x.release) FROM tdm.release x
                         WHERE x.status = 'archived' AND x.release <> restore_release.release
                           AND x.release = ANY (tdm._release_lineage(restore_release.release))),
                       (SELECT string_agg(x.release, ', ' ORDER BY x.release) FROM tdm.release x
                         WHERE x.status = 'archived' AND x.release <> restore_release.release));
    RAISE EXCEPTION 'restore_release: release %''s rows reference rows master does not hold', release
      USING ERRCODE = 'foreign_key_violation', DETAIL = SQLERRM,
            HINT = coalesce('Restore the archived releases it references first (archived: ' || others || ').',
                            'The rows it references were removed from master since it was archived.');
  WHEN raise_exception OR undefined_function OR undefined_table OR undefined_object THEN
    GET STACKED DIAGNOSTICS refused_state = RETURNED_SQLSTATE, refused_message = MESSAGE_TEXT,
                            refused_detail = PG_EXCEPTION_DETAIL, refused_hint = PG_EXCEPTION_HINT,
                            refused_context = PG_EXCEPTION_CONTEXT;
    PERFORM tdm._raise_own_code('restore_release', format('restoring release %s''s rows into master', release),
                                'master', 'Nothing was restored',
                                'Change the code (or disable the trigger while restoring), and restore again.',
                                4, refused_message, refused_detail, refused_hint, refused_context, refused_state);
  END;
  FOR t IN SELECT * FROM tdm._restored_archives(release, r.archived_tables) LOOP
    -- (The restored columns, as master's types hold them; what master
    -- computes or defaults itself is not compared.)
    SELECT array_agg(format('CAST(t.%I AS %s)', c.column_name, c.column_type)),
           array_agg(format('t.%I', c.column_name))
      INTO from_archive, in_master
      FROM tdm._restore_columns(release, t.archived::regclass, t.dest) c;
    EXECUTE format('SELECT (SELECT count(*) FROM %s t), (SELECT coalesce(sum(tdm._row_hash(%s)), 0)::text FROM %s t),'
                   ' (SELECT count(*) FROM %s t WHERE t.%I = $1),'
                   ' (SELECT coalesce(sum(tdm._row_hash(%s)), 0)::text FROM %s t WHERE t.%I = $1)',
                   t.archived, tdm._row_hash_args(from_archive), t.archived,
                   t.dest, t.release_column, tdm._row_hash_args(in_master), t.dest, t.release_column)
      INTO before_count, before_sum, after_count, after_sum USING release;
    IF before_count <> after_count OR before_sum <> after_sum THEN
      RAISE EXCEPTION 'restore_release: % did not come back whole', t.dest USING ERRCODE = 'data_corrupted',
        DETAIL = format('The archive holds %s row(s) of the release, %s holds %s%s.', before_count, t.dest,
                        after_count, CASE WHEN before_count = after_count THEN ', with other values' ELSE '' END);
    END IF;
    -- (The archive's copy stays: a rollback of master to a snapshot taken
    -- while the release was archived finds its rows there again.)
  END LOOP;
  -- (The list stays: a rollback to a snapshot taken while the release
  -- was archived makes it archived again, with those archives.)
  UPDATE tdm.release x SET status = tdm._status_in_target(release)
   WHERE x.release = restore_release.release;
  PERFORM tdm._audit('restore_release', release, '{}');
EXCEPTION WHEN lock_not_available THEN
  PERFORM tdm._lock_wait_ended('restore_release', format('the restore of %s', release),
                               NULL,
                               ARRAY['master', 'tdm_archive'],
                               'Nothing was restored.', SQLERRM);
  RAISE;
END
$$;
