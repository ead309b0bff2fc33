-- Setup API: environments, managed tables, releases, features, rules.
-- Every function checks its inputs first, says what is wrong, which object
-- and what to do, and writes one audit row when it succeeds.

-- An argument the call cannot do without (NULL would silently mean
-- something else: a wait => NULL ran a job both in the foreground and in a
-- worker).
CREATE FUNCTION tdm._require_given(caller text, argument text, given bool) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT given THEN
    RAISE EXCEPTION '%: % must not be NULL', caller, argument USING ERRCODE = 'null_value_not_allowed';
  END IF;
END
$$;

-- Refuses a call that changes rows of tables other tables may reference
-- (promote, deploy, the rollbacks, archive and restore) in a session
-- whose triggers fire as on a replica: foreign keys are triggers, and an
-- unmanaged table's reference to a row the call deletes would be left
-- dangling. (Consolidation's load checks what the triggers would.)
CREATE FUNCTION tdm._refuse_replica_role(caller text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  -- (`local` fires ordinary triggers, foreign keys among them)
  IF current_setting('session_replication_role') = 'replica' THEN
    RAISE EXCEPTION '%: this session''s session_replication_role is %, under which foreign keys and triggers'
                    ' do not fire', caller, current_setting('session_replication_role')
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = 'The rows it changes may be referenced by other tables, whose foreign keys would not be'
                     ' checked. Nothing was done.',
            HINT = format('SET session_replication_role = origin; then call tdm.%s again.', caller);
  END IF;
END
$$;

-- Column names as messages list them: "a, b", each quoted where SQL
-- would quote it.
CREATE FUNCTION tdm._column_names(cols text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT string_agg(quote_ident(c), ', ' ORDER BY n) FROM unnest(cols) WITH ORDINALITY AS u(c, n)
$$;

-- SQL of `expr` as a natural key registered with normalize_keys is
-- compared: its text lower-cased, blanks around it trimmed.
CREATE FUNCTION tdm._folded_sql(expr text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format(E'pg_catalog.lower(pg_catalog.btrim((%s)::text, E'' \\t\\n\\r\\f\\x0b''))', expr)
$$;

-- A table as messages name it: by name, or by OID when there is none
-- (regclass shows OID 0 as "-").
CREATE FUNCTION tdm._rel_name(rel regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN EXISTS (SELECT FROM pg_class c WHERE c.oid = rel) THEN rel::text
              ELSE format('with OID %s', rel::oid) END
$$;

-- Whose a schema is when it is not the user's: tdm's own, the system's or
-- a registered environment's (NULL for the user's).
CREATE FUNCTION tdm._schema_not_users(schema_name text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN schema_name IN ('tdm', 'tdm_archive', 'tdm_snapshot', 'tdm_remote') THEN 'tdm''s own'
              WHEN schema_name IN ('pg_catalog', 'information_schema') OR schema_name LIKE E'pg\\_%'
                THEN 'the system''s'
              WHEN EXISTS (SELECT FROM tdm.environment e WHERE tdm._env_schema(e.name) = schema_name)
                THEN 'an environment''s (its foreign tables)' END
$$;

-- A target named by the caller (staging, master, another of the kind):
-- tdm writes its tables there, so it is none of tdm's own schemas, the
-- system's or an environment's (promote creates a missing target).
CREATE FUNCTION tdm._require_target_name(caller text, argument text, target text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  owner text := tdm._schema_not_users(target);
  lookalike text;
BEGIN
  PERFORM tdm._require_given(caller, argument, target IS NOT NULL);
  IF btrim(target) = '' THEN
    RAISE EXCEPTION '%: % must name a schema', caller, argument USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- (A new target that looks like a schema there, Master for master,
  -- would be created beside it.)
  IF to_regnamespace(quote_ident(target)) IS NULL THEN
    lookalike := tdm._lookalike(target, ARRAY(SELECT n.nspname::text FROM pg_namespace n));
    -- (written quoted, as in SQL: the name is without the quotes)
    IF lookalike IS NULL AND target ~ '^".+"$' THEN
      lookalike := (SELECT n.nspname::text FROM pg_namespace n
                     WHERE n.nspname = replace(substr(target, 2, length(target) - 2), '""', '"'));
    END IF;
  END IF;
  IF lookalike IS NOT NULL THEN
    RAISE EXCEPTION '%: schema "%" does not exist, and schema "%" differs from it only in case, spelling or quotes',
      caller, target, lookalike
      USING ERRCODE = 'invalid_schema_name',
            HINT = tdm._did_you_mean('Schema', quote_literal(lookalike));
  END IF;
  IF owner IS NOT NULL THEN
    RAISE EXCEPTION '%: schema "%" is not a target: it is %', caller, target, owner
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A target is a schema of your own holding tables named like the managed tables'
                   ' (staging, master).';
  END IF;
END
$$;

-- The database a postgres_fdw server reaches, as its options name it
-- (host or hostaddr, port, dbname); NULL without a dbname option, or with
-- a service, whose file may name another host.
CREATE FUNCTION tdm._server_database(server name) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN bool_or(o.option_name = 'dbname') AND NOT bool_or(o.option_name = 'service')
              THEN string_agg(o.option_name || '=' || o.option_value, ' ' ORDER BY o.option_name)
                     FILTER (WHERE o.option_name IN ('host', 'hostaddr', 'port', 'dbname')) END
    FROM pg_foreign_server s CROSS JOIN LATERAL pg_options_to_table(s.srvoptions) o
   WHERE s.srvname = server
$$;

-- A name as a message quotes it: in double quotes, with the double
-- quotes it holds doubled.
CREATE FUNCTION tdm._quoted(name text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$ SELECT '"' || replace(name, '"', '""') || '"' $$;

-- Servers `a` and `b` reach one database: they are one server, or their
-- options name the same host, port and database.
CREATE FUNCTION tdm._same_database(a name, b name) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT a = b OR tdm._server_database(a) = tdm._server_database(b)
$$;

-- One schema of one database is one environment: a second name for it
-- would collect its rows twice, and "resolve" each pair as duplicates.
-- Refuses environment `env_name` reading `remote_schema` through `server`
-- where another environment reads it (through that server, or another
-- naming the same database); `own_row`: the name its row has now, when
-- an UPDATE renames it.
CREATE FUNCTION tdm._refuse_environment_twin(env_name text, server name, remote_schema text,
                                              own_row text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  twin record;
BEGIN
  SELECT e.name, e.server INTO twin FROM tdm.environment e
   WHERE e.name <> coalesce(own_row, env_name) AND e.remote_schema = _refuse_environment_twin.remote_schema
     AND tdm._same_database(e.server, _refuse_environment_twin.server)
   ORDER BY e.name LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'environment "%": schema "%" of server "%" is environment "%" already', env_name,
      remote_schema, server, twin.name
      USING ERRCODE = 'duplicate_object',
            DETAIL = CASE WHEN twin.server = server THEN 'Both would read it through the same server.'
                          ELSE format('Server "%s" reaches the same database (%s).', twin.server,
                                      tdm._server_database(server)) END
                     || ' Its rows would be collected twice, once under each name.',
            HINT = format('Name another server or schema; or, to give environment %s another name, remove it'
                          ' first: SELECT tdm.remove_environment(%L);', twin.name, twin.name);
  END IF;
END
$$;

-- (The same for every environment, where tagging and collection begin:
-- an ALTER SERVER may have pointed one at another's database since.)
CREATE FUNCTION tdm._refuse_environment_twins(caller text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  twins record;
BEGIN
  SELECT a.name AS a_name, a.server AS a_server, b.name AS b_name, b.server AS b_server, a.remote_schema,
         coalesce(tdm._server_database(a.server), format('server %s', a.server)) AS database
    INTO twins
    FROM tdm.environment a JOIN tdm.environment b ON a.name < b.name AND a.remote_schema = b.remote_schema
   WHERE tdm._same_database(a.server, b.server)
   ORDER BY a.name, b.name LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION '%: environments "%" and "%" read one schema "%" of one database', caller, twins.a_name,
      twins.b_name, twins.remote_schema
      USING ERRCODE = 'duplicate_object',
            DETAIL = format('Server %s of %s and server %s of %s both reach %s. Its rows would be collected twice,'
                            ' once under each name, and the rows of the database one of them stood for not at all.',
                            quote_ident(twins.a_server), twins.a_name, quote_ident(twins.b_server), twins.b_name,
                            twins.database),
            HINT = 'A server was pointed at another environment''s database since it was registered (ALTER SERVER'
                   ' ... OPTIONS (SET dbname ...)): point it back, or remove one of the two environments'
                   ' (tdm.remove_environment).';
  END IF;
END
$$;

-- (The same where an environment is pointed elsewhere by an UPDATE, as
-- a HINT for a renamed server suggests.)
CREATE FUNCTION tdm._environment_twin_check() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
BEGIN
  PERFORM tdm._refuse_environment_twin(NEW.name, NEW.server, NEW.remote_schema, own_row => OLD.name);
  RETURN NEW;
END
$$;
CREATE TRIGGER environment_twin_check BEFORE UPDATE OF server, remote_schema ON tdm.environment
  FOR EACH ROW EXECUTE FUNCTION tdm._environment_twin_check();

CREATE FUNCTION tdm.add_environment(name text, server name, precedence int DEFAULT 100,
                                    remote_schema text DEFAULT 'public')
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
#variable_conflict use_column
DECLARE
  env_name text := add_environment.name;
  server_name name := add_environment.server;
  handler_name text;
BEGIN
  IF env_name IS NULL OR btrim(env_name) = '' THEN
    RAISE EXCEPTION 'environment name must not be empty' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF octet_length(env_name) > 50 THEN
    RAISE EXCEPTION 'environment name "%" is longer than 50 bytes', env_name
      USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'tdm names a schema after each environment (tdm_env_<name>).';
  END IF;
  IF lower(tdm._name_as_read(env_name)) = 'master' THEN
    RAISE EXCEPTION 'environment name "%" is reserved', env_name
      USING ERRCODE = 'reserved_name',
            DETAIL = 'Conflicts name the earlier releases'' rows in master as members of "master".',
            HINT = 'Choose another name.';
  END IF;
  IF strpos(env_name, ':') > 0 THEN
    RAISE EXCEPTION 'environment name "%" holds a colon', env_name
      USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'Conflicts label an environment''s members env:key where it has several, in keep_env and'
                     ' renames: "a:1" would also be the label of environment a''s row with key 1.',
            HINT = 'Choose a name without a colon.';
  END IF;
  IF server_name IS NULL OR add_environment.precedence IS NULL
     OR add_environment.remote_schema IS NULL THEN
    RAISE EXCEPTION 'environment "%": server, precedence and remote_schema must not be NULL',
      env_name USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF btrim(server_name) = '' THEN
    RAISE EXCEPTION 'environment "%": server must name a foreign server', env_name
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'The postgres_fdw server of the environment''s database (CREATE SERVER ...).';
  END IF;
  IF btrim(add_environment.remote_schema) = '' THEN
    RAISE EXCEPTION 'environment "%": remote_schema must name a schema', env_name
      USING ERRCODE = 'invalid_parameter_value', HINT = 'The default is public.';
  END IF;
  IF EXISTS (SELECT FROM tdm.environment e WHERE e.name = env_name) THEN
    RAISE EXCEPTION 'environment "%" already exists', env_name
      USING ERRCODE = 'duplicate_object',
            DETAIL = (SELECT format('It uses server "%s", schema "%s".', e.server, e.remote_schema)
                        FROM tdm.environment e WHERE e.name = env_name),
            HINT = format('Choose another name; or, to point it at another server or schema, remove it first'
                          ' (SELECT tdm.remove_environment(%L);) and add it again.', env_name);
  END IF;
  -- (Environments are named in decisions' keep_env and renames, compared
  -- exactly, as release names are in tags.)
  PERFORM pg_advisory_xact_lock(hashtext('tdm names'), hashtext('tdm environments'));
  PERFORM tdm._require_distinct_name('environment', env_name, ARRAY(SELECT e.name FROM tdm.environment e));

  SELECT h.proname INTO handler_name
    FROM pg_foreign_server s
    JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw
    LEFT JOIN pg_proc h ON h.oid = w.fdwhandler
   WHERE s.srvname = server_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'foreign server "%" does not exist', server_name
      USING ERRCODE = 'undefined_object',
            HINT = format('Create it first: CREATE SERVER %I FOREIGN DATA WRAPPER postgres_fdw '
                          'OPTIONS (host ..., dbname ...), and a user mapping for it.', server_name);
  END IF;
  IF handler_name IS DISTINCT FROM 'postgres_fdw_handler' THEN
    RAISE EXCEPTION 'foreign server "%" does not use postgres_fdw', server_name
      USING ERRCODE = 'wrong_object_type',
            DETAIL = 'tdm reads environments through postgres_fdw only.',
            HINT = 'Create a server with FOREIGN DATA WRAPPER postgres_fdw for this environment.';
  END IF;

  PERFORM tdm._refuse_environment_twin(env_name, server_name, add_environment.remote_schema);
  PERFORM tdm._refuse_taken_env_schema(env_name);

  -- Reach the environment once: IMPORT FOREIGN SCHEMA checks the connection,
  -- the user mapping and the remote schema. It imports nothing (LIMIT TO a
  -- name no table has), and the block is rolled back in any case.
  BEGIN
    PERFORM tdm._import_tables(env_name, server_name, add_environment.remote_schema,
                               'tdm_remote', ARRAY['tdm probe ' || txid_current()]);
    RAISE EXCEPTION USING ERRCODE = 'T0001';
  EXCEPTION
    WHEN SQLSTATE 'T0001' THEN
      NULL;  -- reachable and the schema exists
  END;

  INSERT INTO tdm.environment (name, server, precedence, remote_schema)
  VALUES (env_name, server_name, add_environment.precedence, add_environment.remote_schema);
  PERFORM tdm._audit('add_environment', env_name,
                     jsonb_build_object('server', server_name,
                                        'precedence', add_environment.precedence,
                                        'remote_schema', add_environment.remote_schema));
END
$$;
COMMENT ON FUNCTION tdm.add_environment(text, name, int, text) IS
  'Registers a postgres_fdw server as a source environment';

-- Retires an environment (a test system decommissioned, its server gone
-- for good): its registration and foreign tables go (its schema stays,
-- empty, for a later environment of that name); the foreign server and
-- user mappings are the DBA's. History stays: tag findings, locks, runs and
-- their conflicts name it still. A release locked with its rows is
-- refused at its next consolidation until tagged again without them.
CREATE FUNCTION tdm.remove_environment(name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
DECLARE
  e tdm.environment;
  t record;
  waiting text[];
BEGIN
  PERFORM tdm._require_given('remove_environment', 'name', remove_environment.name IS NOT NULL);
  PERFORM tdm._change_managed_tables('remove_environment');
  SELECT * INTO e FROM tdm.environment x WHERE x.name = remove_environment.name;
  IF NOT FOUND THEN
    PERFORM tdm._require_side('remove_environment', remove_environment.name, false);
    -- (added meanwhile by another session, after this one looked)
    RAISE EXCEPTION 'remove_environment: environment "%" was added since this call began', remove_environment.name
      USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Remove it again.';
  END IF;
  FOR t IN SELECT c.oid::regclass AS rel FROM pg_class c
            WHERE c.relnamespace = to_regnamespace(quote_ident(tdm._env_schema(e.name))) AND c.relkind = 'f' LOOP
    EXECUTE format('DROP FOREIGN TABLE %s', t.rel);
  END LOOP;
  DELETE FROM tdm.environment x WHERE x.name = e.name;
  -- (Releases tagged, not yet consolidated into master, whose lock holds
  -- its rows: said now, refused at their consolidation.)
  waiting := ARRAY(SELECT DISTINCT l.release FROM tdm.release_lock l JOIN tdm.release r USING (release)
                    WHERE l.env = e.name AND l.row_count > 0 AND tdm._presence(r.status) = 'neither'
                    ORDER BY 1);
  IF cardinality(waiting) > 0 THEN
    RAISE NOTICE 'environment "%" removed: release(s) % were locked with its rows; tag them again before consolidating them',
      e.name, array_to_string(waiting, ', ');
  END IF;
  PERFORM tdm._audit('remove_environment', e.name,
                     jsonb_build_object('server', e.server, 'remote_schema', e.remote_schema,
                                        'precedence', e.precedence, 'locked_releases', waiting));
END
$$;
COMMENT ON FUNCTION tdm.remove_environment(text) IS
  'Retires a source environment (its foreign tables; the server stays the DBA''s)';

CREATE FUNCTION tdm.manage_table(rel regclass, natural_keys text[] DEFAULT '{}',
                                 updated_at_column text DEFAULT NULL,
                                 core_columns text[] DEFAULT '{}',
                                 release_column text DEFAULT 'tdm_release',
                                 feature_column text DEFAULT 'tdm_feature',
                                 surrogate_key bool DEFAULT false,
                                 normalize_keys bool DEFAULT false,
                                 bookkeeping_columns text[] DEFAULT '{}')
RETURNS void
-- (Its queries name tdm's objects and PostgreSQL's as the other entry
-- points do: a caller's search_path, public first, would let objects of
-- another user's there, an operator = for regclass, run as the caller.)
SET search_path = pg_catalog, pg_temp SET jit TO off
AS 'MODULE_PATHNAME', 'tdm_manage_table' LANGUAGE C;
COMMENT ON FUNCTION tdm.manage_table(regclass, text[], text, text[], text, text, bool, bool, text[]) IS
  'Registers (or re-registers) a target table; keys come from the catalog';

-- Partitions of partitioned tables among the managed tables (and `also`,
-- a table about to be managed): such a partition's rows are its
-- partitioned table's, and would be collected and loaded twice.
CREATE FUNCTION tdm._managed_partitions(also regclass DEFAULT NULL)
RETURNS TABLE (part regclass, parent regclass)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH managed AS (SELECT m.rel FROM tdm.managed_table m UNION SELECT also WHERE also IS NOT NULL)
  SELECT x.rel, a.relid::regclass
    FROM managed x CROSS JOIN LATERAL pg_partition_ancestors(x.rel) a
   WHERE a.relid <> x.rel AND a.relid IN (SELECT rel FROM managed)
$$;

-- A partitioned managed table's foreign keys are its own (the catalog's
-- constraints on it): tdm translates, orders and validates by those. A
-- key declared on its partitions only, as some schemas have them (one per
-- partition), would be none of those: its references would load
-- untranslated. Refused, with the statement that makes it the table's
-- (PostgreSQL then takes the partitions' equal keys as its own).
-- (JIT off: pg_partition_tree's default estimate, 1000 rows a table,
-- would have the query compiled, 400 ms for a few ms of work.)
CREATE FUNCTION tdm._require_own_foreign_keys(caller text, the_rel regclass DEFAULT NULL) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
DECLARE
  found record;
BEGIN
  SELECT x.rel, string_agg(format('%s on %s: %s', quote_ident(x.conname), x.part, x.definition), '; '
                           ORDER BY x.part::text, x.conname) AS keys,
         -- (with the partitions' own actions, MATCH and deferrability:
         -- PostgreSQL takes a partition's key as the table's only when
         -- they are the same)
         string_agg(DISTINCT format('ALTER TABLE %s ADD %s;', x.rel, x.definition), ' ') AS fix
    INTO found
    FROM (SELECT r.rel, k.conname::text AS conname, t.relid::regclass AS part,
                 pg_get_constraintdef(k.oid) AS definition
            FROM (SELECT m.rel FROM tdm.managed_table m WHERE the_rel IS NULL UNION SELECT the_rel) r
           CROSS JOIN LATERAL pg_partition_tree(r.rel) t
            JOIN pg_constraint k ON k.conrelid = t.relid AND k.contype = 'f' AND k.conparentid = 0
           WHERE r.rel IS NOT NULL AND t.relid <> r.rel) x
   GROUP BY x.rel ORDER BY x.rel::text LIMIT 1;
  IF found.rel IS NOT NULL THEN
    RAISE EXCEPTION '%: partitioned table % has foreign keys on its partitions only', caller, found.rel
      USING ERRCODE = 'invalid_table_definition',
            DETAIL = format('%s. tdm follows a table''s own foreign keys (re-keyed parents, load order,'
                            ' validation), and would load these references untranslated.', found.keys),
            HINT = format('Declare each on the partitioned table (PostgreSQL takes the partitions'' equal keys'
                          ' as part of it): %s', found.fix);
  END IF;
END
$$;

-- Refuses tables among `rels` with children by plain inheritance (not
-- partitions): a scan of one reads its children's rows too, and a DELETE
-- or TRUNCATE of it changes theirs; tdm would count, delete or replace
-- rows of tables it does not manage.
CREATE FUNCTION tdm._refuse_inheritance_parents(caller text, rels regclass[]) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  inherited record;  -- the first table with children, and its children
BEGIN
  SELECT i.inhparent::regclass AS parent, min(i.inhrelid::regclass::text) AS child,
         string_agg(i.inhrelid::regclass::text, ', ' ORDER BY i.inhrelid::regclass::text) AS children
    INTO inherited
    FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
   WHERE i.inhparent = ANY (rels) AND p.relkind = 'r'
   GROUP BY i.inhparent ORDER BY i.inhparent::regclass::text LIMIT 1;
  IF inherited.parent IS NOT NULL THEN
    RAISE EXCEPTION '%: % has inheritance children: %', caller, inherited.parent, inherited.children
      USING ERRCODE = 'invalid_table_definition',
            DETAIL = 'A scan of it reads their rows too, and a DELETE or TRUNCATE of it changes them: tdm would'
                     ' count, delete or replace rows of tables it does not manage.',
            HINT = format('Detach them (ALTER TABLE %s NO INHERIT %s; for each), or make it a partitioned table,'
                          ' whose partitions hold its own rows.', inherited.child, inherited.parent);
  END IF;
END
$$;

-- What tdm.manage_table refuses before it reads the table's shape: a
-- table of tdm's own or of the system's (an environment's foreign tables
-- included), a temporary table (gone with its session, and every later
-- operation with it), and a partition of a managed table or the
-- partitioned table of one (its rows would be collected and loaded twice).
CREATE FUNCTION tdm._check_manageable(rel regclass) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  c record;
  other regclass;
BEGIN
  SELECT x.relpersistence, n.nspname INTO c
    FROM pg_class x JOIN pg_namespace n ON n.oid = x.relnamespace WHERE x.oid = rel;
  IF NOT FOUND THEN
    RETURN;  -- (the shape's reader names it)
  END IF;
  IF c.relpersistence = 't' THEN
    RAISE EXCEPTION 'manage_table: % is a temporary table', rel
      USING ERRCODE = 'invalid_table_definition',
            DETAIL = 'It ends with its session, and every tagging and consolidation would fail after.',
            HINT = 'Manage a table of the staging schema.';
  END IF;
  IF tdm._schema_not_users(c.nspname) IS NOT NULL THEN
    RAISE EXCEPTION 'manage_table: % is not a table of yours: schema % is %', rel, c.nspname,
      tdm._schema_not_users(c.nspname)
      USING ERRCODE = 'invalid_table_definition',
            HINT = 'Manage a table of the staging schema.';
  END IF;
  SELECT CASE WHEN p.part = rel THEN p.parent ELSE p.part END INTO other
    FROM tdm._managed_partitions(rel) p WHERE rel IN (p.part, p.parent) LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'manage_table: % and managed table % are one partitioned table', rel, other
      USING ERRCODE = 'invalid_table_definition',
            DETAIL = 'A partition''s rows are the partitioned table''s: they would be collected and loaded twice.',
            HINT = 'Manage the partitioned table only.';
  END IF;
  PERFORM tdm._require_own_foreign_keys('manage_table', rel);
  PERFORM tdm._refuse_inheritance_parents('manage_table', ARRAY[rel]);
END
$$;

-- The unique keys of `the_rel` over its columns, as natural_keys spells
-- them (`key`, in the index's order; `sorted`): each valid unique index
-- without a predicate whose key columns are columns, or lower() of one
-- (Rails' unique index on lower(email), which folds case: `folded`), each
-- expression read on its own. `holds_pk`: it holds the primary key's
-- columns; `drawn`: one of its columns is drawn from a sequence (serial,
-- identity).
CREATE FUNCTION tdm._unique_column_keys(the_rel regclass)
RETURNS TABLE (key text, sorted text[], folded bool, is_primary bool, holds_pk bool, drawn bool,
               index_oid oid)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(coalesce(a.attname::text, f.col), ',' ORDER BY u.n),
         array_agg(coalesce(a.attname::text, f.col) ORDER BY coalesce(a.attname::text, f.col)),
         bool_or(f.col IS NOT NULL), i.indisprimary,
         pk.cols <@ array_agg(coalesce(a.attname::text, f.col)),
         coalesce(bool_or(tdm._column_sequence(the_rel, a.attname) IS NOT NULL), false),
         i.indexrelid
    FROM pg_index i
   CROSS JOIN (SELECT m.pk_columns AS cols FROM tdm.managed_table m WHERE m.rel = the_rel) pk
   CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS u(attnum, n)
    LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.attnum AND u.attnum > 0
    -- (lower() of one column, this expression of the index)
    LEFT JOIN LATERAL (SELECT x.attname::text AS col FROM pg_attribute x
                        WHERE u.attnum = 0 AND x.attrelid = i.indrelid AND x.attnum > 0
                          AND NOT x.attisdropped
                          AND pg_get_indexdef(i.indexrelid, u.n::int, false)
                              ~ (E'^\\(?(pg_catalog\\.)?lower\\(\\(?'
                                 || regexp_replace(quote_ident(x.attname), '([^[:alnum:]_])', E'\\\\\\1', 'g')
                                 || E'\\)?(::text)?\\)\\)?$')) f ON true
   WHERE i.indrelid = the_rel AND i.indisunique AND i.indpred IS NULL AND i.indisvalid
     AND u.n <= i.indnkeyatts  -- (not its INCLUDE columns)
   GROUP BY i.indexrelid, i.indisprimary, pk.cols
  HAVING bool_and(a.attname IS NOT NULL OR f.col IS NOT NULL)
$$;

-- A natural key tells which rows of different environments are one
-- entity. A column generated from the primary key ('SO' || salesorderid),
-- or drawn from a sequence, is as environment-local as the key itself:
-- each environment's order 1 is SO1, and three customers' orders would be
-- taken for one. Warned, not refused: the environments may share those
-- numbers on purpose.
CREATE FUNCTION tdm._warn_local_natural_keys(the_rel regclass) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  w record;
  unregistered text[];  -- the table's unique keys no natural key registers, as natural_keys spells them
  folding bool;       -- one of them is on lower() of a column: registered with normalize_keys
BEGIN
  FOR w IN SELECT DISTINCT a.attname::text AS col, a.attgenerated = 's' AS generated
             FROM tdm.managed_table m
            CROSS JOIN LATERAL unnest(m.natural_keys) AS k(key)
            CROSS JOIN LATERAL unnest(string_to_array(k.key, ',')) AS c(col)
             JOIN pg_attribute a ON a.attrelid = m.rel AND a.attname = btrim(c.col)
             JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE m.rel = the_rel
              AND ((a.attgenerated = 's'
                    AND EXISTS (SELECT 1 FROM pg_depend p JOIN pg_attribute pk
                                  ON pk.attrelid = the_rel AND pk.attnum = p.refobjsubid
                                 WHERE p.classid = 'pg_attrdef'::regclass AND p.objid = d.oid
                                   AND p.refclassid = 'pg_class'::regclass AND p.refobjid = the_rel
                                   AND pk.attname = ANY (m.pk_columns)))
                   OR EXISTS (SELECT 1 FROM pg_depend p JOIN pg_class q ON q.oid = p.refobjid
                               WHERE p.classid = 'pg_attrdef'::regclass AND p.objid = d.oid
                                 AND p.refclassid = 'pg_class'::regclass AND q.relkind = 'S'))
            ORDER BY 1 LOOP
    RAISE WARNING 'manage_table: natural key column % of % is %', quote_ident(w.col), the_rel,
      CASE WHEN w.generated THEN 'generated from the primary key' ELSE 'drawn from a sequence' END
      USING DETAIL = 'It is as local to each environment as the key: rows of different environments that'
                     ' share its value (each one''s first order) would be taken for one entity and merged.',
            HINT = 'Register the columns that tell the entities apart as the natural key instead (a PO number,'
                   ' an email), or none.';
  END LOOP;
  -- The same of a primary key drawn from a sequence (serial, identity),
  -- with nothing else to tell rows apart: each environment's row 1 would
  -- be one entity, a rule merging the others into it.
  SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) AS cols INTO w
    FROM tdm.managed_table m
    JOIN pg_attribute a ON a.attrelid = m.rel AND a.attname = ANY (m.pk_columns)
   WHERE m.rel = the_rel AND NOT m.surrogate_key AND cardinality(m.natural_keys) = 0
     AND (a.attidentity <> ''
          OR EXISTS (SELECT 1 FROM pg_attrdef d JOIN pg_depend p ON p.classid = 'pg_attrdef'::regclass
                                                                 AND p.objid = d.oid
                       JOIN pg_class q ON q.oid = p.refobjid AND q.relkind = 'S'
                      WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum
                        AND p.refclassid = 'pg_class'::regclass));
  -- The table's own unique keys that no natural key registers (a link
  -- table's UNIQUE (user_id, group_id); Rails' unique index on
  -- lower(email), which folds case: registered with normalize_keys): they
  -- tell its rows apart, and are what to register. (Not a partial one:
  -- guide 1.3.)
  SELECT array_agg(k.key ORDER BY k.key), coalesce(bool_or(k.folded), false)
    INTO unregistered, folding
    FROM tdm._unique_column_keys(the_rel) k
   -- (not the primary key, nor one holding it, or a column drawn from a
   -- sequence: UNIQUE (tenant_id, id) is as local as the id)
   WHERE NOT k.is_primary AND NOT k.holds_pk AND NOT k.drawn
     AND NOT EXISTS (SELECT FROM tdm.managed_table m, unnest(m.natural_keys) AS nk
                      WHERE m.rel = the_rel AND (m.normalize_keys OR NOT k.folded)
                        AND ARRAY(SELECT btrim(c) FROM unnest(string_to_array(nk, ',')) AS c
                                   ORDER BY 1) = k.sorted);
  IF w.cols IS NOT NULL THEN
    RAISE WARNING 'manage_table: the primary key of % is drawn from a sequence (%), and it has no natural key',
      the_rel, w.cols
      USING DETAIL = 'Rows of different environments with one key are taken for one entity: where each'
                     ' environment draws its own keys, their first rows are different entities, and a rule'
                     ' would merge them into one.',
            HINT = CASE WHEN unregistered IS NOT NULL
                        THEN format('Its unique keys tell its rows apart: register them as natural keys, SELECT'
                                    ' tdm.manage_table(%L, natural_keys => %L%s); (with the table''s other options'
                                    ' again).', the_rel::text, unregistered::text,
                                    CASE WHEN folding THEN ', normalize_keys => true' ELSE '' END)
                        ELSE format('If each environment draws its own keys, say so: SELECT tdm.manage_table(%L,'
                                    ' surrogate_key => true); (with the table''s other options again). Or register'
                                    ' the columns that tell the entities apart as a natural key.', the_rel::text)
                        END;
  ELSIF unregistered IS NOT NULL
        AND (SELECT (cardinality(m.natural_keys) = 0
                     AND (m.surrogate_key
                          OR (cardinality(m.pk_columns) = 1
                              AND (SELECT tdm._base_type(a.atttypid) IN ('int2'::regtype, 'int4'::regtype,
                                                                         'int8'::regtype)
                                          -- (an Oracle NUMBER(10) migrated)
                                          OR (tdm._base_type(a.atttypid) = 'numeric'::regtype
                                              AND (a.atttypmod = -1 OR (a.atttypmod - 4) & 65535 = 0))
                                     FROM pg_attribute a
                                    WHERE a.attrelid = the_rel AND a.attname = m.pk_columns[1])
                              -- (not a key that is a reference, a profile's member_id: it
                              -- follows the parent's rows)
                              AND tdm._key_parent(the_rel) IS NULL)))
                    OR folding
               FROM tdm.managed_table m WHERE m.rel = the_rel) THEN
    -- (surrogate keys and no natural key; or natural keys, and a lower()
    -- index's key not registered so: rows of two environments with one
    -- such key, one user in one group, Bob@ and bob@ under lower(email),
    -- are no conflict, and cannot both load. And an integer key no
    -- sequence draws, with neither natural keys nor surrogate_key (a
    -- dump loaded from files): rows of one id are one entity whatever
    -- those keys hold, users 1 of account 100 and of account 300 merged
    -- by a rule, where registered they are two (rule 0). Not a key of
    -- another type, a country's code: that is likely the entity's own;
    -- nor a key that is a reference.)
    RAISE WARNING 'manage_table: % has unique keys that are no natural key%: %', the_rel,
      CASE WHEN folding AND (SELECT cardinality(m.natural_keys) > 0 AND NOT m.normalize_keys
                               FROM tdm.managed_table m WHERE m.rel = the_rel)
           THEN ' as detection compares them (a unique index on lower() folds case, normalize_keys is off)' ELSE '' END,
      unregistered::text
      USING DETAIL = CASE WHEN (SELECT NOT m.surrogate_key AND cardinality(m.natural_keys) = 0
                                  FROM tdm.managed_table m WHERE m.rel = the_rel)
                          THEN 'Rows of different environments with one primary key are one entity to detection,'
                               ' whatever these keys hold (a rule keeps one''s values); rows'
                          ELSE 'Rows' END
                     || ' of different environments that share one are no conflict to detection, and cannot'
                     ' both load: the run is invalid.'
                     || CASE WHEN folding THEN ' A unique index on lower() of a column takes one value in two cases'
                                               ' for one: registered with normalize_keys, detection compares it so.'
                             ELSE '' END,
            HINT = format('Register them as natural keys: SELECT tdm.manage_table(%L, natural_keys => %L%s%s);'
                          ' (with the table''s other options again).', the_rel::text,
                          ARRAY(SELECT x FROM (SELECT unnest(m.natural_keys) AS x FROM tdm.managed_table m
                                                WHERE m.rel = the_rel
                                               UNION SELECT unnest(unregistered)) y ORDER BY 1)::text,
                          CASE WHEN folding THEN ', normalize_keys => true' ELSE '' END,
                          CASE WHEN (SELECT m.surrogate_key FROM tdm.managed_table m WHERE m.rel = the_rel)
                               THEN ', surrogate_key => true' ELSE '' END);
  END IF;
  -- A natural key narrower than one of the table's unique keys, and not
  -- unique itself (no unique key within its columns): the target may hold
  -- several rows of one such value (a flight number on several days), yet
  -- rows of different environments that share it are taken for one entity
  -- and merged. Often a slip: '{flight_no, scheduled_departure}' is two
  -- keys of one column each, '{"flight_no,scheduled_departure"}' one of
  -- two. (Not against a key the other warning leaves out, nor, of a
  -- partitioned table, one wider only by its partition key, which every
  -- unique key there must hold.)
  SELECT u.key AS unique_key, u.sorted AS unique_sorted, array_agg(g.spec ORDER BY g.o) AS narrower,
         m.natural_keys
    INTO w
    FROM tdm.managed_table m
   CROSS JOIN LATERAL unnest(m.natural_keys) WITH ORDINALITY AS g(spec, o)
   CROSS JOIN LATERAL (SELECT ARRAY(SELECT btrim(c) FROM unnest(string_to_array(g.spec, ',')) AS c) AS cols) gc
    JOIN tdm._unique_column_keys(the_rel) u
      ON NOT u.is_primary AND NOT u.holds_pk AND NOT u.drawn AND NOT u.folded
     AND gc.cols <@ u.sorted AND NOT u.sorted <@ gc.cols
   WHERE m.rel = the_rel
     AND NOT EXISTS (SELECT FROM tdm._unique_column_keys(the_rel) e WHERE e.sorted <@ gc.cols)
     AND NOT EXISTS (SELECT FROM pg_partitioned_table pt
                      WHERE pt.partrelid = the_rel
                        AND ARRAY(SELECT x FROM unnest(u.sorted) AS x WHERE x <> ALL (gc.cols))
                            <@ ARRAY(SELECT a.attname::text FROM unnest(pt.partattrs::int2[]) AS k(attnum)
                                       JOIN pg_attribute a ON a.attrelid = the_rel AND a.attnum = k.attnum))
   GROUP BY u.key, u.sorted, m.natural_keys ORDER BY u.key LIMIT 1;
  IF w.unique_key IS NOT NULL THEN
    RAISE WARNING 'manage_table: natural key% % of % % narrower than its unique key (%)',
      CASE WHEN cardinality(w.narrower) > 1 THEN 's' ELSE '' END,
      (SELECT string_agg(format('(%s)', replace(x, ',', ', ')), ', ') FROM unnest(w.narrower) AS x), the_rel,
      CASE WHEN cardinality(w.narrower) > 1 THEN 'are' ELSE 'is' END, replace(w.unique_key, ',', ', ')
      USING DETAIL = 'The target may hold several rows of one such value; rows of different environments that'
                     ' share it are taken for one entity and merged, whatever their other columns hold.',
            HINT = format('If the unique key is what tells the entities apart, register it as one group: SELECT'
                          ' tdm.manage_table(%L, natural_keys => %L); (with the table''s other options again).'
                          ' A group''s columns are written together, in one element: ''{"a,b"}'', not'
                          ' ''{a, b}''.', the_rel::text,
                          (ARRAY[w.unique_key]
                           || ARRAY(SELECT x FROM unnest(w.natural_keys) AS x
                                     WHERE x <> ALL (w.narrower)
                                       AND ARRAY(SELECT btrim(c) FROM unnest(string_to_array(x, ',')) AS c
                                                  ORDER BY 1) <> w.unique_sorted))::text);
  END IF;
  -- A unique index on other expressions than lower() of a column
  -- (Mastodon's (lower(username), COALESCE(lower(domain), ''))): no natural
  -- key says it, and rows it calls equal but whose columns differ (NULL in
  -- both, which its COALESCE makes equal) form no conflict and cannot both
  -- load. (Not one holding the primary key: as local as the key.)
  FOR w IN SELECT i.indexrelid::regclass AS index_name,
                  (SELECT string_agg(pg_get_indexdef(i.indexrelid, n, false), ', ' ORDER BY n)
                     FROM generate_series(1, i.indnkeyatts::int) AS n) AS keys
             FROM pg_index i
            WHERE i.indrelid = the_rel AND i.indisunique AND i.indisvalid AND i.indpred IS NULL
              AND i.indexprs IS NOT NULL
              AND i.indexrelid NOT IN (SELECT k.index_oid FROM tdm._unique_column_keys(the_rel) k)
              AND NOT coalesce((SELECT m.pk_columns FROM tdm.managed_table m WHERE m.rel = the_rel)
                               <@ ARRAY(SELECT a.attname::text
                                          FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
                                          JOIN pg_attribute a ON a.attrelid = the_rel AND a.attnum = k.attnum
                                         WHERE k.n <= i.indnkeyatts),
                               false)
            ORDER BY 1 LOOP
    RAISE WARNING 'manage_table: unique index % of % is on expressions no natural key can say (%)',
      w.index_name, the_rel, w.keys
      USING DETAIL = 'Detection compares natural keys as their columns are (folding case only with normalize_keys):'
                     ' rows of different environments that this index calls equal but whose columns differ (NULL'
                     ' in both, where a COALESCE makes NULLs equal) form no conflict, and cannot both load: the'
                     ' run is invalid.',
            HINT = 'Add a stored generated column holding the expression (GENERATED ALWAYS AS'
                   ' (coalesce(lower(domain), '''')) STORED) to the table in every environment and in the target,'
                   ' and register it in a natural key (tdm.manage_table natural_keys, with normalize_keys where'
                   ' the index folds case), with a unique index on it in place of this one; or keep such rows'
                   ' apart in the environments.';
  END LOOP;
END
$$;

-- The default of `the_rel`'s key column where it draws keys from no
-- sequence tdm can see: it calls a function of the user's and names no
-- sequence itself (next_id(), which calls nextval inside; a serial whose
-- default was switched to one), or the column has none of its own and its
-- domain's default is such a call. NULL otherwise. tdm gives re-keyed rows
-- keys past the highest in use and moves the sequences the column's own
-- default names or the column owns past the rows it writes; the one such
-- a default draws from it cannot see, and its next value may be a key
-- tdm wrote.
CREATE FUNCTION tdm._key_default_unseen(the_rel regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE
           WHEN d.oid IS NOT NULL
                -- (a function of the user's: built-in ones are pinned, no dependency)
                AND EXISTS (SELECT FROM pg_depend p WHERE p.classid = 'pg_attrdef'::regclass AND p.objid = d.oid
                                                     AND p.refclassid = 'pg_proc'::regclass)
                AND NOT EXISTS (SELECT FROM pg_depend p JOIN pg_class k ON k.oid = p.refobjid AND k.relkind = 'S'
                                 WHERE p.classid = 'pg_attrdef'::regclass AND p.objid = d.oid
                                   AND p.refclassid = 'pg_class'::regclass)
             THEN pg_get_expr(d.adbin, d.adrelid)
           WHEN d.oid IS NULL AND t.typtype = 'd' AND t.typdefault IS NOT NULL
                AND EXISTS (SELECT FROM pg_depend p WHERE p.classid = 'pg_type'::regclass AND p.objid = t.oid
                                                     AND p.refclassid = 'pg_proc'::regclass)
                AND tdm._column_sequence(the_rel, a.attname) IS NULL
             THEN format('%s, the default of domain %s', t.typdefault, format_type(t.oid, NULL))
         END
    FROM pg_attribute a
    JOIN pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE a.attrelid = the_rel AND a.attname = tdm._rekeyed_column(the_rel)
     AND a.attidentity = '' AND a.attgenerated = ''
     AND tdm._base_type(a.atttypid) IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
$$;

-- Warns of such a key (tdm._key_default_unseen), with what to run after a load.
CREATE FUNCTION tdm._warn_key_default(the_rel regclass) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  expression text := tdm._key_default_unseen(the_rel);
  col text := tdm._rekeyed_column(the_rel);
BEGIN
  IF expression IS NOT NULL THEN
    RAISE WARNING 'manage_table: the default of %.% (%) draws keys from no sequence tdm can see', the_rel,
      quote_ident(col), expression
      USING DETAIL = 'tdm gives re-keyed rows keys past the highest in use, and moves the sequences of serial and'
                     ' identity columns past the rows it writes. If the function draws from a sequence, that'
                     ' sequence is not moved, and its next value may be a key tdm wrote; a function that makes'
                     ' keys another way (from the clock) may too, unless its keys only grow.',
            HINT = format('If it draws from a sequence, make the default nextval() of that sequence itself, or move'
                          ' the sequence past the rows after each consolidate, promote and rollback: SELECT'
                          ' setval(''the_sequence'', (SELECT max(%I) FROM %s)); otherwise nothing is needed'
                          ' where its keys only grow.', col, the_rel);
  END IF;
END
$$;

-- A reference without a foreign key, the pair of a type and an id
-- (Rails' commentable_type and commentable_id, Django's content_type_id
-- and object_id, Odoo's model or res_model and res_id): tdm cannot know
-- which row it names, so it is loaded
-- as the environment held it, and names another row (or none) where that
-- row got a new key. Warned, by the columns' names.
CREATE FUNCTION tdm._warn_generic_references(the_rel regclass) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  pair text;
BEGIN
  SELECT string_agg(format('(%s, %s)', quote_ident(t.attname), quote_ident(i.attname)), ', '
                    ORDER BY i.attname) INTO pair
    FROM pg_attribute i
    JOIN pg_attribute t ON t.attrelid = i.attrelid AND t.attnum > 0 AND NOT t.attisdropped
                       AND (t.attname IN (regexp_replace(i.attname, '_id$', '_type'),
                                          regexp_replace(i.attname, '_id$', '_model'))
                            OR (i.attname = 'object_id' AND t.attname = 'content_type_id')
                            OR (i.attname = 'res_id' AND t.attname = 'model'))
   WHERE i.attrelid = the_rel AND i.attnum > 0 AND NOT i.attisdropped AND i.attname ~ '_id$'
     -- (not a reference's column, nor the table's own key or a unique
     -- column of its own: a device's device_id beside its device_model
     -- names itself)
     AND NOT EXISTS (SELECT FROM pg_constraint f
                      WHERE f.conrelid = the_rel AND f.contype IN ('f', 'p') AND i.attnum = ANY (f.conkey))
     AND NOT EXISTS (SELECT FROM pg_index u
                      WHERE u.indrelid = the_rel AND u.indisunique AND u.indpred IS NULL
                        AND u.indnkeyatts = 1 AND u.indkey[0] = i.attnum);
  IF pair IS NOT NULL THEN
    RAISE WARNING 'manage_table: % looks like it holds references without a foreign key: %', the_rel, pair
      USING DETAIL = 'tdm follows foreign keys only: such an id is loaded as the environment held it, and where'
                     ' the row it names gets another key (merged into another environment''s, or re-keyed) it'
                     ' names another row, or none.',
            HINT = 'Declare real foreign keys where you can (one nullable column per parent), or keep the ids of'
                   ' the rows such pairs name stable across environments (uuids).';
  END IF;
END
$$;

-- Targets and environments hold a managed table under its name: two
-- managed tables may not share one (staging.kids and public.kids would
-- both be collected into, and loaded as, kids).
CREATE FUNCTION tdm._check_managed_name(rel regclass) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  other regclass;
  own_schema oid := (SELECT c.relnamespace FROM pg_class c WHERE c.oid = rel);
BEGIN
  -- (Registered by someone who may read it: tdm's definer lookups then
  -- tell nothing of a table its admin could not read.)
  IF NOT has_table_privilege(rel, 'SELECT') OR NOT has_schema_privilege(own_schema, 'USAGE') THEN
    RAISE EXCEPTION 'manage_table: % may not read table %', current_user, rel
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'Grant USAGE on its schema and SELECT on it (with INSERT and DELETE for the load) first.';
  END IF;
  SELECT m.rel INTO other
    FROM tdm.managed_table m JOIN pg_class c ON c.oid = m.rel
   WHERE m.rel <> _check_managed_name.rel
     AND c.relname = (SELECT x.relname FROM pg_class x WHERE x.oid = _check_managed_name.rel);
  IF FOUND THEN
    RAISE EXCEPTION 'table % has the name of managed table %', rel, other
      USING ERRCODE = 'duplicate_table',
            DETAIL = 'Targets and environments hold each managed table under its name alone.',
            HINT = format('Manage one of them only (SELECT tdm.unmanage_table(%L);), or rename one.',
                          other::text);
  END IF;
  -- (Managed tables in several schemas, as an application's may be: a
  -- target still holds them in one, by name. Said once, at the table that
  -- makes it several: one whose schema holds no other.)
  IF EXISTS (SELECT 1 FROM tdm.managed_table m JOIN pg_class c ON c.oid = m.rel
              WHERE m.rel <> _check_managed_name.rel AND c.relnamespace <> own_schema)
     AND NOT EXISTS (SELECT 1 FROM tdm.managed_table m JOIN pg_class c ON c.oid = m.rel
                      WHERE m.rel <> _check_managed_name.rel AND c.relnamespace = own_schema) THEN
    RAISE WARNING 'manage_table: the managed tables are now in schemas %', tdm._managed_schemas(rel)
      USING DETAIL = 'A consolidation target (staging, by default) is one schema holding a table of each'
                     ' managed table''s name.',
            HINT = 'Keep the managed tables in one schema, or create the schema staging with a copy of each'
                   ' (with their foreign keys): releases are consolidated into it and promoted from it.';
  END IF;
END
$$;

-- The schemas of the managed tables (and of `also`), as a list to read.
CREATE FUNCTION tdm._managed_schemas(also regclass DEFAULT NULL) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(quote_ident(s.nspname), ', ' ORDER BY s.nspname)
    FROM (SELECT DISTINCT n.nspname::text AS nspname
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.oid IN (SELECT m.rel FROM tdm.managed_table m) OR c.oid = also) s
$$;

-- The foreign keys of the managed tables as the catalog has them now:
-- tagging and consolidation read them from tdm.managed_table, which
-- tdm.manage_table filled when it registered each table.
CREATE FUNCTION tdm._refresh_foreign_keys() RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  UPDATE tdm.managed_table m SET foreign_keys = tdm._foreign_keys(m.rel)
   WHERE m.foreign_keys IS DISTINCT FROM tdm._foreign_keys(m.rel)
$$;

-- An operation over the managed tables holds them as they are until its
-- transaction ends (a shared advisory lock): tdm.manage_table and
-- tdm.unmanage_table are refused meanwhile, rather than change the set it
-- is working through (a table unmanaged in the middle of a promotion
-- would be left out of it).
CREATE FUNCTION tdm._hold_managed_tables() RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pg_advisory_xact_lock_shared(hashtext('tdm.managed_table'), 0)
$$;

-- Taken by what changes the managed tables. Refused while an operation
-- holds them (after a second's tries): waiting would queue every later
-- operation (a rollback_release too) behind the change.
-- Two changes take turns (a second waits for the first to end, a quick
-- catalog change): only an operation's hold refuses one.
CREATE FUNCTION tdm._change_managed_tables(caller text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('tdm.managed_table changes'), 0);
  -- (A change that just ended releases its locks one after the other: its
  -- hold may outlast its turn by a moment. An operation's lasts.)
  FOR attempt IN 1 .. 20 LOOP
    IF pg_try_advisory_xact_lock(hashtext('tdm.managed_table'), 0) THEN
      RETURN;
    END IF;
    PERFORM pg_sleep(0.05);
  END LOOP;
  RAISE EXCEPTION '%: a tagging, consolidation, promotion, snapshot or rollback is running in another session',
    caller
    USING ERRCODE = 'lock_not_available',
          DETAIL = 'It works through the managed tables as they were when it began.',
          HINT = 'Call it again once that ends (tdm.job lists what runs; a consolidation waiting for'
                 ' review holds nothing).';
END
$$;

-- The name of managed table `rel`: its own, or, dropped, the one its last
-- registration was audited under (NULL if none was).
CREATE FUNCTION tdm._managed_name(rel oid) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce((SELECT c.oid::regclass::text FROM pg_class c WHERE c.oid = rel),
                  (SELECT a.object FROM tdm.audit a
                    WHERE a.action = 'manage_table' AND a.detail ->> 'rel_oid' = rel::text
                    ORDER BY a.audit_id DESC LIMIT 1))
$$;

-- A table registered where a managed table of its name was dropped (a
-- migration that drops and creates a table again): the dropped table's
-- copies in snapshots of targets whose table of that name is still there,
-- and its rows' keys in the key map, are the new table's (a rollback
-- restores them; a later release's references find them).
CREATE FUNCTION tdm._adopt_dropped(rel regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  gone oid;
  copies bigint;
  keys bigint;
BEGIN
  -- (The candidates: tables registered under this name before, dropped,
  -- and not taken over yet. Read from the audit, not from the key map,
  -- which can hold millions of rows.)
  FOR gone IN SELECT DISTINCT (a.detail ->> 'rel_oid')::oid FROM tdm.audit a
               WHERE a.action = 'manage_table' AND a.object = _adopt_dropped.rel::text AND a.detail ? 'rel_oid'
                 AND (a.detail ->> 'rel_oid')::oid <> _adopt_dropped.rel::oid
                 AND NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = (a.detail ->> 'rel_oid')::oid)
                 AND NOT EXISTS (SELECT FROM tdm.managed_table m WHERE m.rel::oid = (a.detail ->> 'rel_oid')::oid)
                 AND NOT EXISTS (SELECT FROM tdm.audit b
                                  WHERE b.action = 'adopt_dropped' AND b.detail ->> 'dropped_oid' = a.detail ->> 'rel_oid')
  LOOP
    -- (registered under another name since, then dropped: not this one's)
    CONTINUE WHEN tdm._managed_name(gone) IS DISTINCT FROM _adopt_dropped.rel::text;
    UPDATE tdm.snapshot_table x SET managed = _adopt_dropped.rel
     WHERE x.managed = gone
       AND x.rel = tdm._target_table((SELECT s.target FROM tdm.snapshot s WHERE s.snapshot_id = x.snapshot_id),
                                     _adopt_dropped.rel);
    GET DIAGNOSTICS copies = ROW_COUNT;
    UPDATE tdm.key_map k SET rel = _adopt_dropped.rel WHERE k.rel = gone;
    GET DIAGNOSTICS keys = ROW_COUNT;
    IF copies + keys > 0 THEN
      RAISE NOTICE 'manage_table: % takes the place of the managed table of that name dropped (OID %): its % copies in snapshots and % key map row(s) are now this table''s',
        _adopt_dropped.rel, gone, copies, keys;
    END IF;
    PERFORM tdm._audit('adopt_dropped', _adopt_dropped.rel::text,
                       jsonb_build_object('rel_oid', _adopt_dropped.rel::oid, 'dropped_oid', gone,
                                          'snapshot_copies', copies, 'key_map_rows', keys));
  END LOOP;
END
$$;

-- Managed tables dropped since they were registered (named, with their OID), or
-- without a column they were registered with: what every operation over
-- the managed tables refuses to start with.
CREATE FUNCTION tdm._require_managed_tables(caller text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  gone text;
  gone_oid oid;
  missing record;
BEGIN
  PERFORM tdm._hold_managed_tables();
  SELECT string_agg(coalesce(tdm._managed_name(m.rel) || ' (OID ' || m.rel::oid || ')', 'OID ' || m.rel::oid),
                    ', ' ORDER BY m.rel::oid),
         min(m.rel::oid)
    INTO gone, gone_oid
    FROM tdm.managed_table m WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = m.rel);
  IF gone IS NOT NULL THEN
    RAISE EXCEPTION '%: the managed table % no longer exists', caller, gone
      USING ERRCODE = 'undefined_table',
            DETAIL = 'It was dropped after tdm.manage_table registered it.',
            HINT = format('Stop managing it (SELECT tdm.unmanage_table(%s);), then register the '
                          'table that replaces it, if any, with tdm.manage_table: it takes over the dropped'
                          ' one''s copies in snapshots and its key map.', gone_oid);
  END IF;
  -- A managed table attached since as a partition of another (or the
  -- reverse): its rows would be collected and loaded twice.
  SELECT format('%s is a partition of managed table %s', p.part, p.parent) INTO gone
    FROM tdm._managed_partitions() p ORDER BY p.part::text LIMIT 1;
  IF gone IS NOT NULL THEN
    RAISE EXCEPTION '%: managed table %', caller, gone
      USING ERRCODE = 'invalid_table_definition',
            DETAIL = 'A partition''s rows are the partitioned table''s: they would be collected and loaded twice.',
            HINT = 'Stop managing the partition (tdm.unmanage_table): the partitioned table holds its rows.';
  END IF;
  -- A column registered as a key, tag, timestamp or core column that the
  -- table no longer has (renamed or dropped since).
  SELECT m.rel, x.col, x.role INTO missing
    FROM tdm.managed_table m
   CROSS JOIN LATERAL (
     SELECT k AS col, 'primary key' AS role FROM unnest(m.pk_columns) k
     UNION ALL SELECT k, 'natural key' FROM unnest(m.natural_keys) g, unnest(string_to_array(g, ',')) k
     UNION ALL SELECT k, 'core column' FROM unnest(m.core_columns) k
     UNION ALL SELECT k, 'bookkeeping column' FROM unnest(m.bookkeeping_columns) k
     UNION ALL SELECT m.updated_at_column, 'updated_at column' WHERE m.updated_at_column IS NOT NULL
     UNION ALL SELECT m.release_column, 'release column'
     UNION ALL SELECT m.feature_column, 'feature column') x
   WHERE NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = m.rel AND a.attname = x.col
                        AND a.attnum > 0 AND NOT a.attisdropped)
   ORDER BY m.rel::text LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION '%: table % has no column % any more, its % as tdm.manage_table registered it',
      caller, missing.rel, missing.col, missing.role
      USING ERRCODE = 'undefined_column',
            HINT = format('Register the table again with its columns as they are now (tdm.manage_table(%L, ...)).',
                          missing.rel::text);
  END IF;
  -- (An inheritance child attached since, to a managed table or to its
  -- copy in master.)
  PERFORM tdm._refuse_inheritance_parents(caller, ARRAY(SELECT m.rel FROM tdm.managed_table m
                                                        UNION ALL
                                                        SELECT tdm._target_table('master', m.rel)
                                                          FROM tdm.managed_table m));
END
$$;

-- Stops managing a table (also one that was dropped, given by OID): its
-- registration and business rules go; what runs, locks and snapshots
-- recorded of it stays.
CREATE FUNCTION tdm.unmanage_table(rel regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
DECLARE
  rules text[];
  masks text[];
  children text;  -- the managed tables that reference it
  broken_before text[];  -- rules of other tables that were broken already
  broken record;
BEGIN
  PERFORM tdm._require_given('unmanage_table', 'rel', rel IS NOT NULL);
  PERFORM tdm._change_managed_tables('unmanage_table');
  IF NOT EXISTS (SELECT FROM tdm.managed_table m WHERE m.rel = unmanage_table.rel) THEN
    RAISE EXCEPTION 'table % is not managed by tdm', tdm._rel_name(rel)
      USING ERRCODE = 'undefined_object', HINT = 'The managed tables are in tdm.managed_table.';
  END IF;
  -- Managed tables that reference it: their rows' references to it are
  -- then read as the environments' keys. Once runs gave its rows other
  -- keys (tdm.key_map), such a key names another entity in the target.
  children := (SELECT string_agg(DISTINCT r.child::text, ', ') FROM tdm._managed_references() r
                WHERE r.parent = unmanage_table.rel AND r.child <> r.parent);
  IF children IS NOT NULL
     AND EXISTS (SELECT FROM tdm.key_map k WHERE k.rel = unmanage_table.rel AND k.reason <> 'repointed') THEN
    RAISE EXCEPTION 'unmanage_table: % is referenced by managed tables %, and earlier runs gave rows of it other keys',
      rel, children
      USING ERRCODE = 'object_in_use',
            DETAIL = format('Unmanaged, its keys are no longer translated through tdm.key_map: a row of %s that'
                            ' references an environment''s key of it would reference the row of that key in the'
                            ' target, another entity where the key was changed.', children),
            HINT = format('Keep it managed, or unmanage %s first.', children);
  ELSIF children IS NOT NULL THEN
    RAISE WARNING 'unmanage_table: % is referenced by managed tables %', rel, children
      USING DETAIL = 'Their references to it are read as the environments'' keys from now on: no conflict of'
                     ' it gives them other keys.';
  END IF;
  WITH gone AS (DELETE FROM tdm.rule r WHERE r.rel = unmanage_table.rel RETURNING r.name)
  SELECT array_agg(name ORDER BY name) INTO rules FROM gone;
  WITH gone AS (DELETE FROM tdm.mask k WHERE k.rel = unmanage_table.rel RETURNING k.column_name)
  SELECT array_agg(column_name ORDER BY column_name) INTO masks FROM gone;
  IF masks IS NOT NULL THEN
    RAISE NOTICE 'unmanage_table: the masks of % (%) are removed with it', rel, tdm._column_names(masks)
      USING HINT = 'Managed again, the table is collected unmasked until tdm.mask_column masks it again.';
  END IF;
  -- (its own rules are gone already)
  broken_before := ARRAY(SELECT br.name FROM tdm.rule br WHERE tdm._rule_problem(br) IS NOT NULL);
  DELETE FROM tdm.managed_table m WHERE m.rel = unmanage_table.rel;
  -- A rule of another table that reads this one would fail at the next
  -- consolidation: said now, with nothing changed.
  SELECT x.name, x.rel, x.problem INTO broken
    FROM (SELECT br.name, br.rel, tdm._rule_problem(br) AS problem FROM tdm.rule br) x
   WHERE x.problem IS NOT NULL AND x.name <> ALL (broken_before) ORDER BY x.name LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'unmanage_table: rule "%" on % reads %: %', broken.name, broken.rel, rel, broken.problem
      USING ERRCODE = 'dependent_objects_still_exist',
            HINT = format('Drop the rule first (SELECT tdm.drop_rule(%L);), or keep %s managed.', broken.name, rel);
  END IF;
  PERFORM tdm._audit('unmanage_table', coalesce(tdm._managed_name(rel), rel::text),
                     jsonb_build_object('rel_oid', rel::oid, 'rules', coalesce(rules, '{}'),
                                        'masks', coalesce(masks, '{}')));
END
$$;
COMMENT ON FUNCTION tdm.unmanage_table(regclass) IS
  'Stops managing a table (and drops its business rules and masks); history stays';

CREATE FUNCTION tdm.create_release(release text, code_version text DEFAULT NULL,
                                   parent text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
#variable_conflict use_column
DECLARE
  release_name text := create_release.release;
BEGIN
  IF release_name IS NULL OR btrim(release_name) = '' THEN
    RAISE EXCEPTION 'release name must not be empty' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF btrim(create_release.code_version) = '' THEN
    RAISE EXCEPTION 'release "%": code_version must not be blank', release_name
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Give the code version, or NULL for none yet.';
  END IF;
  -- Release names are created one at a time: two lookalikes created at
  -- once would each pass the check against the other.
  PERFORM pg_advisory_xact_lock(hashtext('tdm names'), 0);
  IF EXISTS (SELECT FROM tdm.release r WHERE r.release = release_name) THEN
    RAISE EXCEPTION 'release "%" already exists', release_name
      USING ERRCODE = 'duplicate_object',
            DETAIL = (SELECT format('Its status is %s.', r.status)
                        FROM tdm.release r WHERE r.release = release_name);
  END IF;
  PERFORM tdm._require_distinct_name('release', release_name, ARRAY(SELECT r.release FROM tdm.release r));
  IF create_release.parent IS NOT NULL
     AND NOT EXISTS (SELECT FROM tdm.release r WHERE r.release = create_release.parent) THEN
    RAISE EXCEPTION 'parent release "%" of release "%" does not exist',
      create_release.parent, release_name
      USING ERRCODE = 'undefined_object', HINT = tdm._missing_release_hint(create_release.parent);
  END IF;
  INSERT INTO tdm.release (release, code_version, parent)
  VALUES (release_name, create_release.code_version, create_release.parent);
  PERFORM tdm._audit('create_release', release_name,
                     jsonb_build_object('code_version', create_release.code_version,
                                        'parent', create_release.parent));
END
$$;

-- A release's or feature's name must not look like another: tags are
-- compared exactly, so rows tagged `R1 ` or `r1` for release R1 are
-- another release's, and a lookalike release would also hide them from
-- tagging's unknown_release finding. Refuses spaces at either end, and a
-- name that is an existing one but for case.
-- A name as it reads: in a UTF8 database, NFKC-normalized (two spellings
-- of é read alike, and a non-breaking or other Unicode space reads as a
-- space).
CREATE FUNCTION tdm._name_as_read(name text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN getdatabaseencoding() = 'UTF8' THEN normalize(name, NFKC) ELSE name END
$$;

-- An existing name `name` looks like but is not: the same as read, but for
-- case and spaces at either end (NULL when none).
CREATE FUNCTION tdm._lookalike(name text, existing text[]) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT x FROM unnest(existing) AS x
   WHERE lower(btrim(tdm._name_as_read(x), E' \t\n\r\f\x0b'))
         = lower(btrim(tdm._name_as_read(name), E' \t\n\r\f\x0b'))
     AND x <> name
   ORDER BY x LIMIT 1
$$;

-- The HINT naming what a name that matched nothing looks like: `kind`
-- ('Release', 'column'...) and the lookalike as it is to be typed (quoted
-- by the caller); NULL without one.
CREATE FUNCTION tdm._did_you_mean(kind text, quoted text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
  SELECT format('%s names are compared exactly: did you mean %s?', kind, quoted)
$$;

CREATE FUNCTION tdm._require_distinct_name(what text, name text, existing text[]) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  as_read text := tdm._name_as_read(name);
  lookalike text := tdm._lookalike(name, existing);
  hidden text;  -- a character of it that does not show
BEGIN
  -- (Keys of tdm's catalog, and part of every message about them.)
  IF octet_length(name) > 200 THEN
    RAISE EXCEPTION '% name "%..." is longer than 200 bytes (%)', what, left(name, 40), octet_length(name)
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Choose a shorter name: it is typed in tags, decisions and calls.';
  END IF;
  IF as_read <> btrim(as_read, E' \t\n\r\f\x0b') THEN
    RAISE EXCEPTION '% name "%" has spaces at its start or end', what, name
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Names are compared exactly: a tag or decision written without them would name something else.';
  END IF;
  -- (A character one does not see, a control or a format one, zero-width
  -- space, soft hyphen, direction mark: "R1" with one is no lookalike of R1
  -- to the check below, yet reads as R1.)
  hidden := substring(as_read FROM '[[:cntrl:]]');
  IF hidden IS NULL AND getdatabaseencoding() = 'UTF8' THEN
    -- (a pattern of code points compiled only here: other encodings
    -- have none of them)
    -- (E'' with doubled backslashes: the regex reads \uXXXX whatever
    -- standard_conforming_strings says)
    hidden := substring(as_read FROM E'[\\u00ad\\u061c\\u180e\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u2069\\ufeff]');
  END IF;
  IF hidden IS NOT NULL THEN
    RAISE EXCEPTION '% name % holds U+%, a character that does not show (a control, zero-width or direction'
                    ' character)', what, quote_literal(name), upper(lpad(to_hex(ascii(hidden)), 4, '0'))
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Names are compared exactly: a tag typed as the name reads would name something else. Use'
                   ' visible characters only.';
  END IF;
  IF lookalike IS NOT NULL THEN
    RAISE EXCEPTION '% "%" differs from % "%" only in case or spelling', what, name, what, lookalike
      USING ERRCODE = 'duplicate_object',
            HINT = 'Names are compared exactly: choose a name that does not look like another.';
  END IF;
END
$$;

-- What to do about a release name no release has: use the one it looks
-- like, or create it.
-- After manage_table registered `rel` again: a NOTICE naming the settings
-- the call changed from `before` (the registration as it was). A call
-- replaces the whole registration, so one that gives only normalize_keys
-- drops the natural keys and core columns: said, not silent.
CREATE FUNCTION tdm._registration_changes(rel regclass, before jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  changes text;
  dropped bool;  -- a setting went back to its default: left out of the call?
BEGIN
  SELECT string_agg(format('%s %s -> %s', k, coalesce(before -> k, 'null'::jsonb), coalesce(now.v, 'null'::jsonb)),
                    ', ' ORDER BY k),
         bool_or(coalesce(now.v, 'null'::jsonb) IN ('[]', 'null', 'false'))
    INTO changes, dropped
    FROM (SELECT to_jsonb(m) AS row FROM tdm.managed_table m WHERE m.rel = _registration_changes.rel) a
   CROSS JOIN LATERAL unnest(ARRAY['natural_keys', 'updated_at_column', 'core_columns', 'release_column',
                                   'feature_column', 'surrogate_key', 'normalize_keys',
                                   'bookkeeping_columns']) AS k
   CROSS JOIN LATERAL (SELECT a.row -> k AS v) now
   WHERE before -> k IS DISTINCT FROM now.v;
  IF dropped THEN
    RAISE NOTICE 'manage_table: % registered again, with %', rel, changes
      USING HINT = 'A call replaces the whole registration; arguments left out take their defaults. Give every'
                   ' setting to keep (tdm.managed_table shows them).';
  ELSIF changes IS NOT NULL THEN
    RAISE NOTICE 'manage_table: % registered again, with %', rel, changes;
  END IF;
END
$$;

CREATE FUNCTION tdm._missing_release_hint(release text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN btrim(release) = '' THEN 'Releases are in tdm.release.'
              WHEN lookalike IS NOT NULL
              THEN tdm._did_you_mean('Release', quote_literal(lookalike))
              -- (a reviewer creates none: where to look instead)
              WHEN NOT has_function_privilege('tdm.create_release(text, text, text)', 'EXECUTE')
              THEN 'Releases are in tdm.release.'
              ELSE format('Create it first: SELECT tdm.create_release(%L);', release) END
    FROM (SELECT tdm._lookalike(release, ARRAY(SELECT r.release FROM tdm.release r)) AS lookalike) l
$$;

CREATE FUNCTION tdm.add_feature(release text, feature text, priority int)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
#variable_conflict use_column
DECLARE
  release_status text;
BEGIN
  PERFORM tdm._require_given('add_feature', 'release', add_feature.release IS NOT NULL);
  IF add_feature.feature IS NULL OR btrim(add_feature.feature) = '' THEN
    RAISE EXCEPTION 'feature name must not be empty' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF add_feature.priority IS NULL THEN
    RAISE EXCEPTION 'feature "%": priority must be an integer, not NULL', add_feature.feature
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Higher priorities win conflicts.';
  END IF;
  IF NOT EXISTS (SELECT FROM tdm.release r WHERE r.release = add_feature.release) THEN
    RAISE EXCEPTION 'release "%" does not exist (adding feature "%")',
      add_feature.release, add_feature.feature
      USING ERRCODE = 'undefined_object',
            HINT = tdm._missing_release_hint(add_feature.release);
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('tdm names'), hashtext(add_feature.release));
  IF EXISTS (SELECT FROM tdm.feature f
              WHERE f.release = add_feature.release AND f.feature = add_feature.feature) THEN
    RAISE EXCEPTION 'feature "%" is already in release "%"', add_feature.feature,
      add_feature.release
      USING ERRCODE = 'duplicate_object',
            DETAIL = (SELECT format('Its priority is %s.', f.priority) FROM tdm.feature f
                       WHERE f.release = add_feature.release AND f.feature = add_feature.feature),
            HINT = format('To change its priority: UPDATE tdm.feature SET priority = %s WHERE release = %L'
                          ' AND feature = %L; then tag the release again.',
                          coalesce(add_feature.priority::text, '...'), add_feature.release, add_feature.feature);
  END IF;
  PERFORM tdm._require_distinct_name('feature', add_feature.feature,
                                     ARRAY(SELECT f.feature FROM tdm.feature f
                                            WHERE f.release = add_feature.release));
  -- (A release in master holds its rows as its lock held them: rows tagged
  -- for a feature added now reach no release.)
  SELECT r.status INTO release_status FROM tdm.release r WHERE r.release = add_feature.release;
  IF tdm._presence(release_status) <> 'neither' THEN
    RAISE WARNING 'add_feature: release % is %: rows tagged for feature % reach neither it nor master',
      add_feature.release, release_status, add_feature.feature
      USING HINT = 'Plan the feature in a release under way (or a new one: tdm.create_release), and tag its rows'
                   ' for that release.';
  END IF;
  INSERT INTO tdm.feature (release, feature, priority)
  VALUES (add_feature.release, add_feature.feature, add_feature.priority);
  PERFORM tdm._audit('add_feature', add_feature.release || '/' || add_feature.feature,
                     jsonb_build_object('priority', add_feature.priority));
END
$$;

-- The checks of tdm.add_rule that need no parsing (the C++ side parses).
CREATE FUNCTION tdm._check_rule_target(name text, rel regclass, severity text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
  IF btrim(_check_rule_target.name) = '' THEN
    RAISE EXCEPTION 'rule name must not be empty' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- (The same name added at once in two sessions: the second waits for
  -- the first, then is told the rule exists, not its primary key's error.)
  -- (One lock for every name: a lookalike added at once waits too.)
  PERFORM pg_advisory_xact_lock(hashtext('tdm rule'), 0);
  IF EXISTS (SELECT FROM tdm.rule r WHERE r.name = _check_rule_target.name) THEN
    RAISE EXCEPTION 'rule "%" already exists', _check_rule_target.name
      USING ERRCODE = 'duplicate_object',
            DETAIL = (SELECT format('It checks %s on %s.', r.predicate, r.rel) FROM tdm.rule r
                       WHERE r.name = _check_rule_target.name),
            HINT = format('Choose another name; or, to change the rule, drop it first (SELECT tdm.drop_rule(%L);)'
                          ' and add it again.', _check_rule_target.name);
  END IF;
  PERFORM tdm._require_distinct_name('rule', _check_rule_target.name, ARRAY(SELECT r.name FROM tdm.rule r));
  IF NOT EXISTS (SELECT FROM tdm.managed_table m WHERE m.rel = _check_rule_target.rel) THEN
    RAISE EXCEPTION 'table % is not managed by tdm (rule "%")', tdm._rel_name(_check_rule_target.rel),
      _check_rule_target.name
      USING ERRCODE = 'undefined_object',
            HINT = CASE WHEN NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = _check_rule_target.rel)
                        THEN 'Rules are on managed tables (tdm.managed_table).'
                        ELSE format('Register it first: SELECT tdm.manage_table(%L);',
                                    _check_rule_target.rel::text) END;
  END IF;
  IF _check_rule_target.severity NOT IN ('error', 'warning') THEN
    RAISE EXCEPTION 'rule "%": severity must be error or warning, not "%"',
      _check_rule_target.name, _check_rule_target.severity
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
END
$$;

-- (Names in the predicate resolve as validation resolves them: with
-- search_path pg_catalog, pg_temp.)
-- A rule's predicate over `rel` as PostgreSQL reads it in this session,
-- kept as temporary view `view_name` (a literal such as '06/02/24' is made
-- a date then, as this session's DateStyle, TimeZone and IntervalStyle
-- say). Transactional: a failed add_rule leaves nothing.
CREATE FUNCTION tdm._rule_reading(rel regclass, predicate text, view_name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  EXECUTE format(E'CREATE TEMP VIEW %I AS SELECT (%s\n) AS holds FROM ONLY %s', view_name, predicate, rel);
END
$$;

-- The same under the settings tdm._consolidate_job runs validation with,
-- as view `there_view`; then both views' queries (`here_view` first),
-- their constants printed under those settings: two readings of a
-- predicate compare by their values.
CREATE FUNCTION tdm._rule_readings_at_validation(rel regclass, predicate text, here_view text, there_view text)
RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
SET DateStyle TO 'ISO, YMD' SET IntervalStyle TO 'postgres' SET TimeZone TO 'UTC' SET bytea_output TO 'hex'
SET lc_monetary TO 'C' SET xmloption TO 'content' SET array_nulls TO on SET extra_float_digits TO 1 AS $$
BEGIN
  PERFORM tdm._rule_reading(rel, predicate, there_view);
  RETURN ARRAY[pg_get_viewdef(format('pg_temp.%I', here_view)::regclass),
               pg_get_viewdef(format('pg_temp.%I', there_view)::regclass)];
END
$$;

CREATE FUNCTION tdm.add_rule(name text, rel regclass, predicate text, severity text DEFAULT 'error')
RETURNS void
AS 'MODULE_PATHNAME', 'tdm_add_rule' LANGUAGE C SET search_path = pg_catalog, pg_temp SET jit TO off;
COMMENT ON FUNCTION tdm.add_rule(text, regclass, text, text) IS
  'A business rule (one boolean expression over the table''s columns) checked at validation';

-- A business rule's predicate planned against its table, as validation
-- will: NULL when it is still valid, else why not.
-- With `nowait`, a table another session holds (a load's locks) is not
-- waited for: NULL, unknown (a consolidation's call checks so, and its
-- job, which waits with a progress row, again).
CREATE FUNCTION tdm._rule_problem(r tdm.rule, nowait bool DEFAULT false) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  lock_timeout_was text := current_setting('lock_timeout');
BEGIN
  -- (Outside the block below: a session that may not create the views is
  -- not a rule that no longer fits.)
  PERFORM tdm._rule_views(NULL, NULL, r.predicate);
  IF nowait THEN
    PERFORM set_config('lock_timeout', '100ms', true);
  END IF;
  BEGIN
    EXECUTE format(E'SELECT 1 FROM ONLY %s WHERE (%s\n) LIMIT 0', r.rel, r.predicate);
  EXCEPTION WHEN syntax_error_or_access_rule_violation OR data_exception OR feature_not_supported THEN
    PERFORM set_config('lock_timeout', lock_timeout_was, true);
    PERFORM tdm._drop_rule_views();
    RETURN SQLERRM;
  WHEN lock_not_available THEN
    IF NOT nowait THEN
      RAISE;
    END IF;
  END;
  PERFORM set_config('lock_timeout', lock_timeout_was, true);
  PERFORM tdm._drop_rule_views();
  RETURN NULL;
END
$$;

-- Removes a business rule.
CREATE FUNCTION tdm.drop_rule(name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
DECLARE
  gone tdm.rule;
BEGIN
  PERFORM tdm._require_given('drop_rule', 'name', name IS NOT NULL);
  DELETE FROM tdm.rule r WHERE r.name = drop_rule.name RETURNING * INTO gone;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'rule "%" does not exist', name
      USING ERRCODE = 'undefined_object',
            HINT = coalesce(tdm._did_you_mean('Rule', quote_literal(tdm._lookalike(name, ARRAY(SELECT r.name
                                                                                         FROM tdm.rule r)))),
                            'The rules are in tdm.rule.');
  END IF;
  PERFORM tdm._audit('drop_rule', name, jsonb_build_object('rel', gone.rel::text,
                                                           'predicate', gone.predicate));
END
$$;
COMMENT ON FUNCTION tdm.drop_rule(text) IS 'Removes a business rule';
