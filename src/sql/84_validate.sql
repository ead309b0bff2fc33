-- Consolidation, validate: every violation of the consolidated rows, not
-- the first. The target table's own constraints (NOT NULL, CHECK, unique
-- indexes, foreign keys) and the business rules of tdm.add_rule are
-- checked against the collected rows, and against the rows already in the
-- target (other releases') where they compare rows. Findings go to
-- tdm.violation.

-- A collation as a COLLATE clause (' COLLATE s.c'), '' for none.
CREATE FUNCTION tdm._collate_clause(coll oid) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce((SELECT format(' COLLATE %I.%I', cn.nspname, cl.collname)
                     FROM pg_collation cl JOIN pg_namespace cn ON cn.oid = cl.collnamespace
                    WHERE cl.oid = coll), '')
$$;

-- Index `idx`'s key columns' collations, as COLLATE clauses.
CREATE FUNCTION tdm._index_collations(idx oid) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT ARRAY(SELECT tdm._collate_clause(k.coll)
                 FROM pg_index i CROSS JOIN LATERAL unnest(i.indcollation::oid[]) WITH ORDINALITY AS k(coll, ord)
                WHERE i.indexrelid = idx ORDER BY k.ord)
$$;

-- The unique indexes of `rel`: name, whether NULLs are equal, key columns
-- in the index's order and sorted (a key whatever the order; NULL for an
-- index on expressions), each key's COLLATE clause ('' for none),
-- the predicate of a partial index and each key's equality operator.
-- (INCLUDE columns are no part of the key.)
CREATE FUNCTION tdm._unique_keys(rel regclass)
RETURNS TABLE (name text, nulls_equal bool, cols text[], sorted_cols text[], collations text[],
               predicate text, equals text[])
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT ci.relname::text, i.indnullsnotdistinct,
         CASE WHEN i.indexprs IS NULL THEN
           ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                  WHERE k.ord <= i.indnkeyatts ORDER BY k.ord) END,
         CASE WHEN i.indexprs IS NULL THEN
           ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                  WHERE k.ord <= i.indnkeyatts ORDER BY 1) END,
         tdm._index_collations(i.indexrelid),
         pg_get_expr(i.indpred, i.indrelid), tdm._equality_operators(i.indexrelid)
    FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid
   WHERE i.indrelid = rel AND i.indisunique
$$;

-- Whether validation checks index `idx` by computed keys
-- (tdm._check_computed_keys): a unique index on expressions or with a
-- predicate, or an exclusion constraint's.
CREATE FUNCTION tdm._computed_keys(idx oid) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT (i.indisunique AND (i.indexprs IS NOT NULL OR i.indpred IS NOT NULL))
         OR EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = idx AND c.contype = 'x')
    FROM pg_index i WHERE i.indexrelid = idx
$$;

-- Index `idx`'s definition past its name and table: two tables' indexes
-- with the same one enforce the same.
CREATE FUNCTION tdm._index_keys_sql(idx oid) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT regexp_replace(pg_get_indexdef(idx), '^.*? USING ', '')
$$;

-- Whether columns `cols` (in any order) are managed table `rel`'s primary
-- key or one of its natural keys: keys conflicts matched rows by.
CREATE FUNCTION tdm._registered_key(rel regclass, cols text[]) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM tdm.managed_table m
                  CROSS JOIN LATERAL (SELECT array_to_string(m.pk_columns, ',')
                                      UNION ALL SELECT unnest(m.natural_keys)) AS g(k)
                 WHERE m.rel = _registered_key.rel
                   AND ARRAY(SELECT btrim(c) FROM unnest(string_to_array(g.k, ',')) AS c ORDER BY 1)
                       = ARRAY(SELECT c FROM unnest(cols) AS c ORDER BY 1))
$$;

-- The unique violations (with other collected rows, or rows of other
-- releases in the target or master) of run `run` whose
-- row took its key from a rule's merge: the survivor of a
-- non_conflicting_merge whose own row held NULL in a column of the key
-- that the merge filled from another member; with that conflict. One
-- pass, rows matched to survivors by table, environment and primary key
-- (a hash join: an invalid run may hold many violations and conflicts).
CREATE FUNCTION tdm._merge_made_violations(run bigint)
RETURNS TABLE (rel regclass, row_key jsonb, key_values jsonb, conflict_id text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH v AS (SELECT v.rel, v.row_key, v.detail -> 'values' AS key_values FROM tdm.violation v
              WHERE v.run_id = run AND v.kind = 'unique'
                AND (v.detail ->> 'with' = 'other collected rows'
                     OR v.detail ->> 'with' LIKE 'rows of other releases in %')),
       s AS (SELECT c.conflict_id, c.rel, c.merged, c.members -> c.survivor AS member,
                    (SELECT jsonb_object_agg(p, c.members -> c.survivor -> 'row' -> p)
                       FROM unnest(m.pk_columns) AS p) AS key
               FROM tdm.conflict c JOIN tdm.managed_table m ON m.rel = c.rel
              WHERE c.run_id = run AND c.rel IN (SELECT v.rel FROM v) AND c.rule = 'non_conflicting_merge'
                AND c.status = 'auto_resolved' AND c.survivor IS NOT NULL)
  SELECT v.rel, v.row_key, v.key_values, min(s.conflict_id)
    FROM v JOIN s ON s.rel = v.rel AND s.member ->> 'env' = v.row_key ->> 'env' AND s.key = v.row_key -> 'key'
   WHERE EXISTS (SELECT 1 FROM jsonb_object_keys(v.key_values) AS k
                  WHERE s.member -> 'row' -> k = 'null'::jsonb AND s.merged -> k <> 'null'::jsonb)
   GROUP BY 1, 2, 3
$$;

-- The conflicts of run `run` whose decision's renames or merged values
-- gave a row the primary or natural key of a row of another release in
-- master (matched by environment and the row's key, as collected or as
-- the call's key map made it), as a list for a HINT; NULL when none.
CREATE FUNCTION tdm._decision_made_violations(run bigint) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  found text;
BEGIN
  EXECUTE format(
    'SELECT string_agg(DISTINCT c.conflict_id, '', '')'
    '  FROM tdm.violation v'
    '  JOIN tdm.managed_table m ON m.rel = v.rel'
    '  JOIN tdm.conflict c ON c.run_id = v.run_id AND c.rel = v.rel'
    '  JOIN tdm.decision d ON d.conflict_id = c.conflict_id AND (d.merged IS NOT NULL OR d.renames IS NOT NULL)'
    ' CROSS JOIN LATERAL jsonb_array_elements(c.members) AS e(member)'
    ' WHERE v.run_id = $1 AND v.kind = ''unique'' AND v.detail ->> ''with'' LIKE ''rows of other releases in master.%%'''
    '   AND e.member ->> ''env'' = v.row_key ->> ''env'''
    '   AND ((SELECT jsonb_object_agg(p, e.member -> ''row'' -> p) FROM unnest(m.pk_columns) AS p) = v.row_key -> ''key'''
    '        %s)',
    CASE WHEN to_regclass('pg_temp.tdm_keymap') IS NOT NULL
         THEN ' OR EXISTS (SELECT 1 FROM pg_temp.tdm_keymap k WHERE k.rel = v.rel AND k.env = v.row_key ->> ''env'''
              '            AND k.new_json = v.row_key -> ''key'''
              '            AND (k.conflict_id = c.conflict_id'
              '                 OR k.old_json = (SELECT jsonb_object_agg(p, e.member -> ''row'' -> p)'
              '                                    FROM unnest(m.pk_columns) AS p)))'
         ELSE '' END)
    INTO found USING run;
  RETURN found;
END
$$;

-- Whether unique violation `v` is of a key its row was given by the
-- decision the violation names: its renames for that row's member, or
-- its merged values, set a column of the key.
CREATE FUNCTION tdm._decision_gave_key(v tdm.violation) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT FROM tdm.decision d
                   JOIN tdm.conflict_member cm ON cm.run_id = v.run_id AND cm.conflict_id = d.conflict_id
                  CROSS JOIN LATERAL jsonb_object_keys(v.detail -> 'values') AS k(col)
                  WHERE d.conflict_id = v.detail -> 'decision' ->> 'conflict_id'
                    AND cm.env = v.row_key ->> 'env'
                    AND cm.row @> coalesce(v.row_key -> 'env_key', v.row_key -> 'key')
                    AND (d.merged ? k.col OR d.renames -> cm.label ? k.col))
$$;

-- Whether violation `v` is of an index validation checks by computed keys
-- (of its table in `target` or in master).
CREATE FUNCTION tdm._computed_violation(v tdm.violation, target text) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid
                  WHERE i.indrelid IN (tdm._target_table(target, v.rel), tdm._target_table('master', v.rel))
                    AND ci.relname = v.detail ->> 'constraint' AND tdm._computed_keys(i.indexrelid))
$$;

