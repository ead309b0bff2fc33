-- Consolidation, review: the queue reviewers read in psql, their decisions
-- (checked at once, when written), the function forms and the second
-- approval of priority 1 decisions.

-- The latest run's row of a conflict.
CREATE FUNCTION tdm._latest_conflict(conflict_id text) RETURNS tdm.conflict
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT * FROM tdm.conflict c WHERE c.conflict_id = _latest_conflict.conflict_id
   ORDER BY c.run_id DESC LIMIT 1
$$;

-- The condition that row `t` has the key values $1 (jsonb: column -> value)
-- in `columns` of `rel`, compared as the columns' types (an environment
-- filters by it, through its index; compared as text, each row would be
-- fetched); `normalized`: as text, as natural keys of a table managed
-- with normalize_keys are (case and surrounding spaces ignored).
-- A type whose values are cast in a definer's lookup (tdm._key_in_release,
-- tdm._key_holder) must run no code a non-superuser wrote: a domain's CHECK
-- (or a range's or composite's parts) of such a role would run with the
-- extension owner's rights. Untrusted ones are compared as text.
CREATE FUNCTION tdm._is_trusted_type(type_oid oid) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH RECURSIVE chain(oid) AS (
    SELECT type_oid
    UNION
    SELECT x.next FROM chain c JOIN pg_type t ON t.oid = c.oid
     CROSS JOIN LATERAL (VALUES (nullif(t.typbasetype, 0)), (nullif(t.typelem, 0))) AS x(next)
     WHERE x.next IS NOT NULL)
  SELECT bool_and(t.typnamespace = 'pg_catalog'::regnamespace OR t.typtype = 'e'
                  OR (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = t.typowner))
         AND NOT EXISTS (SELECT 1 FROM chain c JOIN pg_type t ON t.oid = c.oid
                          WHERE t.typtype IN ('c', 'r', 'm')
                            AND NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = t.typowner))
    FROM chain c JOIN pg_type t ON t.oid = c.oid
$$;

CREATE FUNCTION tdm._key_matches(rel regclass, columns text[], normalized bool DEFAULT false)
RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(CASE WHEN normalized
                         THEN tdm._folded_sql(format('t.%I', c)) || ' = '
                                || tdm._folded_sql(format('$1->>%L', c))
                         WHEN NOT tdm._is_trusted_type(a.atttypid)
                         THEN format('t.%1$I::text = ($1->>%1$L)', c)
                         -- (the type's own equality: under tdm's search_path a
                         -- bare = compares citext as text)
                         ELSE format('t.%1$I %3$s ($1->>%1$L)::%2$s', c, tdm._column_type(rel, c),
                                     tdm._type_equality(rel, c)) END,
                    ' AND ')
    FROM unnest(columns) AS c
    JOIN pg_attribute a ON a.attrelid = rel AND a.attname = c AND NOT a.attisdropped
$$;

-- Whether two key value sets (column -> value) are one key, as the
-- columns' types spell them (tdm._member_key).
CREATE FUNCTION tdm._same_key(rel regclass, columns text[], a jsonb, b jsonb, normalized bool)
RETURNS bool
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  same bool;
BEGIN
  EXECUTE format('SELECT %s = %s', tdm._member_key(rel, columns, '$1', normalized, true),
                 tdm._member_key(rel, columns, '$2', normalized, true))
    INTO same USING a, b;
  RETURN same;
END
$$;

-- Whether a text says nothing: NULL, or spaces only (Unicode's too: a
-- no-break space is no rationale).
CREATE FUNCTION tdm._blank(value text) RETURNS bool
LANGUAGE sql IMMUTABLE AS $$
  SELECT value IS NULL
         OR regexp_replace(value, E'[\\s\\u00a0\\u1680\\u2000-\\u200b\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]', '', 'g') = ''
$$;

-- Up to ten of `items`, comma-separated, `...` after when there are more:
-- a NOTICE's list of conflicts.
CREATE FUNCTION tdm._first_ten(items text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT array_to_string(items[1:10], ', ') || CASE WHEN cardinality(items) > 10 THEN ', ...' ELSE '' END
$$;

-- Whether `columns` are a natural key that `m` compares normalized.
CREATE FUNCTION tdm._normalized_key(m tdm.managed_table, columns text[]) RETURNS bool
LANGUAGE sql IMMUTABLE AS $$
  SELECT m.normalize_keys AND columns IS DISTINCT FROM m.pk_columns
$$;

-- The lookups a decision's check makes with the extension owner's rights
-- (tdm._key_in_release, tdm._key_holder, through tdm._key_taken_for)
-- answer yes or no for values the caller may not read: only the check, a
-- trigger of tdm.decision, calls them, on its conflict's release (a
-- superuser may call them directly).
CREATE FUNCTION tdm._require_decision_check(fn text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF pg_trigger_depth() = 0 AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = session_user) THEN
    RAISE EXCEPTION 'tdm.% is the decision check''s: % may not call it directly', fn, session_user
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'A rename or a merged value is checked when it is written: INSERT INTO tdm.decision, or tdm.resolve.';
  END IF;
END
$$;

-- The environment holding a row of `release` whose `columns` have the
-- values `key_values` (NULL when none does): a renamed key must be free
-- among the release's rows, those outside any conflict included (definer:
-- reviewers do not read the environments). An environment that cannot be
-- reached is skipped with a NOTICE: validation checks every row anyway.
CREATE FUNCTION tdm._key_in_release(rel regclass, columns text[], key_values jsonb, release text)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET DateStyle TO 'ISO, YMD' SET IntervalStyle TO 'postgres' SET TimeZone TO 'UTC' SET bytea_output TO 'hex' SET lc_monetary TO 'C'
SET xmloption TO 'content' SET array_nulls TO on SET extra_float_digits TO 1 AS $$
DECLARE
  m tdm.managed_table;
  e tdm.environment;
  source regclass;
  taken bool;
  notice_key text;  -- this statement's key, once its NOTICE is given
BEGIN
  PERFORM tdm._require_decision_check('_key_in_release');
  SELECT * INTO m FROM tdm.managed_table WHERE managed_table.rel = _key_in_release.rel;
  PERFORM tdm._require_key(m, columns);
  -- A masked key: the environments hold it unmasked, and an answer would
  -- tell a reviewer which unmasked values they hold. Collected, it is
  -- masked; validation compares the masked values.
  IF EXISTS (SELECT FROM tdm.mask k WHERE k.rel = _key_in_release.rel AND k.column_name = ANY (columns)) THEN
    -- (Said once per statement and key, not once per renamed member.)
    notice_key := format('%s %s %s', statement_timestamp(), rel, columns);
    IF current_setting('tdm_review.key_notice', true) IS DISTINCT FROM notice_key THEN
      PERFORM set_config('tdm_review.key_notice', notice_key, true);
      RAISE NOTICE 'decision: did not look for % among the environments'' rows, the target''s or master''s: % masked (tdm.mask), and a value typed is masked when the decision applies; validation will check the masked values at the next consolidate',
        array_to_string(columns, ', '),
        CASE WHEN cardinality(columns) = 1 THEN 'it is' ELSE 'a column of it is' END;
    END IF;
    RETURN NULL;
  END IF;
  FOR e IN SELECT * FROM tdm.environment ORDER BY precedence, name LOOP
    source := tdm._env_table(e.name, rel);
    CONTINUE WHEN source IS NULL;
    -- (A foreign table's values are read through their types' input: a
    -- domain's CHECK of a non-superuser would run with the owner's rights,
    -- for the columns the lookup reads. And it reads what tdm imported,
    -- not a table its owner pointed elsewhere since.)
    IF NOT tdm._env_table_intact(e.name, source, e.remote_schema, (SELECT relname FROM pg_class WHERE oid = rel))
       OR EXISTS (SELECT FROM pg_attribute a
                   WHERE a.attrelid = source AND a.attname = ANY (columns || m.release_column)
                     AND NOT tdm._is_trusted_type(a.atttypid)) THEN
      RAISE NOTICE 'decision: did not look for % % among %''s rows: % is not as tdm imported it, or a column it reads has a type a non-superuser owns; validation will check it at the next consolidate',
        array_to_string(columns, ', '), key_values, e.name, source;
      CONTINUE;
    END IF;
    BEGIN
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s t WHERE t.%I = $2 AND %s)',
                     source, m.release_column,
                     tdm._key_matches(rel, columns, tdm._normalized_key(m, columns)))
        INTO taken USING key_values, release;
    EXCEPTION WHEN connection_exception OR fdw_error OR undefined_object THEN
      RAISE NOTICE 'decision: could not look for % % among %''s rows (%); validation will check it at the next consolidate',
        array_to_string(columns, ', '), key_values, e.name, SQLERRM;
      CONTINUE;
    END;
    IF taken THEN
      RETURN e.name;
    END IF;
  END LOOP;
  RETURN NULL;
END
$$;

