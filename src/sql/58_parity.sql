-- Parity (seed 001): how two environments, or an environment and this
-- database ('local': the managed tables themselves), drift apart: in their
-- tables' shape (tdm.schema_diff), their rows (tdm.data_diff) and their
-- columns' value distributions (tdm.profile_diff). All three only read:
-- what they may create is tdm's own foreign tables of an environment
-- (tdm._refresh_environment, as tagging does).

CREATE TYPE tdm.schema_drift AS (
  rel regclass,        -- the managed table
  table_name text,
  column_name text,    -- NULL for a table-level row
  kind text,           -- table_missing, column_missing, type, nullable, default, identity, generated,
                       -- enum_labels, domain_check, collation, constraint, index
  in_a text,           -- what env_a has (NULL: nothing)
  in_b text,
  detail text
);

CREATE TYPE tdm.row_diff AS (
  rel regclass,
  key jsonb,           -- primary key columns -> values
  kind text,           -- only_in_a, only_in_b, changed
  columns text[],      -- changed: the columns whose values differ
  row_a jsonb,         -- the compared columns as env_a holds them (NULL: no such row)
  row_b jsonb
);

CREATE TYPE tdm.profile_drift AS (
  rel regclass,
  column_name text,
  rows_a bigint,
  rows_b bigint,
  null_frac_a float8,  -- NULL when the side has no rows
  null_frac_b float8,
  distinct_a bigint,
  distinct_b bigint,
  distance float8,     -- total variation distance of the non-NULL values, 0 (same) to 1 (disjoint)
  drifted bool         -- distance > 0.1, or null fractions more than 0.05 apart
);

