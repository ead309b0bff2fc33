-- Collection (phase 2, first step): the rows tagged for a release, from
-- every environment, into temporary tables of the session. Nothing in the
-- environments is written; nothing durable is written here.

-- A 64-bit hash of the values given, on their binary form.
CREATE FUNCTION tdm._row_hash(VARIADIC "any") RETURNS bigint
AS 'MODULE_PATHNAME', 'tdm_row_hash' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- The row hashes' count and sum per environment slot since the last call
-- (which clears them), as tdm._collect_rows added them.
CREATE FUNCTION tdm._collect_totals()
RETURNS TABLE (slot int, row_count bigint, checksum text)
AS 'MODULE_PATHNAME', 'tdm_collect_totals' LANGUAGE C VOLATILE;

-- Collection's copy (C++): runs `query` ($1 = release), whose rows are
-- (environment slot, the managed table's columns), into the temporary
-- table `collected` (tdm_row_hash, the columns, tdm_env), hashing each row
-- into its slot's totals; batches of rows, as COPY inserts them. Returns
-- the rows inserted.
CREATE FUNCTION tdm._collect_rows(collected regclass, query text, release text, envs text[])
RETURNS bigint AS 'MODULE_PATHNAME', 'tdm_collect_rows' LANGUAGE C VOLATILE;

-- The temporary table that holds a managed table's collected rows.
CREATE FUNCTION tdm._collected_name(rel regclass) RETURNS name
LANGUAGE sql IMMUTABLE AS $$ SELECT ('tdm_collected_' || rel::oid)::name $$;

-- Refuses a locked release's rows of `lock`'s environment and table when
-- the target's columns changed since the lock (its shape then and now):
-- they no longer read as they were locked.
CREATE FUNCTION tdm._refuse_reshaped(r tdm.release, lock tdm.release_lock) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF lock.shape IS DISTINCT FROM tdm._shape(lock.rel) AND lock.shape IS NOT NULL THEN
    RAISE EXCEPTION '%.% was locked over the columns % had then, which changed since',
      lock.env, (SELECT relname FROM pg_class WHERE oid = lock.rel), lock.rel
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = format('Then: %s. Now: %s.', lock.shape, tdm._shape(lock.rel)),
            HINT = CASE WHEN tdm._presence(r.status) = 'neither'
                        THEN format('A migration of the target after tagging: tag the release again'
                                    ' (SELECT tdm.tag_release(%L);) once the environments and the target'
                                    ' agree.', r.release)
                        -- (A release in master is not tagged again.)
                        ELSE format('A migration of the target after release %s was %s: its rows are'
                                    ' where it put them, and it is not consolidated again. Put new rows'
                                    ' in a new release.', r.release, r.status) END;
  END IF;
END
$$;

-- Refuses a locked release's rows of `env`.`rel` that no longer read as
-- they were locked because a column changed type since (`drift` says how).
CREATE FUNCTION tdm._refuse_retyped(r tdm.release, env text, rel regclass, drift text, row_count bigint,
                                    retaggable bool) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RAISE EXCEPTION '%.% no longer reads as it was locked: its columns and the target''s differ now (%)',
    env, (SELECT relname FROM pg_class WHERE oid = rel), drift
    USING ERRCODE = 'object_not_in_prerequisite_state',
          DETAIL = format('Release %s was locked at %s over the columns as they were then (%s row%s): the values'
                          ' read into %s now may not be those locked (a value the target''s type rounds'
                          ' reads as before).', r.release, r.locked_at, row_count,
                          CASE WHEN row_count = 1 THEN '' ELSE 's' END, rel),
          HINT = format('A migration of the target or of the environment since tagging: migrate the'
                        ' other side the same way (or undo it)%s.',
                        CASE WHEN retaggable THEN format(', then run tdm.tag_release(%L) again', r.release)
                             ELSE '' END);
END
$$;

-- The columns of `rel` whose values the rows of `release` in environment
-- `env` read otherwise from one read to the next: a view there computing
-- them as they are read (clock_timestamp(), random()). Their rows never
-- match their lock, whatever tagging does. Read twice, in the
-- environment's one snapshot of this transaction, only when the lock's
-- check failed with the rows' count unchanged; a column is compared by
-- the sum of its values' hashes, as the lock compares rows.
CREATE FUNCTION tdm._unsteady_columns(env text, rel regclass, release text, fills jsonb) RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  columns text[] := ARRAY(SELECT c.column_name FROM tdm._columns(rel) c ORDER BY c.ordinal);
  sums text := format('SELECT ARRAY[%s] FROM %s t WHERE t.%I = $1',
                      (SELECT string_agg(format('coalesce(sum(tdm._row_hash(%s)), 0)::text',
                                                coalesce(fills->>c, format('t.%I', c))), ', ')
                         FROM unnest(columns) c),
                      tdm._env_table(env, rel),
                      (SELECT m.release_column FROM tdm.managed_table m WHERE m.rel = _unsteady_columns.rel));
  first_read text[];
  second_read text[];
BEGIN
  EXECUTE sums INTO first_read USING release;
  EXECUTE sums INTO second_read USING release;
  RETURN ARRAY(SELECT columns[i] FROM generate_subscripts(columns, 1) i
                WHERE first_read[i] IS DISTINCT FROM second_read[i] ORDER BY i);
END
$$;

-- A statement that reads environment `env`'s rows of a release ($1) of
-- table `rel` whole, every column through the target's type (`drift`:
-- how the environment's table differs, tdm._env_drift), and counts them:
-- run alone, it says which environment a failed read of several was.
CREATE FUNCTION tdm._env_release_read(env text, rel regclass, drift jsonb) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT format('SELECT count(s) FROM (SELECT %s FROM %s t WHERE t.%I = $1) s',
                tdm._env_select_list(m.rel, tdm._fills(drift, m.rel)), tdm._env_table(env, m.rel), m.release_column)
    FROM tdm.managed_table m WHERE m.rel = _env_release_read.rel
$$;

-- Raises an error an environment's server raised while collection read
-- table `rel` of several environments at once (tdm._raise_remote), naming
-- the environment: each one's rows of the release read alone (`drifts`:
-- each environment's tdm._env_drift). Returns when the error was not an
-- environment's own.
CREATE FUNCTION tdm._raise_env_failure(release text, rel regclass, envs text[], drifts jsonb, state text,
                                       message text, context text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  probe_state text;
  probe_message text;
  probe_context text;
BEGIN
  IF coalesce(context, '') NOT LIKE '%remote SQL command%' THEN
    RETURN;
  END IF;
  FOR i IN 1 .. cardinality(envs) LOOP
    BEGIN
      EXECUTE tdm._env_release_read(envs[i], rel, drifts->envs[i]) USING release;
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS probe_state = RETURNED_SQLSTATE, probe_message = MESSAGE_TEXT,
                              probe_context = PG_EXCEPTION_CONTEXT;
      PERFORM tdm._raise_remote('collect', envs[i], rel::text, probe_state, probe_message, probe_context);
    END;
  END LOOP;
  PERFORM tdm._raise_remote('collect', NULL, format('%s in one of %s', rel, array_to_string(envs, ', ')),
                            state, message, context);
END
$$;

-- Collects every managed table's rows tagged for `release`: one copy per
-- table (tdm._collect_rows) of a UNION ALL over the environments' foreign
-- tables, so their async-capable scans run concurrently. Each row keeps its
-- environment and a row hash; a locked release's rows are checked against
-- the lock (count and checksum per environment and table), then masked
-- (tdm.mask).
CREATE FUNCTION tdm._collect(release text)
RETURNS TABLE (rel regclass, collected regclass, row_count bigint, by_env jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
-- (as its callers pin them: one called by hand reads values alike)
SET DateStyle TO 'ISO, YMD' SET IntervalStyle TO 'postgres' SET TimeZone TO 'UTC' SET bytea_output TO 'hex' SET lc_monetary TO 'C'
SET xmloption TO 'content' SET array_nulls TO on SET extra_float_digits TO 1 AS $$
#variable_conflict use_variable
DECLARE
  r tdm.release := tdm._require_release_inputs(release, 'collect');
  m tdm.managed_table;
  e tdm.environment;
  envs text[] := ARRAY(SELECT name FROM tdm.environment ORDER BY precedence, name);
  env_rel regclass;
  env_name text;
  missing text;
  table_missing bool;
  retyped text;
  failed_state text;
  failed_message text;
  failed_context text;
  probe_message text;  -- (an environment read alone, to name the one that failed)
  refusal_hint text;  -- (a value the target's type refuses)
  drift text;  -- how the environment's columns differ from the target's
  unsteady text[];  -- columns that read otherwise at every read
  all_rels regclass[] := ARRAY(SELECT t.rel FROM tdm.managed_table t ORDER BY t.rel::text);
  drifts jsonb := '{}';  -- each environment's tdm._env_drift, by its name
  branches text[];
  temp_name name;
  got record;
  lock tdm.release_lock;
  -- (Past consolidation, a release is not tagged again: its lock
  -- messages send nobody to tdm.tag_release, which refuses it.)
  retaggable bool := tdm._presence(r.status) = 'neither';
BEGIN
  -- The environments' foreign tables follow the targets' columns (recreated
  -- only where a target changed). Each environment's catalog is read once
  -- (a round trip each): how its tables differ from the targets
  -- (tdm._env_drift), and so which columns it lacks and its rows are read
  -- without (tdm._fills).
  PERFORM tdm._refuse_environment_twins('collect');
  FOREACH env_name IN ARRAY envs LOOP
    PERFORM tdm._refresh_environment(env_name);
    drifts := drifts || jsonb_build_object(env_name, tdm._env_drift(env_name, all_rels));
  END LOOP;
  -- (A target column an environment lacks, beside one of its type the
  -- target lacks: a rename, perhaps, whose values would load as NULL.
  -- Tagging warned; said again here, where the rows are loaded.)
  FOR got IN SELECT env_drift.key AS env, d ->> 'detail' AS detail
               FROM jsonb_each(drifts) env_drift CROSS JOIN LATERAL jsonb_array_elements(env_drift.value) d
              WHERE d ->> 'fill' IS NOT NULL AND d ->> 'detail' LIKE '%: renamed?'
              ORDER BY 1, 2 LOOP
    RAISE WARNING 'collect: %', got.detail
      USING HINT = 'If the column was renamed, rename it in the environments too and tag the release again:'
                   ' as they are, its values are not loaded.';
  END LOOP;
  -- The lock holds rows of an environment that is no longer registered:
  -- they would be left out without a word.
  IF r.status <> 'open' THEN
    SELECT l.env, sum(l.row_count) AS n INTO got FROM tdm.release_lock l
     WHERE l.release = r.release AND l.row_count > 0 AND l.env <> ALL (envs)
     GROUP BY l.env ORDER BY l.env LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION 'release % was locked with % row(s) of environment %, which is no longer registered',
        r.release, got.n, got.env
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = CASE WHEN retaggable
                          THEN format('Register it again (tdm.add_environment), or tag the release again'
                                      ' without it: SELECT tdm.tag_release(%L);', r.release)
                          ELSE 'Register it again (tdm.add_environment): its rows are part of what the'
                               ' release holds.' END;
    END IF;
    -- The same for a table managed no more (unmanaged, or dropped).
    SELECT l.rel::oid AS rel, sum(l.row_count) AS n INTO got FROM tdm.release_lock l
     WHERE l.release = r.release AND l.row_count > 0
       AND NOT EXISTS (SELECT FROM tdm.managed_table managed WHERE managed.rel = l.rel)
     GROUP BY l.rel ORDER BY 1 LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION 'release % was locked with % row(s) of %, which is managed no more',
        r.release, got.n, coalesce(tdm._managed_name(got.rel), format('the table with OID %s', got.rel))
        USING ERRCODE = 'object_not_in_prerequisite_state',
              DETAIL = 'Consolidated as it is, the release would leave them out.',
              HINT = CASE WHEN retaggable
                          THEN format('Manage it again (tdm.manage_table, with the options it had: see tdm.audit),'
                                      ' or tag the release again without it: SELECT tdm.tag_release(%L);',
                                      r.release)
                          ELSE 'Manage it again (tdm.manage_table, with the options it had: see tdm.audit): its'
                               ' rows are part of what the release holds.' END;
    END IF;
  END IF;

  -- An environment's column retyped since the lock may still read as it
  -- was locked (20.001 where 20.00 was, read back as numeric(12,2)): its
  -- catalog says so, before any row is copied.
  -- (A target retyped since is told by its lock's shape, below. A type
  -- the target's widens reads any change as one: not refused.)
  IF r.status <> 'open' THEN
    FOR got IN SELECT l.env, l.rel, l.row_count, string_agg(d.detail, '; ' ORDER BY d.ordinal) AS drift
                 FROM tdm.release_lock l
                 JOIN LATERAL jsonb_to_recordset(drifts->l.env)
                        AS d(rel oid, target_type text, env_type text, severity text, detail text, ordinal int)
                   ON d.rel = l.rel::oid
                WHERE l.release = r.release AND l.row_count > 0 AND l.env = ANY (envs)
                  AND (l.shape IS NULL OR l.shape = tdm._shape(l.rel))
                  AND d.env_type IS NOT NULL AND d.target_type IS NOT NULL AND d.severity = 'error'
                GROUP BY l.env, l.rel, l.row_count ORDER BY l.env, l.rel::text LIMIT 1 LOOP
      PERFORM tdm._refuse_retyped(r, got.env, got.rel, got.drift, got.row_count, retaggable);
    END LOOP;
  END IF;

  FOR m IN SELECT * FROM tdm.managed_table ORDER BY managed_table.rel::text LOOP
    branches := '{}';
    FOR i IN 1 .. cardinality(envs) LOOP
      env_rel := tdm._env_table(envs[i], m.rel);
      branches := branches || format('SELECT %s::int4, %s FROM %s t WHERE t.%I = $1',
                                     i, tdm._env_select_list(m.rel, tdm._fills(drifts->envs[i], m.rel)),
                                     env_rel, m.release_column);
    END LOOP;

    temp_name := tdm._collected_name(m.rel);
    IF to_regclass(format('pg_temp.%I', temp_name)) IS NOT NULL THEN
      EXECUTE format('DROP TABLE pg_temp.%I', temp_name);
    END IF;
    -- The hash first and the environment's name last: no alignment padding
    -- between them and the values (4 bytes a row, 3% of a users row).
    EXECUTE format('CREATE TEMP TABLE %I (tdm_row_hash bigint, %s, tdm_env text) ON COMMIT DROP',
                   temp_name,
                   (SELECT string_agg(format('%I %s', column_name, column_type), ', '
                                      ORDER BY ordinal) FROM tdm._columns(m.rel)));
    PERFORM tdm._collect_totals();  -- clears the running totals
    BEGIN
      row_count := tdm._collect_rows(format('pg_temp.%I', temp_name)::regclass,
                                     array_to_string(branches, ' UNION ALL '), release, envs);
    EXCEPTION WHEN query_canceled OR lock_not_available THEN
      -- (the environment's timeouts or locks, not this session's)
      GET STACKED DIAGNOSTICS failed_state = RETURNED_SQLSTATE, failed_message = MESSAGE_TEXT,
                              failed_context = PG_EXCEPTION_CONTEXT;
      PERFORM tdm._raise_remote('collect', NULL,
                                format('%s in one of %s', m.rel, array_to_string(envs, ', ')),
                                failed_state, failed_message, failed_context);
      RAISE;
    WHEN undefined_table OR undefined_column OR connection_exception OR data_exception
         OR insufficient_privilege OR undefined_object OR undefined_function THEN
      -- (undefined_object: no user mapping for the current user)
      -- An environment unreachable, or its table or columns missing, or a
      -- value the target's type refuses: say which, from its catalog (read
      -- only then: each read is a round trip per environment).
      GET STACKED DIAGNOSTICS failed_state = RETURNED_SQLSTATE, failed_message = MESSAGE_TEXT,
                              failed_context = PG_EXCEPTION_CONTEXT;
      -- (Or a function of the target's, a domain's CHECK on the column's
      -- type, that does not find a name.)
      IF tdm._search_path_advice(failed_state, failed_context) IS NOT NULL THEN
        PERFORM tdm._raise_own_code('collect', format('reading %s from the environments', m.rel),
                                    tdm._staging_target(), 'Nothing was collected', '', 0, failed_message, NULL,
                                    NULL, failed_context, failed_state);
      END IF;
      -- (An error the environment's server raised computing the rows, 1/0
      -- in a view or a foreign table of its own that fails there: which
      -- environment, each one's rows of the release read.)
      -- (Not its privileges, tables or columns: those are said below.)
      IF left(failed_state, 2) IN ('08', '22') THEN
        PERFORM tdm._raise_env_failure(release, m.rel, envs, drifts, failed_state, failed_message, failed_context);
      END IF;
      IF failed_state = '42501' THEN
        -- (which environment's role may not read it: one row of each)
        FOR i IN 1 .. cardinality(envs) LOOP
          BEGIN
            -- (every column: a role may read some columns and not others)
            EXECUTE format('SELECT %s FROM %s t LIMIT 1', tdm._env_select_list(m.rel, tdm._fills(drifts->envs[i], m.rel)),
                           tdm._env_table(envs[i], m.rel));
          EXCEPTION WHEN insufficient_privilege THEN
            GET STACKED DIAGNOSTICS probe_message = MESSAGE_TEXT;
            RAISE EXCEPTION 'collect: environment "%" does not let its user read %: %', envs[i],
              (SELECT relname FROM pg_class WHERE oid = m.rel), probe_message
              USING ERRCODE = 'insufficient_privilege',
                    HINT = format('In environment "%s" (server %s%s), %s.', envs[i],
                                  (SELECT x.server FROM tdm.environment x WHERE x.name = envs[i]),
                                  coalesce((SELECT format(', user %s', o.option_value)
                                              FROM tdm.environment x
                                              JOIN pg_user_mappings u ON u.srvname = x.server
                                                                     AND u.usename IN (current_user, 'public')
                                             CROSS JOIN LATERAL pg_options_to_table(u.umoptions) o
                                             WHERE x.name = envs[i] AND o.option_name = 'user'
                                             ORDER BY u.usename = 'public' LIMIT 1), ''),
                                  tdm._grant_advice(probe_message, (SELECT relname FROM pg_class WHERE oid = m.rel)));
          END;
        END LOOP;
        RAISE;
      END IF;
      -- (A column the target gained since the lock, which an environment
      -- lacks: the target's migration, said so.)
      IF failed_state = '42703' THEN
        FOR lock IN SELECT * FROM tdm.release_lock l WHERE l.release = r.release AND l.rel = m.rel
                     ORDER BY l.env LOOP
          PERFORM tdm._refuse_reshaped(r, lock);
        END LOOP;
      END IF;
      FOR i IN 1 .. cardinality(envs) LOOP
        SELECT bool_or(d.column_name IS NULL) FILTER (WHERE d.env_type IS NULL),
               string_agg(d.detail, '; ') FILTER (WHERE d.env_type IS NULL AND d.severity = 'error'),
               string_agg(d.detail, '; ') FILTER (WHERE d.env_type IS NOT NULL AND d.severity = 'error')
          INTO table_missing, missing, retyped
          FROM tdm._schema_drift(envs[i], m.rel) d;
        IF table_missing THEN
          RAISE EXCEPTION 'collect: table % does not exist in environment "%"',
            (SELECT relname FROM pg_class WHERE oid = m.rel), envs[i]
            USING ERRCODE = 'undefined_table',
                  HINT = format('Run SELECT tdm.tag_release(%L) to see every difference.', release);
        END IF;
        IF missing IS NOT NULL THEN
          RAISE EXCEPTION 'collect: environment "%" cannot provide %: %', envs[i], m.rel, missing
            USING ERRCODE = 'undefined_column',
                  HINT = format('Run SELECT tdm.tag_release(%L) to see every difference.', release);
        END IF;
        IF left(failed_state, 2) = '22' AND retyped IS NOT NULL THEN
          RAISE EXCEPTION 'collect: environment "%" cannot provide % as the target''s types: %',
            envs[i], m.rel, retyped
            USING ERRCODE = 'datatype_mismatch', DETAIL = failed_message,
                  HINT = format('Run SELECT tdm.tag_release(%L) to see every difference.', release);
        END IF;
      END LOOP;
      IF left(failed_state, 2) = '22' THEN
        refusal_hint := format('%s Run SELECT tdm.tag_release(%L): its findings name the rows.',
                               CASE WHEN failed_state = '22021'
                                    THEN 'Bytes this database''s encoding refuses, which an environment that'
                                         ' stores any bytes (SQL_ASCII) holds.'
                                    ELSE 'An enum label, a domain''s check or a value range the environment'
                                         ' allows and this database does not.' END, release);
        -- (Which environment: each one's rows of the release read whole,
        -- every column through the target's type.)
        FOR i IN 1 .. cardinality(envs) LOOP
          BEGIN
            EXECUTE tdm._env_release_read(envs[i], m.rel, drifts->envs[i]) USING release;
          EXCEPTION WHEN data_exception THEN
            GET STACKED DIAGNOSTICS failed_state = RETURNED_SQLSTATE, failed_message = MESSAGE_TEXT;
            RAISE EXCEPTION 'collect: a row of % in environment "%" does not fit the target''s types: %',
              m.rel, envs[i], failed_message
              USING ERRCODE = failed_state, HINT = refusal_hint;
          END;
        END LOOP;
        RAISE EXCEPTION 'collect: a row of % in environments % does not fit the target''s types: %',
          m.rel, array_to_string(envs, ', '), failed_message
          USING ERRCODE = failed_state, HINT = refusal_hint;
      END IF;
      -- (a name the environment's own code did not find there)
      PERFORM tdm._raise_env_failure(release, m.rel, envs, drifts, failed_state, failed_message, failed_context);
      RAISE;
    WHEN OTHERS THEN
      -- (a RAISE in the environment's own view or function, its unique
      -- index: named)
      GET STACKED DIAGNOSTICS failed_state = RETURNED_SQLSTATE, failed_message = MESSAGE_TEXT,
                              failed_context = PG_EXCEPTION_CONTEXT;
      PERFORM tdm._raise_env_failure(release, m.rel, envs, drifts, failed_state, failed_message, failed_context);
      RAISE;
    END;

    by_env := '{}';
    FOR got IN SELECT en.env, coalesce(tot.row_count, 0) AS n,
                      coalesce(tot.checksum, '0') AS checksum
                 FROM unnest(envs) WITH ORDINALITY AS en(env, slot)
                 LEFT JOIN tdm._collect_totals() tot ON tot.slot = en.slot LOOP
      IF got.n > 0 THEN
        by_env := by_env || jsonb_build_object(got.env, got.n);
      END IF;
      IF r.status <> 'open' THEN
        SELECT * INTO lock FROM tdm.release_lock l
         WHERE l.release = r.release AND l.env = got.env AND l.rel = m.rel;
        -- (An environment added since that holds none of the release's
        -- rows changes nothing of it.)
        IF NOT FOUND AND got.n = 0 THEN
          CONTINUE;
        END IF;
        IF NOT FOUND AND NOT retaggable THEN
          RAISE EXCEPTION '%.% was not part of the lock of release %, and holds % of its rows',
            got.env, (SELECT relname FROM pg_class WHERE oid = m.rel), r.release, got.n
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It is %s and is not tagged again.', r.status),
                  HINT = format('Tag the rows of %s with a new release.', got.env);
        END IF;
        IF NOT FOUND THEN
          RAISE EXCEPTION '%.% was not part of the lock of release %; run tdm.tag_release(%) again',
            got.env, (SELECT relname FROM pg_class WHERE oid = m.rel), r.release,
            quote_literal(r.release) USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        -- (A migration changes how rows read, not how many there are:
        -- said as a migration, for a release in master too, whose HINT
        -- sends nobody to tag it again.)
        IF lock.row_count = got.n AND lock.checksum <> got.checksum THEN
          PERFORM tdm._refuse_reshaped(r, lock);
          -- (The target's default for a column the environment lacks,
          -- changed since: the rows read otherwise, the environment's
          -- did not change.)
          drift := (SELECT string_agg(format('%s: %s then, %s now', c, lock.fills->>c, f.now->>c), '; '
                                      ORDER BY c)
                      FROM (SELECT tdm._fills(drifts->got.env, m.rel) AS now) f,
                           LATERAL (SELECT jsonb_object_keys(lock.fills) AS c) k
                     WHERE f.now ? c AND lock.fills->c <> f.now->c);
          IF drift IS NOT NULL THEN
            RAISE EXCEPTION '%.% lacks columns the target gives other values now than at the lock (%)',
              got.env, (SELECT relname FROM pg_class WHERE oid = m.rel), drift
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    DETAIL = 'Its rows are read with the target''s defaults for the columns it lacks, so they'
                             ' read otherwise now (whether the environment''s rows changed too is told once'
                             ' the defaults agree).',
                    HINT = format('A change of the target''s defaults after tagging: tag the release again'
                                  ' (SELECT tdm.tag_release(%L);), or set them back.', r.release);
          END IF;
        END IF;
        IF lock.row_count <> got.n OR lock.checksum <> got.checksum THEN
          -- (The same rows read differently when the target's or the
          -- environment's columns changed type since: say that, not that
          -- the environment's data changed.)
          drift := (SELECT string_agg(d.detail, '; ') FROM tdm._schema_drift(got.env, m.rel) d
                     WHERE d.env_type IS NOT NULL AND d.severity = 'error');
          -- (Or a column the environment dropped since, whose rows are now
          -- read with the target's default or NULL.)
          drift := coalesce(drift, (SELECT string_agg(format('column %I is missing in %s now, read as %s', k.c, got.env,
                                                             CASE WHEN f.now->>k.c LIKE 'NULL::%' THEN 'NULL'
                                                                  ELSE f.now->>k.c END), '; ' ORDER BY k.c)
                                      FROM (SELECT tdm._fills(drifts->got.env, m.rel) AS now) f,
                                           LATERAL (SELECT jsonb_object_keys(f.now) AS c) k
                                     WHERE NOT coalesce(lock.fills, '{}') ? k.c));
          IF lock.row_count = got.n AND drift IS NOT NULL THEN
            PERFORM tdm._refuse_retyped(r, got.env, m.rel, drift, got.n, retaggable);
          END IF;
          -- (Or columns that read otherwise at every read: tagging again
          -- would not help.)
          unsteady := CASE WHEN lock.row_count = got.n
                           THEN tdm._unsteady_columns(got.env, m.rel, release, tdm._fills(drifts->got.env, m.rel)) END;
          IF cardinality(unsteady) > 0 THEN
            RAISE EXCEPTION '%.% reads column(s) % otherwise at every read: its rows of release % cannot match their lock',
              got.env, (SELECT relname FROM pg_class WHERE oid = m.rel), array_to_string(unsteady, ', '), r.release
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    DETAIL = format('Two reads of its %s rows in one snapshot gave other values: the environment''s'
                                    ' relation computes them as it is read (a view''s clock_timestamp(), random()'
                                    ' or the like), so tagging again would not help.', got.n),
                    HINT = format('In %s, read the table through a view that gives those columns stored values'
                                  ' (or none: the target''s defaults fill a column it lacks)%s.', got.env,
                                  CASE WHEN retaggable THEN ', then tag the release again' ELSE '' END);
          END IF;
          IF NOT retaggable THEN
            RAISE EXCEPTION '%.% changed after tagging: % row(s) locked, % now%',
              got.env, (SELECT relname FROM pg_class WHERE oid = m.rel), lock.row_count, got.n,
              CASE WHEN lock.row_count = got.n THEN ' with different content' ELSE '' END
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    DETAIL = format('Release %s was locked at %s. It is %s and is not tagged again: the'
                                    ' changed rows belong in a new release.', r.release, r.locked_at,
                                    r.status),
                    HINT = format('Tag the changed rows of %s with a new release, or change them back.',
                                  got.env);
          END IF;
          RAISE EXCEPTION '%.% changed after tagging: % row(s) locked, % now%; run tdm.tag_release(%) again',
            got.env, (SELECT relname FROM pg_class WHERE oid = m.rel), lock.row_count, got.n,
            CASE WHEN lock.row_count = got.n THEN ' with different content' ELSE '' END,
            quote_literal(r.release)
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  -- (collection stops at the first; tagging reads them all)
                  DETAIL = format('Release %s was locked at %s. Other tables may have changed too: tagging'
                                  ' again checks every one.', r.release, r.locked_at);
        END IF;
      END IF;
    END LOOP;

    rel := m.rel;
    collected := format('pg_temp.%I', temp_name)::regclass;
    -- (After the lock's check, which is over the rows as the environments
    -- hold them; before anything reads or records them.)
    PERFORM tdm._apply_masks(m.rel, collected);
    RETURN NEXT;
  END LOOP;
END
$$;

-- Rows of earlier releases in master that share the primary key or a
-- natural key with the collected rows of `the_rel` join them as rows of
-- environment 'master', so that detection, the rules and review settle
-- the release's rows against them (decisions.md 42: master's rows come
-- first and stay as they are). Consolidation calls it per table just
-- before its detection, after its parents' keys are translated; the
-- preview (tdm.detect_conflicts) right after collection, so that a
-- child's rows match there by their untranslated keys. Returns the rows
-- added (none before the first promotion).
CREATE FUNCTION tdm._collect_earlier(release text, the_rel regclass) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  m tdm.managed_table;
  master_rel regclass := tdm._target_table('master', the_rel);
  collected text := format('pg_temp.%I', tdm._collected_name(the_rel));
  key_columns text[];
  normalized bool;
  matches text[] := '{}';
  added bigint;
BEGIN
  IF master_rel IS NULL OR to_regclass(collected) IS NULL THEN
    RETURN 0;
  END IF;
  SELECT * INTO m FROM tdm.managed_table WHERE rel = the_rel;
  -- One semi-join per key; the natural keys compared as detection
  -- compares them (a looser match only adds rows detection leaves alone).
  -- A key that holds a foreign key whose parent a decision deleted
  -- (pg_temp.tdm_orphans, tdm._propagate) holds that parent's key in its
  -- environment: it matches nothing of master's.
  FOR key_columns, normalized IN SELECT m.pk_columns, false
                                 UNION ALL SELECT string_to_array(nk, ','), m.normalize_keys
                                             FROM unnest(m.natural_keys) AS nk LOOP
    matches := matches || (tdm._columns_match(the_rel, key_columns, 'p', 'c', normalized)
                           || CASE WHEN to_regclass('pg_temp.tdm_orphans') IS NULL THEN ''
                                   ELSE format(' AND NOT EXISTS (SELECT 1 FROM pg_temp.tdm_orphans o'
                                               ' WHERE o.rel = %L::regclass AND o.columns && %L::text[] AND o.env = c.tdm_env'
                                               ' AND o.row_hash = c.tdm_row_hash)', the_rel, key_columns) END);
  END LOOP;
  EXECUTE format(
    'INSERT INTO %1$s (tdm_env, tdm_row_hash, %7$s) SELECT ''master'', tdm._row_hash(%2$s), %3$s FROM %4$s t'
    ' WHERE t.%5$I IS DISTINCT FROM $1 AND t.ctid IN (%6$s)',
    collected, tdm._hash_args(the_rel), (SELECT string_agg(format('t.%I', column_name), ', '
                                                            ORDER BY ordinal)
                                           FROM tdm._columns(the_rel)),
    master_rel, m.release_column,
    (SELECT string_agg(q, ' UNION ')
       FROM (SELECT format('SELECT p.ctid FROM %s p JOIN %s c ON %s WHERE c.tdm_env <> ''master''',
                           master_rel, collected, x) AS q
               FROM unnest(matches) AS x
             -- (and by the natural keys borrowed from a subtype, tdm._borrowed_keys:
             -- master's row whose subtype row has a collected subtype row's key)
             UNION ALL
             SELECT format('SELECT p.ctid FROM %s p JOIN %s mc ON %s JOIN pg_temp.%I cc ON %s'
                           ' WHERE cc.tdm_env <> ''master''',
                           master_rel, tdm._target_table('master', b.child),
                           tdm._fk_match(b.child, b.name, 'p', 'mc'), tdm._collected_name(b.child),
                           tdm._columns_match(b.child, b.key_columns, 'mc', 'cc', b.normalize_keys))
               FROM tdm._borrowed_keys(the_rel) b
              WHERE tdm._target_table('master', b.child) IS NOT NULL
                AND to_regclass(format('pg_temp.%I', tdm._collected_name(b.child))) IS NOT NULL) u),
    (SELECT string_agg(format('%I', column_name), ', ' ORDER BY ordinal) FROM tdm._columns(the_rel)))
    USING release;
  GET DIAGNOSTICS added = ROW_COUNT;
  RETURN added;
END
$$;
