-- Consolidation, resolve and apply: a run's conflicts are recorded with
-- their rule or decision, then applied to the collected rows (temporary
-- tables of the calling transaction): survivors kept, others merged away or
-- deleted, re-keyed rows given new keys, children re-pointed through the
-- key map. Tables are taken parents first, so a child's foreign keys are
-- translated before its own conflicts are detected.

-- A key's values as text, in the order of `cols`: detection spells keys the
-- same way (the caller pins DateStyle, TimeZone and extra_float_digits).
CREATE FUNCTION tdm._key_text(cols text[], alias text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format('ARRAY[%s]::text[]', string_agg(format('%I.%I::text', alias, c), ', ' ORDER BY n))
    FROM unnest(cols) WITH ORDINALITY AS u(c, n)
$$;

-- The type of `rel`'s column `col`, as a cast spells it.
CREATE FUNCTION tdm._column_type(rel regclass, col text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
   WHERE a.attrelid = rel AND a.attname = col AND NOT a.attisdropped
$$;

-- The value `expr` of `rel`'s column `col` as jsonb, spelled as detection
-- spells the members' values: numbers, booleans and json as themselves,
-- anything else as its type's text (an array '{1,2}', not a JSON array;
-- a timestamp as it prints), so that a key read back with ->> casts to the
-- column's type and compares equal to the members' spelling.
CREATE FUNCTION tdm._json_value(rel regclass, col text, expr text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN tdm._base_type(a.atttypid) IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype,
                                                 'float4'::regtype, 'float8'::regtype, 'numeric'::regtype,
                                                 'bool'::regtype, 'json'::regtype, 'jsonb'::regtype)
              THEN format('to_jsonb(%s)', expr)
              -- (format's %s: the type's output, as detection reads it; a
              -- char(n) keeps its padding, which ::text would trim)
              ELSE format('CASE WHEN (%1$s) IS NOT NULL THEN to_jsonb(format(''%%s'', %1$s)) END', expr) END
    FROM pg_attribute a WHERE a.attrelid = rel AND a.attname = col AND NOT a.attisdropped
$$;

-- The same key as a jsonb object, for people and tdm.key_map.
CREATE FUNCTION tdm._key_json(rel regclass, cols text[], alias text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT format('jsonb_build_object(%s)',
                string_agg(format('%L, %s', c, tdm._json_value(rel, c, format('%I.%I', alias, c))), ', '
                           ORDER BY n))
    FROM unnest(cols) WITH ORDINALITY AS u(c, n)
$$;

-- A collected row `alias` of `rel` as a conflict member's row: its columns
-- spelled as detection spells them (tdm._json_value; to_jsonb spells
-- arrays, composites and timestamps its own way), without tdm's columns.
CREATE FUNCTION tdm._row_json(rel regclass, alias text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT format('(to_jsonb(%I.*) - ''tdm_env'' - ''tdm_row_hash'')', alias)
         -- (jsonb_build_object takes 50 pairs at most)
         || coalesce(string_agg(format(' || jsonb_build_object(%s)', o.pairs), ''), '')
    FROM (SELECT string_agg(format('%L, %s', a.attname,
                                   tdm._json_value(rel, a.attname, format('%I.%I', alias, a.attname))),
                            ', ') AS pairs
            FROM (SELECT a.attname, row_number() OVER (ORDER BY a.attnum) AS n
                    FROM pg_attribute a JOIN pg_type t ON t.oid = tdm._base_type(a.atttypid)
                   WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
                     AND (t.typcategory = 'A' OR t.typtype = 'c'
                          OR t.oid IN ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype))) a
           GROUP BY (a.n - 1) / 50) o
$$;

-- The same two for a conflict member `e.m` (an element of the conflict's
-- members array; or the member's row given), read from its row by name. The
-- text goes through the column's type, so it is spelled as tdm._key_text
-- spells the stored value (a char(n) key loses its padding there, as in the
-- ::text cast). `compared`: as the key compares rather than as it is
-- spelled (a numeric without its scale's zeros, a float's -0 as 0, citext
-- lower-cased, an interval as tdm._interval_key, as detection compares it);
-- `normalized` too: lower-cased and trimmed (normalize_keys).
CREATE FUNCTION tdm._member_key(rel regclass, cols text[], member_row text DEFAULT 'e.m->''row''',
                                normalized bool DEFAULT false, compared bool DEFAULT false)
RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT format('ARRAY[%s]::text[]',
                string_agg(CASE WHEN normalized
                                THEN tdm._folded_sql(format('(%s->>%L)::%s', member_row, u.c, t.column_type))
                                WHEN compared AND t.form = 'decimal'
                                THEN format('trim_scale((%s->>%L)::%s)::text', member_row, u.c,
                                            t.column_type)
                                WHEN compared AND t.form = 'float'
                                THEN format('CASE WHEN (%1$s->>%2$L)::%3$s = 0 THEN ''0'' ELSE (%1$s->>%2$L)::%3$s::text END',
                                            member_row, u.c, t.column_type)
                                WHEN compared AND t.form = 'caseless'
                                THEN format('lower((%s->>%L)::%s::text)', member_row, u.c, t.column_type)
                                WHEN compared AND t.form = 'interval'
                                THEN format('tdm._interval_key((%s->>%L)::%s)', member_row, u.c, t.column_type)
                                ELSE format('(%s->>%L)::%s::text', member_row, u.c, t.column_type)
                           END, ', ' ORDER BY u.n))
    FROM unnest(cols) WITH ORDINALITY AS u(c, n)
    JOIN (SELECT a.attname::text AS column_name, format_type(a.atttypid, a.atttypmod) AS column_type,
                 CASE WHEN compared THEN tdm._key_form(a.atttypid, a.atttypmod) END AS form
            FROM pg_attribute a
           WHERE a.attrelid = rel AND a.attname = ANY (cols) AND a.attnum > 0 AND NOT a.attisdropped) t
      ON t.column_name = u.c
$$;

CREATE FUNCTION tdm._member_key_json(cols text[], member text DEFAULT 'e.m') RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format('jsonb_build_object(%s)',
                string_agg(format('%L, %s->''row''->%L', c, member, c), ', ' ORDER BY n))
    FROM unnest(cols) WITH ORDINALITY AS u(c, n)
$$;

-- The table of `rel`'s name in the target schema, or NULL.
CREATE FUNCTION tdm._target_table(target text, rel regclass) RETURNS regclass
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT c.oid::regclass
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = target AND c.relkind IN ('r', 'p')
     AND c.relname = (SELECT r.relname FROM pg_class r WHERE r.oid = rel)
$$;

-- Every foreign key between managed tables; `to_key`: it references the
-- parent's primary key, else another unique key of the parent;
-- `holds_key`: that other unique key holds the primary key's columns (a
-- seat's (booking_id, flight_id)): it names the row by its key too.
-- Only `of_child`'s when given. (PL/pgSQL, whose plan is kept: it runs
-- hundreds of times a call, and planning it cost more than running it.)
CREATE FUNCTION tdm._managed_references(of_child regclass DEFAULT NULL)
RETURNS TABLE (child regclass, parent regclass, name text, columns text[], ref_columns text[],
               to_key bool, holds_key bool)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN QUERY
  SELECT c.rel, p.rel, fk->>'name', x.columns, x.ref_columns, x.ref_columns = p.pk_columns,
         x.ref_columns <> p.pk_columns AND p.pk_columns <@ x.ref_columns
    FROM tdm.managed_table c
   CROSS JOIN LATERAL jsonb_array_elements(c.foreign_keys) AS fk
    JOIN tdm.managed_table p ON p.rel::text = fk->>'references'
   CROSS JOIN LATERAL (SELECT ARRAY(SELECT jsonb_array_elements_text(fk->'columns')) AS columns,
                              ARRAY(SELECT jsonb_array_elements_text(fk->'ref_columns')) AS ref_columns) x
   WHERE c.rel = of_child OR of_child IS NULL;
END
$$;

-- The foreign keys that reference the parent's primary key: the edges
-- along which keys are translated (the key map's).
CREATE FUNCTION tdm._managed_edges()
RETURNS TABLE (child regclass, parent regclass, name text, columns text[], ref_columns text[])
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT r.child, r.parent, r.name, r.columns, r.ref_columns FROM tdm._managed_references() r
   WHERE r.to_key
$$;

-- The natural keys a table without any of its own borrows from the
-- tables that share its primary key (a subtype, whose key is a foreign
-- key to it: AdventureWorks' person.person of person.businessentity):
-- the subtype's row says which entity the row is
-- (tdm::detect::TableModel::borrowed_keys). Per subtype and natural-key
-- group of its that holds none of its foreign keys' columns (those are
-- the environment's keys until the subtype's turn): the subtype, its
-- foreign key (name, columns in the parent's key order), the group's
-- columns and number among its natural keys, and whether the subtype
-- compares them normalized. Of every table when `parent` is NULL (one
-- call, not one a table: each reads every reference twice); `borrower`
-- is the parent.
CREATE FUNCTION tdm._borrowed_keys(parent regclass)
RETURNS TABLE (child regclass, name text, columns text[], key_columns text[], key_group bigint,
               normalize_keys bool, borrower regclass)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT e.child, e.name, e.columns, g.key_columns, n.o, c.normalize_keys, p.rel
    FROM tdm.managed_table p
    JOIN tdm._managed_edges() e ON e.parent = p.rel
    JOIN tdm.managed_table c ON c.rel = e.child
   CROSS JOIN LATERAL unnest(c.natural_keys) WITH ORDINALITY AS n(spec, o)
   CROSS JOIN LATERAL (SELECT ARRAY(SELECT btrim(x) FROM unnest(string_to_array(n.spec, ',')) AS x)
                                AS key_columns) g
   WHERE (p.rel = _borrowed_keys.parent OR _borrowed_keys.parent IS NULL)
     AND cardinality(p.natural_keys) = 0 AND e.child <> e.parent
     AND c.pk_columns @> e.columns AND e.columns @> c.pk_columns
     AND NOT EXISTS (SELECT FROM tdm._managed_references() f
                      WHERE f.child = c.rel AND f.columns && g.key_columns)
   ORDER BY e.child::text, e.name, n.o
$$;

-- Managed tables parents first, by every foreign key between them. A
-- reference cycle is entered only once the tables it references outside
-- the cycle are placed (a table that hangs below a cycle, a store's
-- inventory, is not taken for its entry), at a table with a natural key
-- if it has one, else at its first by name. A natural key with no column
-- referencing into the cycle first: an album's (artist_id, title) still
-- holds each environment's own artist ids, and two artists' "Greatest
-- Hits" would be one album; a table without one is compared on the
-- cycle's references, still the environments' own keys.
-- (tdm::setup::order_tables, linear in the tables and references: every
-- stage reads this order many times a call.)
CREATE FUNCTION tdm._order_tables(tables oid[], children oid[], parents oid[], key_tables oid[],
                                  key_groups int2[], key_parents oid[]) RETURNS oid[]
AS 'MODULE_PATHNAME', 'tdm_order_tables' LANGUAGE C IMMUTABLE STRICT;

CREATE FUNCTION tdm._table_order() RETURNS TABLE (rel regclass, step int)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN QUERY
  WITH refs AS MATERIALIZED (SELECT * FROM tdm._managed_references()),
       edges AS (SELECT coalesce(array_agg(r.child::oid), '{}') AS children,
                        coalesce(array_agg(r.parent::oid), '{}') AS parents
                   FROM refs r WHERE r.child <> r.parent),
       -- (per natural-key group, the tables its references lead to:
       -- a reference to the table itself too)
       key_refs AS (SELECT coalesce(array_agg(m.rel::oid), '{}') AS tables,
                           coalesce(array_agg(n.o::int2), '{}') AS numbers,
                           coalesce(array_agg(coalesce(f.parent::oid, 0)), '{}') AS parents
                      FROM tdm.managed_table m
                     CROSS JOIN LATERAL unnest(m.natural_keys) WITH ORDINALITY AS n(spec, o)
                      LEFT JOIN refs f ON f.child = m.rel AND f.columns && string_to_array(n.spec, ','))
  SELECT u.rel::regclass, u.step::int
    FROM edges, key_refs,
         unnest(tdm._order_tables(ARRAY(SELECT m.rel::oid FROM tdm.managed_table m ORDER BY m.rel::text),
                                  edges.children, edges.parents,
                                  key_refs.tables, key_refs.numbers, key_refs.parents))
           WITH ORDINALITY AS u(rel, step);
END
$$;

-- A type, or a domain's base type.
CREATE FUNCTION tdm._base_type(type oid) RETURNS regtype
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH RECURSIVE chain AS (
    SELECT t.oid, t.typtype, t.typbasetype FROM pg_type t WHERE t.oid = type
    UNION ALL
    SELECT t.oid, t.typtype, t.typbasetype FROM pg_type t JOIN chain c ON t.oid = c.typbasetype
     WHERE c.typtype = 'd')
  SELECT oid::regtype FROM chain WHERE typtype <> 'd'
$$;

-- The typmod a column of type `type` (typmod `typmod`) holds its values
-- to: its own, else the nearest domain's along its base types (a domain
-- over a domain over varchar(3)); NULL when none.
CREATE FUNCTION tdm._declared_typmod(type oid, typmod int) RETURNS int
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH RECURSIVE chain AS (
    SELECT t.typtype, t.typtypmod, t.typbasetype, 1 AS depth FROM pg_type t WHERE t.oid = type
    UNION ALL
    SELECT t.typtype, t.typtypmod, t.typbasetype, c.depth + 1 FROM pg_type t JOIN chain c ON t.oid = c.typbasetype
     WHERE c.typtype = 'd')
  SELECT CASE WHEN typmod >= 0 THEN typmod
              ELSE (SELECT c.typtypmod FROM chain c WHERE c.typtype = 'd' AND c.typtypmod >= 0
                     ORDER BY c.depth LIMIT 1) END
$$;

-- Whether a column of type `type` (typmod `typmod`) is a numeric without a
-- fixed scale, through domains over domains: it keeps the scale each
-- value was written with (1.5, 1.50).
CREATE FUNCTION tdm._unscaled_numeric(type oid, typmod int) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH RECURSIVE chain AS (
    SELECT t.oid, t.typtype, t.typbasetype, t.typtypmod FROM pg_type t WHERE t.oid = type
    UNION ALL
    SELECT t.oid, t.typtype, t.typbasetype, t.typtypmod FROM pg_type t JOIN chain c ON t.oid = c.typbasetype
     WHERE c.typtype = 'd')
  SELECT typmod = -1 AND bool_and(CASE WHEN c.typtype = 'd' THEN c.typtypmod = -1
                                       ELSE c.oid = 'numeric'::regtype END)
    FROM chain c
$$;

-- An interval key as detection compares it (detect::canonical_interval):
-- the microseconds it spans as PostgreSQL compares intervals (a month 30
-- days, a day 24 hours), so '1 day' and '24:00:00' are one key.
CREATE FUNCTION tdm._interval_key(span interval) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT trim_scale(((extract(year FROM span) * 12 + extract(month FROM span)) * 30 + extract(day FROM span))
                    * 86400000000 + extract(hour FROM span) * 3600000000 + extract(minute FROM span) * 60000000
                    + extract(second FROM span) * 1000000)::text
$$;

-- How detection compares keys of type `type` (typmod `typmod`) beyond
-- their text (KeyForm in the core): 'decimal' (a numeric without a fixed
-- scale, 1.5 = 1.50), 'float' (-0 = 0), 'caseless' (citext), 'interval'
-- ('1 day' = '24:00:00'), 'padded' (a bpchar: 'ab' = 'ab  ', as its ::text
-- cast spells both), else NULL.
CREATE FUNCTION tdm._key_form(type oid, typmod int) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN tdm._unscaled_numeric(type, typmod) THEN 'decimal'
              WHEN b.oid IN ('float4'::regtype, 'float8'::regtype) THEN 'float'
              WHEN b.typname = 'citext' THEN 'caseless'
              WHEN b.oid = 'interval'::regtype THEN 'interval'
              WHEN b.oid = 'bpchar'::regtype THEN 'padded' END
    FROM pg_type b WHERE b.oid = tdm._base_type(type)
$$;

-- The equality operator of the type of `rel`'s column `col` (its default
-- btree operator class's), schema-qualified: under tdm's search_path a
-- bare = compares two citext values as text. pg_catalog's = when the type
-- has no class of its own (varchar, arrays, enums).
CREATE FUNCTION tdm._type_equality(rel regclass, col text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce((SELECT format('OPERATOR(%I.%s)', n.nspname, o.oprname)
                     -- (the base type once, not for each operator class)
                     FROM (SELECT tdm._base_type(a.atttypid) AS base FROM pg_attribute a
                            WHERE a.attrelid = rel AND a.attname = col AND NOT a.attisdropped
                           OFFSET 0) a
                     JOIN pg_opclass oc ON oc.opcintype = a.base AND oc.opcdefault
                                       AND oc.opcmethod = (SELECT m.oid FROM pg_am m WHERE m.amname = 'btree')
                     JOIN pg_amop ao ON ao.amopfamily = oc.opcfamily AND ao.amoplefttype = oc.opcintype
                                    AND ao.amoprighttype = oc.opcintype AND ao.amopstrategy = 3
                     JOIN pg_operator o ON o.oid = ao.amopopr JOIN pg_namespace n ON n.oid = o.oprnamespace
                    LIMIT 1),
                  'OPERATOR(pg_catalog.=)')
$$;

-- The columns `cols` of `rel` set from the text array `key_expr` (a key
-- map's new_key, say), item by item, each cast to its column's type:
-- "a = (k.new_key[1])::int, b = ...".
CREATE FUNCTION tdm._set_to_key(rel regclass, cols text[], key_expr text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(format('%I = (%s[%s])::%s', c, key_expr, i, tdm._column_type(rel, c)), ', ' ORDER BY i)
    FROM unnest(cols) WITH ORDINALITY AS u(c, i)
$$;

-- Row `alias` of `rel` whose columns `cols` equal the text array
-- `key_expr` item by item, by each column's own equality (citext's).
CREATE FUNCTION tdm._matches_key(rel regclass, cols text[], alias text, key_expr text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(format('%s.%I %s (%s[%s])::%s', alias, c, tdm._type_equality(rel, c), key_expr, i,
                           tdm._column_type(rel, c)), ' AND ' ORDER BY i)
    FROM unnest(cols) WITH ORDINALITY AS u(c, i)
$$;

-- Rows `left_alias` and `right_alias` of tables with `rel`'s columns
-- `cols` equal on them, each compared by its type's own equality (citext's
-- own =, not text's); `folded`: as a natural key registered with
-- normalize_keys compares (tdm._folded_sql).
CREATE FUNCTION tdm._columns_match(rel regclass, cols text[], left_alias text, right_alias text,
                                   folded bool DEFAULT false) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(CASE WHEN folded
                         THEN tdm._folded_sql(format('%s.%I', left_alias, c)) || ' = '
                              || tdm._folded_sql(format('%s.%I', right_alias, c))
                         ELSE format('%1$s.%3$I %4$s %2$s.%3$I', left_alias, right_alias, c,
                                     tdm._type_equality(rel, c)) END,
                    ' AND ' ORDER BY n)
    FROM unnest(cols) WITH ORDINALITY AS u(c, n)
$$;

-- A float key's -0 as 0 in the collected rows (primary and natural keys,
-- foreign keys and the columns they reference): one value to the key's
-- equality, and jsonb (conflict members, the key map) spells both 0, so a
-- key read back from there would no longer find a -0 row's children.
CREATE FUNCTION tdm._zero_float_keys() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  c record;
BEGIN
  -- (The key columns' attributes first, then their form: asked of every
  -- attribute of the catalog, the form took most of a consolidation.)
  FOR c IN WITH key_column AS MATERIALIZED (
             SELECT DISTINCT m.rel, k.col, a.atttypid, a.atttypmod
               FROM tdm.managed_table m
              CROSS JOIN LATERAL (SELECT unnest(m.pk_columns)
                                  UNION SELECT btrim(x) FROM unnest(m.natural_keys) AS g,
                                                             unnest(string_to_array(g, ',')) AS x
                                  UNION SELECT jsonb_array_elements_text(fk -> 'columns')
                                          FROM jsonb_array_elements(m.foreign_keys) AS fk
                                  UNION SELECT rc.ref FROM tdm._managed_references() r, unnest(r.ref_columns) AS rc(ref)
                                         WHERE r.parent = m.rel) AS k(col)
               JOIN pg_attribute a ON a.attrelid = m.rel AND a.attname = k.col AND NOT a.attisdropped
              WHERE to_regclass(format('pg_temp.%I', tdm._collected_name(m.rel))) IS NOT NULL)
           SELECT k.rel, k.col FROM key_column k
            WHERE tdm._key_form(k.atttypid, k.atttypmod) = 'float'
            ORDER BY 1, 2 LOOP
    EXECUTE format('UPDATE pg_temp.%1$I SET %2$I = 0 WHERE %2$I = 0 AND %2$I::text = ''-0''',
                   tdm._collected_name(c.rel), c.col);
  END LOOP;
END
$$;

-- The table `rel`'s whole primary key references (a subtype's key is its
-- supertype's: a store's id is its businessentity's), NULL when none. (A
-- key that only begins with a reference, an order's (district, o_id), is
-- the order's own.)
CREATE FUNCTION tdm._key_reference(rel regclass) RETURNS regclass
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT k.confrelid::regclass
    FROM tdm.managed_table m
    JOIN pg_constraint k ON k.conrelid = m.rel AND k.contype = 'f' AND k.conparentid = 0
   WHERE m.rel = _key_reference.rel
     AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a
           WHERE a.attrelid = m.rel AND a.attnum = ANY (k.conkey))
         = (SELECT array_agg(c ORDER BY c) FROM unnest(m.pk_columns) AS c)
   ORDER BY k.conname
   LIMIT 1
$$;

-- The table a one-column primary key references, or is part of a
-- reference to (an order's extra row keyed by order_id, with a foreign
-- key (order_id, ordered_on)): a new key made up for such a row would name
-- no row of it. NULL when none (tdm._key_reference for wider keys). Not a
-- reference to a child whose column there references the key back (a
-- project's (project_id, lead_user_id) to its project_member, whose
-- project_id is the project's): the key is the table's own, the child's
-- follows it.
CREATE FUNCTION tdm._key_parent(rel regclass) RETURNS regclass
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(tdm._key_reference(rel),
                  (SELECT to_regclass(fk ->> 'references')
                     FROM tdm.managed_table m, jsonb_array_elements(m.foreign_keys) AS fk,
                          jsonb_array_elements_text(fk -> 'columns') WITH ORDINALITY AS k(col, i)
                    WHERE m.rel = _key_parent.rel AND cardinality(m.pk_columns) = 1
                      AND k.col = m.pk_columns[1]
                      AND NOT EXISTS (
                            SELECT 1
                              FROM tdm.managed_table c, jsonb_array_elements(c.foreign_keys) AS back,
                                   jsonb_array_elements_text(back -> 'columns') WITH ORDINALITY AS b(col, j)
                             WHERE c.rel = to_regclass(fk ->> 'references')
                               AND to_regclass(back ->> 'references') = m.rel
                               AND b.col = fk -> 'ref_columns' ->> (k.i::int - 1)
                               AND back -> 'ref_columns' ->> (b.j::int - 1) = m.pk_columns[1])
                    ORDER BY fk ->> 'name' LIMIT 1))
$$;

-- The primary key column a row of `rel` tdm re-keys gets its new value
-- in: the key's one column; of a key of several columns, the one the
-- table generates (identity, a default from a sequence, or
-- gen_random_uuid()) when it is in no reference: a partitioned table's
-- payment_id of (payment_id, payment_date), a tenant's customer id of
-- (tenant_id, id), the rest of the key staying as it is (the same
-- tenant). NULL otherwise.
CREATE FUNCTION tdm._rekeyed_column(rel regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN cardinality(m.pk_columns) = 1 THEN m.pk_columns[1]
              WHEN NOT EXISTS (SELECT FROM jsonb_array_elements(m.foreign_keys) fk
                                WHERE fk -> 'columns' ? r.col)
                   AND tdm._generated_column(m.rel, r.col)
              THEN r.col END
    FROM tdm.managed_table m CROSS JOIN LATERAL (SELECT tdm._renamed_key_column(m.rel) AS col) r
   WHERE m.rel = _rekeyed_column.rel
$$;

-- Its place in the primary key (1 for a one-column key).
CREATE FUNCTION tdm._rekeyed_position(rel regclass) RETURNS int
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT array_position(m.pk_columns, tdm._rekeyed_column(m.rel)::name)
    FROM tdm.managed_table m WHERE m.rel = _rekeyed_position.rel
$$;

-- Whether tdm can give `rel`'s rows new primary keys: an integer or uuid
-- column to re-key (tdm._rekeyed_column) that is no part of a reference
-- (tdm._key_parent), and whose sequence, if any, counts up (new keys go
-- past the highest in use). Other keys need the new key from a
-- reviewer's renames.
CREATE FUNCTION tdm._rekeyable(rel regclass) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce((SELECT tdm._base_type(a.atttypid) IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype,
                                                         'uuid'::regtype)
                     FROM pg_attribute a WHERE a.attrelid = m.rel AND a.attname = r.col),
                  false)
         AND tdm._key_parent(m.rel) IS NULL
         AND coalesce((SELECT q.seqincrement > 0 FROM pg_sequence q
                        WHERE q.seqrelid = tdm._column_sequence(m.rel, r.col)), true)
    FROM tdm.managed_table m CROSS JOIN LATERAL (SELECT tdm._rekeyed_column(m.rel) AS col) r
   WHERE m.rel = _rekeyable.rel
$$;

-- Whether column `col` of `rel` takes its values from the table: an
-- identity, or a default from a sequence or a uuid function (spelled with
-- its schema, or not).
CREATE FUNCTION tdm._generated_column(rel regclass, col text) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT a.attidentity <> ''
         OR coalesce(pg_get_expr(d.adbin, d.adrelid) ~ '^([a-z_]+[.])?(nextval|gen_random_uuid|uuid_generate_v4)[(]',
                     false)
    FROM pg_attribute a
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE a.attrelid = rel AND a.attname = col
$$;

-- The primary key column a reviewer renumbers when tdm cannot give a row a
-- new key (the key has several columns): the one the table generates
-- (identity, or a default from a sequence or a uuid function), else the
-- last one that is no foreign key's (a tenant's user id, not the tenant;
-- an order's o_id, not its district: a renamed reference would name
-- another row) nor a partition column. A partitioned table's key must
-- hold its partition key: (payment_id, payment_date) is renumbered by
-- payment_id.
CREATE FUNCTION tdm._renamed_key_column(rel regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT u.c
    FROM tdm.managed_table m
   CROSS JOIN LATERAL unnest(m.pk_columns) WITH ORDINALITY AS u(c, o)
    JOIN pg_attribute a ON a.attrelid = m.rel AND a.attname = u.c
   WHERE m.rel = _renamed_key_column.rel
   ORDER BY tdm._generated_column(m.rel, u.c) DESC,
            NOT EXISTS (SELECT 1 FROM jsonb_array_elements(m.foreign_keys) fk WHERE fk -> 'columns' ? u.c) DESC,
            -- (not a partitioned table's partition column: rows would move)
            a.attnum <> ALL (coalesce((SELECT pt.partattrs::int2[] FROM pg_partitioned_table pt
                                        WHERE pt.partrelid = m.rel), '{}')) DESC,
            u.o DESC
   LIMIT 1
$$;

-- The columns of `rel`'s foreign keys that a relationship conflict's
-- merge may set: those of references that hold no column of the primary
-- key, and are in no reference that does. (A task's label (task_id,
-- label_id) referencing (tenant_id, label_id) keeps that reference: set
-- alone, tenant_id could only name another tenant's label.)
CREATE FUNCTION tdm._settable_references(rel regclass) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(array_agg(DISTINCT c ORDER BY c), '{}')
    FROM tdm.managed_table m, jsonb_array_elements(m.foreign_keys) fk, jsonb_array_elements_text(fk -> 'columns') c
   WHERE m.rel = _settable_references.rel
     AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(m.foreign_keys) o
                      WHERE o -> 'columns' ? c AND o -> 'columns' ?| m.pk_columns)
$$;

-- The sequence the re-keyed column of `rel` (tdm._rekeyed_column) takes
-- its values from in target `target_schema` (the target table's, else the
-- managed table's: tdm._column_sequence). NULL for none.
CREATE FUNCTION tdm._key_sequence(rel regclass, target_schema text) RETURNS regclass
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(tdm._column_sequence(tdm._target_table(target_schema, m.rel), r.col),
                  tdm._column_sequence(m.rel, r.col))
    FROM tdm.managed_table m CROSS JOIN LATERAL (SELECT tdm._rekeyed_column(m.rel) AS col) r
   WHERE m.rel = _key_sequence.rel AND r.col IS NOT NULL
$$;

-- A query of the re-keyed column's values (tdm._rekeyed_column) that rows
-- of releases other than $2 hold in `target_rel` and in master: a key an
-- earlier call of the run gave a row is given again only where none took
-- it since, as a release consolidated and promoted in between may have.
CREATE FUNCTION tdm._keys_of_other_releases(rel regclass, target_rel regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT format('SELECT t.%1$I FROM %2$s t WHERE t.%3$I IS DISTINCT FROM $2'
                ' UNION ALL SELECT t.%1$I FROM %4$s t WHERE t.%3$I IS DISTINCT FROM $2',
                tdm._rekeyed_column(m.rel), target_rel, m.release_column,
                coalesce(tdm._target_table('master', m.rel), target_rel))
    FROM tdm.managed_table m WHERE m.rel = _keys_of_other_releases.rel
$$;

-- The expression that gives a re-keyed row of `rel` its new primary key:
-- a temporary sequence from past every key in use (collected rows, the
-- target and master, an earlier call's keys) and past the last value the
-- target table's own sequence or identity handed out, with its increment
-- and bounds; a random uuid for uuid keys. The table's sequence is read,
-- not drawn from: a call cancelled or failed before it commits leaves it
-- as it was, and the next gives the same rows the same keys (the load
-- brings it past them, tdm._advance_sequences).
CREATE FUNCTION tdm._new_key_expr(rel regclass, target_rel regclass, collected regclass)
RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  pk text := tdm._rekeyed_column(rel);
  key_at int := tdm._rekeyed_position(rel);  -- its place in keys held as arrays
  target_schema text := (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE c.oid = target_rel);
  seq regclass;
  own pg_sequence;
  highest numeric;
  handed_out numeric;  -- the last value the table's sequence gave
  sharing regclass[];  -- the other managed tables whose keys come from the same sequence
  given_elsewhere numeric;  -- the highest key this run gave one of them, or one holds
  other regclass;
  source regclass;
BEGIN
  -- (A key of several columns, or of another type, is never made up: the
  -- decision checks say so first.)
  IF NOT tdm._rekeyable(rel) THEN
    RAISE EXCEPTION 'consolidate: % cannot take generated keys, and a row of it was to get one', rel
      USING ERRCODE = 'internal_error',
            HINT = 'Decide its key collision with keep_all and the new key in renames.';
  END IF;
  IF (SELECT tdm._base_type(a.atttypid) FROM pg_attribute a
       WHERE a.attrelid = rel AND a.attname = pk) = 'uuid'::regtype THEN
    RETURN 'gen_random_uuid()';
  END IF;
  seq := tdm._key_sequence(rel, target_schema);
  IF seq IS NOT NULL THEN
    SELECT * INTO own FROM pg_sequence q WHERE q.seqrelid = seq;
    BEGIN
      -- (UPDATE too: the load moves it past the keys given here, else the
      -- table's next INSERT draws one of them.)
      IF NOT has_sequence_privilege(seq, 'UPDATE') OR NOT has_sequence_privilege(seq, 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for sequence %', seq USING ERRCODE = 'insufficient_privilege';
      END IF;
    EXCEPTION WHEN insufficient_privilege THEN
      -- (The other managed tables' key sequences the caller may not use
      -- are granted in the same go, rather than met one call at a time;
      -- UPDATE: the load moves them past the keys it writes.)
      RAISE EXCEPTION 'consolidate: %: new keys for the rows to re-key come after what sequence % handed out, and the load moves it past them: % may not read and update it',
        rel, seq, current_user
        USING ERRCODE = 'insufficient_privilege', DETAIL = SQLERRM,
              HINT = format('The owner grants it: GRANT SELECT, UPDATE ON SEQUENCE %s TO %I;',
                            (SELECT string_agg(DISTINCT x.seq, ', ')
                               FROM (SELECT seq::text
                                     UNION ALL
                                     SELECT tdm._key_sequence(m.rel, target_schema)::text
                                       FROM tdm.managed_table m
                                      WHERE tdm._target_table(target_schema, m.rel) IS NOT NULL) x
                              WHERE x.seq IS NOT NULL
                                AND NOT (has_sequence_privilege(x.seq, 'SELECT')
                                         AND has_sequence_privilege(x.seq, 'UPDATE'))),
                            current_user);
    END;
  END IF;
  handed_out := tdm._sequence_handed_out(seq);
  -- Past master's keys too: the rows are promoted there later.
  EXECUTE format('SELECT greatest((SELECT max(%1$I) FROM %2$s), (SELECT max(%1$I) FROM %3$s),'
                 '                (SELECT max(%1$I) FROM %4$s))',
                 pk, collected, target_rel, coalesce(tdm._target_table('master', rel), target_rel))
    INTO highest;
  -- And past the keys an earlier call of the run gave, which this call
  -- gives the same rows again (a temporary sequence starts anew each call).
  highest := greatest(highest, (SELECT max((k.new_key ->> pk)::numeric)
                                  FROM pg_temp.tdm_previous_keys k
                                 WHERE k.rel = _new_key_expr.rel));
  highest := greatest(highest, handed_out);
  -- And past the keys of rows decisions deleted, gone from the collected
  -- rows: their children still name them by their environment and key.
  IF to_regclass('pg_temp.tdm_deleted') IS NOT NULL THEN
    highest := greatest(highest, (SELECT max(d.key[key_at]::numeric) FROM pg_temp.tdm_deleted d
                                   WHERE d.rel = _new_key_expr.rel AND NOT d.earlier));
  END IF;
  -- A sequence other managed tables draw from too (ids unique across
  -- tables): past the keys given to their rows in this run as well.
  -- (Those tables found first: the key map holds a row per re-keyed row.)
  -- (Only tables that depend on the sequence are asked which one their
  -- key takes: asking each managed table was a query per table for each
  -- re-keyed table, quadratic in the tables.)
  sharing := ARRAY(SELECT m.rel FROM tdm.managed_table m
                    WHERE seq IS NOT NULL AND m.rel <> _new_key_expr.rel
                      AND EXISTS (SELECT FROM pg_depend d
                                   WHERE (d.refclassid = 'pg_class'::regclass AND d.refobjid = seq
                                          AND d.classid = 'pg_attrdef'::regclass
                                          AND (SELECT ad.adrelid FROM pg_attrdef ad WHERE ad.oid = d.objid)
                                              IN (m.rel, tdm._target_table(target_schema, m.rel)))
                                      OR (d.classid = 'pg_class'::regclass AND d.objid = seq
                                          AND d.refclassid = 'pg_class'::regclass
                                          AND d.refobjid IN (m.rel, tdm._target_table(target_schema, m.rel))))
                      AND tdm._key_sequence(m.rel, target_schema) = seq);
  IF cardinality(sharing) > 0 THEN
    EXECUTE format(
      'SELECT max((k.new_key ->> tdm._rekeyed_column(m.rel))::numeric)'
      '  FROM (SELECT p.rel, p.new_key FROM pg_temp.tdm_previous_keys p WHERE p.rel = ANY ($1)%s) k'
      '  JOIN tdm.managed_table m ON m.rel = k.rel',
      CASE WHEN to_regclass('pg_temp.tdm_keymap') IS NOT NULL
           THEN ' UNION ALL SELECT g.rel, g.new_json FROM pg_temp.tdm_keymap g'
                ' WHERE g.rel = ANY ($1) AND g.reason = ''rekeyed''' ELSE '' END)
      INTO given_elsewhere
      USING sharing;
    highest := greatest(highest, given_elsewhere);
    -- (and past the keys their rows hold: collected, in the target and in
    -- master; ids unique across the tables, decision 243)
    FOREACH other IN ARRAY sharing LOOP
      FOR source IN SELECT x.t FROM unnest(ARRAY[to_regclass(format('pg_temp.%I', tdm._collected_name(other))),
                                                  tdm._target_table(target_schema, other),
                                                  tdm._target_table('master', other)]) AS x(t)
                     WHERE x.t IS NOT NULL LOOP
        EXECUTE format('SELECT max(%I)::numeric FROM %s', tdm._rekeyed_column(other), source) INTO given_elsewhere;
        highest := greatest(highest, given_elsewhere);
      END LOOP;
    END LOOP;
  END IF;
  IF to_regclass('pg_temp.tdm_new_keys') IS NOT NULL THEN
    DROP SEQUENCE pg_temp.tdm_new_keys;
  END IF;
  -- (Its bounds the table's sequence's, widened to hold the highest key
  -- in use: past the sequence's MAXVALUE, the first new key is the
  -- error, which the caller turns into what to do.)
  -- (START: the highest in use, which the caller's message may say.)
  EXECUTE format('CREATE TEMP SEQUENCE tdm_new_keys INCREMENT BY %s MINVALUE %s MAXVALUE %s START %s',
                 greatest(coalesce(own.seqincrement, 1), 1), least(coalesce(own.seqmin, 1), coalesce(highest, 1)),
                 greatest(coalesce(own.seqmax, 9223372036854775807), coalesce(highest, 1)),
                 coalesce(highest, 1)::bigint);
  PERFORM setval('pg_temp.tdm_new_keys', coalesce(highest, 1)::bigint);
  RETURN format('nextval(%L)', 'pg_temp.tdm_new_keys');
END
$$;

-- Whether sequence `seq` stops at its data type's own limit: raising
-- its MAXVALUE is no way out there, widening its type is.
CREATE FUNCTION tdm._sequence_at_type_limit(seq regclass) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT q.seqmax = CASE q.seqtypid WHEN 'int2'::regtype THEN 32767
                                    WHEN 'int4'::regtype THEN 2147483647
                                    ELSE 9223372036854775807 END
    FROM pg_sequence q WHERE q.seqrelid = seq
$$;

-- How a conflict is settled: by its rule, or by its decision (a priority 1
-- decision only once approved). NULL action: not settled.
CREATE FUNCTION tdm._resolution(c tdm.conflict,
                                OUT action text, OUT survivor int, OUT rekeyed int[],
                                OUT merged jsonb, OUT renames jsonb)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  d tdm.decision;
BEGIN
  IF c.rule <> 'manual' THEN
    action := CASE c.rule WHEN 'distinct_entities' THEN 'keep_all'
                          WHEN 'non_conflicting_merge' THEN 'merge' ELSE 'keep' END;
    survivor := c.survivor;
    rekeyed := c.rekeyed;
    merged := c.merged;
    RETURN;
  END IF;
  SELECT * INTO d FROM tdm.decision WHERE conflict_id = c.conflict_id;
  IF NOT FOUND OR c.status <> 'decided' OR (c.priority = 1 AND d.approved_by IS NULL) THEN
    RETURN;
  END IF;
  action := d.action::text;
  merged := d.merged;
  renames := d.renames;
  -- (The member kept: an environment's only member is labelled by the
  -- environment, read from the conflict at hand; other labels, env:key,
  -- through tdm.conflict_member, whose scan of tdm.conflict, once per
  -- decision, cost seconds before autovacuum had analyzed it.)
  survivor := CASE WHEN d.action = 'keep'
                   THEN coalesce((SELECT min(o.n - 1)::int
                                    FROM jsonb_array_elements(c.members) WITH ORDINALITY AS o(m, n)
                                   WHERE o.m ->> 'env' = d.keep_env HAVING count(*) = 1),
                                 (SELECT cm.member FROM tdm.conflict_member cm
                                   WHERE cm.run_id = c.run_id AND cm.conflict_id = c.conflict_id
                                     AND cm.label = d.keep_env))
                   ELSE 0 END;
  rekeyed := CASE WHEN d.action = 'keep_all' THEN tdm._new_key_members(c, d.renames, elsewhere => false)
                  ELSE '{}' END;
END
$$;

-- A conflict whose rows keep the keys they were collected with in this
-- call: it waits for a reviewer (pending, or stale: not applied), or for
-- an approval (tdm._resolution settles nothing). Its children are
-- compared on those keys until then.
CREATE FUNCTION tdm._unsettled(c tdm.conflict) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT c.status = 'stale' OR (c.rule = 'manual' AND (tdm._resolution(c)).action IS NULL)
$$;

-- SQL: whether run `run`'s decisions deleted the row of `rel` of
-- environment `env` with key `key_json` (as the key map spells it) along
-- with the row it was merged into (the conflicts' deleted_along). Few
-- conflicts have such rows: read by their index.
CREATE FUNCTION tdm._deleted_along(run text, rel text, env text, key_json text, pk_columns text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format('EXISTS (SELECT 1 FROM tdm.conflict x CROSS JOIN LATERAL jsonb_array_elements(x.deleted_along) AS a(m)'
                ' WHERE x.run_id = %s AND x.rel = %s AND x.deleted_along IS NOT NULL'
                ' AND a.m ->> ''env'' = %s AND %s = %s)',
                run, rel, env, tdm._member_key_json(pk_columns, 'a.m'), key_json)
$$;

-- A row's key (`row_json`, or a key map's key) as messages spell it:
-- `id 2`, `order_id 3, line_no 1`, in the key's column order.
CREATE FUNCTION tdm._key_label(columns text[], row_json jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT string_agg(format('%s %s', u.c, row_json ->> u.c), ', ' ORDER BY u.i)
    FROM unnest(columns) WITH ORDINALITY AS u(c, i)
$$;

-- The environments of a conflict's members other than master, as
-- messages name them: `st1, st2`.
CREATE FUNCTION tdm._release_envs(members jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT string_agg(DISTINCT e.m ->> 'env', ', ') FROM jsonb_array_elements(members) AS e(m)
   WHERE e.m ->> 'env' <> 'master'
$$;

-- Records the conflicts detection finds in one table's collected rows,
-- with their status: auto_resolved by a rule, or pending, decided or stale
-- (a decision taken on members that have changed since). `row_bound`:
-- the collected table's rows at most (collected, and master's added).
CREATE FUNCTION tdm._record_conflicts(run bigint, release text, the_rel regclass, row_bound bigint)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  masks text := tdm._mask_signature(the_rel);
  master_runs bigint[] := tdm._master_runs(release);  -- (the runs that loaded master's releases)
BEGIN
  -- Detection also records where each conflict's members are among the
  -- collected rows (their ctids), for tdm._apply_table.
  -- (Written in batches, so without an index until it is filled.)
  IF to_regclass('pg_temp.tdm_member_rows') IS NOT NULL THEN
    DROP TABLE pg_temp.tdm_member_rows;
  END IF;
  CREATE TEMP TABLE tdm_member_rows (conflict_id text, locations tid[]) ON COMMIT DROP;
  INSERT INTO tdm.conflict (run_id, conflict_id, rel, kind, class, priority, status, rule,
                            suggestion, rationale, members, differing, survivor, rekeyed, merged,
                            members_checksum)
  -- A reviewer's decision on the same members outranks a rule that would
  -- settle the conflict now (its features' priorities changed since, say,
  -- or the reviewer overruled it): the conflict is decided, by review
  -- (rule manual). On members that changed since, the decision is stale,
  -- whatever a rule would do: the reviewer looks again.
  -- (A decided conflict detection ranks lower now than when it was
  -- decided, or alike, keeps its rank, suggestion and rationale then:
  -- tdm_decided_as, what its reviewer decided on, which a check after
  -- detection may have written (tdm._recheck_cycle_entries sends an
  -- exact duplicate to review); and, in a run into any target, the rank its
  -- decision was taken at, decided_priority: a priority 1 decision is
  -- not applied unapproved in a rehearsal. Ranked up so, it is complex.)
  SELECT run, p.conflict_id, p.rel, p.kind,
         CASE WHEN r.rank < coalesce(s.priority, p.priority) THEN 'complex' ELSE coalesce(s.class, p.class) END,
         r.rank,
         CASE WHEN d.conflict_id IS NULL
                THEN CASE WHEN p.rule <> 'manual' THEN 'auto_resolved' ELSE 'pending' END
              WHEN v.holds THEN 'decided'
              ELSE 'stale' END,
         CASE WHEN d.conflict_id IS NULL THEN p.rule
              WHEN v.holds THEN 'manual'
              ELSE p.rule END,
         coalesce(s.suggestion, p.suggestion), coalesce(s.rationale, p.rationale), p.members, p.differing,
         p.survivor, p.rekeyed, p.merged, p.checksum
    FROM (SELECT x.*, md5(x.sources || masks) AS checksum FROM tdm._detect_plan(release, the_rel, row_bound) x) p
    LEFT JOIN tdm.decision d ON d.conflict_id = p.conflict_id
   -- (Only where there is a decision: the check reads the references'
   -- columns, a query of its own, once per conflict otherwise.)
   CROSS JOIN LATERAL (SELECT CASE WHEN d.conflict_id IS NOT NULL
                                   THEN d.members_checksum = tdm._decided_on(p.checksum, p.rel, p.members, d.merged)
                              END AS holds) v
    LEFT JOIN pg_temp.tdm_decided_as s ON s.conflict_id = p.conflict_id AND v.holds AND s.priority <= p.priority
   CROSS JOIN LATERAL (SELECT least(coalesce(s.priority, p.priority),
                                    CASE WHEN v.holds THEN tdm._decided_priority(d.conflict_id, d.decided_priority) END)
                         AS rank) r;
  -- A row brought again under the key an earlier release gave it
  -- (tdm._translate_returning) is master's row of that key, not another
  -- entity that collided on an environment-local key: rule 0 does not
  -- split them. Master's row stays; a reviewer confirms (keep master),
  -- or adds the row as another entity (keep_all). Both at once, a row
  -- brought again with changes and another environment's row that only
  -- has that key: rule 0 re-keyed both (a natural key joins the row
  -- brought again to master's instead), the row brought again becoming a
  -- copy of master's; no decision keeps one and re-keys the other, so a
  -- reviewer takes keep_all, or undoes the change for the row to stay
  -- master's (the other is then re-keyed alone).
  -- The members that are rows brought again (their environment's row
  -- now under master's key), found once by their key, in one join: a
  -- containment test per member and row brought again grew with the
  -- square of their number (4,000 rows: 4.4 s). (Members first, apart:
  -- the conflicts just recorded have no statistics, and the planner,
  -- expecting one, scanned the rows brought again once per conflict.)
  IF to_regclass('pg_temp.tdm_returning') IS NOT NULL THEN
    IF to_regclass('pg_temp.tdm_brought_member') IS NULL THEN
      CREATE TEMP TABLE tdm_brought_member (conflict_id text, n bigint) ON COMMIT DROP;
      CREATE INDEX ON tdm_brought_member (conflict_id, n);
    END IF;
    TRUNCATE pg_temp.tdm_brought_member;
    INSERT INTO pg_temp.tdm_brought_member
    WITH member AS MATERIALIZED (
           SELECT c.conflict_id, e.n, e.mem ->> 'env' AS env,
                  (SELECT jsonb_object_agg(p, e.mem -> 'row' -> p) FROM unnest(mt.pk_columns) AS p) AS key
             FROM tdm.conflict c
             JOIN tdm.managed_table mt ON mt.rel = c.rel
            CROSS JOIN LATERAL jsonb_array_elements(c.members) WITH ORDINALITY AS e(mem, n)
            WHERE c.run_id = run AND c.rel = the_rel AND e.n > 1)
    SELECT DISTINCT m.conflict_id, m.n
      FROM member m
      JOIN pg_temp.tdm_returning b ON b.rel = the_rel AND b.own AND b.env = m.env AND b.new_json = m.key;
    ANALYZE pg_temp.tdm_brought_member;
  END IF;
  IF to_regclass('pg_temp.tdm_returning') IS NOT NULL
     AND EXISTS (SELECT FROM pg_temp.tdm_returning b WHERE b.rel = the_rel AND b.own) THEN
    -- (A decided one keeps its decision, rank and rule; its suggestion
    -- and rationale are those it was decided on, not rule 0's.)
    UPDATE tdm.conflict c
       SET rule = CASE WHEN c.status IN ('decided', 'applied') THEN c.rule ELSE 'manual' END,
           class = CASE WHEN c.status IN ('decided', 'applied') THEN c.class ELSE 'complex' END,
           survivor = CASE WHEN c.status IN ('decided', 'applied') THEN c.survivor ELSE 0 END,
           rekeyed = CASE WHEN c.status IN ('decided', 'applied') THEN c.rekeyed ELSE '{}' END,
           priority = CASE WHEN c.status IN ('decided', 'applied') THEN c.priority
                           WHEN m.core_columns && x.changed THEN 1 ELSE 3 END,
           status = CASE c.status WHEN 'auto_resolved' THEN 'pending' ELSE c.status END,
           suggestion = CASE WHEN x.others IS NULL THEN 'keep master' ELSE c.suggestion END,
           rationale = format('the row%s of %s %s the one release %s loaded as %s in master (tdm.key_map),'
                              ' brought again with %s changed',
                              CASE WHEN x.plural THEN 's' END, coalesce(x.brought, x.returning),
                              CASE WHEN x.plural THEN 'are' ELSE 'is' END,
                              c.members -> 0 -> 'row' ->> m.release_column,
                              tdm._key_label(m.pk_columns, c.members -> 0 -> 'row'), array_to_string(x.changed, ', '))
                       || CASE WHEN x.others IS NULL
                               THEN ': master''s row stays as it is (keep master: the row is merged into it), or'
                                    ' keep_all to add it as another entity'
                               ELSE format('; the row of %s is another entity with that key: keep_all adds them all'
                                           ' as new rows (what %s brought again, as copies of master''s row); for'
                                           ' master''s row to stay as it is, undo the change in %s (or take the row'
                                           ' off the release), then tag the release again and consolidate: %s''s'
                                           ' row is then re-keyed alone', x.others, x.brought, x.brought, x.others)
                          END
      FROM tdm.managed_table m,
           -- Per conflict: the environments whose rows are brought again
           -- (re-keyed by rule 0, `brought`), the others', and the columns
           -- the rows brought again changed.
           (SELECT c2.conflict_id,
                   string_agg(DISTINCT e.m ->> 'env', ', ') FILTER (WHERE b.returning) AS returning,
                   string_agg(DISTINCT e.m ->> 'env', ', ') FILTER (WHERE b.returning AND e.n - 1 = ANY (c2.rekeyed))
                     AS brought,
                   string_agg(DISTINCT e.m ->> 'env', ', ') FILTER (WHERE NOT b.returning) AS others,
                   CASE WHEN bool_and(b.returning) THEN count(*)
                        ELSE count(*) FILTER (WHERE b.returning AND e.n - 1 = ANY (c2.rekeyed)) END > 1 AS plural,
                   -- (all brought again: the columns that differ; else those
                   -- the rows brought again changed from master's)
                   CASE WHEN bool_and(b.returning)
                        THEN ARRAY(SELECT k FROM jsonb_object_keys(c2.differing) AS k ORDER BY k)
                        ELSE (SELECT array_agg(DISTINCT kv.key ORDER BY kv.key)
                                FROM jsonb_array_elements(c2.members) WITH ORDINALITY AS r(m, n)
                                JOIN pg_temp.tdm_brought_member b2 ON b2.conflict_id = c2.conflict_id AND b2.n = r.n
                               CROSS JOIN LATERAL jsonb_each(r.m -> 'row') AS kv
                               WHERE r.n - 1 = ANY (c2.rekeyed) AND kv.key NOT IN (mt.release_column, mt.feature_column)
                                 AND kv.value IS DISTINCT FROM c2.members -> 0 -> 'row' -> kv.key) END AS changed
              FROM tdm.conflict c2
              JOIN tdm.managed_table mt ON mt.rel = c2.rel
             CROSS JOIN LATERAL jsonb_array_elements(c2.members) WITH ORDINALITY AS e(m, n)
             CROSS JOIN LATERAL (SELECT EXISTS (SELECT FROM pg_temp.tdm_brought_member r
                                                 WHERE r.conflict_id = c2.conflict_id AND r.n = e.n) AS returning) b
             WHERE c2.run_id = run AND c2.rel = the_rel AND c2.kind = 'duplicate_pk'
               AND c2.members -> 0 ->> 'env' = 'master' AND e.n > 1
             GROUP BY c2.conflict_id, c2.members, c2.rel, c2.rekeyed, c2.differing, mt.release_column,
                      mt.feature_column) x
     WHERE c.run_id = run AND c.rel = the_rel AND m.rel = c.rel AND c.conflict_id = x.conflict_id
       AND c.kind = 'duplicate_pk'
       AND c.status IN ('auto_resolved', 'pending', 'stale', 'decided', 'applied') AND c.members -> 0 ->> 'env' = 'master'
       AND (c.rule = 'distinct_entities'
            OR (c.rule = 'manual' AND c.rationale LIKE '%different entities that collided on an environment-local key%'))
       AND (x.others IS NULL OR (x.brought IS NOT NULL AND x.changed IS NOT NULL));
  END IF;
  -- Master's row under a key tdm generated for it (an earlier release's
  -- row re-keyed, tdm.key_map) holds no environment's key: a collected
  -- row that meets it by that key alone (no natural key both hold), not
  -- that row brought again (tdm._translate_returning finds those), is
  -- another entity that happens to have the key tdm chose (a second copy
  -- of one DVD), or master's row itself, where the environment was
  -- refreshed from master. A rule would merge them (identical, or
  -- complementary); a reviewer says which instead (keep_all: another
  -- entity; keep master: the refreshed row). Not on a uuid key: a
  -- generated uuid met again is master's row.
  IF to_regclass('pg_temp.tdm_returning') IS NOT NULL AND tdm._rekeyable(the_rel)
     AND (SELECT tdm._base_type(a.atttypid) <> 'uuid'::regtype FROM tdm.managed_table mt
            JOIN pg_attribute a ON a.attrelid = mt.rel AND a.attname = tdm._rekeyed_column(mt.rel)
           WHERE mt.rel = the_rel)
     AND EXISTS (SELECT FROM tdm.key_map k WHERE k.run_id = ANY (master_runs) AND k.rel = the_rel
                                             AND k.reason = 'rekeyed') THEN
    UPDATE tdm.conflict c
       SET kind = 'duplicate_pk', rule = 'manual', class = 'complex', priority = 3, status = 'pending',
           survivor = 0, rekeyed = '{}',
           suggestion = format('keep all; re-key the row%s of %s (%s stays with master)',
                               CASE WHEN x.others > 1 THEN 's' END, x.envs, x.key_label),
           rationale = format('master''s row %s is the row %s''s %s got from tdm in release %s (tdm.key_map), not a'
                              ' row of that key in an environment: %s''s row%s of that key %s another entity (keep_all),'
                              ' unless %s refreshed from master (keep master)',
                              x.key_label, g.env, g.from_key, g.release, x.envs,
                              CASE WHEN x.others > 1 THEN 's' END, CASE WHEN x.others > 1 THEN 'are' ELSE 'is' END,
                              CASE WHEN x.others > 1 THEN 'they were' ELSE 'it was' END)
      FROM (SELECT c2.conflict_id, jsonb_array_length(c2.members) - 1 AS others,
                   tdm._release_envs(c2.members) AS envs, tdm._key_label(mt.pk_columns, c2.members -> 0 -> 'row') AS key_label,
                   (SELECT jsonb_object_agg(p, c2.members -> 0 -> 'row' -> p) FROM unnest(mt.pk_columns) AS p) AS master_key
              FROM tdm.conflict c2
              JOIN tdm.managed_table mt ON mt.rel = c2.rel
             WHERE c2.run_id = run AND c2.rel = the_rel AND c2.kind <> 'relationship'
               AND c2.status = 'auto_resolved' AND c2.rule <> 'distinct_entities'
               AND c2.members -> 0 ->> 'env' = 'master'
               -- (a natural key both hold joined them: one entity)
               AND NOT EXISTS (SELECT FROM unnest(mt.natural_keys) AS nk,
                                           jsonb_array_elements(c2.members) WITH ORDINALITY AS e(mem, n)
                                WHERE e.n > 1
                                  AND NOT EXISTS (SELECT FROM unnest(string_to_array(nk, ',')) AS col
                                                   WHERE coalesce(jsonb_typeof(c2.members -> 0 -> 'row' -> col), 'null') = 'null'
                                                      OR coalesce(jsonb_typeof(e.mem -> 'row' -> col), 'null') = 'null'))
               -- (a row brought again under the key tdm gave it: master's)
               AND NOT EXISTS (SELECT FROM pg_temp.tdm_brought_member b WHERE b.conflict_id = c2.conflict_id)) x
      -- (the keys tdm generated in master's runs, once, the first run's entry each)
      JOIN (SELECT DISTINCT ON (k.new_key) k.new_key, k.env,
                   tdm._key_label((SELECT mt.pk_columns FROM tdm.managed_table mt WHERE mt.rel = the_rel), k.old_key) AS from_key,
                   r.release
              FROM tdm.key_map k JOIN tdm.run r ON r.run_id = k.run_id
             WHERE k.run_id = ANY (master_runs) AND k.rel = the_rel AND k.reason = 'rekeyed' AND k.old_key <> k.new_key
             ORDER BY k.new_key, k.run_id) g ON g.new_key = x.master_key
     WHERE c.run_id = run AND c.conflict_id = x.conflict_id;
  END IF;
  -- (tdm._apply_table refuses a conflict whose members were not located.)
  CREATE INDEX ON pg_temp.tdm_member_rows (conflict_id);
  ANALYZE pg_temp.tdm_member_rows;
END
$$;

-- Whether tdm._translate_returning brought rows of `rel` again in this
-- call (false where it did not run: a direct call of tdm._apply_table).
CREATE FUNCTION tdm._has_returning(rel regclass) RETURNS bool
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  found bool := false;
BEGIN
  IF to_regclass('pg_temp.tdm_returning') IS NOT NULL THEN
    EXECUTE 'SELECT EXISTS (SELECT FROM pg_temp.tdm_returning b WHERE b.rel = $1)' INTO found USING rel;
  END IF;
  RETURN found;
END
$$;

-- A survivor's row (its environment and key), as a message says where a
-- row is merged.
CREATE FUNCTION tdm._merged_into(into_env text, into_key text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format('merged into %s''s row (%s)', into_env, array_to_string(into_key, ', '))
$$;

-- The circles of merges in this table's plan (pg_temp.tdm_plan) that pass
-- through a decision's merge: tdm_merge_edge holds each merge, a row
-- (from) into its survivor's row (into), and tdm_circle each circle as
-- the path of its edges, starting with a decision's. Dropped by the
-- caller.
CREATE FUNCTION tdm._merge_circles() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  -- Numbered by row, not by plan order: the circle reported (the one with
  -- the lowest numbers) starts at the same row on every run.
  CREATE TEMP TABLE tdm_merge_edge ON COMMIT DROP AS
  SELECT row_number() OVER (ORDER BY t.env, t.key, t.conflict_id, t.member) AS id, t.conflict_id, t.member, t.by_rule, t.env, t.key,
         t.row_ctid AS from_ctid, k.env AS into_env, k.key AS into_key, k.row_ctid AS into_ctid
    FROM pg_temp.tdm_plan t JOIN pg_temp.tdm_plan k ON k.conflict_id = t.conflict_id AND k.member = t.survivor
   WHERE t.role = 'drop' AND k.row_ctid <> t.row_ctid;
  CREATE INDEX ON pg_temp.tdm_merge_edge (from_ctid);
  ANALYZE pg_temp.tdm_merge_edge;
  -- (Walked from the decisions' merges, few; an edge is not taken twice,
  -- so the walk ends.)
  CREATE TEMP TABLE tdm_circle ON COMMIT DROP AS
  WITH RECURSIVE walk AS (
    SELECT e.from_ctid AS start, e.into_ctid AS at, ARRAY[e.id] AS path
      FROM pg_temp.tdm_merge_edge e WHERE NOT e.by_rule
    UNION ALL
    SELECT w.start, e.into_ctid, w.path || e.id
      FROM walk w JOIN pg_temp.tdm_merge_edge e ON e.from_ctid = w.at
     WHERE w.at <> w.start AND e.id <> ALL (w.path))
  SELECT w.path FROM walk w WHERE w.at = w.start;
END
$$;

-- `cols` of `rel` as a reviewer gives them values: a stored generated
-- column (a natural key lower(email)) by the columns it reads.
CREATE FUNCTION tdm._written_columns(rel regclass, cols text[]) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT array_agg(DISTINCT w.col ORDER BY w.col)
    FROM unnest(cols) AS c(col)
    LEFT JOIN tdm._generated_columns(rel) g ON g.column_name = c.col
   CROSS JOIN LATERAL unnest(CASE WHEN g.column_name IS NULL THEN ARRAY[c.col] ELSE g.reads END) AS w(col)
$$;

-- The columns of the keys (the primary key, each natural key) that rows
-- `a` and `b` of `rel` (jsonb) hold alike; NULL when they share none. A
-- keep_all's renames set a row apart from the row a rule merges it into
-- only when they share none: else the renamed row is still that entity,
-- or still collides with it (decision 433).
CREATE FUNCTION tdm._key_shared(rel regclass, a jsonb, b jsonb) RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  m tdm.managed_table := (SELECT x FROM tdm.managed_table x WHERE x.rel = _key_shared.rel);
  cols text[];
  shared text[];
BEGIN
  FOR cols IN SELECT m.pk_columns
              UNION ALL SELECT string_to_array(g, ',') FROM unnest(m.natural_keys) AS g LOOP
    IF coalesce(tdm._same_key(rel, cols, a, b, tdm._normalized_key(m, cols)), false) THEN
      shared := coalesce(shared, '{}') || ARRAY(SELECT x FROM unnest(cols) AS x WHERE x <> ALL (coalesce(shared, '{}')));
    END IF;
  END LOOP;
  RETURN shared;
END
$$;

-- Applies the settled conflicts of one table to its collected rows, in
-- this order: patches (merged values, renames), new keys, rows merged away
-- (mapped to their survivor's final key), deleted rows. Returns the rows
-- merged away, re-keyed or renamed, and deleted.
CREATE FUNCTION tdm._apply_table(run bigint, target_rel regclass, the_rel regclass,
                                 OUT merged bigint, OUT renamed bigint, OUT deleted bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
-- The run's conflicts were written in this transaction: no statistics yet,
-- and a nested loop over them would be quadratic. (Disabling a plan type
-- inflates the costs, which would make PostgreSQL JIT-compile every
-- statement: 100-200 ms each, for statements that take a few.) The
-- statements that fetch collected rows by location turn nested loops on
-- for themselves (tdm._by_location); the join settings are restored on
-- return.
SET enable_nestloop TO off SET enable_hashjoin TO on SET enable_mergejoin TO on SET jit TO off AS $$
DECLARE
  m tdm.managed_table;
  unkeyed record;  -- keep_all rows a table that cannot take generated keys needs keys for
  collected regclass := format('pg_temp.%I', tdm._collected_name(the_rel))::regclass;
  key_text text;
  key_json text;
  patch_set text;
  new_key text;      -- the expression giving a re-keyed row its key
  delete_role text;  -- deletes the collected rows of the plan's role $1
  n bigint;
  decided text;      -- reviewers' keep_all decisions that leave new keys to tdm
  key_columns text[];   -- the primary and natural keys' columns
  orphaned_keys bool;   -- rows whose key names a deleted parent
  clash record;         -- two decisions merging one row into two rows
  rule_drop record;     -- a renamed row a rule merges away
  circle record;        -- decisions merging rows in a circle
  rekeyed_col text := tdm._rekeyed_column(the_rel);  -- the key column a re-keyed row gets anew
  key_at int := tdm._rekeyed_position(the_rel);      -- its place in keys held as arrays
  keys_given bool := rekeyed_col IS NOT NULL AND tdm._rekeyable(the_rel);  -- tdm can generate new keys
  no_room text;  -- why no new key fits
  key_seq regclass;  -- the sequence new keys continue
BEGIN
  SELECT * INTO m FROM tdm.managed_table WHERE rel = the_rel;
  key_text := tdm._key_text(m.pk_columns, 't');
  key_json := tdm._key_json(the_rel, m.pk_columns, 't');
  -- (A stored generated column is computed again from the patched row,
  -- as the target will compute it: a natural key lower(email) follows a
  -- renamed email.)
  patch_set := (SELECT string_agg(CASE WHEN g.expr IS NULL
                                       THEN format('%1$I = CASE WHEN p.patch ? %1$L THEN (p.patch->>%1$L)::%2$s'
                                                   ' ELSE t.%1$I END', c.column_name, c.column_type)
                                       ELSE format('%1$I = CASE WHEN p.patch ?| %2$L THEN (SELECT (%3$s)'
                                                   ' FROM jsonb_populate_record(t.*, p.patch) AS g) ELSE t.%1$I END',
                                                   c.column_name, g.reads, g.expr) END, ', ')
                  FROM tdm._columns(the_rel) c
                  LEFT JOIN tdm._generated_columns(the_rel) g USING (column_name));

  -- Members from the conflicts' own arrays (the table's conflicts, by
  -- index), each with its collected row's location as detection found it
  -- (pg_temp.tdm_member_rows): the rows are updated and deleted there,
  -- not found again by key in each statement (2.6 s -> 0.3 s to delete
  -- 337,000 of 6 million rows). A member's label (for renames) only where
  -- a decision renames.
  IF to_regclass('pg_temp.tdm_plan') IS NOT NULL THEN
    DROP TABLE pg_temp.tdm_plan;
  END IF;
  EXECUTE format(
    'CREATE TEMP TABLE tdm_plan ON COMMIT DROP AS'
    ' SELECT c.conflict_id, e.member, e.m ->> ''env'' AS env, %s AS key, %s AS old_json, $2 AS rel,'
    '        l.locations[e.member + 1] AS row_ctid,'
    -- Master's rows (tdm._collect_earlier) stay whatever is decided.
    '        CASE WHEN e.m ->> ''env'' = ''master'' THEN ''keep'''
    '             WHEN r.action = ''delete_all'' THEN ''delete'''
    '             WHEN r.action IN (''keep'', ''merge'') AND e.member <> r.survivor THEN ''drop'''
    '             WHEN e.member = ANY (r.rekeyed) THEN ''rekey'''
    '             ELSE ''keep'' END AS role,'
    '        r.survivor,'
    '        CASE WHEN r.action = ''merge'' AND e.member = r.survivor AND r.by_rule THEN ''{}''::jsonb'
    '             WHEN r.action = ''merge'' AND e.member = r.survivor THEN r.merged'
    '             WHEN r.action = ''keep_all'' AND r.renames IS NOT NULL'
    '               THEN r.renames -> (SELECT cm.label FROM tdm.conflict_member cm'
    '                                   WHERE cm.run_id = c.run_id AND cm.conflict_id = c.conflict_id'
    '                                     AND cm.member = e.member) END AS patch,'
    '        r.action = ''keep_all'' AS renaming, r.by_rule'
    '   FROM tdm.conflict c'
    -- (Looked up per conflict: the run's conflicts have no statistics yet,
    -- and a hash join would hash them, members and all.)
    '   LEFT JOIN LATERAL (SELECT l.locations FROM pg_temp.tdm_member_rows l'
    '                       WHERE l.conflict_id = c.conflict_id OFFSET 0) l ON true'
    -- Rules inline; decisions (few) through tdm._resolution.
    '  CROSS JOIN LATERAL ('
    '    SELECT CASE c.rule WHEN ''distinct_entities'' THEN ''keep_all'''
    '                       WHEN ''non_conflicting_merge'' THEN ''merge'' ELSE ''keep'' END AS action,'
    '           c.survivor, c.rekeyed, c.merged, NULL::jsonb AS renames, true AS by_rule'
    '     WHERE c.status = ''auto_resolved'''
    '    UNION ALL'
    '    SELECT *, false FROM tdm._resolution(c) WHERE c.status = ''decided'') r'
    '  CROSS JOIN LATERAL (SELECT x.m, (x.n - 1)::int AS member'
    '                        FROM jsonb_array_elements(c.members) WITH ORDINALITY AS x(m, n)) e'
    '  WHERE c.run_id = $1 AND c.rel = $2 AND c.kind <> ''relationship'''
    '    AND c.status IN (''auto_resolved'', ''decided'') AND r.action IS NOT NULL',
    tdm._member_key(the_rel, m.pk_columns), tdm._member_key_json(m.pk_columns))
    USING run, the_rel;
  IF EXISTS (SELECT 1 FROM pg_temp.tdm_plan WHERE row_ctid IS NULL) THEN
    RAISE EXCEPTION 'consolidate: %: conflict members without a collected row', the_rel
      USING ERRCODE = 'internal_error',
            HINT = 'Detection and apply must run in the same call of tdm.consolidate.';
  END IF;
  -- Dates a reviewer typed into a date_shift column are shifted, as
  -- collected ones were (tdm._shift_typed).
  IF EXISTS (SELECT 1 FROM tdm.mask k WHERE k.rel = the_rel AND k.method = 'date_shift') THEN
    UPDATE pg_temp.tdm_plan p SET patch = tdm._shift_typed(the_rel, p.patch, c.members)
      FROM tdm.conflict c
     WHERE c.run_id = run AND c.conflict_id = p.conflict_id AND NOT p.by_rule AND p.patch IS NOT NULL;
  END IF;
  -- A row a reviewer's decision merges away or deletes is not merged by a
  -- rule elsewhere: a merge on a key collision says the row is the first
  -- member's entity, whatever its natural key's conflict would merge it
  -- into (else its children went to that other row, the decision
  -- `applied` and overruled).
  -- (Rules alone, the common case, have nothing to outrank.)
  IF EXISTS (SELECT 1 FROM tdm.conflict c WHERE c.run_id = run AND c.rel = the_rel AND c.status = 'decided') THEN
    DELETE FROM pg_temp.tdm_plan t
     WHERE t.role = 'drop' AND t.by_rule
       AND EXISTS (SELECT 1 FROM pg_temp.tdm_plan p
                    WHERE p.row_ctid = t.row_ctid AND p.role IN ('drop', 'delete') AND NOT p.by_rule);
    -- Nor merged by a rule along a circle of merges that a decision
    -- closes (the rule keeps st1's exact duplicate of an order over st2's,
    -- the reviewer keeps st2's on their key collision; or, four rows
    -- round, two entities' rules and two key collisions' keeps): else each
    -- row of the circle was merged into the next and none loaded. The
    -- decision outranks: the rule's merge out of the row it keeps goes.
    -- A circle of decisions alone is refused, naming them.
    -- (Only where a decision merges a row away: a keep_all or delete_all
    -- alone closes no circle.)
    IF EXISTS (SELECT FROM pg_temp.tdm_plan t WHERE t.role = 'drop' AND NOT t.by_rule) THEN
      PERFORM tdm._merge_circles();
      SELECT string_agg(DISTINCT e.conflict_id, ', ') AS conflicts,
             string_agg(format('%s''s row (%s) %s', e.env, array_to_string(e.key, ', '),
                               tdm._merged_into(e.into_env, e.into_key)), '; ' ORDER BY x.n) AS circle
        INTO circle
        FROM (SELECT c.path FROM pg_temp.tdm_circle c
               WHERE NOT EXISTS (SELECT FROM pg_temp.tdm_merge_edge e WHERE e.id = ANY (c.path) AND e.by_rule)
               ORDER BY c.path LIMIT 1) c
       CROSS JOIN LATERAL unnest(c.path) WITH ORDINALITY AS x(id, n)
        JOIN pg_temp.tdm_merge_edge e ON e.id = x.id;
      IF circle.conflicts IS NOT NULL THEN
        RAISE EXCEPTION 'consolidate: %: the decisions on % merge rows in a circle, and none of them would load: %',
          the_rel, circle.conflicts, circle.circle
          USING ERRCODE = 'object_not_in_prerequisite_state',
                HINT = 'Decide one of them again so that it keeps a row the others do not merge away (tdm.resolve),'
                       ' then consolidate again; nothing was loaded.';
      END IF;
      DELETE FROM pg_temp.tdm_plan t
       USING pg_temp.tdm_circle c CROSS JOIN LATERAL unnest(c.path) WITH ORDINALITY AS x(id, n),
             pg_temp.tdm_merge_edge e, pg_temp.tdm_merge_edge before
       WHERE e.id = x.id AND e.by_rule
         AND before.id = c.path[CASE x.n WHEN 1 THEN cardinality(c.path) ELSE x.n - 1 END] AND NOT before.by_rule
         AND t.conflict_id = e.conflict_id AND t.member = e.member AND t.role = 'drop' AND t.by_rule;
      DROP TABLE pg_temp.tdm_circle, pg_temp.tdm_merge_edge;
    END IF;
  END IF;
  -- Two reviewers' decisions that merge one row into two rows (a row in
  -- its key collision and its entity's conflict: keep another member on
  -- one, merge on the other) would load one of them and say both
  -- applied, the row's children going where one of them sends it, and
  -- the key map holding both. Refused, naming both, before anything
  -- changes: the reviewers decide one again so that they agree. (Merged
  -- into the same row by both agrees; deleted by one, it is deleted, as
  -- below.)
  IF (SELECT count(*) FROM tdm.conflict c WHERE c.run_id = run AND c.rel = the_rel AND c.status = 'decided') > 1 THEN
    SELECT a.conflict_id AS first, b.conflict_id AS second, a.env, a.key,
           tdm._merged_into(ta.env, ta.key) AS first_fate, tdm._merged_into(tb.env, tb.key) AS second_fate
      INTO clash
      FROM pg_temp.tdm_plan a
      JOIN pg_temp.tdm_plan b ON b.row_ctid = a.row_ctid AND b.conflict_id > a.conflict_id
      LEFT JOIN pg_temp.tdm_plan ta ON ta.conflict_id = a.conflict_id AND ta.member = a.survivor
      LEFT JOIN pg_temp.tdm_plan tb ON tb.conflict_id = b.conflict_id AND tb.member = b.survivor
     WHERE NOT a.by_rule AND NOT b.by_rule AND a.role = 'drop' AND b.role = 'drop'
       AND ta.row_ctid IS DISTINCT FROM tb.row_ctid
     ORDER BY a.conflict_id, b.conflict_id LIMIT 1;
    IF clash.first IS NOT NULL THEN
      RAISE EXCEPTION 'consolidate: %: the decisions on % and % merge %''s row (%) into two rows: % by the first, % by the second',
        the_rel, clash.first, clash.second, clash.env, array_to_string(clash.key, ', '), clash.first_fate,
        clash.second_fate
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = format('The row is a member of both conflicts. Decide one of them again so that they agree'
                            ' (tdm.resolve(%L, ...) or tdm.resolve(%L, ...)), then consolidate again; nothing was'
                            ' loaded.', clash.first, clash.second);
    END IF;
  END IF;
  -- A row a reviewer's keep_all renames apart from the row a rule merges
  -- it into (its natural key's conflict, by the values it had) is another
  -- entity: the rule gives way. Renames that leave it one with that row
  -- (the same primary key or natural key) would be lost: refused, as the
  -- decision check refuses them (p309, p313, p314). A decision that merges
  -- it away or deletes it is refused at the call, naming both: the
  -- decision check cannot see the order decisions come in, withdrawals or
  -- approvals.
  IF EXISTS (SELECT FROM pg_temp.tdm_plan p WHERE NOT p.by_rule AND p.patch <> '{}') THEN
    -- (and a row a rule merges into another that a keep_all renames
    -- apart from it: the row merged would take values that are not its
    -- entity's, and none would keep its own, p317)
    FOR rule_drop IN
      SELECT g.*,
             tdm._key_shared(the_rel, tdm._patched_row(the_rel, rc.members -> g.member -> 'row', g.patch,
                                                       g.renamed_by),
                             tdm._patched_row(the_rel, rc.members -> g.survivor -> 'row', g.into_patch,
                                              g.into_renamed_by)) AS shared,
             tdm._key_shared(the_rel, rc.members -> g.member -> 'row', rc.members -> g.survivor -> 'row')
               AS shared_before,
             rc.rule
        -- (a decision's values of a row: a keep_all's renames, a merge's
        -- merged values for the row it keeps, p318)
        FROM (WITH patched AS MATERIALIZED (
                     SELECT DISTINCT ON (x.row_ctid) x.row_ctid, x.patch, x.conflict_id, x.renaming
                       FROM pg_temp.tdm_plan x
                      WHERE NOT x.by_rule AND x.patch <> '{}' AND x.role IN ('keep', 'rekey')
                      ORDER BY x.row_ctid, x.renaming DESC, x.conflict_id)
              SELECT t.conflict_id, t.member, t.survivor, t.env, t.key, rp.conflict_id AS renamed_by, rp.patch,
                     s.env AS into_env, s.key AS into_key, sp.conflict_id AS into_renamed_by, sp.patch AS into_patch,
                     CASE WHEN sp.renaming THEN 'renames' ELSE 'merged values' END AS into_values
                FROM pg_temp.tdm_plan t
                JOIN pg_temp.tdm_plan s ON s.conflict_id = t.conflict_id AND s.member = t.survivor
                LEFT JOIN patched rp ON rp.row_ctid = t.row_ctid AND rp.renaming
                LEFT JOIN patched sp ON sp.row_ctid = s.row_ctid
               WHERE t.role = 'drop' AND t.by_rule AND (rp.row_ctid IS NOT NULL OR sp.row_ctid IS NOT NULL)
              -- (few: their conflicts read by key, not the run's all hashed)
              OFFSET 0) g
        CROSS JOIN LATERAL (SELECT x.members, x.rule FROM tdm.conflict x
                             WHERE x.conflict_id = g.conflict_id AND x.run_id = run) rc
       ORDER BY g.conflict_id, g.member LOOP
      IF rule_drop.renamed_by IS NOT NULL AND rule_drop.shared IS NOT NULL THEN
        RAISE EXCEPTION 'consolidate: %: the keep_all of % renames %''s row (%), but rule % of % merges it into %''s (%), and the renamed row still has its %: the renames would not apply',
          the_rel, rule_drop.renamed_by, rule_drop.env, array_to_string(rule_drop.key, ', '), rule_drop.rule, rule_drop.conflict_id,
          rule_drop.into_env, array_to_string(rule_drop.into_key, ', '), tdm._column_names(rule_drop.shared)
          USING ERRCODE = 'object_not_in_prerequisite_state',
                HINT = format('Decide %s again: leave %s out of the renames (its row is then loaded as %s''s),'
                              ' or give it a %s of its own as well (another entity: the rule then gives way),'
                              ' then consolidate again; nothing was loaded.', rule_drop.renamed_by, rule_drop.env,
                              rule_drop.into_env,
                              tdm._column_names(tdm._written_columns(the_rel, rule_drop.shared)));
      -- (a row the rule merges into it through another, sharing no key
      -- with it, is that other's case)
      ELSIF rule_drop.renamed_by IS NULL AND rule_drop.shared IS NULL AND rule_drop.shared_before IS NOT NULL THEN
        RAISE EXCEPTION 'consolidate: %: the % of % set %''s row (%) apart from %''s (%), which rule % of % merges into it by its %: that row would take them, and no row would keep its own',
          the_rel, rule_drop.into_values, rule_drop.into_renamed_by, rule_drop.into_env,
          array_to_string(rule_drop.into_key, ', '), rule_drop.env, array_to_string(rule_drop.key, ', '),
          rule_drop.rule, rule_drop.conflict_id, tdm._column_names(rule_drop.shared_before)
          USING ERRCODE = 'object_not_in_prerequisite_state',
                HINT = format('Decide %s as well: keep_all there, with %s''s new %s in its renames, keeps the two'
                              ' rows apart (keep there says which row the entity is); or leave %s''s %s as it is'
                              ' in the %s of %s; then consolidate again; nothing was loaded.',
                              rule_drop.conflict_id, rule_drop.into_env,
                              tdm._column_names(tdm._written_columns(the_rel, rule_drop.shared_before)),
                              rule_drop.into_env,
                              tdm._column_names(tdm._written_columns(the_rel, rule_drop.shared_before)),
                              rule_drop.into_values, rule_drop.into_renamed_by);
      ELSIF rule_drop.renamed_by IS NOT NULL THEN
        DELETE FROM pg_temp.tdm_plan t WHERE t.conflict_id = rule_drop.conflict_id AND t.member = rule_drop.member;
      END IF;
    END LOOP;
    SELECT t.conflict_id AS first, p.conflict_id AS second, t.env, t.key,
           CASE t.role WHEN 'delete' THEN 'deletes' ELSE 'merges away' END AS first_fate
      INTO clash
      FROM pg_temp.tdm_plan t
      JOIN pg_temp.tdm_plan p ON p.row_ctid = t.row_ctid AND p.conflict_id <> t.conflict_id
     WHERE t.role IN ('drop', 'delete') AND NOT t.by_rule
       AND p.renaming AND NOT p.by_rule AND p.patch <> '{}' AND p.role IN ('keep', 'rekey')
     ORDER BY t.conflict_id, p.conflict_id LIMIT 1;
    IF clash.first IS NOT NULL THEN
      RAISE EXCEPTION 'consolidate: %: the decision on % % %''s row (%), which the keep_all of % renames',
        the_rel, clash.first, clash.first_fate, clash.env, array_to_string(clash.key, ', '), clash.second
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = format('The row is a member of both conflicts. Decide %s again (keep_all keeps the row as an'
                            ' entity of its own), or leave %s out of the renames of %s (tdm.resolve), then'
                            ' consolidate again; nothing was loaded.', clash.first, clash.env, clash.second);
    END IF;
  END IF;
  -- Nor is a row whose key names a deleted parent (a line whose order a
  -- decision deleted, kept by a reviewer or waiting for one) merged by a
  -- rule into another row with that key: it is the deleted parent's, not
  -- that row's entity. It stays, for validation to refuse its reference
  -- (else the reviewer's keep was overruled and the row lost, unsaid).
  -- (tdm_orphans is the consolidation's: a call of this function alone,
  -- as a test makes, has none. Asked in a statement of its own, as the
  -- table is planned with the whole condition.)
  IF to_regclass('pg_temp.tdm_orphans') IS NOT NULL THEN
    key_columns := m.pk_columns || ARRAY(SELECT btrim(x) FROM unnest(m.natural_keys) AS g,
                                                unnest(string_to_array(g, ',')) AS x);
    EXECUTE 'SELECT EXISTS (SELECT FROM pg_temp.tdm_orphans o WHERE o.rel = $1 AND o.columns && $2)'
      INTO orphaned_keys USING the_rel, key_columns;
    IF orphaned_keys THEN
      EXECUTE format(
        'DELETE FROM pg_temp.tdm_plan p USING %s t, pg_temp.tdm_orphans o'
        ' WHERE p.role = ''drop'' AND p.by_rule AND t.ctid = p.row_ctid'
        '   AND o.rel = $1 AND o.env = t.tdm_env AND o.row_hash = t.tdm_row_hash AND o.columns && $2',
        collected)
        USING the_rel, key_columns;
    END IF;
  END IF;
  -- A row in several conflicts (a key collision and its own entity): being
  -- merged away or deleted outranks being re-keyed, and being kept.
  IF to_regclass('pg_temp.tdm_redirect') IS NOT NULL THEN
    DROP TABLE pg_temp.tdm_redirect;
    DROP TABLE pg_temp.tdm_gone;
  END IF;
  -- (The survivors' entries taken out of the plan, kept: a merge chain
  -- passes through them.)
  CREATE TEMP TABLE tdm_gone ON COMMIT DROP AS
  WITH gone AS (
    DELETE FROM pg_temp.tdm_plan t
     WHERE t.role IN ('keep', 'rekey')
       AND EXISTS (SELECT 1 FROM pg_temp.tdm_plan p
                    WHERE p.row_ctid = t.row_ctid AND p.role IN ('drop', 'delete'))
    RETURNING t.*)
  SELECT * FROM gone WHERE gone.member = gone.survivor;
  -- The rows merged into a survivor that another conflict merges away or
  -- deletes (a reviewer's delete_all, or keep of the other entity, on the
  -- key collision of the row an environment's copy was merged into): each
  -- goes where its survivor goes (into). Without this, such a copy was
  -- mapped nowhere: its children kept their environment's key, another
  -- entity's.
  CREATE TEMP TABLE tdm_redirect ON COMMIT DROP AS
  SELECT p.conflict_id, p.member, g.row_ctid AS into_ctid, g.env AS into_env, g.key AS into_key,
         g.old_json AS into_json, NULL::text AS deleted_by
    FROM pg_temp.tdm_gone g JOIN pg_temp.tdm_plan p ON p.conflict_id = g.conflict_id AND p.member <> g.member
                                                   AND p.survivor = g.member AND p.role = 'drop';
  IF EXISTS (SELECT FROM pg_temp.tdm_redirect) THEN
    -- Along merges (a survivor merged into another row, that one into a
    -- third...), as far as a row that is kept or deleted; a survivor on
    -- the way may itself be merged away elsewhere (tdm_gone).
    FOR hop IN 1..16 LOOP
      UPDATE pg_temp.tdm_redirect r
         SET into_ctid = s.row_ctid, into_env = s.env, into_key = s.key, into_json = s.old_json
        FROM pg_temp.tdm_plan d
        JOIN (SELECT x.conflict_id, x.member, x.row_ctid, x.env, x.key, x.old_json FROM pg_temp.tdm_plan x
              UNION ALL
              SELECT x.conflict_id, x.member, x.row_ctid, x.env, x.key, x.old_json FROM pg_temp.tdm_gone x) s
          ON s.conflict_id = d.conflict_id AND s.member = d.survivor
       WHERE d.row_ctid = r.into_ctid AND d.role = 'drop' AND s.row_ctid <> r.into_ctid;
      EXIT WHEN NOT FOUND;
    END LOOP;
    -- Merged into a row a decision deletes: deleted with it, by that
    -- decision (its children become relationship conflicts, for a
    -- reviewer).
    UPDATE pg_temp.tdm_redirect r SET deleted_by = d.conflict_id
      FROM pg_temp.tdm_plan d WHERE d.row_ctid = r.into_ctid AND d.role = 'delete';
    UPDATE pg_temp.tdm_plan p SET role = 'delete'
      FROM pg_temp.tdm_redirect r
     WHERE p.conflict_id = r.conflict_id AND p.member = r.member AND r.deleted_by IS NOT NULL;
    -- A reviewer's merge whose survivor a rule merges away (its entity's
    -- copy elsewhere): the merged values go where its members go, the
    -- row that is kept, else they were lost unsaid.
    INSERT INTO pg_temp.tdm_plan (conflict_id, member, env, key, old_json, row_ctid, role, survivor, patch,
                                  renaming, by_rule)
    SELECT DISTINCT ON (g.conflict_id) g.conflict_id, g.member, r.into_env, r.into_key, r.into_json, r.into_ctid,
           'keep', g.survivor, g.patch, false, false
      FROM pg_temp.tdm_gone g JOIN pg_temp.tdm_redirect r ON r.conflict_id = g.conflict_id
     WHERE NOT g.by_rule AND g.patch IS NOT NULL AND NOT g.renaming AND r.deleted_by IS NULL
       AND EXISTS (SELECT FROM pg_temp.tdm_plan k WHERE k.row_ctid = r.into_ctid AND k.role IN ('keep', 'rekey'))
     ORDER BY g.conflict_id, r.member;
  END IF;
  ANALYZE pg_temp.tdm_plan;

  -- A non-conflicting merge fills the survivor's NULLs with the first other
  -- member's values (member order, as detection merged them), read from
  -- their collected rows as text: exact, where detection's spelling would
  -- re-spell a json value, a -0 or a numeric's scale (by the type's output
  -- function, concat: a cast to text drops a bpchar's blanks). Attributes only, as
  -- detection merges them (its `merged` row and suggestion say what is
  -- loaded): the survivor keeps its own timestamp and tags.
  IF EXISTS (SELECT 1 FROM pg_temp.tdm_plan p WHERE p.patch = '{}'::jsonb) THEN
    CREATE INDEX ON pg_temp.tdm_plan (conflict_id);  -- (each survivor's members)
    PERFORM tdm._by_location(true);
    EXECUTE format(
      'UPDATE pg_temp.tdm_plan p SET patch = x.patch'
      '  FROM (SELECT s.conflict_id, s.member, jsonb_strip_nulls(%1$s) AS patch'
      '          FROM pg_temp.tdm_plan s JOIN %2$s sv ON sv.ctid = s.row_ctid'
      '         WHERE s.patch = ''{}''::jsonb) x'
      ' WHERE p.conflict_id = x.conflict_id AND p.member = x.member',
      (SELECT string_agg(format('jsonb_build_object(%s)', o.pairs), ' || ')
         FROM (SELECT string_agg(format(
                 '%1$L, CASE WHEN sv.%1$I IS NULL THEN (SELECT concat(d.%1$I) FROM pg_temp.tdm_plan q'
                 ' JOIN %2$s d ON d.ctid = q.row_ctid WHERE q.conflict_id = s.conflict_id'
                 ' AND q.member <> s.member AND d.%1$I IS NOT NULL ORDER BY q.member LIMIT 1) END',
                 x.column_name, collected), ', ') AS pairs
                 FROM (SELECT c.column_name, row_number() OVER (ORDER BY c.ordinal) AS n
                         FROM tdm._columns(the_rel) c
                        WHERE c.column_name NOT IN (m.release_column, m.feature_column)
                          AND c.column_name IS DISTINCT FROM m.updated_at_column
                          AND c.column_name <> ALL (m.bookkeeping_columns)) x
                GROUP BY (x.n - 1) / 50) o),
      collected);
    PERFORM tdm._by_location(false);
  END IF;

  -- A row two decisions patch (its natural key renamed by its own
  -- conflict, its primary key by a key collision) takes both patches.
  -- (Rules patch a row once at most: its entity's merge.)
  IF EXISTS (SELECT 1 FROM tdm.conflict c WHERE c.run_id = run AND c.rel = the_rel AND c.status = 'decided') THEN
    UPDATE pg_temp.tdm_plan p SET patch = both_patches.patch
      FROM (SELECT q.row_ctid, jsonb_object_agg(e.key, e.value ORDER BY q.conflict_id) AS patch
              FROM pg_temp.tdm_plan q CROSS JOIN LATERAL jsonb_each(q.patch) AS e
             WHERE q.patch IS NOT NULL AND q.role IN ('keep', 'rekey')
             GROUP BY q.row_ctid HAVING count(DISTINCT q.conflict_id) > 1) both_patches
     WHERE p.row_ctid = both_patches.row_ctid AND p.patch IS NOT NULL AND p.role IN ('keep', 'rekey');
  END IF;

  -- Patches: merged values and renames; a changed key goes to the map. A
  -- patched row moves: the plan follows it to its new location.
  IF to_regclass('pg_temp.tdm_moved') IS NULL THEN
    -- (renamed: given another primary key; name_renamed: renamed by a
    -- keep_all's renames, its primary key unchanged)
    CREATE TEMP TABLE tdm_moved (old_ctid tid, new_ctid tid, renamed bool, name_renamed bool) ON COMMIT DROP;
  ELSE
    TRUNCATE pg_temp.tdm_moved;
  END IF;
  PERFORM tdm._by_location(true);
  EXECUTE format(
    'WITH changed AS (UPDATE %1$s t SET %2$s'
    '                   FROM (SELECT * FROM pg_temp.tdm_plan'
    '                          WHERE patch IS NOT NULL AND role IN (''keep'', ''rekey'')'
    '                          ORDER BY row_ctid) p'
    '                  WHERE t.ctid = p.row_ctid'
    '                 RETURNING t.tdm_env, p.key, p.old_json, %3$s AS new_key, %4$s AS new_json,'
    '                           p.conflict_id, p.row_ctid AS old_ctid, t.ctid AS new_ctid,'
    '                           EXISTS (SELECT 1 FROM pg_temp.tdm_plan q WHERE q.row_ctid = p.row_ctid'
    '                                      AND q.renaming AND q.patch IS NOT NULL) AS renaming),'
    '      moved AS (INSERT INTO pg_temp.tdm_moved'
    '                SELECT old_ctid, new_ctid, key <> new_key, renaming AND key = new_key FROM changed)'
    ' INSERT INTO pg_temp.tdm_keymap (rel, env, old_key, old_json, new_key, new_json, reason,'
    '                                 conflict_id)'
    ' SELECT $1, tdm_env, key, old_json, new_key, new_json, ''renamed'', conflict_id'
    '   FROM changed WHERE key <> new_key',
    collected, patch_set, key_text, key_json) USING the_rel;
  GET DIAGNOSTICS renamed = ROW_COUNT;
  -- (Rows a keep_all renamed, their primary key unchanged, are renamed
  -- rows too: the seed's "Keep Both (Rename)" gives two merchants new
  -- emails.)
  renamed := renamed + (SELECT count(*) FROM pg_temp.tdm_moved mv WHERE mv.name_renamed);
  PERFORM tdm._by_location(false);
  UPDATE pg_temp.tdm_plan p SET row_ctid = mv.new_ctid
    FROM pg_temp.tdm_moved mv WHERE p.row_ctid = mv.old_ctid;
  -- A key given by a decision outranks a generated one (a row renamed in
  -- one conflict and re-keyed in another keeps the reviewer's key).
  DELETE FROM pg_temp.tdm_plan p USING pg_temp.tdm_moved mv
   WHERE p.role = 'rekey' AND p.row_ctid = mv.new_ctid AND mv.renamed;

  -- (its refusal: a key it cannot generate; a sequence counting down
  -- too, p309)
  IF NOT keys_given
     AND EXISTS (SELECT 1 FROM pg_temp.tdm_plan WHERE role = 'rekey' AND NOT by_rule) THEN
    -- (A keep_all decided while the row was merged away by a rule, which
    -- a later decision undid: its check could not ask for the key then,
    -- p293. Named, with the renames it needs.)
    SELECT string_agg(DISTINCT p.conflict_id, ', ') AS conflicts,
           -- (each member with its conflict where there are several)
           CASE WHEN count(DISTINCT p.conflict_id) > 1
                THEN string_agg(DISTINCT format('%s (%s)', cm.label, p.conflict_id), ', ')
                ELSE string_agg(DISTINCT cm.label, ', ') END AS members,
           -- (with the member's other renames, which stand)
           min(format('SELECT tdm.resolve(%L, ''keep_all'', renames => %L, rationale => ''...'');',
                      p.conflict_id,
                      format('{%s: {%s}}', to_json(cm.label),
                             (SELECT string_agg(x, ', ')
                                FROM (SELECT format('%s: %s', to_json(r.key), r.value) AS x
                                        FROM jsonb_each(d.renames -> cm.label) AS r
                                       WHERE r.key <> ALL (m.pk_columns)
                                      UNION ALL
                                      SELECT format('%s: ...', to_json(k)) FROM unnest(m.pk_columns) AS k) y))))
             AS call
      INTO unkeyed
      FROM pg_temp.tdm_plan p
      JOIN tdm.conflict_member cm ON cm.run_id = run AND cm.conflict_id = p.conflict_id AND cm.member = p.member
      LEFT JOIN tdm.decision d ON d.conflict_id = p.conflict_id
     WHERE p.role = 'rekey' AND NOT p.by_rule;
    -- (Refused once the call knows the run goes on to validation: a
    -- conflict that waits for a reviewer, of this table or one whose
    -- turn comes later, may merge the row away, as the keep_all was
    -- checked against (a decision awaiting approval, or gone stale); the
    -- run then waits with it in the queue, p317, p315, p319.)
    IF unkeyed.conflicts IS NOT NULL THEN
      INSERT INTO pg_temp.tdm_unkeyed
      SELECT format('consolidate: %s cannot take generated keys, and keep_all of %s gives no new key to %s',
                    the_rel, unkeyed.conflicts, unkeyed.members),
             'When it was decided, the row was merged away (by a rule, or by another conflict''s decision), which'
             ' no longer holds: a decision since kept it or was withdrawn, or deleted the row it was merged into,'
             ' or its renames set it apart from that row.',
             'Decide it again with the new key in renames (each of them, where several): ' || unkeyed.call;
      DELETE FROM pg_temp.tdm_plan p WHERE p.role = 'rekey' AND NOT p.by_rule;
    END IF;
  END IF;
  -- New keys: the ones an earlier call of the run gave (a re-run loads the
  -- same rows), else the next ones, given in the rows' order.
  IF EXISTS (SELECT 1 FROM pg_temp.tdm_plan WHERE role = 'rekey') THEN
    IF NOT keys_given THEN
      new_key := tdm._new_key_expr(the_rel, target_rel, collected);
    END IF;
    -- (Not a key a row holds now: a collected row that keeps its key, or
    -- one of another release in the target or master, which took it since
    -- that call, as a release consolidated and promoted in between may
    -- have. That row gets the next key instead.)
    IF EXISTS (SELECT 1 FROM pg_temp.tdm_previous_keys k WHERE k.rel = the_rel) THEN
      EXECUTE format(
        'DELETE FROM pg_temp.tdm_previous_keys k'
        ' WHERE k.rel = $1 AND (k.new_key->>%1$L)::%2$s IN ('
        '         SELECT t.%1$I FROM %3$s t'
        '          WHERE NOT EXISTS (SELECT 1 FROM pg_temp.tdm_plan p'
        '                             WHERE p.row_ctid = t.ctid AND p.role IN (''rekey'', ''drop'', ''delete''))'
        '         UNION ALL %4$s'
        -- (nor a key a row deleted by a decision had: its children still
        -- name it, and would be taken for the re-keyed row's)
        '         UNION ALL SELECT d.key[%5$s]::%2$s FROM pg_temp.tdm_deleted d WHERE d.rel = $1 AND NOT d.earlier)',
        rekeyed_col, tdm._column_type(the_rel, rekeyed_col), collected,
        tdm._keys_of_other_releases(the_rel, target_rel), key_at)
        USING the_rel, (SELECT r.release FROM tdm.run r WHERE r.run_id = run);
    END IF;
    new_key := tdm._new_key_expr(the_rel, target_rel, collected);
    IF EXISTS (SELECT 1 FROM pg_temp.tdm_previous_keys k WHERE k.rel = the_rel) THEN
      -- (The map says a returning row's environment key, tdm._map_returning;
      -- its collected key is the one tdm._translate_returning gave it.)
      new_key := format('coalesce((SELECT (k.new_key->>%L)::%s FROM pg_temp.tdm_previous_keys k'
                        '           WHERE k.rel = $1 AND k.env = p.env AND k.old_key = %s),'
                        '          %s)',
                        rekeyed_col, (SELECT c.column_type FROM tdm._columns(the_rel) c
                                           WHERE c.column_name = rekeyed_col),
                        CASE WHEN tdm._has_returning(the_rel)
                             THEN 'coalesce((SELECT b.old_json FROM pg_temp.tdm_returning b WHERE b.rel = $1'
                                  ' AND b.env = p.env AND b.new_json = p.old_json LIMIT 1), p.old_json)'
                             ELSE 'p.old_json' END,
                        new_key);
    END IF;
    PERFORM tdm._by_location(true);
    BEGIN
      -- The new keys follow the rows' environments (precedence, then
      -- name) and old keys, whatever order collection met them in, so the
      -- same data gets the same keys; the rows are then updated in their
      -- heap order. (Only the columns used are sorted: the plan's others
      -- made the first sort a third wider.)
      EXECUTE format(
        'WITH keyed AS MATERIALIZED ('
        '       SELECT p.row_ctid, p.env, p.key, p.old_json, p.conflict_id, %3$s AS new_value'
        '         FROM (SELECT p.row_ctid, p.env, p.key, p.old_json, p.conflict_id'
        '                 FROM pg_temp.tdm_plan p LEFT JOIN tdm.environment e ON e.name = p.env'
        '                WHERE p.role = ''rekey'''
        '                ORDER BY e.precedence, p.env COLLATE "C", (p.old_json ->> %6$L)::%7$s, p.old_json, p.row_ctid) p),'
        '     changed AS (UPDATE %1$s t SET %2$I = p.new_value'
        '                   FROM (SELECT * FROM keyed ORDER BY row_ctid) p'
        '                  WHERE t.ctid = p.row_ctid'
        '                 RETURNING t.tdm_env, p.key, p.old_json, %4$s AS new_key, %5$s AS new_json,'
        '                           p.conflict_id)'
        ' INSERT INTO pg_temp.tdm_keymap (rel, env, old_key, old_json, new_key, new_json, reason,'
        '                                 conflict_id)'
        ' SELECT $1, tdm_env, key, old_json, new_key, new_json, ''rekeyed'', conflict_id FROM changed',
        collected, rekeyed_col, new_key, key_text, key_json, rekeyed_col,
        tdm._column_type(the_rel, rekeyed_col)) USING the_rel;
      GET DIAGNOSTICS n = ROW_COUNT;
      -- (counted once: a row renamed by a keep_all is counted already)
      n := n - (SELECT count(DISTINCT p.row_ctid) FROM pg_temp.tdm_plan p
                  JOIN pg_temp.tdm_moved mv ON mv.new_ctid = p.row_ctid
                 WHERE p.role = 'rekey' AND mv.name_renamed);
    EXCEPTION WHEN numeric_value_out_of_range OR check_violation OR sequence_generator_limit_exceeded THEN
      -- (the next key past the highest in use does not fit the column, or
      -- is past its sequence's MAXVALUE: said with the sequence, not
      -- tdm's own that draws the keys)
      key_seq := tdm._key_sequence(the_rel, (SELECT n.nspname FROM pg_class k
                                              JOIN pg_namespace n ON n.oid = k.relnamespace
                                             WHERE k.oid = target_rel));
      no_room := CASE WHEN SQLSTATE = '2200H' AND key_seq IS NOT NULL
                      THEN format('sequence %s stops at MAXVALUE %s, and %s row(s) need a key past %s', key_seq,
                                  (SELECT q.seqmax FROM pg_sequence q WHERE q.seqrelid = key_seq),
                                  (SELECT count(*) FROM pg_temp.tdm_plan p WHERE p.role = 'rekey'),
                                  (SELECT q.seqstart FROM pg_sequence q
                                    WHERE q.seqrelid = 'pg_temp.tdm_new_keys'::regclass))
                      WHEN SQLSTATE = '2200H'
                      THEN format('%s holds no %s past %s', tdm._column_type(the_rel, rekeyed_col), quote_ident(rekeyed_col),
                                  (SELECT q.seqstart FROM pg_sequence q
                                    WHERE q.seqrelid = 'pg_temp.tdm_new_keys'::regclass))
                      ELSE SQLERRM END;
      -- A reviewer's keep_all that leaves the keys to tdm cannot apply: its
      -- renames must give them.
      SELECT string_agg(DISTINCT p.conflict_id, ', ') INTO decided FROM pg_temp.tdm_plan p
        JOIN tdm.conflict c ON c.run_id = run AND c.conflict_id = p.conflict_id
       WHERE p.role = 'rekey' AND c.status = 'decided';
      IF decided IS NOT NULL THEN
        RAISE EXCEPTION 'consolidate: %: no new % for the rows to re-key: %', the_rel, quote_ident(rekeyed_col), no_room
          USING ERRCODE = 'numeric_value_out_of_range',
                HINT = format('New keys start past the highest key in use (the collected rows, the target and'
                              ' master), and %s. Give the rows their keys in the renames of the keep_all'
                              ' decision(s) on %s, or %s.',
                              CASE WHEN SQLSTATE = '2200H' AND key_seq IS NOT NULL THEN 'its sequence gives none there'
                                   ELSE 'the column''s type or domain has no room there' END,
                              decided,
                              CASE WHEN SQLSTATE = '2200H' AND key_seq IS NOT NULL
                                        AND NOT tdm._sequence_at_type_limit(key_seq)
                                   THEN 'raise the sequence''s MAXVALUE (ALTER SEQUENCE, or ALTER TABLE .. ALTER'
                                        ' COLUMN .. SET MAXVALUE for an identity)'
                                   WHEN SQLSTATE = '2200H' AND key_seq IS NOT NULL
                                   THEN format('widen the column and its sequence, whose MAXVALUE is its type''s'
                                               ' limit (ALTER TABLE .. ALTER COLUMN .. TYPE bigint, and ALTER'
                                               ' SEQUENCE %s AS bigint; an identity''s sequence follows its column)',
                                               key_seq)
                                   ELSE 'widen the column' END);
      END IF;
      -- The rule's re-keying goes to a reviewer instead, as for a key tdm
      -- cannot generate: the run awaits review, and a keep_all decision
      -- with the keys in renames settles each conflict.
      UPDATE tdm.conflict c
         SET rule = 'manual', class = 'complex', status = 'pending', priority = 2,
             suggestion = format('keep all; give %s a new %s in renames => %L', x.labels, quote_ident(rekeyed_col),
                                 x.example::text),
             rationale = c.rationale || format('; no new %s fits the column past the highest in use (%s):'
                                               ' decide keep_all with the new key in renames',
                                               quote_ident(rekeyed_col), no_room)
        FROM (SELECT p.conflict_id, string_agg(cm.label, ', ' ORDER BY p.member) AS labels,
                     jsonb_object_agg(cm.label, jsonb_build_object(rekeyed_col, '...')) AS example
                FROM pg_temp.tdm_plan p
                JOIN tdm.conflict_member cm ON cm.run_id = run AND cm.conflict_id = p.conflict_id
                                           AND cm.member = p.member
               WHERE p.role = 'rekey' GROUP BY p.conflict_id) x
       WHERE c.run_id = run AND c.conflict_id = x.conflict_id;
      n := 0;
    END;
    renamed := renamed + n;
    PERFORM tdm._by_location(false);
  END IF;

  -- A row a decision deletes is deleted, though another decision merges
  -- it away (the delete outranks): neither mapped to that survivor (a
  -- later release's reference to it would meet the survivor) nor counted
  -- merged.
  DELETE FROM pg_temp.tdm_plan t
   WHERE t.role = 'drop' AND EXISTS (SELECT 1 FROM pg_temp.tdm_plan p WHERE p.row_ctid = t.row_ctid AND p.role = 'delete');
  -- Rows merged away: mapped to their survivor's final key (or where
  -- their survivor went, tdm_redirect), then removed.
  INSERT INTO pg_temp.tdm_keymap (rel, env, old_key, old_json, new_key, new_json, reason, conflict_id, to_env)
  SELECT the_rel, s.env, s.key, s.old_json, coalesce(km.new_key, s.into_key),
         coalesce(km.new_json, s.into_json), 'merged', s.conflict_id, s.into_env
    FROM (SELECT p.env, p.key, p.old_json, p.conflict_id, coalesce(r.into_env, v.env) AS into_env,
                 coalesce(r.into_key, v.key) AS into_key, coalesce(r.into_json, v.old_json) AS into_json
            FROM pg_temp.tdm_plan p
            LEFT JOIN pg_temp.tdm_redirect r ON r.conflict_id = p.conflict_id AND r.member = p.member
            LEFT JOIN pg_temp.tdm_plan v ON v.conflict_id = p.conflict_id AND v.member = p.survivor
                                        AND v.member = v.survivor  -- (said of v alone: fewer rows to hash)
           WHERE p.role = 'drop') s
    LEFT JOIN pg_temp.tdm_keymap km ON km.rel = the_rel AND km.env = s.into_env AND km.old_key = s.into_key
                                   AND km.reason <> 'repointed'
   WHERE s.into_key IS NOT NULL
     AND (s.key <> coalesce(km.new_key, s.into_key)
          -- (a row re-pointed onto its survivor's key, by its parent's:
          -- merged all the same, its entry from the environment's key
          -- made `merged` by tdm._propagate, as the run counts it)
          OR EXISTS (SELECT FROM pg_temp.tdm_keymap r
                      WHERE r.rel = the_rel AND r.reason = 'repointed' AND r.env = s.env AND r.new_key = s.key));
  delete_role := format('DELETE FROM %s t'
                        ' WHERE t.ctid = ANY (ARRAY(SELECT p.row_ctid FROM pg_temp.tdm_plan p'
                        '                            WHERE p.role = $1))', collected);
  EXECUTE delete_role USING 'drop';
  GET DIAGNOSTICS merged = ROW_COUNT;

  -- Deleted rows: their children become relationship conflicts. (A copy
  -- deleted with the row it was merged into, by that row's decision,
  -- says which row: the decision's conflict does not hold it.)
  EXECUTE format(
    'INSERT INTO pg_temp.tdm_deleted (rel, env, key, conflict_id, old_row, row_hash, merged_into)'
    -- (once: a row two decisions delete, its key's and its entity's, is
    -- one deleted row)
    ' SELECT DISTINCT ON (p.row_ctid) $1, p.env, p.key, coalesce(r.deleted_by, p.conflict_id),'
    '        c.members -> p.member -> ''row'', (SELECT t.tdm_row_hash FROM %s t WHERE t.ctid = p.row_ctid),'
    '        CASE WHEN r.deleted_by IS NOT NULL THEN tdm._merged_into(r.into_env, r.into_key) END'
    '   FROM pg_temp.tdm_plan p JOIN tdm.conflict c ON c.run_id = $2 AND c.conflict_id = p.conflict_id'
    '   LEFT JOIN pg_temp.tdm_redirect r ON r.conflict_id = p.conflict_id AND r.member = p.member'
    '                                   AND r.deleted_by IS NOT NULL'
    '  WHERE p.role = ''delete'''
    '  ORDER BY p.row_ctid, r.deleted_by IS NOT NULL, p.conflict_id', collected) USING the_rel, run;
  EXECUTE delete_role USING 'delete';
  GET DIAGNOSTICS deleted = ROW_COUNT;
END
$$;

-- Within tdm._apply_table: joins to the collected rows by location as a
-- nested loop over the plan, fetching each row by its ctid (on), or back
-- to hash and merge joins (off). The planner would otherwise scan the
-- whole collected table, its cost model taking each fetch for a random
-- page read.
CREATE FUNCTION tdm._by_location(fetch_by_location bool) RETURNS void
LANGUAGE sql AS $$
  SELECT set_config('enable_nestloop', fetch_by_location::text, true),
         set_config('enable_hashjoin', (NOT fetch_by_location)::text, true),
         set_config('enable_mergejoin', (NOT fetch_by_location)::text, true)
$$;

-- After a table's conflicts are applied (master's rows always kept):
-- master's rows (tdm._collect_earlier) leave its collected rows, for they
-- are in master already. Those that release rows were merged into are
-- remembered in pg_temp.tdm_earlier_kept: the load brings them into the
-- target with their own release tag (tdm._closure), in place of the
-- release's rows that were merged into them.
CREATE FUNCTION tdm._settle_earlier(the_rel regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  INSERT INTO pg_temp.tdm_earlier_kept (rel, key)
  SELECT DISTINCT the_rel, p.key FROM pg_temp.tdm_plan p
   WHERE p.env = 'master' AND p.member = p.survivor
     AND EXISTS (SELECT 1 FROM pg_temp.tdm_plan o WHERE o.conflict_id = p.conflict_id AND o.role = 'drop');
  EXECUTE format('DELETE FROM pg_temp.%I WHERE tdm_env = ''master''', tdm._collected_name(the_rel));
END
$$;

-- Whether a primary key of `rel` includes a foreign key to a managed
-- parent (to its primary key or another unique key): only then can its
-- rows be re-pointed to a new key. (Asked first: the key map can be large.)
CREATE FUNCTION tdm._key_follows_parent(rel regclass) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT FROM tdm._managed_references() e JOIN tdm.managed_table m ON m.rel = e.child
                  WHERE e.child = _key_follows_parent.rel AND m.pk_columns && e.columns)
$$;

-- The rows of `the_rel` that got a new key with their parent's (key map
-- 'repointed') and are loaded so, their own conflicts neither changing
-- their key again (counted there) nor merging them away: renamed rows, as
-- the run counts them. Called after tdm._apply_table, before
-- tdm._propagate.
CREATE FUNCTION tdm._repointed_kept(the_rel regclass) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  n bigint;
BEGIN
  IF NOT tdm._key_follows_parent(the_rel)
     OR NOT EXISTS (SELECT FROM pg_temp.tdm_keymap k WHERE k.rel = the_rel AND k.reason = 'repointed') THEN
    RETURN 0;
  END IF;
  EXECUTE format(
    'SELECT count(*) FROM pg_temp.tdm_keymap a'
    ' WHERE a.rel = $1 AND a.reason = ''repointed'''
    '   AND NOT EXISTS (SELECT FROM pg_temp.tdm_keymap b WHERE b.rel = $1 AND b.reason <> ''repointed'''
    '                      AND b.env = a.env AND b.old_key = a.new_key)'
    '   AND EXISTS (SELECT FROM %s t WHERE t.tdm_env = a.env AND %s = a.new_key'
    -- (nor a row a keep_all renamed, its key unchanged: counted already)
    '                  AND NOT EXISTS (SELECT FROM pg_temp.tdm_moved mv WHERE mv.name_renamed AND mv.new_ctid = t.ctid))',
    format('pg_temp.%I', tdm._collected_name(the_rel)),
    tdm._key_text((SELECT m.pk_columns FROM tdm.managed_table m WHERE m.rel = the_rel), 't'))
    INTO n USING the_rel;
  RETURN n;
END
$$;

-- A child row's primary key as it was before its foreign key `fk_columns`
-- took the new key of map entry `map` (alias; its old_key text[]): the
-- items of ARRAY[...] (text) or of jsonb_build_object(...) (`as_json`),
-- over the updated row `t`.
CREATE FUNCTION tdm._key_before_repoint(child regclass, pk_columns text[], fk_columns text[],
                                        map text, as_json bool) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(CASE WHEN f.i IS NULL AND as_json
                           THEN format('%L, %s', k.col, tdm._json_value(child, k.col, format('t.%I', k.col)))
                         WHEN f.i IS NULL THEN format('t.%I::text', k.col)
                         WHEN as_json
                           THEN format('%L, %s', k.col,
                                       tdm._json_value(child, k.col, format('%s.old_key[%s]::%s', map, f.i,
                                                                            tdm._column_type(child, k.col))))
                         ELSE format('%s.old_key[%s]', map, f.i) END, ', ' ORDER BY k.n)
    FROM unnest(pk_columns) WITH ORDINALITY AS k(col, n)
    LEFT JOIN unnest(fk_columns) WITH ORDINALITY AS f(col, i) ON f.col = k.col
$$;

-- A child row `t` whose foreign key columns `columns` were just set, as
-- its environment had it: the old values put back, each the jsonb
-- expression `old_value` spells (a format() template: %1$s is the
-- column's position, %2$s the quoted name of the parent column it
-- references, `ref_columns`). For pg_temp.tdm_unique_followed: the rows
-- that reference its other unique keys follow it (tdm._follow_unique_refs).
CREATE FUNCTION tdm._row_before(child regclass, columns text[], old_value text,
                                ref_columns text[] DEFAULT NULL) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT tdm._row_json(child, 't') || ' || jsonb_build_object('
         || string_agg(format('%L, %s', c, format(old_value, i, quote_literal(ref_columns[i]))), ', '
                       ORDER BY i) || ')'
    FROM unnest(columns) WITH ORDINALITY AS u(c, i)
$$;

-- The assignments that give a child's `columns` the values of the parent's
-- `ref_columns` in u.final_row (a followed row's final values).
CREATE FUNCTION tdm._follow_set(child regclass, columns text[], ref_columns text[]) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(format('%I = (u.final_row ->> %L)::%s', c, r, tdm._column_type(child, c)), ', ')
    FROM unnest(columns, ref_columns) AS x(c, r)
$$;

-- Whether foreign key `edge` of `child` shares columns with another of
-- its foreign keys (a time entry's user_id, and its (user_id, project_id)
-- to the user's membership). The first parent's key map changes the
-- shared column; the other parent's map speaks of the environment's
-- values, so that foreign key is matched by those
-- (pg_temp.tdm_fk_before, tdm._note_fk_before).
CREATE FUNCTION tdm._fk_overlaps(child regclass, edge text) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM tdm._managed_references(_fk_overlaps.child) r
                   JOIN tdm._managed_references(_fk_overlaps.child) o ON o.name <> r.name
                                                                     AND o.columns && r.columns
                  WHERE r.name = _fk_overlaps.edge)
$$;

-- The condition that joins pg_temp.tdm_fk_before b to a collected row t,
-- for the table and foreign key the statement's parameters `rel_param`
-- and `edge_param` ($n) name.
CREATE FUNCTION tdm._fk_before_row(rel_param text, edge_param text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format('b.rel = %s AND b.edge = %s AND b.env = t.tdm_env AND b.row_hash = t.tdm_row_hash',
                rel_param, edge_param)
$$;

-- Whether foreign key `name` of `child` calls two values equal only when
-- they are spelled alike (as ::text spells them, under the settings
-- consolidation pins): integers, text under a deterministic collation,
-- uuids, dates... Not citext (`CAROL@X` = `Carol@X`), numeric (1.500 =
-- 1.50), floats (-0 = 0), char(n) (a varchar child's 'AB ' = 'AB'), a
-- case-insensitive collation, nor any operator tdm does not know.
CREATE FUNCTION tdm._compares_as_spelled(child regclass, name text) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(bool_and(o.oprcode::text IN ('int2eq', 'int4eq', 'int8eq', 'int24eq', 'int42eq', 'int28eq',
                                               'int82eq', 'int48eq', 'int84eq', 'texteq',
                                               'uuid_eq', 'date_eq', 'booleq', 'oideq', 'chareq', 'nameeq',
                                               'timestamp_eq', 'timestamptz_eq', 'time_eq', 'enum_eq',
                                               'byteaeq')
                           AND (pa.attcollation = 0 OR (SELECT l.collisdeterministic FROM pg_collation l
                                                         WHERE l.oid = pa.attcollation))),
                  true)
    FROM pg_constraint c
   CROSS JOIN LATERAL unnest(c.confkey, c.conpfeqop) AS k(parent_col, op)
    JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.parent_col
    JOIN pg_operator o ON o.oid = k.op
   WHERE c.conrelid = child AND c.conname = name AND c.contype = 'f'
$$;

-- The values of `ref_columns` of parent row `alias`, in the types of the
-- `columns` of `child` that reference them; `as_text`: as the child's
-- text spells them.
CREATE FUNCTION tdm._parent_spelling(child regclass, columns text[], ref_columns text[], alias text,
                                     as_text bool) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(format(CASE WHEN as_text THEN '%I.%I::%s::text' ELSE '%I.%I::%s' END,
                           alias, x.r, tdm._column_type(child, x.c)), ', ' ORDER BY x.n)
    FROM unnest(columns, ref_columns) WITH ORDINALITY AS x(c, r, n)
$$;

-- Whether a unique key of `child` tells apart values that foreign key
-- `name` calls equal (the child's column under another collation than the
-- parent's, or another operator): such values are not spelled alike, two
-- of the child's rows would become one.
CREATE FUNCTION tdm._keys_finer_than_fk(child regclass, name text) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (
    SELECT 1 FROM pg_constraint c
     CROSS JOIN LATERAL unnest(c.conkey, c.confkey, c.conpfeqop) AS k(child_col, parent_col, op)
      JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.parent_col
      JOIN pg_index i ON i.indrelid = c.conrelid AND i.indisunique
     CROSS JOIN LATERAL unnest(i.indkey::int2[], i.indcollation::oid[], i.indclass::oid[]) AS x(col, coll, opc)
      JOIN pg_opclass oc ON oc.oid = x.opc
      JOIN pg_amop ao ON ao.amopfamily = oc.opcfamily AND ao.amoplefttype = oc.opcintype
                     AND ao.amoprighttype = oc.opcintype AND ao.amopstrategy = 3  -- (btree's equal)
     WHERE c.conrelid = child AND c.conname = name AND c.contype = 'f' AND x.col = k.child_col
       AND (x.coll <> pa.attcollation OR ao.amopopr <> k.op))
$$;

-- The latest completed run of each other release whose rows are still
-- where releases go: not an archived one (its rows left master, and its
-- keys may be given again). A rolled back release's rows stay in master.
-- Of a release in master, the run it was promoted from (its rows there
-- have that run's keys, whatever it was consolidated into since: a later
-- run into a scratch target gave keys there only); of another, its last
-- run into this target (a release consolidated into qa alone gave keys
-- there only). Their key maps translate the release's references to
-- earlier releases' rows.
CREATE FUNCTION tdm._earlier_runs(release text, target text) RETURNS bigint[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN array_remove(ARRAY(
    SELECT CASE WHEN tdm._presence(x.status) = 'target'
                THEN coalesce(tdm._promoted_run(r.release), max(r.run_id))
                ELSE max(r.run_id) FILTER (WHERE r.target = _earlier_runs.target) END
      FROM tdm.run r JOIN tdm.release x USING (release)
     WHERE r.release <> _earlier_runs.release AND r.status = 'completed' AND x.status <> 'archived'
     GROUP BY r.release, x.status), NULL);
END
$$;

-- Every foreign key of the collected rows spelled as the row it references
-- in its environment spells its key, where the two are equal by the key's
-- own equality but spelled apart (tdm._compares_as_spelled): an order's
-- `CAROL@X` that references its environment's `Carol@X`, an item's 1.500
-- for its product 1.50. Translation, orphans and the review queue's
-- related rows match children to keys by their text; a child spelled
-- otherwise would keep its key when its parent is renamed or re-keyed,
-- and end on another environment's row of that key. The row referenced is
-- a collected one; else (a row of an earlier release) as an earlier
-- release's key map spells it, else as the environment's row, read there.
-- Parents' own references first: a key that includes a foreign key is
-- spelled first. The value stays equal by the key's equality, so the
-- reference holds. Not where the child's own unique key would tell the
-- two spellings apart (tdm._keys_finer_than_fk).
CREATE FUNCTION tdm._spell_references(release text, target text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
SET enable_nestloop TO off SET jit TO off AS $$
DECLARE
  e record;
  env text;
  spelled_as_one text;  -- a condition: child row t spelled as a collected parent row of its environment
  update_child text;    -- an UPDATE of child rows t FROM parent rows p (the source comes next)
  take_spelling text;   -- its rest: those rows take p's spelling
  passes int;
  n bigint;
BEGIN
  FOR e IN SELECT r.* FROM tdm._managed_references() r JOIN tdm._table_order() o ON o.rel = r.child
            WHERE NOT tdm._compares_as_spelled(r.child, r.name) AND NOT tdm._keys_finer_than_fk(r.child, r.name)
            ORDER BY o.step, r.child::text, r.name LOOP
    -- (a child spelled as one of its environment's collected rows
    -- references that one, as far as text goes: left as it is)
    spelled_as_one := format('EXISTS (SELECT 1 FROM pg_temp.%I q WHERE q.tdm_env = t.tdm_env'
                             ' AND ARRAY[%s]::text[] = %s)',
                             tdm._collected_name(e.parent),
                             tdm._parent_spelling(e.child, e.columns, e.ref_columns, 'q', true),
                             tdm._key_text(e.columns, 't'));
    update_child := format('UPDATE pg_temp.%I t SET (%s) = ROW(%s) FROM ', tdm._collected_name(e.child),
                           (SELECT string_agg(format('%I', c), ', ') FROM unnest(e.columns) AS c),
                           tdm._parent_spelling(e.child, e.columns, e.ref_columns, 'p', false));
    take_spelling := format(' p WHERE p.tdm_env = t.tdm_env AND %s AND %s <> ARRAY[%s]::text[] AND NOT %s',
                            tdm._fk_match(e.child, e.name, 'p', 't'), tdm._key_text(e.columns, 't'),
                            tdm._parent_spelling(e.child, e.columns, e.ref_columns, 'p', true), spelled_as_one);
    -- (A table that references itself takes its rows' spellings a level
    -- of the tree per pass: a row and its parent change in one statement.)
    passes := 0;
    LOOP
      EXECUTE update_child || format('pg_temp.%I', tdm._collected_name(e.parent)) || take_spelling;
      GET DIAGNOSTICS n = ROW_COUNT;
      passes := passes + 1;
      EXIT WHEN n = 0 OR e.child <> e.parent;
      IF passes >= 64 THEN
        RAISE NOTICE 'consolidate: % references itself (%) more than 64 levels deep, or in a loop: deeper rows keep their spelling',
          e.child, e.name;
        EXIT;
      END IF;
    END LOOP;
    -- Those that reference no collected row: the environment's row, read
    -- there by value,
    FOR env IN EXECUTE format('SELECT DISTINCT t.tdm_env FROM pg_temp.%I t WHERE t.tdm_env <> ''master'''
                              '   AND %s AND NOT %s ORDER BY 1',
                              tdm._collected_name(e.child),
                              (SELECT string_agg(format('t.%I IS NOT NULL', c), ' AND ')
                                 FROM unnest(e.columns) AS c),
                              spelled_as_one) LOOP
      EXECUTE update_child
              || format('(SELECT $1 AS tdm_env, %s FROM %s p WHERE %s)',
                        (SELECT string_agg(format('p.%I', r), ', ') FROM unnest(e.ref_columns) AS r),
                        tdm._env_table(env, e.parent),
                        tdm._fk_first_in(e.child, e.name, 'p',
                                         format('FROM pg_temp.%I t WHERE t.tdm_env = $1 AND NOT %s',
                                                tdm._collected_name(e.child), spelled_as_one)))
              || take_spelling
        USING env;
    END LOOP;
    -- and over that, as the earlier releases' key maps that translation
    -- reads have it (tdm._translate_earlier): the key it looks up, which
    -- the earlier run spelled as its collected row then.
    CONTINUE WHEN NOT e.to_key;
    EXECUTE update_child
            || format('(SELECT DISTINCT ON (k.env, k.old_key) k.env AS tdm_env, %s'
                      '   FROM tdm.key_map k WHERE k.run_id = ANY ($2) AND k.rel = $1'
                      '  ORDER BY k.env, k.old_key, k.run_id DESC)',
                      (SELECT string_agg(format('CASE WHEN k.rel = $1 THEN (k.old_key ->> %L)::%s END AS %I',
                                                r, tdm._column_type(e.parent, r), r), ', ')
                         FROM unnest(e.ref_columns) AS r))
            || take_spelling
      USING e.parent, tdm._earlier_runs(release, target);
  END LOOP;
END
$$;

-- The values of every overlapping foreign key (tdm._fk_overlaps) as the
-- environments have them, per collected row, before any is translated.
CREATE FUNCTION tdm._note_fk_before(into_table text DEFAULT 'tdm_fk_before', also regclass[] DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e record;
BEGIN
  -- (and every foreign key of the tables `also`)
  FOR e IN SELECT r.* FROM tdm._managed_references() r
            WHERE r.child = ANY (also) OR tdm._fk_overlaps(r.child, r.name)
            ORDER BY r.child::text, r.name LOOP
    CONTINUE WHEN to_regclass(format('pg_temp.%I', tdm._collected_name(e.child))) IS NULL;
    EXECUTE format('INSERT INTO pg_temp.%I (rel, edge, env, row_hash, key)'
                   ' SELECT $1, $2, t.tdm_env, t.tdm_row_hash, %s FROM pg_temp.%I t',
                   into_table, tdm._key_text(e.columns, 't'), tdm._collected_name(e.child))
      USING e.child, e.name;
  END LOOP;
  EXECUTE format('ANALYZE pg_temp.%I', into_table);
END
$$;

-- A foreign key `edge` of collected row t of `child` as its environment
-- had it, where tdm._translate_returning noted that before rows brought
-- again took master's keys (pg_temp.tdm_returning_before), else
-- `otherwise` (an expression over t).
-- (PL/pgSQL: the table is made by the consolidation that calls it.)
CREATE FUNCTION tdm._fk_as_collected(child regclass, edge text, otherwise text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF to_regclass('pg_temp.tdm_returning_before') IS NULL
     OR NOT EXISTS (SELECT FROM pg_temp.tdm_returning_before b
                     WHERE b.rel = _fk_as_collected.child AND b.edge = _fk_as_collected.edge) THEN
    RETURN otherwise;
  END IF;
  RETURN format('coalesce((SELECT b.key FROM pg_temp.tdm_returning_before b WHERE b.rel = %L::regclass'
                ' AND b.edge = %L AND b.env = t.tdm_env AND b.row_hash = t.tdm_row_hash), %s)',
                child, edge, otherwise);
END
$$;

-- The end of a statement that records the re-pointed child rows of CTE
-- `source` (env, row_hash, old_key, old_json, new_key, new_json,
-- conflict_id) in the key map, for table `rel` (an expression). A row that
-- another parent re-pointed earlier in the run (a membership's user, then
-- its project) has its entry carried on to the new key, so that one entry
-- leads from the environment's key to the final one. Not a row its own
-- conflict re-keyed to that key already (a project of a reference cycle,
-- re-pointed by its member rows to the key it was given).
CREATE FUNCTION tdm._note_repointed(rel text, source text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format(
    ', carried AS (UPDATE pg_temp.tdm_keymap k SET new_key = c.new_key, new_json = c.new_json'
    '               FROM %2$s c WHERE k.rel = %1$s AND k.reason = ''repointed'' AND k.env = c.env'
    '                AND k.row_hash = c.row_hash RETURNING k.env, k.row_hash)'
    ' INSERT INTO pg_temp.tdm_keymap (rel, env, old_key, old_json, new_key, new_json, reason, conflict_id,'
    '                                 row_hash)'
    ' SELECT %1$s, c.env, c.old_key, c.old_json, c.new_key, c.new_json, ''repointed'', c.conflict_id,'
    '        c.row_hash'
    '   FROM %2$s c WHERE c.old_key <> c.new_key'
    '    AND NOT EXISTS (SELECT FROM carried x WHERE x.env = c.env AND x.row_hash = c.row_hash)'
    '    AND NOT EXISTS (SELECT FROM pg_temp.tdm_keymap s WHERE s.rel = %1$s AND s.reason <> ''repointed'''
    '                       AND s.env = c.env AND s.old_key = c.old_key AND s.new_key = c.new_key)',
    rel, source)
$$;

-- CTEs that note the child rows of CTE `source` (env, row_hash, old_row,
-- final_row) as followed (pg_temp.tdm_unique_followed), for table `rel` (an
-- expression); `keyed`: their key map entries are written. A row followed
-- before in the run keeps its environment's row as old_row and takes the
-- new final_row, as tdm._note_repointed carries key map entries on.
CREATE FUNCTION tdm._note_followed(rel text, source text, keyed bool) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format(
    ', followed_again AS (UPDATE pg_temp.tdm_unique_followed f'
    '                        SET final_row = c.final_row, keyed = f.keyed AND %3$L'
    '                       FROM %2$s c WHERE f.rel = %1$s AND f.env = c.env AND f.row_hash = c.row_hash'
    '                     RETURNING f.env, f.row_hash),'
    '  followed AS (INSERT INTO pg_temp.tdm_unique_followed (rel, env, old_row, final_row, keyed, row_hash)'
    '               SELECT %1$s, c.env, c.old_row, c.final_row, %3$L, c.row_hash FROM %2$s c'
    '                WHERE NOT EXISTS (SELECT FROM followed_again x'
    '                                   WHERE x.env = c.env AND x.row_hash = c.row_hash))',
    rel, source, keyed)
$$;

-- Whether another unique key of `the_child` than its primary key, referenced
-- by a managed table, has some of `the_columns`: rows whose columns change are
-- then noted as followed (tdm._row_before).
CREATE FUNCTION tdm._unique_referenced(the_child regclass, the_columns text[]) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM tdm._managed_references() r
                  WHERE r.parent = the_child AND NOT r.to_key AND r.ref_columns && the_columns)
$$;

-- The natural keys that tell an entity of `pm` from another whatever its
-- parents' keys: those with no column of a foreign key to a managed table
-- (pg_temp.tdm_edges, the call's).
-- (PL/pgSQL: the temporary table exists only during a call.)
CREATE FUNCTION tdm._identifying_keys(pm tdm.managed_table) RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN ARRAY(SELECT g FROM unnest(pm.natural_keys) AS g
                WHERE NOT EXISTS (SELECT 1 FROM pg_temp.tdm_edges x
                                   WHERE x.child = pm.rel AND x.columns && string_to_array(g, ',')));
END
$$;

-- Which release the environments' rows of `parent` that this release's
-- rows reference, and does not bring, belong to now: read in each
-- environment by key, into pg_temp.tdm_env_tags. An earlier release's key
-- map or decision speaks of the row that release had; an environment that
-- deleted that row and gave its key to a row of a later release means the
-- later one (tdm._translate_earlier). A reference to a row of an archived
-- release is refused: its rows left master, so no row can answer it.
CREATE FUNCTION tdm._read_env_tags(the_parent regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
SET enable_nestloop TO off SET jit TO off AS $$
DECLARE
  pm tdm.managed_table := (SELECT m FROM tdm.managed_table m WHERE m.rel = the_parent);
  collected regclass := format('pg_temp.%I', tdm._collected_name(the_parent))::regclass;
  e record;
  env text;
  is_array bool := tdm._is_array(the_parent, pm.pk_columns[1]);
  -- The natural keys that tell an entity from another in the environment
  -- as in the earlier run's members (members hold foreign key columns
  -- translated).
  identifying text[] := tdm._identifying_keys(pm);
  stale record;
  masked_since text;  -- the masks that make a stale row's natural key differ
  differing text[];   -- the columns of its natural keys that differ
  mask_is_cause bool;  -- whether the loaded values, masked now, are the environment's
  master_table regclass;
  master_key text;  -- master's row m of the key g.key
  -- A key map entry's old key and a member's key as this table's types
  -- spell them, cast only for this table's rows (CASE): the map and the
  -- conflicts hold every table's, and a plan may compute the cast before
  -- the filter (another table's bigint key read as this one's uuid).
  map_key text := format('CASE WHEN k.rel = $1 THEN %s END', tdm._member_key(the_parent, pm.pk_columns, 'k.old_key'));
  member_key text := format('CASE WHEN c.rel = $1 THEN %s END', tdm._member_key(the_parent, pm.pk_columns));
  settled_by_tag text;  -- the row g was a member of a conflict its tag's release applied
BEGIN
  DELETE FROM pg_temp.tdm_dangling d WHERE d.rel = the_parent;
  -- (By the primary key; and by another unique key that holds it, a
  -- seat's (booking_id, flight_id): its reference names that row by its
  -- key, which an earlier release's map translates as well, its columns
  -- taken in the key's order.)
  -- (A reference with a NULL column references nothing: all of its
  -- columns are tested, `all_columns`.)
  FOR e IN SELECT x.child, x.name, x.columns, x.columns AS all_columns FROM pg_temp.tdm_edges x
            WHERE x.parent = the_parent
            UNION ALL
            SELECT r.child, r.name,
                   ARRAY(SELECT r.columns[array_position(r.ref_columns, k.col)]
                           FROM unnest(pm.pk_columns) WITH ORDINALITY AS k(col, i) ORDER BY k.i),
                   r.columns
              FROM tdm._managed_references() r
             WHERE r.parent = the_parent AND r.holds_key
            ORDER BY 1, 2 LOOP
    EXECUTE format(
      'INSERT INTO pg_temp.tdm_dangling (rel, env, key)'
      ' SELECT DISTINCT $1, t.tdm_env, %1$s FROM %2$s t'
      '  WHERE t.tdm_env <> ''master'' AND %3$s'
      '    AND NOT EXISTS (SELECT 1 FROM %4$s p WHERE p.tdm_env = t.tdm_env AND %5$s = %1$s)',
      tdm._key_text(e.columns, 't'), format('pg_temp.%I', tdm._collected_name(e.child)),
      (SELECT string_agg(format('t.%I IS NOT NULL', c), ' AND ') FROM unnest(e.all_columns) AS c),
      collected, tdm._key_text(pm.pk_columns, 'p'))
      USING the_parent;
  END LOOP;
  -- (Most releases reference no row they do not bring: nothing to read or
  -- check.)
  IF NOT EXISTS (SELECT FROM pg_temp.tdm_dangling d WHERE d.rel = the_parent)
     AND NOT EXISTS (SELECT FROM pg_temp.tdm_env_tags g WHERE g.rel = the_parent) THEN
    RETURN;
  END IF;
  FOR env IN SELECT DISTINCT d.env FROM pg_temp.tdm_dangling d WHERE d.rel = the_parent ORDER BY 1 LOOP
    -- (By the key's first column, as an array the foreign scan ships to
    -- the environment: it reads those rows only. With the row's natural
    -- keys, to tell whether it is still the row that release mapped.)
    EXECUTE format(
      'INSERT INTO pg_temp.tdm_env_tags (rel, env, key, release, nk_values, tag)'
      ' SELECT $1, $2, t.key, t.release, t.nk_values, t.release FROM ('
      '   SELECT %1$s AS key, r.%2$I::text AS release, %8$s AS nk_values FROM %3$s r'
      '    WHERE r.%4$I %6$s (%7$s(SELECT DISTINCT (d.key[1])::%5$s FROM pg_temp.tdm_dangling d'
      '                               WHERE d.rel = $1 AND d.env = $2))) t'
      '  WHERE t.key IN (SELECT d.key FROM pg_temp.tdm_dangling d WHERE d.rel = $1 AND d.env = $2)',
      tdm._key_text(pm.pk_columns, 'r'), pm.release_column, tdm._env_table(env, the_parent),
      pm.pk_columns[1], tdm._column_type(the_parent, pm.pk_columns[1]),
      -- (an array key: the values as rows, the environment's rows all read)
      CASE WHEN is_array THEN 'IN' ELSE '= ANY' END, CASE WHEN is_array THEN '' ELSE 'ARRAY' END,
      -- (masked as collection masks them: the row that release had is)
      coalesce((SELECT format('jsonb_build_object(%s)',
                              string_agg(format('%L, %s', c, tdm._masked_value_sql(the_parent, c, 'r', 3, 4)), ', '))
                  FROM unnest(identifying) AS u(g), unnest(string_to_array(u.g, ',')) AS c),
               'NULL::jsonb'))
      USING the_parent, env, (SELECT k.secret FROM tdm.mask_key k), tdm._mask_specs(the_parent);
  END LOOP;
  PERFORM tdm._refuse_archived_refs(the_parent, 'pg_temp.tdm_env_tags',
                                    format('g.rel = %s', the_parent::oid));
  -- A tag that release's run did not load (the row tagged to it after its
  -- consolidation: no map entry, and no row of that key and release in
  -- master) says nothing: as for a row gone, the latest map answers. The
  -- release that loaded a row under that key last (by its map, else
  -- master's row of that key) is noted, for the check below: after a
  -- reset, the environment's row is another entity than that one.
  master_key := tdm._matches_key(the_parent, pm.pk_columns, 'm', 'g.key');
  master_table := tdm._target_table('master', the_parent);
  EXECUTE format(
    'UPDATE pg_temp.tdm_env_tags g'
    '   SET release = NULL,'
    '       answer = coalesce((SELECT r.release FROM tdm.key_map k JOIN tdm.run r ON r.run_id = k.run_id'
    '                            WHERE r.status = ''completed'' AND k.rel = $1 AND k.env = g.env'
    '                              AND %1$s = g.key ORDER BY k.run_id DESC LIMIT 1)%3$s)'
    ' WHERE g.rel = $1 AND g.release IS NOT NULL'
    '   AND NOT EXISTS (SELECT 1 FROM tdm.key_map k JOIN tdm.run r ON r.run_id = k.run_id'
    '                    WHERE r.release = g.release AND r.status = ''completed'' AND k.rel = $1'
    '                      AND k.env = g.env AND %1$s = g.key)%2$s',
    map_key,
    -- (master, where releases go, by its key's columns: its index)
    CASE WHEN master_table IS NOT NULL
         THEN format(' AND NOT EXISTS (SELECT 1 FROM %s m WHERE %s AND m.%I = g.release)',
                     master_table, master_key, pm.release_column) ELSE '' END,
    CASE WHEN master_table IS NOT NULL
         THEN format(', (SELECT m.%I::text FROM %s m WHERE %s LIMIT 1)', pm.release_column, master_table, master_key)
         ELSE '' END)
    USING the_parent;
  -- Unless that release merged the row into master's row of that key by a
  -- rule (a refreshed row tagged for it, as the refusal below says: an
  -- exact duplicate of master's), which kept the key: no map entry, and
  -- master's row is of its own release. That release answers, by its map
  -- (none: the key stays, master's row). (Set-based: after a refresh,
  -- many rows; the conflicts of the tags' latest runs are read once.)
  IF EXISTS (SELECT FROM pg_temp.tdm_env_tags g WHERE g.rel = the_parent AND g.release IS NULL AND g.tag IS NOT NULL) THEN
    EXECUTE format(
      'UPDATE pg_temp.tdm_env_tags g SET release = g.tag, answer = NULL'
      '  FROM (SELECT r.release, e.m->>''env'' AS env, %1$s AS key, e.m->''row'' AS was'
      '          FROM (SELECT x.release, max(x.run_id) AS run_id FROM tdm.run x'
      '                 WHERE x.status = ''completed'''
      '                   AND x.release IN (SELECT t.tag FROM pg_temp.tdm_env_tags t'
      '                                      WHERE t.rel = $1 AND t.release IS NULL)'
      '                 GROUP BY x.release) r'
      '          JOIN tdm.conflict c ON c.run_id = r.run_id AND c.rel = $1'
      '         CROSS JOIN LATERAL jsonb_array_elements(c.members) AS e(m)'
      '         WHERE c.status = ''auto_resolved'''
      '           AND c.members -> 0 ->> ''env'' = ''master'' AND e.m->>''env'' <> ''master'''
      '           AND (e.m->>''env'', %1$s) IN (SELECT t.env, t.key FROM pg_temp.tdm_env_tags t'
      '                                          WHERE t.rel = $1 AND t.release IS NULL)) s'
      ' WHERE g.rel = $1 AND g.release IS NULL AND g.tag = s.release AND g.env = s.env AND g.key = s.key'
      '   AND (%2$s)',
      member_key, coalesce(tdm._stale_same(pm, identifying, 's.was'), 'true'))
      USING the_parent;
  END IF;
  -- An environment whose keys were given again (reset, refreshed from a
  -- copy) holds under an earlier release's key another entity than the
  -- one that release consolidated under it: that release's map (or, with
  -- no entry, the key itself) would send the reference to the wrong row.
  -- Refused, naming the row, when no natural key of the two agrees. The
  -- row that release had: its conflict member, or master's row of that
  -- key and release. Not a row the release it is tagged for settled in a
  -- conflict (a reviewer's keep master merged it into master's row of
  -- that key, which kept its key: no map entry; a copy a decision deleted
  -- along with the row it was merged into, the conflict's deleted_along);
  -- that row is its environment's still, and a reference to it means what
  -- that release made of it (master's row; a relationship conflict).
  settled_by_tag := format(
    'EXISTS (SELECT 1 FROM tdm.run r JOIN tdm.conflict c ON c.run_id = r.run_id AND c.rel = $1'
    '         CROSS JOIN LATERAL (SELECT e.m FROM jsonb_array_elements(c.members) AS e(m)'
    '                              WHERE c.status = ''applied'''
    '                             UNION ALL'
    '                             SELECT a.m FROM jsonb_array_elements(c.deleted_along) AS a(m)'
    '                              WHERE c.deleted_along IS NOT NULL) e'
    '         WHERE r.release = g.tag AND r.status = ''completed'' AND (c.status = ''applied'' OR c.deleted_along IS NOT NULL)'
    '           AND e.m->>''env'' = g.env AND %s = g.key AND %s)', member_key,
    -- (and the environment's row is still that member, by a natural key:
    -- a reset that gave its key to another entity is refused still)
    tdm._stale_same(pm, identifying, 'e.m->''row'''));
  IF cardinality(identifying) > 0 THEN
    EXECUTE format(
      'WITH answering AS (SELECT g.env, g.key, g.nk_values, g.tag, coalesce(g.release, g.answer) AS release'
      '                     FROM pg_temp.tdm_env_tags g WHERE g.rel = $1),'
      '     latest AS (SELECT g.*, (SELECT max(x.run_id) FROM tdm.run x'
      '                              WHERE x.release = g.release AND x.status = ''completed'') AS run_id'
      '                  FROM answering g WHERE g.release IS NOT NULL)'
      -- (the map entries first, on their own: joined with the conflicts
      -- by run alone, the rows read by every conflict of the run, sorted
      -- on disk, grew with the cube of the release's size, p310)
      ', mapped AS MATERIALIZED ('
      ' SELECT g.*, k.conflict_id FROM latest g'
      '   JOIN tdm.key_map k ON k.run_id = g.run_id AND k.rel = $1 AND k.env = g.env AND %1$s = g.key)'
      ', found AS ('
      ' SELECT g.env, array_to_string(g.key, '','') AS key, g.release, g.nk_values AS now, %3$s AS was,'
      '        false AS in_master, g.tag'
      '   FROM mapped g'
      '   JOIN tdm.conflict c ON c.run_id = g.run_id AND c.conflict_id = g.conflict_id AND c.rel = $1'
      '  CROSS JOIN LATERAL jsonb_array_elements(c.members) AS e(m)'
      '  WHERE e.m->>''env'' = g.env AND %2$s = g.key AND NOT (%4$s) AND NOT %6$s AND NOT %7$s'
      '%5$s)'
      -- (every such row named at once: after a refresh, several)
      ' SELECT f.*, (SELECT count(DISTINCT (x.env, x.key)) FROM found x) AS n,'
      '        (SELECT string_agg(y.k, '', '') FROM (SELECT DISTINCT format(''%%s (%%s)'', x.env, x.key) AS k'
      '                                              FROM found x ORDER BY 1 LIMIT 10) y) AS listed'
      '   FROM found f ORDER BY 1, 2 LIMIT 1',
      map_key, member_key,
      tdm._stale_was('e.m->''row'''), tdm._stale_same(pm, identifying, 'e.m->''row'''),
      CASE WHEN master_table IS NOT NULL THEN format(
        ' UNION ALL'
        ' SELECT g.env, array_to_string(g.key, '',''), g.release, g.nk_values, %3$s, dm.row IS NULL, g.tag'
        '   FROM latest g JOIN %4$s m ON %5$s AND m.%6$I = g.release'
        -- (a member of a decided conflict: as the environment had it, for
        -- the decision may have given master another natural key)
        '   LEFT JOIN LATERAL (SELECT e.m->''row'' AS row FROM tdm.decision d'
        '                        JOIN tdm.conflict c ON c.conflict_id = d.conflict_id'
        '                       CROSS JOIN LATERAL jsonb_array_elements(c.members) AS e(m)'
        '                       WHERE c.run_id = g.run_id AND c.rel = $1'
        '                         AND e.m->>''env'' = g.env AND %7$s = g.key LIMIT 1) dm ON true'
        '  WHERE NOT EXISTS (SELECT 1 FROM tdm.key_map k WHERE k.run_id = g.run_id AND k.rel = $1'
        '                       AND k.env = g.env AND %1$s = g.key)'
        '    AND NOT (%2$s) AND NOT %8$s',
        map_key,
        tdm._stale_same(pm, identifying, 'coalesce(dm.row, to_jsonb(m.*))'),
        tdm._stale_was('coalesce(dm.row, to_jsonb(m.*))'), master_table, master_key, pm.release_column,
        member_key, settled_by_tag)
      ELSE '' END, settled_by_tag,
      -- (Not a row brought again that took the rename an earlier keep_all
      -- gave it under its own key (tdm._translate_returning): the run
      -- collected it with master's values, and the environment still has
      -- those that decision renamed, p327 seeds 578, 587, 595.)
      format('EXISTS (SELECT FROM tdm.conflict_member cm0'
             '         JOIN tdm.conflict c0 ON c0.run_id = cm0.run_id AND c0.conflict_id = cm0.conflict_id'
             '         JOIN tdm.decision d0 ON d0.conflict_id = c0.conflict_id'
             '        WHERE c0.rel = $1 AND cm0.run_id < g.run_id AND cm0.env = g.env AND c0.status = ''applied'''
             '          AND d0.action = ''keep_all'' AND d0.renames ? cm0.label AND %s = g.key AND (%s) AND (%s))',
             tdm._member_key(the_parent, pm.pk_columns, 'cm0."row"'),
             tdm._stale_same(pm, identifying, 'cm0."row"'),
             replace(tdm._stale_same(pm, identifying, '(cm0."row" || (d0.renames -> cm0.label))'),
                     'g.nk_values', '(e.m->''row'')')))
      INTO stale USING the_parent;
    IF stale.env IS NOT NULL THEN
      -- Where the columns that differ are masked, and the loaded row's
      -- values masked now are the environment's: the mask is the cause
      -- (declared since that row was loaded, which holds them unmasked),
      -- not a reset or a change of the row.
      differing := ARRAY(SELECT n.k FROM jsonb_object_keys(stale.now) AS n(k)
                          WHERE stale.now -> n.k IS DISTINCT FROM stale.was -> n.k ORDER BY n.k);
      IF cardinality(differing) > 0
         AND NOT EXISTS (SELECT FROM unnest(differing) AS d(k)
                          WHERE NOT EXISTS (SELECT FROM tdm.mask m WHERE m.rel = the_parent AND m.column_name = d.k)) THEN
        BEGIN
          EXECUTE format('SELECT %s FROM pg_catalog.jsonb_populate_record(NULL::%s, $3) w',
                         (SELECT string_agg(format('(%s)::text IS NOT DISTINCT FROM %L',
                                                   tdm._masked_value_sql(the_parent, d.k, 'w', 1, 2), stale.now ->> d.k),
                                            ' AND ')
                            FROM unnest(differing) AS d(k)),
                         the_parent)
            INTO mask_is_cause USING tdm._mask_secret(), tdm._mask_specs(the_parent), stale.was;
        EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
          mask_is_cause := false;  -- (a domain refusing the row's other columns as NULL)
        END;
        IF mask_is_cause THEN
          masked_since := (SELECT string_agg(format('%s (%s, declared %s)', quote_ident(m.column_name), m.method,
                                                    to_char(m.created_at, 'YYYY-MM-DD HH24:MI')),
                                             ', ' ORDER BY m.column_name)
                             FROM tdm.mask m WHERE m.rel = the_parent AND m.column_name = ANY (differing));
        END IF;
      END IF;
      IF masked_since IS NOT NULL THEN
        RAISE EXCEPTION 'consolidate: the row of % with key (%) in environment % no longer matches the row release % loaded: its natural key was masked since',
          the_parent, stale.key, stale.env, stale.release
          USING ERRCODE = 'object_not_in_prerequisite_state',
                DETAIL = format('Rows of this release reference it. Masked since release %s was loaded: %s. The'
                                ' loaded row holds %s, the environment''s row is collected as %s: the same entity'
                                ' would be loaded twice.', stale.release, masked_since, stale.was, stale.now),
                HINT = format('A mask on a natural key applies from the first consolidation on (tdm.mask_column'
                              ' warned of it); rows loaded before it keep the value unmasked. Remove it (%s) and'
                              ' consolidate again. Nothing was loaded.',
                              (SELECT string_agg(format('SELECT tdm.unmask_column(%L, %L);', the_parent::text, d.k),
                                                 ' ' ORDER BY d.k)
                                 FROM unnest(differing) AS d(k)));
      END IF;
      RAISE EXCEPTION 'consolidate: the row of % with key (%) in environment % is not the row release % consolidated under that key',
        the_parent, stale.key, stale.env, stale.release
        USING ERRCODE = 'object_not_in_prerequisite_state',
              DETAIL = format('Rows of this release reference it. %s; '
                              'the environment now holds %s under that key, tagged %s: its keys were given again '
                              '(a reset, a refresh from a copy), or that row''s natural key changed since.',
                              CASE WHEN stale.in_master
                                   THEN format('Master''s row of key (%s), of release %s, is %s',
                                               stale.key, stale.release, stale.was)
                                   ELSE format('Release %s consolidated %s''s row (%s) as %s',
                                               stale.release, stale.env, stale.key, stale.was) END,
                              stale.now, stale.tag)
                       || CASE WHEN stale.n > 1
                               THEN format(' So it is for %s rows of %s in all: %s%s.', stale.n, the_parent, stale.listed,
                                           CASE WHEN stale.n > 10 THEN ', ...' ELSE '' END)
                               ELSE '' END,
              HINT = format('If another entity holds the key now, tag that row of %s for this release too, so that'
                            ' consolidation finds its row by natural key. If it is the same entity, give it back'
                            ' its natural key (tdm tells entities by it). Then tag the release again and'
                            ' consolidate.', stale.env);
    END IF;
  END IF;
END
$$;

-- For tdm._read_env_tags: whether the environment's row (g.nk_values)
-- and the row `was` (a jsonb expression) agree on a natural key of
-- `natural_keys`; and the values of the first as the second has them.
CREATE FUNCTION tdm._stale_same(pm tdm.managed_table, natural_keys text[], was text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(format('%s IS NOT DISTINCT FROM %s',
                           tdm._member_key(pm.rel, u.cols, 'g.nk_values', tdm._normalized_key(pm, u.cols), true),
                           tdm._member_key(pm.rel, u.cols, was, tdm._normalized_key(pm, u.cols), true)),
                    ' OR ')
    FROM (SELECT string_to_array(k, ',') AS cols FROM unnest(natural_keys) AS k) u
$$;

CREATE FUNCTION tdm._stale_was(was text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format('(SELECT jsonb_object_agg(n.k, %s->n.k) FROM jsonb_object_keys(g.nk_values) AS n(k))', was)
$$;

-- Whether `rel`'s column `col` is of an array type (domains looked through).
CREATE FUNCTION tdm._is_array(rel regclass, col text) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT t.typcategory = 'A' FROM pg_attribute a JOIN pg_type t ON t.oid = tdm._base_type(a.atttypid)
   WHERE a.attrelid = rel AND a.attname = col AND NOT a.attisdropped
$$;

-- Refuses references (rows of `tags`, a table of env, key or value,
-- release; those `filter` keeps) to rows of an archived release: its rows
-- left master, so no row can answer them.
CREATE FUNCTION tdm._refuse_archived_refs(the_parent regclass, tags text, filter text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  archived record;
BEGIN
  EXECUTE format('SELECT g.env, g.release, count(*) AS n, min(array_to_string(g.key, '','')) AS example'
                 '  FROM %s g JOIN tdm.release x ON x.release = g.release'
                 ' WHERE %s AND x.status = ''archived'' GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 1', tags, filter)
    INTO archived;
  IF archived.env IS NOT NULL THEN
    RAISE EXCEPTION 'consolidate: rows of environment % reference % row(s) of % of release %, which is archived',
      archived.env, archived.n, the_parent, archived.release
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = format('For example the row with key (%s). An archived release''s rows are out of master.',
                            archived.example),
            HINT = format('Restore it first: SELECT tdm.restore_release(%L);', archived.release);
  END IF;
END
$$;

-- The runs that loaded the releases in master other than `release`: the
-- key maps that say which key master holds each of their rows under.
-- (PL/pgSQL: what it calls is defined later, in 89_.)
CREATE FUNCTION tdm._master_runs(release text) RETURNS bigint[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN ARRAY(SELECT tdm._promoted_run(x.release) FROM tdm.release x
                WHERE x.release <> _master_runs.release AND tdm._presence(x.status) = 'target'
                  AND tdm._promoted_run(x.release) IS NOT NULL);
END
$$;

-- Right after collection: rows a release in master loaded under another
-- key than their environment's (re-keyed, renamed, merged into another
-- row: the key map of the run it was promoted from), or renamed by a
-- keep_all that left their key, brought again by this release
-- (corrected, tagged for it), take the key that release gave them, and
-- the natural-key values its decision renamed them to (where
-- the environment still has the values that decision saw): they are the
-- entity master's row of that key is, and meet it as such (6.3), not the
-- entity that holds their environment's key in master. Their children of
-- the same environment follow them. Not where the environment brings
-- another row under that key (which would then be two rows), nor where
-- master's row of that key is gone, nor where the row's natural keys are
-- no longer those that run collected (the environment gave the key again
-- to another entity, a reset: tdm._read_env_tags tells such references
-- apart the same way). Noted in pg_temp.tdm_returning, so that this run's
-- key map says the environment's keys.
CREATE FUNCTION tdm._translate_returning(release text, target text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
SET enable_nestloop TO off SET jit TO off AS $$
DECLARE
  m tdm.managed_table;
  e record;
  collected text;
  master_rel regclass;
  renamed_columns text[];
  same_values text;  -- the row's natural keys equal those of the row `k.{row}` holds
  member_then text;  -- the environment's member of conflict ({run}, {conflict}): the row as that run collected it
  brought_again text;  -- the row {was} met master's row of its key as that entity in conflict ({run}, {conflict})
  unreferenced text; -- no collected row of the environment references the new key
  rekeyed_col text;   -- the column a displaced row's new key goes in (tdm._rekeyed_column)
  displaceable bool;  -- the table gives its rows new keys (tdm._rekeyable)
  new_key text;       -- the expression of a displaced row's new key
  loads_into regclass;  -- the target's table, else master's
  runs bigint[] := tdm._master_runs(release);
  earlier bigint[] := tdm._earlier_runs(release, target);  -- the maps tdm._translate_earlier reads
  brought regclass[];  -- the tables whose rows may be brought again: master's, re-keyed by an earlier run
BEGIN
  IF to_regclass('pg_temp.tdm_returning') IS NOT NULL THEN
    DROP TABLE pg_temp.tdm_returning, pg_temp.tdm_returning_fk, pg_temp.tdm_returning_before,
               pg_temp.tdm_returning_match;
  END IF;
  -- (own: the row itself brought again, else a child that followed it;
  -- displaced: the environment's own row under the key one brought again
  -- takes, given a new one)
  CREATE TEMP TABLE tdm_returning (rel regclass, env text, row_hash bigint, old_key text[], old_json jsonb,
                                   new_key text[], new_json jsonb, own bool, displaced bool DEFAULT false)
    ON COMMIT DROP;
  -- (looked up per conflict member by table, environment and key: 4,000
  -- rows brought again took 6 s to scan per conflict, p306)
  CREATE INDEX ON tdm_returning (rel, env, new_json);
  -- (the children's references it set, by foreign key: in master's keys
  -- now, which tdm._translate_earlier does not translate again)
  CREATE TEMP TABLE tdm_returning_fk (rel regclass, edge text, env text, row_hash bigint) ON COMMIT DROP;
  -- (the values of foreign keys that share columns with another, as
  -- collected: one that follows its parent changes the other's)
  CREATE TEMP TABLE tdm_returning_before (rel regclass, edge text, env text, row_hash bigint, key text[])
    ON COMMIT DROP;
  CREATE INDEX ON tdm_returning_before (rel, edge, env, row_hash);
  -- (a table's rows brought again, found before any moves: the rows
  -- under the keys they take, `holder`, move first, p327 seed 502)
  CREATE TEMP TABLE tdm_returning_match (row_ctid tid, env text, old_key text[], old_json jsonb, new_key text[],
                                         new_json jsonb, master_row jsonb, was_row jsonb, holders bigint,
                                         holder tid, moves bool) ON COMMIT DROP;
  IF cardinality(runs) = 0 THEN
    RETURN;
  END IF;
  -- (the foreign keys' values as collected, before the rows brought again
  -- take master's keys, and their children follow: of the keys that
  -- share columns with another, and of the tables whose rows may be
  -- brought again, whose own key may hold part of a reference)
  brought := ARRAY(SELECT t.rel FROM tdm.managed_table t
                    WHERE tdm._target_table('master', t.rel) IS NOT NULL
                      AND to_regclass(format('pg_temp.%I', tdm._collected_name(t.rel))) IS NOT NULL
                      -- (a release brings rows of few tables: the loop
                      -- below takes 10 ms per table, 46 empty ones 0.4 s)
                      AND tdm._holds_rows(format('pg_temp.%I', tdm._collected_name(t.rel))::regclass)
                      AND (EXISTS (SELECT FROM tdm.key_map k WHERE k.run_id = ANY (runs) AND k.rel = t.rel
                                                               AND k.reason <> 'repointed')
                           -- (or a decision changed a row's values under its
                           -- key: no key map entry in the table, p320)
                           OR EXISTS (SELECT FROM tdm.conflict c JOIN tdm.decision d ON d.conflict_id = c.conflict_id
                                       WHERE c.run_id = ANY (runs) AND c.rel = t.rel
                                         AND c.status IN ('decided', 'applied')
                                         AND (d.action IN ('keep', 'merge')
                                              OR (d.action = 'keep_all' AND d.renames IS NOT NULL)))));
  PERFORM tdm._note_fk_before('tdm_returning_before', brought);
  FOR m IN SELECT t.* FROM tdm.managed_table t WHERE t.rel = ANY (brought) ORDER BY t.rel::text LOOP
    collected := format('pg_temp.%I', tdm._collected_name(m.rel));
    master_rel := tdm._target_table('master', m.rel);
    TRUNCATE pg_temp.tdm_returning_match;
    -- (the columns of its natural keys that name no parent, also in a
    -- key that holds a reference, an order's name beside its company: a
    -- parent's key follows the parent; scalars, as their text casts back)
    renamed_columns := ARRAY(SELECT DISTINCT c FROM unnest(m.natural_keys) AS g,
                                                    unnest(string_to_array(g, ',')) AS c
                              WHERE c <> ALL (m.pk_columns)
                                AND NOT EXISTS (SELECT FROM pg_temp.tdm_edges x
                                                 WHERE x.child = m.rel AND c = ANY (x.columns))
                                AND (SELECT t.typcategory NOT IN ('A', 'C')
                                       FROM pg_attribute a JOIN pg_type t ON t.oid = tdm._base_type(a.atttypid)
                                      WHERE a.attrelid = m.rel AND a.attname = c));
    -- (One natural key as then is the entity still, as one joins rows in
    -- detection: a course brought again with its shortname changed and
    -- its idnumber as then is that course, p354.)
    same_values := (SELECT '(' || string_agg(g.cmp, ' OR ') || ')'
                      FROM (SELECT '(' || string_agg(format('k.{row} ->> %1$L IS NOT DISTINCT FROM t.%1$I::text', c),
                                                     ' AND ') || ')' AS cmp
                              FROM unnest(m.natural_keys) WITH ORDINALITY AS k(spec, n),
                                   unnest(string_to_array(k.spec, ',')) AS c
                             WHERE c = ANY (renamed_columns)
                             GROUP BY k.n) g);
    -- (under its environment's key, or under the key the run before gave
    -- it, where that run brought it again; or, {new}, under the key that
    -- run gave it before its conflicts, moving it out of the way of a row
    -- brought again: tdm._map_returning names the conflict, p335)
    member_then := format('(SELECT e.m -> ''row'' FROM tdm.conflict c'
                          '   CROSS JOIN LATERAL jsonb_array_elements(c.members) AS e(m)'
                          '  WHERE c.run_id = {run} AND c.conflict_id = {conflict} AND e.m ->> ''env'' = k.env'
                          '    AND (%1$s = k.old_key'
                          '         OR %1$s = (SELECT %2$s FROM tdm.key_map p'
                          '                     WHERE p.rel = $1 AND p.env = k.env AND p.old_key = k.old_json'
                          '                       AND p.run_id = ANY ($2) AND p.run_id < {run}'
                          '                     ORDER BY p.run_id DESC LIMIT 1)'
                          '         OR %1$s = {new})'
                          '  ORDER BY %1$s = k.old_key DESC LIMIT 1)',
                          tdm._member_key(m.rel, m.pk_columns), tdm._member_key(m.rel, m.pk_columns, 'p.new_key'));
    -- (master's row of the same key and natural keys: the row was brought
    -- again then, or is that entity)
    brought_again := format('EXISTS (SELECT FROM tdm.conflict c'
                            '         CROSS JOIN LATERAL jsonb_array_elements(c.members) AS o(m)'
                            '        WHERE c.run_id = {run} AND c.conflict_id = {conflict} AND o.m ->> ''env'' = ''master'''
                            '          AND %s = %s%s)',
                            tdm._member_key(m.rel, m.pk_columns, 'o.m -> ''row'''),
                            tdm._member_key(m.rel, m.pk_columns, '{was}'),
                            (SELECT string_agg(format(' AND o.m -> ''row'' ->> %1$L IS NOT DISTINCT FROM {was} ->> %1$L', c), '')
                               FROM unnest(renamed_columns) AS c));
    -- (A collected row of the environment that references the new key
    -- names the environment's own row of that key: the key is taken
    -- there, and the row's children would meet the wrong parent. Unless
    -- an earlier release's map sends that row's key elsewhere, as
    -- tdm._translate_earlier then does for those references, by the
    -- same runs' maps, p334.)
    unreferenced := (SELECT string_agg(format('NOT EXISTS (SELECT FROM pg_temp.%I c WHERE c.tdm_env = t.tdm_env'
                                              ' AND %s = k.new_key)',
                                              tdm._collected_name(x.child), tdm._key_text(x.columns, 'c')), ' AND ')
                       FROM pg_temp.tdm_edges x
                      WHERE x.parent = m.rel
                        AND to_regclass(format('pg_temp.%I', tdm._collected_name(x.child))) IS NOT NULL)
                    || ' OR coalesce((SELECT a.new_key <> a.old_key FROM tdm.key_map a'
                       '               WHERE a.run_id = ANY ($3) AND a.rel = $1 AND a.env = k.env'
                       '                 AND a.old_key = k.new_json AND a.reason <> ''repointed'''
                       '               ORDER BY a.run_id DESC LIMIT 1), false)';
    EXECUTE format(
      'WITH earlier AS MATERIALIZED ('
      -- (the latest key each environment key got; the row as the first
      -- run of the latest ones that gave it that key, none between giving
      -- it another, collected it: a run that brought the row again
      -- collected it under that key, with master's values, p315, p319)
      '       SELECT DISTINCT ON (u.env, u.old_key) u.* FROM (SELECT u.*,'
      '         max(u.run_id) FILTER (WHERE u.new_json <> u.latest_json) OVER (PARTITION BY u.env, u.old_key)'
      '           AS other_since FROM (SELECT u.*,'
      '         first_value(u.new_json) OVER (PARTITION BY u.env, u.old_key ORDER BY u.run_id DESC, u.source)'
      '           AS latest_json,'
      -- (the entries before, oldest first: the runs that collected the
      -- row before, where a later one brought it again, p324; not the
      -- entry of a run that brought it again with no conflict, whose
      -- row was master's, p326)
      '         array_agg(u.run_id) FILTER (WHERE u.conflict_id IS NOT NULL) OVER entries_before AS before_runs,'
      '         array_agg(u.conflict_id) FILTER (WHERE u.conflict_id IS NOT NULL) OVER entries_before'
      '           AS before_conflicts FROM ('
      '         SELECT k.env, x.old_key, k.old_key AS old_json, x.new_key, k.new_key AS new_json, k.run_id,'
      '                k.conflict_id, 1 AS source'
      '           FROM tdm.key_map k'
      '          CROSS JOIN LATERAL (SELECT CASE WHEN k.rel = $1 THEN %1$s END AS old_key,'
      '                                     CASE WHEN k.rel = $1 THEN %2$s END AS new_key) x'
      '          WHERE k.run_id = ANY ($2) AND k.rel = $1 AND k.reason <> ''repointed'''
      '            AND EXISTS (SELECT FROM %7$s t WHERE t.tdm_env = k.env AND %9$s = x.old_key)'
      '         UNION ALL'
      -- (a keep_all that renamed a row and left its key, a merge whose
      -- values changed the row that survives it, and a row a keep or a
      -- merge merged into a row of the same key: no map entry, p320, p323)
      '         SELECT cm.env, %11$s, %12$s, %11$s, %12$s, c.run_id, c.conflict_id, 2'
      '           FROM tdm.conflict c JOIN tdm.decision d ON d.conflict_id = c.conflict_id'
      '           JOIN tdm.conflict_member cm ON cm.run_id = c.run_id AND cm.conflict_id = c.conflict_id'
      '          WHERE c.run_id = ANY ($2) AND c.rel = $1'
      '            AND ((d.action = ''keep_all'' AND d.renames ? cm.label)'
      '                 OR (d.action = ''merge'' AND d.merged IS NOT NULL AND cm.member = 0)'
      -- (not where master's row is a member: the rows are then collected
      -- under the keys an earlier release gave them, not their own)
      '                 OR (d.action IN (''keep'', ''merge'') AND NOT c.members @> ''[{"env": "master"}]'''
      '                     AND EXISTS (SELECT FROM tdm.conflict_member s'
      '                                  WHERE s.run_id = c.run_id AND s.conflict_id = c.conflict_id'
      '                                    AND s.member <> cm.member AND s.key = cm.key'
      '                                    AND s.member = CASE d.action WHEN ''merge'' THEN 0'
      '                                                   ELSE (SELECT k.member FROM tdm.conflict_member k'
      '                                                          WHERE k.run_id = c.run_id'
      '                                                            AND k.conflict_id = c.conflict_id'
      '                                                            AND k.label = d.keep_env LIMIT 1) END)))'
      '            AND c.status IN (''decided'', ''applied'')'
      '            AND EXISTS (SELECT FROM %7$s t WHERE t.tdm_env = cm.env AND %9$s = %11$s)'
      -- (not one the same run re-keyed too, by the keep_all or by rule 0
      -- elsewhere: its entry above says the key it left with, p321; nor
      -- a row that run brought again, collected under the key an earlier
      -- release gave its environment key: its entry above says that key,
      -- kept there or re-keyed by the conflict, p336 seed 612. Another
      -- member of the environment, under its own key, is not passed over
      -- for that row's entry, p340.)
      -- (Equalities only, which the planner hashes: a condition per pair
      -- of member and entry grew with their product.)
      '            AND NOT EXISTS (SELECT FROM tdm.key_map r WHERE r.run_id = c.run_id AND r.rel = $1'
      '                              AND r.env = cm.env AND r.old_key = %12$s AND r.reason <> ''repointed'''
      '                              AND r.new_key <> r.old_key)'
      '            AND NOT EXISTS (SELECT FROM tdm.key_map a'
      '                              JOIN tdm.key_map r ON r.rel = a.rel AND r.env = a.env AND r.old_key = a.old_key'
      '                             WHERE a.rel = $1 AND a.reason <> ''repointed'' AND a.new_key <> a.old_key'
      '                               AND r.reason <> ''repointed'' AND a.run_id < r.run_id'
      '                               AND r.run_id = c.run_id AND a.env = cm.env AND a.new_key = %12$s)) u'
      '         WINDOW entries_before AS (PARTITION BY u.env, u.old_key ORDER BY u.run_id, u.source'
      '                                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) u) u'
      '        WHERE u.new_json = u.latest_json AND u.run_id > coalesce(u.other_since, 0)'
      -- (an entry that left the key as it was: only where an earlier one
      -- gave another, which it undoes; a keep_all that re-keyed a row
      -- brought again may give it its environment's key, p327)
      '          AND (u.source = 2 OR u.new_json <> u.old_json OR u.other_since IS NOT NULL)'
      '        ORDER BY u.env, u.old_key, u.run_id, u.source),'
      -- (master's row of the key, whichever release loaded it last)
      '     target AS MATERIALIZED ('
      '       SELECT k.*, to_jsonb(m) AS master_row,'
      -- (the row as that run collected it: its member of the conflict,
      -- under its environment's key, or under the key the run before gave
      -- it, where that run brought it again)
      '              %16$s AS then_row'
      '         FROM earlier k JOIN %4$s m ON %5$s),'
      -- (one collected row per new key and environment: two rows merged
      -- into one then are two rows now)
      '     matched AS ('
      '       SELECT k.*, t.ctid AS row_ctid, w.was AS was_row,'
      '              count(*) OVER (PARTITION BY k.env, k.new_key) AS holders, o.ctid AS holder'
      '         FROM target k JOIN %7$s t ON t.tdm_env = k.env AND %9$s = k.old_key'
      -- (the environment's row under the key, to move first: a join, a
      -- subquery per row scanned the table once each; one at most, the
      -- keys as collected are the environment's)
      '         LEFT JOIN %7$s o ON o.tdm_env = t.tdm_env AND %10$s = k.new_key AND o.ctid <> t.ctid'
      '        CROSS JOIN LATERAL (SELECT %13$s AS direct) d'
      -- (else the row an earlier run collected, where each run after it
      -- brought that row again: kept apart by keep_all twice, the row
      -- is collected the second time under the first one's values, p324)
      '        CROSS JOIN LATERAL (SELECT CASE WHEN d.direct THEN k.then_row WHEN k.before_runs IS NOT NULL THEN ('
      '          WITH RECURSIVE walk (i, was, brought) AS ('
      '            SELECT cardinality(k.before_runs), k.then_row, %17$s'
      '            UNION ALL'
      '            SELECT w.i - 1, b.was, %18$s FROM walk w CROSS JOIN LATERAL (SELECT %19$s AS was) b'
      '             WHERE w.brought AND w.i > 0)'
      '          SELECT s.was FROM walk s WHERE s.i < cardinality(k.before_runs) AND %20$s'
      '           ORDER BY s.i DESC LIMIT 1) END AS was) w'
      '        WHERE (d.direct OR w.was IS NOT NULL) AND (o.ctid IS NOT NULL OR %14$s))'
      ' INSERT INTO pg_temp.tdm_returning_match'
      ' SELECT row_ctid, env, old_key, old_json, new_key, new_json, master_row, was_row, holders, holder,'
      '        holders = 1'
      '   FROM matched',
      tdm._member_key(m.rel, m.pk_columns, 'k.old_key'), tdm._member_key(m.rel, m.pk_columns, 'k.new_key'),
      NULL, master_rel,
      tdm._matches_key(m.rel, m.pk_columns, 'm', 'k.new_key'),
      NULL, collected, NULL,
      tdm._key_text(m.pk_columns, 't'), tdm._key_text(m.pk_columns, 'o'),
      tdm._member_key(m.rel, m.pk_columns, 'cm.row'),
      format('jsonb_build_object(%s)', (SELECT string_agg(format('%L, cm.row -> %L', c, c), ', ')
                                          FROM unnest(m.pk_columns) AS c)),
      -- (still the entity that run collected: its natural keys as then,
      -- or as master holds them; else the environment gave the key again,
      -- to another entity, a reset)
      CASE WHEN same_values IS NULL THEN 'true'
           ELSE format('((k.then_row IS NOT NULL AND %s) OR (%s))', replace(same_values, '{row}', 'then_row'),
                       replace(same_values, '{row}', 'master_row')) END,
      -- (a row renamed under its own key: its children reference it)
      coalesce('(k.old_key = k.new_key OR ' || unreferenced || ')', 'true'),
      NULL,
      replace(replace(replace(member_then, '{run}', 'k.run_id'), '{conflict}', 'k.conflict_id'),
              '{new}', 'k.new_key'),
      replace(replace(replace(brought_again, '{run}', 'k.run_id'), '{conflict}', 'k.conflict_id'),
              '{was}', 'k.then_row'),
      replace(replace(replace(brought_again, '{run}', 'k.before_runs[w.i]'),
                      '{conflict}', 'k.before_conflicts[w.i]'), '{was}', 'b.was'),
      replace(replace(replace(member_then, '{run}', 'k.before_runs[w.i]'), '{conflict}', 'k.before_conflicts[w.i]'),
              '{new}', 'NULL::text[]'),
      coalesce(replace(same_values, 'k.{row}', 's.was'), 'true'))
      USING m.rel, runs, earlier;
    -- Which move: not two rows to one key, nor a row to the key of a row
    -- brought again that stays, until none is left (rows out of each
    -- other's way move together, in one UPDATE below). The environment's
    -- own row under a key one takes (a row of its own, not brought again:
    -- the key tdm gave the returning row is free in the environment, p327
    -- seed 502) gets a new key, where the table generates keys: it meets
    -- no master row under the key it had, which is another entity's.
    -- Elsewhere the row brought again stays under its environment's key.
    displaceable := tdm._rekeyable(m.rel);
    LOOP
      UPDATE pg_temp.tdm_returning_match k SET moves = false
       WHERE k.moves AND k.holder IS NOT NULL
         AND NOT EXISTS (SELECT FROM pg_temp.tdm_returning_match o WHERE o.row_ctid = k.holder AND o.moves)
         AND NOT (displaceable
                  AND NOT EXISTS (SELECT FROM pg_temp.tdm_returning_match o WHERE o.row_ctid = k.holder));
      EXIT WHEN NOT FOUND;
    END LOOP;
    IF displaceable AND EXISTS (SELECT FROM pg_temp.tdm_returning_match k
                                 WHERE k.moves AND k.holder IS NOT NULL
                                   AND NOT EXISTS (SELECT FROM pg_temp.tdm_returning_match o
                                                    WHERE o.row_ctid = k.holder)) THEN
      rekeyed_col := tdm._rekeyed_column(m.rel);
      loads_into := coalesce(tdm._target_table(target, m.rel), master_rel);
      new_key := tdm._new_key_expr(m.rel, loads_into, collected::regclass);
      -- (the key an earlier call of the run gave it, where no row took it
      -- since; else the next, in the rows' order: the same data, the same
      -- keys, as tdm._apply_table's)
      EXECUTE format(
        'WITH displaced AS MATERIALIZED ('
        '       SELECT o.ctid AS row_ctid, o.tdm_env AS env, %1$s AS old_key, %2$s AS old_json'
        '         FROM %3$s o'
        '        WHERE o.ctid = ANY (ARRAY(SELECT k.holder FROM pg_temp.tdm_returning_match k WHERE k.moves))'
        '          AND NOT EXISTS (SELECT FROM pg_temp.tdm_returning_match k WHERE k.row_ctid = o.ctid)),'
        '     keyed AS MATERIALIZED ('
        '       SELECT d.*, coalesce((SELECT v.value FROM pg_temp.tdm_previous_keys p'
        '                              CROSS JOIN LATERAL (SELECT (p.new_key ->> %4$L)::%5$s AS value) v'
        '                             WHERE p.rel = $1 AND p.env = d.env AND p.old_key = d.old_json'
        '                               AND NOT EXISTS (SELECT FROM %3$s x WHERE x.%4$I = v.value)'
        -- (not the release's own rows: an earlier load of this run, or
        -- its promotion, where this run loads into another target)
        '                               AND NOT EXISTS (SELECT FROM (%6$s) x (key) WHERE x.key = v.value)'
        '                             LIMIT 1), %7$s) AS new_value'
        '         FROM (SELECT d.* FROM displaced d LEFT JOIN tdm.environment e ON e.name = d.env'
        '                ORDER BY e.precedence, d.env COLLATE "C", d.old_json) d),'
        '     changed AS ('
        '       UPDATE %3$s t SET %4$I = k.new_value FROM keyed k WHERE t.ctid = k.row_ctid'
        '       RETURNING t.tdm_env, t.tdm_row_hash, k.old_key, k.old_json, %8$s AS new_key, %9$s AS new_json)'
        ' INSERT INTO pg_temp.tdm_returning (rel, env, row_hash, old_key, old_json, new_key, new_json, own, displaced)'
        ' SELECT $1, tdm_env, tdm_row_hash, old_key, old_json, new_key, new_json, false, true FROM changed',
        tdm._key_text(m.pk_columns, 'o'), tdm._key_json(m.rel, m.pk_columns, 'o'), collected,
        rekeyed_col, tdm._column_type(m.rel, rekeyed_col), tdm._keys_of_other_releases(m.rel, loads_into),
        new_key, tdm._key_text(m.pk_columns, 't'), tdm._key_json(m.rel, m.pk_columns, 't'))
        USING m.rel, release;
    END IF;
    EXECUTE format(
      'WITH changed AS ('
      '       UPDATE %1$s t SET %2$s FROM pg_temp.tdm_returning_match k WHERE t.ctid = k.row_ctid AND k.moves'
      '       RETURNING t.tdm_env, t.tdm_row_hash, k.old_key, k.old_json, k.new_key, k.new_json)'
      ' INSERT INTO pg_temp.tdm_returning SELECT $1, tdm_env, tdm_row_hash, old_key, old_json, new_key, new_json, true'
      '   FROM changed',
      collected,
      tdm._set_to_key(m.rel, m.pk_columns, 'k.new_key')
      || coalesce((SELECT ', ' || string_agg(format(
                             '%1$I = CASE WHEN k.was_row ->> %1$L IS NOT DISTINCT FROM t.%1$I::text'
                             ' THEN (k.master_row ->> %1$L)::%2$s ELSE t.%1$I END',
                             c, tdm._column_type(m.rel, c)), ', ')
                     FROM unnest(renamed_columns) AS c), ''))
      USING m.rel;
  END LOOP;
  IF NOT EXISTS (SELECT FROM pg_temp.tdm_returning) THEN
    RETURN;
  END IF;
  -- Their children in the same environment, parents first; a child whose
  -- primary key holds the reference moves with it (and its own children).
  -- A child that follows a second parent (a junction's) keeps the key its
  -- environment gave it as its old key. A foreign key that shares columns
  -- with another is matched by its values as collected (the other may
  -- have moved the shared ones already: decision 98).
  FOR e IN SELECT x.* FROM pg_temp.tdm_edges x JOIN tdm._table_order() o ON o.rel = x.parent
            ORDER BY o.step, x.child::text, x.name LOOP
    CONTINUE WHEN NOT EXISTS (SELECT FROM pg_temp.tdm_returning r WHERE r.rel = e.parent);
    SELECT * INTO m FROM tdm.managed_table WHERE rel = e.child;
    collected := format('pg_temp.%I', tdm._collected_name(e.child));
    CONTINUE WHEN to_regclass(collected) IS NULL;
    EXECUTE format(
      'WITH changed AS ('
      '       UPDATE %1$s t SET %2$s FROM pg_temp.tdm_returning r'
      '        WHERE r.rel = $1 AND r.env = t.tdm_env AND %3$s AND r.old_key <> r.new_key'
      -- (a child brought again itself took master's key, the reference in
      -- it too where its primary key holds all of it; else its reference
      -- follows here, as any child's: noted, it follows the parent again
      -- if this run gives the parent another key)
      '          AND NOT ($5 AND EXISTS (SELECT FROM pg_temp.tdm_returning o'
      '                                   WHERE o.rel = $2 AND o.own AND o.env = t.tdm_env'
      '                                     AND o.row_hash = t.tdm_row_hash))'
      '       RETURNING t.tdm_env, t.tdm_row_hash, %4$s AS new_key, %5$s AS new_json, %6$s AS old_key,'
      '                 %7$s AS old_json),'
      '     noted AS (INSERT INTO pg_temp.tdm_returning_fk SELECT $2, $4, tdm_env, tdm_row_hash FROM changed),'
      '     followed AS (UPDATE pg_temp.tdm_returning b SET new_key = c.new_key, new_json = c.new_json'
      '                    FROM changed c WHERE $3 AND b.rel = $2 AND b.env = c.tdm_env'
      '                                     AND b.row_hash = c.tdm_row_hash'
      '                  RETURNING b.env, b.row_hash)'
      ' INSERT INTO pg_temp.tdm_returning SELECT $2, tdm_env, tdm_row_hash, old_key, old_json, new_key, new_json, false'
      '   FROM changed c WHERE $3'
      '    AND NOT EXISTS (SELECT FROM followed f WHERE f.env = c.tdm_env AND f.row_hash = c.tdm_row_hash)',
      collected,
      tdm._set_to_key(e.child, e.columns, 'r.new_key'),
      'r.old_key = ' || tdm._fk_as_collected(e.child, e.name, tdm._key_text(e.columns, 't')),
      tdm._key_text(m.pk_columns, 't'), tdm._key_json(e.child, m.pk_columns, 't'),
      'ARRAY[' || tdm._key_before_repoint(e.child, m.pk_columns, e.columns, 'r', false) || ']::text[]',
      'jsonb_build_object(' || tdm._key_before_repoint(e.child, m.pk_columns, e.columns, 'r', true) || ')')
      USING e.parent, e.child, m.pk_columns && e.columns, e.name, e.columns <@ m.pk_columns;
  END LOOP;
  ANALYZE pg_temp.tdm_returning;
END
$$;

-- The key map entries of run `run` for rows brought again under the key
-- an earlier release gave them (tdm._translate_returning) that this run
-- left under that key: merged into master's row of it, or kept (a child
-- that moved with its parent), by their environment's key. (Those the run
-- re-keyed or merged elsewhere have entries of its own, by that key.)
CREATE FUNCTION tdm._map_returning(run bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  the_rel regclass;
BEGIN
  FOR the_rel IN SELECT DISTINCT b.rel FROM pg_temp.tdm_returning b LOOP
    -- (A row moved out of the way of a row brought again, by the conflict
    -- it is a member of under the key it was given, a decided one first:
    -- brought again by a later release, it is then met as that conflict
    -- collected it, its renames taken, p335. Its members' keys, once.)
    EXECUTE format(
      'WITH member AS MATERIALIZED ('
      '       SELECT DISTINCT ON (e.m ->> ''env'', k.key) e.m ->> ''env'' AS env, k.key, c.conflict_id'
      '         FROM tdm.conflict c'
      '        CROSS JOIN LATERAL jsonb_array_elements(c.members) AS e(m)'
      '        CROSS JOIN LATERAL (SELECT jsonb_object_agg(p, e.m -> ''row'' -> p) AS key FROM unnest($3) AS p) k'
      '        WHERE c.run_id = $1 AND c.rel = $2 AND c.kind <> ''relationship'''
      '          AND EXISTS (SELECT FROM pg_temp.tdm_returning b WHERE b.rel = $2 AND b.displaced)'
      '        ORDER BY e.m ->> ''env'', k.key, NOT EXISTS (SELECT FROM tdm.decision d'
      '                                                     WHERE d.conflict_id = c.conflict_id), c.conflict_id)'
      ' INSERT INTO tdm.key_map (run_id, rel, env, old_key, new_key, reason, conflict_id)'
      ' SELECT $1, b.rel, b.env, b.old_json, b.new_json,'
      '        CASE WHEN NOT EXISTS (SELECT FROM %1$s t WHERE t.tdm_env = b.env AND t.tdm_row_hash = b.row_hash)'
      '             THEN ''merged'' WHEN b.own OR b.displaced THEN ''rekeyed'' ELSE ''repointed'' END,'
      '        CASE WHEN b.displaced THEN (SELECT x.conflict_id FROM member x WHERE x.env = b.env AND x.key = b.new_json) END'
      '   FROM pg_temp.tdm_returning b'
      '  WHERE b.rel = $2 AND b.old_json <> b.new_json'
      '    AND NOT EXISTS (SELECT FROM pg_temp.tdm_keymap k WHERE k.rel = b.rel AND k.env = b.env'
      '                                                       AND k.old_json = b.new_json)'
      '    AND NOT EXISTS (SELECT FROM pg_temp.tdm_deleted dl WHERE dl.rel = b.rel AND NOT dl.earlier'
      '                      AND dl.env = b.env AND coalesce(dl.row_hash = b.row_hash, dl.key = b.new_key))',
      format('pg_temp.%I', tdm._collected_name(the_rel)))
      USING run, the_rel, (SELECT m.pk_columns::text[] FROM tdm.managed_table m WHERE m.rel = the_rel);
  END LOOP;
END
$$;

-- The condition that collected row `t` of the child `rel_param` ($n) is
-- noted in pg_temp.tdm_earlier_fk for its foreign key `edge_param`
-- (tdm._translate_earlier): `orphan` true, as referencing a row an earlier
-- release deleted; false, as translated through an earlier release's key
-- map; NULL, either.
CREATE FUNCTION tdm._noted_earlier(rel_param text, edge_param text, orphan bool DEFAULT NULL) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT format('EXISTS (SELECT 1 FROM pg_temp.tdm_earlier_fk ef WHERE ef.rel = %s AND ef.edge = %s'
                ' AND ef.env = t.tdm_env AND ef.row_hash = t.tdm_row_hash%s)', rel_param, edge_param,
                CASE orphan WHEN true THEN ' AND ef.orphan' WHEN false THEN ' AND NOT ef.orphan' ELSE '' END)
$$;

-- Right after collection, while every collected key is the environment's:
-- a foreign key to a row of an earlier release that this release does not
-- bring (no collected parent row of that environment has the key), whose
-- key that release's consolidation changed (the key map of the release
-- the environment's row belongs to now, tdm._read_env_tags; the latest
-- one when the row is gone), is translated to the key the row got: an account of st2 that references st2's user 1, which release
-- R2 loaded as user 10, references user 10. Such rows are noted in
-- pg_temp.tdm_earlier_fk, so that this run's own key map does not
-- translate them again (tdm._propagate).
CREATE FUNCTION tdm._translate_earlier(release text, target text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
SET enable_nestloop TO off SET jit TO off AS $$
DECLARE
  e record;
  cm tdm.managed_table;
  pm tdm.managed_table;
  child regclass;
  parent regclass;
  parent_rel regclass;
  set_fk text;
  env text;
  overlapping bool;  -- the foreign key shares columns with another (tdm._fk_overlaps)
  runs bigint[] := tdm._earlier_runs(release, target);  -- (whose key maps translate)
  elsewhere record;  -- references to rows of a release in neither this target nor master
  compared record;   -- a unique reference's columns no foreign key of the parent holds: members, env (u.v)
  -- Another release no run completed yet: its rows are nowhere, and a
  -- reference to them is refused naming it (below).
  never_loaded bool := EXISTS (SELECT 1 FROM tdm.release y
                                WHERE y.release <> _translate_earlier.release
                                  AND NOT EXISTS (SELECT 1 FROM tdm.run r WHERE r.release = y.release
                                                                             AND r.status = 'completed'));
BEGIN
  -- (An archived release's map is not among them, but a reference to its
  -- rows is refused below, by the environment's tags.)
  IF cardinality(runs) = 0 AND NOT EXISTS (SELECT 1 FROM tdm.release x WHERE x.status = 'archived')
     AND NOT never_loaded THEN
    RETURN;
  END IF;
  -- (Archived releases' maps included: a reference to such a row is refused.)
  -- (The parents of references by the primary key, or by another unique
  -- key that holds it, tdm._read_env_tags.)
  FOR parent_rel IN SELECT DISTINCT x.parent
                      FROM (SELECT y.parent FROM pg_temp.tdm_edges y
                            UNION ALL
                            SELECT r.parent FROM tdm._managed_references() r WHERE r.holds_key) x
                     WHERE EXISTS (SELECT 1 FROM tdm.key_map k
                                    WHERE k.run_id = ANY (ARRAY(SELECT max(r.run_id) FROM tdm.run r
                                                                WHERE r.release <> _translate_earlier.release
                                                                  AND r.status = 'completed'
                                                                GROUP BY r.release))
                                      AND k.rel = x.parent)
                        OR EXISTS (SELECT 1 FROM tdm.decision d JOIN tdm.conflict c USING (conflict_id)
                                    WHERE d.action = 'delete_all' AND c.rel = x.parent)
                        OR EXISTS (SELECT 1 FROM tdm.release x WHERE x.status = 'archived')
                        -- (and where master holds earlier rows: an environment
                        -- whose keys were given again, tdm._read_env_tags)
                        OR tdm._target_table('master', x.parent) IS NOT NULL
                        -- (and where another release may hold the rows
                        -- referenced, not consolidated yet: refused below
                        -- naming it, not left to validation's "no such
                        -- parent row")
                        OR never_loaded LOOP
    PERFORM tdm._read_env_tags(parent_rel);
  END LOOP;
  -- A reference to a row an earlier release loaded into another target
  -- only, or to a row of a release never consolidated (its tag, which
  -- tdm._read_env_tags leaves only as such: no run loaded it): no row here
  -- is it, and the key it holds may be another entity's here.
  SELECT g.rel, g.env, x.release, count(*) AS n, min(array_to_string(g.key, ',')) AS example,
         (SELECT string_agg(DISTINCT r.target, ', ') FROM tdm.run r
           WHERE r.release = x.release AND r.status = 'completed') AS targets
    INTO elsewhere
    FROM pg_temp.tdm_env_tags g JOIN tdm.release x ON x.release = coalesce(g.release, g.tag)
   WHERE x.release <> _translate_earlier.release AND tdm._presence(x.status) = 'neither'
     AND NOT EXISTS (SELECT 1 FROM tdm.run r WHERE r.release = x.release AND r.status = 'completed'
                                                AND (r.target = _translate_earlier.target OR g.release IS NULL))
   GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 LIMIT 1;
  IF elsewhere.rel IS NOT NULL THEN
    RAISE EXCEPTION 'consolidate: rows of environment % reference % row(s) of % of release %, which is in neither % nor master',
      elsewhere.env, elsewhere.n, elsewhere.rel, elsewhere.release, target
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = format('For example the row with key (%s). Release %s %s.',
                            elsewhere.example, elsewhere.release,
                            coalesce('was consolidated into ' || elsewhere.targets || ' only',
                                     'was never consolidated')),
            HINT = format('Consolidate %1$s into %2$s first (SELECT tdm.consolidate(%1$L, %2$L);), or promote it'
                          ' into master; or tag the referenced rows for release %3$s.',
                          elsewhere.release, target, release);
  END IF;
  -- (Key maps by run and table, through their index: the map of this
  -- release's own runs can be millions of rows.)
  FOR e IN SELECT x.* FROM pg_temp.tdm_edges x
            WHERE EXISTS (SELECT 1 FROM tdm.key_map k
                           WHERE k.run_id = ANY (runs) AND k.rel = x.parent)
            ORDER BY x.child::text, x.name LOOP
    SELECT * INTO cm FROM tdm.managed_table WHERE rel = e.child;
    overlapping := tdm._fk_overlaps(e.child, e.name);
    SELECT * INTO pm FROM tdm.managed_table WHERE rel = e.parent;
    child := format('pg_temp.%I', tdm._collected_name(e.child))::regclass;
    parent := format('pg_temp.%I', tdm._collected_name(e.parent))::regclass;
    set_fk := tdm._set_to_key(e.child, e.columns, 'k.new_key');
    EXECUTE format(
      'WITH earlier AS MATERIALIZED ('
      '       SELECT DISTINCT ON (k.env, x.from_key) k.env, x.from_key AS old_key, x.to_key AS new_key'
      '         FROM tdm.key_map k JOIN tdm.run r ON r.run_id = k.run_id'
      '        CROSS JOIN LATERAL (SELECT CASE WHEN k.rel = $1 THEN %1$s END AS from_key,'
      '                                   CASE WHEN k.rel = $1 THEN %2$s END AS to_key) x'
      -- (the map of the release the environment's row belongs to now, if
      -- the row is still there: else the latest)
      '         LEFT JOIN pg_temp.tdm_env_tags g ON g.rel = $1 AND g.env = k.env AND g.key = x.from_key'
      '        WHERE k.run_id = ANY ($6) AND k.rel = $1 AND (g.release IS NULL OR g.release = r.release)'
      -- (not to a key a decision of that run then deleted, a relationship
      -- conflict's delete_all of the row renamed or given it: no row has
      -- it; the reference is to a deleted row, below, p309)
      '          AND NOT (k.reason IN (''rekeyed'', ''renamed'')'
      '                   AND EXISTS (SELECT 1 FROM tdm.decision d'
      '                                 JOIN tdm.conflict c ON c.conflict_id = d.conflict_id AND c.run_id = k.run_id'
      '                                CROSS JOIN LATERAL jsonb_array_elements(c.members) AS dm(m)'
      '                                WHERE d.action = ''delete_all'' AND c.rel = $1 AND c.status = ''applied'''
      '                                  AND dm.m ->> ''env'' = k.env AND dm.m -> ''row'' @> k.new_key))'
      '        ORDER BY k.env, x.from_key, k.run_id DESC),'
      '     changed AS ('
      '       UPDATE %3$s t SET %4$s FROM earlier k'
      '        WHERE k.env = t.tdm_env AND k.old_key = %15$s AND k.new_key <> k.old_key'
      -- (a parent row by its environment's key: not one that
      -- tdm._translate_returning gave that key, a row brought again
      -- under the key master holds it under, p334)
      '          AND NOT EXISTS (SELECT 1 FROM %6$s p WHERE p.tdm_env = t.tdm_env AND %7$s = %5$s'
      '                            AND NOT EXISTS (SELECT 1 FROM pg_temp.tdm_returning b'
      '                                             WHERE b.rel = $1 AND b.env = p.tdm_env'
      '                                               AND b.row_hash = p.tdm_row_hash AND (b.own OR b.displaced)'
      '                                               AND b.old_key <> b.new_key))'
      -- (not a reference tdm._translate_returning set to master's key: a
      -- child of a returning row, or a returning row's own key holding it)
      '          AND NOT EXISTS (SELECT 1 FROM pg_temp.tdm_returning_fk f WHERE f.rel = $3 AND f.edge = $4'
      '                             AND f.env = t.tdm_env AND f.row_hash = t.tdm_row_hash)'
      '          AND NOT ($7 AND EXISTS (SELECT 1 FROM pg_temp.tdm_returning b WHERE b.rel = $3 AND b.own'
      '                                     AND b.env = t.tdm_env AND b.row_hash = t.tdm_row_hash))'
      '       RETURNING t.tdm_env AS env, t.tdm_row_hash AS row_hash, %8$s AS new_key, %9$s AS new_json,'
      '                 ARRAY[%10$s]::text[] AS old_key, jsonb_build_object(%11$s) AS old_json,'
      '                 NULL::text AS conflict_id%12$s),'
      '     noted AS (INSERT INTO pg_temp.tdm_earlier_fk (rel, edge, env, row_hash)'
      '               SELECT $3, $4, env, row_hash FROM changed)%13$s,'
      -- A primary key that includes the foreign key changed with it: this
      -- run's key map says so, for the row's own children (as tdm._propagate).
      '     repointed AS (SELECT * FROM changed WHERE $5)%14$s',
      tdm._member_key(e.parent, pm.pk_columns, 'k.old_key'),
      tdm._member_key(e.parent, pm.pk_columns, 'k.new_key'),
      child, set_fk, tdm._key_text(e.columns, 't'), parent, tdm._key_text(pm.pk_columns, 'p'),
      tdm._key_text(cm.pk_columns, 't'), tdm._key_json(cm.rel, cm.pk_columns, 't'),
      tdm._key_before_repoint(e.child, cm.pk_columns, e.columns, 'k', false),
      tdm._key_before_repoint(e.child, cm.pk_columns, e.columns, 'k', true),
      -- (and rows that reference its other unique keys follow it)
      CASE WHEN tdm._unique_referenced(e.child, e.columns)
           THEN format(', %s AS old_row, %s AS final_row', tdm._row_before(e.child, e.columns, 'to_jsonb((k.old_key)[%1$s])'),
                       tdm._row_json(e.child, 't')) ELSE '' END,
      CASE WHEN tdm._unique_referenced(e.child, e.columns)
           THEN tdm._note_followed('$3', 'changed', true) ELSE '' END,
      tdm._note_repointed('$3', 'repointed'),
      -- (by the environment's values: as collected, where
      -- tdm._translate_returning noted them before rows brought again took
      -- master's keys and their children followed; an overlapping foreign
      -- key's as noted after, as in tdm._propagate; else as they are)
      tdm._fk_as_collected(e.child, e.name,
                           CASE WHEN overlapping
                                THEN '(SELECT b.key FROM pg_temp.tdm_fk_before b WHERE '
                                     || tdm._fk_before_row('$3', '$4') || ')'
                                ELSE tdm._key_text(e.columns, 't') END))
      USING e.parent, release, e.child, e.name, cm.pk_columns && e.columns, runs, e.columns <@ cm.pk_columns;
  END LOOP;
  -- The same for a foreign key to another unique key of a parent (a line's
  -- sku): a value no collected parent row of its environment has takes the
  -- values the row it meant holds now. That row is the environment's row
  -- with that value (read there, as for keys above): its key through the
  -- key map of the release it belongs to, read in master, else in the
  -- target; a line of st2 that references st2's product P1, which release
  -- R1 renamed P2, references P2. When the environment no longer has such
  -- a row, the earlier releases' conflict members of that environment with
  -- that value say (not those of a conflict a decision deleted). Such rows
  -- are noted as above, and as followed rows for their own children
  -- (pg_temp.tdm_unique_followed).
  FOR e IN SELECT r.* FROM tdm._managed_references() r WHERE NOT r.to_key
            ORDER BY r.child::text, r.name LOOP
    SELECT * INTO cm FROM tdm.managed_table WHERE rel = e.child;
    SELECT * INTO pm FROM tdm.managed_table WHERE rel = e.parent;
    SELECT string_agg(format('((c.m -> ''row'' ->> %L)::%s)::text', x.r, tdm._column_type(e.child, x.c)), ', '
                      ORDER BY x.i) AS members,
           string_agg(format('u.v[%s]', x.i), ', ' ORDER BY x.i) AS env
      INTO compared
      FROM unnest(e.columns, e.ref_columns) WITH ORDINALITY AS x(c, r, i)
     WHERE NOT EXISTS (SELECT FROM jsonb_array_elements(pm.foreign_keys) AS fk WHERE fk -> 'columns' ? x.r);
    child := format('pg_temp.%I', tdm._collected_name(e.child))::regclass;
    parent := format('pg_temp.%I', tdm._collected_name(e.parent))::regclass;
    TRUNCATE pg_temp.tdm_unique_dangling, pg_temp.tdm_unique_env;
    EXECUTE format(
      'INSERT INTO pg_temp.tdm_unique_dangling (env, v)'
      ' SELECT DISTINCT t.tdm_env, ARRAY[%1$s] FROM %2$s t'
      '  WHERE t.tdm_env <> ''master'' AND %3$s'
      '    AND NOT EXISTS (SELECT 1 FROM %4$s p WHERE p.tdm_env = t.tdm_env AND ARRAY[%5$s] = ARRAY[%1$s])',
      (SELECT string_agg(format('t.%I::text', c), ', ') FROM unnest(e.columns) AS c), child,
      (SELECT string_agg(format('t.%I IS NOT NULL', c), ' AND ') FROM unnest(e.columns) AS c), parent,
      (SELECT string_agg(format('p.%I::%s::text', r, tdm._column_type(e.child, c)), ', ')
         FROM unnest(e.columns, e.ref_columns) AS x(c, r)));
    CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_temp.tdm_unique_dangling);
    FOR env IN SELECT DISTINCT d.env FROM pg_temp.tdm_unique_dangling d ORDER BY 1 LOOP
      EXECUTE format(
        'INSERT INTO pg_temp.tdm_unique_env (env, v, old_row, pk, release)'
        ' SELECT $1, u.v, u.old_row, u.pk, u.release FROM ('
        '   SELECT ARRAY[%1$s] AS v, jsonb_build_object(%2$s) AS old_row, %3$s AS pk, r.%4$I::text AS release'
        '     FROM %5$s r'
        '    WHERE r.%6$I %8$s (%9$s(SELECT DISTINCT (d.v[1])::%7$s FROM pg_temp.tdm_unique_dangling d'
        '                               WHERE d.env = $1))) u'
        '  WHERE u.v IN (SELECT d.v FROM pg_temp.tdm_unique_dangling d WHERE d.env = $1)',
        (SELECT string_agg(format('r.%I::%s::text', r, tdm._column_type(e.child, c)), ', ')
           FROM unnest(e.columns, e.ref_columns) AS x(c, r)),
        (SELECT string_agg(format('%L, %s', r, tdm._json_value(e.parent, r, format('r.%I', r))), ', ')
           FROM unnest(e.ref_columns) AS r),
        tdm._key_json(e.parent, pm.pk_columns, 'r'), pm.release_column, tdm._env_table(env, e.parent),
        e.ref_columns[1], tdm._column_type(e.parent, e.ref_columns[1]),
        -- (an array column: the values as rows, as tdm._read_env_tags)
        CASE WHEN tdm._is_array(e.parent, e.ref_columns[1]) THEN 'IN' ELSE '= ANY' END,
        CASE WHEN tdm._is_array(e.parent, e.ref_columns[1]) THEN '' ELSE 'ARRAY' END)
        USING env;
    END LOOP;
    PERFORM tdm._refuse_archived_refs(e.parent, '(SELECT u.env, u.v AS key, u.release FROM pg_temp.tdm_unique_env u)',
                                      'true');
    EXECUTE format(
      'WITH moved AS MATERIALIZED ('
      -- the environment's row of that value now
      '       SELECT * FROM ('
      '       SELECT DISTINCT ON (u.env, u.v) u.env, u.v, u.old_row, f.final_row'
      '         FROM pg_temp.tdm_unique_env u JOIN tdm.run r ON r.run_id = ANY ($1) AND r.release = u.release'
      '         LEFT JOIN tdm.key_map k ON k.run_id = r.run_id AND k.rel = $2 AND k.env = u.env'
      '                                AND k.old_key = u.pk'
      '        CROSS JOIN LATERAL (SELECT coalesce(k.new_key, u.pk) AS pk) n'
      '        CROSS JOIN LATERAL (SELECT coalesce(%5$s) AS final_row) f'
      '        WHERE f.final_row IS NOT NULL'
      -- (Not a row that release deleted along with the row it was merged
      -- into: no row has it; a relationship conflict, below. Its own key
      -- names another row, or none.)
      '          AND NOT ' || tdm._deleted_along('r.run_id', '$2', 'u.env', 'u.pk', pm.pk_columns) ||
      -- (Nor through a map entry made for another row that had this key
      -- then, the member of its conflict with other values of the
      -- reference: the environment's keys were given again, a refresh
      -- from master. The value names master's row of it; else validation
      -- says no row has it. Values a mask changes are compared as
      -- collected: not here.)
      -- Compared by the reference's columns that are no foreign key of the
      -- parent (members hold those translated), and not where it holds
      -- the primary key (tdm._read_env_tags checks those references).
      CASE WHEN NOT EXISTS (SELECT FROM tdm.mask k WHERE k.rel = e.parent AND k.column_name = ANY (e.ref_columns))
                AND NOT e.holds_key AND compared.members IS NOT NULL
           THEN format('          AND NOT EXISTS (SELECT 1 FROM tdm.conflict x'
                       '                           CROSS JOIN LATERAL jsonb_array_elements(x.members) AS c(m)'
                       '                           WHERE x.run_id = k.run_id AND x.conflict_id = k.conflict_id'
                       '                             AND c.m ->> ''env'' = u.env AND %%4$s = u.pk'
                       '                             AND ARRAY[%s] IS DISTINCT FROM ARRAY[%s])',
                       compared.members, compared.env)
           ELSE '' END ||
      '        ORDER BY u.env, u.v) found'
      '       UNION ALL'
      -- (gone from the environment: the members that had it)
      '       SELECT * FROM ('
      '       SELECT DISTINCT ON (d.env, d.v) d.env, d.v, c.m -> ''row'' AS old_row, f.final_row'
      '         FROM pg_temp.tdm_unique_dangling d'
      '         JOIN (SELECT c.run_id, m.m FROM tdm.conflict c'
      '                CROSS JOIN LATERAL jsonb_array_elements(c.members) AS m(m)'
      '               WHERE c.run_id = ANY ($1) AND c.rel = $2'
      '                 AND NOT EXISTS (SELECT 1 FROM tdm.decision x'
      '                                  WHERE x.conflict_id = c.conflict_id AND x.action = ''delete_all'')) c'
      '           ON c.m ->> ''env'' = d.env AND ARRAY[%3$s] = d.v'
      '         LEFT JOIN tdm.key_map k ON k.run_id = c.run_id AND k.rel = $2 AND k.env = d.env'
      '                                AND k.old_key = %4$s'
      '        CROSS JOIN LATERAL (SELECT coalesce(k.new_key, %4$s) AS pk) n'
      '        CROSS JOIN LATERAL (SELECT coalesce(%5$s) AS final_row) f'
      '        WHERE f.final_row IS NOT NULL'
      '          AND NOT EXISTS (SELECT 1 FROM pg_temp.tdm_unique_env u WHERE u.env = d.env AND u.v = d.v)'
      '          AND NOT ' || tdm._deleted_along('c.run_id', '$2', 'd.env', '%4$s', pm.pk_columns) ||
      '        ORDER BY d.env, d.v, c.run_id DESC) gone),'
      '     changed AS ('
      '       UPDATE %2$s t SET %6$s FROM moved u'
      '        WHERE u.env = t.tdm_env AND ARRAY[%1$s] = u.v AND u.v IS DISTINCT FROM ARRAY[%7$s]'
      '       RETURNING t.tdm_env AS env, t.tdm_row_hash AS row_hash, %8$s AS old_row, %9$s AS final_row),'
      '     noted AS (INSERT INTO pg_temp.tdm_earlier_fk (rel, edge, env, row_hash)'
      '               SELECT $3, $4, env, row_hash FROM changed)'
      || tdm._note_followed('$3', 'changed', false) || ' SELECT',
      (SELECT string_agg(format('t.%I::text', c), ', ') FROM unnest(e.columns) AS c),
      child,
      (SELECT string_agg(format('((c.m -> ''row'' ->> %L)::%s)::text', r, tdm._column_type(e.child, c)), ', ')
         FROM unnest(e.columns, e.ref_columns) AS x(c, r)),
      tdm._member_key_json(pm.pk_columns, 'c.m'),
      (SELECT string_agg(format('(SELECT %s FROM %s x WHERE %s)', tdm._row_json(x.tab, 'x'), x.tab,
                                (SELECT string_agg(format('x.%I %s (n.pk ->> %L)::%s', c,
                                                          tdm._type_equality(x.tab, c), c,
                                                          tdm._column_type(x.tab, c)), ' AND ')
                                   FROM unnest(pm.pk_columns) AS c)), ', ' ORDER BY x.n)
         FROM unnest(ARRAY[tdm._target_table('master', e.parent), tdm._target_table(target, e.parent)])
              WITH ORDINALITY AS x(tab, n)
        WHERE x.tab IS NOT NULL),
      tdm._follow_set(e.child, e.columns, e.ref_columns),
      (SELECT string_agg(format('((u.final_row ->> %L)::%s)::text', r, tdm._column_type(e.child, c)), ', ')
         FROM unnest(e.columns, e.ref_columns) AS x(c, r)),
      tdm._row_before(e.child, e.columns, 'u.old_row -> %2$s', e.ref_columns),
      tdm._row_json(e.child, 't'))
      USING runs, e.parent, e.child, e.name;
    IF cm.pk_columns && e.columns THEN
      PERFORM tdm._map_followed_keys(e.child);
    END IF;
  END LOOP;
  -- Rows an earlier release's decision deleted (delete_all), and that this
  -- release does not bring: its rows that reference them become
  -- relationship conflicts (tdm._propagate), as references to rows this
  -- release deletes do, instead of meeting another row with that key; by
  -- another unique key too (the deleted row's values kept for that).
  FOR parent_rel IN SELECT DISTINCT x.parent FROM tdm._managed_references() x
                     WHERE EXISTS (SELECT 1 FROM tdm.decision d WHERE d.action = 'delete_all') LOOP
    SELECT * INTO pm FROM tdm.managed_table WHERE rel = parent_rel;
    -- (From the decisions, few, to their conflicts by id: the conflicts of
    -- every run can be millions of rows.)
    EXECUTE format(
      'INSERT INTO pg_temp.tdm_deleted (rel, env, key, conflict_id, earlier, old_row, merged_into)'
      ' SELECT DISTINCT ON (cm.env, k.key) $1, cm.env, k.key, c.conflict_id, true, cm."row", cm.merged_into'
      '   FROM tdm.decision d'
      '  CROSS JOIN LATERAL ('
      '    SELECT c.conflict_id, c.members, c.deleted_along, c.run_id FROM tdm.conflict c'
      '     WHERE c.conflict_id = d.conflict_id AND c.run_id = ANY ($2) AND c.rel = $1'
      '    OFFSET 0) c'
      -- (with the rows it deleted along with them: copies merged into them)
      '  CROSS JOIN LATERAL (SELECT e.m ->> ''env'' AS env, e.m -> ''row'' AS "row", NULL AS merged_into'
      '                        FROM jsonb_array_elements(c.members) AS e(m)'
      '                      UNION ALL'
      '                      SELECT a.m ->> ''env'', a.m -> ''row'', a.m ->> ''into'''
      '                        FROM jsonb_array_elements(c.deleted_along) AS a(m)'
      '                       WHERE c.deleted_along IS NOT NULL) cm'
      -- (by the environment's key: a member renamed or given a new key
      -- before its relationship conflict deleted it holds that one, p309)
      '  CROSS JOIN LATERAL (SELECT coalesce((SELECT %4$s FROM tdm.key_map km'
      '                                        WHERE km.run_id = c.run_id AND km.rel = $1 AND km.env = cm.env'
      '                                          AND km.reason IN (''rekeyed'', ''renamed'') AND km.new_key = %5$s'
      '                                        LIMIT 1), %1$s) AS key) k'
      '  WHERE d.action = ''delete_all'' AND cm.env <> ''master'''
      '    AND NOT EXISTS (SELECT 1 FROM %2$s p WHERE p.tdm_env = cm.env AND %3$s = k.key)'
      -- (unless the environment's row with that key is another release's now)
      '    AND NOT EXISTS (SELECT 1 FROM pg_temp.tdm_env_tags g JOIN tdm.run r ON r.run_id = c.run_id'
      '                     WHERE g.rel = $1 AND g.env = cm.env AND g.key = k.key AND g.release <> r.release)'
      '  ORDER BY cm.env, k.key, c.run_id DESC, c.conflict_id',
      tdm._member_key(parent_rel, pm.pk_columns, 'cm."row"'),
      format('pg_temp.%I', tdm._collected_name(parent_rel)), tdm._key_text(pm.pk_columns, 'p'),
      tdm._member_key(parent_rel, pm.pk_columns, 'km.old_key'),
      format('jsonb_build_object(%s)', (SELECT string_agg(format('%L, cm."row" -> %L', c, c), ', ')
                                          FROM unnest(pm.pk_columns) AS c)))
      USING parent_rel, runs;
  END LOOP;
  -- The rows that reference them, noted while their keys are still the
  -- environment's (this run's key map may give another row that key).
  -- Not a row translated above: its reference holds the key an earlier
  -- release gave, which a deleted row may have had in the environment
  -- (e2's 1, loaded as 2, is not e2's deleted 2).
  FOR e IN SELECT x.* FROM pg_temp.tdm_edges x
            WHERE EXISTS (SELECT 1 FROM pg_temp.tdm_deleted d WHERE d.rel = x.parent AND d.earlier)
            ORDER BY x.child::text, x.name LOOP
    SELECT * INTO cm FROM tdm.managed_table WHERE rel = e.child;
    EXECUTE format(
      'INSERT INTO pg_temp.tdm_earlier_fk (rel, edge, env, row_hash, orphan)'
      ' SELECT $1, $2, t.tdm_env, t.tdm_row_hash, true FROM %s t JOIN pg_temp.tdm_deleted d'
      '     ON d.rel = $3 AND d.earlier AND d.env = t.tdm_env AND d.key = %s'
      '  WHERE NOT %s',
      format('pg_temp.%I', tdm._collected_name(e.child)), tdm._key_text(e.columns, 't'),
      tdm._noted_earlier('$1', '$2', false))
      USING e.child, e.name, e.parent;
  END LOOP;
  IF EXISTS (SELECT 1 FROM pg_temp.tdm_earlier_fk) THEN
    ANALYZE pg_temp.tdm_earlier_fk;  -- (looked up per row by tdm._propagate)
  END IF;
END
$$;

-- Rows of `child` whose foreign key followed its parent's other unique key
-- (pg_temp.tdm_unique_followed, not yet keyed), where that key is part of
-- their primary key: key map entries (`repointed`), for the children of
-- that key (keys spelled as the key map spells them, the type's text).
CREATE FUNCTION tdm._map_followed_keys(child regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  pk_columns text[] := (SELECT m.pk_columns FROM tdm.managed_table m WHERE m.rel = child);
BEGIN
  EXECUTE format(
    'WITH keyed AS (UPDATE pg_temp.tdm_unique_followed f SET keyed = true'
    '                WHERE f.rel = $1 AND NOT f.keyed RETURNING f.*),'
    '     mapped AS ('
    '       SELECT f.env, f.row_hash, o.k AS old_key,'
    '              (SELECT jsonb_object_agg(c, f.old_row -> c) FROM unnest($2) AS c) AS old_json,'
    '              n.k AS new_key, (SELECT jsonb_object_agg(c, f.final_row -> c) FROM unnest($2) AS c)'
    '                AS new_json, NULL::text AS conflict_id'
    '         FROM keyed f CROSS JOIN LATERAL (SELECT ARRAY[%1$s] AS k) o'
    '        CROSS JOIN LATERAL (SELECT ARRAY[%2$s] AS k) n WHERE o.k IS DISTINCT FROM n.k)'
    || tdm._note_repointed('$1', 'mapped'),
    (SELECT string_agg(format('((f.old_row ->> %L)::%s)::text', c, tdm._column_type(child, c)), ', ')
       FROM unnest(pk_columns) AS c),
    (SELECT string_agg(format('((f.final_row ->> %L)::%s)::text', c, tdm._column_type(child, c)), ', ')
       FROM unnest(pk_columns) AS c))
    USING child, pk_columns;
END
$$;

-- After tdm._apply_table of `the_parent` (its pg_temp.tdm_plan): the
-- foreign keys that reference another unique key of it than the primary
-- key (a product's sku). A row merged away, or whose key a decision
-- renamed, changes the values its environment's children reference: they
-- are set to the final row's (the survivor's, renamed and merged), as
-- children of the primary key are re-pointed through the key map. A row's
-- values before are its member's row; after, that row with its patch and
-- its new key. Children changed so are changes of their own for their
-- children in turn (pg_temp.tdm_unique_followed, a line's (sku, n) for its
-- notes), and where the changed columns are in their primary key, key map
-- entries (`repointed`) for the children of that key.
CREATE FUNCTION tdm._follow_unique_refs(run bigint, the_parent regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
SET enable_nestloop TO off SET jit TO off AS $$
DECLARE
  e record;
  cm tdm.managed_table;
  pm tdm.managed_table;
  collected regclass;
  overlapping bool;  -- the foreign key shares columns with another (tdm._fk_overlaps)
BEGIN
  IF NOT EXISTS (SELECT 1 FROM tdm._managed_references() r WHERE r.parent = the_parent AND NOT r.to_key)
     OR NOT (EXISTS (SELECT 1 FROM pg_temp.tdm_plan p WHERE p.role IN ('drop', 'keep', 'rekey'))
             OR EXISTS (SELECT 1 FROM pg_temp.tdm_unique_followed f WHERE f.rel = the_parent)) THEN
    RETURN;
  END IF;
  IF to_regclass('pg_temp.tdm_unique_moves') IS NOT NULL THEN
    DROP TABLE pg_temp.tdm_unique_moves;
  END IF;
  SELECT * INTO pm FROM tdm.managed_table WHERE rel = the_parent;
  EXECUTE format(
    'CREATE TEMP TABLE tdm_unique_moves ON COMMIT DROP AS'
    ' WITH member AS ('
    '   SELECT p.conflict_id, p.member, p.env, p.role, p.survivor, c.members -> p.member -> ''row'' AS old_row,'
    '          (c.members -> p.member -> ''row'') || coalesce(p.patch, ''{}'') || coalesce(km.new_json, ''{}'')'
    '            AS final_row'
    '     FROM pg_temp.tdm_plan p'
    '     JOIN tdm.conflict c ON c.run_id = $1 AND c.conflict_id = p.conflict_id'
    '     LEFT JOIN pg_temp.tdm_keymap km ON km.rel = $2 AND km.env = p.env AND km.old_key = p.key'
    '                                    AND km.reason IN (''rekeyed'', ''renamed'')),'
    '  resolved AS MATERIALIZED ('
    '   SELECT x.env, x.old_row, s.final_row, ARRAY[%1$s] AS key'
    '     FROM member x'
    '     JOIN member s ON s.conflict_id = x.conflict_id'
    '                  AND s.member = CASE WHEN x.role = ''drop'' THEN x.survivor ELSE x.member END'
    '    WHERE x.role IN (''drop'', ''keep'', ''rekey'') AND x.env <> ''master''),'
    '  followed AS MATERIALIZED ('
    '   SELECT f.env, f.old_row, f.final_row, ARRAY[%2$s] AS key'
    '     FROM pg_temp.tdm_unique_followed f WHERE f.rel = $2)'
    -- (children hold the environment's values: a member's row that its
    -- parents changed is known by its followed entry's old row, not by
    -- the values it has now, which may be another row's in the
    -- environment)
    ' SELECT r.env, r.old_row, r.final_row FROM resolved r'
    '  WHERE NOT EXISTS (SELECT 1 FROM followed f WHERE f.env = r.env AND f.key = r.key)'
    ' UNION ALL'
    -- (a row followed before its own conflict resolved it: on to where
    -- that took it, by its key then)
    ' SELECT f.env, f.old_row, coalesce(r.final_row, f.final_row)'
    '   FROM followed f LEFT JOIN resolved r ON r.env = f.env AND r.key = f.key',
    -- (each value as its column's type spells it: a member's row and a
    -- followed row's spell a timestamp each its own way)
    (SELECT string_agg(format('((x.old_row ->> %L)::%s)::text', c, tdm._column_type(the_parent, c)), ', ')
       FROM unnest(pm.pk_columns) AS c),
    (SELECT string_agg(format('((f.final_row ->> %L)::%s)::text', c, tdm._column_type(the_parent, c)), ', ')
       FROM unnest(pm.pk_columns) AS c))
    USING run, the_parent;
  FOR e IN SELECT r.* FROM tdm._managed_references() r
            WHERE r.parent = the_parent AND NOT r.to_key ORDER BY r.child::text, r.name LOOP
    SELECT * INTO cm FROM tdm.managed_table WHERE rel = e.child;
    overlapping := tdm._fk_overlaps(e.child, e.name);
    collected := format('pg_temp.%I', tdm._collected_name(e.child))::regclass;
    EXECUTE format(
      'WITH changed AS ('
      '  UPDATE %1$s t SET %2$s'
      '    FROM (SELECT DISTINCT ON (u.env, %3$s) u.env, u.old_row, u.final_row'
      '            FROM pg_temp.tdm_unique_moves u WHERE %3$s IS DISTINCT FROM %4$s) u%10$s'
      '   WHERE u.env = t.tdm_env AND %5$s%9$s'
      '  RETURNING t.tdm_env AS env, t.tdm_row_hash AS row_hash, %6$s AS old_row, %7$s AS final_row)'
      || tdm._note_followed('$1', 'changed', false) || ' SELECT',
      collected, tdm._follow_set(e.child, e.columns, e.ref_columns),
      (SELECT format('ARRAY[%s]', string_agg(format('u.old_row ->> %L', r), ', '))
         FROM unnest(e.ref_columns) AS r),
      (SELECT format('ARRAY[%s]', string_agg(format('u.final_row ->> %L', r), ', '))
         FROM unnest(e.ref_columns) AS r),
      -- (compared as the child's types: a char(n) equal whatever its
      -- padding; an overlapping foreign key by the environment's values,
      -- tdm._fk_overlaps)
      CASE WHEN overlapping
           THEN format('%s AND array_position(b.key, NULL) IS NULL AND b.key = ARRAY[%s]::text[]',
                       tdm._fk_before_row('$1', '$2'),
                       (SELECT string_agg(format('((u.old_row ->> %L)::%s)::text', r, tdm._column_type(e.child, c)),
                                          ', ')
                          FROM unnest(e.columns, e.ref_columns) AS x(c, r)))
           ELSE format('ROW(%s) = ROW(%s)',
                       (SELECT string_agg(format('t.%I', c), ', ') FROM unnest(e.columns) AS c),
                       (SELECT string_agg(format('(u.old_row ->> %L)::%s', r, tdm._column_type(e.child, c)), ', ')
                          FROM unnest(e.columns, e.ref_columns) AS x(c, r))) END,
      tdm._row_before(e.child, e.columns, 'u.old_row -> %2$s', e.ref_columns), tdm._row_json(e.child, 't'),
      NULL,
      -- (rows that follow an earlier release's row keep it, as in tdm._propagate)
      CASE WHEN EXISTS (SELECT 1 FROM pg_temp.tdm_earlier_fk x WHERE x.rel = e.child AND x.edge = e.name)
           THEN ' AND NOT ' || tdm._noted_earlier('$1', '$2') ELSE '' END,
      CASE WHEN overlapping THEN ', pg_temp.tdm_fk_before b' ELSE '' END)
      USING e.child, e.name;
    -- A primary key that changed with them: mapped, for the children of it.
    IF cm.pk_columns && e.columns THEN
      PERFORM tdm._map_followed_keys(e.child);
    END IF;
  END LOOP;
END
$$;

-- After `child`'s own conflicts are applied: a relationship conflict no
-- reviewer has decided, whose row they merged into a row that has none
-- (another environment's, whose parent lives; master's), asks nothing:
-- it goes, with its row's orphan entries, and the row's children follow
-- the row it went into, as any merged row's do. (Recorded before the
-- table's own conflicts are detected, it asked to delete a copy whose
-- entity loads, and then its children, p320.) Where the row it went into
-- has one too, both stay: copies of one row are decided alike.
CREATE FUNCTION tdm._drop_moot_relations(run bigint, child regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  pk text[] := (SELECT m.pk_columns FROM tdm.managed_table m WHERE m.rel = child);
BEGIN
  IF NOT EXISTS (SELECT FROM pg_temp.tdm_orphans o WHERE o.rel = child AND o.related_id IS NOT NULL)
     OR to_regclass('pg_temp.tdm_plan') IS NULL THEN
    RETURN;
  END IF;
  EXECUTE format(
    'WITH moot AS ('
    '       DELETE FROM tdm.conflict c'
    '        WHERE c.run_id = $1 AND c.rel = $2 AND c.kind = ''relationship'' AND c.status = ''pending'''
    '          AND NOT EXISTS (SELECT FROM tdm.decision d WHERE d.conflict_id = c.conflict_id)'
    '          AND EXISTS (SELECT FROM pg_temp.tdm_plan gone'
    '                        JOIN pg_temp.tdm_plan kept ON kept.conflict_id = gone.conflict_id'
    '                                                  AND kept.member = gone.survivor'
    '                       WHERE gone.rel = $2 AND gone.role = ''drop'''
    '                         AND gone.env = c.members -> 0 ->> ''env'' AND gone.key = %s'
    -- (kept, not merged: a merge may give the row it goes into this
    -- row's reference to the deleted parent, p323)
    '                         AND NOT EXISTS (SELECT FROM tdm.conflict t'
    '                                          WHERE t.run_id = $1 AND t.conflict_id = gone.conflict_id'
    '                                            AND (t.rule = ''non_conflicting_merge'''
    '                                                 OR EXISTS (SELECT FROM tdm.decision d'
    '                                                             WHERE d.conflict_id = t.conflict_id'
    '                                                               AND d.action = ''merge'')))'
    '                         AND NOT EXISTS (SELECT FROM tdm.conflict o'
    '                                          WHERE o.run_id = $1 AND o.rel = $2 AND o.kind = ''relationship'''
    '                                            AND o.members -> 0 ->> ''env'' = kept.env AND %s = kept.key))'
    '       RETURNING c.conflict_id)'
    ' DELETE FROM pg_temp.tdm_orphans o USING moot m WHERE o.rel = $2 AND o.related_id = m.conflict_id',
    tdm._member_key(child, pk, 'c.members -> 0 -> ''row'''), tdm._member_key(child, pk, 'o.members -> 0 -> ''row'''))
    USING run, child;
END
$$;

-- The relationship conflicts of `child`'s rows whose parent a decision
-- deleted (pg_temp.tdm_orphans, noted by tdm._propagate), as the rows are
-- now: at the child's turn, every parent has translated their foreign
-- keys, so a member shows the parents' keys the row would load with (its
-- own key is still as collected: its table resolves after). A decision
-- already taken on one applies at once: a merge after the table's own
-- conflicts instead where `merges` is false (tdm._relate_merges). Returns
-- the rows deleted by such decisions.
CREATE FUNCTION tdm._relate_orphans(run bigint, release text, child regclass, merges bool DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
SET enable_nestloop TO off SET jit TO off AS $$
DECLARE
  cm tdm.managed_table;
  collected regclass;
  n bigint;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_temp.tdm_orphans o WHERE o.rel = child AND NOT o.related) THEN
    RETURN 0;
  END IF;
  SELECT * INTO cm FROM tdm.managed_table m WHERE m.rel = child;
  collected := format('pg_temp.%I', tdm._collected_name(child))::regclass;
  -- Each orphan's conflict id, from its row's environment and key: kept
  -- with it, as the merges find the row again by its hash, which a new
  -- key leaves (tdm._relate_merges).
  EXECUTE format(
    'UPDATE pg_temp.tdm_orphans o'
    '   SET related_id = ''C-'' || left(encode(sha256(convert_to(concat_ws(chr(31), $2, $1::text,'
    '              ''relationship'', t.tdm_env || '':'' || array_to_string(%1$s, '','')), ''UTF8'')), ''hex''), 12)'
    '  FROM %2$s t WHERE o.rel = $1 AND NOT o.related AND o.env = t.tdm_env AND o.row_hash = t.tdm_row_hash',
    tdm._key_text(cm.pk_columns, 't'), collected)
    USING child, release;
  -- (A row orphaned by several foreign keys is one conflict: its
  -- rationale names each deleted parent, by the columns that reference
  -- it, and `differing` holds those columns, the references a merge may
  -- set.)
  EXECUTE format(
    'INSERT INTO tdm.conflict (run_id, conflict_id, rel, kind, class, priority, status, rule,'
    '                          suggestion, rationale, members, differing, survivor, members_checksum)'
    ' SELECT $1, x.id, $2, ''relationship'', ''complex'', 1,'
    '        CASE WHEN d.conflict_id IS NULL THEN ''pending'''
    '             WHEN d.members_checksum = tdm._decided_on(x.checksum, $2, x.members, d.merged) THEN ''decided'''
    -- (A row decided deleted on some of its deleted parents stays decided
    -- when more are deleted since, by decisions of the same pass: its
    -- checksum then was over fewer of the same edges, in the same order.)
    '             WHEN d.action = ''delete_all'' AND cardinality(x.edges) BETWEEN 2 AND 8'
    '                  AND EXISTS (SELECT 1 FROM generate_series(1, (1 << cardinality(x.edges)) - 2) AS b'
    '                               WHERE md5(x.source || $3 || (SELECT string_agg(u.e, '','' ORDER BY u.i)'
    '                                                             FROM unnest(x.edges) WITH ORDINALITY AS u(e, i)'
    '                                                            WHERE (b >> (u.i::int - 1)) & 1 = 1))'
    '                                     = d.members_checksum) THEN ''decided'''
    '             ELSE ''stale'' END,'
    -- (A merge sets the columns tdm._settable_references names only:
    -- with none among the broken references, it is not offered.)
    '        ''manual'', CASE WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(x.refs) a, jsonb_object_keys(a.value) k'
    '                                      WHERE k = ANY ($4))'
    '                         THEN ''delete the row (delete_all), point its reference elsewhere'''
    -- (cleared only where a column of the reference takes NULL)
    '                              || CASE WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(x.refs) a,'
    '                                                                jsonb_object_keys(a.value) k'
    '                                                    WHERE k = ANY ($4) AND k = ANY ($5))'
    '                                      THEN '' or clear it (merge, merged => {"column": null})'''
    '                                      ELSE '' (merge, merged => {"column": ...})'' END'
    '                              || '', or keep it and load its parent first'''
    '                         ELSE ''delete the row (delete_all), or keep it and load its parent first (its'
    ' references hold columns of its primary key: a merge may not change them)'' END,'
    '        x.rationale, x.members,'
    '        (SELECT jsonb_object_agg(r.key, r.value) FROM jsonb_array_elements(x.refs) a, jsonb_each(a.value) r), 0,'
    '        x.checksum'
    -- (The checksum holds the references that name deleted rows: a
    -- decision taken on some goes stale when another parent is deleted.)
    '   FROM (SELECT y.id, min(y.members::text)::jsonb AS members,'
    '                md5(min(y.source) || $3 || string_agg(y.parent || ''.'' || y.edge, '','' ORDER BY y.parent, y.edge))'
    '                  AS checksum,'
    '                min(y.source) AS source,'
    '                array_agg(y.parent || ''.'' || y.edge ORDER BY y.parent, y.edge) AS edges,'
    '                string_agg(y.why, ''; '' ORDER BY y.parent, y.edge) AS rationale, jsonb_agg(y.refs) AS refs'
    '           FROM ('
    '     SELECT o.related_id AS id,'
    '            jsonb_build_array(jsonb_build_object(''env'', t.tdm_env, ''feature'', t.%1$I,'
    '              ''ts'', %2$s, ''row'', %4$s)) AS members,'
    '            format(''references %%s (%%s) of %%s by %%s%%s, which decision %%s deleted'','
    '                   o.parent::text,'
    -- (by the key its environment has: the deleted row may have been
    -- given another by the run first, shown after it)
    '                   coalesce(array_to_string(rk.old_key, '','') || '', re-keyed '' || array_to_string(o.key, '',''),'
    '                            array_to_string(o.key, '','')), o.parent_env, tdm._column_names(o.columns),'
    -- (a copy: the row it was merged into, which that conflict holds)
    '                   '', '' || o.merged_into, o.conflict_id) AS why,'
    '            (SELECT jsonb_object_agg(c, jsonb_build_object(t.tdm_env, (%4$s) -> c))'
    '               FROM unnest(o.columns) AS c) AS refs,'
    '            o.parent::text AS parent, o.name AS edge, t.tdm_env || '':'' || t.tdm_row_hash AS source'
    '       FROM %3$s t JOIN pg_temp.tdm_orphans o'
    '         ON o.rel = $2 AND NOT o.related AND o.env = t.tdm_env AND o.row_hash = t.tdm_row_hash'
    -- (joined, not looked up per row: a lookup read the whole key map for
    -- each of thousands of orphans)
    '       LEFT JOIN (SELECT k.rel, k.env, k.new_key, min(k.old_key) AS old_key FROM pg_temp.tdm_keymap k'
    '                   WHERE k.reason IN (''rekeyed'', ''renamed'')'
    '                     AND k.rel IN (SELECT p.parent FROM pg_temp.tdm_orphans p WHERE p.rel = $2)'
    '                   GROUP BY 1, 2, 3) rk'
    '         ON rk.rel = o.parent AND rk.env = o.parent_env AND rk.new_key = o.key) y'
    '   GROUP BY y.id) x'
    '   LEFT JOIN tdm.decision d ON d.conflict_id = x.id'
    ' ON CONFLICT DO NOTHING',
    cm.feature_column,
    CASE WHEN cm.updated_at_column IS NULL THEN 'NULL'
         ELSE format('t.%I::text', cm.updated_at_column) END,
    collected, tdm._row_json(child, 't'))
    USING run, child, tdm._mask_signature(child), tdm._settable_references(child),
          ARRAY(SELECT a.attname::text FROM pg_attribute a
                 WHERE a.attrelid = child AND a.attnum > 0 AND NOT a.attisdropped AND NOT a.attnotnull);
  UPDATE pg_temp.tdm_orphans o SET related = true WHERE o.rel = child;

  -- Decisions already taken on these rows apply now: each deletes its
  -- row, found by its hash (the orphan it was written for), and the rows
  -- deleted are noted with the key they have now. (Not by the member's key:
  -- another row of the environment may hold it now, one re-keyed by an
  -- earlier call to a key this row had; and a row merged away since was
  -- deleted by no one, its children re-pointed to the survivor.)
  EXECUTE format(
    'WITH doomed AS ('
    '  SELECT DISTINCT ON (o.env, o.row_hash) o.env, o.row_hash, c.conflict_id, c.members -> 0 -> ''row'' AS old_row'
    '    FROM tdm.conflict c'
    '   CROSS JOIN LATERAL tdm._resolution(c) r'
    '    JOIN pg_temp.tdm_orphans o ON o.rel = $1 AND o.related_id = c.conflict_id'
    '   WHERE c.run_id = $2 AND c.rel = $1 AND c.kind = ''relationship'' AND r.action = ''delete_all'''
    '   ORDER BY o.env, o.row_hash, c.conflict_id),'
    ' gone AS (DELETE FROM %s t USING doomed d WHERE t.tdm_env = d.env AND t.tdm_row_hash = d.row_hash'
    '          RETURNING t.tdm_env, %s AS key, d.conflict_id, d.old_row, t.tdm_row_hash)'
    ' INSERT INTO pg_temp.tdm_deleted (rel, env, key, conflict_id, old_row, row_hash)'
    ' SELECT $1, g.tdm_env, g.key, g.conflict_id, g.old_row, g.tdm_row_hash FROM gone g',
    collected, tdm._key_text(cm.pk_columns, 't')) USING child, run;
  GET DIAGNOSTICS n = ROW_COUNT;
  -- The rows this run merged into those (an environment's copy, merged by
  -- a rule or a decision) are gone with them: their children, which
  -- reference them by their environment's key, are relationship conflicts
  -- too, in this run and in later releases (the conflict's deleted_along).
  -- Under another key, by their map entries (to the survivor's final
  -- key, which is not written: the row has none now); under the same
  -- key, no entry: by the table's plan, where its turn is this one (a
  -- self-reference). Counted merged, as they were.
  IF n > 0 THEN
    EXECUTE format(
      'WITH deleted AS ('
      '  SELECT d.env, d.key, d.conflict_id FROM pg_temp.tdm_deleted d'
      '   WHERE d.rel = $1 AND NOT d.earlier AND d.merged_into IS NULL'
      '     AND d.conflict_id IN (SELECT o.related_id FROM pg_temp.tdm_orphans o WHERE o.rel = $1)),'
      ' copies AS ('
      '  SELECT k.env, k.old_key AS key, k.old_json, k.conflict_id AS own, d.conflict_id, d.env AS into_env,'
      '         d.key AS into_key'
      '    FROM deleted d JOIN pg_temp.tdm_keymap k ON k.rel = $1 AND k.reason = ''merged'''
      '                                            AND k.to_env = d.env AND k.new_key = d.key'
      '  UNION ALL'
      '  SELECT p.env, p.key, p.old_json, p.conflict_id, d.conflict_id, d.env, d.key'
      '    FROM pg_temp.tdm_plan p'
      '    LEFT JOIN pg_temp.tdm_redirect r ON r.conflict_id = p.conflict_id AND r.member = p.member'
      '    LEFT JOIN pg_temp.tdm_plan v ON v.conflict_id = p.conflict_id AND v.member = p.survivor'
      '                                AND v.member = v.survivor'
      '    JOIN deleted d ON d.env = coalesce(r.into_env, v.env) AND d.key = coalesce(r.into_key, v.key)'
      '   WHERE p.rel = $1 AND p.role = ''drop'' AND p.key = d.key)'
      ' INSERT INTO pg_temp.tdm_deleted (rel, env, key, conflict_id, old_row, merged_into, copy)'
      ' SELECT DISTINCT ON (y.env, y.key) $1, y.env, y.key, y.conflict_id,'
      '        (SELECT e.m -> ''row'' FROM tdm.conflict c CROSS JOIN LATERAL jsonb_array_elements(c.members) AS e(m)'
      '          WHERE c.run_id = $2 AND c.conflict_id = y.own AND e.m ->> ''env'' = y.env AND %s = y.old_json'
      '          LIMIT 1),'
      '        tdm._merged_into(y.into_env, y.into_key), true'
      '   FROM copies y'
      '  WHERE NOT EXISTS (SELECT FROM pg_temp.tdm_deleted z WHERE z.rel = $1 AND z.env = y.env AND z.key = y.key)'
      '  ORDER BY y.env, y.key, y.conflict_id',
      tdm._member_key_json(cm.pk_columns))
      USING child, run;
  END IF;
  IF merges THEN
    PERFORM tdm._relate_merges(run, child);
  END IF;
  RETURN n;
END
$$;

-- A relationship conflict's merge sets its row's references (to NULL, or
-- to a row by the key it loads with): the row stays, and a reference it
-- set a column of no longer names the deleted row (validation checks it
-- as any other; pg_temp.tdm_repointed names the decision). Applied after
-- the child table's own conflicts (tdm.consolidate), whose members are
-- then the rows as collected: a decision on them stays. The rows are found
-- by their hash (pg_temp.tdm_orphans.related_id), which a new key leaves.
CREATE FUNCTION tdm._relate_merges(run bigint, child regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
SET enable_nestloop TO off SET jit TO off AS $$
DECLARE
  cm tdm.managed_table;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM tdm.conflict c CROSS JOIN LATERAL tdm._resolution(c) r
                  WHERE c.run_id = run AND c.rel = child AND c.kind = 'relationship' AND r.action = 'merge') THEN
    RETURN;
  END IF;
  SELECT * INTO cm FROM tdm.managed_table m WHERE m.rel = child;
  EXECUTE format(
    'WITH fixed AS ('
    '  UPDATE %1$s t SET %2$s'
    '    FROM (SELECT DISTINCT o.env, o.row_hash, r.merged, c.conflict_id FROM pg_temp.tdm_orphans o'
    '            JOIN tdm.conflict c ON c.run_id = $1 AND c.conflict_id = o.related_id'
    '           CROSS JOIN LATERAL tdm._resolution(c) r'
    '           WHERE o.rel = $2 AND c.kind = ''relationship'' AND r.action = ''merge'') x'
    '   WHERE x.env = t.tdm_env AND x.row_hash = t.tdm_row_hash'
    '  RETURNING t.tdm_env, t.tdm_row_hash, x.merged, x.conflict_id),'
    '     gone AS (DELETE FROM pg_temp.tdm_orphans o USING fixed f'
    '               WHERE o.rel = $2 AND o.env = f.tdm_env AND o.row_hash = f.tdm_row_hash'
    '                 AND o.columns && ARRAY(SELECT jsonb_object_keys(f.merged)))'
    ' INSERT INTO pg_temp.tdm_repointed (rel, env, row_hash, columns, conflict_id)'
    ' SELECT $2, f.tdm_env, f.tdm_row_hash, ARRAY(SELECT jsonb_object_keys(f.merged)), f.conflict_id FROM fixed f',
    format('pg_temp.%I', tdm._collected_name(child)),
    (SELECT string_agg(format('%1$I = CASE WHEN x.merged ? %1$L THEN (x.merged ->> %1$L)::%2$s ELSE t.%1$I END',
                              a.attname, format_type(a.atttypid, a.atttypmod)), ', ')
       FROM pg_attribute a
      WHERE a.attrelid = child AND a.attnum > 0 AND NOT a.attisdropped AND NOT a.attname = ANY (cm.pk_columns)
        AND EXISTS (SELECT 1 FROM jsonb_array_elements(cm.foreign_keys) fk WHERE fk -> 'columns' ? a.attname)))
    USING run, child;
END
$$;

-- The collected rows that reference rows of `the_parent` deleted by
-- decisions (pg_temp.tdm_deleted), by any foreign key: the primary key or
-- another unique key (a note that references a user by email), noted in
-- pg_temp.tdm_orphans, their relationship conflicts written now where the
-- child's turn came (tdm._relate_orphans). Returns the rows decisions on
-- those conflicts deleted now.
CREATE FUNCTION tdm._orphan_children(run bigint, release text, the_parent regclass) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
SET enable_nestloop TO off SET jit TO off AS $$
DECLARE
  e record;
  cm tdm.managed_table;
  collected regclass;
  orphan_join text;  -- ON clause: a collected child row t, the deleted parent dl it references
  noted bool;  -- the rows tdm._propagate translated by the reference are noted (pg_temp.tdm_translated)
  self_pass bool := true;  -- over the table's references to itself
  self_deleted bigint;
  deleted bigint := 0;
  n bigint;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_temp.tdm_deleted WHERE rel = the_parent) THEN
    RETURN 0;
  END IF;
  -- A self-reference's first, again while its decisions delete rows: a
  -- row they delete (an employee whose manager was deleted) is a deleted
  -- parent too, of its own reports and of the other children's rows.
  LOOP
    self_deleted := 0;
    FOR e IN SELECT r.* FROM tdm._managed_references() r
              WHERE r.parent = the_parent AND (r.child = r.parent) = self_pass
              ORDER BY r.child::text, r.name LOOP
      SELECT * INTO cm FROM tdm.managed_table WHERE rel = e.child;
      collected := format('pg_temp.%I', tdm._collected_name(e.child))::regclass;
      -- A collected row t of the child and the deleted parent dl it references.
      -- (Where tdm._propagate noted the rows it translated, a row names
      -- the row of the environment it was translated to, x.to_env, which
      -- its key alone does not tell: e3's row merged into st1's key 23,
      -- where e3's own 23 was deleted; one not translated, its own
      -- environment's.)
      noted := tdm._translations_noted(e.child, e.name);
      orphan_join := format(
        'dl.rel = $4 AND %s AND %s AND %s'
        -- (Not a row translated through an earlier release's key map,
        -- tdm._translate_earlier: its reference names that release's row,
        -- whose key the environment may have given the deleted row.)
        ' AND NOT ' || tdm._noted_earlier('$2', '$5', false),
        CASE WHEN noted THEN 'coalesce(x.to_env, t.tdm_env) = dl.env'
             -- (else also a row of another environment, that the row's own
             -- parent was merged into: its key is that row's now)
             ELSE '(dl.env = t.tdm_env OR EXISTS (SELECT 1 FROM pg_temp.tdm_keymap k'
                  ' WHERE k.rel = $4 AND k.reason = ''merged'' AND k.env = t.tdm_env AND k.to_env = dl.env'
                  ' AND k.new_key = dl.key))' END,
        -- (by another unique key: the deleted row's values of it, compared
        -- as the child's types compare them)
        CASE WHEN e.to_key THEN format('dl.key = %s', tdm._key_text(e.columns, 't'))
             ELSE format('ROW(%s) = ROW(%s)',
                         (SELECT string_agg(format('t.%I', c), ', ') FROM unnest(e.columns) AS c),
                         (SELECT string_agg(format('(dl.old_row ->> %L)::%s', r, tdm._column_type(e.child, c)),
                                            ', ')
                            FROM unnest(e.columns, e.ref_columns) AS x(c, r))) END,
        -- A row an earlier release deleted: by the primary key, only to the
        -- rows noted as referencing it, whose keys are the environment's; by
        -- another unique key, to the rows no collected row of the
        -- environment takes the reference for.
        CASE WHEN e.to_key
             THEN 'dl.earlier = ' || tdm._noted_earlier('$2', '$5', true)
             ELSE format('(NOT dl.earlier OR NOT EXISTS (SELECT 1 FROM %s p WHERE p.tdm_env = t.tdm_env'
                         ' AND ROW(%s) = ROW(%s))%s)',
                         format('pg_temp.%I', tdm._collected_name(the_parent)),
                         (SELECT string_agg(format('p.%I', r), ', ') FROM unnest(e.ref_columns) AS r),
                         (SELECT string_agg(format('t.%I', c), ', ') FROM unnest(e.columns) AS c),
                         -- (nor a row of master: the environment's row of
                         -- those values went there with a later release)
                         (SELECT format(' AND NOT EXISTS (SELECT 1 FROM %s p WHERE ROW(%s) = ROW(%s))', m,
                                        (SELECT string_agg(format('p.%I', r), ', ') FROM unnest(e.ref_columns) AS r),
                                        (SELECT string_agg(format('t.%I', c), ', ') FROM unnest(e.columns) AS c))
                            FROM tdm._target_table('master', the_parent) AS m WHERE m IS NOT NULL)) END);
      -- The collected child rows that reference a deleted parent: members
      -- of relationship conflicts, and, for validation, rows that lost the
      -- row their foreign key meant if a decision keeps them, whatever row
      -- has that key in the target.
      EXECUTE format('INSERT INTO pg_temp.tdm_orphans (rel, name, columns, ref_columns, env, row_hash, parent,'
                     '                                 key, conflict_id, old_row, parent_env, merged_into)'
                     ' SELECT $2, $5, $6, $7, t.tdm_env, t.tdm_row_hash, $4, dl.key, dl.conflict_id, dl.old_row,'
                     '        dl.env, dl.merged_into'
                     '   FROM %s t%s JOIN pg_temp.tdm_deleted dl ON %s'
                     -- (noted by an earlier pass over a self-reference)
                     '  WHERE NOT EXISTS (SELECT 1 FROM pg_temp.tdm_orphans o WHERE o.rel = $2 AND o.name = $5'
                     '                       AND o.env = t.tdm_env AND o.row_hash = t.tdm_row_hash)',
                     collected,
                     CASE WHEN noted THEN ' LEFT JOIN pg_temp.tdm_translated x ON x.rel = $2 AND x.edge = $5'
                                          ' AND x.env = t.tdm_env AND x.row_hash = t.tdm_row_hash' ELSE '' END,
                     orphan_join)
        USING run, e.child, release, the_parent, e.name, e.columns, e.ref_columns;
      -- Their relationship conflicts come at the child's turn, when its
      -- other parents have translated its foreign keys too (a reviewer
      -- sees the parents' keys it would load with); now if that turn came (a
      -- self-reference, or a reference cycle's child).
      n := CASE WHEN EXISTS (SELECT 1 FROM pg_temp.tdm_turns x WHERE x.rel = e.child)
                THEN tdm._relate_orphans(run, release, e.child) ELSE 0 END;
      -- (A reference cycle's child, whose turn has passed: the rows just
      -- deleted are deleted parents of its own children now.)
      IF n > 0 AND e.child <> the_parent THEN
        n := n + tdm._orphan_children(run, release, e.child);
      END IF;
      deleted := deleted + n;
      self_deleted := self_deleted + CASE WHEN self_pass THEN n ELSE 0 END;
    END LOOP;
    EXIT WHEN NOT self_pass;
    self_pass := self_deleted > 0;
  END LOOP;
  RETURN deleted;
END
$$;

-- (tdm.consolidate keeps tdm._managed_edges() in pg_temp.tdm_edges for the
-- call.)
-- After a parent table is applied: its collected children's foreign keys
-- are translated through the key map, and children of deleted rows are
-- noted, to become relationship conflicts (complex, priority 1,
-- tdm._relate_orphans). A child whose primary key includes the foreign
-- key (order_lines (order_id, line_no)) gets a new key that way: the key
-- map records it ('repointed'), so that its own children follow, and so
-- does the child's own resolution later (the map then holds the final
-- key). Returns the child rows that decisions on relationship conflicts
-- made now deleted.
CREATE FUNCTION tdm._propagate(run bigint, release text, the_parent regclass) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
-- As tdm._apply_table: no nested loops, no JIT.
SET enable_nestloop TO off SET jit TO off AS $$
DECLARE
  e record;
  cm tdm.managed_table;
  collected regclass;
  fk_text text;
  map_join text;  -- the key map's entries for a collected row t: FROM ... WHERE ...
  set_fk text;
  earlier text;
  follow bool;
  note_translations bool;  -- the parent has rows a decision deleted: translated rows are noted
BEGIN
  -- (The key map is written in this transaction: without statistics, the
  -- planner took it for a few hundred entries and sorted both sides of
  -- each translation below to merge them: 1.9 s for 170,000 entries and
  -- 300,000 children, where a hash join takes 0.6 s.)
  ANALYZE pg_temp.tdm_keymap;
  -- The parent's rows that its own parents re-pointed, and that its own
  -- conflicts then changed again: one entry from the environment's key to
  -- the final one (the intermediate key was never the environment's),
  -- with the reason of the change that gave the final key. A row its
  -- conflict merged away is `merged`, of that conflict, as the run counts
  -- it, and its children follow it to its survivor's environment; one
  -- re-keyed or renamed there is so (later releases and later calls know
  -- a key tdm gave by it).
  IF tdm._key_follows_parent(the_parent)
     AND EXISTS (SELECT FROM pg_temp.tdm_keymap k WHERE k.rel = the_parent AND k.reason = 'repointed') THEN
    -- (The entries taken in are kept aside: a member of the table's
    -- conflicts holds the intermediate key, tdm._relate.)
    WITH chained AS (
      UPDATE pg_temp.tdm_keymap a
         SET new_key = b.new_key, new_json = b.new_json,
             reason = b.reason,
             conflict_id = b.conflict_id,
             to_env = CASE WHEN b.reason = 'merged' THEN b.to_env ELSE a.to_env END
        FROM pg_temp.tdm_keymap b
       WHERE a.rel = the_parent AND a.reason = 'repointed' AND b.rel = the_parent
         AND b.reason <> 'repointed' AND b.env = a.env AND b.old_key = a.new_key
      RETURNING b.env, b.old_key, b.new_key, b.reason),
         kept AS (
      INSERT INTO pg_temp.tdm_chained (rel, env, old_key, new_key, reason)
      SELECT the_parent, c.env, c.old_key, c.new_key, c.reason FROM chained c)
    DELETE FROM pg_temp.tdm_keymap b USING chained c
     WHERE b.rel = the_parent AND b.reason <> 'repointed' AND b.env = c.env AND b.old_key = c.old_key;
    DELETE FROM pg_temp.tdm_keymap k
     WHERE k.rel = the_parent AND k.reason IN ('repointed', 'merged') AND k.old_key = k.new_key;
  END IF;

  note_translations := EXISTS (SELECT FROM pg_temp.tdm_deleted d WHERE d.rel = the_parent AND NOT d.earlier);
  FOR e IN SELECT * FROM pg_temp.tdm_edges WHERE parent = the_parent ORDER BY child::text, name LOOP
    SELECT * INTO cm FROM tdm.managed_table WHERE rel = e.child;
    collected := format('pg_temp.%I', tdm._collected_name(e.child))::regclass;
    fk_text := tdm._key_text(e.columns, 't');
    set_fk := tdm._set_to_key(e.child, e.columns, 'km.new_key');
    -- (Rows translated through an earlier release's key map keep that key.)
    earlier := CASE WHEN EXISTS (SELECT 1 FROM pg_temp.tdm_earlier_fk x
                                  WHERE x.rel = e.child AND x.edge = e.name)
                    THEN ' AND NOT ' || tdm._noted_earlier('$2', '$3') ELSE '' END;
    -- (and rows that reference the child's other unique keys follow it)
    follow := tdm._unique_referenced(e.child, e.columns);
    -- The map's entries for each row: by the foreign key's values, or, for
    -- one that overlaps another, by the environment's values.
    map_join := CASE WHEN tdm._fk_overlaps(e.child, e.name)
                     THEN 'pg_temp.tdm_keymap km JOIN pg_temp.tdm_fk_before b'
                          ' ON b.env = km.env AND b.key = km.old_key'
                          ' WHERE km.rel = $1 AND ' || tdm._fk_before_row('$2', '$3')
                     ELSE format('pg_temp.tdm_keymap km WHERE km.rel = $1 AND km.env = t.tdm_env'
                                 ' AND km.old_key = %s', fk_text) END;
    -- (Where the parent has rows a decision deleted, the rows translated
    -- now are noted with the environment of the row they name: their
    -- new key may be a deleted row's own, tdm._orphan_children.)
    IF note_translations THEN
      EXECUTE format('INSERT INTO pg_temp.tdm_translated (rel, edge, env, row_hash, to_env)'
                     ' SELECT $2, $3, t.tdm_env, t.tdm_row_hash, coalesce(km.to_env, km.env) FROM %s t, %s%s'
                     ' ON CONFLICT DO NOTHING',
                     collected, map_join, earlier)
        USING the_parent, e.child, e.name;
      INSERT INTO pg_temp.tdm_translated_edges VALUES (e.child, e.name);
      ANALYZE pg_temp.tdm_translated;
    END IF;
    IF cm.pk_columns && e.columns THEN
      -- The child's key before (the foreign key's part from the map's old
      -- key) and after.
      EXECUTE format(
        'WITH changed AS (UPDATE %1$s t SET %2$s FROM %3$s%8$s'
        '                 RETURNING t.tdm_env AS env, t.tdm_row_hash AS row_hash, ARRAY[%4$s]::text[] AS old_key,'
        '                           jsonb_build_object(%5$s) AS old_json, %6$s AS new_key,'
        '                           %7$s AS new_json, km.conflict_id%9$s)%10$s%11$s',
        collected, set_fk, map_join,
        tdm._key_before_repoint(e.child, cm.pk_columns, e.columns, 'km', false),
        tdm._key_before_repoint(e.child, cm.pk_columns, e.columns, 'km', true),
        tdm._key_text(cm.pk_columns, 't'), tdm._key_json(cm.rel, cm.pk_columns, 't'), earlier,
        CASE WHEN follow THEN format(', %s AS old_row, %s AS final_row', tdm._row_before(e.child, e.columns,
                                     'to_jsonb((km.old_key)[%1$s])'), tdm._row_json(e.child, 't')) ELSE '' END,
        CASE WHEN follow THEN tdm._note_followed('$2', 'changed', true) ELSE '' END,
        tdm._note_repointed('$2', 'changed'))
        USING the_parent, e.child, e.name;
    ELSIF follow THEN
      EXECUTE format('WITH changed AS (UPDATE %s t SET %s FROM %s%s'
                     '                 RETURNING t.tdm_env AS env, t.tdm_row_hash AS row_hash, %s AS old_row,'
                     '                           %s AS final_row)'
                     || tdm._note_followed('$2', 'changed', true) || ' SELECT',
                     collected, set_fk, map_join, earlier, tdm._row_before(e.child, e.columns, 'to_jsonb((km.old_key)[%1$s])'),
                     tdm._row_json(e.child, 't'))
        USING the_parent, e.child, e.name;
    ELSE
      EXECUTE format('UPDATE %s t SET %s FROM %s%s', collected, set_fk, map_join, earlier)
        USING the_parent, e.child, e.name;
    END IF;

  END LOOP;

  -- Children of deleted rows.
  RETURN tdm._orphan_children(run, release, the_parent);
END
$$;