-- A decision's conflict moves to `decided` (or back to `pending` when the
-- decision is withdrawn). Runs with the extension owner's rights: reviewers
-- write decisions, not conflicts.
CREATE FUNCTION tdm._mark_conflict(conflict_id text, status text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  UPDATE tdm.conflict c SET status = _mark_conflict.status
   WHERE c.conflict_id = _mark_conflict.conflict_id
     AND c.run_id = (SELECT max(run_id) FROM tdm.conflict x
                      WHERE x.conflict_id = _mark_conflict.conflict_id)
$$;

-- The definer's key lookups below answer for a table's keys only (its
-- primary key or a natural key): they tell a reviewer whether a key value
-- is taken, which a refused rename says anyway, and no other column.
CREATE FUNCTION tdm._require_key(m tdm.managed_table, columns text[]) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF m.rel IS NULL OR NOT (columns = m.pk_columns
                           OR array_to_string(columns, ',') = ANY (m.natural_keys)) THEN
    RAISE EXCEPTION 'decision: % is not a key of %', array_to_string(columns, ', '),
      coalesce(m.rel::text, 'an unmanaged table')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
END
$$;

-- The row of another release that holds `key_values` of key `columns` in
-- the target's table `rel` or in master, where the release goes next, as
-- a refusal names it ("release R1's row in master.users"); NULL when none
-- (definer: reviewers do not read the target tables; besides whether the
-- key is taken, it tells the holder's release tag, which conflicts with
-- master's rows show reviewers anyway).
CREATE FUNCTION tdm._key_holder(rel regclass, columns text[], key_values jsonb, release text)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET DateStyle TO 'ISO, YMD' SET IntervalStyle TO 'postgres' SET TimeZone TO 'UTC' SET bytea_output TO 'hex' SET lc_monetary TO 'C'
SET xmloption TO 'content' SET array_nulls TO on SET extra_float_digits TO 1 AS $$
DECLARE
  m tdm.managed_table;
  searched regclass;
  holder text;
BEGIN
  PERFORM tdm._require_decision_check('_key_holder');
  SELECT * INTO m FROM tdm.managed_table WHERE managed_table.rel = _key_holder.rel;
  PERFORM tdm._require_key(m, columns);
  -- In the target, and in master, where the release goes next.
  FOR searched IN SELECT u.x FROM unnest(ARRAY[rel, tdm._target_table('master', rel)]) WITH ORDINALITY AS u(x, i)
                   WHERE u.x IS NOT NULL GROUP BY u.x ORDER BY min(u.i) LOOP
    -- (format() spells a NULL tag as '': an untagged row is named so.)
    EXECUTE format('SELECT CASE WHEN t.%1$I IS NULL THEN ''an untagged row'''
                   '            ELSE format(''release %%s''''s row'', t.%1$I) END'
                   '       || '' in '' || $3 FROM %2$s t'
                   ' WHERE %3$s AND t.%1$I IS DISTINCT FROM $2 LIMIT 1',
                   m.release_column, searched,
                   tdm._key_matches(rel, columns, tdm._normalized_key(m, columns)), m.release_column)
      INTO holder USING key_values, release, searched::text;
    IF holder IS NOT NULL THEN
      RETURN holder;
    END IF;
  END LOOP;
  RETURN NULL;
END
$$;

-- The lookups above, as a decision's check on conflict `conflict_id`
-- makes them: of its table and its release, which must be decidable
-- (not in master), and of its keys only. Reviewers execute this one, not
-- the lookups, so a call that is no decision's check (a reviewer's own
-- trigger passes tdm._require_decision_check) asks no more than a
-- decision on a conflict could. `in_environments`: tdm._key_in_release,
-- else tdm._key_holder.
CREATE FUNCTION tdm._key_taken_for(conflict_id text, columns text[], key_values jsonb, in_environments bool)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  c tdm.conflict := tdm._latest_conflict(conflict_id);
  release text;
  release_status text;
BEGIN
  PERFORM tdm._require_decision_check('_key_taken_for');
  SELECT r.release, x.status INTO release, release_status
    FROM tdm.run r JOIN tdm.release x ON x.release = r.release WHERE r.run_id = c.run_id;
  IF release IS NULL OR tdm._presence(release_status) <> 'neither' THEN
    RAISE EXCEPTION 'tdm._key_taken_for: conflict "%" is no conflict a decision can be taken on', conflict_id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN CASE WHEN in_environments THEN tdm._key_in_release(c.rel, columns, key_values, release)
              ELSE tdm._key_holder(c.rel, columns, key_values, release) END;
END
$$;

-- A value as its type's text under the settings consolidation applies
-- decisions with: what a reviewer wrote under their own TimeZone, DateStyle
-- or IntervalStyle ('2024-01-02 03:00' in Tokyo), spelled as it is meant.
CREATE FUNCTION tdm._pinned_text(value anyelement) RETURNS text
LANGUAGE plpgsql STABLE
SET DateStyle TO 'ISO, YMD' SET IntervalStyle TO 'postgres' SET TimeZone TO 'UTC' SET bytea_output TO 'hex' SET lc_monetary TO 'C'
SET xmloption TO 'content' SET array_nulls TO on SET extra_float_digits TO 1 SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN value::text;
END
$$;

-- Values of `patch` (column -> value) cast to their columns' types; names
-- the first one that does not fit. `what` says where they come from.
-- Returns the patch with its values read as the caller's session reads
-- them and spelled as consolidation reads them (tdm._pinned_text).
CREATE FUNCTION tdm._check_values(rel regclass, patch jsonb, what text, conflict_id text)
RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  k text;
  col record;
  fits bool;
  spelled text;
  pinned jsonb := patch;
  refusal text;
BEGIN
  IF jsonb_typeof(patch) IS DISTINCT FROM 'object' THEN
    RAISE EXCEPTION 'decision on %: % must be a JSON object of column -> value', conflict_id, what
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR k IN SELECT jsonb_object_keys(patch) LOOP
    col := NULL;
    -- A length: the column's, or its domain's; of its elements for an
    -- array. The bare type is the base type by its own name (`character`
    -- alone means char(1)), without a length.
    SELECT format_type(a.atttypid, a.atttypmod) AS type, format('%I.%I', n.nspname, b.typname) AS bare_type,
           coalesce(e.typcategory, b.typcategory) IN ('S', 'V')
             AND tdm._declared_typmod(a.atttypid, a.atttypmod) IS NOT NULL AS has_length,
           a.attnotnull AS not_null, a.attgenerated <> '' AS generated, b.typcategory = 'A' AS is_array,
           b.oid = '"char"'::regtype AS one_byte, b.oid IN ('json'::regtype, 'jsonb'::regtype) AS is_json,
           b.typcategory = 'S' OR b.oid = 'bytea'::regtype AS is_string,  -- (taking any text as it is)
           (SELECT tn.nspname FROM pg_namespace tn WHERE tn.oid = t.typnamespace) AS type_schema
      INTO col
      FROM pg_attribute a
      JOIN pg_type t ON t.oid = a.atttypid
      JOIN pg_type b ON b.oid = tdm._base_type(a.atttypid)
      JOIN pg_namespace n ON n.oid = b.typnamespace
      LEFT JOIN pg_type e ON e.oid = b.typelem AND b.typcategory = 'A'
     WHERE a.attrelid = rel AND a.attname = k AND a.attnum > 0 AND NOT a.attisdropped;
    IF col.type IS NULL THEN
      RAISE EXCEPTION 'decision on %: % names column "%", which % does not have',
        conflict_id, what, tdm._printable(k, 100), rel
        USING ERRCODE = 'undefined_column',
              HINT = coalesce('Did you mean '
                              || quote_ident(tdm._lookalike(k, ARRAY(SELECT c.column_name::text
                                                                      FROM tdm._columns(rel) c))) || '? ', '')
                     || format('Its columns: %s.', (SELECT string_agg(quote_ident(c.column_name), ', '
                                                                      ORDER BY c.ordinal)
                                                      FROM tdm._columns(rel) c));
    END IF;
    IF col.generated THEN
      RAISE EXCEPTION 'decision on %: % gives "%" a value, but % computes that column',
        conflict_id, what, k, rel
        USING ERRCODE = 'generated_always',
              HINT = 'Leave it out: the table computes it from the row''s other columns.';
    END IF;
    IF col.not_null AND jsonb_typeof(patch -> k) = 'null' THEN
      RAISE EXCEPTION 'decision on %: % gives "%" no value (null), which % does not take',
        conflict_id, what, k, rel
        USING ERRCODE = 'not_null_violation', HINT = 'Give it a value, or leave the column out.';
    END IF;
    -- A JSON object or array for a string column would be stored as its
    -- JSON text. (Other types read it as their input does: a range's or an
    -- array's may take it, a number's or an hstore's refuses it below.)
    IF jsonb_typeof(patch -> k) IN ('object', 'array') AND col.is_string THEN
      RAISE EXCEPTION 'decision on %: % gives "%" a JSON %, but its type is %', conflict_id, what, k,
        jsonb_typeof(patch -> k), col.type
        USING ERRCODE = 'invalid_text_representation',
              HINT = format('Give its value as a JSON string or number (as the review queue shows it), e.g. %s.',
                            to_jsonb((patch -> k)::text));
    END IF;
    -- A JSON array for an array column: read as the array literal of its
    -- elements' text ('["a", "b"]' as '{a,b}').
    IF col.is_array AND jsonb_typeof(patch -> k) = 'array' THEN
      patch := jsonb_set(patch, ARRAY[k], to_jsonb(ARRAY(SELECT jsonb_array_elements_text(patch -> k))::text));
      pinned := jsonb_set(pinned, ARRAY[k], patch -> k);
    END IF;
    BEGIN
      EXECUTE format('SELECT tdm._pinned_text(($1->>$2)::%s)', col.type) INTO spelled USING patch, k;
      -- (A JSON number or string read otherwise than it is written, a
      -- timestamp's 20241225 or a Tokyo time, is stored as it was read.)
      IF spelled IS DISTINCT FROM patch ->> k THEN
        pinned := jsonb_set(pinned, ARRAY[k], to_jsonb(spelled));
      END IF;
      -- A cast cuts a string to its type's length where storing it fails:
      -- the value must come through whole (but for trailing spaces, which
      -- storing cuts too).
      IF col.has_length THEN
        EXECUTE format('SELECT rtrim(($1->>$2)::%s::text, '' '') = rtrim(($1->>$2)::%s::text, '' '')',
                       col.type, col.bare_type)
          INTO fits USING patch, k;
        IF NOT fits THEN
          RAISE EXCEPTION USING ERRCODE = 'string_data_right_truncation',
                                MESSAGE = format('value too long for type %s', col.type);
        END IF;
      END IF;
      -- ("char" keeps a string's first byte, whatever its length.)
      IF col.one_byte AND (patch ->> k)::"char"::text <> patch ->> k THEN
        RAISE EXCEPTION USING ERRCODE = 'string_data_right_truncation',
                              MESSAGE = 'value too long for type "char", which holds one byte';
      END IF;
    -- (A domain's CHECK or NOT NULL refuses a value as its type does; a
    -- tsvector's or tsquery's input raises syntax_error, an hstore's an
    -- internal error.)
    EXCEPTION WHEN data_exception OR invalid_text_representation OR check_violation
                   OR not_null_violation OR syntax_error OR internal_error THEN
      -- (values cut at 100 characters: a message is read in a terminal)
      refusal := format('decision on %s: %s gives "%s" the value %s, which is not a valid %s',
                        conflict_id, what, k, tdm._printable((patch -> k)::text, 100), col.type);
      -- (A JSON string is read as the column's text: "green" is no JSON.)
      IF col.is_json AND jsonb_typeof(patch -> k) = 'string' AND SQLSTATE = '22P02' THEN
        RAISE EXCEPTION '%', refusal
          USING ERRCODE = 'invalid_text_representation', DETAIL = tdm._printable(SQLERRM, 300),
                HINT = format('A string is read as the %s text itself, as the review queue shows the members'''
                              ' values: write the JSON string %s as %s, or give a JSON object, array or number'
                              ' as it is.', col.type, tdm._printable((patch -> k)::text, 100),
                              tdm._printable(to_jsonb((patch -> k)::text)::text, 100));
      END IF;
      RAISE EXCEPTION '%', refusal
        USING ERRCODE = CASE WHEN SQLSTATE IN ('23514', '23502') THEN SQLSTATE
                             ELSE 'invalid_text_representation' END,
              DETAIL = tdm._printable(SQLERRM, 300);
    -- (A type of the target's own schema, a domain or an enum: the value
    -- is read as the reviewer, who needs that schema's USAGE.)
    WHEN insufficient_privilege THEN
      RAISE EXCEPTION 'decision on %: % gives "%" a value of type %, which % may not use',
        conflict_id, what, k, col.type, current_user
        USING ERRCODE = 'insufficient_privilege', DETAIL = SQLERRM,
              HINT = format('The DBA grants it to reviewers: GRANT USAGE ON SCHEMA %I TO tdm_reviewer;',
                            col.type_schema);
    END;
  END LOOP;
  RETURN pinned;
END
$$;

-- A member's row (jsonb) as a decision's `patch` leaves it: the patch's
-- values, and the stored generated columns computed again from them (a
-- natural key lower(email) follows a renamed email), as the target will.
-- Computed as the caller (the expressions are immutable), who needs USAGE
-- on the table's schema for its row type.
CREATE FUNCTION tdm._patched_row(rel regclass, row_json jsonb, patch jsonb, conflict_id text)
RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  g record;
  patched jsonb := row_json || coalesce(patch, '{}');
  v jsonb;
BEGIN
  IF patch IS NULL THEN
    RETURN row_json;
  END IF;
  FOR g IN SELECT * FROM tdm._generated_columns(rel) x WHERE patch ?| x.reads LOOP
    BEGIN
      EXECUTE format('SELECT to_jsonb((%s)) FROM jsonb_populate_record(NULL::%s, $1) AS g', g.expr, rel)
        INTO v USING patched;
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE EXCEPTION 'decision on %: computing the renamed row''s "%" of % (%) needs a schema % may not use',
        conflict_id, g.column_name, rel, g.expr, current_user
        USING ERRCODE = 'insufficient_privilege', DETAIL = SQLERRM,
              -- (the schema refused: the table's, or one of a function the
              -- expression calls)
              HINT = format('The DBA grants it to reviewers: GRANT USAGE ON SCHEMA %I TO tdm_reviewer;',
                            coalesce(substring(SQLERRM FROM E'permission denied for schema (\\S+)'),
                                     (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                       WHERE c.oid = rel)));
    END;
    patched := jsonb_set(patched, ARRAY[g.column_name], v);
  END LOOP;
  RETURN patched;
END
$$;

-- A renamed key (`cols`, comma-separated, with the values `candidate`) of
-- member `label` must not be another row's of the release: one in another
-- conflict, or one in no conflict at all (read in the environments).
CREATE FUNCTION tdm._rename_free(c tdm.conflict, label text, cols text, candidate jsonb,
                                 release text, given_as text DEFAULT 'renamed') RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  m tdm.managed_table := (SELECT x FROM tdm.managed_table x WHERE x.rel = c.rel);
  key_columns text[] := string_to_array(cols, ',');
  normalized bool := tdm._normalized_key(m, key_columns);
  wanted text[];
  holder text;
  -- The member renamed: its environment and key there. Another decision
  -- renaming the same row (its natural key by its own conflict, its
  -- primary key by a key collision) is no other row.
  member_env text;
  member_key text[];
BEGIN
  SELECT cm.env, cm.key INTO member_env, member_key FROM tdm.conflict_member cm
   WHERE cm.run_id = c.run_id AND cm.conflict_id = c.conflict_id AND cm.label = _rename_free.label;
  -- Every comparison is of the key as its columns' types spell it
  -- (tdm._member_key): char padding, numeric scale, how a date is written
  -- and JSON numbers or strings aside.
  EXECUTE 'SELECT ' || tdm._member_key(c.rel, key_columns, '$1', normalized, true)
    INTO wanted USING candidate;
  -- A member of another conflict, other than a row of this one (whose
  -- values after this decision the caller compares). (The rows are cast
  -- to this table's types: only this table's are read, OFFSET 0 keeps the
  -- comparison from being pushed down onto other tables' rows.)
  EXECUTE format('SELECT format(''%%s of conflict %%s'', x.env, x.conflict_id)'
                 '  FROM (SELECT e.m -> ''row'' AS "row", e.m ->> ''env'' AS env, xc.conflict_id FROM tdm.conflict xc'
                 '         CROSS JOIN LATERAL jsonb_array_elements(xc.members) AS e(m)'
                 '         WHERE xc.run_id = $1 AND xc.rel = $3 AND xc.conflict_id <> $2'
                 '           AND NOT EXISTS (SELECT FROM tdm.conflict_member own'
                 '                            WHERE own.run_id = $1 AND own.conflict_id = $2'
                 '                              AND own.env = e.m ->> ''env'''
                 '                              AND own.key = ARRAY(SELECT e.m -> ''row'' ->> u.col'
                 '                                                    FROM unnest($5::text[]) WITH ORDINALITY AS u(col, i)'
                 '                                                   ORDER BY u.i)) OFFSET 0) x'
                 ' WHERE %s = $4 LIMIT 1',
                 tdm._member_key(c.rel, key_columns, 'x."row"', normalized, true))
    INTO holder USING c.run_id, c.conflict_id, c.rel, wanted, m.pk_columns;
  -- Another decision's rename to the same key.
  IF holder IS NULL THEN
    EXECUTE format('SELECT format(''the %%s of %%s by the decision on %%s'', om.what, om.label, om.conflict_id)'
                   '  FROM (SELECT om.label, om."row", od.conflict_id,'
                   '               CASE od.action WHEN ''merge'' THEN ''merged values'' ELSE ''rename'' END AS what,'
                   '               CASE od.action WHEN ''merge'' THEN od.merged'
                   '                              ELSE od.renames -> om.label END AS patch'
                   '          FROM tdm.decision od'
                   '          JOIN tdm.conflict oc ON oc.conflict_id = od.conflict_id'
                   '                              AND oc.run_id = $1 AND oc.rel = $3'
                   '          JOIN tdm.conflict_member om ON om.run_id = oc.run_id'
                   '                                     AND om.conflict_id = oc.conflict_id'
                   '         WHERE od.conflict_id <> $2'
                   '           AND NOT (om.env = $5 AND om.key = $6)'
                   '           AND ((od.action = ''keep_all'' AND od.renames ? om.label)'
                   '                OR (od.action = ''merge'' AND om.member = 0)) OFFSET 0) om'
                   ' WHERE %s = $4 LIMIT 1',
                   tdm._member_key(c.rel, key_columns, '(om."row" || om.patch)', normalized, true))
      INTO holder USING c.run_id, c.conflict_id, c.rel, wanted, member_env, member_key;
  END IF;
  -- A row whose primary key this run changed to it (re-keyed, renamed,
  -- re-pointed with its parent); not a rename by this conflict's own
  -- decision, which the one being written replaces.
  IF holder IS NULL AND key_columns = m.pk_columns THEN
    EXECUTE format('SELECT format(''%%s''''s row %%s, given that key by this run'', k.env, k.old_key)'
                   '  FROM (SELECT * FROM tdm.key_map k WHERE k.run_id = $1 AND k.rel = $3'
                   '           AND NOT (k.conflict_id = $2 AND k.reason = ''renamed'')'
                   '           AND NOT (k.env = $5 AND k.reason = ''renamed'''
                   '                    AND %s = $6) OFFSET 0) k'
                   ' WHERE %s = $4 LIMIT 1',
                   tdm._member_key(c.rel, m.pk_columns, 'k.old_key', false, true),
                   tdm._member_key(c.rel, key_columns, 'k.new_key', false, true))
      INTO holder USING c.run_id, c.conflict_id, c.rel, wanted, member_env, member_key;
  END IF;
  -- A row of the release in no conflict, looked up in the environments by
  -- their own keys: not for a key that includes a foreign key to a managed
  -- table, which the parents' resolution may change (validation checks it),
  -- nor for a key a member of this conflict holds (its own, renamed to
  -- what it holds already; another's, which the caller compares as this
  -- decision leaves it: renamed away, say).
  IF holder IS NULL
     AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(m.foreign_keys) fk
                      CROSS JOIN LATERAL jsonb_array_elements_text(fk -> 'columns') AS k(col)
                      JOIN tdm.managed_table p ON p.rel::text = fk ->> 'references'
                     WHERE k.col = ANY (key_columns)) THEN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM (SELECT x."row" FROM tdm.conflict_member x'
                   '                              WHERE x.run_id = $1 AND x.conflict_id = $2 OFFSET 0) x'
                   '                WHERE %s = $4)',
                   tdm._member_key(c.rel, key_columns, 'x."row"', normalized, true))
      INTO holder USING c.run_id, c.conflict_id, c.rel, wanted;
    holder := CASE WHEN holder::bool THEN NULL
                   ELSE tdm._key_taken_for(c.conflict_id, key_columns, candidate, in_environments => true) END;
  END IF;
  IF holder IS NOT NULL THEN
    RAISE EXCEPTION 'decision on %: the % % % of % is taken by a row of this release (%)',
      c.conflict_id, given_as, tdm._column_names(string_to_array(cols, ',')), candidate, label, holder
      USING ERRCODE = 'unique_violation',
            HINT = 'Choose a value no other row of the release has (validation checks them all).';
  END IF;
END
$$;

-- A member of a conflict as the run's conflicts list their members: its
-- environment and its primary key's values.
CREATE FUNCTION tdm._member_source(env text, member_row jsonb, pk_columns text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT jsonb_build_object('env', env, 'row', (SELECT jsonb_object_agg(col, member_row -> col)
                                                  FROM unnest(pk_columns) AS col))
$$;

-- The rules of other conflicts of `c`'s run that settle its member
-- `member_label` (auto_resolved, by a merge: not distinct_entities), with
-- each member of theirs (`member`, as collected), its position and
-- whether it is that member; whether that member is the rule's survivor;
-- and its own row. (A member merged away, or one others are merged into.)
CREATE FUNCTION tdm._rule_merges(c tdm.conflict, member_label text)
RETURNS TABLE (conflict_id text, rule text, members jsonb, survivor int, own_row jsonb, own_is_survivor bool,
               member_at int, member jsonb, member_is_own bool)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT o.conflict_id, o.rule, o.members, o.survivor, cm."row", o.members -> o.survivor @> s.source,
         (e.n - 1)::int, e.om, e.om @> s.source
    FROM tdm.conflict_member cm
    JOIN tdm.managed_table m ON m.rel = c.rel
   CROSS JOIN LATERAL (SELECT tdm._member_source(cm.env, cm."row", m.pk_columns) AS source) s
    JOIN tdm.conflict o ON o.run_id = c.run_id AND o.rel = c.rel AND o.conflict_id <> c.conflict_id
                       AND o.kind <> 'relationship' AND o.status = 'auto_resolved'
                       AND o.rule <> 'distinct_entities' AND o.members @> jsonb_build_array(s.source)
   CROSS JOIN LATERAL jsonb_array_elements(o.members) WITH ORDINALITY AS e(om, n)
   WHERE cm.run_id = c.run_id AND cm.conflict_id = c.conflict_id AND cm.label = member_label
     -- (each other member; the member itself, where it is merged away)
     AND (NOT e.om @> s.source OR (e.n - 1) IS DISTINCT FROM o.survivor)
$$;

-- What decided conflict `c`'s decision will do when it applies: by the
-- decision, whatever rule the conflict was recorded with, and once
-- approved where it waits for an approval (a priority 1 decision counts
-- from when it is taken: what another decision is checked against, p317).
CREATE FUNCTION tdm._decided_resolution(c tdm.conflict,
                                        OUT action text, OUT survivor int, OUT rekeyed int[],
                                        OUT merged jsonb, OUT renames jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT * FROM tdm._resolution(jsonb_populate_record(c, '{"rule": "manual", "priority": 2}'))
$$;

-- Whether a member (tdm._member_source) of conflict `c` is merged away by
-- a rule of another conflict of the run (st3's bob into st1's bob); not
-- where `renames` (the member's, in a keep_all of `c`) set it apart from
-- the row it goes into: the rule then gives way (tdm._apply_table). Or by
-- another conflict's decision (keep or merge of another member): the
-- load merges it as a rule's, and renames of it are refused (p314).
CREATE FUNCTION tdm._resolved_away(c tdm.conflict, row_source jsonb, renames jsonb DEFAULT NULL) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM tdm.conflict o
                  CROSS JOIN LATERAL jsonb_array_elements(o.members) WITH ORDINALITY AS e(m, n)
                  WHERE o.run_id = c.run_id AND o.rel = c.rel AND o.conflict_id <> c.conflict_id
                    AND o.kind <> 'relationship' AND o.status = 'auto_resolved'
                    AND o.rule <> 'distinct_entities'
                    AND o.members @> jsonb_build_array(row_source)  -- (before taking it apart)
                    AND (e.n - 1) IS DISTINCT FROM o.survivor AND e.m @> row_source
                    AND (coalesce(renames, '{}') = '{}'
                         OR tdm._key_shared(c.rel, tdm._patched_row(c.rel, e.m -> 'row', renames, c.conflict_id),
                                            o.members -> o.survivor -> 'row') IS NOT NULL))
      OR EXISTS (SELECT 1 FROM tdm.conflict o
                  CROSS JOIN LATERAL tdm._decided_resolution(o) r
                  CROSS JOIN LATERAL jsonb_array_elements(o.members) WITH ORDINALITY AS e(m, n)
                  WHERE o.run_id = c.run_id AND o.rel = c.rel AND o.conflict_id <> c.conflict_id
                    AND o.kind <> 'relationship' AND o.status = 'decided'
                    AND o.members @> jsonb_build_array(row_source)
                    AND r.action IN ('keep', 'merge') AND (e.n - 1) IS DISTINCT FROM r.survivor
                    AND e.m @> row_source)
$$;

-- Whether a keep_all of `c` keeps its members `a` and `b`
-- (tdm._member_source) as one row, not two: a rule of another conflict
-- merges one of them away (their renames in it, `a_renames` and
-- `b_renames`, leaving it one with the row it goes into); or both are members of their entity's own
-- conflict (not a key collision, which keeps entities apart: its rekeyed
-- is not empty), which no keep_all decision keeps apart.
CREATE FUNCTION tdm._kept_as_one(c tdm.conflict, a jsonb, b jsonb, a_renames jsonb DEFAULT NULL,
                                 b_renames jsonb DEFAULT NULL) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT tdm._resolved_away(c, a, a_renames) OR tdm._resolved_away(c, b, b_renames)
      OR EXISTS (SELECT 1 FROM tdm.conflict o
                  WHERE o.run_id = c.run_id AND o.rel = c.rel AND o.conflict_id <> c.conflict_id
                    AND o.kind <> 'relationship' AND o.rekeyed = '{}'
                    AND o.members @> jsonb_build_array(a, b)
                    AND NOT EXISTS (SELECT 1 FROM tdm.decision d
                                     WHERE d.conflict_id = o.conflict_id AND d.action = 'keep_all'
                                       AND o.status IN ('decided', 'applied')))
$$;

-- What the decisions of other conflicts of the run set of a row
-- (tdm._member_source): renames, and merged values of the row merged into.
-- A row in two conflicts (its entity's own and a key collision) may be
-- patched by both (their patches are merged).
CREATE FUNCTION tdm._renamed_elsewhere(c tdm.conflict, row_source jsonb) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(jsonb_object_agg(r.key, r.value), '{}')
    FROM tdm.decision d
    JOIN tdm.conflict o ON o.conflict_id = d.conflict_id AND o.run_id = c.run_id AND o.rel = c.rel
                       -- (only the conflicts the row is in: their members
                       -- are taken apart below)
                       AND o.members @> jsonb_build_array(row_source)
    JOIN tdm.managed_table m ON m.rel = c.rel
    JOIN tdm.conflict_member cm ON cm.run_id = o.run_id AND cm.conflict_id = o.conflict_id
                               AND cm.env = row_source ->> 'env'
   CROSS JOIN LATERAL jsonb_each(CASE d.action WHEN 'merge' THEN d.merged ELSE d.renames -> cm.label END) AS r
   WHERE d.conflict_id <> c.conflict_id AND o.status = 'decided'
     AND ((d.action = 'keep_all' AND d.renames IS NOT NULL
           -- (a member's label starts with its environment: read only those)
           AND EXISTS (SELECT 1 FROM jsonb_object_keys(d.renames) AS k(label)
                        WHERE k.label = row_source ->> 'env' OR k.label LIKE (row_source ->> 'env') || ':%'))
          OR (d.action = 'merge' AND cm.member = 0))  -- (the row merged into)
     AND tdm._member_source(cm.env, cm."row", m.pk_columns) = row_source
$$;

-- A member's key `member_key` (column -> value, `own` renames applied)
-- with what other conflicts' decisions set of its columns and `own` does
-- not.
CREATE FUNCTION tdm._key_renamed_elsewhere(c tdm.conflict, row_source jsonb, member_key jsonb, own jsonb)
RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT member_key || coalesce(jsonb_object_agg(e.key, e.value), '{}')
    FROM jsonb_each(tdm._renamed_elsewhere(c, row_source)) e
   WHERE member_key ? e.key AND NOT coalesce(own ? e.key, false)
$$;

-- The members of conflict `c` that a keep_all with `renames` gives new
-- primary keys (positions); not one whose key a rename gives, by this
-- decision or another conflict's. A key collision's: the rows of the
-- other entities, as detection found them (the keeper's entity's other
-- rows are settled by their own conflict); but when no row of the
-- keeper's entity keeps the key (renamed, or merged away by a rule), the
-- first row of another entity keeps it. An entity's own conflict's (its
-- rows are in no other entity's): each member whose key an earlier
-- member keeps. `elsewhere`: other conflicts' decisions are read (the
-- decision check); the apply does without (a row a decision gives a key
-- is not re-keyed there anyway), as it reads every decision of the run.
CREATE FUNCTION tdm._new_key_members(c tdm.conflict, renames jsonb, elsewhere bool DEFAULT true)
RETURNS int[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH members AS MATERIALIZED (
         SELECT cm.member, cm.key, tdm._member_source(cm.env, cm."row", m.pk_columns) AS source,
                m.pk_columns, coalesce(renames -> cm.label ?| m.pk_columns, false) AS renamed_here,
                renames -> cm.label AS own_renames
           FROM tdm.conflict_member cm
           JOIN tdm.managed_table m ON m.rel = c.rel
          WHERE cm.run_id = c.run_id AND cm.conflict_id = c.conflict_id),
       -- (Other decisions read only for the members that would need a key.)
       needing AS MATERIALIZED (
         SELECT k.member, k.source, k.own_renames FROM members k
          WHERE NOT k.renamed_here
            AND CASE WHEN c.rekeyed <> '{}' THEN k.member = ANY (c.rekeyed)
                     ELSE EXISTS (SELECT 1 FROM members e
                                   WHERE e.member < k.member AND e.key = k.key AND NOT e.renamed_here) END
            AND CASE WHEN elsewhere THEN NOT tdm._renamed_elsewhere(c, k.source) ?| k.pk_columns
                     ELSE true END),
       -- (Whether the keeper's entity still keeps the key reads this
       -- decision only, as the apply does: a keeper moved off the key by
       -- another decision alone still keeps it here.)
       kept_by_keeper AS (
         SELECT c.rekeyed = '{}' OR NOT EXISTS (SELECT 1 FROM needing)
                OR EXISTS (SELECT 1 FROM members k
                            WHERE NOT k.member = ANY (c.rekeyed) AND NOT k.renamed_here
                              AND NOT tdm._resolved_away(c, k.source, k.own_renames)) AS yes)
  SELECT ARRAY(
    SELECT n.member FROM needing n
     WHERE (SELECT yes FROM kept_by_keeper)
        OR n.member <> (SELECT min(x.member) FROM needing x
                         WHERE NOT tdm._resolved_away(c, x.source, x.own_renames))
     ORDER BY n.member)
$$;

-- Whether two texts are different values of `rel`'s column `col`.
CREATE FUNCTION tdm._values_differ(rel regclass, col text, a text, b text) RETURNS bool
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  differ bool;
BEGIN
  EXECUTE format('SELECT $1::%1$s IS DISTINCT FROM $2::%1$s', tdm._column_type(rel, col))
    INTO differ USING a, b;
  RETURN differ;
END
$$;

-- What a decision on a conflict is taken on: the conflict's
-- members_checksum (its members' rows as collected, and the table's
-- masks), and, for a merge that sets references (`merged` names a column
-- of a foreign key between managed tables), the members' values of those
-- columns as shown: the reviewer typed a key among them, and a parent's
-- resolution translating them since is worth a second look.
CREATE FUNCTION tdm._decided_on(checksum text, rel regclass, members jsonb, merged jsonb) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN x.refs IS NULL THEN checksum ELSE md5(checksum || x.refs) END
    FROM (SELECT string_agg(coalesce(m.value -> 'row' ->> c.col, E'\x01'), E'\x1f' ORDER BY c.col, m.n) AS refs
            FROM (SELECT DISTINCT unnest(r.columns) AS col FROM tdm._managed_references() r
                   WHERE r.child = _decided_on.rel) c
           CROSS JOIN LATERAL jsonb_array_elements(members) WITH ORDINALITY AS m(value, n)
           WHERE merged ? c.col) x
$$;

-- The column of natural key `cols` of `rel` a hint of a keep_all's
-- collision suggests renaming: the last of no foreign key (the email, not
-- the tenant); for a generated one, the last column it reads.
CREATE FUNCTION tdm._rename_example(rel regclass, cols text[]) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(g.reads[cardinality(g.reads)], x.col)
    FROM (SELECT coalesce((SELECT col FROM unnest(cols) WITH ORDINALITY AS u(col, i)
                            WHERE NOT EXISTS (SELECT 1 FROM pg_constraint f
                                                JOIN pg_attribute a ON a.attrelid = f.conrelid
                                                                   AND a.attnum = ANY (f.conkey)
                                               WHERE f.conrelid = _rename_example.rel AND f.contype = 'f'
                                                 AND a.attname = u.col)
                            ORDER BY u.i DESC LIMIT 1),
                          cols[cardinality(cols)]) AS col) x
    LEFT JOIN tdm._generated_columns(_rename_example.rel) g ON g.column_name = x.col
$$;

-- Checks a decision as it is written and fills in who and when. Rejected
-- at once: unknown conflict, one that is not waiting for a decision, a
-- missing rationale, keep_env not a member, renames naming unknown members
-- or colliding with each other or with rows in the target, merged values
-- of the wrong type. An UPDATE that only sets approved_by is an approval.
CREATE FUNCTION tdm._decision_check() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
<<checking>>
DECLARE
  c tdm.conflict;
  m tdm.managed_table;
  labels text[];
  label text;
  nk text;
  cols text[];
  seen jsonb := '[]';
  candidate jsonb;
  member_source jsonb;  -- a member as its conflicts list it: env and primary key
  release text;
  earlier text[];
  earlier_release text;
  consolidating int;  -- the backend consolidating the release, if any
  other text;         -- the other members a renamed key would meet
  pk_label text;      -- primary key columns a relationship's merge names
  existing text;      -- the decision a second INSERT for the conflict meets
  holder text;        -- the row of another release a key is taken by
  release_status text;
  nullable text;      -- a reference column a relationship's merge may clear
  colliding text[];   -- members keep_all would keep with a natural key another holds
  collision jsonb;    -- the first such key
  collided text[] := '{}';        -- every natural key so held: "<key> <value>"
  to_rename jsonb := '{}';        -- the members that need new values, and the columns to give
  changed bool;                   -- a member's renames give it another value of the natural key
  met_changed bool;               -- so do those of the member it meets
  met_at bigint;                  -- where that member is in `seen`
  met text;           -- the member a natural key collides with
  away text;          -- another conflict that merges away or deletes a renamed member
  away_how text;
  away_by text;
  merged_by_rule record;  -- a rule of another conflict that merges a renamed member away
  merged_into record;     -- one that merges another row into a renamed member
  given jsonb;            -- a member's renames, or a merge's merged values
  met_pairs text[] := '{}';       -- "<member> and <member> would both have <key> <value>"
BEGIN
  -- A superuser inserting a complete decision (a pg_dump restore) keeps it
  -- as it was: it was checked when it was taken.
  IF TG_OP = 'INSERT' AND NEW.members_checksum IS NOT NULL
     AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RETURN NEW;
  END IF;
  c := tdm._latest_conflict(CASE TG_OP WHEN 'INSERT' THEN NEW.conflict_id ELSE OLD.conflict_id END);
  SELECT r.release, x.status INTO release, release_status
    FROM tdm.run r JOIN tdm.release x ON x.release = r.release WHERE r.run_id = c.run_id;
  -- Decisions that give keys take turns within a release: two reviewers
  -- renaming two conflicts' rows to one key at once would each miss the
  -- other's (uncommitted) rename. The second checks once the first ends.
  IF TG_OP IN ('INSERT', 'UPDATE') AND (NEW.renames IS NOT NULL OR NEW.merged IS NOT NULL) THEN
    PERFORM pg_advisory_xact_lock(hashtextextended('tdm decision keys ' || release, 0));
  END IF;
  -- A consolidation of the release replaces its conflicts as it runs: a
  -- decision written, changed, approved or withdrawn meanwhile would wait
  -- on it, then miss its conflict.
  -- (An unknown conflict has no release: it is said as unknown below.)
  consolidating := CASE WHEN release IS NOT NULL THEN tdm._consolidating_backend(release) END;
  IF consolidating IS NOT NULL THEN
    -- (It may wait for this very transaction, which holds a decision it
    -- replaces: then it goes on only once this one ends.)
    IF pg_backend_pid() = ANY (pg_blocking_pids(consolidating)) THEN
      RAISE EXCEPTION 'decision on %: release % is being consolidated, and the consolidation waits for this transaction',
        c.conflict_id, release
        USING ERRCODE = 'lock_not_available',
              DETAIL = format('Backend %s consolidates it and waits for the decisions this transaction holds.',
                              consolidating),
              HINT = 'This transaction is aborted: ROLLBACK, let the consolidation finish, then decide again'
                     ' (commit decisions as you take them). The conflicts keep their ids.';
    END IF;
    RAISE EXCEPTION 'decision on %: release % is being consolidated', c.conflict_id, release
      USING ERRCODE = 'lock_not_available',
            DETAIL = format('Backend %s holds it.', consolidating),
            HINT = 'Decide once it has finished (tdm.progress shows it); the conflict keeps its id.';
  END IF;
  -- A release in master (or archived from it) holds its rows as its
  -- decisions loaded them: a decision now would change staging alone.
  IF tdm._presence(release_status) <> 'neither' THEN
    RAISE EXCEPTION 'decision on %: release % is %, with its rows as its decisions loaded them',
      c.conflict_id, release, release_status
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('A decision now would change the next consolidation into %s only, not master:'
                          ' put the changes in a new release.', quote_ident(tdm._staging_target()));
  END IF;
  -- A decision its run has applied is part of what was loaded and
  -- reported: it stays as it is, approval included, until another run.
  IF TG_OP IN ('UPDATE', 'DELETE') AND c.status = 'applied' THEN
    RAISE EXCEPTION 'decision on %: the conflict is applied, its decision cannot be %',
      OLD.conflict_id, CASE TG_OP WHEN 'DELETE' THEN 'withdrawn' ELSE 'changed' END
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Its run has loaded it already. It can change once its conflict is back in the queue: when its'
                   ' members change, and the release is tagged and consolidated again.';
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.conflict_id <> OLD.conflict_id THEN
    RAISE EXCEPTION 'decision on %: a decision cannot move to conflict %', OLD.conflict_id, NEW.conflict_id
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Withdraw it (DELETE) and decide the other conflict.';
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.approved_by IS DISTINCT FROM OLD.approved_by
     AND (NEW.conflict_id, NEW.action, NEW.keep_env, NEW.renames, NEW.merged, NEW.rationale)
         IS NOT DISTINCT FROM (OLD.conflict_id, OLD.action, OLD.keep_env, OLD.renames,
                               OLD.merged, OLD.rationale) THEN
    -- An approval (or its withdrawal): by someone else than the decider,
    -- under any role (the decider's login, as the audit trail has it).
    IF NEW.approved_by IS NOT NULL
       AND (current_user = OLD.decided_by OR session_user = OLD.decided_by
            OR session_user = (SELECT a.actor FROM tdm.audit a
                                WHERE a.action = 'decide' AND a.object = OLD.conflict_id
                                ORDER BY a.audit_id DESC LIMIT 1)) THEN
      RAISE EXCEPTION 'decision on %: % decided it and cannot also approve it%',
        NEW.conflict_id, CASE WHEN current_user = OLD.decided_by THEN current_user ELSE session_user END,
        CASE WHEN current_user = OLD.decided_by OR current_user = session_user THEN ''
             ELSE format(', not as %s either', current_user) END
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'A priority 1 decision needs a second reviewer: another user runs tdm.approve().';
    END IF;
    IF NEW.approved_by IS NOT NULL AND c.status = 'stale' THEN
      PERFORM tdm._refuse_stale_approval(NEW.conflict_id);
    END IF;
    NEW.approved_by := CASE WHEN NEW.approved_by IS NULL THEN NULL ELSE current_user END;
    NEW.approved_at := CASE WHEN NEW.approved_by IS NULL THEN NULL ELSE now() END;
    NEW.decided_by := OLD.decided_by;
    NEW.decided_at := OLD.decided_at;
    NEW.members_checksum := OLD.members_checksum;
    NEW.decided_priority := OLD.decided_priority;
    RETURN NEW;
  END IF;
  -- What tdm sets is not written by hand: said, not silently set again.
  -- (OLD is null on INSERT: there, any value given, but the defaults of
  -- decided_by and decided_at. An UPDATE's approval alone is handled above, as
  -- tdm.approve's; written with other changes, it is refused.)
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    SELECT x.col INTO label
      FROM (VALUES (1, 'decided_by', CASE TG_OP WHEN 'UPDATE' THEN NEW.decided_by IS DISTINCT FROM OLD.decided_by
                                                ELSE NEW.decided_by IS DISTINCT FROM current_user END),
                   (2, 'decided_at', CASE TG_OP WHEN 'UPDATE' THEN NEW.decided_at IS DISTINCT FROM OLD.decided_at
                                                ELSE NEW.decided_at IS DISTINCT FROM now() END),
                   -- (kept as it was, it goes with the change: said below)
                   (3, 'approved_by', NEW.approved_by IS NOT NULL
                                      AND NEW.approved_by IS DISTINCT FROM OLD.approved_by),
                   (4, 'approved_at', NEW.approved_at IS DISTINCT FROM OLD.approved_at),
                   (5, 'members_checksum', NEW.members_checksum IS DISTINCT FROM OLD.members_checksum),
                   (6, 'decided_priority', NEW.decided_priority IS DISTINCT FROM OLD.decided_priority))
           AS x(n, col, changed)
     WHERE x.changed ORDER BY x.n LIMIT 1;
    IF label IS NOT NULL THEN
      RAISE EXCEPTION 'decision on %: % is set by tdm, not written', NEW.conflict_id, label
        USING ERRCODE = 'generated_always',
              HINT = 'Write the decision''s action, keep_env, renames, merged and rationale (tdm sets who decided'
                     ' and when); approve with tdm.approve.';
    END IF;
  END IF;
  -- An UPDATE of the action alone leaves behind what went with the old
  -- one (a keep's keep_env, a merge's values): cleared, unless written.
  IF TG_OP = 'UPDATE' AND NEW.action IS DISTINCT FROM OLD.action THEN
    IF NEW.action IS DISTINCT FROM 'keep' AND NEW.keep_env IS NOT DISTINCT FROM OLD.keep_env THEN
      NEW.keep_env := NULL;
    END IF;
    IF NEW.action IS DISTINCT FROM 'keep_all' AND NEW.renames IS NOT DISTINCT FROM OLD.renames THEN
      NEW.renames := NULL;
    END IF;
    IF NEW.action IS DISTINCT FROM 'merge' AND NEW.merged IS NOT DISTINCT FROM OLD.merged THEN
      NEW.merged := NULL;
    END IF;
  END IF;
  -- Anything else, an unchanged decision written again included (how a
  -- reviewer confirms a stale one), is checked as a new decision.

  IF NEW.conflict_id IS NULL THEN
    RAISE EXCEPTION 'decision: conflict_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF c.conflict_id IS NULL THEN
    RAISE EXCEPTION 'decision: unknown conflict "%"', NEW.conflict_id
      USING ERRCODE = 'undefined_object',
            HINT = 'Pending conflicts are in tdm.review_queue.';
  END IF;
  -- A second INSERT for a conflict: said with whose decision is there and
  -- how to change it, not as the primary key's violation. (tdm.resolve
  -- and tdm.resolve_all insert or update: they say so in the setting.)
  IF TG_OP = 'INSERT' AND current_setting('tdm_decision.upsert', true) IS DISTINCT FROM 'on' THEN
    SELECT d.action::text || coalesce(' ' || d.keep_env, '') || ' by ' || d.decided_by
           || to_char(d.decided_at AT TIME ZONE 'UTC', ' "at" YYYY-MM-DD HH24:MI "UTC"')
      INTO existing FROM tdm.decision d WHERE d.conflict_id = NEW.conflict_id;
    IF FOUND THEN
      RAISE EXCEPTION 'decision on %: it is decided already (%)', NEW.conflict_id, existing
        USING ERRCODE = 'unique_violation', CONSTRAINT = 'decision_pkey',
              HINT = format('To change it: UPDATE tdm.decision SET ... WHERE conflict_id = %L,'
                            ' or SELECT tdm.resolve(%L, ...), which replaces it. DELETE it to withdraw it.',
                            NEW.conflict_id, NEW.conflict_id);
    END IF;
  END IF;
  -- (A conflict a rule settled may be decided too: the decision outranks
  -- the rule, as when a rule's merged row breaks a CHECK constraint.)
  -- (Not once a run, into any target, has loaded the rule's choice: the
  -- release's rows are there, and staging's may be promoted.)
  IF c.status NOT IN ('pending', 'stale', 'decided', 'auto_resolved')
     OR (c.status = 'auto_resolved'
         AND EXISTS (SELECT 1 FROM tdm.conflict x JOIN tdm.run r ON r.run_id = x.run_id
                      WHERE x.conflict_id = c.conflict_id AND r.status = 'completed')) THEN
    RAISE EXCEPTION 'decision on %: the conflict is %, not waiting for a decision',
      NEW.conflict_id, c.status
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = CASE c.status WHEN 'auto_resolved'
                     THEN format('Rule %s settled it and a completed run loaded that: a rule is'
                                 ' overruled before a run completes. For another outcome now, change what the'
                                 ' rule reads (the rows in the environments, the release plan''s priorities or'
                                 ' the environments'' precedence), tag the release again and consolidate it.',
                                 c.rule)
                     ELSE 'Its run has loaded it already.' END;
  END IF;
  IF NEW.action IS NULL THEN
    RAISE EXCEPTION 'decision on %: an action is required', NEW.conflict_id
      USING ERRCODE = 'not_null_violation',
            HINT = 'One of keep (with keep_env), keep_all, merge (with merged) or delete_all.';
  END IF;
  IF tdm._blank(NEW.rationale) THEN
    RAISE EXCEPTION 'decision on %: a rationale is required', NEW.conflict_id
      USING ERRCODE = 'not_null_violation',
            HINT = 'Say why, for the audit trail: rationale => ''...''.';
  END IF;
  SELECT * INTO m FROM tdm.managed_table WHERE rel = c.rel;
  labels := ARRAY(SELECT cm.label FROM tdm.conflict_member cm
                   WHERE cm.run_id = c.run_id AND cm.conflict_id = c.conflict_id ORDER BY cm.member);

  IF NEW.action <> 'keep' AND NEW.keep_env IS NOT NULL THEN
    RAISE EXCEPTION 'decision on %: keep_env goes with action keep, not %', NEW.conflict_id, NEW.action
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NEW.action <> 'keep_all' AND NEW.renames IS NOT NULL THEN
    RAISE EXCEPTION 'decision on %: renames go with action keep_all, not %', NEW.conflict_id, NEW.action
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NEW.action <> 'merge' AND NEW.merged IS NOT NULL THEN
    RAISE EXCEPTION 'decision on %: merged values go with action merge, not %', NEW.conflict_id,
      NEW.action USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF c.kind = 'relationship' AND NEW.action NOT IN ('keep', 'delete_all', 'merge') THEN
    RAISE EXCEPTION 'decision on %: a relationship conflict is settled by keep, merge (of its references) or'
                    ' delete_all', NEW.conflict_id USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- (A relationship conflict's merge sets the orphan's references that
  -- name deleted rows, its `differing` columns: to NULL, or to another
  -- row's key as the rows load. Its primary key stays, and so does a
  -- reference that holds a column of it: tdm._settable_references.)
  IF c.kind = 'relationship' AND NEW.action = 'merge' AND jsonb_typeof(NEW.merged) = 'object' THEN
    cols := ARRAY(SELECT k FROM jsonb_object_keys(c.differing) AS k
                   WHERE k = ANY (tdm._settable_references(c.rel)) ORDER BY k);
    -- (A reference in the primary key names the deleted row too, but a
    -- merge keeps the key: said apart.)
    SELECT string_agg(quote_ident(k), ', ' ORDER BY k) FILTER (WHERE NOT k = ANY (pk.pk_columns)),
           string_agg(quote_ident(k), ', ' ORDER BY k) FILTER (WHERE k = ANY (pk.pk_columns))
      INTO label, pk_label
      FROM jsonb_object_keys(NEW.merged) AS k JOIN tdm.managed_table pk ON pk.rel = c.rel
     WHERE NOT k = ANY (cols);
    -- (A reference that shares columns with the primary key, a tenant's
    -- (tenant_id, customer_id), is not set in part: said as such, not as
    -- a column that names no deleted row.)
    IF cardinality(cols) = 0 THEN
      RAISE EXCEPTION 'decision on %: a relationship conflict''s merge cannot set the references of % that name deleted rows: they share columns with its primary key (%), which a merge keeps',
        NEW.conflict_id, c.rel, (SELECT string_agg(quote_ident(k), ', ') FROM unnest(m.pk_columns) AS k)
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'Keep it (its parent loaded first) or delete it (delete_all).';
    END IF;
    IF label IS NOT NULL OR pk_label IS NOT NULL OR NEW.merged = '{}' THEN
      nullable := (SELECT k FROM unnest(cols) AS k
                     JOIN pg_attribute a ON a.attrelid = c.rel AND a.attname = k
                    WHERE NOT a.attnotnull ORDER BY k LIMIT 1);
      RAISE EXCEPTION 'decision on %: a relationship conflict''s merge sets the references that name deleted rows%',
        NEW.conflict_id,
        CASE WHEN label IS NULL AND pk_label IS NULL THEN ': name them'
             ELSE ', not ' || concat_ws(', nor ', label,
                                        pk_label || CASE WHEN pk_label LIKE '%,%' THEN ', columns' ELSE ', a column' END
                                              || ' of the primary key, which a merge keeps') END
        USING ERRCODE = 'invalid_parameter_value',
              HINT = CASE WHEN nullable IS NOT NULL
                          THEN format('Set %s: merged => ''{"%s": null}'' clears a nullable reference; another value'
                                      ' points it at that row, by the key it loads with.',
                                      tdm._column_names(cols), nullable)
                          ELSE format('Set %s (NOT NULL): merged => ''{"%s": <key>}'' points it at the row of that'
                                      ' key, the key it loads with.',
                                      tdm._column_names(cols), cols[1]) END;
    END IF;
    -- (A key the run gave a row, re-keyed or renamed: the run may give it
    -- another row once the release is tagged again, and the decision,
    -- taken on the child's members, does not go stale then.)
    SELECT format('%s''s row %s', k.env, k.old_key) INTO holder
      FROM jsonb_array_elements(m.foreign_keys) fk
      JOIN tdm.key_map k ON k.run_id = c.run_id AND k.rel::text = fk ->> 'references'
                        AND k.reason IN ('rekeyed', 'renamed')
     WHERE fk -> 'columns' ?& ARRAY(SELECT jsonb_object_keys(NEW.merged))
       AND k.new_key = (SELECT jsonb_object_agg(r.col, NEW.merged -> f.col)
                          FROM jsonb_array_elements_text(fk -> 'columns') WITH ORDINALITY AS f(col, n)
                          JOIN jsonb_array_elements_text(fk -> 'ref_columns') WITH ORDINALITY AS r(col, n)
                            USING (n))
     LIMIT 1;
    IF holder IS NOT NULL THEN
      RAISE WARNING 'decision on %: % is the key this run gave %', NEW.conflict_id, NEW.merged, holder
        USING DETAIL = 'A key the run gives may go to another row when the release is tagged again; the'
                       ' decision stays as written.',
              HINT = 'After tagging again, check the row it points at in tdm.key_map, and decide again if'
                     ' it moved.';
    END IF;
    holder := NULL;
  END IF;
  -- The tags: a decision keeps the release's rows in the release, and a
  -- feature it names must be in the release plan.
  FOR label, candidate IN
    SELECT 'merged', NEW.merged WHERE NEW.merged IS NOT NULL
    UNION ALL
    SELECT format('renames of %s', r.key), r.value
      FROM (SELECT NEW.renames AS renames WHERE jsonb_typeof(NEW.renames) = 'object') x
     CROSS JOIN LATERAL jsonb_each(x.renames) r LOOP
    IF jsonb_typeof(candidate) = 'object' AND candidate ? m.release_column
       AND candidate ->> m.release_column IS DISTINCT FROM release THEN
      RAISE EXCEPTION 'decision on %: % set the release tag %, which a decision leaves as it is',
        NEW.conflict_id, label, m.release_column
        USING ERRCODE = 'invalid_parameter_value',
              HINT = format('Leave %s out: the row stays in release %s.', m.release_column, release);
    END IF;
    IF jsonb_typeof(candidate) = 'object' AND candidate ? m.feature_column
       AND NOT EXISTS (SELECT FROM tdm.feature f
                        WHERE f.release = checking.release
                          AND f.feature = candidate ->> m.feature_column) THEN
      RAISE EXCEPTION 'decision on %: % set feature %, which is not in the plan of release %',
        NEW.conflict_id, label, coalesce(quote_literal(candidate ->> m.feature_column), 'NULL'),
        release
        USING ERRCODE = 'invalid_parameter_value',
              HINT = format('Features of %s: %s.', release,
                            (SELECT string_agg(f.feature, ', ' ORDER BY f.feature) FROM tdm.feature f
                              WHERE f.release = checking.release));
    END IF;
  END LOOP;

  -- A member of environment 'master' is an earlier release's row: the
  -- decision settles the release's rows against it and leaves it as it is.
  SELECT array_agg(cm.label ORDER BY cm.member),
         (array_agg(cm."row" ->> m.release_column ORDER BY cm.member))[1]
    INTO earlier, earlier_release
    FROM tdm.conflict_member cm
   WHERE cm.run_id = c.run_id AND cm.conflict_id = c.conflict_id AND cm.env = 'master';
  IF earlier IS NOT NULL
     AND (NEW.action IN ('merge', 'delete_all')
          -- (a keep_env that is no member is said so below)
          OR (NEW.action = 'keep' AND NEW.keep_env = ANY (labels) AND NOT NEW.keep_env = ANY (earlier))
          OR (NEW.action = 'keep_all' AND coalesce(NEW.renames ?| earlier, false))) THEN
    RAISE EXCEPTION 'decision on %: % would change release %''s row in master, which a later release leaves as it is',
      NEW.conflict_id,
      CASE WHEN NEW.action = 'keep_all' THEN 'renaming it' ELSE format('%s', NEW.action) END,
      earlier_release
      USING ERRCODE = 'invalid_parameter_value',
            HINT = CASE WHEN c.rule = 'distinct_entities'
                        -- (other entities than master's row: a keep would
                        -- merge them, and their children, into it)
                        THEN format('The rows are different entities (distinct_entities): keep_all gives the'
                                    ' release''s rows new keys, or renames of their own; keep (keep_env %L) only'
                                    ' if they are that row after all: the release''s rows and their children are'
                                    ' merged into it. To leave a release''s row out, untag it in its environment'
                                    ' and tag the release again.', earlier[1])
                        ELSE format('Keep it (action keep, keep_env %L: the release''s rows are merged into it), '
                                    'or keep_all (the release''s rows get new keys, or renames of their own).',
                                    earlier[1]) END;
  END IF;

  IF NEW.action = 'keep' THEN
    -- (A conflict of one member, a relationship conflict's orphan: keep
    -- keeps it, no need to name it.)
    IF NEW.keep_env IS NULL AND cardinality(labels) = 1 THEN
      NEW.keep_env := labels[1];
    END IF;
    IF NEW.keep_env IS NULL THEN
      RAISE EXCEPTION 'decision on %: keep needs keep_env, the member to keep', NEW.conflict_id
        USING ERRCODE = 'invalid_parameter_value',
              HINT = format('Members: %s.', array_to_string(labels, ', '));
    END IF;
    IF NOT NEW.keep_env = ANY (labels) THEN
      RAISE EXCEPTION 'decision on %: keep_env % is not a member of the conflict',
        NEW.conflict_id, coalesce(tdm._printable(quote_literal(NEW.keep_env), 100), 'NULL')
        USING ERRCODE = 'invalid_parameter_value',
              HINT = format('Members: %s.', array_to_string(labels, ', '));
    END IF;
    -- (A row brought again beside another entity of its key, decision 413:
    -- keeping master's would merge that other entity away, with no trace
    -- in the key map.)
    IF NEW.keep_env = 'master' AND c.rationale LIKE '%is another entity with that key: keep_all adds them all%' THEN
      RAISE EXCEPTION 'decision on %: keep master would merge another entity''s row into master''s row (the'
                      ' conflict''s rationale names it)', NEW.conflict_id
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'keep_all keeps every row (new keys). For the row brought again to stay master''s, undo its'
                     ' change in its environment, tag the release again and consolidate (the other row is then'
                     ' re-keyed alone); to drop the other row, take it off the release there.';
    END IF;
  ELSIF NEW.action = 'merge' THEN
    IF NEW.merged IS NULL THEN
      RAISE EXCEPTION 'decision on %: merge needs the merged values', NEW.conflict_id
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'merged => ''{"column": value}''; columns not named come from the first member.';
    END IF;
    NEW.merged := tdm._check_values(c.rel, NEW.merged, 'merged', NEW.conflict_id);
    -- Merged values that change a key of the row merged into (the first
    -- member): checked as a rename of it.
    SELECT cm.label INTO label FROM tdm.conflict_member cm
     WHERE cm.run_id = c.run_id AND cm.conflict_id = c.conflict_id AND cm.member = 0;
    FOREACH nk IN ARRAY m.natural_keys || array_to_string(m.pk_columns, ',') LOOP
      cols := string_to_array(nk, ',');
      CONTINUE WHEN NOT NEW.merged ?| cols;
      SELECT jsonb_object_agg(col, coalesce(NEW.merged -> col, cm."row" -> col)),
             jsonb_object_agg(col, cm."row" -> col)
        INTO candidate, seen
        FROM tdm.conflict_member cm CROSS JOIN unnest(cols) AS col
       WHERE cm.run_id = c.run_id AND cm.conflict_id = c.conflict_id AND cm.member = 0;
      -- (Unchanged, NULL, or a key a member merged away holds: free.)
      CONTINUE WHEN tdm._same_key(c.rel, cols, candidate, seen, false)
                 OR (SELECT bool_or(v = 'null') FROM jsonb_each(candidate) AS e(k, v))
                 OR EXISTS (SELECT 1 FROM tdm.conflict_member cm
                             WHERE cm.run_id = c.run_id AND cm.conflict_id = c.conflict_id
                               AND tdm._same_key(c.rel, cols,
                                                 (SELECT jsonb_object_agg(col, cm."row" -> col)
                                                    FROM unnest(cols) AS col), candidate, false));
      holder := tdm._key_taken_for(c.conflict_id, cols, candidate, in_environments => false);
      IF holder IS NOT NULL THEN
        RAISE EXCEPTION 'decision on %: the merged % % is taken by %', NEW.conflict_id, tdm._column_names(cols),
          candidate, holder
          USING ERRCODE = 'unique_violation',
                HINT = format('Choose a value no row of another release in %s or in master has.', c.rel);
      END IF;
      PERFORM tdm._rename_free(c, label, nk, candidate, release, 'merged');
    END LOOP;
  ELSIF NEW.action = 'keep_all' THEN
    IF NEW.renames IS NOT NULL THEN
      IF jsonb_typeof(NEW.renames) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'decision on %: renames must be a JSON object of member -> {column: value}',
          NEW.conflict_id USING ERRCODE = 'invalid_parameter_value';
      END IF;
      FOR label IN SELECT jsonb_object_keys(NEW.renames) LOOP
        IF NOT label = ANY (labels) THEN
          RAISE EXCEPTION 'decision on %: renames name %, which is not a member of the conflict',
            NEW.conflict_id, tdm._printable(quote_literal(label), 100)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Members: %s.', array_to_string(labels, ', '));
        END IF;
        NEW.renames := jsonb_set(NEW.renames, ARRAY[label],
                                 tdm._check_values(c.rel, NEW.renames -> label,
                                                   format('renames of %s', label), NEW.conflict_id));
        -- A rename gives the row another identity, not another parent: a
        -- column of a foreign key (an order's district in its key) keeps
        -- the value the row has.
        SELECT f.col, fk ->> 'references' INTO nk, holder
          FROM jsonb_array_elements(m.foreign_keys) AS fk
         CROSS JOIN LATERAL jsonb_array_elements_text(fk -> 'columns') AS f(col)
          JOIN tdm.conflict_member cm ON cm.run_id = c.run_id AND cm.conflict_id = c.conflict_id
                                     AND cm.label = checking.label
         WHERE NEW.renames -> checking.label ? f.col
           AND tdm._values_differ(c.rel, f.col, NEW.renames -> checking.label ->> f.col, cm."row" ->> f.col)
         LIMIT 1;
        IF nk IS NOT NULL THEN
          RAISE EXCEPTION 'decision on %: renames of % set %, a column of the foreign key to %: the row would reference another row of it',
            NEW.conflict_id, label, quote_ident(nk), holder
            USING ERRCODE = 'invalid_parameter_value',
                  -- (the key that collides: the primary key's columns on
                  -- a key collision, else the natural keys')
                  HINT = coalesce('Rename a column of the row''s own key instead: '
                                  || (SELECT string_agg(DISTINCT quote_ident(k), ', ')
                                        FROM unnest(CASE WHEN c.kind = 'duplicate_pk'
                                                              -- (no natural key: the rows' primary key)
                                                              OR cardinality(m.natural_keys) = 0 THEN m.pk_columns
                                                         ELSE string_to_array(array_to_string(m.natural_keys, ','), ',')
                                                    END) AS k
                                       WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(m.foreign_keys) fk
                                                          WHERE fk -> 'columns' ? k)) || '.',
                                  'Every column of its key is a reference: keep one of the rows (keep), or'
                                  ' delete them (delete_all).');
        END IF;
        holder := NULL;
        -- A member another conflict's decision merges away or deletes is
        -- not kept by this one: its renames would be lost (p309). (A
        -- decision taken, withdrawn or approved after this one is refused
        -- at the call.)
        SELECT o.conflict_id,
               CASE WHEN r.action = 'delete_all' THEN 'deletes its row' ELSE 'merges its row into another' END,
               format('by its decision (%s)', r.action)
          INTO away, away_how, away_by
          FROM tdm.conflict_member cm
         CROSS JOIN LATERAL (SELECT tdm._member_source(cm.env, cm."row", m.pk_columns) AS source) s
          JOIN tdm.conflict o ON o.run_id = c.run_id AND o.rel = c.rel AND o.conflict_id <> c.conflict_id
                             AND o.kind <> 'relationship' AND o.status = 'decided'
                             AND o.members @> jsonb_build_array(s.source)
         CROSS JOIN LATERAL tdm._decided_resolution(o) r
         CROSS JOIN LATERAL jsonb_array_elements(o.members) WITH ORDINALITY AS e(om, n)
         WHERE cm.run_id = c.run_id AND cm.conflict_id = c.conflict_id AND cm.label = checking.label
           AND e.om @> s.source
           AND (r.action = 'delete_all' OR (r.action IN ('keep', 'merge') AND (e.n - 1) IS DISTINCT FROM r.survivor))
         ORDER BY o.conflict_id LIMIT 1;
        IF away IS NOT NULL THEN
          RAISE EXCEPTION 'decision on %: renames give % new values, but conflict % % (%): they would not apply',
            NEW.conflict_id, label, away, away_how, away_by
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Decide %s again (keep_all there keeps %s''s row as an entity of its own, with renames'
                                ' there if needed), or leave %s out of renames here.', away, label, label);
        END IF;
        -- A member a rule of another conflict merges away stays merged
        -- where the renames leave it one with the row it goes into (the
        -- same primary key or natural key): they would be lost. Renames
        -- that set it apart make the rule give way (tdm._apply_table).
        SELECT o.conflict_id, o.rule, o.members -> o.survivor ->> 'env' AS into_env,
               tdm._key_shared(c.rel, tdm._patched_row(c.rel, o.own_row, NEW.renames -> checking.label, NEW.conflict_id),
                               tdm._patched_row(c.rel, o.members -> o.survivor -> 'row', sp.patch,
                                                NEW.conflict_id)) AS shared
          INTO merged_by_rule
          FROM tdm._rule_merges(c, checking.label) o
         -- (the row it goes into as renamed, here or by another decision:
         -- as the load compares them, p317)
         CROSS JOIN LATERAL (SELECT tdm._member_source(o.members -> o.survivor ->> 'env', o.members -> o.survivor -> 'row',
                                                       m.pk_columns) AS source) sv
         CROSS JOIN LATERAL (SELECT coalesce((SELECT NEW.renames -> sm.label FROM tdm.conflict_member sm
                                               WHERE sm.run_id = c.run_id AND sm.conflict_id = c.conflict_id
                                                 AND tdm._member_source(sm.env, sm."row", m.pk_columns) = sv.source),
                                             nullif(tdm._renamed_elsewhere(c, sv.source), '{}')) AS patch) sp
         WHERE o.member_is_own AND o.member_at IS DISTINCT FROM o.survivor
         ORDER BY o.conflict_id LIMIT 1;
        IF merged_by_rule.shared IS NOT NULL THEN
          RAISE EXCEPTION 'decision on %: renames give % new values, but rule % of conflict % merges its row into %''s, and the renamed row still has its %: they would not apply',
            NEW.conflict_id, label, merged_by_rule.rule, merged_by_rule.conflict_id, merged_by_rule.into_env,
            tdm._column_names(merged_by_rule.shared)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Leave %s out of renames here (its row is then loaded as %s''s), or give it a %s of its'
                                ' own as well (another entity: the rule then gives way).', label,
                                merged_by_rule.into_env,
                                tdm._column_names(tdm._written_columns(c.rel, merged_by_rule.shared)));
        END IF;
      END LOOP;
    END IF;
  END IF;
  -- Nor are values (a keep_all's renames of a member, a merge's merged
  -- values for the member it keeps) that set a row apart from one a rule
  -- of another conflict merges into it, by a key they no longer share:
  -- that row would take them, and none would keep its own (p317, p318).
  -- (A row renamed itself, here or by another decision, is the case of
  -- the renames above; one merged into it through another row, sharing
  -- no key with it, that other's.)
  IF NEW.action IN ('keep_all', 'merge') THEN
    FOR label, given IN
      SELECT r.key, r.value FROM jsonb_each(CASE WHEN NEW.action = 'keep_all' THEN NEW.renames END) AS r
      UNION ALL
      SELECT cm.label, NEW.merged FROM tdm.conflict_member cm
       WHERE NEW.action = 'merge' AND NEW.merged IS NOT NULL
         AND cm.run_id = c.run_id AND cm.conflict_id = c.conflict_id AND cm.member = 0 LOOP
      SELECT o.conflict_id, o.rule, o.member ->> 'env' AS from_env, x.shared_before
        INTO merged_into
        FROM tdm._rule_merges(c, label) o
       CROSS JOIN LATERAL (SELECT tdm._member_source(o.member ->> 'env', o.member -> 'row', m.pk_columns) AS source,
                                  tdm._key_shared(c.rel, o.member -> 'row', o.own_row) AS shared_before) x
       WHERE o.own_is_survivor AND NOT o.member_is_own
         AND x.shared_before IS NOT NULL
         AND NOT EXISTS (SELECT FROM tdm.conflict_member rm
                          WHERE rm.run_id = c.run_id AND rm.conflict_id = c.conflict_id
                            AND NEW.action = 'keep_all' AND NEW.renames ? rm.label
                            AND tdm._member_source(rm.env, rm."row", m.pk_columns) = x.source)
         AND tdm._renamed_elsewhere(c, x.source) = '{}'
         AND tdm._key_shared(c.rel, tdm._patched_row(c.rel, o.own_row, given, NEW.conflict_id),
                             o.member -> 'row') IS NULL
       ORDER BY o.conflict_id, o.member_at LIMIT 1;
      IF merged_into.conflict_id IS NOT NULL THEN
        RAISE EXCEPTION 'decision on %: % set %''s row apart from %''s, which rule % of conflict % merges into it by its %: that row would take them, and no row would keep its own',
          NEW.conflict_id, CASE WHEN NEW.action = 'merge' THEN 'merged values' ELSE 'renames' END, label,
          merged_into.from_env, merged_into.rule, merged_into.conflict_id, tdm._column_names(merged_into.shared_before)
          USING ERRCODE = 'invalid_parameter_value',
                HINT = format('Decide %s first: keep_all there, with %s''s new %s in its renames, keeps the two'
                              ' rows apart (keep there says which row the entity is); or leave %s''s %s as it is'
                              ' here.', merged_into.conflict_id, label,
                              tdm._column_names(tdm._written_columns(c.rel, merged_into.shared_before)),
                              label, tdm._column_names(tdm._written_columns(c.rel, merged_into.shared_before)));
      END IF;
    END LOOP;
  END IF;
  IF NEW.action = 'keep_all' THEN
    -- After the renames, no two kept members may share a natural key, and
    -- no renamed key may be taken in the target already. (Two members of
    -- one entity, which a conflict of their own settles, a key collision
    -- keeps as one: a composite key's alice of e1 and e3, bob of e2.)
    FOREACH nk IN ARRAY m.natural_keys LOOP
      cols := string_to_array(nk, ',');
      seen := '[]';
      colliding := '{}';
      collision := NULL;
      FOR label, candidate, member_source, changed IN
        SELECT cm.label, (SELECT jsonb_object_agg(col, r.patched -> col) FROM unnest(cols) AS col),
               tdm._member_source(cm.env, cm."row", m.pk_columns),
               -- (renamed: its renames give it another value of the key,
               -- not the one it has)
               NEW.renames -> cm.label ?| cols
                 AND NOT coalesce(tdm._same_key(c.rel, cols, r.patched, cm."row", m.normalize_keys), false)
          FROM tdm.conflict_member cm
         CROSS JOIN LATERAL (SELECT tdm._patched_row(c.rel, cm."row", NEW.renames -> cm.label,
                                                     NEW.conflict_id) AS patched) r
         WHERE cm.run_id = c.run_id AND cm.conflict_id = c.conflict_id ORDER BY cm.member LOOP
        IF (SELECT bool_or(v = 'null') FROM jsonb_each(candidate) AS e(k, v)) THEN
          CONTINUE;  -- a NULL natural key matches nothing
        END IF;
        SELECT x ->> 'label', (x ->> 'changed')::bool, x.n INTO met, met_changed, met_at
          FROM jsonb_array_elements(seen) WITH ORDINALITY AS x(x, n)
                 WHERE tdm._same_key(c.rel, cols, x -> 'key', candidate, m.normalize_keys)
                   AND NOT tdm._kept_as_one(c, x -> 'source', member_source, NEW.renames -> (x ->> 'label'),
                                            NEW.renames -> label)
                   -- (and as other decisions rename them: a row's own conflict its email)
                   AND tdm._same_key(c.rel, cols,
                                     tdm._key_renamed_elsewhere(c, x -> 'source', x -> 'key',
                                                                NEW.renames -> (x ->> 'label')),
                                     tdm._key_renamed_elsewhere(c, member_source, candidate,
                                                                NEW.renames -> label),
                                     m.normalize_keys)
         LIMIT 1;
        IF met IS NOT NULL THEN
          -- (Every member that needs new values is named, not the first;
          -- and which it meets, renamed or as collected. Of each group
          -- that would share the key, one keeps it: the first that has it
          -- as collected, where one was renamed onto it; the renamed one
          -- is named, its rename the one to change, p313, p314.)
          met_pairs := met_pairs || format('%s%s and %s%s would both have %s %s',
                                           met, CASE WHEN met_changed THEN ' (renamed)' ELSE '' END,
                                           label, CASE WHEN changed THEN ' (renamed)' ELSE '' END,
                                           tdm._column_names(cols), candidate);
          collision := coalesce(collision, candidate);
          IF met_changed AND NOT changed THEN
            colliding := colliding || met;
            seen := jsonb_set(seen, ARRAY[(met_at - 1)::text],
                              jsonb_build_object('key', candidate, 'source', member_source, 'label', label,
                                                 'changed', changed));
          ELSE
            colliding := colliding || label;
          END IF;
          CONTINUE;
        END IF;
        seen := seen || jsonb_build_array(jsonb_build_object('key', candidate, 'source', member_source,
                                                             'label', label, 'changed', changed));
        holder := CASE WHEN NEW.renames -> label ?| cols
                       THEN tdm._key_taken_for(c.conflict_id, cols, candidate, in_environments => false) END;
        IF holder IS NOT NULL THEN
          RAISE EXCEPTION 'decision on %: the renamed % % of % is taken by %',
            NEW.conflict_id, tdm._column_names(string_to_array(nk, ',')), candidate, label, holder
            USING ERRCODE = 'unique_violation',
                  HINT = format('Choose a value no row of another release in %s or in master has.', c.rel);
        END IF;
        IF NEW.renames -> label ?| cols THEN
          PERFORM tdm._rename_free(c, label, nk, candidate, release);
        END IF;
      END LOOP;
      -- (A key made of references, a link of two parents say: a new
      -- value would point the row at another parent.)
      IF colliding <> '{}' AND NOT EXISTS (SELECT 1 FROM unnest(cols) AS k
                                            WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(m.foreign_keys) fk
                                                               WHERE fk -> 'columns' ? k)) THEN
        RAISE EXCEPTION 'decision on %: keep_all would keep two rows with % %', NEW.conflict_id,
          tdm._column_names(cols), collision
          USING ERRCODE = 'unique_violation',
                HINT = format('Every column of that key (%s) is a reference: the rows are one link, and a new value'
                              ' would point one at another row. Keep one of them (keep), merge them, or delete'
                              ' them (delete_all).', tdm._column_names(cols));
      END IF;
      -- (Every key so held is named at once, with the values to give.)
      IF colliding <> '{}' THEN
        collided := collided || format('%s %s', tdm._column_names(cols), collision);
        -- (with the member's other renames, which stand)
        SELECT to_rename || jsonb_object_agg(l, coalesce(to_rename -> l, NEW.renames -> l, '{}')
                                                || jsonb_build_object(tdm._rename_example(c.rel, cols), '...'))
          INTO to_rename FROM unnest(colliding) AS l;
      END IF;
    END LOOP;
    IF collided <> '{}' THEN
      RAISE EXCEPTION 'decision on %: keep_all would keep two rows with %', NEW.conflict_id,
        array_to_string(collided, ', and with ')
        USING ERRCODE = 'unique_violation',
              DETAIL = array_to_string(met_pairs, '; ') || '.',
              HINT = format('Give %s new values in renames, e.g. renames => %s.',
                            -- (e2, e3 and e4)
                            (SELECT concat_ws(' and ', nullif(array_to_string(a[1:cardinality(a) - 1], ', '), ''),
                                              a[cardinality(a)])
                               FROM (SELECT array_agg(k ORDER BY n) AS a
                                       FROM jsonb_object_keys(to_rename) WITH ORDINALITY AS x(k, n)) y),
                            -- (with every rename that stands)
                            quote_literal((coalesce(NEW.renames, '{}') || to_rename)::text));
    END IF;
    -- A renamed primary key: no other member keeps it, and no other row of
    -- the release or of another one has it.
    FOR label, candidate IN
      SELECT cm.label, (SELECT jsonb_object_agg(col, coalesce(NEW.renames -> cm.label -> col,
                                                             cm."row" -> col))
                          FROM unnest(m.pk_columns) AS col)
        FROM tdm.conflict_member cm
       WHERE cm.run_id = c.run_id AND cm.conflict_id = c.conflict_id
         AND NEW.renames -> cm.label ?| m.pk_columns LOOP
      other := (SELECT string_agg(x.label, ', ' ORDER BY x.member) FROM tdm.conflict_member x
                 WHERE x.run_id = c.run_id AND x.conflict_id = c.conflict_id
                   AND x.label <> checking.label
                   AND tdm._same_key(c.rel, m.pk_columns,
                                     (SELECT jsonb_object_agg(col, coalesce(NEW.renames -> x.label -> col,
                                                                            x."row" -> col))
                                        FROM unnest(m.pk_columns) AS col),
                                     candidate, false));
      IF other IS NOT NULL THEN
        RAISE EXCEPTION 'decision on %: keep_all would keep two rows with primary key %',
          NEW.conflict_id, candidate
          USING ERRCODE = 'unique_violation',
                DETAIL = format('%s (renamed) and %s would both have it.', label, other),
                HINT = CASE WHEN other = 'master'
                            THEN format('Give %s another key in renames: master''s row, of an earlier release,'
                                        ' keeps its own.', label)
                            ELSE format('Give one of them another key in renames: %s, or %s.', other, label) END;
      END IF;
      holder := tdm._key_taken_for(c.conflict_id, m.pk_columns, candidate, in_environments => false);
      IF holder IS NOT NULL THEN
        RAISE EXCEPTION 'decision on %: the renamed primary key % of % is taken by %',
          NEW.conflict_id, candidate, label, holder
          USING ERRCODE = 'unique_violation',
                HINT = format('Choose a value no row of another release in %s or in master has.', c.rel);
      END IF;
      PERFORM tdm._rename_free(c, label, array_to_string(m.pk_columns, ','), candidate, release);
    END LOOP;
    -- (The members that still need a key, as tdm._resolution picks them:
    -- each named, with what to write. A member merged away elsewhere keeps
    -- no key at all.)
    label := NULL;
    IF NOT tdm._rekeyable(c.rel) THEN
      SELECT string_agg(DISTINCT b.label, ', '),
             -- (with the member's other renames, which stand)
             string_agg(DISTINCT format('%s: {%s}', to_json(b.label),
                                        (SELECT string_agg(x, ', ')
                                           FROM (SELECT format('%s: %s', to_json(r.key), r.value) AS x
                                                   FROM jsonb_each(NEW.renames -> b.label) AS r
                                                  WHERE r.key <> tdm._renamed_key_column(c.rel)
                                                 UNION ALL
                                                 SELECT format('%s: ...', to_json(tdm._renamed_key_column(c.rel))))
                                                AS y)), ', ')
        INTO label, nk
        FROM tdm.conflict_member b
       WHERE b.run_id = c.run_id AND b.conflict_id = c.conflict_id
         AND b.member = ANY (tdm._new_key_members(c, NEW.renames))
         AND NOT tdm._resolved_away(c, tdm._member_source(b.env, b."row", m.pk_columns), NEW.renames -> b.label);
    END IF;
    IF label IS NOT NULL AND tdm._key_reference(c.rel) IS NOT NULL THEN
      RAISE EXCEPTION 'decision on %: % cannot take generated keys; keep_all needs the new % in renames',
        NEW.conflict_id, c.rel, tdm._column_names(m.pk_columns)
        USING ERRCODE = 'invalid_parameter_value',
              DETAIL = format('Its key is its %s row''s: a new one must name another row of %1$s.',
                              tdm._key_reference(c.rel)),
              HINT = format('Keep one row (keep), or decide keep_all on the %s conflict that made them meet.',
                            tdm._key_reference(c.rel));
    ELSIF label IS NOT NULL AND EXISTS (SELECT 1 FROM jsonb_array_elements(m.foreign_keys) fk
                                         WHERE fk -> 'columns' ? tdm._renamed_key_column(c.rel)) THEN
      -- (Every column of the key is a reference, a junction's: renames
      -- of it are refused, as they would name other rows.)
      RAISE EXCEPTION 'decision on %: % cannot take generated keys, and every column of its key (%) is a reference: keep_all cannot keep its rows apart',
        NEW.conflict_id, c.rel, tdm._column_names(m.pk_columns)
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'Keep one of the rows (keep), or delete them (delete_all); or decide the conflict of a row they'
                     ' reference, so that they reference two rows.';
    ELSIF label IS NOT NULL THEN
      RAISE EXCEPTION 'decision on %: % cannot take generated keys; keep_all needs the new % in renames',
        NEW.conflict_id, c.rel, tdm._column_names(m.pk_columns)
        USING ERRCODE = 'invalid_parameter_value',
              HINT = format('Give %s a new key, e.g. renames => %s.', label, quote_literal('{' || nk || '}'));
    END IF;
  END IF;

  -- A row another decision of the run sets a column of to another value
  -- (the row merged into, renamed by a key collision too): which value
  -- would hold is no reviewer's choice.
  IF NEW.action IN ('merge', 'keep_all') THEN
    FOR label, candidate, member_source IN
      SELECT cm.label, CASE WHEN NEW.action = 'merge' THEN NEW.merged ELSE NEW.renames -> cm.label END,
             tdm._member_source(cm.env, cm."row", m.pk_columns)
        FROM tdm.conflict_member cm
       WHERE cm.run_id = c.run_id AND cm.conflict_id = c.conflict_id
         AND ((NEW.action = 'merge' AND cm.member = 0)
              OR (NEW.action = 'keep_all' AND coalesce(NEW.renames ? cm.label, false))) LOOP
      -- (The values as the column's type reads them: "3001" is 3001.)
      SELECT e.key, jsonb_build_object('mine', candidate -> e.key, 'other', e.value)
        INTO nk, seen
        FROM jsonb_each(tdm._renamed_elsewhere(c, member_source)) e
       WHERE candidate ? e.key AND candidate -> e.key <> e.value
         AND tdm._values_differ(c.rel, e.key, candidate ->> e.key, e.value #>> '{}')
       LIMIT 1;
      IF nk IS NOT NULL AND seen IS NOT NULL THEN
        RAISE EXCEPTION 'decision on %: % sets % of % to %, which another decision of the run sets to %',
          NEW.conflict_id, CASE WHEN NEW.action = 'merge' THEN 'merged' ELSE 'renames' END, quote_ident(nk),
          label, seen -> 'mine', seen -> 'other'
          USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Give the same value in both decisions (the row is a member of both conflicts).';
      END IF;
      nk := NULL;
      seen := NULL;
    END LOOP;
  END IF;

  -- A decision replaced by another reviewer, or one whose approval goes
  -- with the change: said, so that neither is taken over unknowingly.
  IF TG_OP = 'UPDATE' AND (OLD.approved_by IS NOT NULL
                           OR (OLD.decided_by <> current_user
                               AND (NEW.action, NEW.keep_env, NEW.renames, NEW.merged)
                                   IS DISTINCT FROM (OLD.action, OLD.keep_env, OLD.renames, OLD.merged))) THEN
    RAISE NOTICE 'decision on %: replaces the decision % took (%)%', NEW.conflict_id,
      CASE WHEN OLD.decided_by = current_user THEN 'you' ELSE quote_ident(OLD.decided_by) END,
      OLD.action::text || coalesce(' ' || OLD.keep_env, ''),
      CASE WHEN OLD.approved_by IS NOT NULL AND c.priority = 1
           THEN format(', which %s approved: it needs approval again', quote_ident(OLD.approved_by))
           -- (a conflict no longer priority 1, found again so: its
           -- decision applies without approval)
           WHEN OLD.approved_by IS NOT NULL
           THEN format(', which %s approved; the conflict is priority %s now: it applies without approval',
                       quote_ident(OLD.approved_by), c.priority)
           ELSE '' END;
  END IF;
  NEW.decided_by := current_user;
  NEW.decided_at := clock_timestamp();  -- (a new decision, even in one transaction)
  NEW.approved_by := NULL;
  NEW.approved_at := NULL;
  NEW.members_checksum := tdm._decided_on(c.members_checksum, c.rel, c.members, NEW.merged);
  NEW.decided_priority := c.priority;
  RETURN NEW;
END
$$;
CREATE TRIGGER decision_check BEFORE INSERT OR UPDATE OR DELETE ON tdm.decision
  FOR EACH ROW EXECUTE FUNCTION tdm._decision_check();

-- A statement writing decisions takes the audit trail's head first, before
-- any decision row: its audit rows need the head, and a reviewer whose
-- open transaction holds it (an earlier decision) and who then writes the
-- same conflict would wait for this statement's row while it waited for
-- the head: a deadlock. Taken first, this statement waits for that
-- transaction holding nothing. Not while a consolidation runs (it holds
-- the head to its end): a decision of its release is refused at once by
-- the row check, not made to wait for it.
CREATE FUNCTION tdm._decision_take_head() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
BEGIN
  IF TG_RELID <> 'tdm.decision'::regclass THEN  -- (on tdm.decision alone)
    RAISE EXCEPTION 'tdm._decision_take_head serves tdm.decision only, not %', TG_RELID::regclass
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF tdm._advisory_holder('tdm.consolidate', NULL) IS NULL THEN
    PERFORM tdm._audit_lock_head();
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER decision_take_head BEFORE INSERT OR UPDATE OR DELETE ON tdm.decision
  FOR EACH STATEMENT EXECUTE FUNCTION tdm._decision_take_head();

-- Copies of one entity in two environments, orphaned alike, of which
-- their own table's conflict loads one, are decided alike: else the copy
-- dropped would decide for the one that loads. Checked once the statement
-- has written its rows (AFTER), so that one UPDATE deciding both anew
-- passes.
CREATE FUNCTION tdm._decision_check_copies() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
DECLARE
  c tdm.conflict := tdm._latest_conflict(NEW.conflict_id);
  m tdm.managed_table;
  other text;     -- the other copy's conflict
  existing text;  -- and its decision
BEGIN
  IF c.kind IS DISTINCT FROM 'relationship' THEN
    RETURN NULL;
  END IF;
  SELECT * INTO m FROM tdm.managed_table x WHERE x.rel = c.rel;
  SELECT od.conflict_id, format('%s%s', od.action, coalesce(' ' || od.merged::text, '')) INTO other, existing
    FROM tdm.conflict_member rm
   CROSS JOIN LATERAL (SELECT g.members FROM tdm.conflict g
                        WHERE g.run_id = c.run_id AND g.rel = c.rel AND g.kind <> 'relationship'
                          AND g.members @> jsonb_build_array(tdm._member_source(rm.env, rm."row", m.pk_columns))
                          AND (g.rule NOT IN ('distinct_entities', 'manual')
                               OR EXISTS (SELECT 1 FROM tdm.decision gd WHERE gd.conflict_id = g.conflict_id
                                             AND gd.action IN ('keep', 'merge')))) g
   CROSS JOIN LATERAL jsonb_array_elements(g.members) AS e(m)
    JOIN tdm.conflict oc ON oc.run_id = c.run_id AND oc.rel = c.rel AND oc.kind = 'relationship'
                        AND oc.conflict_id <> c.conflict_id
                        AND oc.members @> jsonb_build_array(tdm._member_source(e.m ->> 'env', e.m -> 'row',
                                                                               m.pk_columns))
    JOIN tdm.decision od ON od.conflict_id = oc.conflict_id
   WHERE rm.run_id = c.run_id AND rm.conflict_id = c.conflict_id
     AND (od.action <> NEW.action OR od.merged IS DISTINCT FROM NEW.merged)
   LIMIT 1;
  IF other IS NOT NULL THEN
    RAISE EXCEPTION 'decision on %: another environment''s copy of this row, which its table''s conflict makes'
                    ' one row with it, is conflict %, decided otherwise (%)', NEW.conflict_id, other, existing
      USING ERRCODE = 'invalid_parameter_value', CONSTRAINT = 'copies_decided_alike',
            HINT = format('Decide both alike (one of them loads): as that one, or both in one statement'
                          ' (UPDATE tdm.decision SET ... WHERE conflict_id IN (%L, %L);), or withdraw it'
                          ' first (DELETE FROM tdm.decision WHERE conflict_id = %L;) and decide both anew.',
                          NEW.conflict_id, other, other);
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER decision_check_copies AFTER INSERT OR UPDATE OF action, merged ON tdm.decision
  FOR EACH ROW EXECUTE FUNCTION tdm._decision_check_copies();

-- Once a decision is written: its conflict's status follows (decided, or
-- back to pending when the decision is withdrawn) and the audit trail
-- records it, under the role that acted. A definer's trigger: reviewers
-- write decisions, not conflicts or the audit trail directly, and a
-- trigger cannot be called on its own.
CREATE FUNCTION tdm._decision_record() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
DECLARE
  -- Who acted: a decision and an approval name their role in the row
  -- (decided_by, approved_by), which the check trigger wrote; a withdrawal
  -- is the session user's. (Nothing the writing statement could change
  -- before this trigger runs, as RETURNING can a setting.)
  acting name := session_user;  -- (a withdrawal's: the row does not say)
  withdrawn tdm.conflict;
  decided tdm.conflict;
BEGIN
  IF TG_RELID <> 'tdm.decision'::regclass THEN  -- (on tdm.decision alone)
    RAISE EXCEPTION 'tdm._decision_record records decisions of tdm.decision only, not of %',
      TG_RELID::regclass USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF TG_OP = 'INSERT' AND NEW.decided_at < now() THEN
    -- A restored decision (a superuser's insert of a complete row, which
    -- the check trigger keeps as it was): recorded when it was taken. Any
    -- other insert was stamped with the clock time, after now().
    RETURN NULL;
  END IF;
  IF TG_OP = 'DELETE' THEN
    withdrawn := tdm._latest_conflict(OLD.conflict_id);
    -- (Back to its rule, when a rule settles it: its class is simple, its
    -- rule the rule's name, or manual once a call recorded the decision.)
    IF withdrawn.status IN ('decided', 'stale') THEN
      PERFORM tdm._mark_conflict(OLD.conflict_id,
                                 CASE WHEN withdrawn.class = 'simple' THEN 'auto_resolved' ELSE 'pending' END);
    END IF;
    INSERT INTO tdm.audit (role, action, object, detail, prev_hash, hash)
    VALUES (acting, 'withdraw_decision', OLD.conflict_id, jsonb_build_object('action', OLD.action),
            '', '');
    DELETE FROM tdm.decided_members m WHERE m.conflict_id = OLD.conflict_id;
  ELSIF TG_OP = 'UPDATE' AND NEW.decided_at = OLD.decided_at THEN
    INSERT INTO tdm.audit (role, action, object, detail, prev_hash, hash)
    VALUES (coalesce(NEW.approved_by, acting),
            CASE WHEN NEW.approved_by IS NULL THEN 'withdraw_approval' ELSE 'approve' END,
            NEW.conflict_id, jsonb_build_object('decided_by', OLD.decided_by,
                                                'decided_at', OLD.decided_at, 'action', OLD.action,
                                                'keep_env', OLD.keep_env, 'renames', OLD.renames,
                                                'merged', OLD.merged), '', '');
  ELSE
    PERFORM tdm._mark_conflict(NEW.conflict_id, 'decided');
    decided := tdm._latest_conflict(NEW.conflict_id);
    INSERT INTO tdm.audit (role, action, object, detail, prev_hash, hash)
    VALUES (NEW.decided_by, 'decide', NEW.conflict_id,
            jsonb_build_object('action', NEW.action, 'keep_env', NEW.keep_env,
                               'renames', NEW.renames, 'merged', NEW.merged,
                               'rationale', NEW.rationale,
                               'priority', decided.priority),
            '', '');
    INSERT INTO tdm.decided_members (conflict_id, members) VALUES (NEW.conflict_id, decided.members)
    ON CONFLICT (conflict_id) DO UPDATE SET members = EXCLUDED.members;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER decision_record AFTER INSERT OR UPDATE OR DELETE ON tdm.decision
  FOR EACH ROW EXECUTE FUNCTION tdm._decision_record();
-- TRUNCATE fires no row trigger: the withdrawals would be neither
-- audited nor put their conflicts back in the queue.
CREATE FUNCTION tdm._decision_truncate_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
BEGIN
  IF EXISTS (SELECT FROM tdm.decision) THEN
    RAISE EXCEPTION 'tdm.decision: TRUNCATE would withdraw every decision unaudited'
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Withdraw them with DELETE FROM tdm.decision (WHERE ...): each withdrawal is checked and audited,'
                   ' and its conflict goes back to the queue.';
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER decision_truncate_guard BEFORE TRUNCATE ON tdm.decision
  FOR EACH STATEMENT EXECUTE FUNCTION tdm._decision_truncate_guard();
-- (Both fire in replica mode too: a decision is checked and recorded
-- whatever session_replication_role says.)
ALTER TABLE tdm.decision ENABLE ALWAYS TRIGGER decision_take_head, ENABLE ALWAYS TRIGGER decision_check,
  ENABLE ALWAYS TRIGGER decision_check_copies,
  ENABLE ALWAYS TRIGGER decision_record, ENABLE ALWAYS TRIGGER decision_truncate_guard;

-- The function form of a decision (insert or replace).
CREATE FUNCTION tdm.resolve(conflict_id text, action tdm.action, keep_env text DEFAULT NULL,
                            renames jsonb DEFAULT NULL, merged jsonb DEFAULT NULL,
                            rationale text DEFAULT NULL) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp SET jit TO off SET tdm_decision.upsert TO 'on' AS $$
  INSERT INTO tdm.decision AS d (conflict_id, action, keep_env, renames, merged, rationale)
  VALUES ($1, $2, $3, $4, $5, $6)
  ON CONFLICT ON CONSTRAINT decision_pkey DO UPDATE
    SET action = excluded.action, keep_env = excluded.keep_env, renames = excluded.renames,
        merged = excluded.merged, rationale = excluded.rationale
$$;

-- The bulk form: one action for every conflict of the latest run of
-- `release` waiting for a decision (pending or stale: decisions already
-- taken one by one stay) that matches the filter (table, priority, kind). `keep` keeps keep_env where it is a member, else the
-- suggested survivor. Returns the number of decisions written.
-- resolve_all's decision on conflict `c`, while it still waits: a
-- decision another reviewer took since the call began stays (an open one
-- is waited for, then kept); a stale one is confirmed unless that was done
-- meanwhile, for the members as they are. Returns the rows written.
CREATE FUNCTION tdm._resolve_one(c tdm.conflict, action tdm.action, keep text, rationale text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
DECLARE
  written bigint;
BEGIN
  IF c.status = 'pending' THEN
    INSERT INTO tdm.decision (conflict_id, action, keep_env, rationale)
    VALUES (c.conflict_id, _resolve_one.action, keep, _resolve_one.rationale)
    ON CONFLICT ON CONSTRAINT decision_pkey DO NOTHING;
  ELSE
    UPDATE tdm.decision d
       SET action = _resolve_one.action, keep_env = keep, renames = NULL, merged = NULL,
           rationale = _resolve_one.rationale
     WHERE d.conflict_id = c.conflict_id
       AND d.members_checksum IS DISTINCT FROM tdm._decided_on(c.members_checksum, c.rel, c.members, d.merged);
  END IF;
  GET DIAGNOSTICS written = ROW_COUNT;
  RETURN written;
END
$$;

CREATE FUNCTION tdm.resolve_all(release text, action tdm.action, rationale text,
                                rel regclass DEFAULT NULL, priority int DEFAULT NULL,
                                kind tdm.conflict_kind DEFAULT NULL, keep_env text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off SET tdm_decision.upsert TO 'on' AS $$
DECLARE
  c tdm.conflict;
  keep text;
  decided bigint := 0;
  written bigint;
  kept_env bigint := 0;  -- conflicts keep_env is a member of
  earlier tdm.decision;  -- a stale conflict's decision
  left_keep_all text[] := '{}';  -- conflicts whose suggestion keeps every member
  left_stale text[] := '{}';  -- stale decisions of another action, or with values
  left_copies text[] := '{}';  -- relationship conflicts whose row's copy is decided otherwise
  refused_by text;  -- the check that refused a decision
  suggested text[] := '{}';  -- conflicts keep_env is no member of, decided as suggested
  suggested_here bool;
BEGIN
  PERFORM tdm._require_given('resolve_all', 'release', release IS NOT NULL);
  PERFORM tdm._require_given('resolve_all', 'action', action IS NOT NULL);
  IF NOT EXISTS (SELECT 1 FROM tdm.release x WHERE x.release = resolve_all.release) THEN
    RAISE EXCEPTION 'resolve_all: release "%" does not exist', release
      USING ERRCODE = 'undefined_object', HINT = tdm._missing_release_hint(release);
  END IF;
  -- (Nothing to decide is not "none decided": a release never
  -- consolidated, or a table not managed, is a slip to name.)
  IF NOT EXISTS (SELECT 1 FROM tdm.run r WHERE r.release = resolve_all.release) THEN
    RAISE EXCEPTION 'resolve_all: release "%" has no consolidation run, so no conflicts to decide', release
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Consolidate it first: ' || tdm._consolidate_call(release);
  END IF;
  IF resolve_all.rel IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tdm.managed_table m WHERE m.rel = resolve_all.rel) THEN
    RAISE EXCEPTION 'resolve_all: table % is not managed by tdm', resolve_all.rel
      USING ERRCODE = 'undefined_object',
            HINT = 'Conflicts are of managed tables (tdm.managed_table); leave rel out for all of them.';
  END IF;
  IF action IN ('keep_all', 'merge') THEN
    RAISE EXCEPTION 'resolve_all: % needs values per conflict; use tdm.resolve()', action
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Decide each conflict with tdm.resolve(conflict_id, ...), or INSERT INTO tdm.decision.';
  END IF;
  IF tdm._blank(rationale) THEN
    RAISE EXCEPTION 'resolve_all: a rationale is required'
      USING ERRCODE = 'not_null_violation',
            HINT = 'Say why, for the audit trail: it goes with every decision this call writes.';
  END IF;
  IF priority NOT IN (1, 2, 3) THEN
    RAISE EXCEPTION 'resolve_all: priority % is none a conflict has', priority
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Priorities are 1 (critical), 2 (high) and 3 (medium); leave priority out for all.';
  END IF;
  IF keep_env IS NOT NULL AND action <> 'keep' THEN
    RAISE EXCEPTION 'resolve_all: keep_env goes with keep, not %', action
      USING ERRCODE = 'invalid_parameter_value',
            HINT = format('Leave keep_env out for %s, or decide keep.', action);
  END IF;
  IF keep_env IS NOT NULL AND keep_env <> 'master'
     AND NOT EXISTS (SELECT 1 FROM tdm.environment e WHERE e.name = split_part(keep_env, ':', 1)) THEN
    RAISE EXCEPTION 'resolve_all: keep_env "%" is not an environment', keep_env
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Environments are in tdm.environment; members are labelled by them in tdm.conflict_member.';
  END IF;
  FOR c IN SELECT x.* FROM tdm.conflict x
            WHERE x.run_id = (SELECT max(r.run_id) FROM tdm.run r WHERE r.release = resolve_all.release)
              AND x.status IN ('pending', 'stale')
              AND (resolve_all.rel IS NULL OR x.rel = resolve_all.rel)
              AND (resolve_all.priority IS NULL OR x.priority = resolve_all.priority)
              AND (resolve_all.kind IS NULL OR x.kind = resolve_all.kind)
            ORDER BY x.priority, x.rel::text, x.conflict_id LOOP
    keep := NULL;
    IF action = 'keep' THEN
      SELECT cm.label INTO keep FROM tdm.conflict_member cm
       WHERE cm.run_id = c.run_id AND cm.conflict_id = c.conflict_id
         AND (cm.label = resolve_all.keep_env OR cm.env = resolve_all.keep_env
              OR (resolve_all.keep_env IS NULL AND cm.member = coalesce(c.survivor, 0)))
       ORDER BY cm.member LIMIT 1;
      -- A keep of the suggestion (no keep_env, or one not a member here)
      -- where the suggestion keeps every member (distinct entities that
      -- need keys from a reviewer): keeping one would merge the others
      -- away. Left, and named.
      IF cardinality(c.rekeyed) > 0 AND (resolve_all.keep_env IS NULL OR keep IS NULL) THEN
        left_keep_all := left_keep_all || c.conflict_id;
        CONTINUE;
      END IF;
      kept_env := kept_env + (keep IS NOT NULL AND resolve_all.keep_env IS NOT NULL)::int;
      suggested_here := keep IS NULL AND resolve_all.keep_env IS NOT NULL;
      keep := coalesce(keep, (SELECT cm.label FROM tdm.conflict_member cm
                               WHERE cm.run_id = c.run_id AND cm.conflict_id = c.conflict_id
                                 AND cm.member = coalesce(c.survivor, 0)));
    END IF;
    -- A stale decision taken otherwise (another action, renames or merged
    -- values, another kept member): re-confirmed as it was, or decided
    -- again one by one, not replaced by this one.
    IF c.status = 'stale' THEN
      SELECT * INTO earlier FROM tdm.decision d WHERE d.conflict_id = c.conflict_id;
      IF earlier.action <> action OR earlier.renames IS NOT NULL OR earlier.merged IS NOT NULL
         OR (action = 'keep' AND earlier.keep_env IS DISTINCT FROM keep) THEN
        left_stale := left_stale || c.conflict_id;
        CONTINUE;
      END IF;
    END IF;
    IF c.kind = 'relationship' THEN
      -- (A copy of the row in another environment decided otherwise:
      -- left, said below, the others decided; one savepoint per such
      -- conflict only.)
      BEGIN
        written := tdm._resolve_one(c, action, keep, rationale);
      EXCEPTION WHEN invalid_parameter_value THEN
        GET STACKED DIAGNOSTICS refused_by = CONSTRAINT_NAME;
        IF refused_by IS DISTINCT FROM 'copies_decided_alike' THEN
          RAISE;
        END IF;
        left_copies := left_copies || c.conflict_id;
        CONTINUE;
      END;
    ELSE
      written := tdm._resolve_one(c, action, keep, rationale);
    END IF;
    decided := decided + written;
    IF written > 0 AND action = 'keep' AND suggested_here THEN
      suggested := suggested || c.conflict_id;
    END IF;
  END LOOP;
  IF cardinality(left_keep_all) > 0 THEN
    RAISE NOTICE 'resolve_all: % conflict(s) left undecided: their suggestion keeps every member (keep_all, with keys from a reviewer), which keep would merge away: %',
      cardinality(left_keep_all), tdm._first_ten(left_keep_all)
      USING HINT = 'Decide them one by one (tdm.resolve(conflict_id, ''keep_all'', renames => ...)), or name the member to keep: keep_env => ...';
  END IF;
  IF cardinality(left_copies) > 0 THEN
    RAISE NOTICE 'resolve_all: % conflict(s) left undecided: another environment''s copy of the row, one row with it, is decided otherwise: %',
      cardinality(left_copies), tdm._first_ten(left_copies)
      USING HINT = 'Decide both copies alike, one by one with tdm.resolve (one of them loads): each conflict''s error names the other.';
  END IF;
  IF cardinality(left_stale) > 0 THEN
    RAISE NOTICE 'resolve_all: % stale decision(s) left as they were taken (another action, renames, merged values or another kept member): %',
      cardinality(left_stale), tdm._first_ten(left_stale)
      USING HINT = 'Their members changed since: look at them in tdm.review_queue and decide each again with tdm.resolve.';
  END IF;
  -- (said only when keep_env was kept somewhere: else nothing is decided)
  IF cardinality(suggested) > 0 AND kept_env > 0 THEN
    RAISE NOTICE 'resolve_all: "%" is no member of % conflict(s), which keep the suggested member instead: %',
      keep_env, cardinality(suggested), tdm._first_ten(suggested)
      USING HINT = 'Look at them in tdm.review_queue; decide another member with tdm.resolve if the suggestion is not what you want.';
  END IF;
  IF keep_env IS NOT NULL AND decided > 0 AND kept_env = 0 THEN
    RAISE EXCEPTION 'resolve_all: "%" is a member of none of the % conflict(s); nothing decided',
      keep_env, decided
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Name an environment the conflicts have (tdm.review_queue), or none to keep each suggestion.';
  END IF;
  RETURN decided;
END
$$;

-- The second reviewer's approval of a decision (required for priority 1).
-- The priority of conflict `conflict_id` when its decision was taken:
-- the decision's `decided_priority`, or, for a decision restored from a
-- dump that lacks it, what its latest decide audit row recorded.
CREATE FUNCTION tdm._decided_priority(conflict_id text, decided_priority int) RETURNS int
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(decided_priority,
                  (SELECT (a.detail ->> 'priority')::int FROM tdm.audit a
                    WHERE a.action = 'decide' AND a.object = _decided_priority.conflict_id
                    ORDER BY a.audit_id DESC LIMIT 1))
$$;

-- A stale decision is not applied, approved or not: approving it would
-- approve members its decider has not seen, and an approval taken before
-- it went stale no longer holds.
CREATE FUNCTION tdm._refuse_stale_approval(conflict_id text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'decision on %: it is stale, taken on members that changed since; it cannot be approved as it is',
    conflict_id
    USING ERRCODE = 'object_not_in_prerequisite_state',
          HINT = 'A reviewer writes it again (tdm.review_queue says what changed), to confirm it or decide anew;'
                 ' then approve it.';
END
$$;

CREATE FUNCTION tdm.approve(conflict_id text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
DECLARE
  d tdm.decision;
  latest tdm.conflict;  -- its conflict in the latest run
BEGIN
  PERFORM tdm._require_given('approve', 'conflict_id', conflict_id IS NOT NULL);
  SELECT * INTO d FROM tdm.decision WHERE decision.conflict_id = approve.conflict_id;
  -- (a mistyped id is said as such, not as a conflict waiting for a decision)
  IF NOT FOUND AND NOT EXISTS (SELECT FROM tdm.conflict c WHERE c.conflict_id = approve.conflict_id) THEN
    RAISE EXCEPTION 'approve: unknown conflict "%"', conflict_id
      USING ERRCODE = 'undefined_object',
            HINT = 'Decisions awaiting approval: SELECT DISTINCT d.conflict_id FROM tdm.decision d JOIN tdm.conflict c'
                   ' USING (conflict_id) WHERE c.priority = 1 AND c.status = ''decided'' AND d.approved_by IS NULL;';
  END IF;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'approve: conflict "%" has no decision to approve', conflict_id
      USING ERRCODE = 'undefined_object',
            HINT = 'A reviewer decides first (tdm.resolve or INSERT INTO tdm.decision).';
  END IF;
  latest := tdm._latest_conflict(conflict_id);
  -- (ranked priority 1 now, or when it was decided: tdm._record_conflicts)
  IF least(latest.priority, tdm._decided_priority(d.conflict_id, d.decided_priority)) <> 1 THEN
    IF latest.status = 'applied' THEN
      RAISE NOTICE 'approve: % is not priority 1, and run % applied its decision already: nothing to approve',
        conflict_id, latest.run_id;
    ELSE
      RAISE NOTICE 'approve: % is not priority 1; its decision applies without approval', conflict_id;
    END IF;
    RETURN;
  END IF;
  -- (Approving again changes nothing: the UPDATE would write the decision
  -- again, as its approver's.)
  IF d.approved_by IS NOT NULL AND latest.status = 'stale' THEN
    PERFORM tdm._refuse_stale_approval(conflict_id);
  ELSIF d.approved_by IS NOT NULL THEN
    RAISE NOTICE 'approve: the decision on % is approved already, by %', conflict_id, d.approved_by;
    RETURN;
  END IF;
  -- The decision as read above, not one written meanwhile by a transaction
  -- this UPDATE waited for (it would approve what its approver never saw).
  UPDATE tdm.decision x SET approved_by = current_user
   WHERE x.conflict_id = approve.conflict_id AND x.decided_at = d.decided_at
     AND x.decided_by = d.decided_by AND x.approved_by IS NULL;
  IF NOT FOUND AND EXISTS (SELECT 1 FROM tdm.decision x
                            WHERE x.conflict_id = approve.conflict_id AND x.decided_at = d.decided_at
                              AND x.decided_by = d.decided_by AND x.approved_by IS NOT NULL) THEN
    -- (Another reviewer approved the same decision meanwhile.)
    RAISE NOTICE 'approve: the decision on % is approved already, by %', conflict_id,
      (SELECT x.approved_by FROM tdm.decision x WHERE x.conflict_id = approve.conflict_id);
  ELSIF NOT FOUND THEN
    RAISE EXCEPTION 'approve: the decision on % %', conflict_id,
      CASE WHEN EXISTS (SELECT 1 FROM tdm.decision x WHERE x.conflict_id = approve.conflict_id)
           THEN 'changed while it was being approved' ELSE 'was withdrawn while it was being approved' END
      USING ERRCODE = 'serialization_failure',
            DETAIL = format('It was %s%s by %s at %s when approve read it.', d.action,
                            coalesce(' ' || d.keep_env, ''), d.decided_by, d.decided_at),
            HINT = 'Read the decision again (tdm.decision), then approve it if it stands.';
  END IF;
END
$$;

-- The review queue: conflicts waiting for a decision (pending, or stale:
-- decided on members that changed since), priority 1 first, side by side.
-- `members` lists who, from which feature, when; `differing` only the
-- columns that differ; `related` the collected child rows per table.
-- The differing columns side by side, one line each, members as columns,
-- cut to fit an 80-column terminal under \\x (the jsonb columns hold the full values).
-- The key's and natural keys' columns come first, differing or not: who
-- the members are (a release's row against master's may differ in
-- neither).
-- How many characters `a` and `b` begin with alike (0 when either is
-- NULL). By halves: values may be megabytes long.
CREATE FUNCTION tdm._common_prefix(a text, b text) RETURNS int
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  alike int := 0;
  most int := coalesce(least(length(a), length(b)), 0);
  half int;
BEGIN
  WHILE alike < most LOOP
    half := (alike + most + 1) / 2;
    IF left(a, half) = left(b, half) THEN
      alike := half;
    ELSE
      most := half - 1;
    END IF;
  END LOOP;
  RETURN alike;
END
$$;

-- `v` as a terminal shows it as written: line breaks and tabs as \n, \r
-- and \t, other control characters (an escape sequence's ESC, backspace)
-- and, in a UTF8 database, the characters that reorder or hide text
-- (U+202E makes txt.exe read exe.txt) as \xHH or \uHHHH. Cut to
-- `max_length` characters, ~ last, when given.
CREATE FUNCTION tdm._printable(v text, max_length int DEFAULT NULL) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  cut bool := length(v) > max_length;
  shown text;
  hidden text;
  pattern text := '([[:cntrl:]])';
BEGIN
  -- (Escaping only lengthens: what is cut away needs none.)
  shown := CASE WHEN cut THEN left(v, max_length) ELSE v END;
  shown := replace(replace(replace(shown, E'\r', E'\\r'), E'\n', E'\\n'), E'\t', E'\\t');
  -- (Code points past 255 only in a UTF8 database, made by chr() there:
  -- another encoding cannot even parse them as a literal.)
  IF getdatabaseencoding() = 'UTF8' THEN
    pattern := '([[:cntrl:]' || chr(173) || chr(1564) || chr(6158) || chr(8203) || '-' || chr(8207)
               || chr(8234) || '-' || chr(8238) || chr(8288) || '-' || chr(8297) || chr(65279) || '])';
  END IF;
  -- (each character present once, replaced throughout: a long value is
  -- read a few times, not once per character)
  FOR hidden IN SELECT DISTINCT m[1] FROM regexp_matches(shown, pattern, 'g') AS m LOOP
    shown := replace(shown, hidden, CASE WHEN ascii(hidden) < 256 THEN E'\\x' || lpad(to_hex(ascii(hidden)), 2, '0')
                                         ELSE E'\\u' || lpad(to_hex(ascii(hidden)), 4, '0') END);
  END LOOP;
  RETURN CASE WHEN cut OR length(shown) > max_length THEN left(shown, max_length - 1) || '~' ELSE shown END;
END
$$;

-- The columns `v` takes in a terminal (a wide character two, a combining
-- one none), its longest beginning (and ending) that takes at most `width` columns, and
-- `v` padded with spaces to `width` columns: the review queue's grid cuts
-- and pads by them, not by characters (CJK values pushed its columns apart).
CREATE FUNCTION tdm._display_width(v text) RETURNS int
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'tdm_display_width';
CREATE FUNCTION tdm._display_left(v text, width int) RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'tdm_display_left';
CREATE FUNCTION tdm._display_right(v text, width int) RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'tdm_display_right';
CREATE FUNCTION tdm._display_pad(v text, width int) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT v || repeat(' ', width - tdm._display_width(v)) $$;

-- (JIT off: called once per conflict by tdm.review_queue, its statement's
-- cost passes jit_above_cost, and compiling it took 150 ms a call, p299.)
CREATE FUNCTION tdm._side_by_side(c tdm.conflict) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
  WITH members AS (
         SELECT cm.member, cm.label, cm."row" FROM tdm.conflict_member cm
          WHERE cm.run_id = c.run_id AND cm.conflict_id = c.conflict_id),
       -- (where each member's label parts from the others': a label cut
       -- short is shown from there)
       apart AS (
         SELECT m.member, coalesce(max(tdm._common_prefix(m.label, o.label)), 0) AS at
           FROM members m LEFT JOIN members o ON o.member <> m.member
          GROUP BY m.member),
       keys AS (
         SELECT k.col, min(k.place) AS place
           FROM tdm.managed_table m
          CROSS JOIN LATERAL unnest(m.pk_columns || ARRAY(SELECT string_to_table(g, ',')
                                                            FROM unnest(m.natural_keys) AS g))
                WITH ORDINALITY AS k(col, place)
          WHERE m.rel = c.rel
          GROUP BY k.col),
       -- (80 columns under \x: 15 for the view's column name, 14 for the
       -- names of the columns shown (up to 24 for a longer one, whole), the
       -- rest shared by the members)
       -- (a longer name takes what the members' values leave of their
       -- cells, up to 24)
       longest AS (
         SELECT max(tdm._display_width(x.v)) + 1 AS needed
           FROM (SELECT m.label AS v FROM members m
                 UNION ALL SELECT m."row" ->> k.col FROM keys k CROSS JOIN members m
                 UNION ALL SELECT d.value ->> m.label FROM jsonb_each(c.differing) d CROSS JOIN members m) x),
       -- (more members than six cells of 8 fit: in blocks of six at most,
       -- one under the other, each with the columns' names)
       sizes AS (
         SELECT greatest(1, ceil(count(*) / 6.0))::int AS blocks,
                greatest(1, ceil(count(*) / greatest(1, ceil(count(*) / 6.0))))::int AS per_block,
                count(*) AS n
           FROM members),
       -- (sizes as even as can be: thirteen are five, four and four)
       blocks AS (
         SELECT m.member, ((row_number() OVER (ORDER BY m.member) - 1) * s.blocks / s.n)::int AS block
           FROM members m CROSS JOIN sizes s),
       label_width AS (
         SELECT greatest(14, least(24, max(tdm._display_width(x.col)) + 1,
                                   14 + (SELECT s.per_block * greatest(0, greatest(8, 51 / s.per_block)
                                                                        - (SELECT needed FROM longest))
                                           FROM sizes s),
                                   -- (a longer name never narrows cells under 8)
                                   (SELECT 65 - 8 * s.per_block FROM sizes s)))::int AS lw
           FROM (SELECT k.col FROM keys k UNION ALL SELECT jsonb_object_keys(c.differing)) x),
       width AS (SELECT greatest(8, (65 - (SELECT lw FROM label_width)) / s.per_block)::int AS w
                   FROM sizes s),
       cell AS (SELECT NULL::text AS col, 0::bigint AS place, m.member, m.label AS v, a.at
                  FROM members m JOIN apart a USING (member)
                UNION ALL
                SELECT k.col, k.place, m.member, tdm._printable(coalesce(m."row" ->> k.col, 'NULL')), 0
                  FROM keys k CROSS JOIN members m WHERE NOT c.differing ? k.col
                UNION ALL
                -- (a differing key column in its key's place; a value that
                -- begins as another's for longer than its cell is shown
                -- from where they part, as a label is; a member with the
                -- same value parts from it nowhere; values as shown, control
                -- characters escaped, so that the place is the shown one's)
                SELECT d.key, k.place, m.member, tdm._printable(coalesce(d.value ->> m.label, 'NULL')),
                       -- (from where they part when the first character that
                       -- differs would not show in the cell cut from the start)
                       (SELECT CASE WHEN tdm._display_width(left(tdm._printable(d.value ->> m.label), p + 1))
                                         > (SELECT w - 2 FROM width) THEN p ELSE 0 END
                          FROM (SELECT coalesce(max(tdm._common_prefix(tdm._printable(d.value ->> m.label),
                                                                       tdm._printable(o.value))), 0) AS p
                                  FROM jsonb_each_text(d.value) o
                                 WHERE o.key <> m.label AND o.value IS DISTINCT FROM d.value ->> m.label) x)
                  FROM jsonb_each(c.differing) d LEFT JOIN keys k ON k.col = d.key CROSS JOIN members m)
  SELECT string_agg(b.lines, E'\n\n' ORDER BY b.block)
    FROM (SELECT block, string_agg(rtrim(line), E'\n' ORDER BY col IS NOT NULL, place NULLS LAST, col) AS lines
    FROM (SELECT block, col, place,
                 tdm._display_pad(CASE WHEN tdm._display_width(col) > lw - 1 THEN tdm._display_left(col, lw - 2) || '~'
                                       ELSE coalesce(col, '') END, lw)
                 -- (a value cut short ends with ~, so two cut alike still show;
                 -- an environment's name that begins as another's is shown
                 -- from where they part, ~ before: ~_alpha, ~_beta)
                 || string_agg(tdm._display_pad(CASE WHEN tdm._display_width(v) <= w - 1 THEN v
                                         WHEN at = 0 THEN tdm._display_left(v, w - 2) || '~'
                                         ELSE '~' || (SELECT CASE WHEN tdm._display_width(t) > w - 2
                                                                  THEN tdm._display_left(t, w - 3) || '~'
                                                                  ELSE t END
                                                        -- (from where they part, or the end that
                                                        -- fits, whichever comes first)
                                                        FROM substr(v, least(at + 1, length(v) + 1
                                                                                     - length(tdm._display_right(v, w - 2))))
                                                             AS t) END, w),
                               '' ORDER BY member) AS line
            -- (a line break or tab in a value is shown as \n or \t: the
            -- grid keeps one line per column; a control character escaped)
            FROM (SELECT x.col, x.place, x.member, x.at, g.block, x.v
                    FROM cell x JOIN blocks g USING (member)) cell, width, label_width
           GROUP BY block, col, place, lw) l
   GROUP BY block) b
$$;

-- What changed in stale conflict `c`'s members since its decision was
-- taken (tdm.decided_members): per member, the columns whose values
-- differ, or that it is new or gone ("st2: tier; st3 is new"). NULL when
-- that is not known (a decision restored without them).
CREATE FUNCTION tdm._changed_members(c tdm.conflict) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  -- (labelled as tdm.conflict_member labels them: the environment, with
  -- the key where it has two members)
  WITH was AS (SELECT CASE WHEN count(*) OVER (PARTITION BY e.m ->> 'env') > 1
                           THEN (e.m ->> 'env') || ':'
                                || array_to_string(ARRAY(SELECT e.m -> 'row' ->> u.col
                                                           FROM unnest(mt.pk_columns) WITH ORDINALITY AS u(col, i)
                                                          ORDER BY u.i), ',')
                           ELSE e.m ->> 'env' END AS label,
                      e.m -> 'row' AS "row"
                 FROM tdm.decided_members d
                 JOIN tdm.managed_table mt ON mt.rel = c.rel
                CROSS JOIN LATERAL jsonb_array_elements(d.members) AS e(m)
                WHERE d.conflict_id = c.conflict_id),
       now AS (SELECT cm.label, cm."row" FROM tdm.conflict_member cm
                WHERE cm.run_id = c.run_id AND cm.conflict_id = c.conflict_id)
  SELECT string_agg(x.change, '; ' ORDER BY x.label)
    FROM (SELECT coalesce(n.label, w.label) AS label,
                 CASE WHEN w.label IS NULL THEN n.label || ' is new'
                      WHEN n.label IS NULL THEN w.label || ' is gone'
                      ELSE n.label || ': ' || (SELECT string_agg(quote_ident(k.col), ', ' ORDER BY k.col)
                                                 FROM jsonb_object_keys(n."row" || w."row") AS k(col)
                                                WHERE n."row" -> k.col IS DISTINCT FROM w."row" -> k.col) END AS change
            FROM now n FULL JOIN was w ON w.label = n.label) x
   WHERE EXISTS (SELECT FROM tdm.decided_members d WHERE d.conflict_id = c.conflict_id)
$$;

CREATE VIEW tdm.review_queue AS
  SELECT c.conflict_id, c.rel, c.kind, c.class, c.priority, c.rule, c.suggestion,
         -- (a stale conflict says what was decided on it, and how to confirm)
         coalesce(CASE WHEN c.status = 'stale'
              THEN (SELECT format('stale: decided %s%s by %s at %s UTC, on members that changed since%s; write it'
                                  ' again to confirm it, or decide anew. ', d.action, coalesce(' ' || d.keep_env, ''),
                                  d.decided_by, to_char(d.decided_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'),
                                  coalesce(' (' || tdm._changed_members(c) || ')', ''))
                      FROM tdm.decision d WHERE d.conflict_id = c.conflict_id)
              END, '') || c.rationale AS rationale,
         tdm._side_by_side(c) AS side_by_side,
         (SELECT jsonb_agg(jsonb_build_object('env', cm.label, 'feature', cm.feature, 'ts', cm.ts)
                           -- a relationship conflict has nothing differing: show its row
                           || CASE WHEN c.kind = 'relationship'
                                   THEN jsonb_build_object('row', cm."row") ELSE '{}' END
                           ORDER BY cm.member)
            FROM tdm.conflict_member cm
           WHERE cm.run_id = c.run_id AND cm.conflict_id = c.conflict_id) AS members,
         c.differing, c.related, c.status, r.release, c.run_id
    FROM tdm.conflict c
    JOIN tdm.run r ON r.run_id = c.run_id
    -- (parents first within a priority: a child's members show the
    -- references its parents' decisions translate)
    LEFT JOIN tdm._table_order() o ON o.rel = c.rel
   WHERE c.status IN ('pending', 'stale') AND r.status <> 'failed'
     AND c.run_id = (SELECT max(x.run_id) FROM tdm.run x
                      WHERE x.release = r.release AND x.target = r.target)
   ORDER BY c.priority, o.step, c.rel::text COLLATE "C", c.conflict_id;
COMMENT ON VIEW tdm.review_queue IS
  'Conflicts waiting for a reviewer, priority 1 first, parent tables first; decide with tdm.resolve() or tdm.decision';
