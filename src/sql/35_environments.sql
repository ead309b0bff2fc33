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
    -- (Two calls reading a new environment at once: the second's CREATE
    -- waits for the first's transaction, and finds the schema made.)
    BEGIN
      EXECUTE format('CREATE SCHEMA %I', schema_name);
      EXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO tdm_admin', schema_name);
      EXECUTE format('COMMENT ON SCHEMA %I IS %L', schema_name,
                     'tdm: foreign tables of environment ' || env || ' (managed by tdm)');
    EXCEPTION WHEN duplicate_schema OR unique_violation THEN
      NULL;
    END;
  END IF;
  PERFORM tdm._refuse_taken_env_schema(env);
  RETURN schema_name;
END
$$;

-- Refuses environment `env`'s schema when an ordinary role made it (one
-- by that name before tdm did): it stays in that role's hands, which could
-- drop or replace the foreign tables tdm reads.
CREATE FUNCTION tdm._refuse_taken_env_schema(env text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  schema_name name := tdm._env_schema(env);
  extension_owner name := (SELECT r.rolname FROM pg_extension e JOIN pg_roles r ON r.oid = e.extowner
                            WHERE e.extname = 'tdm');
  -- (a superuser's, or the extension owner's, as a restore gives it back)
  owner name := (SELECT r.rolname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
                  WHERE n.nspname = schema_name AND NOT r.rolsuper AND r.rolname <> extension_owner);
BEGIN
  IF owner IS NOT NULL THEN
    RAISE EXCEPTION 'schema % exists and is owned by %, not by tdm', quote_ident(schema_name), owner
      USING ERRCODE = 'duplicate_schema',
            HINT = format('tdm keeps environment %s''s foreign tables in a schema of its own: drop or rename'
                          ' that schema (or, if it is tdm''s, give it back: ALTER SCHEMA %I OWNER TO %I;), then'
                          ' call again.', env, schema_name, extension_owner);
  END IF;
END
$$;

-- Raises an environment's connection error (SQLSTATE `state`, `message`,
-- `detail`) naming the environment and its server. A connection that was
-- lost on the way (its backend terminated, the network down) is not a
-- matter of server options: a new call connects again.
CREATE FUNCTION tdm._unreachable(env text, server text, state text, message text, detail text)
RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
  hint text := CASE WHEN state IN ('08003', '08006') OR message LIKE '%abort cleanup failure%'
                         OR message LIKE '%server closed the connection%'
                         OR message LIKE '%connection to server % was lost%'
                    THEN 'The connection to it was lost (its backend was terminated, or the network'
                         ' dropped). Call again: a new connection is made.'
                    -- (libpq's connect_timeout, the one bound on a connection
                    -- that waits: guide 1.2)
                    WHEN detail LIKE '%timeout expired%'
                    THEN 'It did not answer within the server''s connect_timeout: its host is down or busy, or'
                         ' its database is being renamed or dropped (a new connection waits for that). Call'
                         ' again once it answers.'
                    ELSE 'Check the server options and the user mapping for the current user.' END;
BEGIN
  -- (A privilege of this database, not the server: the environment's
  -- foreign tables, say, owned by another role after a restore without
  -- owners.)
  IF state = '42501' AND message LIKE 'permission denied for foreign server%' THEN
    RAISE EXCEPTION 'environment "%": % may not read it: %', env, current_user, message
      USING ERRCODE = state,
            HINT = format('GRANT USAGE ON FOREIGN SERVER %I TO %I; (as its owner or a superuser).', server,
                          current_user);
  END IF;
  IF state = '42501' THEN
    RAISE EXCEPTION 'environment "%": % may not read it: %', env, current_user, message
      USING ERRCODE = state,
            HINT = format('Its foreign tables are tdm_admin''s (a restore with --no-owner gives them to the'
                          ' restoring role: GRANT ALL ON ALL TABLES IN SCHEMA %I TO tdm_admin;), and'
                          ' server %I needs USAGE for the role.', tdm._env_schema(env), server);
  END IF;
  IF coalesce(detail, '') = '' THEN  -- (a NULL DETAIL is refused, an empty one shown)
    RAISE EXCEPTION 'environment "%": cannot reach server "%": %', env, server, message
      USING ERRCODE = state, HINT = hint;
  END IF;
  RAISE EXCEPTION 'environment "%": cannot reach server "%": %', env, server, message
    USING ERRCODE = state, DETAIL = detail, HINT = hint;
END
$$;