-- The equality operators of index `idx`'s key columns, schema-qualified
-- (OPERATOR(public.=) of citext: validation's search_path holds
-- pg_catalog alone, where a bare = on two citext values would compare
-- them as text).
CREATE FUNCTION tdm._equality_operators(idx oid) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT array_agg(format('OPERATOR(%I.%s)', n.nspname, o.oprname) ORDER BY k.ord)
    FROM pg_index i
   CROSS JOIN LATERAL unnest(i.indclass::oid[]) WITH ORDINALITY AS k(opc, ord)
    JOIN pg_opclass oc ON oc.oid = k.opc
    JOIN pg_amop ao ON ao.amopfamily = oc.opcfamily AND ao.amoplefttype = oc.opcintype
                   AND ao.amoprighttype = oc.opcintype AND ao.amopstrategy = 3  -- (btree's equal)
    JOIN pg_operator o ON o.oid = ao.amopopr
    JOIN pg_namespace n ON n.oid = o.oprnamespace
   WHERE i.indexrelid = idx AND k.ord <= i.indnkeyatts
$$;

-- Rows `parent_alias` and `child_alias` matched by foreign key `name` of
-- table `child`, as PostgreSQL matches them: the key's own equality
-- operators, schema-qualified (citext's), on its operand types, under the
-- referenced columns' collations (a case-insensitive one). A reference
-- declared to tdm alone (the managed table's foreign_keys, no constraint)
-- by =, column by column.
CREATE FUNCTION tdm._fk_match(child regclass, name text, parent_alias text, child_alias text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(
    (SELECT string_agg(format('(%s.%I%s) OPERATOR(%I.%s) (%s.%I%s%s)',
                              parent_alias, pa.attname,
                              CASE WHEN pa.atttypid <> o.oprleft THEN '::' || format_type(o.oprleft, -1) END,
                              n.nspname, o.oprname, child_alias, ca.attname,
                              CASE WHEN ca.atttypid <> o.oprright THEN '::' || format_type(o.oprright, -1) END,
                              tdm._collate_clause(pa.attcollation)),
                       ' AND ' ORDER BY k.ord)
       FROM pg_constraint c
      CROSS JOIN LATERAL unnest(c.conkey, c.confkey, c.conpfeqop) WITH ORDINALITY AS k(child_col, parent_col, op, ord)
       JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.child_col
       JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.parent_col
       JOIN pg_operator o ON o.oid = k.op JOIN pg_namespace n ON n.oid = o.oprnamespace
      WHERE c.conrelid = child AND c.conname = name AND c.contype = 'f'),
    (SELECT string_agg(format('%s.%I = %s.%I', parent_alias, a.ref, child_alias, a.col), ' AND ' ORDER BY a.n)
       FROM tdm.managed_table m
      CROSS JOIN LATERAL jsonb_array_elements(m.foreign_keys) AS fk
      CROSS JOIN LATERAL unnest(ARRAY(SELECT jsonb_array_elements_text(fk->'columns')),
                                ARRAY(SELECT jsonb_array_elements_text(fk->'ref_columns')))
                         WITH ORDINALITY AS a(col, ref, n)
      WHERE m.rel = child AND fk->>'name' = name))
$$;

-- Parent row `parent_alias`'s first referenced column, compared by
-- foreign key `name`'s own operator with any of the child's values that
-- `child_rows` gives (FROM ... WHERE ..., alias t): a filter a foreign
-- scan can ship (the values as one array parameter), as
-- tdm._read_env_tags reads environments by key; array values as rows,
-- the environment's rows all read.
CREATE FUNCTION tdm._fk_first_in(child regclass, name text, parent_alias text, child_rows text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT format(CASE WHEN tdm._is_array(child, ca.attname)
                     THEN '(%s.%I%s%s) OPERATOR(%I.%s) ANY (SELECT DISTINCT t.%I%s %s)'
                     ELSE '(%s.%I%s%s) OPERATOR(%I.%s) ANY (ARRAY(SELECT DISTINCT t.%I%s %s))' END,
                parent_alias, pa.attname,
                CASE WHEN pa.atttypid <> o.oprleft THEN '::' || format_type(o.oprleft, -1) END,
                tdm._collate_clause(pa.attcollation), n.nspname, o.oprname, ca.attname,
                CASE WHEN ca.atttypid <> o.oprright THEN '::' || format_type(o.oprright, -1) END,
                child_rows)
    FROM pg_constraint c
    JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = c.conkey[1]
    JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = c.confkey[1]
    JOIN pg_operator o ON o.oid = c.conpfeqop[1] JOIN pg_namespace n ON n.oid = o.oprnamespace
   WHERE c.conrelid = child AND c.conname = name AND c.contype = 'f'
$$;

-- Rows x and t equal on a unique key (tdm._unique_keys): its columns
-- compared by its `equals` operators under its collations, NULLs equal
-- when the index says so.
CREATE FUNCTION tdm._unique_match(cols text[], collations text[], nulls_equal bool, equals text[])
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT string_agg(format(CASE WHEN nulls_equal
                                THEN '(x.%1$I %2$s t.%1$I%3$s OR x.%1$I IS NULL AND t.%1$I IS NULL)'
                                ELSE 'x.%1$I %2$s t.%1$I%3$s' END,
                           c, coalesce(op, '='), coll), ' AND ')
    FROM unnest(cols, collations, equals) AS u(c, coll, op)
$$;

-- Records the release's rows (`source`, alias t, as validation reads
-- them; `row_key` over t) that index `idx` refuses, their keys computed as
-- the index computes them (expressions, a partial index's predicate): a
-- unique index on expressions or with a predicate (keys equal), or an
-- exclusion constraint's (keys related by its operators). Among the rows
-- themselves (`among_rows`), and against other releases' rows in
-- `other_rel` (the target, or master), not counting rows that collide in
-- `but_not_rel` too (whose own check flags them). Returns the count.
CREATE FUNCTION tdm._check_computed_keys(run bigint, the_rel regclass, release text, source text,
                                         row_key text, idx regclass, other_rel regclass,
                                         among_rows bool, but_not_rel regclass DEFAULT NULL,
                                         partition_bound text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  release_column text := (SELECT m.release_column FROM tdm.managed_table m WHERE m.rel = the_rel);
  i pg_index;
  exclusion text;    -- the exclusion constraint's name, else NULL
  key_names text[];  -- tdm_key_1, ...
  key_list text;     -- (expr) AS tdm_key_1, ...
  values_json text;  -- the keys as the violation's detail shows them
  matches text;      -- rows x and t collide
  collations text[];
  hash_join text := current_setting('enable_hashjoin');
  merge_join text := current_setting('enable_mergejoin');
  predicate text;
  n bigint;
  found_rows bigint := 0;
BEGIN
  SELECT * INTO i FROM pg_index x WHERE x.indexrelid = idx;
  SELECT c.conname INTO exclusion FROM pg_constraint c WHERE c.conindid = idx AND c.contype = 'x';
  predicate := coalesce(pg_get_expr(i.indpred, i.indrelid), 'true')
               -- (an index of one partition: the rows it would hold)
               || coalesce(' AND (' || partition_bound || ')', '');  -- (none: a lone default partition)
  SELECT array_agg('tdm_key_' || k ORDER BY k),
         string_agg(format('(%s) AS tdm_key_%s', pg_get_indexdef(idx, k, false), k), ', ' ORDER BY k),
         format('jsonb_build_object(%s)',
                string_agg(format('%L, t.tdm_key_%s', pg_get_indexdef(idx, k, false), k), ', ' ORDER BY k))
    INTO key_names, key_list, values_json
    FROM generate_series(1, i.indnkeyatts) AS k;
  -- (each key under the index's collation: a case-insensitive one
  -- groups 'Ann@x' with 'ann@X')
  collations := tdm._index_collations(idx);
  IF exclusion IS NULL THEN
    matches := tdm._unique_match(key_names, collations, i.indnullsnotdistinct, tdm._equality_operators(idx));
  ELSE
    SELECT string_agg(format('x.tdm_key_%s OPERATOR(%I.%s) t.tdm_key_%s', k.ord, n.nspname, o.oprname, k.ord),
                      ' AND ' ORDER BY k.ord)
      INTO matches
      FROM pg_constraint c CROSS JOIN LATERAL unnest(c.conexclop) WITH ORDINALITY AS k(op, ord)
      JOIN pg_operator o ON o.oid = k.op JOIN pg_namespace n ON n.oid = o.oprnamespace
     WHERE c.conindid = idx AND c.contype = 'x';
  END IF;

  IF among_rows THEN
    IF to_regclass('pg_temp.tdm_keyed') IS NOT NULL THEN
      DROP TABLE pg_temp.tdm_keyed;
    END IF;
    EXECUTE format('CREATE TEMP TABLE tdm_keyed ON COMMIT DROP AS SELECT t.*, %s FROM %s t WHERE (%s)',
                   key_list, source, predicate);
    IF exclusion IS NULL THEN
      -- (keys grouped, then their rows: a window would sort whole rows)
      EXECUTE format(
        'INSERT INTO tdm.violation (run_id, rel, kind, severity, row_key, detail)'
        ' SELECT $1, $2, ''unique'', ''error'', %1$s,'
        '        jsonb_build_object(''constraint'', $3, ''values'', %2$s, ''with'', ''other collected rows'')'
        '   FROM pg_temp.tdm_keyed t'
        '  WHERE EXISTS (SELECT 1 FROM (SELECT %3$s FROM pg_temp.tdm_keyed t GROUP BY %5$s'
        '                                HAVING count(*) > 1) x WHERE %4$s)',
        row_key, values_json,
        (SELECT string_agg(format('t.%I%s AS %I', k, coll, k), ', ')
           FROM unnest(key_names, collations) AS u(k, coll)),
        matches, (SELECT string_agg(g.o::text, ', ') FROM generate_series(1, cardinality(key_names)) AS g(o)))
        USING run, the_rel, (SELECT c.relname::text FROM pg_class c WHERE c.oid = idx);
      GET DIAGNOSTICS n = ROW_COUNT;
    ELSE
      -- Each row against the others, through an index like the
      -- constraint's (its access method and operator classes).
      EXECUTE format('CREATE INDEX ON pg_temp.tdm_keyed USING %I (%s)',
                     (SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.oid = idx),
                     (SELECT string_agg(format('tdm_key_%s %I.%I', k.ord, n.nspname, oc.opcname), ', '
                                        ORDER BY k.ord)
                        FROM unnest(i.indclass::oid[]) WITH ORDINALITY AS k(opc, ord)
                        JOIN pg_opclass oc ON oc.oid = k.opc JOIN pg_namespace n ON n.oid = oc.opcnamespace
                       WHERE k.ord <= i.indnkeyatts));
      ANALYZE pg_temp.tdm_keyed;
      -- (Through that index, row by row: a hash join on the equal keys
      -- would compare every pair of a room's bookings.)
      PERFORM set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true);
      EXECUTE format(
        'INSERT INTO tdm.violation (run_id, rel, kind, severity, row_key, detail)'
        ' SELECT $1, $2, ''check'', ''error'', %1$s,'
        '        jsonb_build_object(''constraint'', $3, ''values'', %2$s, ''with'', ''other collected rows'')'
        '   FROM pg_temp.tdm_keyed t'
        '  WHERE EXISTS (SELECT 1 FROM pg_temp.tdm_keyed x WHERE %3$s'
        '                   AND (x.tdm_env, x.tdm_row_hash) IS DISTINCT FROM (t.tdm_env, t.tdm_row_hash))',
        row_key, values_json, matches)
        USING run, the_rel, exclusion;
      GET DIAGNOSTICS n = ROW_COUNT;
      PERFORM set_config('enable_hashjoin', hash_join, true), set_config('enable_mergejoin', merge_join, true);
    END IF;
    found_rows := found_rows + n;
    DROP TABLE pg_temp.tdm_keyed;
  END IF;

  EXECUTE format(
    'INSERT INTO tdm.violation (run_id, rel, kind, severity, row_key, detail)'
    ' SELECT $1, $2, %1$L, ''error'', %2$s,'
    '        jsonb_build_object(''constraint'', $4, ''values'', %3$s, ''with'', %4$L,'
    '                           ''other'', (SELECT %11$s FROM %8$s x WHERE %9$s LIMIT 1))'
    '   FROM (SELECT t.*, %5$s FROM %6$s t WHERE (%7$s)) t'
    '  WHERE EXISTS (SELECT 1 FROM %8$s x WHERE %9$s)%10$s',
    CASE WHEN exclusion IS NULL THEN 'unique' ELSE 'check' END, row_key, values_json,
    'rows of other releases in ' || other_rel::text, key_list, source, predicate,
    tdm._computed_keys_of(key_list, other_rel, predicate, release_column), matches,
    CASE WHEN but_not_rel IS NOT NULL
         THEN format(' AND NOT EXISTS (SELECT 1 FROM %s x WHERE %s)',
                     tdm._computed_keys_of(key_list, but_not_rel, predicate, release_column), matches)
         ELSE '' END,
    tdm._other_release_row(the_rel))
    USING run, the_rel, release, coalesce(exclusion, (SELECT c.relname::text FROM pg_class c WHERE c.oid = idx));
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN found_rows + n;
END
$$;

-- The keys (`key_list`: (expr) AS tdm_key_1, ...) of the rows of other
-- releases ($3) in `rel` that `predicate` holds for.
CREATE FUNCTION tdm._computed_keys_of(key_list text, rel regclass, predicate text, release_column text)
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format('(SELECT t.*, %s FROM %s t WHERE (%s) AND t.%I IS DISTINCT FROM $3)', key_list, rel, predicate,
                release_column)
$$;

-- The unique indexes and exclusion constraints of `rel`'s partitions
-- that are theirs alone (no partition of an index of the parent), with
-- the partition and its bound (NULL: a lone default partition's, every
-- row).
CREATE FUNCTION tdm._partition_keys(rel regclass)
RETURNS TABLE (idx regclass, part regclass, part_name name, bound text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT i.indexrelid::regclass, l.relid, pc.relname, pg_get_partition_constraintdef(l.relid)
    FROM pg_partition_tree(rel) l
    JOIN pg_class pc ON pc.oid = l.relid
    JOIN pg_index i ON i.indrelid = l.relid
    JOIN pg_class ci ON ci.oid = i.indexrelid
   WHERE l.relid <> rel
     AND (i.indisunique OR EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype = 'x'))
     AND NOT EXISTS (SELECT FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
   ORDER BY ci.relname
$$;

-- A unique violation's `other` (over a row x of another release that
-- the row collides with): that row's release and primary key, so the
-- DBA finds it without searching for the values.
CREATE FUNCTION tdm._other_release_row(the_rel regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT format('jsonb_build_object(''release'', x.%I, ''key'', %s)', m.release_column,
                tdm._key_json(the_rel, m.pk_columns, 'x'))
    FROM tdm.managed_table m WHERE m.rel = the_rel
$$;

-- A business rule's predicate as validation evaluates it on a row t: true
-- when the row breaks it (NULL passes, as in a CHECK). The line break ends
-- a -- comment at the end of the predicate.
CREATE FUNCTION tdm._rule_broken(predicate text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format(E'NOT coalesce((%s\n), true)', predicate)
$$;

-- The managed tables as the rules read them, by their bare names: temporary
-- views (one per managed table whose name is no other managed table's or
-- the catalog's) of the target as the load will leave it, this release's
-- consolidated rows (`release`; the collected tables) and the target's
-- rows of other releases. Without a release (tdm.add_rule), the managed
-- tables themselves, for planning. Only the tables whose names appear in
-- `predicates` (a view locks its tables: a rule that names none locks
-- nothing). tdm._drop_rule_views drops them.
CREATE FUNCTION tdm._rule_views(target text, release text, predicates text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  m tdm.managed_table;
  name text;
  target_rel regclass;
  master_rel regclass;
  columns text;
  cast_columns text;
  shadow text;
BEGIN
  PERFORM tdm._drop_rule_views();
  PERFORM set_config('tdm_rule.release', coalesce(release, ''), true);
  FOR m IN
    SELECT x.* FROM tdm.managed_table x JOIN pg_class c ON c.oid = x.rel
     WHERE (SELECT count(*) FROM tdm.managed_table y JOIN pg_class d ON d.oid = y.rel
             WHERE d.relname = c.relname) = 1
       AND NOT EXISTS (SELECT FROM pg_class d WHERE d.relname = c.relname
                          AND d.relnamespace = 'pg_catalog'::regnamespace)
       AND strpos(lower(predicates), lower(c.relname::text)) > 0
     ORDER BY x.rel::text LOOP
    name := tdm._rule_alias(m.rel);
    -- (The views are temporary: the session needs TEMPORARY on the database.)
    IF NOT has_database_privilege(current_database(), 'TEMPORARY') THEN
      RAISE EXCEPTION 'business rules name managed table %, and % may not create the temporary view they read it through in database %',
        m.rel, current_user, current_database()
        USING ERRCODE = 'insufficient_privilege',
              HINT = format('The database''s owner grants it: GRANT TEMPORARY ON DATABASE %I TO %I;',
                            current_database(), current_user);
    END IF;
    -- A temporary relation of the session's own under that name would be
    -- read in its place: refused, not read.
    shadow := (SELECT format('%s %s', CASE d.relkind WHEN 'v' THEN 'view' ELSE 'table' END, d.relname)
                 FROM pg_class d WHERE d.relnamespace = pg_my_temp_schema() AND d.relname = name);
    IF shadow IS NOT NULL THEN
      RAISE EXCEPTION 'the temporary % of this session hides managed table % from the business rules that name it',
        shadow, m.rel
        USING ERRCODE = 'duplicate_table',
              HINT = format('Drop it (DROP TABLE pg_temp.%I;), or call tdm from another session.', name);
    END IF;
    target_rel := CASE WHEN release IS NOT NULL THEN tdm._target_table(target, m.rel) END;
    master_rel := CASE WHEN release IS NOT NULL THEN tdm._target_table('master', m.rel) END;
    columns := (SELECT string_agg(format('%I', c.column_name), ', ' ORDER BY c.ordinal) FROM tdm._columns(m.rel) c);
    cast_columns := (SELECT string_agg(format('CAST(x.%I AS %s)', c.column_name, c.column_type), ', '
                                       ORDER BY c.ordinal) FROM tdm._columns(m.rel) c);
    IF release IS NULL THEN
      EXECUTE format('CREATE TEMP VIEW %I AS SELECT * FROM ONLY %s', name, m.rel);
    ELSE
      -- The release's rows, the target's rows of other releases, and
      -- master's rows of other releases the target lacks (a load into
      -- another target brings those the release references along).
      EXECUTE format('CREATE TEMP VIEW %I AS SELECT %s FROM pg_temp.%I%s%s', name, columns,
                     tdm._collected_name(m.rel),
                     CASE WHEN target_rel IS NOT NULL THEN format(
                       ' UNION ALL SELECT %s FROM %s x WHERE x.%I IS DISTINCT FROM current_setting(''tdm_rule.release'')',
                       cast_columns, target_rel, m.release_column) ELSE '' END,
                     CASE WHEN master_rel IS NOT NULL AND master_rel IS DISTINCT FROM target_rel THEN format(
                       ' UNION ALL SELECT %s FROM %s x WHERE x.%I IS DISTINCT FROM current_setting(''tdm_rule.release'')%s',
                       cast_columns, master_rel, m.release_column,
                       CASE WHEN target_rel IS NOT NULL THEN format(
                         ' AND NOT EXISTS (SELECT 1 FROM %s y WHERE %s)', target_rel,
                         (SELECT string_agg(format('y.%1$I = x.%1$I', k), ' AND ') FROM unnest(m.pk_columns) k))
                       ELSE '' END) ELSE '' END);
    END IF;
    EXECUTE format('COMMENT ON VIEW pg_temp.%I IS %L', name, 'tdm rule view');
  END LOOP;
END
$$;

CREATE FUNCTION tdm._drop_rule_views() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v text;
BEGIN
  FOR v IN SELECT c.relname FROM pg_class c
            WHERE c.relnamespace = pg_my_temp_schema() AND c.relkind = 'v'
              AND obj_description(c.oid, 'pg_class') = 'tdm rule view' LOOP
    EXECUTE format('DROP VIEW pg_temp.%I', v);
  END LOOP;
END
$$;

-- The name a rule reads its row under: the table's own (`invoice` in
-- `(SELECT sum(l.amount) FROM invoice_line l WHERE l.invoice_id =
-- invoice.invoice_id)`, where a bare invoice_id would be the line's).
CREATE FUNCTION tdm._rule_alias(rel regclass) RETURNS name
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT relname FROM pg_class WHERE oid = rel
$$;

-- Raises, naming it, the first rule of `the_rel` that fails on a row of
-- `source` (the rows as validation reads them, under the table's name);
-- returns when none does.
CREATE FUNCTION tdm._raise_failing_rule(the_rel regclass, source text, checks text)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r tdm.rule;
  failed_with text;
  failed_state text;
  failed_in text;  -- the error's context
BEGIN
  FOR r IN SELECT x.* FROM tdm.rule x WHERE x.rel = the_rel AND checks <> 'constraints' ORDER BY x.name LOOP
    BEGIN
      EXECUTE format('SELECT count(*) FROM %s %I WHERE %s', source, tdm._rule_alias(the_rel),
                     tdm._rule_broken(r.predicate));
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS failed_with = MESSAGE_TEXT, failed_state = RETURNED_SQLSTATE,
                              failed_in = PG_EXCEPTION_CONTEXT;
      RAISE EXCEPTION 'consolidate: rule "%" on % failed on the release''s rows: %', r.name, the_rel, failed_with
        USING ERRCODE = failed_state,
              DETAIL = format('Its predicate: %s', r.predicate)
                       || CASE WHEN tdm._raising_function(failed_in) IS NOT NULL
                               THEN E'\nRaised in: ' || split_part(failed_in, E'\n', 1) ELSE '' END,
              HINT = coalesce(tdm._search_path_advice(failed_state, failed_in) || ' Then consolidate again.',
                              format('Change the rows, or what the predicate calls, or replace the rule'
                                     ' (SELECT tdm.drop_rule(%L); then tdm.add_rule); then consolidate again.',
                                     r.name));
    END;
  END LOOP;
END
$$;

-- Records the violations of one table; returns the error-level count.
-- `checks`: 'all', 'rules' (the business rules alone) or 'constraints'
-- (the target's constraints alone).
CREATE FUNCTION tdm._validate_table(run bigint, release text, target text, the_rel regclass,
                                    checks text DEFAULT 'all')
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  m tdm.managed_table;
  target_rel regclass := tdm._target_table(target, the_rel);
  -- (master, when it has the table; never the target, tdm._consolidate_check)
  master_rel regclass := tdm._target_table('master', the_rel);
  collected regclass := format('pg_temp.%I', tdm._collected_name(the_rel))::regclass;
  row_key text;
  con record;
  parent tdm.managed_table;
  matches text;
  in_collected text;
  same_entity text;  -- a parent row x is the entity an orphan's deleted parent (o.old_row) was
  one_key text;  -- rows x and t hold one key as detection compares it (normalize_keys)
  errors bigint := 0;
  n bigint;
  merged_conflicts text[];  -- conflicts whose merge or renames set values
  merged_rows jsonb[];  -- {env, key} of their rows, before and after
  row_checks text;
  any_failed text;
  -- The rows checked: the collected ones, as the target's column types
  -- hold them where those differ (a value rounded or shortened on store)
  source text := collected::text;
  unfit bigint := 0;
  -- Every check appends rows (row_key, detail) to tdm.violation.
  insert_head text := 'INSERT INTO tdm.violation (run_id, rel, kind, severity, row_key, detail) ';
BEGIN
  SELECT * INTO m FROM tdm.managed_table WHERE rel = the_rel;
  row_key := format('jsonb_build_object(''env'', t.tdm_env, ''key'', %s)',
                    tdm._key_json(the_rel, m.pk_columns, 't'));

  -- Columns of the target of another type than the managed table's: the
  -- values the type refuses (a narrower varchar or numeric, a domain's
  -- CHECK). When every value fits, the other checks see the rows as the
  -- target will hold them.
  IF checks <> 'rules' THEN
    FOR con IN SELECT * FROM tdm._retyped_columns(the_rel, target_rel) LOOP
      unfit := unfit + tdm._check_fit(run, the_rel, collected, row_key, con.column_name, con.column_type);
      source := NULL;
    END LOOP;
    errors := errors + unfit;
    IF source IS NULL THEN
      source := CASE WHEN unfit > 0 THEN collected::text
                     ELSE format('(SELECT t.tdm_env, t.tdm_row_hash, %s FROM %s t)',
                                 (SELECT string_agg(CASE WHEN r.column_type IS NOT NULL
                                                         THEN format('CAST(t.%1$I AS %2$s) AS %1$I', c.column_name,
                                                                     r.column_type)
                                                         ELSE format('t.%I', c.column_name) END, ', '
                                                    ORDER BY c.ordinal)
                                    FROM tdm._columns(the_rel) c
                                    LEFT JOIN tdm._retyped_columns(the_rel, target_rel) r USING (column_name)),
                                 collected) END;
    END IF;
  END IF;

  -- Row by row, in one scan: NOT NULL columns of the target, its CHECK
  -- constraints (NULL passes, as in PostgreSQL) and the business rules.
  -- Each check is (failed, kind, severity, detail); the rows failing none
  -- are filtered out before the checks are listed.
  SELECT string_agg(format('(%s, %L, %L, %s)', c.failed, c.kind, c.severity, c.detail), ', '
                    ORDER BY c.n, c.m),
         string_agg(format('(%s)', c.failed), ' OR ')
    INTO row_checks, any_failed
    FROM (SELECT 1 AS n, a.attnum AS m, format('%I.%I IS NULL', tdm._rule_alias(the_rel), a.attname) AS failed,
                 'not_null' AS kind, 'error' AS severity,
                 format('jsonb_build_object(''column'', %L, ''message'', %L)', a.attname,
                        format('%s is NULL; the target requires a value', a.attname)) AS detail
            FROM pg_attribute a
           WHERE a.attrelid = target_rel AND a.attnum > 0 AND NOT a.attisdropped
             AND a.attnotnull AND a.attgenerated = '' AND checks <> 'rules'
          UNION ALL
          -- (NOT NULL on one partition only: on the rows it would hold)
          SELECT 1, 10000 + row_number() OVER (ORDER BY l.relid::regclass::text, a.attname),
                 format('%I.%I IS NULL AND coalesce((%s), true)', tdm._rule_alias(the_rel), a.attname,
                        coalesce(pg_get_partition_constraintdef(l.relid), 'true')),
                 'not_null', 'error',
                 format('jsonb_build_object(''column'', %L, ''partition'', %L, ''message'', %L)', a.attname,
                        l.relid::regclass::text,
                        format('%s is NULL; partition %s requires a value', a.attname, l.relid::regclass))
            -- (where its parent's column is nullable: a partition under it
            -- inherits the NOT NULL, and would flag the row again)
            FROM pg_partition_tree(target_rel) l
            JOIN pg_attribute a ON a.attrelid = l.relid AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull
            JOIN pg_attribute p ON p.attrelid = l.parentrelid AND p.attname = a.attname AND NOT p.attnotnull
           WHERE l.relid <> target_rel AND a.attgenerated = '' AND checks <> 'rules'
          UNION ALL
          -- (with the values of the columns it reads: what to change)
          SELECT 2, row_number() OVER (ORDER BY x.conname),
                 format('NOT coalesce((%s), true)', x.expr), 'check', 'error',
                 format('jsonb_build_object(''constraint'', %L, ''check'', %L%s)', x.conname, x.expr,
                        coalesce(', ''values'', jsonb_build_object(' || x.pairs || ')', ''))
            FROM (SELECT c.conname, pg_get_expr(c.conbin, c.conrelid) AS expr,
                         (SELECT string_agg(format('%L, %I.%I', a.attname, tdm._rule_alias(the_rel), a.attname),
                                            ', ' ORDER BY a.attnum)
                            FROM pg_attribute a
                           WHERE a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
                          HAVING count(*) <= 50) AS pairs
                    FROM pg_constraint c WHERE c.conrelid = target_rel AND c.contype = 'c') x
           WHERE checks <> 'rules'
          UNION ALL
          -- (A CHECK of one partition only: on the rows it would hold.)
          SELECT 2, 500 + row_number() OVER (ORDER BY x.part::text, x.conname),
                 format('NOT coalesce((%s), true) AND coalesce((%s), true)', x.expr, coalesce(x.bound, 'true')),
                 'check', 'error',
                 format('jsonb_build_object(''constraint'', %L, ''check'', %L, ''partition'', %L)',
                        x.conname, x.expr, x.part::regclass::text)
            FROM (SELECT c.conname, c.conrelid AS part, pg_get_expr(c.conbin, c.conrelid) AS expr,
                         pg_get_partition_constraintdef(c.conrelid) AS bound
                    FROM pg_partition_tree(target_rel) l
                    JOIN pg_constraint c ON c.conrelid = l.relid
                   WHERE l.relid <> target_rel AND c.contype = 'c' AND c.coninhcount = 0) x
           WHERE checks <> 'rules'
          UNION ALL
          -- A partitioned target: some partition must accept the row (a
          -- generated key past the last range, say).
          SELECT 2, 0, format('NOT coalesce((%s), false)', coalesce(p.expr, 'false')), 'check', 'error',
                 format('jsonb_build_object(''partition'', %L, ''message'', %L)', target_rel::text,
                        format('no partition of %s accepts the row: add one (or a default partition)',
                               target_rel))
            FROM (SELECT string_agg(format('(%s)', pg_get_partition_constraintdef(l.relid)), ' OR ')
                           AS expr,
                         bool_or(pg_get_partition_constraintdef(l.relid) IS NULL) AS open
                    FROM pg_partition_tree(target_rel) l WHERE l.isleaf) p
           WHERE checks <> 'rules' AND NOT coalesce(p.open, false)
             AND (SELECT c.relkind FROM pg_class c WHERE c.oid = target_rel) = 'p'
          UNION ALL
          -- A MATCH FULL foreign key whose columns are partly NULL: the
          -- target refuses the row, which the environment's key (MATCH
          -- SIMPLE, or none) let in.
          SELECT 2, 1000 + row_number() OVER (ORDER BY x.conname),
                 format('num_nulls(%s) BETWEEN 1 AND %s', x.cols, x.width - 1), 'foreign_key', 'error',
                 format('jsonb_build_object(''constraint'', %L, ''references'', %L, ''values'','
                        ' jsonb_build_object(%s), ''message'', %L)',
                        x.conname, x.parent, x.pairs,
                        format('MATCH FULL: %s must be all NULL or none NULL', x.names))
            FROM (SELECT c.conname, c.confrelid::regclass::text AS parent, count(*) AS width,
                         string_agg(format('%I.%I', tdm._rule_alias(the_rel), a.attname), ', ' ORDER BY k.i)
                           AS cols,
                         string_agg(format('%L, %I.%I', a.attname, tdm._rule_alias(the_rel), a.attname), ', '
                                    ORDER BY k.i) AS pairs,
                         string_agg(quote_ident(a.attname), ', ' ORDER BY k.i) AS names
                    FROM pg_constraint c
                   CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(n, i)
                    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
                   WHERE c.conrelid = target_rel AND c.contype = 'f' AND c.confmatchtype = 'f'
                     AND c.conparentid = 0
                   GROUP BY c.oid, c.conname, c.confrelid) x
           WHERE checks <> 'rules' AND x.width > 1
          UNION ALL
          SELECT 3, row_number() OVER (ORDER BY r.name),
                 tdm._rule_broken(r.predicate), 'rule', r.severity,
                 format('jsonb_build_object(''rule'', %L, ''predicate'', %L)', r.name, r.predicate)
            FROM tdm.rule r WHERE r.rel = the_rel AND checks <> 'constraints'
         ) c(n, m, failed, kind, severity, detail);
  IF row_checks IS NOT NULL THEN
    BEGIN
      -- (The rows under the table's name, as the rules read them.)
      EXECUTE format(
        'WITH found AS (%s SELECT $1, $2, tdm_v.tdm_kind, tdm_v.tdm_severity, %s, tdm_v.tdm_detail'
        '                 FROM %s %I CROSS JOIN LATERAL (VALUES %s)'
        '                      AS tdm_v(tdm_failed, tdm_kind, tdm_severity, tdm_detail)'
        '                WHERE (%s) AND tdm_v.tdm_failed RETURNING severity)'
        ' SELECT count(*) FILTER (WHERE severity = ''error'') FROM found',
        insert_head,
        format('jsonb_build_object(''env'', %1$I.tdm_env, ''key'', %2$s)', tdm._rule_alias(the_rel),
               tdm._key_json(the_rel, m.pk_columns, tdm._rule_alias(the_rel))),
        source, tdm._rule_alias(the_rel), row_checks, any_failed)
        INTO n USING run, the_rel;
    EXCEPTION WHEN OTHERS THEN
      -- A business rule that fails on a row (a division by zero, a table
      -- its caller may not read, a function that raises) is named, one
      -- rule at a time; anything else is raised as it came.
      PERFORM tdm._raise_failing_rule(the_rel, source, checks);
      RAISE;
    END;
    errors := errors + n;
  END IF;

  -- A reference of the table to itself (a hierarchy's parent) that
  -- leads back to the row through rows of more than one environment: a
  -- cycle none of them holds, which the conflicts' rules made by choosing
  -- each row on its own (st1's A under B, st2's B under A). A foreign key
  -- does not see it. (Within one environment's rows, the environment has
  -- it: left alone.)
  IF checks <> 'constraints' AND to_regclass('pg_temp.tdm_edges') IS NOT NULL THEN
    FOR con IN SELECT x.* FROM pg_temp.tdm_edges x WHERE x.child = the_rel AND x.parent = the_rel
                ORDER BY x.name LOOP
      EXECUTE format(
        'WITH RECURSIVE walk AS ('
        '   SELECT t.tdm_env AS env, %1$s AS key, %2$s AS start_key, %3$s AS next, ARRAY[%1$s] AS path,'
        '          ARRAY[t.tdm_env] AS envs, %4$s AS fk_values'
        '     FROM %5$s t WHERE %6$s'
        -- (from rows whose parent is another environment's: a cycle of
        -- several environments' rows has one; bounded, as a hierarchy is)
        '      AND EXISTS (SELECT FROM %5$s p WHERE %8$s = %3$s AND p.tdm_env NOT IN (t.tdm_env, ''master''))'
        '   UNION ALL'
        '   SELECT w.env, w.key, w.start_key, %7$s, w.path || %8$s, w.envs || p.tdm_env, w.fk_values'
        '     FROM walk w JOIN %5$s p ON %8$s = w.next'
        '    WHERE w.next <> w.key AND NOT %8$s = ANY (w.path) AND p.tdm_env <> ''master'''
        '      AND cardinality(w.path) < 1000),'
        ' cycles AS (SELECT DISTINCT ON (w.env, w.key) w.* FROM walk w'
        '             WHERE w.next = w.key AND cardinality(w.path) > 1'
        '               AND (SELECT count(DISTINCT e) FROM unnest(w.envs) AS e) > 1'
        '             ORDER BY w.env, w.key, cardinality(w.path)),'
        ' found AS (%9$s SELECT $1, $2, ''foreign_key'', ''error'','
        '                 jsonb_build_object(''env'', c.env, ''key'', c.start_key),'
        '                 jsonb_build_object(''constraint'', $3, ''references'', $2::regclass::text,'
        '                                    ''values'', c.fk_values,'
        '                                    ''message'', format($4,'
        '                                                      cardinality(c.path) - 1,'
        '                                                      (SELECT string_agg(DISTINCT e, '', '') FROM unnest(c.envs) AS e),'
        '                                                      replace(array_to_string(c.path, '' -> ''), chr(31), '','')))'
        '              FROM cycles c RETURNING 1)'
        ' SELECT count(*) FROM found',
        format('array_to_string(%s, chr(31))', tdm._key_text(m.pk_columns, 't')),
        tdm._key_json(the_rel, m.pk_columns, 't'),
        format('array_to_string(%s, chr(31))', tdm._key_text(con.columns, 't')),
        format('jsonb_build_object(%s)', (SELECT string_agg(format('%L, t.%I', c, c), ', ')
                                            FROM unnest(con.columns) AS c)),
        collected,
        '(' || (SELECT string_agg(format('t.%I IS NOT NULL', c), ' AND ') FROM unnest(con.columns) AS c)
        || ') AND t.tdm_env <> ''master''',
        format('CASE WHEN %s THEN array_to_string(%s, chr(31)) END',
               (SELECT string_agg(format('p.%I IS NOT NULL', c), ' AND ') FROM unnest(con.columns) AS c),
               tdm._key_text(con.columns, 'p')),
        format('array_to_string(%s, chr(31))', tdm._key_text(m.pk_columns, 'p')),
        insert_head)
        INTO n USING run, the_rel, con.name,
                     'its reference leads back to it through %s row(s) of environments %s (keys %s): a cycle'
                     ' no environment holds, made by how their conflicts were resolved; decide one of them otherwise';
      errors := errors + n;
    END LOOP;
  END IF;

  -- The release's rows against master's rows of other releases, on
  -- master's unique indexes (as promote will meet them), in the first
  -- pass whatever the checks: the load into the target does not meet
  -- them, and a unique key that is no natural key formed no conflicts
  -- with master's rows. The primary key and natural keys only for the
  -- rows whose values a merge or a decision's renames set: conflicts
  -- matched the others with master's rows by them as collected, but a
  -- rule's merge may fill a NULL of one with another member's value.
  -- (Rows the target already flags against its own rows of other
  -- releases are not flagged twice.)
  IF master_rel IS NOT NULL AND checks <> 'constraints' THEN
    SELECT coalesce(array_agg(DISTINCT c.conflict_id), '{}'),
           coalesce(array_agg(DISTINCT jsonb_build_object(
                      'env', e.member ->> 'env',
                      'key', (SELECT jsonb_object_agg(p, e.member -> 'row' -> p) FROM unnest(m.pk_columns) AS p))),
                    '{}')
      INTO merged_conflicts, merged_rows
      FROM tdm.conflict c
      LEFT JOIN tdm.decision d ON d.conflict_id = c.conflict_id AND c.status IN ('decided', 'applied')
     CROSS JOIN LATERAL jsonb_array_elements(c.members) AS e(member)
     WHERE c.run_id = run AND c.rel = the_rel
       AND ((c.status = 'auto_resolved' AND c.rule = 'non_conflicting_merge')
            OR d.merged IS NOT NULL OR d.renames IS NOT NULL);
    -- (and by the keys those rows have now, where a rename or tdm gave
    -- them new ones: the call's key map)
    IF cardinality(merged_conflicts) > 0 AND to_regclass('pg_temp.tdm_keymap') IS NOT NULL THEN
      -- (by the conflict, or by the row: another conflict of the row, a
      -- key collision, may have re-keyed it)
      EXECUTE 'SELECT $1 || coalesce(array_agg(jsonb_build_object(''env'', k.env, ''key'', k.new_json)), ''{}'')'
              '  FROM pg_temp.tdm_keymap k WHERE k.rel = $2'
              -- (hashed subplans: a run may merge and re-key many rows)
              '   AND (k.conflict_id IN (SELECT unnest($3::text[]))'
              '        OR jsonb_build_object(''env'', k.env, ''key'', k.old_json) IN (SELECT unnest($1::jsonb[])))'
        INTO merged_rows USING merged_rows, the_rel, merged_conflicts;
    END IF;
    FOR con IN SELECT DISTINCT ON (x.sorted_cols) x.*,
                      -- (the target has that key too: its own check flags rows of it)
                      EXISTS (SELECT 1 FROM tdm._unique_keys(target_rel) k
                               WHERE k.sorted_cols = x.sorted_cols AND k.predicate IS NULL) AS in_target,
                      tdm._registered_key(the_rel, x.cols) AS registered
                 FROM tdm._unique_keys(master_rel) x
                WHERE x.predicate IS NULL AND x.cols IS NOT NULL
                  AND x.cols <@ ARRAY(SELECT column_name::text FROM tdm._columns(the_rel))
                ORDER BY x.sorted_cols, x.name LOOP
      CONTINUE WHEN con.registered AND cardinality(merged_rows) = 0;
      -- (A natural key registered with normalize_keys is one entity's
      -- whatever its case and surrounding blanks, as detection compares
      -- it: a value set in another case than master's row is flagged,
      -- though master's plain index would take both.)
      matches := tdm._unique_match(con.cols, con.collations, con.nulls_equal, con.equals);
      one_key := CASE WHEN con.registered AND tdm._normalized_key(m, con.cols)
                      THEN tdm._columns_match(the_rel, con.cols, 'x', 't', folded => true)
                      ELSE matches END;
      EXECUTE insert_head || format(
        'SELECT $1, $2, ''unique'', ''error'', %1$s,'
        '       jsonb_build_object(''constraint'', %2$L, ''values'', %3$s, ''with'', %4$L,'
        '                          ''other'', (SELECT %11$s FROM %7$s x WHERE %10$s AND x.%6$I IS DISTINCT FROM $3'
        '                                      LIMIT 1))'
        '  FROM %5$s t WHERE t.%6$I = $3'
        '   AND EXISTS (SELECT 1 FROM %7$s x WHERE %10$s AND x.%6$I IS DISTINCT FROM $3)'
        || CASE WHEN con.in_target
                THEN '   AND NOT EXISTS (SELECT 1 FROM %9$s x WHERE %8$s AND x.%6$I IS DISTINCT FROM $3)'
                ELSE '' END
        || CASE WHEN con.registered THEN '   AND %1$s IN (SELECT unnest($4::jsonb[]))' ELSE '' END,
        row_key, con.name, tdm._key_json(the_rel, con.cols, 't'), 'rows of other releases in ' || master_rel::text,
        source, m.release_column, master_rel, matches, target_rel, one_key, tdm._other_release_row(the_rel))
        USING run, the_rel, release, merged_rows;
      GET DIAGNOSTICS n = ROW_COUNT;
      errors := errors + n;
    END LOOP;
  END IF;

  -- The same for master's unique indexes on expressions or with a
  -- predicate, and its exclusion constraints (none of them a natural key).
  IF master_rel IS NOT NULL AND checks <> 'constraints' THEN
    FOR con IN SELECT i.indexrelid::regclass AS idx,
                      EXISTS (SELECT 1 FROM pg_index ti
                               WHERE ti.indrelid = target_rel
                                 AND tdm._index_keys_sql(ti.indexrelid) = tdm._index_keys_sql(i.indexrelid))
                        AS in_target
                 FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid
                WHERE i.indrelid = master_rel AND tdm._computed_keys(i.indexrelid)
                ORDER BY ci.relname LOOP
      errors := errors + tdm._check_computed_keys(run, the_rel, release, source, row_key, con.idx, master_rel,
                                                  false, CASE WHEN con.in_target THEN target_rel END);
    END LOOP;
    -- (and those of one of master's partitions, but for rows the target's
    -- partition of that name flags too)
    FOR con IN SELECT k.idx, k.part, k.bound,
                      (SELECT t.relid FROM pg_partition_tree(target_rel) t JOIN pg_class tc ON tc.oid = t.relid
                        WHERE tc.relname = k.part_name AND t.relid <> target_rel) AS target_part
                 FROM tdm._partition_keys(master_rel) k LOOP
      errors := errors + tdm._check_computed_keys(run, the_rel, release, source, row_key, con.idx, con.part,
                                                  false, con.target_part, con.bound);
    END LOOP;
  END IF;

  -- Rows kept though a decision deleted their parent (relationship
  -- conflicts decided keep): the key they hold was that parent's in its
  -- environment. A row of another release in the target or master with
  -- that key is their parent only when it is the same entity (by a natural
  -- key that has no foreign key column); any other row with that key
  -- would silently become their parent, so this is checked before the
  -- load, whose foreign keys it would pass.
  IF checks <> 'constraints' THEN
    FOR con IN SELECT o.name, o.parent, o.columns, o.ref_columns,
                      tdm._target_table(target, o.parent) AS parent_target,
                      tdm._target_table('master', o.parent) AS parent_master,
                      (SELECT pm FROM tdm.managed_table pm WHERE pm.rel = o.parent) AS pm
                 FROM (SELECT DISTINCT x.name, x.parent, x.columns, x.ref_columns
                         FROM pg_temp.tdm_orphans x WHERE x.rel = the_rel) o
                ORDER BY o.name LOOP
      matches := tdm._fk_match(the_rel, con.name, 'x', 't');
      same_entity := coalesce((SELECT string_agg(format('%s = %s',
                                  tdm._member_key(con.parent, string_to_array(g, ','), 'to_jsonb(x.*)',
                                                  tdm._normalized_key(con.pm, string_to_array(g, ',')), true),
                                  tdm._member_key(con.parent, string_to_array(g, ','), 'o.old_row',
                                                  tdm._normalized_key(con.pm, string_to_array(g, ',')), true)),
                                                ' OR ')
                                 FROM unnest(tdm._identifying_keys(con.pm)) AS g), 'false');
      EXECUTE insert_head || format(
        'SELECT $1, $2, ''foreign_key'', ''error'', %1$s,'
        '       jsonb_build_object(''constraint'', $3, ''references'', $4::text, ''values'', %2$s,'
        '                          ''message'', format(''its parent (%%s) in %%s was deleted by decision %%s,'
        ' and no row of another release is that entity'','
        '                                            array_to_string(o.key, '',''), o.parent_env, o.conflict_id))'
        '  FROM %3$s t JOIN pg_temp.tdm_orphans o'
        '    ON o.rel = $2 AND o.name = $3 AND o.env = t.tdm_env AND o.row_hash = t.tdm_row_hash'
        ' WHERE NOT EXISTS (SELECT 1 FROM %4$s x WHERE %5$s AND x.%6$I IS DISTINCT FROM $5 AND (%7$s))%8$s',
        row_key, tdm._key_json(the_rel, con.columns, 't'), source, con.parent_target, matches,
        (con.pm).release_column, same_entity,
        CASE WHEN con.parent_master IS NULL THEN ''
             ELSE format(' AND NOT EXISTS (SELECT 1 FROM %s x WHERE %s AND x.%I IS DISTINCT FROM $5 AND (%s))',
                         con.parent_master, matches, (con.pm).release_column, same_entity) END)
        USING run, the_rel, con.name, con.parent, release;
      GET DIAGNOSTICS n = ROW_COUNT;
      errors := errors + n;
    END LOOP;
  END IF;

  IF checks = 'rules' THEN
    RETURN errors;
  END IF;

  -- Unique indexes (primary key included): duplicates among the collected
  -- rows (keys grouped, then their rows: a window would sort whole rows),
  -- and collisions with other releases' rows already in the target.
  -- Values compared under the index's collations (a case-insensitive one
  -- makes 'A@x' and 'a@x' one key).
  FOR con IN SELECT * FROM tdm._unique_keys(target_rel) x
              WHERE x.predicate IS NULL AND x.cols IS NOT NULL ORDER BY x.name LOOP
    matches := tdm._unique_match(con.cols, con.collations, con.nulls_equal, con.equals);
    EXECUTE insert_head || format(
      'SELECT $1, $2, ''unique'', ''error'', %1$s,'
      '       jsonb_build_object(''constraint'', %2$L, ''values'', %3$s,'
      '                          ''with'', ''other collected rows'')'
      '  FROM %5$s t WHERE EXISTS (SELECT 1 FROM (SELECT %4$s FROM %5$s t WHERE %6$s'
      '                                           GROUP BY %4$s HAVING count(*) > 1) x'
      '                             WHERE %8$s)'
      ' UNION ALL '
      'SELECT $1, $2, ''unique'', ''error'', %1$s,'
      '       jsonb_build_object(''constraint'', %2$L, ''values'', %3$s,'
      '                          ''with'', ''rows of other releases in '' || $3::text,'
      '                          ''other'', (SELECT %10$s FROM %7$s x WHERE %8$s AND x.%9$I IS DISTINCT FROM $4'
      '                                      LIMIT 1))'
      '  FROM %5$s t WHERE EXISTS (SELECT 1 FROM %7$s x WHERE %8$s AND x.%9$I IS DISTINCT FROM $4)',
      row_key, con.name, tdm._key_json(the_rel, con.cols, 't'),
      (SELECT string_agg(format('t.%I%s', c, coll), ', ') FROM unnest(con.cols, con.collations) AS u(c, coll)),
      source,
      CASE WHEN con.nulls_equal THEN 'true'
           ELSE (SELECT string_agg(tdm._has_value(target_rel, 't', c), ' AND ') FROM unnest(con.cols) AS c) END,
      target_rel, matches, m.release_column, tdm._other_release_row(the_rel)) USING run, the_rel, target_rel, release;
    GET DIAGNOSTICS n = ROW_COUNT;
    errors := errors + n;
  END LOOP;

  -- Unique indexes on expressions or with a predicate (lower(email); one
  -- open booking a person) and exclusion constraints: the same, their
  -- keys computed as the index computes them.
  FOR con IN SELECT i.indexrelid::regclass AS idx FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid
              WHERE i.indrelid = target_rel AND tdm._computed_keys(i.indexrelid)
              ORDER BY ci.relname LOOP
    errors := errors + tdm._check_computed_keys(run, the_rel, release, source, row_key, con.idx, target_rel,
                                                true);
  END LOOP;

  -- Unique indexes and exclusion constraints of one partition only (an
  -- EXCLUDE on a month's bookings: PostgreSQL 15 allows none on a
  -- partitioned table): the release's rows that partition would hold,
  -- among themselves and against its rows of other releases.
  FOR con IN SELECT k.idx, k.part, k.bound FROM tdm._partition_keys(target_rel) k LOOP
    errors := errors + tdm._check_computed_keys(run, the_rel, release, source, row_key, con.idx, con.part,
                                                true, NULL, con.bound);
  END LOOP;

  -- Foreign keys: the parent among the collected rows (when it is a
  -- managed table) or among the target's rows (other releases' when managed).
  FOR con IN SELECT c.conname::text AS name, c.confrelid::regclass AS parent_rel,
                    ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
                            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
                           ORDER BY k.ord) AS cols,
                    ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, ord)
                            JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum
                           ORDER BY k.ord) AS ref_cols
               FROM pg_constraint c WHERE c.conrelid = target_rel AND c.contype = 'f' AND c.conparentid = 0
              ORDER BY c.conname LOOP
    matches := tdm._fk_match(target_rel, con.name, 'x', 't');
    parent := NULL;
    SELECT * INTO parent FROM tdm.managed_table pm
     WHERE tdm._target_table(target, pm.rel) = con.parent_rel;
    in_collected := CASE WHEN parent.rel IS NULL THEN 'false' ELSE format(
      'EXISTS (SELECT 1 FROM pg_temp.%I x WHERE %s)', tdm._collected_name(parent.rel), matches) END;
    -- An earlier release's parent in master comes along at load (the
    -- closure): not a violation.
    IF parent.rel IS NOT NULL AND tdm._target_table('master', parent.rel) IS NOT NULL THEN
      in_collected := format('(%s OR EXISTS (SELECT 1 FROM %s x WHERE %s))', in_collected,
                             tdm._target_table('master', parent.rel), matches);
    END IF;
    EXECUTE insert_head || format(
      'SELECT $1, $2, ''foreign_key'', ''error'', %1$s,'
      '       jsonb_build_object(''constraint'', %2$L, ''references'', $3::text,'
      '                          ''values'', %3$s, ''message'', ''no such parent row'''
      -- (a reference a relationship conflict's merge set: that decision's)
      '                          || coalesce((SELECT '': decision '' || min(r.conflict_id) || '' set it'''
      '                                         FROM pg_temp.tdm_repointed r'
      '                                        WHERE r.rel = $2 AND r.env = t.tdm_env'
      '                                          AND r.row_hash = t.tdm_row_hash AND r.columns && $5), '''')'
      -- (a value a rule's merge brought from a row kept though a decision
      -- deleted its parent: that decision's, p293)
      '                          || coalesce((SELECT format('': the value is that of %%s''''s row merged into it by a'
      ' rule, whose parent (%%s) in %%s was deleted by decision %%s'', o.env, array_to_string(o.key, '',''),'
      '                                                     o.parent_env, o.conflict_id)'
      '                                         FROM pg_temp.tdm_orphans o'
      '                                         JOIN tdm.conflict c ON c.run_id = $1 AND c.rel = o.rel'
      '                                                            AND c.status = ''auto_resolved'''
      '                                        WHERE o.rel = $2 AND o.columns = $5 AND o.key = %12$s'
      '                                          AND c.members -> c.survivor ->> ''env'' = t.tdm_env'
      '                                          AND c.members -> c.survivor -> ''row'' @> %11$s'
      '                                          AND EXISTS (SELECT FROM jsonb_array_elements(c.members) e'
      '                                                       WHERE e ->> ''env'' = o.env) LIMIT 1), '''')'
      '                          || %10$s)'
      '  FROM %4$s t WHERE %5$s AND NOT %6$s'
      '   AND NOT EXISTS (SELECT 1 FROM %7$s x WHERE %8$s %9$s)'
      -- (rows whose parent a decision deleted: checked above)
      '   AND NOT EXISTS (SELECT 1 FROM pg_temp.tdm_orphans o WHERE o.rel = $2 AND o.columns = $5'
      '                      AND o.env = t.tdm_env AND o.row_hash = t.tdm_row_hash)',
      row_key, con.name, tdm._key_json(the_rel, con.cols, 't'), source,
      (SELECT string_agg(tdm._has_value(target_rel, 't', c), ' AND ') FROM unnest(con.cols) AS c),
      in_collected, con.parent_rel, matches,
      CASE WHEN parent.rel IS NULL THEN ''
           ELSE format('AND x.%I IS DISTINCT FROM $4', parent.release_column) END,
      -- (The environment holds the parent under that key, but tagged with
      -- no release, or one that loaded no row under it (re-created by a
      -- reset under a new key, still tagged with its old release): what
      -- to do, as tdm._read_env_tags read it.)
      -- (A parent table tdm does not manage: no environment row of it is
      -- read, whatever the environments hold. Filled in the target, it
      -- serves; empty there, the rows are not what is at fault.)
      CASE WHEN parent.rel IS NULL
           THEN format('%L', format(': %s is not a managed table, so no environment''s rows of it are collected;'
                                    ' manage it (tdm.manage_table) and tag its rows for the release, or fill it'
                                    ' in the target before consolidating', con.parent_rel))
           WHEN con.ref_cols = parent.pk_columns AND to_regclass('pg_temp.tdm_env_tags') IS NOT NULL
           THEN format('coalesce((SELECT format('': %%s holds that row, %%s: tag it for release %%s too, then tag'
                       ' the release again and consolidate'', g.env, CASE WHEN g.tag IS NULL THEN ''untagged'''
                       ' ELSE format(''tagged %%s, which loaded no row under that key'', g.tag) END, $4)'
                       ' FROM pg_temp.tdm_env_tags g WHERE g.rel = %s AND g.env = t.tdm_env AND g.key = %s'
                       ' AND g.release IS NULL AND g.answer IS NULL LIMIT 1), '''')',
                       parent.rel::oid, tdm._key_text(con.cols, 't'))
           ELSE '''''' END,
      tdm._key_json(the_rel, m.pk_columns, 't'), tdm._key_text(con.cols, 't'))
      USING run, the_rel, con.parent_rel, release, con.cols;
    GET DIAGNOSTICS n = ROW_COUNT;
    errors := errors + n;
  END LOOP;

  RETURN errors;
END
$$;

-- Records the collected rows whose value of `col` the type `col_type` (a
-- target's column) refuses, as the load would assign it: kind `check`,
-- every row. The whole column is assigned first, into a scratch table;
-- only when that fails, chunk by chunk, and row by row in the chunks that
-- fail. Returns the count.
CREATE FUNCTION tdm._check_fit(run bigint, the_rel regclass, collected regclass, row_key text,
                               col text, col_type text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r record;
  message text;
  n bigint := 0;
  blocks bigint;
  first_block bigint := 0;
  chunk constant int := 64;  -- blocks a try covers (a few thousand rows)
  chunk_rows text;
BEGIN
  IF to_regclass('pg_temp.tdm_fit') IS NOT NULL THEN
    DROP TABLE pg_temp.tdm_fit;
  END IF;
  EXECUTE format('CREATE TEMP TABLE tdm_fit (v %s) ON COMMIT DROP', col_type);
  BEGIN
    EXECUTE format('INSERT INTO pg_temp.tdm_fit SELECT t.%I FROM %s t', col, collected);
    DROP TABLE pg_temp.tdm_fit;
    RETURN 0;
  EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
    NULL;
  END;
  -- Some value does not fit: chunk by chunk of the table's blocks, and row
  -- by row in a chunk that fails (one subtransaction a chunk, not a row).
  chunk_rows := format('FROM %s t WHERE t.ctid >= $1 AND t.ctid < $2', collected);
  blocks := pg_relation_size(collected) / current_setting('block_size')::bigint;
  WHILE first_block <= blocks LOOP
    BEGIN
      EXECUTE format('INSERT INTO pg_temp.tdm_fit SELECT t.%I %s', col, chunk_rows)
        USING format('(%s,0)', first_block)::tid, format('(%s,0)', first_block + chunk)::tid;
    EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
      -- (Each row by its location, its value as jsonb: the statements must
      -- see the same types whatever the column's.)
      FOR r IN EXECUTE format('SELECT %s AS row_key, t.ctid AS row_ctid, to_jsonb(t.%I) AS value_json %s',
                              row_key, col, chunk_rows)
                 USING format('(%s,0)', first_block)::tid, format('(%s,0)', first_block + chunk)::tid LOOP
        BEGIN
          EXECUTE format('INSERT INTO pg_temp.tdm_fit SELECT t.%I FROM %s t WHERE t.ctid = $1', col, collected)
            USING r.row_ctid;
        EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
          GET STACKED DIAGNOSTICS message = MESSAGE_TEXT;
          INSERT INTO tdm.violation (run_id, rel, kind, severity, row_key, detail)
          VALUES (run, the_rel, 'check', 'error', r.row_key,
                  jsonb_build_object('column', col, 'type', col_type, 'value', r.value_json,
                                     'message', message));
          n := n + 1;
        END;
      END LOOP;
    END;
    first_block := first_block + chunk;
  END LOOP;
  DROP TABLE pg_temp.tdm_fit;
  RETURN n;
END
$$;

-- Validates every managed table, parents first, with progress for `job`;
-- returns the error-level count (`checks` as tdm._validate_table's).
CREATE FUNCTION tdm._validate_tables(job bigint, run bigint, release text, target text,
                                     checks text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t record;
  errors bigint := 0;
  refused_state text;  -- a function of the target's or a rule's: SQLSTATE, message, detail, hint, context
  refused_message text;
  refused_detail text;
  refused_hint text;
  refused_context text;
BEGIN
  IF checks <> 'constraints' AND EXISTS (SELECT FROM tdm.rule) THEN
    PERFORM tdm._rule_views(target, release, (SELECT string_agg(r.predicate, ' ') FROM tdm.rule r));
  END IF;
  FOR t IN SELECT o.rel, o.step FROM tdm._table_order() o ORDER BY o.step LOOP
    PERFORM tdm._progress(job, 'validate', t.step - 1, (SELECT count(*) FROM tdm.managed_table));
    -- (Every finding is of a collected row: a table the release brings
    -- none of has none, and many such tables are the common case.)
    CONTINUE WHEN NOT tdm._holds_rows(format('pg_temp.%I', tdm._collected_name(t.rel))::regclass);
    errors := errors + tdm._validate_table(run, release, target, t.rel, checks);
  END LOOP;
  PERFORM tdm._drop_rule_views();
  -- A row that loads under another key than its environment's (re-keyed,
  -- renamed, re-pointed) is found there by `env_key`. (The run's whole
  -- key map is read only when there is a violation.)
  IF EXISTS (SELECT FROM tdm.violation w WHERE w.run_id = run AND NOT w.row_key ? 'env_key') THEN
    UPDATE tdm.violation v SET row_key = v.row_key || jsonb_build_object('env_key', k.old_key)
      FROM (SELECT DISTINCT ON (g.rel, g.env, g.new_key) g.rel, g.env, g.new_key, g.old_key
              FROM tdm.key_map g WHERE g.run_id = run AND g.reason <> 'merged'
             ORDER BY g.rel, g.env, g.new_key, g.reason) k
     WHERE v.run_id = run AND NOT v.row_key ? 'env_key'
       AND k.rel = v.rel AND k.env = v.row_key ->> 'env' AND k.new_key = v.row_key -> 'key';
  END IF;
  -- A row a reviewer's decision kept, merged or renamed: the violation
  -- names that decision, which the reviewer can change.
  IF EXISTS (SELECT FROM tdm.violation w WHERE w.run_id = run) THEN
    UPDATE tdm.violation v
       SET detail = v.detail || jsonb_build_object('decision', jsonb_build_object(
                                  'conflict_id', x.conflict_id, 'action', x.action, 'decided_by', x.decided_by))
      FROM (SELECT c.rel, c.conflict_id, c.members, d.action, d.decided_by
              FROM tdm.conflict c JOIN tdm.decision d USING (conflict_id)
             WHERE c.run_id = run AND c.status IN ('decided', 'applied')) x
     WHERE v.run_id = run AND x.rel = v.rel AND NOT v.detail ? 'decision'
       AND EXISTS (SELECT FROM jsonb_array_elements(x.members) m
                    WHERE m ->> 'env' = v.row_key ->> 'env'
                      AND (m -> 'row' @> coalesce(v.row_key -> 'env_key', v.row_key -> 'key')
                           -- (a row brought again: its member holds the key
                           -- an earlier release gave it, p309)
                           OR EXISTS (SELECT FROM tdm.key_map e
                                       WHERE e.run_id = ANY ((SELECT tdm._master_runs(release))::bigint[]) AND e.rel = v.rel
                                         AND e.env = v.row_key ->> 'env' AND e.old_key = v.row_key -> 'env_key'
                                         AND m -> 'row' @> e.new_key)));
  END IF;
  RETURN errors;
EXCEPTION WHEN raise_exception OR undefined_function OR undefined_table OR undefined_object THEN
  -- (A CHECK's or a rule's function raised, or did not find a name.)
  GET STACKED DIAGNOSTICS refused_state = RETURNED_SQLSTATE, refused_message = MESSAGE_TEXT,
                          refused_detail = PG_EXCEPTION_DETAIL, refused_hint = PG_EXCEPTION_HINT,
                          refused_context = PG_EXCEPTION_CONTEXT;
  PERFORM tdm._raise_own_code('consolidate', format('the validation of release %s''s rows', release), target,
                              'Nothing was loaded',
                              'Change the code, or the rows in the environments (then tag again), and'
                              ' consolidate again.', 0, refused_message, refused_detail, refused_hint,
                              refused_context, refused_state);
END
$$;

-- Whether the target's tables enforce every constraint validation checks
-- when rows are inserted, and nothing else changes them: no deferrable
-- constraint, no disabled or replica-only trigger (foreign keys are
-- triggers), no trigger or rule of their own (on a partition either), no
-- foreign partition, and triggers firing as usual
-- (session_replication_role = origin).
CREATE FUNCTION tdm._target_enforces(target text) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH rels AS (SELECT p.relid AS rel FROM tdm._target_tables(target) t
                 CROSS JOIN LATERAL pg_partition_tree(t.rel) p
                UNION SELECT t.rel FROM tdm._target_tables(target) t)
  SELECT current_setting('session_replication_role') = 'origin'
     AND NOT EXISTS (SELECT 1 FROM pg_constraint c JOIN rels ON rels.rel = c.conrelid
                      WHERE c.condeferrable)
     AND NOT EXISTS (SELECT 1 FROM pg_trigger g JOIN rels ON rels.rel = g.tgrelid
                      WHERE NOT g.tgisinternal OR g.tgenabled NOT IN ('O', 'A'))
     AND NOT EXISTS (SELECT 1 FROM pg_rewrite w JOIN rels ON rels.rel = w.ev_class)
     -- (a foreign partition checks nothing locally)
     AND NOT EXISTS (SELECT 1 FROM pg_class c JOIN rels ON rels.rel = c.oid WHERE c.relkind = 'f')
$$;
