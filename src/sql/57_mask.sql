-- Masking (seed 003): personal data never reaches staging unmasked. A
-- mask names a column of a managed table and a method; collection applies
-- it to every collected row, before detection, so the conflicts' members,
-- the review queue, the key map and the loaded rows only ever hold masked
-- values. Methods that keep equal values equal (hash, email) are the only
-- ones allowed on columns that identify rows (natural keys, unique
-- indexes): detection still finds the same entities. Keys that rows
-- reference (primary and foreign keys) are not masked at all.

CREATE TABLE tdm.mask (
  rel         regclass NOT NULL REFERENCES tdm.managed_table (rel),
  column_name text NOT NULL,
  method      text NOT NULL CHECK (method IN ('hash', 'email', 'partial', 'date_shift', 'constant', 'null')),
  options     jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now(),
  created_by  name NOT NULL DEFAULT current_user,
  PRIMARY KEY (rel, column_name)
);
COMMENT ON TABLE tdm.mask IS 'Columns masked at collection (tdm.mask_column)';

-- The key of the hashing methods: without it a masked email could be
-- found again by hashing candidate addresses. Random per database, made
-- with the first mask (not by the extension's script: pg_dump keeps it,
-- and a restore must bring back the same key, or the rows masked before
-- would no longer match the ones masked after), readable by tdm_admin only.
CREATE TABLE tdm.mask_key (
  singleton bool PRIMARY KEY DEFAULT true CHECK (singleton),
  secret    bytea NOT NULL
);
COMMENT ON TABLE tdm.mask_key IS 'The secret the hash and email masks are keyed with';

SELECT pg_catalog.pg_extension_config_dump('tdm.mask', '');
SELECT pg_catalog.pg_extension_config_dump('tdm.mask_key', '');

