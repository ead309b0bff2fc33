-- Reaching environments: each gets a tdm-owned schema holding foreign
-- tables imported from its remote schema, one per managed table.

-- The schema of an environment's foreign tables.
CREATE FUNCTION tdm._env_schema(env text) RETURNS name
LANGUAGE sql IMMUTABLE AS $$ SELECT ('tdm_env_' || env)::name $$;

-- Creates the environment's schema if missing. SECURITY DEFINER so that a
-- tdm_admin who may not create schemas in the database still can use tdm;
-- the name is derived, never taken from the caller as SQL.
CREATE FUNCTION tdm._ensure_env_schema(env text) RETURNS name
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  schema_name name := tdm._env_schema(env);
BEGIN
  IF NOT EXISTS (SELECT FROM tdm.environment e WHERE e.name = env) THEN
    RAISE EXCEPTION 'environment "%" does not exist', env USING ERRCODE = 'undefined_object';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = schema_name) THEN
    EXECUTE format('CREATE SCHEMA %I', schema_name);
    EXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO tdm_admin', schema_name);
    EXECUTE format('COMMENT ON SCHEMA %I IS %L', schema_name,
                   'tdm: foreign tables of environment ' || env || ' (managed by tdm)');
  END IF;
  RETURN schema_name;
END
$$;

-- IMPORT FOREIGN SCHEMA with errors that name the environment and server.
CREATE FUNCTION tdm._import_tables(env text, server name, remote_schema text, into_schema name,
                                   tables text[])
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  state text;
  message text;
  detail text;
BEGIN
  EXECUTE format('IMPORT FOREIGN SCHEMA %I LIMIT TO (%s) FROM SERVER %I INTO %I',
                 remote_schema,
                 (SELECT string_agg(format('%I', t), ', ') FROM unnest(tables) AS t),
                 server, into_schema);
EXCEPTION
  WHEN fdw_schema_not_found THEN
    RAISE EXCEPTION 'remote schema "%" does not exist on server "%" (environment "%")',
      remote_schema, server, env
      USING ERRCODE = 'fdw_schema_not_found',
            HINT = 'Pass remote_schema => the schema that holds the test data.';
  WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL;
    RAISE EXCEPTION 'environment "%": cannot reach server "%": %', env, server, message
      USING ERRCODE = state, DETAIL = coalesce(detail, ''),
            HINT = 'Check the server options and the user mapping for the current user.';
END
$$;

-- A table's columns in order, with their types.
CREATE FUNCTION tdm._columns(rel regclass)
RETURNS TABLE (column_name text, column_type text, ordinal int)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnum::int
    FROM pg_attribute a
   WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
   ORDER BY a.attnum
$$;

-- Re-imports the environment's foreign tables for every managed table
-- (fresh definitions, so drift is seen) and tunes them for collection:
-- async_capable lets the scans of all environments run concurrently under
-- one Append; a large fetch_size cuts round trips (the server's own
-- fetch_size, if set, is kept).
CREATE FUNCTION tdm._refresh_environment(env text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e tdm.environment;
  schema_name name;
  t record;
  has_fetch_size bool;
BEGIN
  SELECT * INTO e FROM tdm.environment WHERE name = env;
  schema_name := tdm._ensure_env_schema(env);
  FOR t IN SELECT c.relname FROM pg_class c WHERE c.relnamespace = schema_name::regnamespace
                                              AND c.relkind = 'f' LOOP
    EXECUTE format('DROP FOREIGN TABLE %I.%I', schema_name, t.relname);
  END LOOP;
  PERFORM tdm._import_tables(env, e.server, e.remote_schema, schema_name,
                             ARRAY(SELECT DISTINCT c.relname::text FROM tdm.managed_table m
                                     JOIN pg_class c ON c.oid = m.rel));
  SELECT coalesce(bool_or(o LIKE 'fetch_size=%'), false) INTO has_fetch_size
    FROM pg_foreign_server s, unnest(s.srvoptions) AS o WHERE s.srvname = e.server;
  FOR t IN SELECT c.relname FROM pg_class c WHERE c.relnamespace = schema_name::regnamespace
                                              AND c.relkind = 'f' LOOP
    EXECUTE format('ALTER FOREIGN TABLE %I.%I OPTIONS (ADD async_capable %L%s)', schema_name,
                   t.relname, 'true', CASE WHEN has_fetch_size THEN ''
                                           ELSE ', ADD fetch_size ''10000''' END);
  END LOOP;
END
$$;

-- The environment's foreign table for a managed table, or NULL when the
-- remote table does not exist.
CREATE FUNCTION tdm._env_table(env text, rel regclass) RETURNS regclass
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT to_regclass(format('%I.%I', tdm._env_schema(env),
                            (SELECT relname FROM pg_class WHERE oid = rel)))
$$;

-- How the environment's table differs from the target: columns missing in
-- the environment or of another type (errors), extra columns (warnings).
CREATE FUNCTION tdm._schema_drift(env text, rel regclass)
RETURNS TABLE (column_name text, target_type text, env_type text, severity text, detail text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH target AS (SELECT * FROM tdm._columns(rel)),
       remote AS (SELECT * FROM tdm._columns(tdm._env_table(env, rel)))
  SELECT coalesce(t.column_name, r.column_name), t.column_type, r.column_type,
         CASE WHEN t.column_name IS NULL THEN 'warning' ELSE 'error' END,
         CASE WHEN r.column_name IS NULL
                THEN format('column %s (%s) of %s is missing in %s', t.column_name,
                            t.column_type, rel, env)
              WHEN t.column_name IS NULL
                THEN format('column %s (%s) exists only in %s, not in %s', r.column_name,
                            r.column_type, env, rel)
              ELSE format('column %s is %s in %s but %s in %s', t.column_name, t.column_type,
                          rel, r.column_type, env)
         END
    FROM target t FULL JOIN remote r USING (column_name)
   WHERE t.column_type IS DISTINCT FROM r.column_type
   ORDER BY coalesce(t.ordinal, 10000 + r.ordinal)
$$;
