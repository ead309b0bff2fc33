-- Phase 1.5, the release gate: check the tags of every environment and
-- lock the tagged data.

-- Type `env_type` (as an environment's catalog spells it: `citext`,
-- `mood[]`, `character varying(20)`) as this database names it, schema
-- and all where its schema is not pg_catalog (`ext.citext`), so that an
-- ALTER run in any session finds it; NULL where this database has no
-- such type (a table's row type is none). Not tdm's own types.
CREATE FUNCTION tdm._local_type(env_type text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(
    CASE WHEN to_regtype(env_type) IS NOT NULL THEN env_type END,  -- (a built-in type, as spelt: typmod and all)
    (SELECT format_type(t.oid, NULL) || coalesce(substring(env_type FROM E'(\\[\\])+$'), '')
       FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
       LEFT JOIN pg_class c ON c.oid = t.typrelid
      WHERE t.typname = regexp_replace(env_type, E'^.*\\.|"|(\\[\\])+$', '', 'g')
        AND n.nspname NOT IN ('tdm', 'pg_toast') AND coalesce(c.relkind, 'c') = 'c'
      ORDER BY n.nspname LIMIT 1))
$$;

-- Whether ALTER COLUMN .. TYPE from `from_type` to `to_type` needs a
-- USING clause: no assignment cast between them (one to a string type
-- always is; an array's is its elements'). NULL types (one this
-- database does not know by that name): it does, to be safe.
CREATE FUNCTION tdm._alter_needs_using(from_type regtype, to_type regtype) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(NOT (from_type = to_type
                       OR EXISTS (SELECT FROM pg_cast c WHERE c.castsource = from_type AND c.casttarget = to_type
                                                          AND c.castcontext IN ('a', 'i'))
                       OR (SELECT t.typcategory = 'S' FROM pg_type t WHERE t.oid = to_type)
                       OR (SELECT fe.typelem <> 0 AND te.typelem <> 0
                                  AND (fe.typelem = te.typelem
                                       OR EXISTS (SELECT FROM pg_cast c WHERE c.castsource = fe.typelem
                                                                          AND c.casttarget = te.typelem
                                                                          AND c.castcontext IN ('a', 'i'))
                                       OR (SELECT t.typcategory = 'S' FROM pg_type t WHERE t.oid = te.typelem))
                             FROM pg_type fe, pg_type te
                            WHERE fe.oid = from_type AND te.oid = to_type AND fe.typcategory = 'A'
                              AND te.typcategory = 'A')),
                  true)
$$;

-- The releases whose rows a release may use ("up to this one"): itself, its
-- ancestors through parent, and every release created before it.
CREATE FUNCTION tdm._release_lineage(release text) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH RECURSIVE lineage AS (
    SELECT r.release, r.parent, 1 AS depth FROM tdm.release r WHERE r.release = $1
    UNION ALL
    SELECT r.release, r.parent, l.depth + 1 FROM tdm.release r JOIN lineage l ON r.release = l.parent
     WHERE l.depth < 1000)
  SELECT array_agg(DISTINCT release ORDER BY release) FROM (
    SELECT release FROM lineage
    UNION
    SELECT r.release FROM tdm.release r
     WHERE r.created_at < (SELECT t.created_at FROM tdm.release t WHERE t.release = $1)) u
$$;

-- SQL for a table's primary key as a jsonb object, over alias `alias`.
CREATE FUNCTION tdm._pk_json_sql(rel regclass, alias text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT format('jsonb_build_object(%s)',
                string_agg(format('%L, %I.%I', c, alias, c), ', ' ORDER BY o))
    FROM tdm.managed_table m, unnest(m.pk_columns) WITH ORDINALITY AS k(c, o)
   WHERE m.rel = $1
$$;

-- Why `value` is not a value of type `type` (its input function, a
-- domain's CHECKs and NOT NULL): the error's message, NULL when it is.
CREATE FUNCTION tdm._refusal(value text, type text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  EXECUTE format('SELECT CAST($1 AS %s)', type) USING value;
  RETURN NULL;
EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
  RETURN SQLERRM;
END
$$;

-- The columns of `rel` in which rows of environment `env` tagged for
-- `release` hold values the managed table's types refuse, each with the
-- first refusal's message, the rows' count and up to five of their
-- primary keys. The columns tried: those of an enum or a domain (or
-- arrays of them), whose values an environment's own type may allow, and
-- `also` (the column an error named); not those the environment lacks
-- (`fills`, tdm._fills). Read through a foreign table of its
-- own, those columns as text (the environment's foreign table cannot
-- read such a row at all), dropped after; each distinct value tried once.
-- With `invalid_bytes` (an environment that stores any bytes, SQL_ASCII,
-- sent some this UTF8 database refuses): the character columns instead,
-- their rows found by a regular expression of valid UTF-8 that the
-- environment's server matches, so that their values never travel.
-- No rows when it cannot tell.
CREATE FUNCTION tdm._refused_values(env text, rel regclass, release text, also text DEFAULT NULL,
                                    fills jsonb DEFAULT '{}', invalid_bytes bool DEFAULT false)
RETURNS TABLE (column_name text, refusal text, row_count bigint, example_keys jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e tdm.environment;
  m tdm.managed_table;
  probe text := format('%I.%I', tdm._env_schema(env), 'tdm_refused_values');
  tried text[];  -- the columns tried, in order: probe column v<n> reads the n-th
  pk_json text;
  col text;
  n int := 0;
BEGIN
  SELECT * INTO e FROM tdm.environment x WHERE x.name = env;
  SELECT * INTO m FROM tdm.managed_table x WHERE x.rel = _refused_values.rel;
  tried := ARRAY(SELECT a.attname::text FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                  LEFT JOIN pg_type el ON el.oid = t.typelem AND t.typcategory = 'A'
                  WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped AND NOT fills ? a.attname
                    AND CASE WHEN invalid_bytes THEN t.typcategory = 'S' AND NOT a.attname = ANY (m.pk_columns)
                             ELSE t.typtype IN ('e', 'd') OR el.typtype IN ('e', 'd') OR a.attname = also END
                  ORDER BY a.attnum);
  IF cardinality(tried) = 0 THEN
    RETURN;
  END IF;
  IF to_regclass(probe) IS NOT NULL THEN
    EXECUTE format('DROP FOREIGN TABLE %s', probe);
  END IF;
  -- (Columns named k<n>, r, v<n>, each reading its column by name: a
  -- key column that is tried is read as text too.)
  EXECUTE format('CREATE FOREIGN TABLE %s (%s, r text OPTIONS (column_name %L), %s) SERVER %I'
                 ' OPTIONS (schema_name %L, table_name %L)',
                 probe,
                 (SELECT string_agg(format('k%s %s OPTIONS (column_name %L)', o,
                                           CASE WHEN k = ANY (tried) THEN 'text' ELSE tdm._column_type(rel, k) END, k),
                                    ', ' ORDER BY o)
                    FROM unnest(m.pk_columns) WITH ORDINALITY AS u(k, o)),
                 m.release_column,
                 (SELECT string_agg(format('v%s text OPTIONS (column_name %L)', o, c), ', ' ORDER BY o)
                    FROM unnest(tried) WITH ORDINALITY AS u(c, o)),
                 e.server, e.remote_schema, (SELECT c.relname FROM pg_class c WHERE c.oid = rel));
  pk_json := (SELECT format('jsonb_build_object(%s)', string_agg(format('%L, c.k%s', k, o), ', ' ORDER BY o))
                FROM unnest(m.pk_columns) WITH ORDINALITY AS u(k, o));
  -- (Each column's values tried here, not where the environment would
  -- compare them as its own type: the rows are read once, into a
  -- materialized CTE, then filtered.)
  FOREACH col IN ARRAY tried LOOP
    n := n + 1;
    IF invalid_bytes THEN
      -- (Any character but NUL, one to four bytes as UTF-8 spells them:
      -- its complement, matched there, holds bytes no UTF-8 text has.)
      EXECUTE format('WITH hit AS (SELECT %1$s AS k, row_number() OVER (ORDER BY %2$s) AS i FROM %3$s c'
                     '              WHERE c.r = $1 AND c.v%4$s !~ $2)'
                     ' SELECT count(*), jsonb_agg(hit.k ORDER BY hit.i) FILTER (WHERE hit.i <= 5) FROM hit',
                     pk_json,
                     (SELECT string_agg(format('c.k%s', o), ', ' ORDER BY o)
                        FROM generate_series(1, cardinality(m.pk_columns)) AS o),
                     probe, n)
        INTO row_count, example_keys
        USING release, E'^(?:[\\x01-\\x7f]|[\\xc2-\\xdf][\\x80-\\xbf]|\\xe0[\\xa0-\\xbf][\\x80-\\xbf]'
                       '|[\\xe1-\\xec\\xee\\xef][\\x80-\\xbf]{2}|\\xed[\\x80-\\x9f][\\x80-\\xbf]'
                       '|\\xf0[\\x90-\\xbf][\\x80-\\xbf]{2}|[\\xf1-\\xf3][\\x80-\\xbf]{3}'
                       '|\\xf4[\\x80-\\x8f][\\x80-\\xbf]{2})*$';
      refusal := 'bytes that are not UTF-8 (its database stores any bytes, as SQL_ASCII does)';
      CONTINUE WHEN row_count = 0;
      column_name := col;
      RETURN NEXT;
      CONTINUE;
    END IF;
    EXECUTE format('WITH t AS MATERIALIZED (SELECT %1$s AS k, %2$s, c.v%3$s AS v FROM %4$s c'
                   '                         WHERE c.r = $1 AND c.v%3$s IS NOT NULL),'
                   '     tried AS (SELECT d.v, tdm._refusal(d.v, $2) AS why FROM (SELECT DISTINCT t.v FROM t) d),'
                   '     hit AS (SELECT t.k, x.why, row_number() OVER (ORDER BY %5$s) AS i'
                   '               FROM t JOIN tried x ON x.v = t.v WHERE x.why IS NOT NULL)'
                   ' SELECT min(hit.why), count(*), jsonb_agg(hit.k ORDER BY hit.i) FILTER (WHERE hit.i <= 5) FROM hit',
                   pk_json,
                   (SELECT string_agg(format('c.k%1$s AS k%1$s', o), ', ')
                      FROM generate_series(1, cardinality(m.pk_columns)) AS o),
                   n, probe,
                   (SELECT string_agg(format('t.k%s', o), ', ' ORDER BY o)
                      FROM generate_series(1, cardinality(m.pk_columns)) AS o))
      INTO refusal, row_count, example_keys USING release, tdm._column_type(rel, col);
    CONTINUE WHEN row_count = 0;
    column_name := col;
    RETURN NEXT;
  END LOOP;
  EXECUTE format('DROP FOREIGN TABLE %s', probe);
EXCEPTION WHEN OTHERS THEN
  -- (best effort: the finding stands without them; the probe goes with
  -- the failed statement)
  RETURN;
END
$$;

-- SQL for the primary-key columns of `rel` over `alias`, for ORDER BY.
CREATE FUNCTION tdm._pk_list_sql(rel regclass, alias text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(format('%I.%I', alias, c), ', ' ORDER BY o)
    FROM tdm.managed_table m, unnest(m.pk_columns) WITH ORDINALITY AS k(c, o)
   WHERE m.rel = $1
$$;

-- Row count and order-independent checksum (sum of row hashes over the
-- target's columns; `fills` for those the environment lacks, tdm._fills)
-- of the rows tagged for `release` in an environment, as collection
-- reads them.
CREATE FUNCTION tdm._tagged_checksum(env text, rel regclass, release text, fills jsonb,
                                     OUT row_count bigint, OUT checksum text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  m tdm.managed_table;
BEGIN
  SELECT * INTO m FROM tdm.managed_table WHERE managed_table.rel = _tagged_checksum.rel;
  EXECUTE format('SELECT count(*), coalesce(sum(tdm._row_hash(%s)), 0)::text FROM %s t WHERE t.%I = $1',
                 tdm._hash_args(rel, fills => fills), tdm._env_table(env, rel), m.release_column)
    INTO row_count, checksum USING release;
END
$$;

-- The arguments of tdm._row_hash for the expressions `exprs`: the
-- expressions, or past 90 (a function takes 100 arguments at most) the
-- hashes of chunks of 90.
CREATE FUNCTION tdm._row_hash_args(exprs text[]) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN cardinality(exprs) <= 90 THEN array_to_string(exprs, ', ')
              ELSE (SELECT string_agg(format('tdm._row_hash(%s)',
                                             array_to_string(exprs[n * 90 + 1 : n * 90 + 90], ', ')),
                                      ', ' ORDER BY n)
                      FROM generate_series(0, (cardinality(exprs) - 1) / 90) n) END
$$;

-- The arguments of a row hash over the table's columns (of alias t, or
-- the alias given). A
-- function takes at most 100 arguments: wider tables hash chunks of 90
-- columns first (by position, dropped columns not counted), then the
-- chunks' hashes; tdm._copy_rows does the same in C++.
-- `without_generated`: stored generated columns left out, for comparing
-- rows that two tables computed each with its own expression.
-- `as_in`: the rows as that table holds them: its columns of another type
-- cast to it (a value a narrower type shortens or rounds is compared so),
-- its own stored generated columns left out.
CREATE FUNCTION tdm._hash_args(rel regclass, alias text DEFAULT 't',
                               without_generated bool DEFAULT false,
                               as_in regclass DEFAULT NULL, fills jsonb DEFAULT '{}') RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH cols AS (
    SELECT row_number() OVER (ORDER BY c.ordinal) AS position,
           CASE WHEN fills ? c.column_name THEN fills->>c.column_name
                WHEN r.column_type IS NOT NULL
                THEN format('CAST(%I.%I AS %s)', alias, c.column_name, r.column_type)
                ELSE format('%I.%I', alias, c.column_name) END AS expr
      FROM tdm._columns(rel) c
      JOIN pg_attribute a ON a.attrelid = rel AND a.attname = c.column_name
      LEFT JOIN pg_attribute d ON d.attrelid = as_in AND d.attname = c.column_name
                              AND d.attnum > 0 AND NOT d.attisdropped
      LEFT JOIN tdm._retyped_columns(rel, as_in) r USING (column_name)
     WHERE (NOT without_generated OR a.attgenerated = '')
       AND coalesce(d.attgenerated, '') = '')
  SELECT tdm._row_hash_args(array_agg(expr ORDER BY position)) FROM cols
$$;

-- Records one finding.
CREATE FUNCTION tdm._finding(job_id bigint, env text, rel regclass, kind text, severity text,
                             detail text, row_count bigint, example_keys jsonb DEFAULT '[]')
RETURNS void
LANGUAGE sql AS $$
  INSERT INTO tdm.tag_finding (job_id, env, rel, kind, severity, detail, row_count, example_keys)
  VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8, '[]'))
$$;

-- Common checks of the phase functions: the release exists, and tdm has
-- environments and managed tables to work with.
CREATE FUNCTION tdm._require_release_inputs(release text, caller text) RETURNS tdm.release
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r tdm.release;
BEGIN
  PERFORM tdm._require_given(caller, 'release', release IS NOT NULL);
  SELECT * INTO r FROM tdm.release WHERE tdm.release.release = _require_release_inputs.release;
  IF NOT FOUND THEN
    RAISE EXCEPTION '%: release "%" does not exist', caller, release
      USING ERRCODE = 'undefined_object',
            HINT = tdm._missing_release_hint(release);
  END IF;
  IF NOT EXISTS (SELECT FROM tdm.environment) THEN
    RAISE EXCEPTION '%: no environments are registered', caller
      USING ERRCODE = 'undefined_object', HINT = 'Register them with tdm.add_environment.';
  END IF;
  IF NOT EXISTS (SELECT FROM tdm.managed_table) THEN
    RAISE EXCEPTION '%: no tables are managed', caller
      USING ERRCODE = 'undefined_object', HINT = 'Register them with tdm.manage_table.';
  END IF;
  PERFORM tdm._require_managed_tables(caller);
  RETURN r;
END
$$;

-- One call at a time moves a release's rows (promote, deploy,
-- archive_release, restore_release): a second one waits for the first to
-- end, then reads the release as it left it, and says what a call made
-- afterwards would (two deploys of one code version at once made two
-- deployments). An advisory lock, not the release row's: a row lock would
-- block, and deadlock with, snapshots and rollbacks, whose rows reference
-- the release. Returns the release as it is now.
CREATE FUNCTION tdm._release_turn(release text) RETURNS tdm.release
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r tdm.release;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('tdm release turn'), hashtext(release));
  SELECT * INTO r FROM tdm.release x WHERE x.release = _release_turn.release;
  RETURN r;
END
$$;

-- The encoding an error `message` names ("... has no equivalent in
-- encoding "LATIN1"", an environment's server refusing a query's text)
-- when `name` cannot be written in it; NULL otherwise.
CREATE FUNCTION tdm._unspellable_name(name text, message text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  encoding text := substring(message FROM 'no equivalent in encoding "([^"]+)"');
BEGIN
  IF encoding IS NULL THEN
    RETURN NULL;
  END IF;
  PERFORM convert_to(name, encoding);
  RETURN NULL;
EXCEPTION WHEN untranslatable_character OR invalid_parameter_value THEN
  RETURN CASE WHEN SQLSTATE = '22P05' THEN encoding END;
END
$$;

CREATE FUNCTION tdm._tag_release_job(job bigint) RETURNS bigint
-- (An environment's values are read into the managed tables' types: an
-- xml fragment is one under the session's xmloption = document too.)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off SET max_parallel_workers_per_gather = 0 SET xmloption TO 'content' SET array_nulls TO on AS $$
#variable_conflict use_variable
DECLARE
  r tdm.release;
  the_release text := (SELECT j.release FROM tdm.job j WHERE j.job_id = job);
  e tdm.environment;
  m tdm.managed_table;
  env_rel regclass;
  lineage text[] := tdm._release_lineage(the_release);
  features text[];
  releases text[];  -- every release's name: a tag naming none is unknown_release
  drift record;
  fk jsonb;
  parent tdm.managed_table;
  parent_rel regclass;
  n bigint;
  rows_sharing bigint;  -- (rows that share a primary key)
  checked bigint;
  examples jsonb;
  detail text;
  failed_at text;
  remote_state text;
  reading text;  -- what the check's statement reads in the environment, for its errors
  unspellable text;  -- the environment's encoding, when it cannot spell the release name
  refused_column text;  -- a column whose value the managed table's type refuses
  refused record;
  any_refused bool;
  started timestamptz := clock_timestamp();
  phase_started timestamptz;
  phase_ms jsonb := '{}';
  errors int;
  warnings int;
  locked bool;
  all_rels regclass[] := ARRAY(SELECT t.rel FROM tdm.managed_table t ORDER BY t.rel::text);
  env_drift jsonb;  -- the environment's tdm._schema_drift_of rows
  env_drift_of jsonb := '{}';  -- each environment's, by its name
  env_secured jsonb;  -- its tables row level security hides rows of
  lacking regclass[];  -- its tables without the columns the checks read
  unknown_releases bigint;  -- a table's rows tagged for a release that does not exist
  unknown_features bigint;  -- its rows of this release with a feature outside the plan
  closed text[];  -- the other releases past tagging: their rows are their locks'
  tagged_closed bigint;  -- a table's rows tagged for one of them
  in_lock bool;  -- whether that release locked rows of the table there
  unregistered text[];  -- environments no longer registered that release locked the table from
  parent_missing text;  -- a dangling reference's parent row is not there at all
  missing bigint;       -- such references, of the dangling ones
  parent_tags text;     -- the tags of the parent rows that are there
BEGIN
  r := tdm._tag_release_check(the_release);
  features := ARRAY(SELECT f.feature FROM tdm.feature f WHERE f.release = the_release);
  releases := ARRAY(SELECT rr.release FROM tdm.release rr);
  -- (Releases in master or archived: a locked or consolidated one is
  -- tagged again when its rows change, as its consolidation says.)
  closed := ARRAY(SELECT rr.release FROM tdm.release rr
                   WHERE tdm._presence(rr.status) <> 'neither' AND rr.release <> the_release);
  -- The foreign keys as the catalog has them now (added or dropped since
  -- tdm.manage_table registered the tables).
  PERFORM tdm._refresh_foreign_keys();

  phase_started := clock_timestamp();
  PERFORM tdm._progress(job, 'import');
  FOR e IN SELECT * FROM tdm.environment ORDER BY precedence, name LOOP
    PERFORM tdm._refresh_environment(e.name);
  END LOOP;
  phase_ms := phase_ms || jsonb_build_object('import', round(1000 * extract(epoch FROM clock_timestamp() - phase_started)));

  phase_started := clock_timestamp();
  checked := 0;
  FOR e IN SELECT * FROM tdm.environment ORDER BY precedence, name LOOP
    -- (The environment's catalog read once for all its tables: a round
    -- trip each.)
    env_drift := tdm._env_drift(e.name, all_rels);
    env_drift_of := env_drift_of || jsonb_build_object(e.name, env_drift);
    env_secured := (SELECT coalesce(jsonb_object_agg(s.rel::oid, s.detail), '{}')
                      FROM tdm._env_row_security(e.name, all_rels) s);
    lacking := tdm._lacking_key_columns(env_drift);
    FOR m IN SELECT * FROM tdm.managed_table ORDER BY rel::text LOOP
      PERFORM tdm._progress(job, 'check', checked, (SELECT count(*) FROM tdm.environment)
                                                   * (SELECT count(*) FROM tdm.managed_table));
      checked := checked + 1;
      env_rel := tdm._env_table(e.name, m.rel);
      FOR drift IN SELECT * FROM jsonb_to_recordset(env_drift)
                                   AS d(rel oid, column_name text, target_type text, env_type text, severity text,
                                        detail text)
                    WHERE d.rel = m.rel LOOP
        -- (a column of two types that do not read as one: what to do)
        PERFORM tdm._finding(job, e.name, m.rel, 'schema_drift', drift.severity,
                             drift.detail
                             || CASE WHEN drift.severity = 'error' AND drift.target_type IS NOT NULL
                                          AND drift.env_type IS NOT NULL
                                          -- (a composite's fields, spelled out: no type name to give)
                                          AND drift.env_type ~ E'\\([a-z_][a-z0-9_]* '
                                     THEN ': give them one type (the same fields in the same order), then tag again'
                                     WHEN drift.severity = 'error' AND drift.target_type IS NOT NULL
                                          AND drift.env_type IS NOT NULL
                                     THEN format(': give them one type (in the target, %sALTER TABLE %s ALTER COLUMN'
                                                 ' %I TYPE %s%s; or migrate %s''s column to %s), then tag again',
                                                 -- (a type this database lacks: an extension's, or the
                                                 -- application's own, which the ALTER needs first)
                                                 CASE WHEN tdm._local_type(drift.env_type) IS NULL
                                                      THEN format('where type %s does not exist yet: CREATE'
                                                                  ' EXTENSION for an extension''s type, or CREATE'
                                                                  ' TYPE as the environment has it; then ',
                                                                  drift.env_type)
                                                      ELSE '' END,
                                                 m.rel, drift.column_name,
                                                 coalesce(tdm._local_type(drift.env_type), drift.env_type),
                                                 CASE WHEN tdm._alter_needs_using(to_regtype(drift.target_type),
                                                                                  to_regtype(tdm._local_type(drift.env_type)))
                                                      THEN format(' USING %I::%s', drift.column_name,
                                                                  coalesce(tdm._local_type(drift.env_type), drift.env_type))
                                                      ELSE '' END,
                                                 e.name, drift.target_type)
                                     ELSE '' END,
                             NULL);
      END LOOP;
      -- (Rows hidden by row level security from the environment's reader.)
      IF env_secured ? m.rel::oid::text THEN
        PERFORM tdm._finding(job, e.name, m.rel, 'schema_drift', 'warning', env_secured->>m.rel::oid::text, NULL);
      END IF;
      -- Without its tags or keys the table cannot be checked further.
      CONTINUE WHEN m.rel = ANY (lacking);

      -- (A user the environment lets see the table's columns but not read
      -- it, its schema say: a finding naming the server, not an abort.)
      BEGIN
        reading := m.rel::text;
        -- Rows with no release tag, with an unknown release's and with a
        -- feature outside the plan: counted in one read of the environment
        -- (a round trip each, per environment and table), their rows read
        -- only where some are found.
        EXECUTE format('SELECT count(*) FILTER (WHERE t.%1$I IS NULL),'
                       '       count(*) FILTER (WHERE t.%1$I IS NOT NULL AND t.%1$I <> ALL ($1)),'
                       '       count(*) FILTER (WHERE t.%1$I = $2 AND (t.%3$I IS NULL OR t.%3$I <> ALL ($3))),'
                       '       count(*) FILTER (WHERE t.%1$I = ANY ($4))'
                       '  FROM %2$s t', m.release_column, env_rel, m.feature_column)
          INTO n, unknown_releases, unknown_features, tagged_closed
          USING releases, the_release, features, closed;
        IF n > 0 THEN
          EXECUTE format('SELECT jsonb_agg(k) FROM (SELECT %s AS k FROM %s t WHERE t.%I IS NULL ORDER BY %s LIMIT 5) s',
                         tdm._pk_json_sql(m.rel, 't'), env_rel, m.release_column,
                         tdm._pk_list_sql(m.rel, 't'))
            INTO examples;
          PERFORM tdm._finding(job, e.name, m.rel, 'untagged_rows', 'warning',
            format('%s row(s) of %s.%I carry no release tag; they are not part of any release',
                   n, e.name, (SELECT relname FROM pg_class WHERE oid = m.rel)), n, examples);
        END IF;

        -- Rows tagged for a release past tagging that its lock does not
        -- hold (more than it locked): no consolidation of it collects
        -- them again, and no other release has them.
        IF tagged_closed > (SELECT coalesce(sum(l.row_count), 0) FROM tdm.release_lock l
                             WHERE l.release = ANY (closed) AND l.env = e.name AND l.rel = m.rel) THEN
          FOR drift IN EXECUTE format(
              'SELECT t.%1$I AS tag, count(*) AS n FROM %2$s t WHERE t.%1$I = ANY ($1) GROUP BY t.%1$I ORDER BY t.%1$I',
              m.release_column, env_rel)
              USING closed LOOP
            SELECT coalesce(sum(l.row_count), 0), count(*) > 0 INTO n, in_lock FROM tdm.release_lock l
             WHERE l.release = drift.tag AND l.env = e.name AND l.rel = m.rel;
            CONTINUE WHEN drift.n <= n;
            unregistered := ARRAY(SELECT DISTINCT l.env FROM tdm.release_lock l
                                   WHERE l.release = drift.tag AND l.rel = m.rel
                                     AND NOT EXISTS (SELECT FROM tdm.environment x WHERE x.name = l.env)
                                   ORDER BY 1);
            PERFORM tdm._finding(job, e.name, m.rel, 'untagged_rows', 'warning',
              format('%s row(s) of %s.%I are tagged for release %s, which is %s and ', drift.n, e.name,
                     (SELECT relname FROM pg_class WHERE oid = m.rel), drift.tag,
                     (SELECT rr.status FROM tdm.release rr WHERE rr.release = drift.tag))
              || CASE WHEN in_lock
                      -- (A refresh from master copies in the rows the
                      -- release brought from other environments too.)
                      THEN format('locked %s of them: the rest (%s) are part of no release; tag them for %s to'
                                  ' bring them in, unless they are copies of rows %s brought (a refresh from master)',
                                  n, drift.n - n, the_release, drift.tag)
                      -- (Locked from an environment no longer registered: this
                      -- one, renamed or added again under another name?)
                      WHEN cardinality(unregistered) > 0
                      THEN format('was locked from environment %s, which is no longer registered: if %s is that'
                                  ' database under a new name, these rows are %s''s already (register it as %s'
                                  ' again to keep its history); else tag them for %s to bring them in',
                                  array_to_string(unregistered, ', '), e.name, drift.tag,
                                  array_to_string(unregistered, ' or '), the_release)
                      -- (The environment or the table came after that release.)
                      ELSE format('was locked without that table there: they are part of no release; if they are'
                                  ' not what %s already brought (a copy of another environment), tag them for %s'
                                  ' to bring them in', drift.tag, the_release) END,
              drift.n - n);
          END LOOP;
        END IF;

        -- A primary key that several rows of this release hold: the
        -- environment's table lacks the constraint, and a row that
        -- references the key cannot say which it means (consolidation
        -- would give one of them a new key and move its children with
        -- it). (An aggregate over the rows tagging reads anyway.)
        detail := format('FROM %s t WHERE t.%I = $1 AND %s GROUP BY %s HAVING count(*) > 1',
                         env_rel, m.release_column,
                         (SELECT string_agg(format('t.%I IS NOT NULL', c), ' AND ') FROM unnest(m.pk_columns) AS c),
                         tdm._pk_list_sql(m.rel, 't'));
        EXECUTE format('SELECT count(*), sum(s.n) FROM (SELECT count(*) AS n %s) s', detail)
          INTO n, rows_sharing USING the_release;
        IF n > 0 THEN
          EXECUTE format('SELECT jsonb_agg(s.k) FROM (SELECT %s AS k %s ORDER BY %s LIMIT 5) s',
                         tdm._pk_json_sql(m.rel, 't'), detail, tdm._pk_list_sql(m.rel, 't'))
            INTO examples USING the_release;
          PERFORM tdm._finding(job, e.name, m.rel, 'schema_drift', 'error',
            format('%s primary key(s) of %s.%s are held by more than one row (%s rows tagged for %s):'
                   ' the environment''s table lacks its primary key, and a row that references such a key'
                   ' cannot say which row it means; give each row its own key there',
                   n, e.name, (SELECT relname FROM pg_class WHERE oid = m.rel), rows_sharing, the_release),
            rows_sharing, examples);
        END IF;

        -- Tags naming releases that do not exist.
        IF unknown_releases > 0 THEN
          FOR drift IN EXECUTE format(
              'SELECT t.%1$I AS tag, count(*) AS n FROM %2$s t WHERE t.%1$I IS NOT NULL'
              ' AND t.%1$I <> ALL ($1) GROUP BY t.%1$I ORDER BY t.%1$I', m.release_column, env_rel)
              USING releases LOOP
            EXECUTE format('SELECT jsonb_agg(k) FROM (SELECT %s AS k FROM %s t WHERE t.%I = $1 ORDER BY %s LIMIT 5) s',
                           tdm._pk_json_sql(m.rel, 't'), env_rel, m.release_column,
                           tdm._pk_list_sql(m.rel, 't'))
              INTO examples USING drift.tag;
            PERFORM tdm._finding(job, e.name, m.rel, 'unknown_release', 'error',
              format('%s row(s) of %s.%I are tagged for release "%s", which does not exist',
                     drift.n, e.name, (SELECT relname FROM pg_class WHERE oid = m.rel), drift.tag),
              drift.n, examples);
          END LOOP;
        END IF;

        -- Rows of this release whose feature is not in its plan.
        IF unknown_features > 0 THEN
          FOR drift IN EXECUTE format(
              'SELECT t.%2$I AS tag, count(*) AS n FROM %3$s t WHERE t.%1$I = $1'
              ' AND (t.%2$I IS NULL OR t.%2$I <> ALL ($2)) GROUP BY t.%2$I ORDER BY t.%2$I',
              m.release_column, m.feature_column, env_rel)
              USING the_release, features LOOP
            EXECUTE format('SELECT jsonb_agg(k) FROM (SELECT %s AS k FROM %s t WHERE t.%I = $1 AND t.%I IS NOT DISTINCT FROM $2 ORDER BY %s LIMIT 5) s',
                           tdm._pk_json_sql(m.rel, 't'), env_rel, m.release_column, m.feature_column,
                           tdm._pk_list_sql(m.rel, 't'))
              INTO examples USING the_release, drift.tag;
            PERFORM tdm._finding(job, e.name, m.rel, 'unknown_feature', 'error',
              CASE WHEN drift.tag IS NULL
                THEN format('%s row(s) of %s.%I are tagged for %s without a feature', drift.n, e.name,
                            (SELECT relname FROM pg_class WHERE oid = m.rel), the_release)
                ELSE format('%s row(s) of %s.%I are tagged with feature "%s", which is not in the plan of %s',
                            drift.n, e.name, (SELECT relname FROM pg_class WHERE oid = m.rel),
                            drift.tag, the_release) END,
              drift.n, examples);
          END LOOP;
        END IF;

        -- Tagged rows whose parent (in the same environment) is tagged for
        -- no release of this release's lineage, or is missing.
        FOR fk IN SELECT * FROM jsonb_array_elements(m.foreign_keys) LOOP
          parent_rel := to_regclass(fk->>'references');
          SELECT * INTO parent FROM tdm.managed_table pm WHERE pm.rel = parent_rel;
          CONTINUE WHEN NOT FOUND OR parent_rel = ANY (lacking);
          -- (A reference the environment lacks is read as NULL: it names
          -- no parent.)
          CONTINUE WHEN tdm._fills(env_drift, m.rel) ?| ARRAY(SELECT jsonb_array_elements_text(fk->'columns'));
          parent_missing := (SELECT string_agg(format('p.%I IS NULL', rc), ' AND ')
                               FROM jsonb_array_elements_text(fk->'ref_columns') AS b(rc));
          detail := format(
            'FROM %s c LEFT JOIN %s p ON %s WHERE c.%I = $1 AND %s AND (%s OR p.%I IS NULL OR p.%I <> ALL ($2))',
            env_rel, tdm._env_table(e.name, parent_rel),
            -- (as the managed table's foreign key matches: citext's
            -- equality, a case-insensitive collation)
            tdm._fk_match(m.rel, fk->>'name', 'p', 'c'),
            m.release_column,
            (SELECT string_agg(format('c.%I IS NOT NULL', cc), ' AND ')
               FROM jsonb_array_elements_text(fk->'columns') AS a(cc)),
            parent_missing, parent.release_column, parent.release_column);
          -- (a lock on the parent there stops this read too)
          reading := format('%s (and %s, which it references)', m.rel, parent_rel);
          EXECUTE format('SELECT count(*), count(*) FILTER (WHERE %1$s),'
                         '       string_agg(DISTINCT coalesce(quote_literal(p.%2$I), ''none'') COLLATE "C", '', '''
                         '                  ORDER BY coalesce(quote_literal(p.%2$I), ''none'') COLLATE "C")'
                         '         FILTER (WHERE NOT (%1$s)) ',
                         parent_missing, parent.release_column) || detail
            INTO n, missing, parent_tags USING the_release, lineage;
          IF n > 0 THEN
            EXECUTE format('SELECT jsonb_agg(k) FROM (SELECT %s AS k %s ORDER BY %s LIMIT 5) s',
                           tdm._pk_json_sql(m.rel, 'c'), detail, tdm._pk_list_sql(m.rel, 'c'))
              INTO examples USING the_release, lineage;
            -- (which of the two cases, and what to do in each)
            PERFORM tdm._finding(job, e.name, m.rel, 'dangling_reference', 'error',
              format('%s row(s) of %s.%I tagged for %s reference a %s row (%s) that %s ',
                     n, e.name, (SELECT relname FROM pg_class WHERE oid = m.rel), the_release,
                     parent_rel, fk->>'name', e.name)
              || CASE WHEN missing = n
                      THEN 'does not hold: add those rows there, or leave the rows that reference them untagged'
                      WHEN missing = 0
                      THEN CASE WHEN parent_tags = 'none' THEN 'holds untagged'
                                ELSE format('holds tagged for no release of %s (tags: %s)',
                                            array_to_string(lineage, ', '), parent_tags) END
                           || format(': tag them for %s%s, or leave the rows that reference them untagged',
                                     the_release,
                                     -- (a row an earlier release loaded stays in master:
                                     -- tagged for it again, it is referenced there)
                                     CASE WHEN cardinality(array_remove(lineage, the_release)) > 0
                                          THEN format(' (or for the release of %s that loaded them, if one did)',
                                                      array_to_string(array_remove(lineage, the_release), ', '))
                                          ELSE '' END)
                      ELSE format('does not hold (%s of them), or holds tagged for no release of %s (the others;'
                                  ' tags: %s): add or tag those rows, or leave the rows that reference them'
                                  ' untagged', missing, array_to_string(lineage, ', '), parent_tags) END,
              n, examples);
          END IF;
          reading := m.rel::text;
        END LOOP;
      EXCEPTION WHEN query_canceled OR lock_not_available THEN
        -- (the environment's timeouts or locks, not this session's)
        GET STACKED DIAGNOSTICS remote_state = RETURNED_SQLSTATE, detail = MESSAGE_TEXT,
                                failed_at = PG_EXCEPTION_CONTEXT;
        PERFORM tdm._raise_remote('tag_release', e.name, reading, remote_state, detail, failed_at);
        RAISE;
      WHEN connection_exception OR admin_shutdown THEN
        -- (a connection lost on the way: named, with what to do; or one the
        -- environment's own foreign table failed to make, there)
        GET STACKED DIAGNOSTICS remote_state = RETURNED_SQLSTATE, detail = MESSAGE_TEXT,
                                failed_at = PG_EXCEPTION_CONTEXT;
        PERFORM tdm._raise_remote('tag_release', e.name, reading, remote_state, detail, failed_at);
        PERFORM tdm._unreachable(e.name, e.server, remote_state, detail, NULL);
      WHEN insufficient_privilege THEN
        GET STACKED DIAGNOSTICS detail = MESSAGE_TEXT;
        PERFORM tdm._finding(job, e.name, m.rel, 'schema_drift', 'error',
          format('the user of server %s may not read %s.%s: %s; %s',
                 e.server, e.name, (SELECT relname FROM pg_class WHERE oid = m.rel), detail,
                 tdm._grant_advice(detail, (SELECT relname FROM pg_class WHERE oid = m.rel))), NULL);
      -- (A key or tag value this database's types refuse: the lock's read
      -- below names the column and its rows; this table's other checks
      -- wait for the next tagging.)
      WHEN data_exception OR integrity_constraint_violation THEN
        NULL;
      WHEN OTHERS THEN
        -- (a RAISE in the environment's own view or function: named)
        GET STACKED DIAGNOSTICS remote_state = RETURNED_SQLSTATE, detail = MESSAGE_TEXT,
                                failed_at = PG_EXCEPTION_CONTEXT;
        PERFORM tdm._raise_remote('tag_release', e.name, reading, remote_state, detail, failed_at);
        RAISE;
      END;
    END LOOP;
  END LOOP;
  phase_ms := phase_ms || jsonb_build_object('check', round(1000 * extract(epoch FROM clock_timestamp() - phase_started)));

  SELECT count(*) FILTER (WHERE severity = 'error'), count(*) FILTER (WHERE severity = 'warning')
    INTO errors, warnings FROM tdm.tag_finding WHERE job_id = job;
  locked := errors = 0;

  phase_started := clock_timestamp();
  PERFORM tdm._progress(job, 'lock');
  DELETE FROM tdm.release_lock WHERE tdm.release_lock.release = the_release;
  -- (Read even when errors were found: a value this database's types
  -- refuse is found here only, and is reported with the others.)
  FOR e IN SELECT * FROM tdm.environment ORDER BY precedence, name LOOP
    FOR m IN SELECT * FROM tdm.managed_table ORDER BY rel::text LOOP
      -- (not a table that drifted: its columns cannot all be read there)
      CONTINUE WHEN EXISTS (SELECT FROM tdm.tag_finding f
                             WHERE f.job_id = job AND f.env = e.name AND f.rel = m.rel
                               AND f.kind = 'schema_drift' AND f.severity = 'error');
      BEGIN
        INSERT INTO tdm.release_lock (release, env, rel, row_count, checksum, shape, fills)
        SELECT the_release, e.name, m.rel, c.row_count, c.checksum, tdm._shape(m.rel), f.fills
          FROM (SELECT tdm._fills(env_drift_of->e.name, m.rel) AS fills) f,
               tdm._tagged_checksum(e.name, m.rel, the_release, f.fills) c;
      EXCEPTION
        WHEN query_canceled OR lock_not_available THEN
          GET STACKED DIAGNOSTICS remote_state = RETURNED_SQLSTATE, detail = MESSAGE_TEXT,
                                  failed_at = PG_EXCEPTION_CONTEXT;
          PERFORM tdm._raise_remote('tag_release', e.name, m.rel::text, remote_state, detail, failed_at);
          RAISE;
        WHEN connection_exception OR admin_shutdown THEN
          GET STACKED DIAGNOSTICS remote_state = RETURNED_SQLSTATE, detail = MESSAGE_TEXT,
                                  failed_at = PG_EXCEPTION_CONTEXT;
          PERFORM tdm._raise_remote('tag_release', e.name, m.rel::text, remote_state, detail, failed_at);
          PERFORM tdm._unreachable(e.name, e.server, remote_state, detail, NULL);
        -- The checksum reads every column: a value the environment's type
        -- allows and this database's does not (an enum label or a domain
        -- check of the environment's own) is a finding, not an abort.
        WHEN data_exception OR integrity_constraint_violation THEN
          GET STACKED DIAGNOSTICS detail = MESSAGE_TEXT, failed_at = PG_EXCEPTION_CONTEXT,
                                  remote_state = RETURNED_SQLSTATE;
          -- (Not a value this database refuses: one the environment's
          -- server failed to compute, 1/0 in a view of its own.)
          PERFORM tdm._raise_remote('tag_release', e.name, m.rel::text, remote_state, detail, failed_at);
          -- (A release name the environment's encoding cannot spell: its
          -- server refuses the query that names it, and no row is at
          -- fault. Said once per environment.)
          unspellable := CASE WHEN remote_state = '22P05' THEN tdm._unspellable_name(the_release, detail) END;
          IF unspellable IS NOT NULL THEN
            IF NOT EXISTS (SELECT FROM tdm.tag_finding f WHERE f.job_id = job AND f.env = e.name
                                                           AND f.detail LIKE 'the release name %') THEN
              PERFORM tdm._finding(job, e.name, m.rel, 'schema_drift', 'error',
                format('the release name %s cannot be written in the encoding of %s (%s): its server refuses'
                       ' the queries that name it, and no row there can be tagged for it; name the release in'
                       ' characters every environment''s encoding has', the_release, e.name, unspellable), NULL);
            END IF;
            locked := false;
            CONTINUE;
          END IF;
          -- (The column from the context, which names the foreign table
          -- by the query's alias, not the environment's table.)
          refused_column := substring(split_part(failed_at, E'\n', 1) FROM 'column "(.*)" of ');
          -- (Which rows, and every such column of the table: read again,
          -- those columns as text. Else the error as it came.)
          any_refused := false;
          FOR refused IN SELECT * FROM tdm._refused_values(e.name, m.rel, the_release, refused_column,
                                                              tdm._fills(env_drift_of->e.name, m.rel),
                                                              -- (this database refused them, not
                                                              -- the environment's conversion)
                                                              remote_state = '22021'
                                                              AND current_setting('server_encoding') = 'UTF8'
                                                              AND detail LIKE '%encoding "UTF8"%') LOOP
            any_refused := true;
            PERFORM tdm._finding(job, e.name, m.rel, 'schema_drift', 'error',
              format('%s of %s.%I tagged for %s hold%s a value that %s does not accept: %s (column %I)',
                     CASE WHEN refused.row_count > 1 THEN refused.row_count || ' rows' ELSE 'a row' END,
                     e.name, (SELECT relname FROM pg_class WHERE oid = m.rel), the_release,
                     CASE WHEN refused.row_count > 1 THEN '' ELSE 's' END, m.rel, refused.refusal,
                     refused.column_name),
              refused.row_count, refused.example_keys);
          END LOOP;
          IF NOT any_refused THEN
            PERFORM tdm._finding(job, e.name, m.rel, 'schema_drift', 'error',
              format('a row of %s.%I tagged for %s holds a value that %s does not accept: %s%s',
                     e.name, (SELECT relname FROM pg_class WHERE oid = m.rel), the_release, m.rel, detail,
                     CASE WHEN refused_column IS NOT NULL THEN format(' (column %I)', refused_column)
                          WHEN failed_at <> '' THEN format(' (%s)', split_part(failed_at, E'\n', 1))
                          ELSE '' END), NULL);
          END IF;
          locked := false;
        WHEN OTHERS THEN
          GET STACKED DIAGNOSTICS remote_state = RETURNED_SQLSTATE, detail = MESSAGE_TEXT,
                                  failed_at = PG_EXCEPTION_CONTEXT;
          PERFORM tdm._raise_remote('tag_release', e.name, m.rel::text, remote_state, detail, failed_at);
          RAISE;
      END;
    END LOOP;
  END LOOP;
  IF NOT locked THEN
    DELETE FROM tdm.release_lock WHERE tdm.release_lock.release = the_release;
    SELECT count(*) FILTER (WHERE severity = 'error') INTO errors
      FROM tdm.tag_finding WHERE job_id = job;
  END IF;
  -- (Only from a status tagging may change: a promote that committed
  -- while this ran put the release in master.) The audit's head first, as
  -- the operations that hold it and then write releases' rows take it
  -- (a consolidation's load, a rollback: decision 120).
  PERFORM tdm._audit_reserve();
  IF locked THEN
    UPDATE tdm.release SET status = 'locked', locked_at = now()
     WHERE tdm.release.release = the_release AND tdm.release.status IN ('open', 'locked', 'consolidated');
  ELSE
    UPDATE tdm.release SET status = 'open', locked_at = NULL
     WHERE tdm.release.release = the_release AND tdm.release.status IN ('open', 'locked', 'consolidated');
  END IF;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'tag_release: release "%" was % while it was being tagged; nothing was changed', the_release,
      (SELECT x.status FROM tdm.release x WHERE x.release = the_release)
      USING ERRCODE = 'serialization_failure',
            HINT = 'Tag a new release for the changed rows.';
  END IF;
  phase_ms := phase_ms || jsonb_build_object('lock', round(1000 * extract(epoch FROM clock_timestamp() - phase_started)));

  UPDATE tdm.job j SET status = 'completed', finished_at = clock_timestamp(),
         detail = j.detail || jsonb_build_object('findings', errors + warnings, 'errors', errors,
                                                 'warnings', warnings, 'locked', locked, 'phase_ms', phase_ms)
   WHERE j.job_id = job;
  PERFORM tdm._audit('tag_release', the_release,
                     jsonb_build_object('job_id', job, 'errors', errors, 'warnings', warnings,
                                        'locked', locked));
  IF NOT locked THEN
    RAISE NOTICE 'release % %: % error finding(s); see SELECT * FROM tdm.tag_finding WHERE job_id = %',
      the_release, CASE WHEN r.status = 'open' THEN 'stays open' ELSE format('is open again (it was %s)', r.status) END,
      errors, job;
  -- A release no row is tagged for is locked empty; a misspelt tag would
  -- be found as unknown_release, but a name no row uses at all is not.
  ELSIF NOT EXISTS (SELECT 1 FROM tdm.release_lock l WHERE l.release = the_release AND l.row_count > 0) THEN
    RAISE WARNING 'tag_release: no environment holds a row tagged for release "%": it is locked empty', the_release
      USING HINT = 'Check the environments'' tag columns (tdm.managed_table.release_column): rows tagged with another'
                   ' spelling show as unknown_release findings of their own release. An empty release consolidates'
                   ' and promotes no rows.';
  END IF;
  RETURN job;
EXCEPTION WHEN undefined_function OR undefined_table OR undefined_object THEN
  -- (A function of the target's, a domain's CHECK on a column's type say,
  -- runs on the values read from the environments: one that does not
  -- find a name is named.)
  GET STACKED DIAGNOSTICS remote_state = RETURNED_SQLSTATE, detail = MESSAGE_TEXT, failed_at = PG_EXCEPTION_CONTEXT;
  IF tdm._search_path_advice(remote_state, failed_at) IS NOT NULL THEN
    PERFORM tdm._raise_own_code('tag_release', 'reading the environments', tdm._staging_target(),
                                'Nothing was tagged', '', 0, detail, NULL, NULL, failed_at, remote_state);
  END IF;
  RAISE;
END
$$;
-- What tagging needs before it starts: the release, open, locked or
-- consolidated (its data changed since: tagged again, it is locked anew
-- and consolidated again before promotion), with a release plan, and
-- environments and tables to check.
CREATE FUNCTION tdm._tag_release_check(release text) RETURNS tdm.release
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r tdm.release := tdm._require_release_inputs(release, 'tag_release');
BEGIN
  IF r.status NOT IN ('open', 'locked', 'consolidated') THEN
    RAISE EXCEPTION 'tag_release: release "%" is %; only open, locked or consolidated releases are tagged',
      release, r.status USING ERRCODE = 'object_not_in_prerequisite_state',
      HINT = CASE WHEN r.status = 'archived'
                  THEN format('Its rows are in tdm_archive: restore it (SELECT tdm.restore_release(%L);) '
                              'or tag the changes under a new release.', release)
                  ELSE 'Its rows are in master: tag the changes under a new release.' END;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM tdm.feature f WHERE f.release = r.release) THEN
    RAISE EXCEPTION 'tag_release: release "%" has no features', release
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('Add its release plan first: SELECT tdm.add_feature(%L, ''FEAT-1'', 1);',
                          release);
  END IF;
  PERFORM tdm._require_own_foreign_keys('tag_release');
  PERFORM tdm._refuse_environment_twins('tag_release');
  -- (the managed tables' columns are compared with the environments')
  PERFORM tdm._require_managed_schemas('tag_release');
  RETURN r;
END
$$;

-- Phase 1.5: in this backend (wait => true), or in a tdm_tag_release
-- background worker (wait => false, returns at once). Returns the job id.
CREATE FUNCTION tdm.tag_release(release text, wait bool DEFAULT true) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off SET max_parallel_workers_per_gather = 0 AS $$
DECLARE
  job bigint;
BEGIN
  PERFORM tdm._tag_release_check(release);
  job := tdm._start_job('tag_release', release, wait);
  IF wait THEN
    PERFORM tdm._tag_release_job(job);
  END IF;
  RETURN job;
END
$$;
COMMENT ON FUNCTION tdm.tag_release(text, bool) IS
  'Phase 1.5: checks the tags of every environment, locks the tagged data when clean';