-- A side as messages name it.
CREATE FUNCTION tdm._parity_label(side text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN side = 'local' THEN 'local (this database)' ELSE format('environment "%s"', side) END
$$;

-- Refuses a side that is not one (tdm._require_side), and the same side
-- twice: a side compared with itself says nothing, and two equal
-- arguments are more likely a slip than a question.
CREATE FUNCTION tdm._parity_sides(caller text, env_a text, env_b text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM tdm._require_given(caller, 'env_a', env_a IS NOT NULL);
  PERFORM tdm._require_given(caller, 'env_b', env_b IS NOT NULL);
  PERFORM tdm._require_side(caller, env_a);
  PERFORM tdm._require_side(caller, env_b);
  IF env_a = env_b THEN
    RAISE EXCEPTION '%: env_a and env_b are both "%": nothing to compare', caller, env_a
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Name two environments, or an environment and ''local''.';
  END IF;
END
$$;

-- A side's columns of `rel`, described as tdm compares them (no row: the
-- table is missing there). One reader per place: the catalog of this
-- database, or the environment's information_schema.
CREATE FUNCTION tdm._parity_columns(side text, rel regclass)
RETURNS TABLE (column_name text, column_type text, ordinal int, nullable bool, column_default text,
               time_precision int, identity text, generated bool)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF side = 'local' THEN
    RETURN QUERY SELECT * FROM tdm._target_columns(rel, with_defaults => true);
  ELSE
    RETURN QUERY SELECT * FROM tdm._remote_columns(side, rel, with_defaults => true);
  END IF;
END
$$;

-- A default as compared: a sequence's default names its schema, which
-- differs between environments holding the same table (nextval('st1.x_seq')
-- and nextval('st2.x_seq') are the same default); so do the types it casts
-- to and the functions it calls, printed with their schema where it is not
-- the table's ('active'::public.mood for a table in staging, 'active'::mood
-- for one in public). Which type a column has is compared as its type.
CREATE FUNCTION tdm._parity_default(expr text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT regexp_replace(
           regexp_replace(
             regexp_replace(expr, $re$nextval\('("[^"]*"|[^'".]*)\.$re$, 'nextval('''),
             $re$::("(?:[^"]|"")+"|[[:alpha:]_][[:alnum:]_$]*)\.$re$, '::', 'g'),
           $re$(?<![[:alnum:]_.$"'])("(?:[^"]|"")+"|[[:alpha:]_][[:alnum:]_$]*)\.(?=("(?:[^"]|"")+"|[[:alpha:]_][[:alnum:]_$]*)\()$re$,
           '', 'g')
$$;

-- A side's catalog relation `name` (pg_class, pg_constraint...): this
-- database's own, or tdm's foreign table over the environment's.
CREATE FUNCTION tdm._parity_catalog(side text, name text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN side = 'local' THEN 'pg_catalog.' || quote_ident(name)
              ELSE tdm._env_relation(side, 'tdm_remote_' || name)::text END
$$;

-- The schema a side keeps `rel` in: its own here, the remote schema there.
CREATE FUNCTION tdm._parity_schema(side text, rel regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN side = 'local'
              THEN (SELECT n.nspname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE c.oid = rel)
              ELSE (SELECT e.remote_schema FROM tdm.environment e WHERE e.name = side) END
$$;

-- A definition PostgreSQL printed (an index's, a CHECK's) without the
-- qualification by `schema_name`, the side's own schema: the same
-- function or type is `staging.norm` here and `public.norm` there. Other
-- schemas stay: they are the same name on both sides.
CREATE FUNCTION tdm._parity_unqualified(definition text, schema_name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT regexp_replace(definition,
                        '(^|[^"[:alnum:]_.$])' || regexp_replace(quote_ident(schema_name), '([^[:alnum:]_])', E'\\\\\\1', 'g')
                        || E'\\.', E'\\1', 'g')
$$;

-- A CHECK's stored expression (pg_constraint.conbin) as two databases can
-- compare it, where its text cannot be read (tdm._parity_constraints):
-- without the source positions and how a cast was written (implicit, or
-- explicit as pg_dump writes it back), with the columns by name (a
-- column's number differs where columns were added in another order), and
-- without the numbers of objects users made (types, functions, an enum
-- label's: each database numbers its own), so that two user functions, or
-- two labels of an enum, compare alike there.
CREATE FUNCTION tdm._parity_expression(tree text, column_names text[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  rest text := regexp_replace(regexp_replace(tree, E' :location -?\\d+', '', 'g'),
                              E':(funcformat|relabelformat|coerceformat|convertformat|coercionformat) \\d+', '', 'g');
  done text := '';
  at int;
  m text[];
BEGIN
  LOOP
    at := regexp_instr(rest, E':varattno(syn)? \\d+');
    EXIT WHEN at = 0;
    m := regexp_match(substr(rest, at), E'^(:varattno(?:syn)? )(\\d+)');
    done := done || substr(rest, 1, at - 1) || m[1]
            || coalesce(quote_ident(column_names[m[2]::int]), m[2]);
    rest := substr(rest, at + length(m[1]) + length(m[2]));
  END LOOP;
  done := regexp_replace(done || rest, E'\\m(1638[4-9]|1639\\d|16[4-9]\\d\\d|1[7-9]\\d{3}|[2-9]\\d{4}|\\d{6,})\\M',
                         '#', 'g');
  -- (A constant of a user's type: its bytes may be such a number, an
  -- enum label's.)
  RETURN regexp_replace(done, E'(:consttype #[^{}]*?:constvalue )\\d+ \\[[^]]*\\]', E'\\1#', 'g');
END
$$;

-- A CHECK's text (pg_get_constraintdef) as PostgreSQL prints it once
-- parsed again: an IN list of a varchar column is stored as
-- (ARRAY['a'::character varying, ...])::text[] when written, and as
-- ARRAY[('a'::character varying)::text, ...] once ALTER COLUMN .. TYPE
-- rebuilt the constraint from its text (a cast on ARRAY[] goes to its
-- elements). The same rule, so one spelling: the latter.
CREATE FUNCTION tdm._check_text_canonical(definition text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
  literal constant text := $r$'(?:[^']|'')*'::[a-z][a-z ]*(?:\(\d+(?:,\d+)?\))?$r$;
  found text[];
  before text;
BEGIN
  LOOP
    before := definition;
    found := regexp_match(definition,
                          format($r$\(ARRAY\[(%1$s(?:, %1$s)*)\]\)::([a-z][a-z ]*(?:\(\d+(?:,\d+)?\))?)\[\]$r$, literal));
    EXIT WHEN found IS NULL;
    definition := replace(definition, format('(ARRAY[%s])::%s[]', found[1], found[2]),
                          format('ARRAY[%s]', regexp_replace(found[1], '(' || literal || ')',
                                                             E'(\\1)::' || found[2], 'g')));
    EXIT WHEN definition = before;
  END LOOP;
  RETURN definition;
END
$$;

-- A side's indexes on `rel`: `canonical` is the definition without the
-- index's name and the side's own schema (tdm._parity_unqualified), and
-- `(INVALID)` after it for an index a failed CREATE INDEX CONCURRENTLY
-- left: it enforces and serves nothing, and is no match for a valid one.
CREATE FUNCTION tdm._parity_indexes(side text, rel regclass)
RETURNS TABLE (index_name text, canonical text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN QUERY EXECUTE format(
    'SELECT i.indexname::text,'
    '       regexp_replace(tdm._parity_unqualified(i.indexdef::text, $1), $3, $4)'
    '       || CASE WHEN x.indisvalid THEN '''' ELSE '' (INVALID)'' END'
    '  FROM %s i'
    '  JOIN %s n ON n.nspname = i.schemaname'
    '  JOIN %s c ON c.relnamespace = n.oid AND c.relname = i.indexname'
    '  JOIN %s x ON x.indexrelid = c.oid'
    ' WHERE i.schemaname = $1 AND i.tablename = $2',
    tdm._parity_catalog(side, 'pg_indexes'), tdm._parity_catalog(side, 'pg_namespace'),
    tdm._parity_catalog(side, 'pg_class'), tdm._parity_catalog(side, 'pg_index'))
    USING tdm._parity_schema(side, rel), (SELECT relname::text FROM pg_class WHERE oid = rel),
          '^CREATE (UNIQUE )?INDEX (?:"(?:[^"]|"")*"|[^ ]+) ON ', E'CREATE \\1INDEX ON ';
END
$$;

-- A side's constraints on the managed table `rel` (no row: none, or no
-- table), read from the catalogs (tdm._parity_catalog: one reader for
-- both places): primary key and unique (with what their index adds:
-- INCLUDE, NULLS NOT DISTINCT, storage parameters), foreign key (the
-- referenced table by name: schemas differ between environments; its
-- column pairs in any order), check, exclusion (its index's method and
-- columns, and its operators). `definition` as schema_diff shows it,
-- `canonical` as it compares them; a CHECK's `check_text` is its text
-- without the side's schema, NULL where it cannot be read (an
-- environment's information_schema shows it to roles of the table's owner
-- only) or not told apart (it lists CHECKs by schema and name, not table),
-- and schema_diff then compares `canonical` (tdm._parity_expression).
CREATE FUNCTION tdm._parity_constraints(side text, rel regclass)
RETURNS TABLE (constraint_name text, contype text, definition text, canonical text, check_text text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  con text := tdm._parity_catalog(side, 'pg_constraint');
  cls text := tdm._parity_catalog(side, 'pg_class');
  schema_name text := tdm._parity_schema(side, rel);
  table_oid oid;
  related oid[];
  operators oid[];
BEGIN
  EXECUTE format('SELECT c.oid FROM %s c JOIN %s n ON n.oid = c.relnamespace'
                 ' WHERE n.nspname = $1 AND c.relname = $2', cls, tdm._parity_catalog(side, 'pg_namespace'))
    INTO table_oid USING schema_name, (SELECT relname::text FROM pg_class WHERE oid = rel);
  IF table_oid IS NULL THEN
    RETURN;
  END IF;
  -- (The tables and indexes they name, and the exclusion operators: read
  -- by number, so that postgres_fdw asks for those only.)
  EXECUTE format('SELECT array_agg(DISTINCT x) FILTER (WHERE x <> 0),'
                 '       (SELECT array_agg(DISTINCT o) FROM %1$s k, unnest(k.conexclop) o WHERE k.conrelid = $1)'
                 '  FROM %1$s k, unnest(ARRAY[k.confrelid, k.conindid]) x WHERE k.conrelid = $1 AND k.conparentid = 0', con)
    INTO related, operators USING table_oid;
  related := array_append(related, table_oid);
  RETURN QUERY EXECUTE format(
    $q$
    WITH k AS MATERIALIZED (
           SELECT k.oid, k.conname::text AS conname, k.contype::text AS contype, k.condeferrable,
                  k.condeferred, k.convalidated, k.connoinherit, k.confrelid, k.conindid,
                  k.confupdtype::text AS confupdtype, k.confdeltype::text AS confdeltype,
                  k.confmatchtype::text AS confmatchtype, k.conkey, k.confkey, k.confdelsetcols,
                  k.conexclop, k.conbin::text AS conbin
             -- (not the copies PostgreSQL adds for each partition of a
             -- partitioned parent: the declared key stands for them)
             FROM %1$s k WHERE k.conrelid = $1 AND k.conparentid = 0),
         a AS MATERIALIZED (
           SELECT a.attrelid, a.attnum, a.attname::text AS attname FROM %2$s a
            WHERE a.attrelid = ANY ($2) AND a.attnum > 0),
         -- (A referenced table by name, with its schema where that is not
         -- the table's own: environments read one schema under another
         -- name, but a reference to another schema's table of that name
         -- is another reference.)
         r AS MATERIALIZED (SELECT c.oid, c.relname::text AS relname,
                                   CASE WHEN c.relnamespace = (SELECT t.relnamespace FROM %3$s t WHERE t.oid = $1)
                                        THEN quote_ident(c.relname)
                                        ELSE quote_ident(n.nspname) || '.' || quote_ident(c.relname) END AS relative_name
                              FROM %3$s c JOIN %6$s n ON n.oid = c.relnamespace WHERE c.oid = ANY ($2)),
         o AS MATERIALIZED (SELECT o.oid, o.oprname::text AS oprname FROM %4$s o WHERE o.oid = ANY ($3)),
         i AS MATERIALIZED (SELECT * FROM tdm._parity_indexes($4, $5)),
         -- (The table's column names by number, gaps as NULL.)
         numbered AS (SELECT array_agg(a.attname ORDER BY g.n) AS by_number
                        FROM generate_series(1, (SELECT max(x.attnum) FROM a x WHERE x.attrelid = $1)) AS g(n)
                        LEFT JOIN a ON a.attrelid = $1 AND a.attnum = g.n),
         d AS (
           SELECT k.conname, k.contype,
                  CASE k.contype
                    WHEN 'p' THEN format('PRIMARY KEY (%%s)', cols.own)
                    WHEN 'u' THEN format('UNIQUE (%%s)', cols.own)
                    WHEN 'f' THEN format('FOREIGN KEY (%%s) REFERENCES %%s (%%s)', cols.own,
                                         r.relative_name, cols.referenced)
                    WHEN 'x' THEN format('EXCLUDE %%s WITH %%s', substring(ix.canonical FROM 'USING .*$'),
                                         (SELECT string_agg(o.oprname, ', ' ORDER BY u.i)
                                            FROM unnest(k.conexclop) WITH ORDINALITY AS u(oid, i)
                                            JOIN o ON o.oid = u.oid))
                    ELSE 'CHECK' END AS head,
                  -- (What follows the columns of a key's index.)
                  CASE WHEN k.contype IN ('p', 'u')
                       THEN coalesce(' ' || substring(ix.canonical FROM E' ((?:INCLUDE \\(|NULLS NOT DISTINCT|WITH \\().*)$'), '')
                       ELSE '' END
                  || CASE WHEN k.contype = 'f' THEN
                            CASE k.confmatchtype WHEN 'f' THEN ' MATCH FULL' ELSE '' END
                            || CASE k.confupdtype WHEN 'a' THEN '' ELSE ' ON UPDATE ' || action.upd END
                            || CASE k.confdeltype WHEN 'a' THEN '' ELSE ' ON DELETE ' || action.del END
                            || coalesce(' (' || cols.set_on_delete || ')', '')
                          ELSE '' END
                  || CASE WHEN k.condeferrable AND k.condeferred THEN ' DEFERRABLE INITIALLY DEFERRED'
                          WHEN k.condeferrable THEN ' DEFERRABLE' ELSE '' END
                  || CASE WHEN k.contype = 'c' AND k.connoinherit THEN ' NO INHERIT' ELSE '' END
                  || CASE WHEN k.convalidated THEN '' ELSE ' NOT VALID' END AS tail,
                  cols.pairs,
                  CASE WHEN k.contype = 'c' THEN %5$s END AS check_text, r.relative_name AS referenced_table,
                  CASE WHEN k.contype = 'c' THEN tdm._parity_expression(k.conbin, numbered.by_number) END AS expression
             FROM k
             CROSS JOIN numbered
             LEFT JOIN r ON r.oid = k.confrelid
             LEFT JOIN r ir ON ir.oid = k.conindid
             LEFT JOIN i ix ON ix.index_name = ir.relname
             CROSS JOIN LATERAL (
               SELECT (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY u.i)
                         FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, i)
                         JOIN a ON a.attrelid = $1 AND a.attnum = u.attnum) AS own,
                      (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY u.i)
                         FROM unnest(k.confkey) WITH ORDINALITY AS u(attnum, i)
                         JOIN a ON a.attrelid = k.confrelid AND a.attnum = u.attnum) AS referenced,
                      -- (A foreign key's pairs in a fixed order: the same key
                      -- written with its pairs in another order.)
                      (SELECT string_agg(quote_ident(ao.attname) || '=' || quote_ident(ar.attname), ', '
                                         ORDER BY ao.attname, ar.attname)
                         FROM unnest(k.conkey, k.confkey) AS u(own, referenced)
                         JOIN a ao ON ao.attrelid = $1 AND ao.attnum = u.own
                         JOIN a ar ON ar.attrelid = k.confrelid AND ar.attnum = u.referenced) AS pairs,
                      (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY u.i)
                         FROM unnest(k.confdelsetcols) WITH ORDINALITY AS u(attnum, i)
                         JOIN a ON a.attrelid = $1 AND a.attnum = u.attnum) AS set_on_delete) cols
             CROSS JOIN LATERAL (
               SELECT CASE k.confupdtype WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
                                         WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END AS upd,
                      CASE k.confdeltype WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
                                         WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END AS del) action)
    SELECT d.conname, d.contype,
           CASE WHEN d.contype <> 'c' THEN d.head || d.tail
                ELSE coalesce(tdm._parity_unqualified(d.check_text, $6), 'CHECK (its text cannot be read there)')
                     || CASE WHEN d.check_text IS NULL THEN d.tail ELSE '' END END,
           CASE WHEN d.contype = 'f' THEN format('FOREIGN KEY (%%s) REFERENCES %%s', d.pairs, d.referenced_table)
                WHEN d.contype = 'c' THEN 'CHECK ' || d.expression
                ELSE d.head END || d.tail,
           tdm._check_text_canonical(tdm._parity_unqualified(d.check_text, $6))
      FROM d
    $q$,
    con, tdm._parity_catalog(side, 'pg_attribute'), cls, tdm._parity_catalog(side, 'pg_operator'),
    CASE WHEN side = 'local'
         THEN 'pg_get_constraintdef(k.oid)'
         ELSE format('(SELECT CASE WHEN count(DISTINCT x.check_clause) = 1 THEN ''CHECK '' || min(x.check_clause) END'
                     '   FROM %s x WHERE x.constraint_schema = %L AND x.constraint_name = k.conname)',
                     tdm._parity_catalog(side, 'checks'), schema_name) END,
    tdm._parity_catalog(side, 'pg_namespace'))
    USING table_oid, related, coalesce(operators, '{}'), side, rel, schema_name;
END
$$;

-- A side's enum columns of `rel` (a domain over an enum, an array of one
-- too) and their labels, in their order.
CREATE FUNCTION tdm._parity_enum_labels(side text, rel regclass)
RETURNS TABLE (column_name text, labels text[])
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN QUERY EXECUTE format(
    'SELECT a.attname::text, array_agg(e.enumlabel::text ORDER BY e.enumsortorder)'
    '  FROM %1$s c JOIN %2$s n ON n.oid = c.relnamespace'
    '  JOIN %3$s a ON a.attrelid = c.oid'
    '  JOIN %4$s t ON t.oid = a.atttypid'
    '  LEFT JOIN %4$s b ON b.oid = t.typbasetype'
    '  JOIN %5$s e ON e.enumtypid IN (t.oid, t.typelem, t.typbasetype, b.typelem)'
    ' WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped'
    ' GROUP BY a.attname',
    tdm._parity_catalog(side, 'pg_class'), tdm._parity_catalog(side, 'pg_namespace'),
    tdm._parity_catalog(side, 'pg_attribute'), tdm._parity_catalog(side, 'pg_type'),
    tdm._parity_catalog(side, 'pg_enum'))
    USING tdm._parity_schema(side, rel), (SELECT relname::text FROM pg_class WHERE oid = rel);
END
$$;

-- A side's collatable columns of `rel`, with their collation's name
-- (`default` unless the column says otherwise): a case-insensitive one
-- changes what its unique keys and comparisons call equal.
CREATE FUNCTION tdm._parity_collations(side text, rel regclass)
RETURNS TABLE (column_name text, collation text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN QUERY EXECUTE format(
    'SELECT a.attname::text, co.collname::text'
    '  FROM %1$s c JOIN %2$s n ON n.oid = c.relnamespace'
    '  JOIN %3$s a ON a.attrelid = c.oid'
    '  JOIN %4$s co ON co.oid = a.attcollation'
    ' WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped',
    tdm._parity_catalog(side, 'pg_class'), tdm._parity_catalog(side, 'pg_namespace'),
    tdm._parity_catalog(side, 'pg_attribute'), tdm._parity_catalog(side, 'pg_collation'))
    USING tdm._parity_schema(side, rel), (SELECT relname::text FROM pg_class WHERE oid = rel);
END
$$;

-- A side's columns of `rel` whose type is a domain with CHECKs (a domain
-- over another, an array of one: all the CHECKs its values pass), with
-- those CHECKs: `checks` as compared, their stored expressions
-- (tdm._parity_expression) sorted; `shown` as schema_diff prints them,
-- each after its domain's name (its text here; in an environment, where
-- its information_schema shows it, to roles of the domain's owner).
CREATE FUNCTION tdm._parity_domain_checks(side text, rel regclass)
RETURNS TABLE (column_name text, checks text[], shown text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN QUERY EXECUTE format(
    -- (Domains and domains' constraints only: few rows, chosen on the
    -- environment's side; the table's columns with their types' element
    -- types in one read there.)
    'WITH RECURSIVE user_types AS MATERIALIZED ('
    '  SELECT t.oid, t.typname::text AS typname, t.typbasetype, t.typnamespace FROM %4$s t'
    '   WHERE t.typbasetype <> 0),'
    ' cols AS MATERIALIZED ('
    '  SELECT a.attname::text AS column_name, a.atttypid, ty.typelem FROM %1$s c'
    '    JOIN %2$s n ON n.oid = c.relnamespace'
    '    JOIN %3$s a ON a.attrelid = c.oid JOIN %4$s ty ON ty.oid = a.atttypid'
    '   WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped),'
    ' reached(column_name, type_oid) AS ('
    '  SELECT c.column_name, x.type_oid FROM cols c'
    '   CROSS JOIN LATERAL unnest(ARRAY[c.atttypid, c.typelem]) AS x(type_oid) WHERE x.type_oid <> 0'
    '  UNION'
    '  SELECT r.column_name, u.typbasetype FROM reached r JOIN user_types u ON u.oid = r.type_oid),'
    ' checks AS MATERIALIZED ('
    '  SELECT k.oid, k.conname::text AS conname, k.contypid, k.conbin::text AS conbin FROM %5$s k'
    '   WHERE k.contypid <> 0 AND k.contype = ''c''),'
    ' found AS ('
    '  SELECT r.column_name, tdm._parity_expression(k.conbin, ''{}'') AS canonical,'
    '         quote_ident(u.typname) || '' '' || coalesce(%6$s, ''CHECK (its text cannot be read there)'') AS shown'
    '    FROM reached r JOIN checks k ON k.contypid = r.type_oid JOIN user_types u ON u.oid = k.contypid'
    '    JOIN %2$s un ON un.oid = u.typnamespace)'
    'SELECT f.column_name, array_agg(f.canonical ORDER BY f.canonical),'
    '       string_agg(f.shown, '', '' ORDER BY f.shown)'
    '  FROM found f GROUP BY f.column_name',
    tdm._parity_catalog(side, 'pg_class'), tdm._parity_catalog(side, 'pg_namespace'),
    tdm._parity_catalog(side, 'pg_attribute'), tdm._parity_catalog(side, 'pg_type'),
    tdm._parity_catalog(side, 'pg_constraint'),
    CASE WHEN side = 'local'
         THEN 'pg_get_constraintdef(k.oid)'
         ELSE format('(SELECT CASE WHEN count(DISTINCT x.check_clause) = 1 THEN ''CHECK '' || min(x.check_clause) END'
                     '   FROM %s x WHERE x.constraint_schema = un.nspname AND x.constraint_name = k.conname)',
                     tdm._parity_catalog(side, 'checks')) END)
    USING tdm._parity_schema(side, rel), (SELECT relname::text FROM pg_class WHERE oid = rel);
END
$$;

-- A side's triggers on the managed table `rel` (not PostgreSQL's own, for
-- foreign keys; not the copies on a partition), read from the catalogs
-- as tdm._parity_constraints reads constraints: `definition` spelled like
-- CREATE TRIGGER without the table's name, the function by its name
-- alone (its schema is the side's own, or another of the same name),
-- events in PostgreSQL's order, UPDATE OF columns and transition tables
-- by name, its state when not plainly enabled; `canonical` the same with
-- a WHEN condition as its stored expression (tdm._parity_expression), the
-- text shown only where it can be read (pg_get_triggerdef here;
-- information_schema there, which shows it to roles of the table's
-- owner). The trigger function's body is not compared.
CREATE FUNCTION tdm._parity_triggers(side text, rel regclass)
RETURNS TABLE (trigger_name text, definition text, canonical text, by_text text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  schema_name text := tdm._parity_schema(side, rel);
  table_name text := (SELECT c.relname::text FROM pg_class c WHERE c.oid = rel);
  table_oid oid;
  functions oid[];
BEGIN
  EXECUTE format('SELECT c.oid FROM %s c JOIN %s n ON n.oid = c.relnamespace'
                 ' WHERE n.nspname = $1 AND c.relname = $2',
                 tdm._parity_catalog(side, 'pg_class'), tdm._parity_catalog(side, 'pg_namespace'))
    INTO table_oid USING schema_name, table_name;
  IF table_oid IS NULL THEN
    RETURN;
  END IF;
  -- (The functions by number, so that postgres_fdw asks for those only.)
  EXECUTE format('SELECT array_agg(DISTINCT t.tgfoid) FROM %s t WHERE t.tgrelid = $1',
                 tdm._parity_catalog(side, 'pg_trigger'))
    INTO functions USING table_oid;
  IF functions IS NULL THEN
    RETURN;
  END IF;
  RETURN QUERY EXECUTE format(
    $q$
    WITH t AS MATERIALIZED (
           SELECT t.oid, t.tgname::text AS tgname, t.tgfoid, t.tgtype::int AS tgtype,
                  t.tgenabled::text AS tgenabled, t.tgattr::text AS tgattr, t.tgqual::text AS tgqual,
                  t.tgconstraint <> 0 AS is_constraint, t.tgdeferrable, t.tginitdeferred, t.tgnargs,
                  t.tgargs, t.tgoldtable::text AS tgoldtable, t.tgnewtable::text AS tgnewtable
             FROM %1$s t WHERE t.tgrelid = $1 AND NOT t.tgisinternal AND t.tgparentid = 0),
         a AS MATERIALIZED (
           SELECT a.attnum, a.attname::text AS attname FROM %2$s a
            WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped),
         f AS MATERIALIZED (SELECT p.oid, p.proname::text AS proname FROM %3$s p WHERE p.oid = ANY ($2)),
         numbered AS (SELECT array_agg(a.attname ORDER BY g.n) AS by_number
                        FROM generate_series(1, (SELECT max(x.attnum) FROM a x)) AS g(n)
                        LEFT JOIN a ON a.attnum = g.n),
         d AS (
           SELECT t.tgname,
                  CASE WHEN t.is_constraint THEN 'CONSTRAINT TRIGGER ' ELSE 'TRIGGER ' END
                  || CASE WHEN t.tgtype & 2 <> 0 THEN 'BEFORE' WHEN t.tgtype & 64 <> 0 THEN 'INSTEAD OF'
                          ELSE 'AFTER' END || ' '
                  || concat_ws(' OR ', CASE WHEN t.tgtype & 4 <> 0 THEN 'INSERT' END,
                               CASE WHEN t.tgtype & 8 <> 0 THEN 'DELETE' END,
                               CASE WHEN t.tgtype & 16 <> 0
                                    -- (by name: UPDATE OF b, a is UPDATE OF a, b)
                                    THEN 'UPDATE' || coalesce(
                                           ' OF ' || (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attname)
                                                        FROM unnest(string_to_array(nullif(t.tgattr, ''), ' ')::int[])
                                                             AS u(attnum)
                                                        JOIN a ON a.attnum = u.attnum), '') END,
                               CASE WHEN t.tgtype & 32 <> 0 THEN 'TRUNCATE' END)
                  || CASE WHEN t.tgoldtable IS NOT NULL OR t.tgnewtable IS NOT NULL
                          THEN ' REFERENCING' || coalesce(' OLD TABLE AS ' || quote_ident(t.tgoldtable), '')
                               || coalesce(' NEW TABLE AS ' || quote_ident(t.tgnewtable), '')
                          ELSE '' END
                  || CASE WHEN t.tgdeferrable AND t.tginitdeferred THEN ' DEFERRABLE INITIALLY DEFERRED'
                          WHEN t.tgdeferrable THEN ' DEFERRABLE' ELSE '' END
                  || ' FOR EACH ' || CASE WHEN t.tgtype & 1 <> 0 THEN 'ROW' ELSE 'STATEMENT' END AS head,
                  ' EXECUTE FUNCTION ' || quote_ident(f.proname) || '('
                  || coalesce((SELECT string_agg(quote_literal(x), ', ' ORDER BY i)
                                 FROM unnest((string_to_array(encode(t.tgargs, 'escape'), E'\\000'))[1:t.tgnargs])
                                      WITH ORDINALITY AS u(x, i)), '') || ')'
                  || CASE t.tgenabled WHEN 'D' THEN ' (DISABLED)' WHEN 'R' THEN ' (ENABLED REPLICA)'
                                      WHEN 'A' THEN ' (ENABLED ALWAYS)' ELSE '' END AS tail,
                  CASE WHEN t.tgqual IS NOT NULL
                       THEN coalesce(tdm._parity_unqualified(%4$s, $3), 'WHEN (a condition not shown to this role)')
                       END AS condition,
                  -- (not called on NULL: it would loop)
                  CASE WHEN t.tgqual IS NOT NULL THEN tdm._parity_expression(t.tgqual, numbered.by_number) END AS qual
             FROM t CROSS JOIN numbered LEFT JOIN f ON f.oid = t.tgfoid)
    SELECT d.tgname, d.head || coalesce(' ' || d.condition, '') || d.tail,
           d.head || coalesce(' WHEN ' || d.qual, '') || d.tail,
           -- (by the condition's text where it can be read: the stored
           -- expression tells functions and user types' constants apart
           -- only by where they are used)
           CASE WHEN d.condition IS NULL OR d.condition <> 'WHEN (a condition not shown to this role)'
                THEN d.head || coalesce(' ' || d.condition, '') || d.tail END
      FROM d
    $q$,
    tdm._parity_catalog(side, 'pg_trigger'), tdm._parity_catalog(side, 'pg_attribute'),
    tdm._parity_catalog(side, 'pg_proc'),
    CASE WHEN side = 'local'
         THEN E'substring(pg_get_triggerdef(t.oid) FROM E\'WHEN \\\\(.*\\\\)(?= EXECUTE )\')'
         ELSE format('(SELECT ''WHEN ('' || min(x.action_condition) || '')'' FROM %s x'
                     '  WHERE x.event_object_schema = %L AND x.event_object_table = %L'
                     '    AND x.trigger_name = t.tgname)',
                     tdm._parity_catalog(side, 'triggers'), schema_name, table_name) END)
    USING table_oid, functions, schema_name;
END
$$;

CREATE FUNCTION tdm.schema_diff(env_a text, env_b text) RETURNS SETOF tdm.schema_drift
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
DECLARE
  m record;
  side text;
  label_a text := tdm._parity_label(env_a);
  label_b text := tdm._parity_label(env_b);
BEGIN
  PERFORM tdm._parity_sides('schema_diff', env_a, env_b);
  PERFORM tdm._require_managed_tables('schema_diff');
  -- (No rows would otherwise read as two environments alike.)
  IF NOT EXISTS (SELECT FROM tdm.managed_table) THEN
    RAISE NOTICE 'schema_diff: no table is managed yet: nothing was compared'
      USING HINT = 'schema_diff compares the tables tdm manages: register them first (tdm.manage_table).';
    RETURN;
  END IF;
  -- (The environment's catalog is read through tdm's foreign tables over
  -- its information_schema: made or completed here if need be.)
  FOREACH side IN ARRAY ARRAY[env_a, env_b] LOOP
    CONTINUE WHEN side = 'local';
    PERFORM tdm._refresh_environment(side);
  END LOOP;
  FOR m IN SELECT x.rel, c.relname::text AS table_name,
                  CASE WHEN env_a = 'local' THEN x.rel::text
                       ELSE format('%I.%I', ea.remote_schema, c.relname) END AS name_a,
                  CASE WHEN env_b = 'local' THEN x.rel::text
                       ELSE format('%I.%I', eb.remote_schema, c.relname) END AS name_b,
                  tdm._parity_schema(env_a, x.rel) AS schema_a, tdm._parity_schema(env_b, x.rel) AS schema_b
             FROM tdm.managed_table x JOIN pg_class c ON c.oid = x.rel
             LEFT JOIN tdm.environment ea ON ea.name = env_a
             LEFT JOIN tdm.environment eb ON eb.name = env_b
            ORDER BY x.rel::text LOOP
    RETURN QUERY
      WITH a AS MATERIALIZED (SELECT * FROM tdm._parity_columns(env_a, m.rel)),
           b AS MATERIALIZED (SELECT * FROM tdm._parity_columns(env_b, m.rel)),
           present AS (SELECT EXISTS (SELECT FROM a) AS in_a, EXISTS (SELECT FROM b) AS in_b),
           -- (Column rows only where both sides have the table.)
           pairs AS (SELECT coalesce(a.column_name, b.column_name) AS column_name,
                            coalesce(a.ordinal, 10000 + b.ordinal) AS position,
                            a.column_name IS NOT NULL AS has_a, b.column_name IS NOT NULL AS has_b,
                            a.column_type AS type_a,
                            b.column_type AS type_b,
                            a.nullable AS null_a, b.nullable AS null_b,
                            coalesce(lower(a.identity), 'no') AS ident_a, coalesce(lower(b.identity), 'no') AS ident_b,
                            a.generated AS gen_a, b.generated AS gen_b,
                            tdm._parity_unqualified(tdm._parity_default(a.column_default), m.schema_a) AS default_a,
                            tdm._parity_unqualified(tdm._parity_default(b.column_default), m.schema_b) AS default_b
                       FROM a FULL JOIN b USING (column_name)
                      WHERE (SELECT p.in_a AND p.in_b FROM present p)),
           -- Constraints and indexes, paired by what they are (their names
           -- may differ); left unpaired on both sides under one name: one
           -- that differs. (Read only where both sides have the table.)
           ca_read AS MATERIALIZED (SELECT x.* FROM tdm._parity_constraints(env_a, m.rel) x
                                     WHERE (SELECT p.in_a AND p.in_b FROM present p)),
           cb_read AS MATERIALIZED (SELECT x.* FROM tdm._parity_constraints(env_b, m.rel) x
                                     WHERE (SELECT p.in_a AND p.in_b FROM present p)),
           -- CHECKs by their text where both sides show every one's, else
           -- by their stored expressions.
           by_text AS (SELECT coalesce(bool_and(x.check_text IS NOT NULL), true) AS ok
                         FROM (SELECT check_text FROM ca_read WHERE contype = 'c'
                               UNION ALL SELECT check_text FROM cb_read WHERE contype = 'c') x),
           ca AS MATERIALIZED (SELECT x.constraint_name, x.contype, x.definition, y.canonical,
                                      row_number() OVER (PARTITION BY y.canonical ORDER BY x.constraint_name) AS k
                                 FROM ca_read x
                                CROSS JOIN LATERAL (SELECT CASE WHEN x.contype = 'c' AND (SELECT ok FROM by_text)
                                                                THEN x.check_text ELSE x.canonical END AS canonical) y),
           cb AS MATERIALIZED (SELECT x.constraint_name, x.contype, x.definition, y.canonical,
                                      row_number() OVER (PARTITION BY y.canonical ORDER BY x.constraint_name) AS k
                                 FROM cb_read x
                                CROSS JOIN LATERAL (SELECT CASE WHEN x.contype = 'c' AND (SELECT ok FROM by_text)
                                                                THEN x.check_text ELSE x.canonical END AS canonical) y),
           ia AS MATERIALIZED (SELECT x.index_name AS name, x.canonical AS definition, x.canonical,
                                      row_number() OVER (PARTITION BY x.canonical ORDER BY x.index_name) AS k
                                 FROM tdm._parity_indexes(env_a, m.rel) x
                                WHERE x.index_name NOT IN (SELECT c.constraint_name FROM ca c WHERE c.contype IN ('p', 'u', 'x'))
                                  AND (SELECT p.in_a AND p.in_b FROM present p)),
           ib AS MATERIALIZED (SELECT x.index_name AS name, x.canonical AS definition, x.canonical,
                                      row_number() OVER (PARTITION BY x.canonical ORDER BY x.index_name) AS k
                                 FROM tdm._parity_indexes(env_b, m.rel) x
                                WHERE x.index_name NOT IN (SELECT c.constraint_name FROM cb c WHERE c.contype IN ('p', 'u', 'x'))
                                  AND (SELECT p.in_a AND p.in_b FROM present p)),
           -- Triggers, their WHEN by its text where both sides show
           -- every one's (as CHECKs), else by the stored expressions.
           ta_read AS MATERIALIZED (SELECT x.* FROM tdm._parity_triggers(env_a, m.rel) x
                                     WHERE (SELECT p.in_a AND p.in_b FROM present p)),
           tb_read AS MATERIALIZED (SELECT x.* FROM tdm._parity_triggers(env_b, m.rel) x
                                     WHERE (SELECT p.in_a AND p.in_b FROM present p)),
           triggers_by_text AS (SELECT coalesce(bool_and(x.by_text IS NOT NULL), true) AS ok
                                  FROM (SELECT by_text FROM ta_read UNION ALL SELECT by_text FROM tb_read) x),
           ta AS MATERIALIZED (SELECT x.trigger_name AS name, x.definition, y.canonical,
                                      row_number() OVER (PARTITION BY y.canonical ORDER BY x.trigger_name) AS k
                                 FROM ta_read x
                                CROSS JOIN LATERAL (SELECT CASE WHEN (SELECT ok FROM triggers_by_text) THEN x.by_text
                                                                ELSE x.canonical END AS canonical) y),
           tb AS MATERIALIZED (SELECT x.trigger_name AS name, x.definition, y.canonical,
                                      row_number() OVER (PARTITION BY y.canonical ORDER BY x.trigger_name) AS k
                                 FROM tb_read x
                                CROSS JOIN LATERAL (SELECT CASE WHEN (SELECT ok FROM triggers_by_text) THEN x.by_text
                                                                ELSE x.canonical END AS canonical) y),
           unpaired AS (
             SELECT 'constraint'::text AS what, 1 AS n, x.constraint_name AS name_a, x.definition AS def_a,
                    y.constraint_name AS name_b, y.definition AS def_b
               FROM ca x FULL JOIN cb y ON y.canonical = x.canonical AND y.k = x.k
              WHERE x.canonical IS NULL OR y.canonical IS NULL
             UNION ALL
             SELECT 'index', 2, x.name, x.definition, y.name, y.definition
               FROM ia x FULL JOIN ib y ON y.canonical = x.canonical AND y.k = x.k
              WHERE x.canonical IS NULL OR y.canonical IS NULL
             UNION ALL
             SELECT 'trigger', 3, x.name, x.definition, y.name, y.definition
               FROM ta x FULL JOIN tb y ON y.canonical = x.canonical AND y.k = x.k
              WHERE x.canonical IS NULL OR y.canonical IS NULL),
           named AS (
             SELECT u.what, u.n, coalesce(u.name_a, u.name_b) AS name, u.def_a,
                    coalesce(u.def_b, (SELECT v.def_b FROM unpaired v
                                        WHERE v.what = u.what AND v.name_b = u.name_a AND v.name_a IS NULL)) AS def_b,
                    u.name_a IS NOT NULL AND EXISTS (SELECT FROM unpaired v
                                                      WHERE v.what = u.what AND v.name_b = u.name_a
                                                        AND v.name_a IS NULL) AS both_sides
               FROM unpaired u
              WHERE NOT (u.name_a IS NULL AND EXISTS (SELECT FROM unpaired v
                                                       WHERE v.what = u.what AND v.name_a = u.name_b
                                                         AND v.name_b IS NULL))),
           labels AS (
             SELECT q.column_name, q.position, array_to_string(x.labels, ', ') AS labels_a,
                    array_to_string(y.labels, ', ') AS labels_b
               FROM pairs q
               JOIN tdm._parity_enum_labels(env_a, m.rel) x USING (column_name)
               JOIN tdm._parity_enum_labels(env_b, m.rel) y USING (column_name)
              WHERE q.type_a = q.type_b AND x.labels <> y.labels),
           domain_checks AS (
             SELECT q.column_name, q.position, x.shown AS shown_a, y.shown AS shown_b
               FROM pairs q
               LEFT JOIN tdm._parity_domain_checks(env_a, m.rel) x USING (column_name)
               LEFT JOIN tdm._parity_domain_checks(env_b, m.rel) y USING (column_name)
              WHERE q.has_a AND q.has_b AND q.type_a = q.type_b AND x.checks IS DISTINCT FROM y.checks),
           collations AS (
             SELECT q.column_name, q.position, x.collation AS collation_a, y.collation AS collation_b
               FROM pairs q
               JOIN tdm._parity_collations(env_a, m.rel) x USING (column_name)
               JOIN tdm._parity_collations(env_b, m.rel) y USING (column_name)
              WHERE q.has_a AND q.has_b AND q.type_a = q.type_b AND x.collation <> y.collation)
      SELECT r.rel, r.table_name, r.column_name, r.kind, r.in_a, r.in_b, r.detail FROM (
        SELECT m.rel, m.table_name, NULL::text AS column_name, 'table_missing'::text AS kind,
               CASE WHEN p.in_a THEN m.name_a END AS in_a, CASE WHEN p.in_b THEN m.name_b END AS in_b,
               -- (The managed table itself, when 'local' shows no column of
               -- it: the caller may not read it.)
               CASE WHEN 'local' IN (env_a, env_b) AND NOT (CASE WHEN env_a = 'local' THEN p.in_a ELSE p.in_b END)
                      THEN format('table %s cannot be read by role %I in %s: GRANT SELECT ON %s TO %I;',
                                  m.table_name, current_user, tdm._parity_label('local'), m.rel, current_user)
                    WHEN NOT p.in_a AND NOT p.in_b
                      THEN format('table %s is missing in both %s and %s', m.table_name, label_a, label_b)
                    WHEN NOT p.in_a
                      THEN format('table %s is missing in %s (%s has it)', m.table_name, label_a, label_b)
                    ELSE format('table %s is missing in %s (%s has it)', m.table_name, label_b, label_a) END AS detail,
               0 AS position, 0 AS n
          FROM present p WHERE NOT (p.in_a AND p.in_b)
        UNION ALL
        SELECT m.rel, m.table_name, x.column_name, x.kind, x.in_a, x.in_b, x.detail, q.position, x.n
          FROM pairs q
         CROSS JOIN LATERAL (VALUES
           (1, q.column_name, 'column_missing', q.type_a, q.type_b,
            format('column %s of table %s is missing in %s (%s has it, %s)', q.column_name, m.table_name,
                   CASE WHEN q.has_a THEN label_b ELSE label_a END,
                   CASE WHEN q.has_a THEN label_a ELSE label_b END, coalesce(q.type_a, q.type_b))
            -- (A name quoted in one place and folded in the other.)
            || coalesce((SELECT format('; %s has column %I, whose name differs only in case',
                                       CASE WHEN q.has_a THEN label_b ELSE label_a END, o.column_name)
                           FROM pairs o
                          WHERE lower(o.column_name) = lower(q.column_name) AND o.column_name <> q.column_name
                            AND (CASE WHEN q.has_a THEN o.has_b AND NOT o.has_a ELSE o.has_a AND NOT o.has_b END)
                          ORDER BY o.column_name LIMIT 1), ''),
            NOT (q.has_a AND q.has_b)),
           (2, q.column_name, 'type', q.type_a, q.type_b,
            format('column %s of table %s is %s in %s but %s in %s', q.column_name, m.table_name,
                   q.type_a, label_a, q.type_b, label_b),
            q.has_a AND q.has_b AND q.type_a IS DISTINCT FROM q.type_b),
           (3, q.column_name, 'nullable',
            CASE WHEN q.null_a THEN 'NULL' ELSE 'NOT NULL' END, CASE WHEN q.null_b THEN 'NULL' ELSE 'NOT NULL' END,
            format('column %s of table %s is %s in %s but %s in %s', q.column_name, m.table_name,
                   CASE WHEN q.null_a THEN 'nullable' ELSE 'NOT NULL' END, label_a,
                   CASE WHEN q.null_b THEN 'nullable' ELSE 'NOT NULL' END, label_b),
            q.has_a AND q.has_b AND q.null_a IS DISTINCT FROM q.null_b),
           (4, q.column_name, 'default', q.default_a, q.default_b,
            format('column %s of table %s %s in %s but %s in %s', q.column_name, m.table_name,
                   coalesce('defaults to ' || q.default_a, 'has no default'), label_a,
                   coalesce('defaults to ' || q.default_b, 'has no default'), label_b),
            q.has_a AND q.has_b AND q.default_a IS DISTINCT FROM q.default_b
              AND NOT (q.ident_a <> q.ident_b OR q.gen_a OR q.gen_b)),
           (5, q.column_name, 'identity', q.ident_a, q.ident_b,
            format('column %s of table %s is %s in %s but %s in %s', q.column_name, m.table_name,
                   CASE q.ident_a WHEN 'no' THEN 'no identity' ELSE 'an identity ' || q.ident_a END, label_a,
                   CASE q.ident_b WHEN 'no' THEN 'no identity' ELSE 'an identity ' || q.ident_b END, label_b),
            q.has_a AND q.has_b AND q.ident_a <> q.ident_b),
           -- (A generated column's default is its expression.)
           (6, q.column_name, 'generated',
            CASE WHEN q.gen_a THEN coalesce(q.default_a, 'generated') ELSE 'plain' END,
            CASE WHEN q.gen_b THEN coalesce(q.default_b, 'generated') ELSE 'plain' END,
            format('column %s of table %s is %s in %s but %s in %s', q.column_name, m.table_name,
                   CASE WHEN q.gen_a THEN 'generated' || coalesce(' as ' || q.default_a, '') ELSE 'a plain column' END,
                   label_a,
                   CASE WHEN q.gen_b THEN 'generated' || coalesce(' as ' || q.default_b, '') ELSE 'a plain column' END,
                   label_b),
            q.has_a AND q.has_b
              AND (q.gen_a IS DISTINCT FROM q.gen_b OR (q.gen_a AND q.default_a IS DISTINCT FROM q.default_b))))
           AS x(n, column_name, kind, in_a, in_b, detail, differs)
         WHERE x.differs
        UNION ALL
        SELECT m.rel, m.table_name, l.column_name, 'enum_labels', l.labels_a, l.labels_b,
               format('column %s of table %s takes the labels (%s) in %s but (%s) in %s', l.column_name,
                      m.table_name, l.labels_a, label_a, l.labels_b, label_b), l.position, 7
          FROM labels l
        UNION ALL
        SELECT m.rel, m.table_name, d.column_name, 'domain_check', d.shown_a, d.shown_b,
               format('column %s of table %s is checked by %s in %s but by %s in %s', d.column_name, m.table_name,
                      coalesce(d.shown_a, 'no CHECK of a domain'), label_a,
                      coalesce(d.shown_b, 'no CHECK of a domain'), label_b), d.position, 8
          FROM domain_checks d
        UNION ALL
        SELECT m.rel, m.table_name, c.column_name, 'collation', c.collation_a, c.collation_b,
               format('column %s of table %s has collation %s in %s but %s in %s', c.column_name, m.table_name,
                      quote_ident(c.collation_a), label_a, quote_ident(c.collation_b), label_b), c.position, 9
          FROM collations c
        UNION ALL
        SELECT m.rel, m.table_name, NULL, d.what, d.def_a, d.def_b,
               CASE WHEN d.both_sides
                      THEN format('%s %s of table %s is %s in %s but %s in %s', d.what, quote_ident(d.name),
                                  m.table_name, d.def_a, label_a, d.def_b, label_b)
                    ELSE format('%s %s of table %s (%s) is missing in %s (%s has it)', d.what, quote_ident(d.name),
                                m.table_name, coalesce(d.def_a, d.def_b),
                                CASE WHEN d.def_a IS NULL THEN label_a ELSE label_b END,
                                CASE WHEN d.def_a IS NULL THEN label_b ELSE label_a END) END,
               30000 + d.n, row_number() OVER (ORDER BY d.n, d.name)
          FROM named d) r
       ORDER BY r.position, r.n;
  END LOOP;
END
$$;
COMMENT ON FUNCTION tdm.schema_diff(text, text) IS
  'How the managed tables differ between two environments (or one and ''local''): tables, columns, types, nullability, defaults, generated expressions, enum labels, domain CHECKs, collations, constraints, indexes, triggers';

-- Whether PostgreSQL can hash values of type `type` as its equality
-- compares them (what hash_record asks of a composite's fields): a
-- default hash operator class for it, its base type (a domain) or a type
-- it is binary-coercible to; an enum; an array or range of such a type;
-- a composite of such fields.
CREATE FUNCTION tdm._hashable(type oid, depth int DEFAULT 0) RETURNS bool
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t pg_type;
BEGIN
  SELECT * INTO t FROM pg_type x WHERE x.oid = type;
  WHILE t.typtype = 'd' LOOP
    SELECT * INTO t FROM pg_type x WHERE x.oid = t.typbasetype;
  END LOOP;
  IF t.oid IS NULL OR depth > 8 THEN
    RETURN false;
  END IF;
  RETURN CASE
    WHEN t.typtype = 'e' THEN true
    WHEN t.typtype = 'c'
      THEN NOT EXISTS (SELECT FROM pg_attribute f
                        WHERE f.attrelid = t.typrelid AND f.attnum > 0 AND NOT f.attisdropped
                          AND NOT tdm._hashable(f.atttypid, depth + 1))
    WHEN t.typtype = 'r'
      THEN tdm._hashable((SELECT r.rngsubtype FROM pg_range r WHERE r.rngtypid = t.oid), depth + 1)
    WHEN t.typelem <> 0 AND t.typlen = -1 AND t.typcategory = 'A' THEN tdm._hashable(t.typelem, depth + 1)
    ELSE EXISTS (SELECT FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod AND am.amname = 'hash'
                  WHERE oc.opcdefault
                    AND (oc.opcintype = t.oid
                         OR EXISTS (SELECT FROM pg_cast k WHERE k.castsource = t.oid AND k.casttarget = oc.opcintype
                                                            AND k.castmethod = 'b')))
  END;
END
$$;

-- SQL hashing column `col` of `rel` (over alias `alias`) to a bigint with
-- `seed`: the extended hash function of the type's default hash operator
-- class, a built-in function postgres_fdw runs on the environment's
-- server (with GROUP BY and aggregates around it), so rows are reduced
-- there, not shipped. Values PostgreSQL calls equal hash alike (1.5 and
-- 1.50, -0 and 0). A type without one (json, a composite) hashes its
-- text, which postgres_fdw cannot ship (the query then reads the rows,
-- with a NOTICE from the caller). Built-in hashes of a fixed-size value
-- are computed on the value, not its bytes; those of strings read the
-- bytes, so environments are assumed to share the byte order of this
-- server (they only make buckets look different otherwise: rows are
-- compared again here before one is reported). `nulls`: a NULL hashes to
-- a constant of its own (else NULL).
CREATE FUNCTION tdm._parity_hash_sql(rel regclass, alias text, col text, seed int, nulls bool)
RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH c AS (
    SELECT coalesce(nullif(t.typbasetype, 0), a.atttypid) AS base,
           CASE WHEN t.typtype = 'd'
                THEN format('%I.%I::%s', alias, col, format_type(t.typbasetype, NULL))
                ELSE format('%I.%I', alias, col) END AS v
      FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
     WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped),
  hashers AS (  -- (type -> its default hash opclass's extended hash function, taking that type)
    SELECT oc.opcintype AS input, format('%I.%I', n.nspname, p.proname) AS fn
      FROM pg_opclass oc
      JOIN pg_am am ON am.oid = oc.opcmethod AND am.amname = 'hash'
      JOIN pg_amproc ap ON ap.amprocfamily = oc.opcfamily AND ap.amprocnum = 2
                       AND ap.amproclefttype = oc.opcintype AND ap.amprocrighttype = oc.opcintype
      JOIN pg_proc p ON p.oid = ap.amproc AND p.proargtypes[0] = oc.opcintype
      JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE oc.opcdefault),
  chosen AS (
    SELECT h.fn, h.input FROM c, pg_type b, hashers h
     WHERE b.oid = c.base
       AND (h.input = c.base
            OR EXISTS (SELECT FROM pg_cast k WHERE k.castsource = c.base AND k.casttarget = h.input
                                               AND k.castmethod = 'b')
            OR (b.typtype = 'e' AND h.input = 'anyenum'::regtype)
            -- (arrays and ranges of a hashable element: the polymorphic hash;
            -- an element of a domain by its base type's, of a composite by
            -- its fields', as the array's equality compares them)
            OR (b.typcategory = 'A' AND b.typelem <> 0 AND h.input = 'anyarray'::regtype
                AND (EXISTS (SELECT FROM hashers e WHERE e.input = tdm._base_type(b.typelem))
                     OR ((SELECT et.typtype FROM pg_type et WHERE et.oid = tdm._base_type(b.typelem)) = 'c'
                         AND tdm._hashable(tdm._base_type(b.typelem)))))
            OR (b.typtype = 'r' AND h.input = 'anyrange'::regtype
                AND EXISTS (SELECT FROM pg_range r, hashers e WHERE r.rngtypid = b.oid AND e.input = r.rngsubtype))
            -- (a composite whose fields' types all hash: hash_record
            -- hashes each by its own type's function, as record equality
            -- compares them, so (1,1.5) and (1,1.50) are one value)
            OR (b.typtype = 'c' AND h.input = 'record'::regtype AND tdm._hashable(b.oid)))
     -- (text's hash before bpchar's for varchar: bpchar's ignores trailing
     -- blanks, which varchar and text compare)
     ORDER BY h.input = c.base DESC, h.input = 'text'::regtype DESC LIMIT 1),
  expr AS (
    SELECT CASE
             -- (Types whose hash function takes another type: given it
             -- by a conversion that loses nothing and needs no setting.)
             WHEN c.base = 'timestamptz'::regtype
               THEN format('pg_catalog.timestamp_hash_extended(pg_catalog.timezone(''00:00:00''::interval, %s), %s)', c.v, seed)
             WHEN c.base = 'date'::regtype
               THEN format('pg_catalog.timestamp_hash_extended((%s)::timestamp, %s)', c.v, seed)
             WHEN c.base = 'bool'::regtype
               THEN format('pg_catalog.hashint4extended((%s)::int4, %s)', c.v, seed)
             ELSE coalesce(
                    (SELECT CASE WHEN ch.input = 'anyarray'::regtype
                                 -- (An array's bounds too, which its hash
                                 -- leaves out: '{1,2}' and '[0:1]={1,2}'
                                 -- are not equal.)
                                 THEN format('(%s(%s, %s) # pg_catalog.hashtextextended('
                                             'coalesce(pg_catalog.array_dims(%s), ''''), %s))',
                                             ch.fn, c.v, seed, c.v, seed)
                                 ELSE format('%s(%s, %s)', ch.fn,
                                             CASE WHEN ch.input = c.base OR ch.input::regtype::text LIKE 'any%' THEN c.v
                                                  ELSE format('(%s)::%s', c.v, ch.input::regtype) END, seed) END
                       FROM chosen ch),
                    -- (spelt CAST: tdm._parity_shippable tells it from a varchar's relabel)
                    format('pg_catalog.hashtextextended(CAST(%s AS text), %s)', c.v, seed)) END AS sql
      FROM c)
  SELECT CASE WHEN nulls
              THEN format('CASE WHEN %I.%I IS NULL THEN %s::int8 ELSE %s END', alias, col,
                          -4611686018427387904 - seed, e.sql)
              ELSE e.sql END
    FROM expr e
$$;

-- Whether postgres_fdw can run that hash on an environment's server: a
-- built-in function of a built-in type, and not the text fallback.
CREATE FUNCTION tdm._parity_shippable(rel regclass, col text) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT a.atttypid < 16384 AND tdm._parity_hash_sql(rel, 't', col, 0, false) NOT LIKE '%CAST(%'
    FROM pg_attribute a WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped
$$;

-- SQL of a row's hash over `cols` (alias t): the columns' hashes, each
-- with its own seed (a value moved to another column changes it), xor'ed.
CREATE FUNCTION tdm._parity_row_hash_sql(rel regclass, cols text[], seed_base int) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT '(' || string_agg(tdm._parity_hash_sql(rel, 't', c, seed_base + o::int, true), ' # ' ORDER BY o) || ')'
    FROM unnest(cols) WITH ORDINALITY AS u(c, o)
$$;

-- What data_diff and profile_diff check first: the arguments, the table
-- managed, and both sides holding it. Returns the columns compared: the
-- managed table's that both sides hold with its types (tdm._schema_drift,
-- as tagging reads it); the others are left out with a NOTICE naming
-- them. `need_key`: the primary key must be among them.
CREATE FUNCTION tdm._parity_prepare(caller text, rel regclass, env_a text, env_b text, need_key bool)
RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  m tdm.managed_table;
  side text;
  missing text;
  lacking text[] := '{}';
  details text[] := '{}';
  d record;
  cols text[];
  -- (Each side is read as the managed table's columns and types: how a
  -- side differs from it is what schema_diff('local', side) lists.)
  drift_hint text;
BEGIN
  PERFORM tdm._require_given(caller, 'rel', rel IS NOT NULL);
  PERFORM tdm._parity_sides(caller, env_a, env_b);
  SELECT * INTO m FROM tdm.managed_table x WHERE x.rel = _parity_prepare.rel;
  IF NOT FOUND THEN
    RAISE EXCEPTION '%: table % is not managed by tdm', caller, tdm._rel_name(rel)
      USING ERRCODE = 'undefined_object',
            HINT = coalesce((SELECT format('It is %s''s table in target %s: give the managed table, which names the'
                                           ' table in every environment: SELECT * FROM tdm.%s(%L, %L, %L);',
                                           x.managed, quote_ident(x.target), caller, x.managed::text, env_a, env_b)
                               FROM tdm._copy_of_managed(rel) x),
                            'The managed tables are in tdm.managed_table.');
  END IF;
  PERFORM tdm._require_managed_tables(caller);
  FOREACH side IN ARRAY ARRAY[env_a, env_b] LOOP
    CONTINUE WHEN side = 'local';
    PERFORM tdm._refresh_environment(side);
    -- (rows its reader may not see are compared as missing: said)
    FOR d IN SELECT s.detail FROM tdm._env_row_security(side, ARRAY[rel]) s LOOP
      RAISE NOTICE '%: %', caller, d.detail;
    END LOOP;
    -- (and the columns it lacks, which collection would read without)
    FOR d IN SELECT * FROM tdm._schema_drift(side, rel) x WHERE x.severity = 'error' OR x.env_type IS NULL LOOP
      IF d.column_name IS NULL THEN
        RAISE EXCEPTION '%: cannot compare % between % and %: %', caller, rel,
          tdm._parity_label(env_a), tdm._parity_label(env_b), d.detail
          USING ERRCODE = 'undefined_table',
                HINT = format('SELECT * FROM tdm.schema_diff(''local'', %L); lists how it differs from this database.',
                              side);
      END IF;
      lacking := lacking || d.column_name;
      details := details || d.detail;
    END LOOP;
    IF FOUND THEN
      drift_hint := coalesce(drift_hint || ' ', '')
                    || format('SELECT * FROM tdm.schema_diff(''local'', %L); lists how %s differs from this database''s'
                              ' %s, which both sides are read as.', side, tdm._parity_label(side), rel);
    END IF;
  END LOOP;
  IF need_key THEN
    missing := (SELECT string_agg(quote_ident(k), ', ') FROM unnest(m.pk_columns) k WHERE k = ANY (lacking));
    IF missing IS NOT NULL THEN
      RAISE EXCEPTION '%: cannot compare % between % and %: its primary key (%) differs', caller, rel,
        tdm._parity_label(env_a), tdm._parity_label(env_b), missing
        USING ERRCODE = 'datatype_mismatch',
              DETAIL = array_to_string(details, '; ') || '.',
              HINT = 'Rows are matched by primary key. ' || drift_hint;
    END IF;
  END IF;
  IF cardinality(lacking) > 0 THEN
    RAISE NOTICE '%: % compared without column(s) % (%)', caller, rel,
      tdm._column_names(ARRAY(SELECT DISTINCT x FROM unnest(lacking) x)), array_to_string(details, '; ')
      USING HINT = drift_hint;
  END IF;
  -- (This database holds a masked column masked, an environment as it
  -- is: every row would differ there, and say nothing.)
  -- (And so would a generated column computed from one.)
  IF 'local' IN (env_a, env_b) THEN
    cols := ARRAY(SELECT k.column_name FROM tdm.mask k WHERE k.rel = _parity_prepare.rel);
    cols := cols || ARRAY(SELECT g.column_name FROM tdm._generated_columns(rel) g WHERE g.reads && cols);
    cols := ARRAY(SELECT c FROM unnest(cols) c WHERE c <> ALL (lacking) ORDER BY c);
    IF cardinality(cols) > 0 THEN
      RAISE NOTICE '%: % compared without masked column(s) % (this database holds them masked)',
        caller, rel, tdm._column_names(cols);
      lacking := lacking || cols;
    END IF;
  END IF;
  cols := ARRAY(SELECT c.column_name FROM tdm._columns(rel) c WHERE c.column_name <> ALL (lacking) ORDER BY c.ordinal);
  -- (Hashes postgres_fdw cannot ship: the rows are read, not aggregates.)
  IF env_a <> 'local' OR env_b <> 'local' THEN
    missing := (SELECT string_agg(quote_ident(c), ', ') FROM unnest(cols) c WHERE NOT tdm._parity_shippable(rel, c));
    IF missing IS NOT NULL THEN
      RAISE NOTICE '%: %: column(s) % are of a type postgres_fdw does not compute on the environment''s server: its rows are read and reduced here',
        caller, rel, missing;
    END IF;
  END IF;
  RETURN cols;
END
$$;

-- One side's aggregate per bucket: rows fall into buckets by the low
-- `$1` mask bits of their key's hash; only buckets under the differing
-- parents (`$2` mask, `$3` parents) are read. Count and sum of row hashes
-- (order-independent; sum of bigints is numeric, so no overflow).
CREATE FUNCTION tdm._parity_bucket_sql(src regclass, key_hash text, row_hash text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format('SELECT (%1$s & $1) AS bucket, pg_catalog.count(*) AS n, pg_catalog.sum(%2$s) AS s'
                '  FROM %3$s t WHERE (%1$s & $2) = ANY ($3) GROUP BY 1', key_hash, row_hash, src)
$$;

-- A read of the two sides that failed, said with the table and both
-- sides, and what to do: the user mapping's role may not read the table,
-- or a side holds a value this database's type refuses (an enum label it
-- lacks, a domain's CHECK). Other errors go through as they are.
CREATE FUNCTION tdm._parity_read_failed(caller text, rel regclass, env_a text, env_b text, state text,
                                        message text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF state = '42501' THEN
    RAISE EXCEPTION '%: reading % from % and % was refused: %', caller, rel, tdm._parity_label(env_a),
      tdm._parity_label(env_b), message
      USING ERRCODE = state,
            HINT = 'Grant SELECT on the table, in the environment, to the role of its user mapping'
                   ' (locally: to the role calling).';
  ELSIF state = '22P05' THEN
    -- (jsonb holds no \u0000, which a json value may: rows are shown as jsonb.)
    RAISE EXCEPTION '%: % holds, in % or %, a value that cannot be shown as jsonb or in this database''s'
                    ' encoding: %', caller, rel, tdm._parity_label(env_a), tdm._parity_label(env_b), message
      USING ERRCODE = state,
            HINT = E'A json value holding \\u0000 (jsonb cannot), or a character this database''s encoding lacks:'
                   ' compare that column as text (SELECT ... ::text) outside tdm, or change the value.';
  ELSIF left(state, 2) = '22' OR state = '23514' THEN
    RAISE EXCEPTION '%: % holds, in % or %, a value this database''s type refuses: %', caller, rel,
      tdm._parity_label(env_a), tdm._parity_label(env_b), message
      USING ERRCODE = state,
            HINT = 'An enum label or a domain''s CHECK the environment has and this database has not'
                   ' (tdm.schema_diff shows both: enum_labels, domain_check): migrate the type here, or the'
                   ' values there.';
  END IF;
END
$$;

CREATE FUNCTION tdm.data_diff(rel regclass, env_a text, env_b text) RETURNS SETOF tdm.row_diff
LANGUAGE plpgsql
-- (Row values are shown as jsonb: timestamps in UTC, as postgres_fdw's
-- own sessions render them, whatever the caller's settings.)
SET search_path = pg_catalog, pg_temp SET jit TO off SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET xmloption = 'content' SET array_nulls = on
SET IntervalStyle = 'postgres' SET extra_float_digits = 3 SET bytea_output = 'hex'
AS $$
DECLARE
  leaf_rows constant int := 1000;  -- a bucket this small is compared row by row
  cols text[] := tdm._parity_prepare('data_diff', rel, env_a, env_b, true);
  pk text[] := (SELECT m.pk_columns FROM tdm.managed_table m WHERE m.rel = data_diff.rel);
  src_a regclass := tdm._side_table(env_a, rel);
  src_b regclass := tdm._side_table(env_b, rel);
  key_hash text;
  row_hash text;
  col_hashes text;
  key_cols text;
  key_join text;
  bits int := 0;
  parent_bits int := 0;
  parents bigint[] := '{0}';
  next_parents bigint[];
  leaves bigint[];
  differing bigint[];
  key_filter text;  -- how the differing keys' rows are found: sent in an array, or joined to it here
  d record;
  n_total bigint;
  read bigint;
  buckets bigint := 0;
  fetched bigint := 0;
  levels int := 0;
BEGIN
  -- A key's hash picks its bucket (the same on both sides, the key being
  -- the same); a row's hash covers every compared column.
  key_hash := '(' || (SELECT string_agg(tdm._parity_hash_sql(rel, 't', k, 1000 + o::int, false), ' # ' ORDER BY o)
                        FROM unnest(pk) WITH ORDINALITY AS u(k, o)) || ')';
  row_hash := tdm._parity_row_hash_sql(rel, cols, 0);
  col_hashes := (SELECT string_agg(tdm._parity_hash_sql(rel, 't', c, o::int, true), ', ' ORDER BY o)
                   FROM unnest(cols) WITH ORDINALITY AS u(c, o));
  key_cols := (SELECT string_agg(format('t.%I AS k%s', k, o), ', ' ORDER BY o) FROM unnest(pk) WITH ORDINALITY AS u(k, o));
  -- (Keys paired by their type's own equality, schema-qualified: under
  -- tdm's search_path a bare = compares citext as text, and finds none
  -- for ltree or hstore.)
  key_join := (SELECT string_agg(format('a.k%s %s b.k%s', o, tdm._type_equality(rel, k), o), ' AND ' ORDER BY o)
                 FROM unnest(pk) WITH ORDINALITY AS u(k, o));
  LOOP
    levels := levels + 1;
    -- Buckets whose count or sum differs between the sides: only these
    -- aggregates travel.
    next_parents := '{}';
    leaves := '{}';
    FOR d IN EXECUTE format('WITH a AS (%s), b AS (%s)'
                            ' SELECT bucket, greatest(a.n, b.n) AS n FROM a FULL JOIN b USING (bucket)'
                            ' WHERE a.n IS DISTINCT FROM b.n OR a.s IS DISTINCT FROM b.s',
                            tdm._parity_bucket_sql(src_a, key_hash, row_hash),
                            tdm._parity_bucket_sql(src_b, key_hash, row_hash))
               USING (1::int8 << bits) - 1, (1::int8 << parent_bits) - 1, parents LOOP
      buckets := buckets + 1;
      n_total := coalesce(n_total, d.n);
      IF d.n <= leaf_rows OR bits >= 60 THEN
        leaves := leaves || d.bucket;
      ELSE
        next_parents := next_parents || d.bucket;
      END IF;
    END LOOP;
    IF cardinality(leaves) > 0 THEN
      -- The leaves' keys and row hashes (not their rows): the keys whose
      -- rows differ or are on one side only. Grouped by key, so that
      -- postgres_fdw runs it as an aggregate on the environment's server
      -- (a plain scan would ship every column to hash them here); a key
      -- held twice (no primary key there) sums to another hash.
      EXECUTE format('WITH a AS (SELECT %1$s AS h, %2$s, pg_catalog.sum(%3$s) AS r FROM %4$s t'
                     '            WHERE (%1$s & $1) = ANY ($2) GROUP BY %7$s),'
                     '     b AS (SELECT %1$s AS h, %2$s, pg_catalog.sum(%3$s) AS r FROM %5$s t'
                     '            WHERE (%1$s & $1) = ANY ($2) GROUP BY %7$s)'
                     ' SELECT pg_catalog.array_agg(DISTINCT coalesce(a.h, b.h)),'
                     '        (SELECT pg_catalog.count(*) FROM a) + (SELECT pg_catalog.count(*) FROM b)'
                     '   FROM a FULL JOIN b ON a.h = b.h AND %6$s WHERE a.r IS DISTINCT FROM b.r',
                     key_hash, key_cols, row_hash, src_a, src_b, key_join,
                     key_hash || ', ' || (SELECT string_agg(format('t.%I', k), ', ' ORDER BY o)
                                            FROM unnest(pk) WITH ORDINALITY AS u(k, o)))
        INTO differing, read USING (1::int8 << bits) - 1, leaves;
      fetched := fetched + read;
      IF cardinality(differing) > 0 THEN
        -- (A few keys travel to the environments' servers as an array;
        -- against many, the sides are read whole and joined to them here:
        -- an array of 300,000 sent there held 250 MB in this backend for
        -- 8.6 s, the join 82 MB for 3.8 s.)
        key_filter := CASE WHEN cardinality(differing) > 10000 THEN 'IN (SELECT pg_catalog.unnest($1))'
                           ELSE '= ANY ($1)' END;
        -- Their rows, from both sides, compared column by column (shown
        -- with the compared columns only: a column one side lacks is not
        -- read; jsonb_build_object takes 50 pairs at most).
        RETURN QUERY EXECUTE format(
          'WITH a AS (SELECT %1$s AS key, %5$s AS h, %7$s, %2$s AS r, ARRAY[%3$s] AS hs FROM %4$s t'
          '            WHERE %5$s %9$s),'
          '     b AS (SELECT %1$s AS key, %5$s AS h, %7$s, %2$s AS r, ARRAY[%3$s] AS hs FROM %6$s t'
          '            WHERE %5$s %9$s)'
          ' SELECT $3::regclass, coalesce(a.key, b.key),'
          '        CASE WHEN b.key IS NULL THEN ''only_in_a'' WHEN a.key IS NULL THEN ''only_in_b'' ELSE ''changed'' END,'
          '        CASE WHEN a.key IS NOT NULL AND b.key IS NOT NULL'
          '             THEN ARRAY(SELECT u.c FROM unnest($2::text[], a.hs, b.hs) WITH ORDINALITY AS u(c, x, y, o)'
          '                         WHERE u.x IS DISTINCT FROM u.y ORDER BY u.o) END,'
          '        a.r, b.r'
          -- (by the keys' equality, not their text: '2 days' and
          -- '48:00:00' are one interval key, 'Bob' and 'BOB' one citext;
          -- and by their hash, which equal keys share: a FULL JOIN needs
          -- one condition it can hash or merge, which a type's own = may
          -- not be)
          '   FROM a FULL JOIN b ON a.h = b.h AND %8$s'
          '  WHERE a.hs IS DISTINCT FROM b.hs'
          '  ORDER BY 2',
          tdm._pk_json_sql(rel, 't'),
          coalesce((SELECT string_agg(format('pg_catalog.jsonb_build_object(%s)', x.pairs), ' || ')
                      FROM (SELECT string_agg(format('%L, t.%I', c, c), ', ' ORDER BY o) AS pairs
                              FROM unnest(cols) WITH ORDINALITY AS u(c, o) GROUP BY (o - 1) / 50) x),
                   '''{}''::jsonb'),
          col_hashes, src_a, key_hash, src_b, key_cols, key_join, key_filter)
          USING differing, cols, rel;
      END IF;
    END IF;
    EXIT WHEN cardinality(next_parents) = 0;
    -- Deeper: at once as many bits as make buckets of about half a leaf
    -- (one more pass over the table, not one per bit), then 4 at a time.
    parents := next_parents;
    parent_bits := bits;
    bits := least(60, CASE WHEN bits = 0
                           THEN greatest(4, ceil(log(2, greatest(n_total, 1)::numeric / (leaf_rows / 2)))::int)
                           ELSE bits + 4 END);
  END LOOP;
  RAISE DEBUG 'data_diff: % between % and %: % pass(es), % differing bucket(s), % key hash(es) read',
    rel, env_a, env_b, levels, buckets, fetched;
EXCEPTION WHEN insufficient_privilege OR data_exception OR check_violation THEN
  PERFORM tdm._parity_read_failed('data_diff', rel, env_a, env_b, SQLSTATE, SQLERRM);
  RAISE;
END
$$;
COMMENT ON FUNCTION tdm.data_diff(regclass, text, text) IS
  'Rows of a managed table that differ between two environments (or one and ''local''), found by hash bisection of the key space';

-- How a column's values are binned: 'number', 'date', 'timestamp' or
-- 'timestamptz' for the ordered types whose histogram over the combined
-- range says more than their most frequent values; NULL for the others.
CREATE FUNCTION tdm._parity_range_kind(rel regclass, col text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'numeric'::regtype,
                                  'float4'::regtype, 'float8'::regtype) THEN 'number'
              WHEN a.atttypid = 'date'::regtype THEN 'date'
              WHEN a.atttypid = 'timestamp'::regtype THEN 'timestamp'
              WHEN a.atttypid = 'timestamptz'::regtype THEN 'timestamptz' END
    FROM pg_attribute a WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped
$$;

-- SQL true for a finite value of `col` (infinities and NaN would stretch
-- the range; they have bins of their own).
CREATE FUNCTION tdm._parity_finite_sql(rel regclass, col text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) THEN 'true'
              WHEN a.atttypid IN ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype)
                THEN format('pg_catalog.isfinite(t.%I)', col)
              ELSE format('t.%1$I > ''-Infinity''::%2$s AND t.%1$I < ''Infinity''::%2$s',
                          col, format_type(a.atttypid, NULL)) END
    FROM pg_attribute a WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped
$$;

-- One side's profile of columns `cols` in one pass: rows, and per column
-- its non-NULL values, distinct values (of their hashes) and, for
-- ordered types, the least and greatest finite values. Aggregates only:
-- postgres_fdw runs them on the environment's server.
CREATE FUNCTION tdm._parity_stats_sql(rel regclass, src regclass, cols text[], ranged text[]) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT format('SELECT pg_catalog.jsonb_build_object(''rows'', pg_catalog.count(*)) || %s FROM %s t',
                string_agg(format('pg_catalog.jsonb_build_object(%s)',
                  (SELECT string_agg(format('%L, pg_catalog.jsonb_build_array(pg_catalog.count(t.%I), pg_catalog.count(DISTINCT %s), %s)',
                                            c, c, tdm._parity_hash_sql(rel, 't', c, 0, false),
                                            CASE WHEN c = ANY (ranged)
                                                 THEN format('pg_catalog.min(t.%1$I) FILTER (WHERE %2$s), pg_catalog.max(t.%1$I) FILTER (WHERE %2$s)',
                                                             c, tdm._parity_finite_sql(rel, c))
                                                 ELSE 'NULL, NULL' END), ', ' ORDER BY o)
                     FROM unnest(cols[n * 20 + 1 : n * 20 + 20]) WITH ORDINALITY AS u(c, o))), ' || ' ORDER BY n),
                src)
    FROM generate_series(0, (cardinality(cols) - 1) / 20) AS n
$$;

-- Total variation distance between two distributions given as counts
-- over the same categories (their totals: the non-NULL values): 0 the
-- same, 1 disjoint.
CREATE FUNCTION tdm._parity_tvd(counts_a bigint[], total_a bigint, counts_b bigint[], total_b bigint)
RETURNS float8
LANGUAGE sql IMMUTABLE AS $$
  -- (The division inside the aggregate, guarded there: the CASE around an
  -- aggregate is applied after it.)
  SELECT CASE WHEN total_a = 0 AND total_b = 0 THEN 0
              WHEN total_a = 0 OR total_b = 0 THEN 1
              ELSE 0.5 * sum(abs(coalesce(x, 0)::float8 / nullif(total_a, 0)
                                 - coalesce(y, 0)::float8 / nullif(total_b, 0))) END
    FROM unnest(counts_a, counts_b) AS u(x, y)
$$;

CREATE FUNCTION tdm.profile_diff(rel regclass, env_a text, env_b text) RETURNS SETOF tdm.profile_drift
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp SET jit TO off SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET xmloption = 'content' SET array_nulls = on
SET IntervalStyle = 'postgres' SET extra_float_digits = 3
AS $$
DECLARE
  -- Drifted: distributions more than 0.1 apart (over a tenth of the
  -- values would have to move), or null fractions more than 0.05 apart.
  max_distance constant float8 := 0.1;
  max_null_gap constant float8 := 0.05;
  top_n constant int := 20;   -- categories: the most frequent values of each side, and the rest
  bins constant int := 10;    -- ordered types: equal-width bins over both sides' range
  cols text[] := tdm._parity_prepare('profile_diff', rel, env_a, env_b, false);
  src_a regclass := tdm._side_table(env_a, rel);
  src_b regclass := tdm._side_table(env_b, rel);
  ranged text[];
  stats_a jsonb;
  stats_b jsonb;
  chunk text[];
  part jsonb;
  c text;
  kind text;
  hash_sql text;
  sa jsonb;
  sb jsonb;
  rows_a bigint;
  rows_b bigint;
  values_a bigint;
  values_b bigint;
  counts_a bigint[];
  counts_b bigint[];
  top bigint[];
  edges_number numeric[];
  first_day date;  -- a date column's bins: days past its first, edges in edges_number (fractions of a day)
  edges_ts timestamp[];
  edges_tstz timestamptz[];
  bin_sql text;
  distance float8;
  nf_a float8;
  nf_b float8;
BEGIN
  ranged := ARRAY(SELECT x FROM unnest(cols) x WHERE tdm._parity_range_kind(rel, x) IS NOT NULL);
  -- (A pass per 200 columns: a query's target list holds 1664 entries,
  -- and each column takes up to 4 aggregates there.)
  stats_a := '{}';
  stats_b := '{}';
  FOR chunk IN SELECT cols[n * 200 + 1 : n * 200 + 200] FROM generate_series(0, (cardinality(cols) - 1) / 200) n LOOP
    EXECUTE tdm._parity_stats_sql(rel, src_a, chunk, ranged) INTO part;
    stats_a := stats_a || part;
    EXECUTE tdm._parity_stats_sql(rel, src_b, chunk, ranged) INTO part;
    stats_b := stats_b || part;
  END LOOP;
  rows_a := (stats_a->>'rows')::bigint;
  rows_b := (stats_b->>'rows')::bigint;
  FOREACH c IN ARRAY cols LOOP
    sa := stats_a->c;
    sb := stats_b->c;
    values_a := (sa->>0)::bigint;
    values_b := (sb->>0)::bigint;
    kind := tdm._parity_range_kind(rel, c);
    -- (No finite value on either side: no range to bin, categories then.)
    IF kind IS NOT NULL AND coalesce(sa->>2, sb->>2) IS NULL THEN
      kind := NULL;
    END IF;
    IF kind IS NOT NULL THEN
      -- Bins over the combined range of finite values, and one each for
      -- -Infinity, Infinity and NaN (in the outer bins, NaN against 7 read
      -- as one distribution: the last bin holds both).
      edges_number := NULL; edges_ts := NULL; edges_tstz := NULL;
      CASE kind
        WHEN 'number' THEN
          edges_number := ARRAY(SELECT lo + (hi - lo) * i / bins FROM generate_series(1, bins - 1) i,
                                  (SELECT least((sa->>2)::numeric, (sb->>2)::numeric) AS lo,
                                          greatest((sa->>3)::numeric, (sb->>3)::numeric) AS hi) r ORDER BY i);
        WHEN 'date' THEN
          first_day := least((sa->>2)::date, (sb->>2)::date);
          edges_number := ARRAY(SELECT (hi - first_day)::numeric * i / bins FROM generate_series(1, bins - 1) i,
                                  (SELECT greatest((sa->>3)::date, (sb->>3)::date) AS hi) r ORDER BY i);
        WHEN 'timestamp' THEN
          edges_ts := ARRAY(SELECT lo + (hi - lo) * (i::float8 / bins) FROM generate_series(1, bins - 1) i,
                              (SELECT least((sa->>2)::timestamp, (sb->>2)::timestamp) AS lo,
                                      greatest((sa->>3)::timestamp, (sb->>3)::timestamp) AS hi) r ORDER BY i);
        ELSE
          edges_tstz := ARRAY(SELECT lo + (hi - lo) * (i::float8 / bins) FROM generate_series(1, bins - 1) i,
                                (SELECT least((sa->>2)::timestamptz, (sb->>2)::timestamptz) AS lo,
                                        greatest((sa->>3)::timestamptz, (sb->>3)::timestamptz) AS hi) r ORDER BY i);
      END CASE;
      bin_sql := (SELECT string_agg(CASE WHEN i = 1 THEN format('pg_catalog.count(*) FILTER (WHERE %s < $%s[1] AND %s)',
                                                                v, p, finite)
                                         WHEN i = bins THEN format('pg_catalog.count(*) FILTER (WHERE %s >= $%s[%s] AND %s)',
                                                                   v, p, i - 1, finite)
                                         WHEN i > bins
                                           THEN format('pg_catalog.count(*) FILTER (WHERE t.%I IS NOT NULL AND NOT (%s)'
                                                       ' AND pg_catalog.lower(t.%I::text) = %L)', c, finite, c,
                                                       (ARRAY['-infinity', 'infinity', 'nan'])[i - bins])
                                         ELSE format('pg_catalog.count(*) FILTER (WHERE %1$s >= $%2$s[%3$s] AND %1$s < $%2$s[%4$s])',
                                                     v, p, i - 1, i) END, ', ' ORDER BY i)
                    FROM generate_series(1, bins + 3) i,
                         (SELECT CASE kind WHEN 'number' THEN format('t.%I::numeric', c)
                                           -- (an infinite date has no days past another)
                                           WHEN 'date' THEN format('(CASE WHEN %s THEN t.%I - %L::date END)',
                                                                   tdm._parity_finite_sql(rel, c), c, first_day)
                                           ELSE format('t.%I', c) END AS v,
                                 CASE kind WHEN 'number' THEN 1 WHEN 'date' THEN 1 WHEN 'timestamp' THEN 2 ELSE 3 END AS p,
                                 tdm._parity_finite_sql(rel, c) AS finite) x);
      EXECUTE format('SELECT ARRAY[%s] FROM %s t', bin_sql, src_a) INTO counts_a
        USING edges_number, edges_ts, edges_tstz;
      EXECUTE format('SELECT ARRAY[%s] FROM %s t', bin_sql, src_b) INTO counts_b
        USING edges_number, edges_ts, edges_tstz;
      distance := tdm._parity_tvd(counts_a, values_a, counts_b, values_b);
    ELSE
      -- Categories: each side's most frequent values (by hash), counted
      -- on both sides, and the rest as one more category.
      hash_sql := tdm._parity_hash_sql(rel, 't', c, 0, false);
      EXECUTE format('SELECT ARRAY(SELECT h FROM (SELECT %1$s AS h, pg_catalog.count(*) AS n FROM %2$s t'
                     '                             WHERE t.%3$I IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $1) x'
                     '              UNION'
                     '              SELECT h FROM (SELECT %1$s AS h, pg_catalog.count(*) AS n FROM %4$s t'
                     '                             WHERE t.%3$I IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $1) y)',
                     hash_sql, src_a, c, src_b)
        INTO top USING top_n;
      EXECUTE format('SELECT ARRAY(SELECT coalesce(x.n, 0) FROM unnest($1::int8[]) WITH ORDINALITY AS u(h, o)'
                     '               LEFT JOIN (SELECT %1$s AS h, pg_catalog.count(*) AS n FROM %2$s t'
                     '                           WHERE %1$s = ANY ($1) GROUP BY 1) x USING (h) ORDER BY u.o)',
                     hash_sql, src_a)
        INTO counts_a USING top;
      EXECUTE format('SELECT ARRAY(SELECT coalesce(x.n, 0) FROM unnest($1::int8[]) WITH ORDINALITY AS u(h, o)'
                     '               LEFT JOIN (SELECT %1$s AS h, pg_catalog.count(*) AS n FROM %2$s t'
                     '                           WHERE %1$s = ANY ($1) GROUP BY 1) x USING (h) ORDER BY u.o)',
                     hash_sql, src_b)
        INTO counts_b USING top;
      counts_a := counts_a || (values_a - (SELECT coalesce(sum(x), 0) FROM unnest(counts_a) x))::bigint;
      counts_b := counts_b || (values_b - (SELECT coalesce(sum(x), 0) FROM unnest(counts_b) x))::bigint;
      distance := tdm._parity_tvd(counts_a, values_a, counts_b, values_b);
    END IF;
    nf_a := CASE WHEN rows_a > 0 THEN (rows_a - values_a)::float8 / rows_a END;
    nf_b := CASE WHEN rows_b > 0 THEN (rows_b - values_b)::float8 / rows_b END;
    RETURN NEXT ROW(rel, c, rows_a, rows_b, nf_a, nf_b, (sa->>1)::bigint, (sb->>1)::bigint, distance,
                    distance > max_distance
                    OR coalesce(abs(nf_a - nf_b) > max_null_gap, nf_a IS DISTINCT FROM nf_b))::tdm.profile_drift;
  END LOOP;
EXCEPTION WHEN insufficient_privilege OR data_exception OR check_violation THEN
  PERFORM tdm._parity_read_failed('profile_diff', rel, env_a, env_b, SQLSTATE, SQLERRM);
  RAISE;
END
$$;
COMMENT ON FUNCTION tdm.profile_diff(regclass, text, text) IS
  'Per column of a managed table, two environments'' (or one and ''local'') row counts, null fractions, distinct counts and distribution distance';