-- The masks' key, made the first time it is needed (gen_random_uuid's
-- bytes come from the system's strong random source).
CREATE FUNCTION tdm._mask_secret() RETURNS bytea
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO tdm.mask_key (secret)
  VALUES (sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')))
  ON CONFLICT (singleton) DO NOTHING;
  SELECT secret FROM tdm.mask_key
$$;

-- The options each method takes, with their defaults.
CREATE FUNCTION tdm._mask_defaults(method text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE method
           WHEN 'hash' THEN '{"length": 16}'
           WHEN 'email' THEN '{"domain": "example.com"}'
           WHEN 'partial' THEN '{"keep_first": 0, "keep_last": 4, "mask_char": "*"}'
           WHEN 'date_shift' THEN '{"days": 30}'
           WHEN 'constant' THEN '{"value": null}'
           WHEN 'null' THEN '{}'
         END::jsonb
$$;

-- The hex digest of a value under the mask key. (STABLE, as textsend
-- is: declared IMMUTABLE it would not be inlined, and calls cost twice
-- the hash.)
CREATE FUNCTION tdm._mask_digest(value text, secret bytea) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT pg_catalog.encode(pg_catalog.sha256(secret || pg_catalog.textsend(value)), 'hex')
$$;

-- A text value masked by `spec` ({"method":..,"options":{..}} with every
-- option present); NULL stays NULL. A value already of the mask's form
-- stays as it is: rows loaded masked come back into environments (a
-- refresh from master), and masking them again would make them differ
-- from master's. (partial is so by itself.)
CREATE FUNCTION tdm._mask_text(value text, spec jsonb, secret bytea) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE spec ->> 'method'
           -- (an h first: a masked value is told from a number of the
           -- same length, which is all hex digits too)
           WHEN 'hash' THEN
             CASE WHEN pg_catalog.char_length(value) = (spec #>> '{options,length}')::int
                       AND value ~ '^h[0-9a-f]+$' THEN value
                  ELSE 'h' || pg_catalog.left(tdm._mask_digest(value, secret),
                                              (spec #>> '{options,length}')::int - 1) END
           WHEN 'email' THEN
             CASE WHEN value ~ '^u[0-9a-f]{16}@' AND pg_catalog.substr(value, 19) = spec #>> '{options,domain}'
                  THEN value
                  ELSE 'u' || pg_catalog.left(tdm._mask_digest(value, secret), 16) || '@'
                       || (spec #>> '{options,domain}') END
           -- (a value no longer than what would be kept is masked whole)
           WHEN 'partial' THEN
             CASE WHEN pg_catalog.char_length(value) <= (spec #>> '{options,keep_first}')::int
                                                      + (spec #>> '{options,keep_last}')::int
                  THEN pg_catalog.repeat(spec #>> '{options,mask_char}', pg_catalog.char_length(value))
                  ELSE pg_catalog.left(value, (spec #>> '{options,keep_first}')::int)
                       || pg_catalog.repeat(spec #>> '{options,mask_char}',
                                            pg_catalog.char_length(value)
                                            - (spec #>> '{options,keep_first}')::int
                                            - (spec #>> '{options,keep_last}')::int)
                       || pg_catalog.right(value, (spec #>> '{options,keep_last}')::int) END
         END
$$;

-- The days a date_shift mask moves a value by: within +-days, never 0,
-- the same for the same value.
CREATE FUNCTION tdm._mask_shift_days(value text, spec jsonb, secret bytea) RETURNS int
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN n < days THEN n - days ELSE n - days + 1 END
    FROM (SELECT (spec #>> '{options,days}')::int AS days,
                 (('x' || pg_catalog.left(tdm._mask_digest(value, secret), 8))::bit(32)::bigint
                  % (2 * (spec #>> '{options,days}')::int))::int AS n) s
$$;

-- The expression that masks column `col` of `rel` (of alias `alias`), or
-- the column itself when it has no mask: its mask's spec is element n of
-- parameter $`specs_param` (tdm._mask_specs, in column order), the key
-- parameter $`key_param`: values stay parameters, never pasted into the
-- statement. A natural key of a table with normalize_keys and a citext
-- column are hashed as detection compares them (tdm._mask_folded), so
-- that values equal there stay equal masked, and values apart stay apart.
-- `again`: a date_shift mask, which would move its dates once more, is
-- left out.
CREATE FUNCTION tdm._masked_value_sql(rel regclass, col text, alias text, key_param int, specs_param int,
                                      again bool DEFAULT false) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH k AS (SELECT x.method, x.n, format('%I.%I', alias, col) AS v,
                    (SELECT c.column_type FROM tdm._columns(rel) c WHERE c.column_name = col) AS col_type,
                    format('$%s[%s]', specs_param, x.n) AS spec, format('$%s', key_param) AS secret
               FROM (SELECT m.column_name, m.method, row_number() OVER (ORDER BY m.column_name) AS n
                       FROM tdm.mask m WHERE m.rel = _masked_value_sql.rel) x
              WHERE x.column_name = col AND NOT (again AND x.method = 'date_shift'))
  SELECT coalesce((
    SELECT CASE k.method
             WHEN 'null' THEN format('NULL::%s', k.col_type)
             WHEN 'constant' THEN format('CASE WHEN %1$s IS NULL THEN NULL ELSE CAST(%3$s #>> ''{options,value}'' AS %2$s) END',
                                         k.v, k.col_type, k.spec)
             -- (the value's epoch, which no session setting changes, picks
             -- the shift; whole days of seconds, which no time zone's
             -- daylight saving lengthens)
             WHEN 'date_shift' THEN format('CAST(%1$s + pg_catalog.make_interval(secs => 86400 * tdm._mask_shift_days(EXTRACT(epoch FROM %1$s)::text, %3$s, %4$s)) AS %2$s)',
                                           k.v, k.col_type, k.spec, k.secret)
             ELSE format('CAST(tdm._mask_text(%s, %s, %s) AS %s)',
                         tdm._mask_folded(rel, col, k.v),
                         k.spec, k.secret, k.col_type)
           END FROM k),
    format('%I.%I', alias, col))
$$;

-- A reviewer's `merged` or `renames` values (`patch`) for the date_shift
-- columns of `rel`, shifted as collection shifts: a date typed in is
-- loaded masked. Not a value one of the conflict's `members` has: that
-- one was shown shifted already, and would move twice. (Every other mask
-- is applied again to the whole table after the decisions, as it leaves
-- a masked value as it is; a shift cannot tell.)
CREATE FUNCTION tdm._shift_typed(rel regclass, patch jsonb, members jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  k record;
  shifted jsonb;
BEGIN
  FOR k IN SELECT m.column_name, c.column_type,
                  jsonb_build_object('method', m.method, 'options', tdm._mask_defaults(m.method) || m.options) AS spec
             FROM tdm.mask m JOIN tdm._columns(_shift_typed.rel) c USING (column_name)
            WHERE m.rel = _shift_typed.rel AND m.method = 'date_shift'
              AND jsonb_typeof(patch -> m.column_name) IS DISTINCT FROM 'null' AND patch ? m.column_name LOOP
    EXECUTE format('SELECT CASE WHEN EXISTS (SELECT FROM jsonb_array_elements($4) x'
                   '                          WHERE (x -> ''row'' ->> $5)::%1$s = $1::%1$s) THEN $6'
                   ' ELSE to_jsonb(CAST($1::%1$s + pg_catalog.make_interval(secs => 86400 * tdm._mask_shift_days('
                   '        EXTRACT(epoch FROM $1::%1$s)::text, $2, $3)) AS %1$s)) END', k.column_type)
      INTO shifted
      USING patch ->> k.column_name, k.spec, tdm._mask_secret(), members, k.column_name, patch -> k.column_name;
    patch := jsonb_set(patch, ARRAY[k.column_name], shifted);
  END LOOP;
  RETURN patch;
END
$$;

-- The specs of `rel`'s masks, in column order, every option present: the
-- parameter tdm._masked_value_sql's expressions read.
CREATE FUNCTION tdm._mask_specs(rel regclass) RETURNS jsonb[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(array_agg(jsonb_build_object('method', m.method,
                                               'options', tdm._mask_defaults(m.method) || m.options)
                            ORDER BY m.column_name), '{}')
    FROM tdm.mask m WHERE m.rel = _mask_specs.rel
$$;

-- The columns of `rel` that identify rows (its natural keys, columns of
-- its unique indexes and exclusion constraints) and the ones that rows
-- reference or are referenced by (primary key, foreign keys either way),
-- with the role each plays. A column a stored generated column with a
-- role is computed from plays it too, `through` that column: a mask of it
-- changes the generated one (lower(email) follows email).
CREATE FUNCTION tdm._key_roles(rel regclass) RETURNS TABLE (column_name text, role text, through text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH direct(column_name, role) AS (
    SELECT unnest(m.pk_columns), 'primary key' FROM tdm.managed_table m WHERE m.rel = _key_roles.rel
    UNION ALL
    SELECT c, 'foreign key' FROM tdm.managed_table m, jsonb_array_elements(m.foreign_keys) f,
                                 jsonb_array_elements_text(f -> 'columns') c
     WHERE m.rel = _key_roles.rel
    UNION ALL
    SELECT c, 'referenced by ' || m.rel::text
      FROM tdm.managed_table m, jsonb_array_elements(m.foreign_keys) f,
           jsonb_array_elements_text(f -> 'ref_columns') c
     WHERE (f ->> 'references')::regclass = _key_roles.rel
    UNION ALL
    SELECT trim(c), 'natural key' FROM tdm.managed_table m, unnest(m.natural_keys) nk,
                                       unnest(string_to_array(nk, ',')) c
     WHERE m.rel = _key_roles.rel
    UNION ALL
    -- (the columns it reads: its key columns, and through its
    -- dependencies those of its expressions and predicate; a UNIQUE
    -- constraint's index records none of its own)
    SELECT DISTINCT a.attname::text,
           CASE WHEN i.indisunique THEN 'unique index ' ELSE 'exclusion constraint ' END
           || i.indexrelid::regclass::text
      FROM pg_index i
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum > 0
                         AND (a.attnum = ANY (i.indkey)
                              OR EXISTS (SELECT FROM pg_depend d
                                          WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
                                            AND d.refclassid = 'pg_class'::regclass AND d.refobjid = i.indrelid
                                            AND d.refobjsubid = a.attnum))
     WHERE i.indrelid = _key_roles.rel AND (i.indisunique OR i.indisexclusion) AND NOT i.indisprimary)
  SELECT d.column_name, d.role, NULL FROM direct d
  UNION ALL
  SELECT src.attname::text, d.role, d.column_name
    FROM direct d
    JOIN pg_attribute g ON g.attrelid = _key_roles.rel AND g.attname = d.column_name AND g.attgenerated = 's'
    JOIN pg_attrdef ad ON ad.adrelid = g.attrelid AND ad.adnum = g.attnum
    JOIN pg_depend dep ON dep.classid = 'pg_attrdef'::regclass AND dep.objid = ad.oid
                      AND dep.refclassid = 'pg_class'::regclass AND dep.refobjid = g.attrelid
    JOIN pg_attribute src ON src.attrelid = g.attrelid AND src.attnum = dep.refobjsubid AND src.attnum <> g.attnum
$$;

-- The text of `expr`, column `col` of `rel`, as detection compares it:
-- lower-cased and trimmed for a natural key of a table registered with
-- normalize_keys, lower-cased for a citext column (by its type's name: the
-- extension may live in any schema, or not be installed), as it is
-- otherwise.
CREATE FUNCTION tdm._mask_folded(rel regclass, col text, expr text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE
    WHEN EXISTS (SELECT FROM tdm.managed_table m, unnest(m.natural_keys) nk, unnest(string_to_array(nk, ',')) c
                  WHERE m.rel = _mask_folded.rel AND m.normalize_keys AND btrim(c) = col)
      THEN tdm._folded_sql(expr)
    WHEN EXISTS (SELECT FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                  WHERE a.attrelid = rel AND a.attname = col AND t.typname = 'citext')
      THEN format('pg_catalog.lower((%s)::text)', expr)
    ELSE format('%s::text', expr) END
$$;

-- Whether deparsed expression `expr` (pg_get_expr) reads column `col`:
-- its name as an identifier, not inside a string literal nor as a type
-- name after `::` (false when `expr` is NULL).
CREATE FUNCTION tdm._expr_reads(expr text, col text) RETURNS bool
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(regexp_replace(expr, '''([^'']|'''')*''', '''''', 'g')
                    ~ ('(^|[^[:alnum:]_$":])' || regexp_replace(quote_ident(col), '([^[:alnum:]_])', E'\\\\\\1', 'g')
                       || '($|[^[:alnum:]_$"])'), false)
$$;

-- Why `method` with `options` cannot mask column `col` of `rel` (NULL
-- when it can): checked when the mask is declared and again at every
-- collection, since the table may have changed since.
CREATE FUNCTION tdm._mask_problem(rel regclass, col text, method text, options jsonb) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  m tdm.managed_table;
  a pg_attribute;
  base regtype;
  role text;
  unknown text;
  o jsonb := tdm._mask_defaults(method) || coalesce(options, '{}');
  out_length int;
  length_typmod int;  -- the column's typmod, or its domain's
  refusal text;  -- why the column's type refuses a constant
  whole bool;    -- the constant comes through the column's type whole
  stored text;   -- as the column would hold it
  base_category "char";  -- the category of the type under every domain
  nulls_apart bool;      -- a unique index that keeps NULLs apart: null masks it
BEGIN
  SELECT * INTO m FROM tdm.managed_table x WHERE x.rel = _mask_problem.rel;
  SELECT * INTO a FROM pg_attribute x WHERE x.attrelid = rel AND x.attname = col AND x.attnum > 0
                                        AND NOT x.attisdropped;
  IF NOT FOUND THEN
    RETURN format('%s has no column %s%s', rel, quote_ident(col),
                  ' (' || tdm._did_you_mean('column', quote_ident(tdm._lookalike(col,
                            ARRAY(SELECT x.attname::text FROM pg_attribute x
                                   WHERE x.attrelid = rel AND x.attnum > 0 AND NOT x.attisdropped)))) || ')');
  END IF;
  -- (a domain by its base type)
  base := coalesce((SELECT d.typbasetype FROM pg_type d WHERE d.oid = a.atttypid AND d.typtype = 'd'), a.atttypid);
  IF col IN (m.release_column, m.feature_column, m.updated_at_column) THEN
    RETURN format('%s is the table''s %s column, which tdm reads to tag and order rows', quote_ident(col),
                  CASE col WHEN m.release_column THEN 'release' WHEN m.feature_column THEN 'feature'
                           ELSE 'updated_at' END);
  END IF;
  IF a.attgenerated <> '' THEN
    RETURN format('%s is a generated column: mask the columns it is computed from', quote_ident(col));
  END IF;
  -- (A generated key computed from it changes with it, whatever the
  -- method: left(hash, 5) makes different values equal.)
  SELECT format('%s, a column of a %s', quote_ident(r.through), r.role) INTO role FROM tdm._key_roles(rel) r
   WHERE r.column_name = col AND r.through IS NOT NULL ORDER BY r.through, r.role LIMIT 1;
  IF FOUND THEN
    RETURN format('%s is read by generated column %s: a mask of %s changes that key, and rows would be matched'
                  ' and kept apart otherwise than in the environments (two entities could become one): leave it'
                  ' unmasked', quote_ident(col), role, quote_ident(col));
  END IF;
  SELECT r.role INTO role FROM tdm._key_roles(rel) r
   WHERE r.column_name = col AND (r.role IN ('primary key', 'foreign key') OR r.role LIKE 'referenced by %')
   LIMIT 1;
  IF FOUND THEN
    RETURN format('%s %s: rows are matched and referenced by it, and a masked key would no longer meet its'
                  ' references', quote_ident(col),
                  CASE WHEN role LIKE 'referenced by %' THEN 'is ' || role ELSE 'is a column of a ' || role END);
  END IF;
  -- (A partial unique index's WHERE clause says which rows must be
  -- unique: a mask of a column it reads changes which rows it covers,
  -- whatever the method, and rows the environments keep apart collide.)
  -- (Not a column of the index's key: `UNIQUE (email) WHERE email IS NOT
  -- NULL` covers the same rows once email is hashed, NULL staying NULL;
  -- the key's rules below apply to it.)
  SELECT format('%s (WHERE %s)', i.indexrelid::regclass, pg_get_expr(i.indpred, i.indrelid)) INTO role
    FROM pg_index i
   WHERE i.indrelid = rel AND i.indisunique AND i.indpred IS NOT NULL
     AND tdm._expr_reads(pg_get_expr(i.indpred, i.indrelid), col)
     AND NOT a.attnum = ANY (i.indkey)
     AND NOT tdm._expr_reads(pg_get_expr(i.indexprs, i.indrelid), col)
   ORDER BY 1 LIMIT 1;
  IF FOUND THEN
    RETURN format('%s is read by the WHERE clause of unique index %s: a mask would change which rows the index'
                  ' covers, and rows it keeps apart in the environments would collide: leave it unmasked',
                  quote_ident(col), role);
  END IF;
  IF method NOT IN ('hash', 'email') THEN
    -- (NULLs are never equal in a unique index, unless it says NULLS NOT
    -- DISTINCT, nor in an exclusion constraint: null keeps such a
    -- column's rows apart, a column too short for a hash too)
    SELECT r.role INTO role FROM tdm._key_roles(rel) r
     WHERE r.column_name = col
       AND NOT (method = 'null'
                AND (r.role LIKE 'exclusion constraint %'
                     OR (r.role LIKE 'unique index %'
                         AND NOT (SELECT i.indnullsnotdistinct FROM pg_index i
                                   WHERE i.indexrelid = to_regclass(substr(r.role, 14))))))
     LIMIT 1;
    IF FOUND THEN
      -- (null is offered only where the index keeps NULLs apart: not
      -- under NULLS NOT DISTINCT)
      nulls_apart := role LIKE 'unique index %' AND method <> 'null' AND NOT a.attnotnull
                     AND NOT EXISTS (SELECT FROM tdm._key_roles(rel) r JOIN pg_index i
                                       ON i.indexrelid = to_regclass(substr(r.role, 14))
                                     WHERE r.column_name = col AND r.role LIKE 'unique index %'
                                       AND i.indnullsnotdistinct);
      -- (hash and email mask text only: for another type, what is left)
      RETURN format('%s is part of %s %s, and %s makes different values equal (two entities would'
                    ' become one): %s',
                    quote_ident(col), CASE WHEN role LIKE 'exclusion %' THEN 'an' ELSE 'a' END, role, method,
                    CASE WHEN (SELECT t.typcategory FROM pg_type t WHERE t.oid = base) = 'S'
                         THEN 'use hash or email, which keep different values apart'
                              || CASE WHEN nulls_apart THEN ', or null (a unique index keeps NULLs apart)' ELSE '' END
                         WHEN nulls_apart THEN 'use null (a unique index keeps NULLs apart), or leave it unmasked'
                         ELSE 'leave it unmasked' END);
    END IF;
  END IF;
  unknown := (SELECT string_agg(k, ', ' ORDER BY k) FROM jsonb_object_keys(coalesce(options, '{}')) k
               WHERE NOT tdm._mask_defaults(method) ? k);
  IF unknown IS NOT NULL THEN
    RETURN format('method %s takes no option %s (its options: %s)', method, unknown,
                  coalesce((SELECT string_agg(k, ', ' ORDER BY k) FROM jsonb_object_keys(tdm._mask_defaults(method)) k),
                           'none'));
  END IF;
  IF method IN ('hash', 'email', 'partial') AND (SELECT t.typcategory FROM pg_type t WHERE t.oid = base) <> 'S' THEN
    RETURN format('method %s masks text, and %s is %s: use %s', method, quote_ident(col),
                  format_type(a.atttypid, a.atttypmod),
                  CASE WHEN base IN ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype)
                       THEN 'date_shift, null or constant' ELSE 'null or constant' END);
  END IF;
  -- (a time of day moved by days is the same time: not masked at all)
  IF method = 'date_shift' AND base NOT IN ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype) THEN
    RETURN format('method date_shift masks dates and timestamps, and %s is %s', quote_ident(col),
                  format_type(a.atttypid, a.atttypmod));
  END IF;
  IF method = 'null' AND a.attnotnull THEN
    RETURN format('%s is NOT NULL: mask it with constant, or another method', quote_ident(col));
  END IF;
  -- Options of the right type and range.
  IF method = 'hash' AND (jsonb_typeof(o -> 'length') <> 'number' OR (o ->> 'length') !~ '^[0-9]+$'
                          OR (o ->> 'length')::numeric NOT BETWEEN 8 AND 64) THEN
    RETURN 'option length of method hash is a whole number from 8 to 64';
  END IF;
  -- (Shorter than 16 characters, 15 hex digits, on a key: among some ten
  -- thousand values two different ones are likely to mask alike, and
  -- their rows would be taken for one entity.)
  -- (a domain over varchar(n), or over such a domain: its own typmod)
  length_typmod := tdm._declared_typmod(a.atttypid, a.atttypmod);
  -- (A unique index on an expression of the column, lower(email): values
  -- it takes for one, Ann@x and ann@x, would mask apart and both load.
  -- Not where the expression is lower() of a column masked lower-cased,
  -- tdm._mask_folded.)
  IF method IN ('hash', 'email') THEN
    SELECT format('%s (%s)', i.indexrelid::regclass, pg_get_expr(i.indexprs, i.indrelid)) INTO role
      FROM pg_index i
     WHERE i.indrelid = rel AND (i.indisunique OR i.indisexclusion)
       AND tdm._expr_reads(pg_get_expr(i.indexprs, i.indrelid), col)
       AND (tdm._mask_folded(rel, col, 'x') = 'x::text'
            OR tdm._expr_reads(regexp_replace(pg_get_expr(i.indexprs, i.indrelid),
                                              E'(^|[^[:alnum:]_$."])(pg_catalog\\.)?lower\\(\\(?'
                                              || regexp_replace(quote_ident(col), '([^[:alnum:]_])', E'\\\\\\1', 'g')
                                              || E'\\)?(::text)?\\)', E'\\1', 'g'), col))
     ORDER BY 1 LIMIT 1;
    IF FOUND THEN
      RETURN format('%s is read by an expression of unique index %s: %s masks the value as written, and values'
                    ' the expression takes for one (Ann@example.com and ann@example.com under lower()) would mask'
                    ' apart and load as two rows: where the expression is lower(%s), register the column as a'
                    ' natural key with normalize_keys (tdm.manage_table), whose values are masked lower-cased;'
                    ' else leave it unmasked', quote_ident(col), role, method, quote_ident(col));
    END IF;
  END IF;
  IF method IN ('hash', 'email') THEN
    SELECT CASE WHEN r.role LIKE 'exclusion %' THEN 'an ' ELSE 'a ' END || r.role INTO role
      FROM tdm._key_roles(rel) r WHERE r.column_name = col LIMIT 1;
    IF FOUND THEN
      -- (a column too short for any: said so, not sent from one length to another)
      IF length_typmod BETWEEN 5 AND 19 THEN
        RETURN format('%s is part of %s, and %s holds no masked value of 16 characters or more, the shortest'
                      ' that keeps some ten thousand values apart: widen the column (in the target and the'
                      ' environments), or leave it unmasked', quote_ident(col), role,
                      format_type(a.atttypid, a.atttypmod));
      END IF;
      IF method = 'hash' AND (o ->> 'length')::int < 16 THEN
        RETURN format('%s is part of %s, and a hash of %s characters makes different values equal too often'
                      ' (two entities would become one): give it a length of 16 or more', quote_ident(col), role,
                      o ->> 'length');
      END IF;
    END IF;
  END IF;
  -- (lower case: a natural key compared case-insensitively is masked
  -- lower-cased, and a masked value must read as masked again)
  IF method = 'email' AND (jsonb_typeof(o -> 'domain') <> 'string'
                           OR (o ->> 'domain') !~ '^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$') THEN
    RETURN 'option domain of method email is a domain name in lower case, such as "example.com"';
  END IF;
  IF method = 'partial' AND (jsonb_typeof(o -> 'keep_first') <> 'number' OR (o ->> 'keep_first') !~ '^[0-9]+$'
                             OR jsonb_typeof(o -> 'keep_last') <> 'number' OR (o ->> 'keep_last') !~ '^[0-9]+$'
                             OR (o ->> 'keep_first')::numeric > 1000 OR (o ->> 'keep_last')::numeric > 1000) THEN
    RETURN 'options keep_first and keep_last of method partial are whole numbers from 0 to 1000';
  END IF;
  IF method = 'partial' AND (jsonb_typeof(o -> 'mask_char') <> 'string'
                             OR char_length(o ->> 'mask_char') <> 1) THEN
    RETURN 'option mask_char of method partial is one character';
  END IF;
  IF method = 'date_shift' AND (jsonb_typeof(o -> 'days') <> 'number' OR (o ->> 'days') !~ '^[0-9]+$'
                                OR (o ->> 'days')::numeric NOT BETWEEN 1 AND 3650) THEN
    RETURN 'option days of method date_shift is a whole number from 1 to 3650';
  END IF;
  IF method = 'constant' THEN
    -- (An object or array is the text of a json value: the cast below
    -- says whether the column takes it.)
    IF jsonb_typeof(o -> 'value') IS NULL OR jsonb_typeof(o -> 'value') = 'null' THEN
      RETURN format('method constant needs option value: the value that replaces %s, e.g. {"value": "x"}',
                    quote_ident(col));
    END IF;
    refusal := tdm._refusal(o ->> 'value', format_type(a.atttypid, a.atttypmod));
    IF refusal IS NOT NULL THEN
      RETURN format('option value %s is not a %s: %s', o -> 'value', format_type(a.atttypid, a.atttypmod),
                    refusal);
    END IF;
    -- (The cast cuts a string to the column's length and rounds a number
    -- or a time to its digits, where storing a longer string fails: the
    -- value must come through whole, but for trailing blanks.)
    base_category := (SELECT t.typcategory FROM pg_type t WHERE t.oid = tdm._base_type(a.atttypid));
    IF length_typmod IS NOT NULL AND base_category IN ('S', 'V', 'N', 'D', 'T') THEN
      -- (against the type under every domain, without a length)
      EXECUTE format(CASE WHEN base_category IN ('S', 'V')
                          THEN 'SELECT rtrim(CAST($1 AS %1$s)::text, '' '') = rtrim(CAST($1 AS %2$s)::text, '' ''),'
                          ELSE 'SELECT CAST($1 AS %1$s) = CAST($1 AS %2$s),' END
                     || ' CAST($1 AS %1$s)::text',
                     format_type(a.atttypid, a.atttypmod), format_type(tdm._base_type(a.atttypid), NULL))
        INTO whole, stored USING o ->> 'value';
      IF NOT whole THEN
        RETURN format('option value %s does not fit %s, which would hold it as %s', o -> 'value',
                      format_type(a.atttypid, a.atttypmod), to_jsonb(stored));
      END IF;
    END IF;
  END IF;
  -- A masked value the column's length cannot hold would be cut short
  -- (and cut values collide).
  out_length := CASE method WHEN 'hash' THEN (o ->> 'length')::int
                            WHEN 'email' THEN 18 + char_length(o ->> 'domain') END;
  IF out_length IS NOT NULL AND length_typmod > 4 AND length_typmod - 4 < out_length THEN
    RETURN format('%s is %s and a value masked by %s is %s characters long%s', quote_ident(col),
                  format_type(a.atttypid, length_typmod), method, out_length,
                  CASE method WHEN 'hash' THEN ': give a smaller length option'
                              ELSE ': give a shorter domain, or use hash' END);
  END IF;
  RETURN NULL;
END
$$;

-- What a change of a column's mask (`before` or `after` NULL: none) does
-- not change, said as a WARNING: rows loaded before it, and a run waiting
-- for review (its conflicts are collected again when it resumes: a masked
-- natural key gives them new ids). Nothing when the mask is the same
-- (options compared with their defaults in).
CREATE FUNCTION tdm._warn_mask_change(caller text, rel regclass, col text, before tdm.mask, after tdm.mask)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  loaded text[];
  waiting text[];
  identifies bool := EXISTS (SELECT FROM tdm._key_roles(rel) r WHERE r.column_name = col);
  was text := CASE WHEN before.method IS NOT NULL THEN format('%s %s', before.method, before.options) END;
BEGIN
  IF before.method IS NOT DISTINCT FROM after.method
     AND tdm._mask_defaults(before.method) || before.options
         IS NOT DISTINCT FROM tdm._mask_defaults(after.method) || after.options THEN
    RETURN;
  END IF;
  loaded := ARRAY(SELECT t::text FROM unnest(ARRAY[rel, tdm._target_table('master', rel)]) AS t
                    WHERE t IS NOT NULL AND tdm._holds_rows(t));
  IF cardinality(loaded) > 0 THEN
    RAISE WARNING '%: rows already loaded keep %.% as it was: %', caller, rel, quote_ident(col),
      array_to_string(loaded, ', ')
      USING DETAIL = CASE
              WHEN was IS NOT NULL THEN
                format('Rows loaded hold it as it was when they were loaded (masked by %s, or as it was before'
                       ' that mask). Rows refreshed from them'
                       ' into an environment are collected %s: they no longer match the loaded rows%s.', was,
                       CASE WHEN after.method IS NULL THEN 'unmasked' ELSE 'masked again, the new way' END,
                       CASE WHEN identifies THEN ', and the same entity is loaded again under its new value'
                            ELSE ' (an attribute conflict for each)' END)
              WHEN identifies THEN
                'A mask applies to rows collected from now on. Rows loaded while the column was not masked'
                ' hold it unmasked: a masked natural key no longer matches them, and the same entity would be'
                ' loaded again.'
              ELSE 'A mask applies to rows collected from now on. Rows loaded while the column was not masked'
                   ' hold it unmasked, and differ from the rows collected masked (an attribute conflict for'
                   ' each).' END,
            HINT = 'Declare masks before the first consolidation, and keep them; tdm.find_pii(''local'') shows'
                   ' what the target holds.';
  END IF;
  waiting := ARRAY(SELECT format('%s (release %s)', r.run_id, r.release) FROM tdm.run r
                    WHERE r.status IN ('awaiting_review', 'invalid')
                      AND r.run_id = (SELECT max(x.run_id) FROM tdm.run x WHERE x.release = r.release)
                      AND EXISTS (SELECT FROM tdm.release_lock l
                                   WHERE l.release = r.release AND l.rel = _warn_mask_change.rel
                                     AND l.row_count > 0)
                    ORDER BY r.run_id);
  IF cardinality(waiting) > 0 THEN
    RAISE WARNING '%: run(s) % will collect %.% % when they resume', caller, array_to_string(waiting, ', '),
      rel, quote_ident(col), CASE WHEN after.method IS NULL THEN 'unmasked' ELSE 'masked' END
      USING DETAIL = CASE WHEN identifies
                          THEN 'Their conflicts of this natural key get new ids, and the decisions on the old ones'
                               ' no longer apply.'
                          ELSE 'Conflicts whose members change become stale.' END;
  END IF;
END
$$;

-- The managed table `rel` is a target's copy of (its schema the target),
-- for the HINT of a call that takes managed tables only.
CREATE FUNCTION tdm._copy_of_managed(rel regclass) RETURNS TABLE (managed regclass, target text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT m.rel, n.nspname::text
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN tdm.managed_table m ON (SELECT mc.relname FROM pg_class mc WHERE mc.oid = m.rel) = c.relname
   WHERE c.oid = _copy_of_managed.rel AND m.rel <> _copy_of_managed.rel
   LIMIT 1
$$;

-- Declares (or replaces) the mask of one column. Rows already loaded are
-- not rewritten: the mask applies from the next collection on.
CREATE FUNCTION tdm.mask_column(rel regclass, col name, method text, options jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
DECLARE
  problem text;
  before tdm.mask;
BEGIN
  PERFORM tdm._require_given('mask_column', 'rel', rel IS NOT NULL);
  PERFORM tdm._require_given('mask_column', 'col', col IS NOT NULL);
  PERFORM tdm._require_given('mask_column', 'method', method IS NOT NULL);
  PERFORM tdm._require_given('mask_column', 'options', options IS NOT NULL);
  -- (a run collects with the masks it began with)
  PERFORM tdm._change_managed_tables('mask_column');
  IF NOT EXISTS (SELECT FROM tdm.managed_table m WHERE m.rel = mask_column.rel) THEN
    RAISE EXCEPTION 'mask_column: table % is not managed by tdm', tdm._rel_name(rel)
      USING ERRCODE = 'undefined_object',
            HINT = coalesce(
                     -- (a target's copy of a managed table: masks are the managed table's)
                     (SELECT format('It is %s''s table in target %s: masks are declared on the managed table,'
                                    ' SELECT tdm.mask_column(%L, %L, %L);', x.managed, quote_ident(x.target),
                                    x.managed::text, col, method)
                        FROM tdm._copy_of_managed(rel) x),
                     format('Register it first: SELECT tdm.manage_table(%L);', rel::text));
  END IF;
  IF tdm._mask_defaults(method) IS NULL THEN
    RAISE EXCEPTION 'mask_column: unknown method "%" for %.%', method, rel, quote_ident(col)
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'The methods: hash, email, partial, date_shift, constant, null.';
  END IF;
  IF jsonb_typeof(coalesce(options, '{}')) <> 'object' THEN
    RAISE EXCEPTION 'mask_column: options must be a JSON object, not %', options
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  problem := tdm._mask_problem(rel, col, method, options);
  IF problem IS NOT NULL THEN
    RAISE EXCEPTION 'mask_column: cannot mask %.% with %: %', rel, quote_ident(col), method, problem
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM tdm._mask_secret();
  SELECT * INTO before FROM tdm.mask k WHERE k.rel = mask_column.rel AND k.column_name = col;
  INSERT INTO tdm.mask AS k (rel, column_name, method, options)
  VALUES (rel, col, method, coalesce(options, '{}'))
  ON CONFLICT ON CONSTRAINT mask_pkey DO UPDATE
    SET method = excluded.method, options = excluded.options, created_at = now(), created_by = current_user;
  PERFORM tdm._warn_mask_change('mask_column', rel, col, before,
                                 ROW(rel, col, method, coalesce(options, '{}'), NULL, NULL)::tdm.mask);
  PERFORM tdm._notice_rules_on_masks('mask_column', rel, col => col);
  -- (A core column's difference goes to a reviewer, priority 1: a mask
  -- that can make two values one hides it, and a rule settles the rows.)
  IF method IN ('partial', 'date_shift', 'constant', 'null')
     AND EXISTS (SELECT FROM tdm.managed_table m WHERE m.rel = mask_column.rel AND col::text = ANY (m.core_columns)) THEN
    RAISE WARNING 'mask_column: %.% is a core column, and % can make different values equal: conflicts no longer see a difference there',
      rel, quote_ident(col), method
      USING HINT = 'Two rows that differ only there are then settled by the rules (exact_duplicate), not sent to a'
                   ' reviewer. Use hash where the type takes it (different values stay apart), or accept it.';
  END IF;
  PERFORM tdm._audit('mask_column', format('%s.%s', rel, quote_ident(col)),
                     jsonb_build_object('method', method, 'options', coalesce(options, '{}'),
                                        'replaces', CASE WHEN before.method IS NOT NULL
                                                         THEN jsonb_build_object('method', before.method,
                                                                                 'options', before.options) END));
END
$$;
COMMENT ON FUNCTION tdm.mask_column(regclass, name, text, jsonb) IS
  'Masks a column of a managed table from the next collection on (hash, email, partial, date_shift, constant, null)';

-- Removes the mask of one column.
CREATE FUNCTION tdm.unmask_column(rel regclass, col name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
DECLARE
  gone tdm.mask;
BEGIN
  PERFORM tdm._require_given('unmask_column', 'rel', rel IS NOT NULL);
  PERFORM tdm._require_given('unmask_column', 'col', col IS NOT NULL);
  PERFORM tdm._change_managed_tables('unmask_column');
  DELETE FROM tdm.mask k WHERE k.rel = unmask_column.rel AND k.column_name = col RETURNING * INTO gone;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unmask_column: %.% is not masked', tdm._rel_name(rel), quote_ident(col)
      USING ERRCODE = 'undefined_object',
            HINT = coalesce(tdm._did_you_mean('Column', quote_ident(tdm._lookalike(col,
                              ARRAY(SELECT k.column_name FROM tdm.mask k WHERE k.rel = unmask_column.rel)))),
                            'The masks are in tdm.mask.');
  END IF;
  PERFORM tdm._warn_mask_change('unmask_column', rel, col, gone, NULL);
  PERFORM tdm._audit('unmask_column', format('%s.%s', rel, quote_ident(col)),
                     jsonb_build_object('method', gone.method, 'options', gone.options));
END
$$;
COMMENT ON FUNCTION tdm.unmask_column(regclass, name) IS 'Removes the mask of a column';

-- Business rules of `rel` that read one of its masked columns (one rule,
-- or one column, when given), said as NOTICEs: validation reads the rows
-- as loaded, masked, and a rule on such a column holds for masked values.
-- (Read from the predicate's text: a column named in a string literal
-- counts too.)
CREATE FUNCTION tdm._notice_rules_on_masks(caller text, rel regclass, rule_name text DEFAULT NULL,
                                           col text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  x record;
BEGIN
  FOR x IN SELECT r.name, k.column_name, k.method FROM tdm.rule r JOIN tdm.mask k ON k.rel = r.rel
            WHERE r.rel = _notice_rules_on_masks.rel
              AND (rule_name IS NULL OR r.name = rule_name) AND (col IS NULL OR k.column_name = col)
              AND CASE WHEN k.column_name ~ '^[a-z_][a-z0-9_]*$'
                       THEN r.predicate ~* (E'\\m' || k.column_name || E'\\M')
                       ELSE position(quote_ident(k.column_name) IN r.predicate) > 0 END
            ORDER BY r.name, k.column_name LOOP
    RAISE NOTICE '%: rule "%" on % reads column %, which is masked (%): validation checks the masked values',
      caller, x.name, rel, quote_ident(x.column_name), x.method
      USING HINT = 'Validation reads the rows as loaded: write the rule for the masked values (a hash''s length, a'
                   ' date moved by days), or check those values in the environments.';
  END LOOP;
END
$$;

-- The masks of `rel`, as text: part of what a decision on one of its
-- conflicts is taken on (the members' values a reviewer saw). With masks,
-- it ends with a digest of the masks' secret: the members checksum it goes
-- into hashes the rows unmasked, and reviewers read it; keyed, it tells
-- nothing of a guessed value (any mask: a partial one leaves few digits to
-- guess).
CREATE FUNCTION tdm._mask_signature(rel regclass) RETURNS text
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN count(*) = 0 THEN ''
              ELSE string_agg(format('%s %s %s', quote_ident(k.column_name), k.method, k.options), ', '
                              ORDER BY k.column_name)
                   || ' ' || encode(sha256(tdm._mask_secret() || convert_to('members checksum', 'UTF8')), 'hex') END
    FROM tdm.mask k WHERE k.rel = _mask_signature.rel
$$;

-- Refuses (for `caller`) a mask of `rel` that no longer fits the table:
-- a column retyped, or made a key, since it was declared (by a
-- tdm.manage_table call, which is then refused itself).
CREATE FUNCTION tdm._require_masks_apply(caller text, rel regclass) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  k tdm.mask;
  problem text;
BEGIN
  FOR k IN SELECT * FROM tdm.mask x WHERE x.rel = _require_masks_apply.rel ORDER BY x.column_name LOOP
    problem := tdm._mask_problem(rel, k.column_name, k.method, k.options);
    IF problem IS NOT NULL THEN
      RAISE EXCEPTION '%: the mask of %.% (%) no longer applies: %', caller, rel, quote_ident(k.column_name),
        k.method, problem
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = format('Declare a mask that applies (tdm.mask_column replaces it), or remove it'
                            ' (SELECT tdm.unmask_column(%L, %L);)%s.', rel::text, k.column_name,
                            CASE WHEN caller = 'manage_table' THEN ', then register the table again' ELSE '' END);
    END IF;
  END LOOP;
END
$$;

-- Masks the rows collected for `rel` (pg_temp table `collected`) in
-- place, and recomputes the stored generated columns that read a masked
-- column (they would hold the value unmasked).
-- `again` (after decisions applied, whose merged values and renames a
-- reviewer typed): every mask but date_shift's, which are idempotent.
-- A mask that no longer fits the table (a column retyped or made a key
-- since) stops the collection: masking it otherwise would be a guess.
CREATE FUNCTION tdm._apply_masks(rel regclass, collected regclass, again bool DEFAULT false) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  masks tdm.mask[] := ARRAY(SELECT k FROM tdm.mask k WHERE k.rel = _apply_masks.rel
                                                       AND NOT (again AND k.method = 'date_shift')
                             ORDER BY k.column_name);
  masked text[] := ARRAY(SELECT x.column_name FROM unnest(masks) x);
  recomputed text;
BEGIN
  IF cardinality(masks) = 0 THEN
    RETURN;
  END IF;
  PERFORM tdm._require_masks_apply('collect', rel);
  BEGIN
    EXECUTE format('UPDATE %s t SET %s%s', collected,
                   (SELECT string_agg(format('%I = %s', c, tdm._masked_value_sql(rel, c, 't', 1, 2, again)), ', ')
                      FROM unnest(masked) c),
                   -- (master's rows stay as master has them)
                   CASE WHEN again THEN ' WHERE t.tdm_env <> ''master''' ELSE '' END)
      USING tdm._mask_secret(), tdm._mask_specs(rel);
  EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
    -- (a domain's CHECK refusing a masked value, a shifted date out of
    -- its type's range: the mask's doing, not the rows')
    RAISE EXCEPTION 'collect: the masks of % (%) give a value the column''s type refuses: %', rel,
      (SELECT string_agg(format('%s: %s', quote_ident(x.column_name), x.method), ', ' ORDER BY x.column_name)
         FROM unnest(masks) x), SQLERRM
      USING ERRCODE = SQLSTATE,
            HINT = 'Choose a method or options whose values the column''s type (a domain''s CHECK, a date''s range)'
                   ' accepts: SELECT tdm.mask_column(...) again replaces a mask. Nothing was collected.';
  END;
  -- (A second statement: the expressions must read the masked values.)
  recomputed := (SELECT string_agg(format('%I = %s', g.column_name, g.expr), ', ')
                   FROM tdm._generated_columns(rel) g WHERE g.reads && masked);
  IF recomputed IS NOT NULL THEN
    EXECUTE format('UPDATE %s t SET %s%s', collected, recomputed,
                   CASE WHEN again THEN ' WHERE t.tdm_env <> ''master''' ELSE '' END);
  END IF;
END
$$;

-- What tdm.find_pii reports: a column that looks like personal data, by
-- its name, its values (a sample), or both.
CREATE TYPE tdm.pii_candidate AS (
  env         text,      -- 'local' or the environment scanned
  rel         regclass,  -- the managed table
  column_name text,
  category    text,      -- email, phone, person_name, address, date_of_birth, national_id,
                         -- medical_record, card_number, iban, ip_address
  evidence    text,      -- 'name', 'values' or 'name and values'
  sampled     bigint,    -- non-NULL values read
  matched     bigint,    -- of them, values of the category's form
  masked_by   text,      -- the column's mask method (tdm.mask; for a generated column, the
                         -- mask of a column it reads), NULL when unmasked
  suggestion  text       -- the call that masks it; NULL when masked; `-- not maskable: why` when no method fits
);

-- The categories: a pattern for column names, one for values (NULL: the
-- values say nothing), and the mask method suggested for text columns.
CREATE TYPE tdm._pii_category AS (category text, name_pattern text, value_pattern text, method text);
CREATE FUNCTION tdm._pii_categories() RETURNS SETOF tdm._pii_category
LANGUAGE sql IMMUTABLE AS $$
  VALUES
    -- (not a name about email that holds none: email_count, emailed_at,
    -- email_sent_on)
    ('email', '(^|_)e_?mail(?!ed|ing|_?(count|sent|verified|confirmed|opt|opted|status|at|on|date|time|flag|type'
              '|domain|template|subject|body|frequency|bounced|enabled|disabled|notification|preference))', E'^[A-Za-z0-9._%+''-]+@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}$', 'email'),
    -- (international with + or 00, or (555) 123-4567: not a bare number, a date or an SSN)
    ('phone', '(^|_)(phone|mobile|cell|msisdn|fax|tel|telephone)(_|$)',
     E'^(\\+|00)[1-9][0-9 ().-]{6,18}[0-9]$|^\\(?[0-9]{3}\\)?[ .-][0-9]{3}[ .-][0-9]{4}$', 'partial'),
    -- (and the person a card, an account or a payment names)
    ('person_name', '^(first|last|middle|full|given|family|sur|maiden|display|contact)_?name$|^(forename|surname)$'
                    '|^((card|account)_?)?holder(_?name)?$|^(customer|client|patient|recipient|beneficiary|payee|payer|sender)_name$',
     NULL, 'hash'),
    ('address', 'address|street|(^|_)(post|postal|zip)_?code$|^zip$', NULL, 'hash'),
    ('date_of_birth', 'birth|(^|_)dob$|^dob_|(^|_)born(_|$)', NULL, 'date_shift'),
    ('national_id', '(^|_)(ssn|social_security|national_id|passport|tax_id|nino|nin)(_|$)', '^[0-9]{3}-[0-9]{2}-[0-9]{4}$', 'partial'),
    -- (a health record's number names its patient: an identifier as much as an SSN)
    ('medical_record', '(^|_)(mrn|medical_record(_?(no|num|number))?|health_(id|number)|nhs_(no|number)|medicare_(id|no|number))(_|$)', NULL, 'hash'),
    -- (values: 13 to 19 digits that pass the Luhn check, tdm._luhn)
    ('card_number', 'credit_?card|(^|_)card_?(no|num|number)$|(^|_)(cc|pan)_?(no|num|number)$|^card$',
     '^[0-9]{4}([ -]?[0-9]{4}){2}[ -]?[0-9]{1,7}$', 'partial'),
    -- (as printed too: in groups of four, in either case)
    ('iban', '(^|_)iban(_|$)', '^[A-Za-z]{2}[0-9]{2}( ?[A-Za-z0-9]){11,30}$', 'partial'),
    -- (IPv6 in full or with ::, which no time of day has)
    ('ip_address', '(^|_)ip(_?addr(ess)?)?(_|$)',
     E'^([0-9]{1,3}\\.){3}[0-9]{1,3}$|^([0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}$|^[0-9A-Fa-f:]*::[0-9A-Fa-f:.]*$', 'hash')
$$;

-- Whether the digits of `value` pass the Luhn check of card numbers.
CREATE FUNCTION tdm._luhn(value text) RETURNS bool
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT sum(CASE WHEN n % 2 = 0 THEN (d * 2) / 10 + (d * 2) % 10 ELSE d END) % 10 = 0
    FROM pg_catalog.regexp_split_to_table(pg_catalog.reverse(pg_catalog.regexp_replace(value, '[^0-9]', '', 'g')), '')
         WITH ORDINALITY AS x(c, n),
         LATERAL (SELECT c::int AS d) y
$$;

-- Whether `value` passes the IBAN check (ISO 13616): blanks dropped, the
-- first four characters moved to the end, letters read as 10 to 35, the
-- number modulo 97 is 1. Product codes and references of an IBAN's shape
-- fail it (about 1 in 97 pass by chance).
CREATE FUNCTION tdm._iban_valid(value text) RETURNS bool
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT (string_agg(CASE WHEN c ~ '[0-9]' THEN c ELSE (ascii(c) - 55)::text END, '' ORDER BY n))::numeric % 97 = 1
    FROM (SELECT pg_catalog.upper(pg_catalog.replace(value, ' ', '')) AS v) x,
         LATERAL pg_catalog.regexp_split_to_table(substr(x.v, 5) || left(x.v, 4), '') WITH ORDINALITY AS y(c, n)
$$;

-- Columns of the managed tables that look like personal data: in the
-- consolidation database (env 'local': the managed tables themselves) or
-- in an environment (its foreign tables). Names are matched against each
-- category's pattern; values on a sample of 1000 non-NULL values per text
-- or network column, read once per column (80% of them of a category's
-- form make evidence). Read-only.
CREATE FUNCTION tdm.find_pii(env text DEFAULT 'local')
RETURNS SETOF tdm.pii_candidate
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off SET xmloption TO 'content' SET array_nulls TO on AS $$
#variable_conflict use_variable
DECLARE
  categories tdm._pii_category[] := ARRAY(SELECT (p.category, p.name_pattern, p.value_pattern, p.method)::tdm._pii_category
                                            FROM tdm._pii_categories() WITH ORDINALITY
                                                 AS p(category, name_pattern, value_pattern, method, n)
                                           ORDER BY p.n);
  m tdm.managed_table;
  source regclass;
  c record;
  k tdm._pii_category;
  counted bigint;
  hits bigint[];
  absent text[];
  drift text;
  drifts jsonb;  -- the environment's drift from every managed table: one remote read (p322)
  score int;
  best int;
  id_columns text[];  -- the table's primary and foreign key columns
  found tdm.pii_candidate;
BEGIN
  PERFORM tdm._require_given('find_pii', 'env', env IS NOT NULL);
  PERFORM tdm._require_side('find_pii', env);
  IF env <> 'local' THEN
    PERFORM tdm._refresh_environment(env);
    drifts := (SELECT coalesce(jsonb_agg(jsonb_build_object('rel', d.rel::oid, 'column_name', d.column_name,
                                                            'absent', d.env_type IS NULL, 'detail', d.detail)
                                         ORDER BY d.rel, d.ordinal), '[]')
                 FROM tdm._schema_drift_of(env, ARRAY(SELECT x.rel FROM tdm.managed_table x)) d
                WHERE d.severity = 'error' OR d.env_type IS NULL);
  ELSE
    -- (the managed tables read here: said with the GRANT where they may not be)
    PERFORM tdm._require_managed_schemas('find_pii');
  END IF;
  FOR m IN SELECT * FROM tdm.managed_table ORDER BY managed_table.rel::text LOOP
    source := tdm._side_table(env, m.rel);
    absent := '{}';
    IF env <> 'local' THEN
      -- (What the environment lacks is skipped, said once: the scan goes
      -- on with the rest. An unreachable server is an error here.)
      SELECT array_agg(d.value ->> 'column_name') FILTER (WHERE (d.value ->> 'absent')::bool),
             string_agg(d.value ->> 'detail', '; ') FILTER (WHERE (d.value ->> 'absent')::bool)
        INTO absent, drift
        FROM jsonb_array_elements(drifts) AS d WHERE (d.value ->> 'rel')::oid = m.rel;
      IF source IS NULL OR (drift IS NOT NULL AND array_position(absent, NULL) IS NOT NULL) THEN
        RAISE WARNING 'find_pii: % skipped: %', m.rel,
          coalesce(drift, format('table %s does not exist in environment "%s"', m.rel, env));
        CONTINUE;
      END IF;
      IF drift IS NOT NULL THEN
        RAISE WARNING 'find_pii: % scanned without what environment "%" lacks: %', m.rel, env, drift;
      END IF;
      absent := coalesce(absent, '{}');
    END IF;
    id_columns := ARRAY(SELECT r.column_name FROM tdm._key_roles(m.rel) r
                         WHERE r.role IN ('primary key', 'foreign key'));
    FOR c IN SELECT col.column_name, t.typcategory
               FROM tdm._columns(m.rel) col
               JOIN pg_attribute a ON a.attrelid = m.rel AND a.attname = col.column_name
               JOIN pg_type t ON t.oid = a.atttypid
              WHERE col.column_name NOT IN (m.release_column, m.feature_column)
                AND col.column_name <> ALL (absent)
              ORDER BY col.ordinal LOOP
      counted := NULL;
      hits := NULL;
      IF c.typcategory IN ('S', 'I') THEN
        -- (One read per column: every category's pattern over the sample;
        -- the environment's server applies the LIMIT. Network addresses
        -- by their host part: inet's text has a /32.)
        EXECUTE format('SELECT count(*), ARRAY[%3$s]'
                       '  FROM (SELECT %4$s AS v FROM %2$s t WHERE t.%1$I IS NOT NULL LIMIT 1000) s',
                       c.column_name, source,
                       (SELECT string_agg(CASE WHEN x.value_pattern IS NULL THEN 'NULL::bigint'
                                               -- (in the C collation: a nondeterministic
                                               -- one refuses regular expressions)
                                               WHEN x.category = 'card_number'
                                                 THEN format('count(*) FILTER (WHERE v COLLATE "C" ~ $1[%s]'
                                                             ' AND tdm._luhn(v COLLATE "C"))', i)
                                               WHEN x.category = 'iban'
                                                 THEN format('count(*) FILTER (WHERE v COLLATE "C" ~ $1[%s]'
                                                             ' AND tdm._iban_valid(v COLLATE "C"))', i)
                                               ELSE format('count(*) FILTER (WHERE v COLLATE "C" ~ $1[%s])', i) END,
                                          ', ' ORDER BY i)
                          FROM unnest(categories) WITH ORDINALITY AS x(category, name_pattern, value_pattern, method, i)),
                       -- (blanks around a value do not hide it)
                       CASE WHEN c.typcategory = 'I' THEN format('pg_catalog.host(t.%I)', c.column_name)
                            ELSE format('pg_catalog.btrim(t.%I::text)', c.column_name) END)
          INTO counted, hits USING ARRAY(SELECT x.value_pattern FROM unnest(categories) x);
      END IF;
      -- The category both the name and the values point to, else the one
      -- the values do (80% of the sample), else the name's; in the
      -- categories' order on a tie.
      best := 0;
      FOR i IN 1 .. cardinality(categories) LOOP
        -- (A name says nothing of a boolean, email_verified, nor of a
        -- number that is a key named an id, address_id; msisdn, a phone
        -- number that is a key, is named by its name.)
        -- (Names read with blanks and other separators as underscores:
        -- "Full Name" as full_name.)
        score := CASE WHEN (btrim(regexp_replace(c.column_name, '[^[:alnum:]]+', '_', 'g'), '_') ~* categories[i].name_pattern
                            AND c.typcategory <> 'B'
                            AND NOT (c.typcategory = 'N' AND c.column_name = ANY (id_columns)
                                     AND c.column_name ~* 'id$'))
                        OR (categories[i].category = 'ip_address' AND c.typcategory = 'I') THEN 1 ELSE 0 END
                 + CASE WHEN hits[i] > 0 AND hits[i] >= 0.8 * counted THEN 2 ELSE 0 END;
        IF score > best THEN
          best := score;
          k := categories[i];
          found.matched := hits[i];
        END IF;
      END LOOP;
      CONTINUE WHEN best = 0;
      found.env := env;
      found.rel := m.rel;
      found.column_name := c.column_name;
      found.category := k.category;
      found.evidence := CASE best WHEN 3 THEN 'name and values' WHEN 2 THEN 'values' ELSE 'name' END;
      found.sampled := counted;
      -- (A generated column is masked by the masks of what it reads.)
      found.masked_by := (SELECT x.method FROM tdm.mask x
                           WHERE x.rel = m.rel
                             AND (x.column_name = c.column_name
                                  OR x.column_name = ANY (SELECT unnest(g.reads) FROM tdm._generated_columns(m.rel) g
                                                           WHERE g.column_name = c.column_name))
                           ORDER BY x.column_name <> c.column_name, x.column_name LIMIT 1);
      -- (The method the category suggests where the column can take it,
      -- else the nearest that it can: a hash as long as a short column
      -- holds; none for a key column.)
      found.suggestion := (
        SELECT format('SELECT tdm.mask_column(%L, %L, %L%s);', m.rel::text, c.column_name, x.method,
                      CASE WHEN x.options <> '{}' THEN format(', %L', x.options) ELSE '' END)
          FROM (VALUES (1, k.method, '{}'::jsonb), (2, 'hash', '{}'),
                       (3, 'hash', (SELECT jsonb_build_object('length', a.atttypmod - 4) FROM pg_attribute a
                                     WHERE a.attrelid = m.rel AND a.attname = c.column_name
                                       AND a.atttypmod - 4 BETWEEN 8 AND 15)),
                       (4, 'null', '{}'), (5, 'partial', '{}')) AS x(n, method, options)
         WHERE found.masked_by IS NULL AND x.options IS NOT NULL
           AND tdm._mask_problem(m.rel, c.column_name, x.method, x.options) IS NULL
         ORDER BY x.n LIMIT 1);
      -- (None fits: why, as an SQL comment, so that it is not left blank.)
      IF found.masked_by IS NULL AND found.suggestion IS NULL THEN
        found.suggestion := '-- not maskable: ' || tdm._mask_problem(m.rel, c.column_name, k.method, '{}');
      END IF;
      RETURN NEXT found;
    END LOOP;
  END LOOP;
END
$$;
COMMENT ON FUNCTION tdm.find_pii(text) IS
  'Columns of the managed tables that look like personal data (by name and by a sample of values), masked or not';