-- What to grant, in an environment, after its server refused reading
-- table `relname` with `message`: USAGE on a schema, SELECT on the table,
-- or, where another table is named (the base table of a view there), to
-- the view's owner, who reads it.
CREATE FUNCTION tdm._grant_advice(message text, relname text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN message LIKE 'permission denied for schema%'
              THEN 'grant the user mapping''s role USAGE on the schema and SELECT on the table there'
              WHEN message LIKE 'permission denied for %' AND right(message, length(relname) + 1) <> ' ' || relname
              THEN 'grant SELECT on the table the error names to the owner of the view that reads it there (the'
                   ' user mapping''s role reads the view, its owner the table)'
              ELSE 'grant the user mapping''s role SELECT on the table there' END
$$;

-- An error an environment's server raised while tdm read it (its own
-- statement_timeout or lock_timeout, a lock it waited for there), told
-- apart from this session's own by its context (postgres_fdw's "remote SQL
-- command"), raised naming the environment when known. Returns when the
-- error was not the environment's.
CREATE FUNCTION tdm._raise_remote(caller text, env text, what text, state text, message text,
                                  context text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF coalesce(context, '') NOT LIKE '%remote SQL command%'
     -- (a value read here that this database's type refuses: postgres_fdw's
     -- conversion of a fetched row; bytes one side's encoding refuses, the
     -- remote's conversion of its rows or of the query: the callers say
     -- which rows or which name)
     OR context LIKE '%of foreign table%' OR context LIKE '%processing expression at position%'
     OR state IN ('22021', '22P05')
     -- (the connection lost on the way, its backend terminated: not what
     -- the server computed; tdm._unreachable says those)
     OR state IN ('08003', '08006', '57P01', '57P02', '57P03') OR message LIKE '%abort cleanup failure%'
     OR message LIKE '%server closed the connection%' OR message LIKE '%connection to server % was lost%' THEN
    RETURN;
  END IF;
  RAISE EXCEPTION '%: %: reading % failed there: %', caller,
    CASE WHEN env IS NULL THEN 'an environment''s server' ELSE format('environment "%s"', env) END, what,
    message
    USING ERRCODE = state,
          HINT = CASE WHEN state IN ('57014', '55P03')
                      THEN 'The environment''s own settings or sessions ended the read: its statement_timeout or'
                           ' lock_timeout (of the user mapping''s role or its database there), or a lock another'
                           ' session there holds. Deal with it there, then call again. (This session''s'
                           ' lock_timeout does not reach an environment: bound its waits on its server,'
                           ' ALTER SERVER s OPTIONS (ADD options ''-c lock_timeout=30s'').)'
                      -- (The server answered: the error is of what it computed.)
                      ELSE 'The environment''s server raised it while computing the rows: a view, a function or'
                           ' a trigger of its own, or a foreign table there that reads another server. Its'
                           ' server and the user mapping are fine. Fix it there, then call again.'
                           || CASE WHEN state IN ('42P01', '42883', '42704')
                                   THEN ' (postgres_fdw''s sessions run with search_path = pg_catalog: a function'
                                        ' there that names objects without their schema finds none; qualify them,'
                                        ' or give it ALTER FUNCTION .. SET search_path there.)'
                                   ELSE '' END END;
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
    PERFORM tdm._unreachable(env, server, state, message, detail);
END
$$;

-- SQL that is true when column `col` of `alias` (of table `rel`) holds a
-- value, as constraints and indexes see it: a composite value whose fields
-- are NULL is a value, though IS NOT NULL says otherwise.
CREATE FUNCTION tdm._has_value(rel regclass, alias text, col text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN b.typtype = 'c' THEN format('num_nulls(%I.%I) = 0', alias, col)
              ELSE format('%I.%I IS NOT NULL', alias, col) END
    FROM pg_attribute a
    JOIN pg_type t ON t.oid = a.atttypid
    JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
   WHERE a.attrelid = rel AND a.attname = col
$$;

-- A table's columns in order, with their types.
-- (PL/pgSQL, whose plan is kept: called thousands of times a
-- consolidation of a wide schema, it cost more to plan than to run.)
CREATE FUNCTION tdm._columns(rel regclass)
RETURNS TABLE (column_name text, column_type text, ordinal int)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN QUERY
  SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnum::int
    FROM pg_attribute a
   WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
   ORDER BY a.attnum;
END
$$;

-- The stored generated columns of `rel`: name, the expression computing
-- it (over the row's columns, unqualified), and the columns it reads.
CREATE FUNCTION tdm._generated_columns(rel regclass)
RETURNS TABLE (column_name text, expr text, reads text[])
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT a.attname::text, pg_get_expr(d.adbin, d.adrelid),
         ARRAY(SELECT r.attname::text FROM pg_depend dep
                 JOIN pg_attribute r ON r.attrelid = dep.refobjid AND r.attnum = dep.refobjsubid
                -- (its expression's, on the columns it reads; and the
                -- column's own, which some releases record)
                WHERE (dep.classid = 'pg_class'::regclass AND dep.objid = rel AND dep.objsubid = a.attnum
                       OR dep.classid = 'pg_attrdef'::regclass AND dep.objid = d.oid)
                  AND dep.refclassid = 'pg_class'::regclass AND dep.refobjid = rel
                  AND dep.refobjsubid > 0 AND dep.refobjsubid <> a.attnum
                ORDER BY r.attnum)
    FROM pg_attribute a JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE a.attrelid = rel AND a.attgenerated = 's' AND NOT a.attisdropped
   ORDER BY a.attnum
$$;

-- A column's type as information_schema describes it: comparable between
-- databases even when a user-defined type lives in another schema there.
CREATE FUNCTION tdm._describe_type(data_type text, udt_name text, max_length int,
                                   num_precision int, num_scale int, time_precision int DEFAULT NULL,
                                   array_typmod int DEFAULT -1, interval_fields text DEFAULT NULL)
RETURNS text
LANGUAGE sql STABLE AS $$
  -- (An unbounded bpchar is data_type 'character' with no length, which
  -- SQL reads as character(1): spelled by its name. A time type's
  -- fractional digits other than the default 6: timestamp(3) holds a
  -- value of timestamp rounded.)
  -- (An array by its element's SQL name, text[] rather than _text: the
  -- catalog gives only the array type's internal name. Its elements'
  -- length, scale or precision is the column's typmod (`array_typmod`,
  -- from pg_attribute), which information_schema does not give: a
  -- built-in element is spelled with it, numeric(10,4)[].)
  SELECT CASE WHEN data_type = 'USER-DEFINED' THEN udt_name
              WHEN data_type = 'ARRAY' AND array_typmod >= 0
                   AND to_regtype('pg_catalog.' || quote_ident(substr(udt_name, 2))) IS NOT NULL
                -- (6 fractional digits unsaid, as for a column: timestamp[])
                THEN regexp_replace(format_type(to_regtype('pg_catalog.' || quote_ident(substr(udt_name, 2))),
                                                array_typmod), E'^(timestamp|time)\\(6\\)', E'\\1')
                     || '[]'
              WHEN data_type = 'ARRAY'
                THEN coalesce((SELECT x.sql_name FROM (VALUES ('int2', 'smallint'), ('int4', 'integer'),
                                 ('int8', 'bigint'), ('float4', 'real'), ('float8', 'double precision'),
                                 ('bool', 'boolean'), ('varchar', 'character varying'), ('bpchar', 'character'),
                                 ('timestamp', 'timestamp without time zone'),
                                 ('timestamptz', 'timestamp with time zone'), ('time', 'time without time zone'),
                                 ('timetz', 'time with time zone'), ('varbit', 'bit varying'))
                                 AS x(name, sql_name) WHERE x.name = substr(udt_name, 2)),
                              substr(udt_name, 2)) || '[]'
              WHEN data_type = 'character' AND max_length IS NULL THEN 'bpchar'
              -- (An interval's fields, as format_type spells them, with the
              -- seconds' digits: an interval day holds '1 day 03:00' as
              -- '1 day'.)
              WHEN data_type = 'interval' AND interval_fields IS NOT NULL
                THEN 'interval ' || lower(interval_fields)
              WHEN data_type ~ '^(timestamp|time|interval)' AND time_precision IS DISTINCT FROM 6
                   AND time_precision IS NOT NULL
                THEN regexp_replace(data_type, '^(timestamp|time|interval)', E'\\1(' || time_precision || ')')
              ELSE data_type END
         || CASE WHEN max_length IS NOT NULL THEN format('(%s)', max_length)
                 WHEN data_type = 'numeric' AND num_precision IS NOT NULL
                   THEN format('(%s,%s)', num_precision, num_scale)
                 ELSE '' END
$$;

-- The fields of a composite type, or of an array's composite elements,
-- with their own fields, as `(name type, ...)` ('' for other types):
-- postgres_fdw reads a composite value field by field, in order, so an
-- environment's type must have the target's. Read from this database's
-- information_schema, or the environment's (`env`, tdm_remote_attributes).
CREATE FUNCTION tdm._type_fields(data_type text, udt_schema text, udt_name text,
                                 env text DEFAULT NULL, depth int DEFAULT 0) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  a record;
  parts text[] := '{}';
BEGIN
  IF data_type NOT IN ('USER-DEFINED', 'ARRAY') OR udt_schema = 'pg_catalog' OR depth > 8 THEN
    RETURN '';
  END IF;
  IF data_type = 'ARRAY' THEN
    udt_name := substr(udt_name, 2);  -- (an array type's name is its element's with a _)
  END IF;
  FOR a IN EXECUTE format(
      -- (as text: information_schema's types here, text there; one
      -- session reads both, and `a`'s expressions keep their first types)
      'SELECT a.attribute_name::text, a.data_type::text, a.attribute_udt_schema::text,'
      '       a.attribute_udt_name::text AS attribute_udt_name,'
      '       a.character_maximum_length::int AS max_length, a.numeric_precision::int AS num_precision,'
      '       a.numeric_scale::int AS num_scale'
      '  FROM %s a WHERE a.udt_schema = $1 AND a.udt_name = $2 ORDER BY a.ordinal_position',
      CASE WHEN env IS NULL THEN 'information_schema.attributes'
           ELSE tdm._env_relation(env, 'tdm_remote_attributes')::text END)
    USING udt_schema, udt_name LOOP
    parts := parts || (a.attribute_name || ' '
                       || tdm._describe_type(a.data_type, a.attribute_udt_name, a.max_length,
                                             a.num_precision, a.num_scale)
                       || tdm._type_fields(a.data_type, a.attribute_udt_schema, a.attribute_udt_name,
                                           env, depth + 1));
  END LOOP;
  -- (an array's after a space: contact[] (first_name text, ...))
  RETURN CASE WHEN cardinality(parts) = 0 THEN ''
              ELSE CASE WHEN data_type = 'ARRAY' THEN ' (' ELSE '(' END || array_to_string(parts, ', ') || ')' END;
END
$$;

-- Refuses, as tdm's, a caller without USAGE on an environment's server
-- when its foreign table `what` must be declared again (PostgreSQL's
-- "permission denied for foreign server" says neither why nor what to do).
CREATE FUNCTION tdm._require_server_usage(env text, server name, what text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT has_server_privilege(server, 'USAGE') THEN
    RAISE EXCEPTION 'environment "%": % may not use server "%", which declaring its foreign table % again needs',
      env, current_user, server, what
      USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'tdm declares an environment''s foreign tables again when the managed table''s columns changed,'
                     ' or when they are missing.',
            HINT = format('A superuser or the server''s owner grants it: GRANT USAGE ON FOREIGN SERVER %I TO %I;',
                          server, current_user);
  END IF;
END
$$;

-- Creates (again, when its target changed) the environment's foreign
-- tables: one per managed table,
-- declared with the target's columns and types (so values arrive as the
-- target's types, whatever schema the environment keeps its own types in),
-- plus tdm_remote_columns and tdm_remote_attributes (composite types'
-- fields) over the environment's information_schema, which show what the
-- environment really has. async_capable lets the scans of
-- all environments run concurrently under one Append; a large fetch_size
-- cuts round trips (the server's own fetch_size, if set, is kept). Nothing
-- is read from the environment here.
CREATE FUNCTION tdm._refresh_environment(env text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e tdm.environment;
  schema_name name;
  t record;
  options text;
  current regclass;
  catalog record;
  column_def text;
  renamed name;  -- the server the foreign tables use, when e.server is gone
BEGIN
  SELECT * INTO e FROM tdm.environment WHERE name = env;
  IF NOT EXISTS (SELECT FROM pg_foreign_server s WHERE s.srvname = e.server) THEN
    -- (Renamed: the environment's foreign tables still use it, by its new name.)
    SELECT s.srvname INTO renamed FROM pg_foreign_table ft
      JOIN pg_class c ON c.oid = ft.ftrelid
      JOIN pg_foreign_server s ON s.oid = ft.ftserver
     WHERE c.relnamespace = to_regnamespace(quote_ident(tdm._env_schema(env)))
     LIMIT 1;
    IF renamed IS NOT NULL THEN
      RAISE EXCEPTION 'environment "%": its server "%" does not exist; its foreign tables use server "%"',
        env, e.server, renamed
        USING ERRCODE = 'undefined_object',
              HINT = format('Renamed? Rename it back (ALTER SERVER %I RENAME TO %I;), or register the'
                            ' environment on it: UPDATE tdm.environment SET server = %L WHERE name = %L;',
                            renamed, e.server, renamed, env);
    END IF;
    RAISE EXCEPTION 'environment "%": its server "%" does not exist', env, e.server
      USING ERRCODE = 'undefined_object',
            HINT = 'Create the foreign server again under that name (CREATE SERVER ... FOREIGN DATA WRAPPER'
                   ' postgres_fdw), with its user mapping.';
  END IF;
  schema_name := tdm._ensure_env_schema(env);
  options := CASE WHEN EXISTS (SELECT FROM pg_foreign_server s, unnest(s.srvoptions) AS o
                                WHERE s.srvname = e.server AND o LIKE 'fetch_size=%')
                  THEN '' ELSE format(', fetch_size %L', '10000') END;
  FOR t IN SELECT DISTINCT c.relname, m.rel FROM tdm.managed_table m JOIN pg_class c ON c.oid = m.rel
  LOOP
    current := tdm._env_relation(env, t.relname);
    -- (The server's fetch_size, set or dropped since the foreign table was
    -- made, counts: the table's own would override it. Rows of megabytes
    -- need a smaller one than 10000, p298.)
    IF current IS NOT NULL AND (options = '') = EXISTS (SELECT FROM pg_foreign_table ft, unnest(ft.ftoptions) AS o
                                                         WHERE ft.ftrelid = current AND o LIKE 'fetch_size=%') THEN
      EXECUTE format('ALTER FOREIGN TABLE %s OPTIONS (%s)', current,
                     CASE WHEN options = '' THEN 'DROP fetch_size' ELSE format('ADD fetch_size %L', '10000') END);
    END IF;
    -- Unchanged targets keep their foreign tables: nothing is written.
    CONTINUE WHEN current IS NOT NULL AND tdm._env_table_intact(env, current, e.remote_schema, t.relname)
              AND ARRAY(SELECT (c.column_name, c.column_type)::text FROM tdm._columns(t.rel) c)
                  = ARRAY(SELECT (c.column_name, c.column_type)::text FROM tdm._columns(current) c);
    PERFORM tdm._require_server_usage(env, e.server, t.relname);
    IF current IS NOT NULL THEN
      EXECUTE format('DROP FOREIGN TABLE %s', current);
    END IF;
    EXECUTE format('CREATE FOREIGN TABLE %I.%I (%s) SERVER %I'
                   ' OPTIONS (schema_name %L, table_name %L, async_capable %L%s)',
                   schema_name, t.relname,
                   (SELECT string_agg(format('%I %s', column_name, column_type), ', '
                                      ORDER BY ordinal) FROM tdm._columns(t.rel)),
                   e.server, e.remote_schema, t.relname, 'true', options);
    -- Owned by the role, so that any tdm_admin can recreate it later.
    EXECUTE format('ALTER FOREIGN TABLE %I.%I OWNER TO tdm_admin', schema_name, t.relname);
  END LOOP;
  -- The environment's catalog: its tables' columns, and the fields of its
  -- composite types (which postgres_fdw reads by position).
  -- And its tables' row level security, with its roles: rows the
  -- policies hide from the environment's reader are never seen.
  FOR catalog IN SELECT * FROM (VALUES
      ('tdm_remote_columns', 'information_schema', 'columns',
       '{table_schema text, table_name text, column_name text, ordinal_position int, data_type text,'
       ' udt_schema text, udt_name text, character_maximum_length int, numeric_precision int,'
       ' numeric_scale int, is_nullable text, column_default text, datetime_precision int, is_identity text,'
       ' identity_generation text, is_generated text, generation_expression text, interval_type text}'),
      ('tdm_remote_attributes', 'information_schema', 'attributes',
       '{udt_schema text, udt_name text, attribute_name text, ordinal_position int, data_type text,'
       ' attribute_udt_schema text, attribute_udt_name text, character_maximum_length int,'
       ' numeric_precision int, numeric_scale int}'),
      ('tdm_remote_roles', 'pg_catalog', 'pg_roles',
       '{rolname text, rolsuper bool, rolbypassrls bool, oid oid, rolinherit bool}'),
      -- (and what a view reads, whose row level security applies to the
      -- view's owner, or to its reader with security_invoker)
      ('tdm_remote_pg_auth_members', 'pg_catalog', 'pg_auth_members', '{roleid oid, member oid}'),
      ('tdm_remote_pg_rewrite', 'pg_catalog', 'pg_rewrite', '{oid oid, ev_class oid}'),
      ('tdm_remote_pg_depend', 'pg_catalog', 'pg_depend',
       '{classid oid, objid oid, refclassid oid, refobjid oid}'),
      -- (Its constraints, indexes and enums, for tdm.schema_diff: the
      -- catalogs every role reads. A CHECK's text only from
      -- information_schema, which shows it to roles of the table's owner.)
      ('tdm_remote_pg_namespace', 'pg_catalog', 'pg_namespace', '{oid oid, nspname text}'),
      ('tdm_remote_pg_class', 'pg_catalog', 'pg_class',
       '{oid oid, relname text, relnamespace oid, relkind text, relowner oid, relrowsecurity bool,'
       ' relforcerowsecurity bool, reloptions text[]}'),
      ('tdm_remote_pg_attribute', 'pg_catalog', 'pg_attribute',
       '{attrelid oid, attnum int2, attname text, atttypid oid, attisdropped bool, atttypmod int4,'
       ' attcollation oid}'),
      ('tdm_remote_pg_collation', 'pg_catalog', 'pg_collation', '{oid oid, collname text}'),
      ('tdm_remote_pg_constraint', 'pg_catalog', 'pg_constraint',
       '{oid oid, conname text, contype text, condeferrable bool, condeferred bool, convalidated bool,'
       ' conrelid oid, confrelid oid, confupdtype text, confdeltype text, confmatchtype text,'
       ' conkey int2[], confkey int2[], conbin text, conindid oid, connoinherit bool, conexclop oid[],'
       ' confdelsetcols int2[], conparentid oid, contypid oid}'),
      ('tdm_remote_pg_type', 'pg_catalog', 'pg_type',
       '{oid oid, typname text, typbasetype oid, typelem oid, typnamespace oid}'),
      ('tdm_remote_pg_operator', 'pg_catalog', 'pg_operator', '{oid oid, oprname text}'),
      ('tdm_remote_pg_enum', 'pg_catalog', 'pg_enum', '{enumtypid oid, enumsortorder real, enumlabel text}'),
      ('tdm_remote_pg_indexes', 'pg_catalog', 'pg_indexes',
       '{schemaname text, tablename text, indexname text, indexdef text}'),
      ('tdm_remote_pg_index', 'pg_catalog', 'pg_index', '{indexrelid oid, indisvalid bool}'),
      ('tdm_remote_pg_trigger', 'pg_catalog', 'pg_trigger',
       '{oid oid, tgrelid oid, tgparentid oid, tgname text, tgfoid oid, tgtype int2, tgenabled text,'
       ' tgisinternal bool, tgconstraint oid, tgdeferrable bool, tginitdeferred bool, tgnargs int2,'
       ' tgattr text, tgargs bytea, tgqual text, tgoldtable text, tgnewtable text}'),
      ('tdm_remote_pg_proc', 'pg_catalog', 'pg_proc', '{oid oid, proname text}'),
      ('tdm_remote_triggers', 'information_schema', 'triggers',
       '{event_object_schema text, event_object_table text, trigger_name text, action_condition text}'),
      ('tdm_remote_checks', 'information_schema', 'check_constraints',
       '{constraint_schema text, constraint_name text, check_clause text}')) AS v(name, remote_schema, remote, columns) LOOP
    current := tdm._env_relation(env, catalog.name);
    IF current IS NOT NULL
       AND NOT tdm._env_table_intact(env, current, catalog.remote_schema, catalog.remote) THEN
      EXECUTE format('DROP FOREIGN TABLE %s', current);
      current := NULL;
    END IF;
    IF current IS NULL THEN
      PERFORM tdm._require_server_usage(env, e.server, catalog.name);
      EXECUTE format('CREATE FOREIGN TABLE %I.%I (%s) SERVER %I OPTIONS (schema_name %L, table_name %L)',
                     schema_name, catalog.name, array_to_string(catalog.columns::text[], ', '),
                     e.server, catalog.remote_schema, catalog.remote);
      EXECUTE format('ALTER FOREIGN TABLE %I.%I OWNER TO tdm_admin', schema_name, catalog.name);
    END IF;
    -- (A column one an earlier tdm made lacks: added.)
    FOR column_def IN SELECT trim(x) FROM unnest(catalog.columns::text[]) AS x
                       WHERE NOT EXISTS (SELECT FROM pg_attribute a
                                          WHERE a.attrelid = format('%I.%I', schema_name, catalog.name)::regclass
                                            AND a.attname = split_part(trim(x), ' ', 1)
                                            AND NOT a.attisdropped) LOOP
      EXECUTE format('ALTER FOREIGN TABLE %I.%I ADD COLUMN %s', schema_name, catalog.name, column_def);
    END LOOP;
  END LOOP;
END
$$;

-- Why rows of the tables `rels` in environment `env` may be hidden from
-- tdm: row level security applies to a table there that the
-- environment's reader reads, directly or through views: the reader (or,
-- for a view without security_invoker, the view's owner) is no superuser,
-- lacks BYPASSRLS, and does not own the table (nor inherit from its
-- owner), or owns it while FORCE ROW LEVEL SECURITY is set. A row for
-- each such managed table; none when the environment's catalog cannot be
-- read. A few reads for all of them.
CREATE FUNCTION tdm._env_row_security(env text, rels regclass[])
RETURNS TABLE (rel regclass, detail text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e tdm.environment := (SELECT x FROM tdm.environment x WHERE x.name = env);
  classes regclass := tdm._env_relation(env, 'tdm_remote_pg_class');
  namespaces regclass := tdm._env_relation(env, 'tdm_remote_pg_namespace');
  roles regclass := tdm._env_relation(env, 'tdm_remote_roles');
  memberships regclass := tdm._env_relation(env, 'tdm_remote_pg_auth_members');
  rewrites regclass := tdm._env_relation(env, 'tdm_remote_pg_rewrite');
  depends regclass := tdm._env_relation(env, 'tdm_remote_pg_depend');
  reader text;
  reader_oid jsonb;
  role_list jsonb;    -- [{oid, name, exempt (superuser, BYPASSRLS), inherit}]
  member_list jsonb;  -- [[role, member]]
  -- The relations read: the managed tables' in the environment, then
  -- what their views read. Each {rel: the managed table, oid, name, kind,
  -- owner, rls, forced, invoker, reader: the role it is read as, via: the
  -- view that reads it}.
  frontier jsonb;
  found jsonb := '[]';
  depth int := 0;
BEGIN
  IF classes IS NULL OR namespaces IS NULL OR roles IS NULL OR memberships IS NULL OR rewrites IS NULL
     OR depends IS NULL THEN
    RETURN;
  END IF;
  reader := coalesce((SELECT substr(o, 6) FROM pg_user_mappings um CROSS JOIN unnest(um.umoptions) AS o
                       WHERE um.srvname = e.server AND um.usename IN (current_user, 'public')
                         AND o LIKE 'user=%' ORDER BY um.usename = 'public' LIMIT 1),
                     current_user);
  EXECUTE format($q$SELECT jsonb_agg(jsonb_build_object('oid', r.oid, 'name', r.rolname,
                                                        'exempt', r.rolsuper OR r.rolbypassrls,
                                                        'inherit', r.rolinherit))
                      FROM %s r$q$, roles) INTO role_list;
  EXECUTE format($q$SELECT coalesce(jsonb_agg(jsonb_build_array(m.roleid, m.member)), '[]') FROM %s m$q$,
                 memberships) INTO member_list;
  reader_oid := (SELECT r -> 'oid' FROM jsonb_array_elements(role_list) r WHERE r ->> 'name' = reader);
  EXECUTE format($q$SELECT jsonb_agg(jsonb_build_object('rel', x.rel, 'oid', c.oid, 'name', n.nspname || '.' || c.relname,
                                                        'kind', c.relkind, 'owner', c.relowner,
                                                        'rls', c.relrowsecurity, 'forced', c.relforcerowsecurity,
                                                        'invoker', tdm._reloption_on(c.reloptions, 'security_invoker'),
                                                        'reader', $3))
                      FROM %s c JOIN %s n ON n.oid = c.relnamespace
                      JOIN unnest($1::oid[], $2::text[]) AS x(rel, relname) ON x.relname = c.relname
                     WHERE n.nspname = $4 AND c.relname = ANY ($2)$q$, classes, namespaces)
    INTO frontier
    USING rels::oid[], ARRAY(SELECT c.relname::text FROM unnest(rels) WITH ORDINALITY AS x(rel, n)
                               JOIN pg_class c ON c.oid = x.rel ORDER BY x.n),
          reader_oid, e.remote_schema;
  -- (views read views: sixteen levels, deeper than a schema of views
  -- goes; past them, said)
  WHILE jsonb_array_length(coalesce(frontier, '[]')) > 0 LOOP
    found := found || coalesce((SELECT jsonb_agg(f) FROM jsonb_array_elements(frontier) f
                                 WHERE f ->> 'kind' IN ('r', 'p') AND (f ->> 'rls')::bool
                                   AND tdm._row_security_applies(f, role_list, member_list)), '[]');
    IF depth = 16 THEN
      found := found || coalesce((SELECT jsonb_agg(f || '{"too_deep": true}') FROM jsonb_array_elements(frontier) f
                                   WHERE f ->> 'kind' = 'v'), '[]');
      EXIT;
    END IF;
    EXECUTE format($q$SELECT jsonb_agg(DISTINCT jsonb_build_object(
                                 'rel', v.f -> 'rel', 'oid', c.oid, 'name', n.nspname || '.' || c.relname,
                                 'kind', c.relkind, 'owner', c.relowner,
                                 'rls', c.relrowsecurity, 'forced', c.relforcerowsecurity,
                                 'invoker', tdm._reloption_on(c.reloptions, 'security_invoker'),
                                 'reader', CASE WHEN (v.f ->> 'invoker')::bool THEN v.f -> 'reader'
                                                ELSE v.f -> 'owner' END,
                                 'via', v.f ->> 'name'))
                        FROM (SELECT f, (f ->> 'oid')::oid AS view FROM jsonb_array_elements($1) f
                               WHERE f ->> 'kind' = 'v') v
                        JOIN (SELECT w.oid, w.ev_class FROM %1$s w WHERE w.ev_class = ANY ($2)) w
                          ON w.ev_class = v.view
                        JOIN (SELECT d.objid, d.refobjid FROM %2$s d
                               WHERE d.classid = 2618::oid  -- (pg_rewrite, pg_class: fixed OIDs)
                                 AND d.refclassid = 1259::oid
                                 AND d.objid = ANY (SELECT x.oid FROM %1$s x WHERE x.ev_class = ANY ($2))) d
                          ON d.objid = w.oid AND d.refobjid <> v.view
                        JOIN %3$s c ON c.oid = d.refobjid JOIN %4$s n ON n.oid = c.relnamespace$q$,
                   rewrites, depends, classes, namespaces)
      INTO frontier
      USING frontier, ARRAY(SELECT (f ->> 'oid')::oid FROM jsonb_array_elements(frontier) f WHERE f ->> 'kind' = 'v');
    depth := depth + 1;
  END LOOP;
  RETURN QUERY
  SELECT (f ->> 'rel')::oid::regclass,
         string_agg(CASE WHEN f ? 'too_deep'
                         THEN format('%s in environment %s is read through more than sixteen views: row level'
                                     ' security on the tables it reads was not looked for', f ->> 'name', env)
                         ELSE format('row level security is %s for %s in environment %s%s, and %s there (%s) %s: rows its'
                           ' policies hide from %s go unseen: not tagged, locked, consolidated or compared. Give %s'
                           ' BYPASSRLS there, or check that the policies show it every row',
                           CASE WHEN (f ->> 'forced')::bool THEN 'forced' ELSE 'on' END, f ->> 'name', env,
                           CASE WHEN f ? 'via' THEN format(', which %s reads', f ->> 'via') ELSE '' END,
                           CASE WHEN f -> 'reader' = reader_oid THEN 'its reader'
                                ELSE format('the owner of %s', f ->> 'via') END,
                           tdm._role_named(f -> 'reader', role_list),
                           CASE WHEN (f ->> 'forced')::bool AND f -> 'reader' = f -> 'owner'
                                THEN 'owns it, and FORCE ROW LEVEL SECURITY holds its owner to the policies too'
                                WHEN (f ->> 'forced')::bool
                                     AND tdm._has_privs_of(f -> 'reader', f -> 'owner', role_list, member_list)
                                THEN format('has the rights of its owner (%s), and FORCE ROW LEVEL SECURITY holds'
                                            ' its owner to the policies too', tdm._role_named(f -> 'owner', role_list))
                                ELSE 'neither owns it nor bypasses it' END,
                           tdm._role_named(f -> 'reader', role_list), tdm._role_named(f -> 'reader', role_list)) END,
                    '; ' ORDER BY f ->> 'name')
    FROM jsonb_array_elements(found) f
   GROUP BY f ->> 'rel';
EXCEPTION WHEN OTHERS THEN
  RETURN;  -- (the catalog unread: the checks that read the table itself say why)
END
$$;

-- Whether reloption `name` is on in `options` (name=value).
CREATE FUNCTION tdm._reloption_on(options text[], name text) RETURNS bool
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(bool_or(substr(o, length(name) + 2)::bool), false)
    FROM unnest(options) o WHERE o LIKE name || '=%'
$$;

-- The name of role `role` (its OID, as jsonb) among an environment's roles.
CREATE FUNCTION tdm._role_named(role jsonb, role_list jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce((SELECT r ->> 'name' FROM jsonb_array_elements(role_list) r WHERE r -> 'oid' = role),
                  'role ' || (role #>> '{}'))
$$;

-- Whether role `member` has the privileges of role `role` in an
-- environment: it is that role, or a member of it through roles that
-- inherit (the owner's privileges, row level security's exemption).
CREATE FUNCTION tdm._has_privs_of(member jsonb, role jsonb, role_list jsonb, member_list jsonb) RETURNS bool
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH RECURSIVE held(oid) AS (
    SELECT member
    UNION
    SELECT m -> 0 FROM held h
      JOIN jsonb_array_elements(member_list) m ON m -> 1 = h.oid
      JOIN jsonb_array_elements(role_list) r ON r -> 'oid' = h.oid AND (r ->> 'inherit')::bool)
  SELECT EXISTS (SELECT FROM held WHERE oid = role)
$$;

-- Whether row level security applies to relation `f` (as
-- tdm._env_row_security describes it) for the role it is read as.
CREATE FUNCTION tdm._row_security_applies(f jsonb, role_list jsonb, member_list jsonb) RETURNS bool
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT NOT coalesce((SELECT (r ->> 'exempt')::bool FROM jsonb_array_elements(role_list) r
                        WHERE r -> 'oid' = f -> 'reader'), false)
         AND ((f ->> 'forced')::bool OR NOT tdm._has_privs_of(f -> 'reader', f -> 'owner', role_list, member_list))
$$;

-- A relation of the environment's schema by name (NULL when there is
-- none), refused unless it is a foreign table: tdm_admin may create there,
-- and a view or table in its place would run its owner's code as whoever
-- reads it (a superuser's tag_release, the definer's key lookup).
CREATE FUNCTION tdm._env_relation(env text, relname name) RETURNS regclass
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  found regclass := to_regclass(format('%I.%I', tdm._env_schema(env), relname));
  kind "char";
BEGIN
  SELECT c.relkind INTO kind FROM pg_class c WHERE c.oid = found;
  IF kind <> 'f' THEN
    RAISE EXCEPTION 'environment "%": % is not a foreign table', env, found
      USING ERRCODE = 'wrong_object_type',
            DETAIL = format('tdm reads an environment only through the foreign tables it imports into'
                            ' schema %I; this relation is a %s.', tdm._env_schema(env),
                            CASE kind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view'
                                      WHEN 'm' THEN 'materialized view' WHEN 'p' THEN 'partitioned table'
                                      ELSE 'relation of kind ' || kind::text END),
            HINT = format('Drop it (DROP %s %s): the next call imports the environment''s table again.',
                          CASE kind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
                          found);
  END IF;
  RETURN found;
END
$$;

-- Whether an environment's foreign table reads what tdm imported it for:
-- the environment's server, remote table `remote_schema`.`remote_table`,
-- each column the remote column of its own name. Its owner, tdm_admin,
-- could point it elsewhere (another server, a view), where reading it
-- would run code, or read one column as another.
CREATE FUNCTION tdm._env_table_intact(env text, rel regclass, remote_schema text, remote_table text)
RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT ft.ftserver = (SELECT s.oid FROM pg_foreign_server s JOIN tdm.environment e ON e.server = s.srvname
                         WHERE e.name = env)
         AND ARRAY(SELECT o FROM unnest(ft.ftoptions) AS o WHERE o LIKE E'schema\\_name=%' OR o LIKE E'table\\_name=%'
                    ORDER BY o)
             = ARRAY['schema_name=' || remote_schema, 'table_name=' || remote_table]
         AND NOT EXISTS (SELECT FROM pg_attribute a, unnest(a.attfdwoptions) AS o
                          WHERE a.attrelid = ft.ftrelid AND o LIKE E'column\\_name=%'
                            AND o <> 'column_name=' || a.attname)
    FROM pg_foreign_table ft WHERE ft.ftrelid = rel
$$;

-- The environment's foreign table for a managed table (NULL before the
-- environment was first refreshed).
CREATE FUNCTION tdm._env_table(env text, rel regclass) RETURNS regclass
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT tdm._env_relation(env, (SELECT relname FROM pg_class WHERE oid = rel))
$$;

-- Refuses a side that is neither 'local' (this database) nor a
-- registered environment, as remove_environment does (42704), saying what
-- to call instead: tdm.find_pii's and the parity functions' argument.
-- (`local_side`: false where only a registered environment will do.)
CREATE FUNCTION tdm._require_side(caller text, side text, local_side bool DEFAULT true) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  registered text[] := ARRAY(SELECT e.name FROM tdm.environment e ORDER BY e.precedence, e.name);
  lookalike text;
  local_note text := CASE WHEN local_side THEN '; ''local'' names this database.' ELSE '.' END;
BEGIN
  IF (side = 'local' AND local_side) OR side = ANY (registered) THEN
    RETURN;
  END IF;
  lookalike := tdm._lookalike(side, registered || CASE WHEN local_side THEN '{local}'::text[] ELSE '{}' END);
  RAISE EXCEPTION '%: environment "%" does not exist', caller, side
    USING ERRCODE = 'undefined_object',
          HINT = CASE WHEN lookalike IS NOT NULL
                      THEN tdm._did_you_mean('Environment', quote_literal(lookalike))
                      WHEN cardinality(registered) = 0
                      THEN 'No environment is registered (tdm.add_environment)' || local_note
                      ELSE format('Registered environments: %s (tdm.environment)', array_to_string(registered, ', '))
                           || local_note END;
END
$$;

-- The relation a side reads `rel` from: the managed table itself for
-- 'local', else the environment's foreign table (declared with the
-- managed table's columns and types, so both sides give the same types).
CREATE FUNCTION tdm._side_table(side text, rel regclass) RETURNS regclass
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN side = 'local' THEN rel ELSE tdm._env_table(side, rel) END
$$;

-- The columns the environment's table has, read from its information_schema
-- (no row when the table does not exist there or is not readable), with
-- whether they take NULL and, `with_defaults`, their default (a generated
-- column's expression, which PostgreSQL too keeps as its default, in
-- pg_attrdef). Defaults are read only when asked: deparsing one waits
-- for a lock on its table, which the phases' first read must not.
-- This is the first read of an environment in every phase, so a server that
-- cannot be reached is reported here, naming the environment and server.
CREATE FUNCTION tdm._remote_columns_of(env text, rels regclass[], with_defaults bool DEFAULT false)
RETURNS TABLE (rel regclass, column_name text, column_type text, ordinal int, nullable bool, column_default text,
               time_precision int, identity text, generated bool)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  -- (In the declarations: a relation that is not a foreign table is not a
  -- server that cannot be reached.)
  remote_columns regclass := tdm._env_relation(env, 'tdm_remote_columns');
  state text;
  message text;
  detail text;
  context text;
BEGIN
  RETURN QUERY EXECUTE format(
    'WITH c AS MATERIALIZED ('
    '  SELECT c.table_name, c.column_name, c.data_type, c.udt_schema, c.udt_name, c.character_maximum_length,'
    '         c.numeric_precision, c.numeric_scale, c.datetime_precision, c.ordinal_position, c.is_nullable,'
    '         %1$s AS column_default, c.is_identity, c.identity_generation, c.is_generated, c.interval_type'
    '    FROM %2$s c'
    -- (the names as a parameter: sent to the environment, which reads
    -- those tables' columns only)
    '   WHERE c.table_schema = $1 AND c.table_name = ANY ($4)),'
    -- (An array's elements' typmod from the environment's pg_attribute,
    -- in one more read, made only when some column is an array.)
    -- (The tables' oids and the arrays' names sent with the read of
    -- pg_attribute, not every sized column of the database fetched.)
    ' rels AS MATERIALIZED ('
    '  SELECT r.oid, r.relname FROM %4$s r JOIN %5$s n ON n.oid = r.relnamespace'
    '   WHERE n.nspname = $1 AND r.relname = ANY ($4) AND EXISTS (SELECT FROM c WHERE c.data_type = ''ARRAY'')),'
    ' mods AS MATERIALIZED ('
    '  SELECT rels.relname, a.attname, a.atttypmod FROM %3$s a JOIN rels ON rels.oid = a.attrelid'
    '   WHERE a.attrelid = ANY (ARRAY(SELECT rels.oid FROM rels))'
    '     AND a.attname = ANY (ARRAY(SELECT c.column_name FROM c WHERE c.data_type = ''ARRAY''))'
    '     AND a.attnum > 0 AND a.atttypmod >= 0 AND EXISTS (SELECT FROM c WHERE c.data_type = ''ARRAY''))'
    'SELECT t.rel, c.column_name, tdm._describe_type(c.data_type, c.udt_name,'
    '         c.character_maximum_length, c.numeric_precision, c.numeric_scale, c.datetime_precision,'
    '         coalesce((SELECT m.atttypmod FROM mods m'
    '                    WHERE m.relname = c.table_name AND m.attname = c.column_name), -1), c.interval_type)'
    '       || tdm._type_fields(c.data_type, c.udt_schema, c.udt_name, $3), c.ordinal_position,'
    '       c.is_nullable = ''YES'', c.column_default, c.datetime_precision,'
    '       CASE WHEN c.is_identity = ''YES'' THEN c.identity_generation END, c.is_generated = ''ALWAYS'''
    '  FROM c'
    '  JOIN unnest($2, $4) AS t(rel, relname) ON t.relname = c.table_name'
    ' ORDER BY t.rel, c.ordinal_position',
    CASE WHEN with_defaults
         THEN 'CASE WHEN c.is_generated = ''ALWAYS'' THEN c.generation_expression ELSE c.column_default END'
         ELSE 'NULL::text' END, remote_columns,
    tdm._env_relation(env, 'tdm_remote_pg_attribute'), tdm._env_relation(env, 'tdm_remote_pg_class'),
    tdm._env_relation(env, 'tdm_remote_pg_namespace'))
    USING (SELECT e.remote_schema FROM tdm.environment e WHERE e.name = env),
          rels, env,
          ARRAY(SELECT r.relname::text FROM unnest(rels) WITH ORDINALITY AS x(rel, n)
                  JOIN pg_class r ON r.oid = x.rel ORDER BY x.n);
EXCEPTION
  WHEN query_canceled OR lock_not_available THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, context = PG_EXCEPTION_CONTEXT;
    PERFORM tdm._raise_remote('tdm', env, format('the columns of %s', array_to_string(rels, ', ')), state,
                              message, context);
    RAISE;
  WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL;
    PERFORM tdm._unreachable(env, (SELECT e.server FROM tdm.environment e WHERE e.name = env),
                             state, message, detail);
END
$$;

-- Which of the columns `cols` (of the tables `rels`, pairwise) the
-- environment's tables have, though information_schema, which lists the
-- columns its user may read, does not show them: columns the user mapping's
-- role may not read, not columns the environment lacks. One read of its
-- pg_attribute.
CREATE FUNCTION tdm._remote_unreadable_columns(env text, rels regclass[], cols text[])
RETURNS TABLE (rel regclass, column_name text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  state text;
  message text;
  detail text;
BEGIN
  RETURN QUERY EXECUTE format(
    'SELECT t.rel, a.attname FROM %1$s a'
    '  JOIN %2$s r ON r.oid = a.attrelid JOIN %3$s n ON n.oid = r.relnamespace'
    '  JOIN unnest($2, $3, $4) AS t(rel, relname, col) ON t.relname = r.relname AND t.col = a.attname'
    ' WHERE n.nspname = $1 AND r.relname = ANY ($3) AND a.attname = ANY ($4) AND a.attnum > 0'
    '   AND NOT a.attisdropped',
    tdm._env_relation(env, 'tdm_remote_pg_attribute'), tdm._env_relation(env, 'tdm_remote_pg_class'),
    tdm._env_relation(env, 'tdm_remote_pg_namespace'))
    USING (SELECT e.remote_schema FROM tdm.environment e WHERE e.name = env), rels,
          ARRAY(SELECT r.relname::text FROM unnest(rels) WITH ORDINALITY AS x(rel, n)
                  JOIN pg_class r ON r.oid = x.rel ORDER BY x.n),
          cols;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
  PERFORM tdm._unreachable(env, (SELECT e.server FROM tdm.environment e WHERE e.name = env), state, message, detail);
END
$$;

CREATE FUNCTION tdm._remote_columns(env text, rel regclass, with_defaults bool DEFAULT false)
RETURNS TABLE (column_name text, column_type text, ordinal int, nullable bool, column_default text,
               time_precision int, identity text, generated bool)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT c.column_name, c.column_type, c.ordinal, c.nullable, c.column_default, c.time_precision,
         c.identity, c.generated
    FROM tdm._remote_columns_of(env, ARRAY[rel], with_defaults) c
   ORDER BY c.ordinal
$$;

-- The tables of `drift` (an environment's tdm._schema_drift_of rows, as
-- jsonb) lacking a column tagging checks read (the tags, the primary key
-- or a foreign key's columns), or having it of another type (a comparison
-- with the parent's key would fail there): the drift finding says which.
CREATE FUNCTION tdm._lacking_key_columns(drift jsonb) RETURNS regclass[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(array_agg(DISTINCT m.rel), '{}')
    FROM jsonb_to_recordset(drift) AS d(rel oid, column_name text, severity text)
    JOIN tdm.managed_table m ON m.rel = d.rel
   WHERE d.severity = 'error'
     AND (d.column_name IS NULL
          OR d.column_name IN (m.release_column, m.feature_column)
          OR d.column_name = ANY (m.pk_columns)
          OR d.column_name IN (SELECT jsonb_array_elements_text(fk->'columns')
                                 FROM jsonb_array_elements(m.foreign_keys) fk))
$$;

-- How table `actual` (a target's, master's) differs from the managed
-- table `managed` in its columns: names, and with `types` their types; NULL
-- when it does not. Rows are copied between the two by column name, so a
-- column on one side only breaks the copy inside its generated statement.
CREATE FUNCTION tdm._table_drift(managed regclass, actual regclass, types bool) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(CASE WHEN a.column_name IS NULL
                           THEN format('column %I (%s) is missing', m.column_name, m.column_type)
                         WHEN m.column_name IS NULL
                           THEN format('column %I (%s) is not in %s', a.column_name, a.column_type, managed)
                         ELSE format('column %I is %s, but %s in %s', a.column_name, a.column_type,
                                     m.column_type, managed) END,
                    '; ' ORDER BY coalesce(m.ordinal, 10000 + a.ordinal))
    FROM tdm._columns(managed) m FULL JOIN tdm._columns(actual) a USING (column_name)
   WHERE m.column_name IS NULL OR a.column_name IS NULL OR (types AND m.column_type <> a.column_type)
$$;

-- Refuses `operation` when the caller lacks USAGE on schema `schema_name`
-- or one of `privileges` on a table of it named like a managed table (the
-- managed tables of that schema, with `managed_only`),
-- naming them and the GRANT (else PostgreSQL's bare "permission denied"
-- comes from some statement deep in the operation). Asked before anything
-- of the schema is read. Row level security that applies there is refused
-- too, unless `row_security` is false (a sample's reader, find_pii).
CREATE FUNCTION tdm._require_privileges(operation text, schema_name text, privileges text[],
                                        row_security bool DEFAULT true, managed_only bool DEFAULT false)
RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  missing text;
BEGIN
  IF NOT has_schema_privilege(schema_name, 'USAGE') THEN
    RAISE EXCEPTION '%: % may not use schema %', operation, current_user, quote_ident(schema_name)
      USING ERRCODE = 'insufficient_privilege',
            HINT = format('The schema''s owner grants it: GRANT USAGE ON SCHEMA %I TO %I; and %s on its tables.',
                          schema_name, current_user, array_to_string(privileges, ', '));
  END IF;
  SELECT string_agg(format('%s on %s', x.lacking, x.rel), '; ' ORDER BY x.rel::text)
    INTO missing
    FROM (SELECT t.rel, string_agg(p, ', ' ORDER BY o) AS lacking
            FROM tdm.managed_table m
           -- (`managed_only`: the managed tables of that schema themselves,
           -- not the tables named like them there: a target's)
           CROSS JOIN LATERAL (SELECT CASE WHEN NOT managed_only THEN tdm._target_table(schema_name, m.rel)
                                           WHEN (SELECT n.nspname FROM pg_class cl
                                                   JOIN pg_namespace n ON n.oid = cl.relnamespace
                                                  WHERE cl.oid = m.rel) = schema_name THEN m.rel END AS rel) t
           CROSS JOIN LATERAL unnest(privileges) WITH ORDINALITY AS u(p, o)
           WHERE t.rel IS NOT NULL AND NOT has_table_privilege(t.rel, p)
           GROUP BY t.rel) x;
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION '%: % lacks % in schema %', operation, current_user, missing, quote_ident(schema_name)
      USING ERRCODE = 'insufficient_privilege',
            HINT = format('The tables'' owner grants them: GRANT %s ON ALL TABLES IN SCHEMA %I TO %I;',
                          array_to_string(privileges, ', '), schema_name, current_user);
  END IF;
  IF row_security THEN
    PERFORM tdm._refuse_row_security(operation, schema_name);
  END IF;
END
$$;

-- tdm._require_privileges over the schemas of the managed tables, which
-- `operation` reads (their columns, to compare: information_schema hides
-- those of a table the caller may not read, which would look like drift).
CREATE FUNCTION tdm._require_managed_schemas(operation text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  managed_schema name;
BEGIN
  FOR managed_schema IN SELECT DISTINCT n.nspname FROM tdm.managed_table mt
                          JOIN pg_class cl ON cl.oid = mt.rel JOIN pg_namespace n ON n.oid = cl.relnamespace
                         ORDER BY 1 LOOP
    PERFORM tdm._require_privileges(operation, managed_schema, '{SELECT}', row_security => false,
                                    managed_only => true);
  END LOOP;
END
$$;

-- Refuses `operation` when row level security applies to the caller on a
-- table of `schema_name` named like a managed table: its policies would
-- hide the release's rows from the load's checks and the verification, or
-- refuse them, with PostgreSQL's bare message.
CREATE FUNCTION tdm._refuse_row_security(operation text, schema_name text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  secured text;
  forced text;  -- of those, the caller's own under FORCE ROW LEVEL SECURITY
BEGIN
  SELECT string_agg(t.rel::text, ', ' ORDER BY t.rel::text),
         string_agg(t.rel::text, ', ' ORDER BY t.rel::text)
           FILTER (WHERE c.relforcerowsecurity AND pg_has_role(c.relowner, 'USAGE'))
    INTO secured, forced
    FROM tdm.managed_table m
   CROSS JOIN LATERAL (SELECT tdm._target_table(schema_name, m.rel) AS rel) t
    JOIN pg_class c ON c.oid = t.rel
   WHERE t.rel IS NOT NULL AND row_security_active(t.rel);
  IF secured IS NOT NULL THEN
    RAISE EXCEPTION '%: row level security applies to % on %', operation, current_user, secured
      USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'Its policies would hide rows from tdm''s checks, or refuse the rows it writes.',
            HINT = CASE WHEN forced IS NOT NULL
                        -- (their owner, under FORCE ROW LEVEL SECURITY)
                        THEN format('You own %s, and FORCE ROW LEVEL SECURITY applies its policies to you too: ALTER'
                                    ' TABLE ... NO FORCE ROW LEVEL SECURITY, or run it as a role with BYPASSRLS.',
                                    forced)
                        ELSE format('Run it as the tables'' owner or a role with BYPASSRLS (ALTER ROLE %I BYPASSRLS;),'
                                    ' or disable row level security on the tables of %s, which hold test data.',
                                    current_user, schema_name) END;
  END IF;
END
$$;

-- Refuses `operation` when a table of `schema_name` differs from its
-- managed table (tdm._table_drift), naming the table and each difference.
CREATE FUNCTION tdm._require_same_columns(operation text, schema_name text, types bool) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  d record;
BEGIN
  -- (the first table by name, and every one when more differ: a DBA
  -- migrating a schema fixes them in one go)
  WITH x AS (SELECT t.managed AS rel, t.rel AS actual, tdm._table_drift(t.managed, t.rel, types) AS drift
               FROM tdm._target_tables(schema_name) t)
  SELECT x.rel, x.actual, x.drift, (SELECT count(*) FROM x WHERE x.drift IS NOT NULL) AS n,
         (SELECT string_agg(format('%s: %s', y.actual, y.drift), '; ' ORDER BY y.rel::text)
            FROM x AS y WHERE y.drift IS NOT NULL) AS every
    INTO d
    FROM x
   WHERE x.drift IS NOT NULL
   ORDER BY x.rel::text LIMIT 1;
  IF FOUND AND d.n = 1 THEN
    RAISE EXCEPTION '%: table % differs from the managed table %: %', operation, d.actual, d.rel, d.drift
      USING ERRCODE = 'datatype_mismatch',
            HINT = format('Give %s the columns of %s (ALTER TABLE), as the environments were migrated.',
                          d.actual, d.rel);
  ELSIF FOUND THEN
    RAISE EXCEPTION '%: table % differs from the managed table %: %', operation, d.actual, d.rel, d.drift
      USING ERRCODE = 'datatype_mismatch',
            DETAIL = format('%s tables differ: %s.', d.n, d.every),
            HINT = format('Give the tables of %s the columns of the managed tables (ALTER TABLE), as the'
                          ' environments were migrated.', schema_name);
  END IF;
END
$$;

-- The columns `actual` (a target's table) holds with another type than
-- the managed table `managed`, stored generated ones aside: name and the
-- actual type.
CREATE FUNCTION tdm._retyped_columns(managed regclass, actual regclass)
RETURNS TABLE (column_name text, column_type text, ordinal int)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN QUERY  -- (PL/pgSQL for its kept plan, as tdm._columns)
  SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnum::int
    FROM pg_attribute a
    JOIN pg_attribute m ON m.attrelid = managed AND m.attname = a.attname
                       AND m.attnum > 0 AND NOT m.attisdropped
   WHERE a.attrelid = actual AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
     AND (a.atttypid, a.atttypmod) <> (m.atttypid, m.atttypmod)
   ORDER BY a.attnum;
END
$$;

-- Refuses `operation` when a column of a table of `schema_name` is of
-- another type than the managed table's and PostgreSQL has no assignment
-- of the managed table's values to it: the load INSERTs them, and could
-- never succeed. (The INSERT is planned, not run. Values the type refuses,
-- a longer string say, are violations: tdm._check_fit.) `read_back`: the
-- other way, for master, whose rows of earlier releases consolidation
-- reads as the managed tables' (master created from the same script, with
-- its own enum type).
CREATE FUNCTION tdm._require_assignable(operation text, schema_name text,
                                        read_back bool DEFAULT false) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  d record;
  message text;
BEGIN
  FOR d IN SELECT t.managed AS rel, t.rel AS actual,
                  string_agg(format('%I', c.column_name), ', ' ORDER BY c.ordinal) AS columns
             FROM tdm._target_tables(schema_name) t
            CROSS JOIN LATERAL tdm._retyped_columns(t.managed, t.rel) c
            GROUP BY t.managed, t.rel ORDER BY t.managed::text LOOP
    BEGIN
      -- (Read back into an empty copy of the managed table, as collection
      -- reads: no privilege on the managed table beyond SELECT.)
      IF read_back THEN
        IF to_regclass('pg_temp.tdm_read_back') IS NOT NULL THEN
          DROP TABLE pg_temp.tdm_read_back;
        END IF;
        EXECUTE format('CREATE TEMP TABLE tdm_read_back ON COMMIT DROP AS SELECT * FROM %s LIMIT 0', d.rel);
      END IF;
      EXECUTE format('EXPLAIN INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s',
                     CASE WHEN read_back THEN 'pg_temp.tdm_read_back' ELSE d.actual::text END,
                     d.columns, d.columns, CASE WHEN read_back THEN d.actual ELSE d.rel END);
    EXCEPTION WHEN datatype_mismatch OR cannot_coerce THEN
      GET STACKED DIAGNOSTICS message = MESSAGE_TEXT;
      IF read_back THEN
        RAISE EXCEPTION '%: the managed table % cannot take the values of %, which holds the earlier releases'' rows: %',
          operation, d.rel, d.actual, message
          USING ERRCODE = 'datatype_mismatch',
                HINT = format('Give the column of %s the type it has in %s (ALTER TABLE .. ALTER COLUMN .. TYPE),'
                              ' or one PostgreSQL assigns to it.', d.actual, d.rel);
      END IF;
      RAISE EXCEPTION '%: table % cannot take the values of the managed table %: %',
        operation, d.actual, d.rel, message
        USING ERRCODE = 'datatype_mismatch',
              HINT = format('Give the column of %s the type it has in %s (ALTER TABLE .. ALTER COLUMN .. TYPE),'
                            ' or one that PostgreSQL assigns it to.', d.actual, d.rel);
    END;
  END LOOP;
END
$$;

-- information_schema.columns of the tables `rels`, as that view computes
-- them (the columns tdm reads; a column the caller may not use is not
-- shown), found by the tables' OIDs: the view filters by name only after
-- reading every column of the database, and the drift checks read every
-- managed table's columns at each call, one query for all (decision 336).
-- Defaults and generation expressions only `with_defaults` (else NULL):
-- deparsing one opens its table, waiting for a lock a phase's first read
-- must not wait for.
CREATE FUNCTION tdm._information_columns(rels regclass[], with_defaults bool)
RETURNS TABLE (rel regclass, column_name text, ordinal_position int, column_default text, is_nullable text, data_type text,
               character_maximum_length int, numeric_precision int, numeric_scale int, datetime_precision int,
               udt_schema text, udt_name text, is_identity text, identity_generation text, is_generated text,
               generation_expression text, interval_type text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT a.attrelid::regclass, a.attname::text, a.attnum::int,
         CASE WHEN with_defaults AND a.attgenerated = '' THEN pg_get_expr(ad.adbin, ad.adrelid) END,
         CASE WHEN a.attnotnull OR (t.typtype = 'd' AND t.typnotnull) THEN 'NO' ELSE 'YES' END,
         CASE WHEN t.typtype = 'd'
              THEN CASE WHEN bt.typelem <> 0 AND bt.typlen = -1 THEN 'ARRAY'
                        WHEN nbt.nspname = 'pg_catalog' THEN format_type(t.typbasetype, NULL)
                        ELSE 'USER-DEFINED' END
              ELSE CASE WHEN t.typelem <> 0 AND t.typlen = -1 THEN 'ARRAY'
                        WHEN nt.nspname = 'pg_catalog' THEN format_type(a.atttypid, NULL)
                        ELSE 'USER-DEFINED' END END,
         information_schema._pg_char_max_length(information_schema._pg_truetypid(a, t),
                                                information_schema._pg_truetypmod(a, t))::int,
         information_schema._pg_numeric_precision(information_schema._pg_truetypid(a, t),
                                                  information_schema._pg_truetypmod(a, t))::int,
         information_schema._pg_numeric_scale(information_schema._pg_truetypid(a, t),
                                              information_schema._pg_truetypmod(a, t))::int,
         information_schema._pg_datetime_precision(information_schema._pg_truetypid(a, t),
                                                   information_schema._pg_truetypmod(a, t))::int,
         coalesce(nbt.nspname, nt.nspname)::text, coalesce(bt.typname, t.typname)::text,
         CASE WHEN a.attidentity IN ('a', 'd') THEN 'YES' ELSE 'NO' END,
         CASE a.attidentity WHEN 'a' THEN 'ALWAYS' WHEN 'd' THEN 'BY DEFAULT' END,
         CASE WHEN a.attgenerated <> '' THEN 'ALWAYS' ELSE 'NEVER' END,
         CASE WHEN with_defaults AND a.attgenerated <> '' THEN pg_get_expr(ad.adbin, ad.adrelid) END,
         information_schema._pg_interval_type(information_schema._pg_truetypid(a, t),
                                              information_schema._pg_truetypmod(a, t))::text
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_type t ON t.oid = a.atttypid JOIN pg_namespace nt ON nt.oid = t.typnamespace
    LEFT JOIN (pg_type bt JOIN pg_namespace nbt ON nbt.oid = bt.typnamespace)
           ON t.typtype = 'd' AND bt.oid = t.typbasetype
    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
   WHERE a.attrelid = ANY (rels) AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'f', 'p')
     AND NOT pg_is_other_temp_schema(c.relnamespace)
     AND (pg_has_role(c.relowner, 'USAGE') OR has_column_privilege(c.oid, a.attnum, 'SELECT, INSERT, UPDATE, REFERENCES'))
$$;

-- The targets' columns, described the same way (defaults only when
-- asked), for the tables `rels`.
CREATE FUNCTION tdm._target_columns_of(rels regclass[], with_defaults bool DEFAULT false)
RETURNS TABLE (rel regclass, column_name text, column_type text, ordinal int, nullable bool, column_default text,
               time_precision int, identity text, generated bool)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT c.rel, c.column_name::text,
         tdm._describe_type(c.data_type, c.udt_name, c.character_maximum_length::int,
                            c.numeric_precision::int, c.numeric_scale::int, c.datetime_precision::int,
                            (SELECT a.atttypmod FROM pg_attribute a
                              WHERE c.data_type = 'ARRAY' AND a.attrelid = c.rel AND a.attname = c.column_name::name),
                            c.interval_type)
           || tdm._type_fields(c.data_type, c.udt_schema, c.udt_name),
         c.ordinal_position::int, c.is_nullable::text = 'YES',
         CASE WHEN NOT with_defaults THEN NULL
              WHEN c.is_generated::text = 'ALWAYS' THEN c.generation_expression::text
              ELSE c.column_default::text END, c.datetime_precision::int,
         CASE WHEN c.is_identity::text = 'YES' THEN c.identity_generation::text END,
         c.is_generated::text = 'ALWAYS'
    FROM tdm._information_columns(rels, with_defaults) c
   ORDER BY c.rel, c.ordinal_position
$$;

-- The same for one table.
CREATE FUNCTION tdm._target_columns(rel regclass, with_defaults bool DEFAULT false)
RETURNS TABLE (column_name text, column_type text, ordinal int, nullable bool, column_default text,
               time_precision int, identity text, generated bool)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT c.column_name, c.column_type, c.ordinal, c.nullable, c.column_default, c.time_precision, c.identity,
         c.generated
    FROM tdm._target_columns_of(ARRAY[rel], with_defaults) c
   ORDER BY c.ordinal
$$;

-- Whether every value of type `from_type` reads into `to_type` as itself,
-- and two different values as two (both spelled by tdm._describe_type):
-- a longer or unbounded varchar, a wider integer or numeric, more
-- fractional digits of a time; arrays of those. An environment a
-- migration has not reached yet (varchar(50) where the target has
-- varchar(100)) is read through the target's type without loss, and a
-- change of its rows still changes what its lock's checksum reads. Each
-- value also reads as the environment's own ALTER .. TYPE to the target's
-- type would make it, so its migration later changes no locked row: not
-- so for real into double precision (0.1 is read as 0.1, and migrated as
-- 0.10000000149011612).
CREATE FUNCTION tdm._type_widens(from_type text, to_type text) RETURNS bool
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH integers(name, digits, rank) AS (VALUES ('smallint', 5, 1), ('integer', 10, 2), ('bigint', 19, 3)),
       f AS (SELECT regexp_match(from_type, E'^(character varying|numeric|timestamp|time)(?:\\((\\d+)(?:,(\\d+))?\\))?(.*)$') AS m),
       t AS (SELECT regexp_match(to_type, E'^(character varying|numeric|timestamp|time)(?:\\((\\d+)(?:,(\\d+))?\\))?(.*)$') AS m)
  SELECT coalesce(CASE
    WHEN from_type = to_type THEN true
    WHEN (from_type LIKE '%[]') <> (to_type LIKE '%[]') THEN false  -- (an array and a scalar)
    -- Arrays: as their elements (spelled with their length or scale,
    -- from the column's typmod: tdm._describe_type).
    WHEN from_type LIKE '%[]' AND to_type LIKE '%[]'
      THEN tdm._type_widens(left(from_type, -2), left(to_type, -2))
    -- varchar(n): into text, varchar, or a varchar as long
    WHEN f.m[1] = 'character varying' AND to_type = 'text' THEN true
    WHEN from_type = 'text' AND to_type = 'character varying' THEN true
    WHEN f.m[1] = 'character varying' AND t.m[1] = 'character varying'
      THEN t.m[2] IS NULL OR f.m[2]::int <= t.m[2]::int
    -- integers: a wider one, or a numeric with room for their digits
    WHEN fi.rank IS NOT NULL AND ti.rank IS NOT NULL THEN fi.rank <= ti.rank
    WHEN fi.rank IS NOT NULL AND t.m[1] = 'numeric' AND t.m[4] = ''
      THEN t.m[2] IS NULL OR t.m[2]::int - coalesce(t.m[3], '0')::int >= fi.digits
    -- numeric(p,s): as many integer digits and as many fractional ones
    WHEN f.m[1] = 'numeric' AND t.m[1] = 'numeric' AND f.m[4] = '' AND t.m[4] = ''
      THEN t.m[2] IS NULL
           OR (f.m[2] IS NOT NULL
               AND t.m[3]::int >= f.m[3]::int AND t.m[2]::int - t.m[3]::int >= f.m[2]::int - f.m[3]::int)
    -- timestamp(p)/time(p) of one kind: as many fractional digits (6 unsaid)
    WHEN f.m[1] IN ('timestamp', 'time') AND t.m[1] = f.m[1] AND t.m[4] = f.m[4]
      THEN coalesce(f.m[2], '6')::int <= coalesce(t.m[2], '6')::int
    -- an interval of some fields or digits: into a plain interval, which
    -- holds every interval
    WHEN from_type ~ '^interval[ (]' AND to_type = 'interval' THEN true
    ELSE false END, false)
    FROM f, t
    LEFT JOIN integers fi ON fi.name = from_type
    LEFT JOIN integers ti ON ti.name = to_type
$$;

-- How the rows of an environment a migration has not reached yet, whose
-- table lacks the target's column `col`, are read: as that migration
-- (ALTER TABLE .. ADD COLUMN) would give them the column. `fill` is an
-- expression of the column's type: NULL, or the column's default when
-- that is a constant (its domain's, without one of its own; an immutable
-- expression, as PostgreSQL judges a generated column's: the same value
-- at tagging and at every collection, so the lock's checksum holds).
-- Else NULL, and `reason` says why: a key or tag column, a referenced
-- column, a NOT NULL column (or domain) without a default, a default such
-- as now() or a sequence's, a default on a reference, a generated or
-- identity column. `default_expr`: the default's text, for messages.
CREATE FUNCTION tdm._missing_column_fill(rel regclass, col text, OUT fill text, OUT reason text,
                                         OUT default_expr text)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  m tdm.managed_table;
  a pg_attribute;
  type_name text;
  domain_not_null bool;  -- a domain of the column's type chain is NOT NULL
BEGIN
  SELECT * INTO m FROM tdm.managed_table x WHERE x.rel = _missing_column_fill.rel;
  SELECT * INTO a FROM pg_attribute x WHERE x.attrelid = rel AND x.attname = col AND NOT x.attisdropped;
  type_name := format_type(a.atttypid, a.atttypmod);
  default_expr := (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d
                    WHERE d.adrelid = rel AND d.adnum = a.attnum);
  -- (Without one of its own, a column of a domain takes the domain's,
  -- the nearest along its base types, and may not be NULL if one of them
  -- says NOT NULL.)
  WITH RECURSIVE chain AS (
    SELECT t.typbasetype, t.typdefaultbin, t.typnotnull, t.typtype, 1 AS depth
      FROM pg_type t WHERE t.oid = a.atttypid AND t.typtype = 'd'
    UNION ALL
    SELECT b.typbasetype, b.typdefaultbin, b.typnotnull, b.typtype, c.depth + 1
      FROM chain c JOIN pg_type b ON b.oid = c.typbasetype WHERE b.typtype = 'd')
  SELECT coalesce(default_expr, (SELECT pg_get_expr(c.typdefaultbin, 0) FROM chain c
                                  WHERE c.typdefaultbin IS NOT NULL ORDER BY c.depth LIMIT 1)),
         coalesce(bool_or(c.typnotnull), false)
    INTO default_expr, domain_not_null
    FROM chain c;
  reason := CASE
    WHEN col = ANY (m.pk_columns) THEN 'it is part of the primary key'
    WHEN col IN (m.release_column, m.feature_column) THEN 'it holds the release and feature tags'
    WHEN EXISTS (SELECT FROM unnest(m.natural_keys) g, unnest(string_to_array(g, ',')) k WHERE k = col)
      THEN 'it is part of a natural key'
    WHEN EXISTS (SELECT FROM pg_constraint c
                  WHERE c.confrelid = rel AND c.contype = 'f' AND a.attnum = ANY (c.confkey))
      THEN 'other rows reference it'
    WHEN a.attgenerated <> '' THEN 'it is a generated column'
    WHEN a.attidentity <> '' THEN 'it is an identity column'
    WHEN default_expr IS NULL AND a.attnotnull THEN 'it is NOT NULL and has no default'
    WHEN default_expr IS NULL AND domain_not_null
      THEN format('its type %s is NOT NULL and has no default', type_name)
    WHEN default_expr IS NOT NULL
         AND EXISTS (SELECT FROM jsonb_array_elements(m.foreign_keys) fk
                      WHERE fk->'columns' ? col)
      THEN format('it is part of a reference, and its default (%s) would name a parent row', default_expr)
  END;
  IF reason IS NOT NULL THEN
    RETURN;
  END IF;
  IF default_expr IS NULL THEN
    fill := format('NULL::%s', type_name);
    RETURN;
  END IF;
  -- (PostgreSQL's own judgement of the expression: a generated column's
  -- must be immutable; and of its value, stored as ADD COLUMN would store
  -- it: a domain's CHECK, a length the type refuses. The probe table is
  -- rolled back at once.)
  BEGIN
    EXECUTE format('CREATE TEMP TABLE tdm_default_probe (c %s%s GENERATED ALWAYS AS (%s) STORED)',
                   type_name, CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END, default_expr);
    INSERT INTO pg_temp.tdm_default_probe DEFAULT VALUES;
    RAISE EXCEPTION USING ERRCODE = 'T0001';  -- (its own code: a default may raise P0001)
  EXCEPTION
    WHEN SQLSTATE 'T0001' THEN
      fill := format('CAST((%s) AS %s)', default_expr, type_name);
    WHEN invalid_object_definition THEN  -- (generation expression is not immutable)
      reason := format('its default (%s) is not a constant', default_expr);
    WHEN not_null_violation THEN
      reason := format('it is NOT NULL and its default (%s) gives NULL', default_expr);
    WHEN data_exception OR integrity_constraint_violation OR raise_exception THEN
      reason := format('its default (%s) cannot be stored in it: %s', default_expr, SQLERRM);
  END;
END
$$;

-- Why the environment's relation named as table `rel` is not read, when
-- it is there but of a kind information_schema does not list (NULL
-- otherwise): a materialized view, a sequence, an index; or a table its
-- reader has no privilege on.
CREATE FUNCTION tdm._env_unread_kind(env text, rel regclass) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e tdm.environment := (SELECT x FROM tdm.environment x WHERE x.name = env);
  relname text := (SELECT c.relname::text FROM pg_class c WHERE c.oid = rel);
  kind text;
BEGIN
  EXECUTE format('SELECT c.relkind FROM %s c JOIN %s n ON n.oid = c.relnamespace'
                 ' WHERE n.nspname = $1 AND c.relname = $2',
                 tdm._env_relation(env, 'tdm_remote_pg_class'), tdm._env_relation(env, 'tdm_remote_pg_namespace'))
    INTO kind USING e.remote_schema, relname;
  RETURN format('%s.%s in %s is ', e.remote_schema, relname, env)
         || CASE WHEN kind = 'm'
                 THEN 'a materialized view, which tdm does not read: read it through a view there (CREATE VIEW'
                      ' ... AS SELECT * FROM it, in a schema of its own given as the environment''s remote_schema),'
                      ' or make it a table'
                 WHEN kind = 'S' THEN 'a sequence, not a table'
                 WHEN kind IN ('i', 'I') THEN 'an index, not a table'
                 -- (information_schema lists what its reader may read)
                 WHEN kind IN ('r', 'p', 'v', 'f')
                 THEN format('there, but the user mapping''s role of server %s may not read it: grant it USAGE on'
                             ' schema %s and SELECT on the %s there', e.server, quote_ident(e.remote_schema),
                             CASE kind WHEN 'v' THEN 'view' WHEN 'f' THEN 'foreign table' ELSE 'table' END) END;
EXCEPTION WHEN OTHERS THEN
  RETURN NULL;  -- (the catalog unread: the table is said missing)
END
$$;

-- How the environment's tables differ from the targets `rels`: a table
-- missing (one row with no column), columns missing in the environment or
-- of another type (errors), extra columns, columns of a type the target's
-- widens (tdm._type_widens), missing columns its rows are read without
-- (tdm._missing_column_fill: `fill`, the expression read instead) and
-- columns the target generates that are plain there: warnings. `ordinal` orders a table's rows. One read of the environment
-- for all of them.
CREATE FUNCTION tdm._schema_drift_of(env text, rels regclass[])
RETURNS TABLE (rel regclass, column_name text, target_type text, env_type text, severity text, detail text,
               ordinal int, fill text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH remote AS MATERIALIZED (SELECT * FROM tdm._remote_columns_of(env, rels)),
       -- (the targets' columns, all in one read)
       target AS MATERIALIZED (SELECT * FROM tdm._target_columns_of(rels)),
       -- (the target's columns information_schema did not show: lacking,
       -- or hidden from the user mapping's role; one more read, only then)
       unseen AS MATERIALIZED (
         SELECT x.rel, t.column_name FROM unnest(rels) AS x(rel) JOIN target t ON t.rel = x.rel
          WHERE EXISTS (SELECT FROM remote r WHERE r.rel = x.rel)
            AND NOT EXISTS (SELECT FROM remote r WHERE r.rel = x.rel AND r.column_name = t.column_name)),
       unreadable AS MATERIALIZED (
         SELECT u.* FROM tdm._remote_unreadable_columns(env, ARRAY(SELECT rel FROM unseen),
                                                        ARRAY(SELECT column_name FROM unseen)) u
          WHERE EXISTS (SELECT FROM unseen))
  SELECT x.rel, NULL::text, NULL::text, NULL::text, 'error'::text,
         coalesce(tdm._env_unread_kind(env, x.rel),
                  format('table %s does not exist in %s (remote schema %s), or the user mapping''s role'
                         ' may not read it',
                         (SELECT relname FROM pg_class WHERE oid = x.rel), env,
                         (SELECT e.remote_schema FROM tdm.environment e WHERE e.name = env))), 0, NULL::text
    FROM unnest(rels) AS x(rel)
   WHERE NOT EXISTS (SELECT FROM remote r WHERE r.rel = x.rel)
  UNION ALL
  SELECT x.rel, d.*
    FROM unnest(rels) AS x(rel)
   CROSS JOIN LATERAL (
     SELECT coalesce(t.column_name, r.column_name), t.column_type, r.column_type,
            CASE WHEN t.column_name IS NULL OR widens OR f.fill IS NOT NULL OR t.column_type = r.column_type
                 THEN 'warning' ELSE 'error' END,
            CASE WHEN t.column_type = r.column_type
                   -- (generated in the target, plain in the environment)
                   THEN format('column %s of %s is generated, but plain in %s: its values there are its own,'
                               ' compared as collected (a conflict on them is theirs), and the load computes'
                               ' the target''s; make it generated in %s as in %s', t.column_name, x.rel, env,
                               env, x.rel)
                 WHEN f.unreadable
                   THEN format('column %s (%s) of %s in %s: the user mapping''s role may not read it; grant it'
                               ' SELECT on the column there', t.column_name, t.column_type, x.rel, env)
                 WHEN r.column_name IS NULL AND f.fill IS NOT NULL
                   THEN format('column %s (%s) of %s is missing in %s: its rows are read with %s %s,'
                               ' as adding the column there would give them', t.column_name,
                               t.column_type, x.rel, env, t.column_name,
                               CASE WHEN f.fill LIKE 'NULL::%' THEN 'NULL'
                                    ELSE format('= %s (its default)', f.default_expr) END)
                        || coalesce(rn.hint, '')
                 WHEN r.column_name IS NULL
                   THEN format('column %s (%s) of %s is missing in %s, and %s: add it there', t.column_name,
                               t.column_type, x.rel, env, f.reason) || coalesce(rn.hint, '')
                 WHEN t.column_name IS NULL
                   THEN format('column %s (%s) exists only in %s, not in %s', r.column_name,
                               r.column_type, env, x.rel)
                 ELSE format('column %s is %s in %s but %s in %s%s', t.column_name, t.column_type,
                             x.rel, r.column_type, env,
                             CASE WHEN widens THEN format(': each value is read as %s, unchanged', t.column_type)
                                  ELSE '' END)
            END,
            coalesce(t.ordinal, 10000 + r.ordinal), f.fill
       FROM (SELECT tc.column_name, tc.column_type, tc.ordinal, tc.generated FROM target tc WHERE tc.rel = x.rel) t
       FULL JOIN (SELECT * FROM remote WHERE remote.rel = x.rel) r USING (column_name)
      CROSS JOIN LATERAL (SELECT coalesce(tdm._type_widens(r.column_type, t.column_type), false) AS widens) w
      -- (called for a missing column only)
      -- (a column hidden from the user mapping's role is not read as NULL)
      LEFT JOIN LATERAL (SELECT CASE WHEN NOT h.unreadable THEN mf.fill END AS fill, mf.reason, mf.default_expr,
                                h.unreadable
                           FROM tdm._missing_column_fill(x.rel, t.column_name) mf,
                                LATERAL (SELECT EXISTS (SELECT FROM unreadable u
                                                         WHERE u.rel = x.rel AND u.column_name = t.column_name)
                                                AS unreadable) h
                          WHERE r.column_name IS NULL AND t.column_name IS NOT NULL) f ON true
      -- (A column of that type only the environment has: the same one
      -- renamed there, perhaps.)
      LEFT JOIN LATERAL (SELECT format('; %s has column %s of that type, which %s lacks: renamed?', env,
                                       quote_ident(o.column_name), x.rel) AS hint
                           FROM remote o
                          WHERE r.column_name IS NULL AND t.column_name IS NOT NULL AND o.rel = x.rel
                            AND o.column_type = t.column_type
                            AND NOT EXISTS (SELECT FROM target tt
                                             WHERE tt.rel = x.rel AND tt.column_name = o.column_name)
                          ORDER BY o.ordinal LIMIT 1) rn ON true
      WHERE t.column_type IS DISTINCT FROM r.column_type OR (t.generated AND NOT r.generated)) d
   WHERE EXISTS (SELECT FROM remote r WHERE r.rel = x.rel)
$$;

-- The same as a jsonb array (rel as an oid), for the readers of an
-- environment that keep it through a loop over its tables.
CREATE FUNCTION tdm._env_drift(env text, rels regclass[]) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(jsonb_agg(jsonb_build_object('rel', d.rel::oid, 'column_name', d.column_name,
                                               'target_type', d.target_type, 'env_type', d.env_type,
                                               'severity', d.severity, 'detail', d.detail, 'fill', d.fill,
                                               'ordinal', d.ordinal)
                            ORDER BY d.rel::text, d.ordinal), '[]')
    FROM tdm._schema_drift_of(env, rels) d
$$;

-- The columns of `rel` that an environment (its tdm._env_drift) lacks and
-- whose rows are read without, with the expression read instead:
-- {"column": "expression"}.
CREATE FUNCTION tdm._fills(drift jsonb, rel regclass) RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(jsonb_object_agg(d->>'column_name', d->>'fill'), '{}')
    FROM jsonb_array_elements(drift) d
   WHERE (d->>'rel')::oid = rel::oid AND d->>'fill' IS NOT NULL
$$;

-- The columns of `rel` as read from an environment's table (alias `alias`),
-- in order: each by name, or the expression read instead where the
-- environment lacks it (`fills`, tdm._fills), under the column's name.
CREATE FUNCTION tdm._env_select_list(rel regclass, fills jsonb, alias text DEFAULT 't') RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(CASE WHEN fills ? c.column_name THEN format('%s AS %I', fills->>c.column_name, c.column_name)
                         ELSE format('%I.%I', alias, c.column_name) END, ', ' ORDER BY c.ordinal)
    FROM tdm._columns(rel) c
$$;

-- The same for one table.
CREATE FUNCTION tdm._schema_drift(env text, rel regclass)
RETURNS TABLE (column_name text, target_type text, env_type text, severity text, detail text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT d.column_name, d.target_type, d.env_type, d.severity, d.detail
    FROM tdm._schema_drift_of(env, ARRAY[rel]) d
   ORDER BY d.ordinal
$$;
