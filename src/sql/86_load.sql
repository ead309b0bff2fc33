-- Consolidation, load: the validated rows replace the release's rows in the
-- target, in one transaction. All tables are deleted from in one statement.
-- The managed tables' rows then go in directly (tdm._load_rows: batches,
-- as COPY inserts them, with index entries and NOT NULL and CHECK checked
-- per row) where the target table allows it, and the foreign keys of those
-- tables are checked last, one set-based query each
-- (tdm._check_references), instead of one trigger query per row; reference
-- cycles load, NOT NULL and non-deferrable ones included, without touching
-- any constraint. Targets with triggers of their own, rules, row security
-- or generated columns, and the rows that come from master, are inserted
-- into in one statement (data-modifying WITH clauses), where PostgreSQL
-- checks foreign keys at the end of the statement. Counts and checksums of
-- what was loaded are then compared with what validation approved.

-- The columns an INSERT into `rel` gives values to (generated ones are
-- computed), quoted and comma-separated.
CREATE FUNCTION tdm._insert_columns(rel regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum)
    FROM pg_attribute a
   WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
$$;

-- The target tables of the managed tables, parents first.
CREATE FUNCTION tdm._target_tables(target text)
RETURNS TABLE (managed regclass, rel regclass, step int, release_column text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  -- (tdm._target_table's match, as one join: this runs for every table
  -- many times a consolidation)
  SELECT o.rel, c.oid::regclass, o.step, m.release_column
    FROM tdm._table_order() o JOIN tdm.managed_table m ON m.rel = o.rel
    JOIN pg_class r ON r.oid = o.rel
    JOIN pg_class c ON c.relname = r.relname AND c.relkind IN ('r', 'p')
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = target
   ORDER BY o.step
$$;

-- One clause of a multi-table load (`WITH <clauses> SELECT 1`): every
-- insertable column of `dest` from `source`, optionally only the rows of
-- the release given as $1.
CREATE FUNCTION tdm._insert_clause(name text, dest regclass, source text,
                                   release_column text DEFAULT NULL) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT format('%s AS (INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s%s)',
                name, dest, c.columns, c.columns, source,
                CASE WHEN release_column IS NULL THEN '' ELSE format(' WHERE %I = $1', release_column) END)
    FROM (SELECT tdm._insert_columns(dest) AS columns) c
$$;

-- The direct insert (C++): every row of `source` into `target` in batches,
-- with the index entries, NOT NULL and CHECK constraints, and the caller's
-- INSERT privilege checked, but not the per-row foreign key triggers.
-- NULL when `target` needs INSERT (insert triggers of its own, rules, row
-- security, stored generated columns, columns of other types, or
-- referenced tables the caller may not lock). A transaction that loaded
-- directly commits only after tdm._check_loaded_references().
CREATE FUNCTION tdm._load_rows(source regclass, target regclass) RETURNS bigint
AS 'MODULE_PATHNAME', 'tdm_load_rows' LANGUAGE C VOLATILE STRICT;

-- The foreign keys of every table this transaction loaded directly and
-- not checked yet, each checked by tdm._check_references; each source must
-- then still be what was loaded (its key columns, their count and hash).
CREATE FUNCTION tdm._check_loaded_references() RETURNS void
AS 'MODULE_PATHNAME', 'tdm_check_loaded_references' LANGUAGE C VOLATILE;

-- Each foreign key of `target` over the rows of `source` loaded into it,
-- compared as the constraint compares (its own equality operators and
-- types, the referenced column's collation, ONLY the referenced table
-- unless it is partitioned, no row security): one statement locks the
-- referenced rows FOR KEY SHARE, as the constraint's trigger does row by
-- row, and finds the keys without a locked row, so a referenced row cannot
-- go before the load commits. A table of `fresh`, which this transaction
-- loaded from empty and keeps other writers out of, holds only this
-- transaction's rows: nothing there is locked. A MATCH FULL key partly
-- NULL is refused too. Any violation: nothing is loaded.
CREATE FUNCTION tdm._check_references(target regclass, source regclass,
                                       fresh regclass[] DEFAULT '{}') RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET row_security = off AS $$
DECLARE
  fk record;
  found record;
  referenced text;
BEGIN
  FOR fk IN
    SELECT c.conname, c.confrelid::regclass AS parent, c.confmatchtype = 'f' AS match_full,
           (SELECT relkind FROM pg_class WHERE oid = c.confrelid) = 'p' AS partitioned,
           string_agg(format('s.%I', a.attname), ', ' ORDER BY k.i) AS columns,
           string_agg(format('p.%I', r.attname), ', ' ORDER BY k.i) AS ref_columns,
           tdm._fk_match(target, c.conname, 'p', 's') AS matches,
           string_agg(format('%I', a.attname), ', ' ORDER BY k.i) AS names,
           -- (not num_nulls(...) = 0 for every column, which the planner
           -- cannot estimate: it chose a nested loop over every loaded row)
           string_agg(tdm._has_value(c.conrelid, 's', a.attname), ' AND ' ORDER BY k.i) AS complete,
           count(*) AS width
      FROM pg_constraint c
     CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY k(n, ref_n, i)
      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
      JOIN pg_attribute r ON r.attrelid = c.confrelid AND r.attnum = k.ref_n
     -- (conparentid: the copies of a constraint that references a
     -- partitioned table, one per partition, are its own business)
     WHERE c.conrelid = target AND c.contype = 'f' AND c.conparentid = 0
     GROUP BY c.oid, c.conname, c.confrelid, c.confmatchtype ORDER BY c.conname
  LOOP
    referenced := CASE WHEN fk.partitioned THEN fk.parent::text ELSE 'ONLY ' || fk.parent::text END;
    IF NOT fk.partitioned AND fk.parent = ANY (fresh) THEN
      EXECUTE format('SELECT count(*) AS missing, min(row(%1$s)::text) AS example FROM ONLY %2$s s'
                     ' WHERE %5$s AND NOT EXISTS (SELECT 1 FROM %3$s p WHERE %4$s)',
                     fk.columns, source, referenced, fk.matches, fk.complete)
        INTO found;
    ELSE
      EXECUTE format('WITH locked AS MATERIALIZED ('
                     '       SELECT %5$s FROM %3$s p WHERE EXISTS (SELECT 1 FROM ONLY %2$s s WHERE %4$s)'
                     '          FOR KEY SHARE OF p)'
                     ' SELECT count(*) AS missing, min(row(%1$s)::text) AS example FROM ONLY %2$s s'
                     '  WHERE %6$s AND NOT EXISTS (SELECT 1 FROM locked p WHERE %4$s)',
                     fk.columns, source, referenced, fk.matches, fk.ref_columns, fk.complete)
        INTO found;
    END IF;
    IF found.missing > 0 THEN
      RAISE EXCEPTION 'load: insert into % violates foreign key constraint "%"', target, fk.conname
        USING ERRCODE = 'foreign_key_violation', CONSTRAINT = fk.conname,
              DETAIL = format('Key (%s)=%s is not present in table %s (%s row(s) loaded without their referenced row).',
                              fk.names, found.example, fk.parent, found.missing),
              HINT = 'Nothing was loaded. Validation found the referenced rows: they were deleted or changed since; consolidate again.';
    END IF;
    IF fk.match_full THEN
      EXECUTE format('SELECT count(*) FROM ONLY %s s WHERE num_nulls(%s) BETWEEN 1 AND %s',
                     source, fk.columns, fk.width - 1)
        INTO found;
      IF found.count > 0 THEN
        RAISE EXCEPTION 'load: insert into % violates foreign key constraint "%"', target, fk.conname
          USING ERRCODE = 'foreign_key_violation', CONSTRAINT = fk.conname,
                DETAIL = format('MATCH FULL does not allow mixing of null and nonnull key values (%s row(s)).',
                                found.count),
                HINT = 'Nothing was loaded. Fix the rows in their environment, tag and consolidate again.';
      END IF;
    END IF;
  END LOOP;
END
$$;

-- A table's rows of one release: count and order-independent checksum
-- (`copied`: of the columns an INSERT copies, stored generated ones left
-- out; the destination computes those with its own expression. `as_in`:
-- as that table holds them, tdm._hash_args).
CREATE FUNCTION tdm._release_checksum(rel regclass, hash_of regclass, release_column text,
                                      release text, copied bool DEFAULT false,
                                      as_in regclass DEFAULT NULL,
                                      OUT row_count bigint, OUT checksum text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  EXECUTE format('SELECT count(*), coalesce(sum(tdm._row_hash(%s)), 0)::text FROM %s t'
                 ' WHERE $1 IS NULL OR t.%I = $1',
                 tdm._hash_args(hash_of, 't', copied, as_in), rel, release_column)
    INTO row_count, checksum USING release;
END
$$;

-- Raises, for an exception handler, the error a target's table gave for a
-- row (a constraint, index or partitioning it has) as that table's refusal
-- of `what`, with `outcome` and `hint`: the statement that failed can be
-- pages long, and its CONTEXT says nothing a DBA can act on.
CREATE FUNCTION tdm._raise_refused(caller text, what text, state text, message text, detail text,
                                   schema_name text, table_name text, target text, outcome text,
                                   hint text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF coalesce(detail, '') = '' THEN  -- (a NULL DETAIL is refused, an empty one shown)
    RAISE EXCEPTION '%: % refused % (%); %', caller,
      coalesce(quote_ident(schema_name) || '.' || quote_ident(table_name), 'a table of ' || target),
      what, message, outcome
      USING ERRCODE = state, HINT = hint;
  END IF;
  RAISE EXCEPTION '%: % refused % (%); %', caller,
    coalesce(quote_ident(schema_name) || '.' || quote_ident(table_name), 'a table of ' || target),
    what, message, outcome
    USING ERRCODE = state, DETAIL = detail, HINT = hint;
END
$$;

-- The enabled user triggers and rules on `target`'s tables, for a hint:
-- `table: name, ...`, NULL when there are none.
-- `events`: the statements that fire them, as tgtype's bits (4 INSERT,
-- 8 DELETE, 16 UPDATE, 32 TRUNCATE); the load's by default.
CREATE FUNCTION tdm._writing_triggers(target text, events int DEFAULT 12) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(x.rel::text || ' ' || x.kind || ' ' || quote_ident(x.name), ', '
                    ORDER BY x.rel::text, x.kind, x.name)
    FROM (SELECT t.tgrelid::regclass AS rel, 'trigger' AS kind, t.tgname::text AS name
            FROM pg_trigger t JOIN tdm._target_tables(target) x ON x.rel = t.tgrelid
           WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' AND t.tgtype::int & events <> 0
          UNION ALL
          SELECT r.ev_class::regclass, 'rule', r.rulename::text
            FROM pg_rewrite r JOIN tdm._target_tables(target) x ON x.rel = r.ev_class
           WHERE r.rulename <> '_RETURN' AND r.ev_enabled <> 'D'
             AND (r.ev_type = '3' AND events & 4 <> 0 OR r.ev_type = '4' AND events & 8 <> 0
                  OR r.ev_type = '2' AND events & 16 <> 0)) x
$$;

-- After a DELETE of `release`'s rows from `target`'s tables: refuses when
-- a BEFORE DELETE row trigger or an INSTEAD rule (of a table or of one of
-- its partitions) kept some (a soft delete: the row marked, the DELETE
-- skipped), which the caller would otherwise leave in place or meet as
-- duplicate keys. (Read only in the tables that have one.)
CREATE FUNCTION tdm._refuse_kept_rows(caller text, target text, release text, what text, undone text)
RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t record;
  kept bigint;
BEGIN
  FOR t IN SELECT x.rel AS target_rel, x.release_column, k.keepers
             FROM tdm._target_tables(target) x
            CROSS JOIN LATERAL (
              SELECT string_agg(y.kind || ' ' || quote_ident(y.name) || ' on ' || y.rel::text, ', '
                                ORDER BY y.rel::text, y.kind, y.name) AS keepers
                FROM (SELECT g.tgrelid::regclass AS rel, 'trigger' AS kind, g.tgname::text AS name
                        FROM pg_trigger g
                       WHERE (g.tgrelid = x.rel OR g.tgrelid IN (SELECT l.relid FROM pg_partition_tree(x.rel) l))
                         AND NOT g.tgisinternal AND g.tgenabled <> 'D'
                         AND g.tgtype::int & 11 = 11  -- (ROW, BEFORE, DELETE)
                      UNION ALL
                      SELECT r.ev_class::regclass, 'rule', r.rulename::text FROM pg_rewrite r
                       WHERE r.ev_class = x.rel AND r.ev_type = '4' AND r.is_instead AND r.ev_enabled <> 'D') y) k
            WHERE k.keepers IS NOT NULL LOOP
    EXECUTE format('SELECT count(*) FROM %s WHERE %I = $1', t.target_rel, t.release_column)
      INTO kept USING release;
    IF kept > 0 THEN
      RAISE EXCEPTION '%: % kept % of release %''s rows, which %', caller, t.target_rel, kept, release, what
        USING ERRCODE = 'triggered_data_change_violation',
              DETAIL = format('On DELETE: %s.', t.keepers),
              HINT = format('%s. Disable the one that keeps rows for the call (ALTER TABLE ... DISABLE TRIGGER ...,'
                            ' or DISABLE RULE ...), call again, then enable it.', undone);
    END IF;
  END LOOP;
END
$$;

-- Refuses tables among `rels` with a rule PostgreSQL does not apply to
-- the data-modifying WITH statements tdm writes with (DO ALSO with an
-- action, DO INSTEAD NOTHING, conditional or of several statements):
-- found by planning such a statement, which nothing runs. (Only tables
-- with an enabled rule on INSERT, UPDATE or DELETE are tried; each with
-- default values, which any column takes, an identity's or a generated
-- one's too.)
CREATE FUNCTION tdm._refuse_rules_in_with(caller text, rels regclass[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT DISTINCT x.ev_class::regclass AS rel, x.ev_type,
                  CASE x.ev_type WHEN '4' THEN 'DELETE' WHEN '3' THEN 'INSERT' ELSE 'UPDATE' END AS event
             FROM pg_rewrite x
            WHERE x.ev_class = ANY (rels) AND x.ev_type IN ('2', '3', '4') AND x.ev_enabled <> 'D'
            ORDER BY 1, 2 LOOP
    BEGIN
      EXECUTE format('EXPLAIN WITH w AS (%s) SELECT 1',
                     CASE r.event
                       WHEN 'DELETE' THEN format('DELETE FROM %s WHERE false', r.rel)
                       WHEN 'INSERT' THEN format('INSERT INTO %s DEFAULT VALUES', r.rel)
                       ELSE format('UPDATE %s SET %I = DEFAULT WHERE false', r.rel,
                                   (SELECT a.attname FROM pg_attribute a
                                     WHERE a.attrelid = r.rel AND a.attnum > 0 AND NOT a.attisdropped
                                     ORDER BY a.attnum LIMIT 1)) END);
    EXCEPTION
      WHEN feature_not_supported THEN
        RAISE EXCEPTION '%: % has a rule PostgreSQL does not apply to the statements tdm writes with: %', caller,
          r.rel, SQLERRM
          USING ERRCODE = 'feature_not_supported',
                DETAIL = format('Its rules on %s: %s. tdm writes a target''s tables with data-modifying WITH'
                                ' statements.', r.event,
                                (SELECT string_agg(quote_ident(x.rulename), ', ' ORDER BY x.rulename)
                                   FROM pg_rewrite x
                                  WHERE x.ev_class = r.rel AND x.ev_type = r.ev_type AND x.ev_enabled <> 'D')),
                HINT = format('Disable it for the call (ALTER TABLE %s DISABLE RULE ...;), call again, then enable'
                              ' it; or make it a trigger.', r.rel);
      -- (A statement the caller may not run: the call itself says so.)
      WHEN insufficient_privilege THEN
        NULL;
    END;
  END LOOP;
END
$$;

-- What tables tdm writes a release's rows into must not have: children by
-- plain inheritance, rules the WITH statements it writes with refuse.
CREATE FUNCTION tdm._refuse_unwritable(caller text, rels regclass[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM tdm._refuse_inheritance_parents(caller, rels);
  PERFORM tdm._refuse_rules_in_with(caller, rels);
END
$$;

-- The function an error was raised in, as PostgreSQL names it in the
-- first line of the error's context; NULL when that is a statement.
CREATE FUNCTION tdm._raising_function(context text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(substring(split_part(context, E'\n', 1) FROM '^PL/pgSQL function (.*) line [0-9]+'),
                  substring(split_part(context, E'\n', 1) FROM '^SQL function (".*") (statement|during)'))
$$;

-- For a name lookup that failed (42883, 42P01, 42704) in a function that
-- is not tdm's: what to do. tdm pins search_path to pg_catalog, pg_temp,
-- as pg_dump and pg_restore do, so a function of the user's (a CHECK's,
-- an index expression's, a default's, a trigger's, a rule's) that names
-- other objects without their schema does not find them. NULL otherwise.
CREATE FUNCTION tdm._search_path_advice(state text, context text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format('tdm runs with search_path = pg_catalog, pg_temp, as pg_dump and pg_restore do, and function %s'
                ' finds other objects through search_path. Qualify the names in its body, or give it a'
                ' search_path of its own (ALTER FUNCTION %s SET search_path = ...).',
                f.code, CASE WHEN f.code LIKE '"%' THEN '...' ELSE f.code END)
    FROM (SELECT tdm._raising_function(context) AS code) f
   WHERE state IN ('42883', '42P01', '42704') AND f.code !~ E'^tdm\\.'
     -- (not a function an environment's server ran: the error is its own)
     AND coalesce(context, '') NOT LIKE '%remote SQL command%'
$$;

-- Raises, for `operation` writing `target`'s tables (`what` it did), the
-- refusal of code of the target's own (a trigger, a function a rule or a
-- default calls: raise_exception) with where it was raised and, unless it
-- gave a HINT of its own, that `nothing` happened, the `way_out`, and the
-- triggers and rules that fire on the operation's `events` (as
-- tdm._writing_triggers; 0: no statement fires them, none listed).
-- `state` a name lookup's: a function of the target's that finds other
-- objects through search_path (tdm._search_path_advice), said so. An
-- error raised in tdm's own code is raised again as it was.
CREATE FUNCTION tdm._raise_own_code(operation text, what text, target text, nothing text, way_out text,
                                    events int, message text, detail text, hint text, context text,
                                    state text DEFAULT 'P0001')
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  code text := tdm._raising_function(context);
  advice text := tdm._search_path_advice(state, context);
BEGIN
  IF code ~ E'^tdm\\.' OR (state <> 'P0001' AND advice IS NULL) THEN
    RAISE EXCEPTION USING ERRCODE = state, MESSAGE = message, DETAIL = coalesce(detail, ''),
                          HINT = coalesce(hint, '');
  END IF;
  IF state = 'P0001' THEN
    RAISE EXCEPTION '%: % was refused by the target''s own code: %', operation, what, message
      USING ERRCODE = 'raise_exception',
            DETAIL = concat_ws(E'\n', nullif(detail, ''), 'Raised in: ' || split_part(context, E'\n', 1)),
            HINT = coalesce(nullif(hint, ''),
                            format('%s. %s', nothing, way_out)
                            || CASE WHEN events <> 0
                                    THEN format(' Triggers and rules of %s''s tables: %s.', target,
                                                coalesce(tdm._writing_triggers(target, events), 'none'))
                                    ELSE '' END);
  END IF;
  RAISE EXCEPTION '%: % failed in the target''s own code: %', operation, what, message
    USING ERRCODE = state,
          DETAIL = concat_ws(E'\n', nullif(detail, ''), 'Raised in: ' || split_part(context, E'\n', 1)),
          HINT = format('%s. %s Then %s again.', nothing, advice,
                        CASE WHEN operation = 'collect' THEN 'call it' ELSE operation END);
END
$$;

-- The first rows (up to three) of the release in `target_rel` that differ
-- from the rows approved (`collected`, of managed table `rel`): each by
-- its primary key, with the columns whose values differ, or as not
-- loaded or not approved.
CREATE FUNCTION tdm._loaded_differences(collected regclass, rel regclass, target_rel regclass,
                                        release_column text, release text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  pk text[] := (SELECT m.pk_columns FROM tdm.managed_table m WHERE m.rel = _loaded_differences.rel);
  found text;
BEGIN
  -- (The approved rows as the target's types hold them: a timestamptz(0)
  -- column rounds, which is no difference. Keys in their order.)
  EXECUTE format(
    'SELECT string_agg(d, ''; '' ORDER BY n) FROM ('
    ' SELECT format(''(%1$s)=(%%s): %%s'','
    -- (Whole rows as t.* and a.*: a column named t or a would be taken
    -- for the row.)
    '          CASE WHEN row(t.*) IS NULL THEN concat_ws('', '', %2$s) ELSE concat_ws('', '', %3$s) END,'
    '          CASE WHEN row(t.*) IS NULL THEN ''not loaded'' WHEN row(a.*) IS NULL THEN ''not approved'''
    '               ELSE (SELECT string_agg(quote_ident(e.key), '', '' ORDER BY e.key)'
    '                       FROM jsonb_each(to_jsonb(t.*)) e'
    '                      WHERE e.value IS DISTINCT FROM to_jsonb(a.*) -> e.key) END) AS d,'
    '        row_number() OVER (ORDER BY %4$s) AS n'
    '   FROM (SELECT (jsonb_populate_record(NULL::%5$s, to_jsonb(x.*))).* FROM %6$s x) a'
    '   FULL JOIN (SELECT * FROM %5$s x WHERE x.%7$I = $1) t ON %8$s'
    '  WHERE row(a.*) IS NULL OR row(t.*) IS NULL OR to_jsonb(t.*) <> to_jsonb(a.*)'
    '  ORDER BY n LIMIT 3) x',
    (SELECT string_agg(quote_ident(c), ', ') FROM unnest(pk) AS c),
    (SELECT string_agg(format('a.%I', c), ', ') FROM unnest(pk) AS c),
    (SELECT string_agg(format('t.%I', c), ', ') FROM unnest(pk) AS c),
    (SELECT string_agg(format('coalesce(t.%1$I, a.%1$I)', c), ', ') FROM unnest(pk) AS c),
    target_rel, collected, release_column,
    (SELECT string_agg(format('t.%1$I = a.%1$I', c), ' AND ') FROM unnest(pk) AS c))
    INTO found USING release;
  RETURN found;
END
$$;

-- The sequence column `col` of `rel` takes its values from: its own
-- (serial or identity), else the one its default draws from (a sequence
-- shared with other tables). NULL when none. (Read from the catalog by
-- OID, as pg_get_serial_sequence does by name: a reviewer deciding a
-- keep_all may have no USAGE on the table's schema.)
CREATE FUNCTION tdm._column_sequence(rel regclass, col text) RETURNS regclass
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce((SELECT d.objid::regclass FROM pg_attribute a
                     JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = a.attrelid
                                     AND d.refobjsubid = a.attnum AND d.classid = 'pg_class'::regclass
                                     AND d.deptype IN ('a', 'i')
                     JOIN pg_class k ON k.oid = d.objid AND k.relkind = 'S'
                    WHERE a.attrelid = rel AND a.attname = col
                    ORDER BY d.objid LIMIT 1),
                  (SELECT d.refobjid::regclass FROM pg_attribute a
                     JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                     JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
                                     AND d.refclassid = 'pg_class'::regclass
                     JOIN pg_class k ON k.oid = d.refobjid AND k.relkind = 'S'
                    WHERE a.attrelid = rel AND a.attname = col
                    ORDER BY d.refobjid LIMIT 1),
                  -- (a column without a default of its own, its domain's)
                  (SELECT d.refobjid::regclass FROM pg_attribute a
                     JOIN pg_depend d ON d.classid = 'pg_type'::regclass AND d.objid = a.atttypid
                                     AND d.refclassid = 'pg_class'::regclass
                     JOIN pg_class k ON k.oid = d.refobjid AND k.relkind = 'S'
                    WHERE a.attrelid = rel AND a.attname = col AND NOT a.atthasdef
                    ORDER BY d.refobjid LIMIT 1))
$$;

-- The last value sequence `seq` gave (or would have, not called yet: its
-- start less its increment). Read, not drawn. NULL for no sequence.
CREATE FUNCTION tdm._sequence_handed_out(seq regclass) RETURNS numeric
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  handed_out numeric;
BEGIN
  IF seq IS NULL THEN
    RETURN NULL;
  END IF;
  -- (pg_sequence_last_value: NULL while is_called is false, new or
  -- restarted; then the next value is last_value)
  handed_out := pg_sequence_last_value(seq);
  IF handed_out IS NULL THEN
    EXECUTE format('SELECT last_value::numeric - %s FROM %s',
                   (SELECT q.seqincrement FROM pg_sequence q WHERE q.seqrelid = seq), seq)
      INTO handed_out;
  END IF;
  RETURN handed_out;
END
$$;

-- The sequences and identities of `tables`' integer columns moved past the
-- highest value the columns hold (and, for `sources`, one per table, the
-- highest value the same column has there: rows about to be written):
-- tdm writes rows with their keys, and a tester's next INSERT, or a
-- trigger's during the load, must not draw one of them (pg_restore leaves
-- a sequence so too). A sequence that counts down is moved past the
-- lowest value instead. A sequence only moves on, never back. One the
-- caller may not read and update is left as it is, with a WARNING that
-- says what to run.
CREATE FUNCTION tdm._advance_sequences(tables regclass[], sources regclass[] DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  c record;
  furthest numeric;    -- the highest value held (the lowest, counting down)
  handed_out numeric;  -- the last value the sequence gave (or would have)
  down bool;           -- the sequence counts down
BEGIN
  FOR c IN
    SELECT x.rel, x.source, a.attname, s.seq, q.seqincrement, q.seqmin, q.seqmax, q.seqstart
      FROM unnest(tables, coalesce(sources, '{}')) AS x(rel, source)
      JOIN pg_attribute a ON a.attrelid = x.rel AND a.attnum > 0 AND NOT a.attisdropped
     CROSS JOIN LATERAL (SELECT tdm._column_sequence(x.rel, a.attname) AS seq) s
      JOIN pg_sequence q ON q.seqrelid = s.seq
     WHERE tdm._base_type(a.atttypid) IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
     ORDER BY x.rel::text, a.attnum
  LOOP
    down := c.seqincrement < 0;
    EXECUTE format('SELECT %4$s((SELECT %5$s(%1$I)::numeric FROM %2$s), (SELECT %5$s(%1$I)::numeric FROM %3$s))',
                   c.attname, c.rel, coalesce(c.source, c.rel),
                   CASE WHEN down THEN 'least' ELSE 'greatest' END, CASE WHEN down THEN 'min' ELSE 'max' END)
      INTO furthest;
    -- (Keys before the sequence's range are none it could give.)
    CONTINUE WHEN furthest IS NULL OR (NOT down AND furthest < c.seqmin) OR (down AND furthest > c.seqmax);
    IF furthest > c.seqmax OR furthest < c.seqmin THEN
      RAISE WARNING 'tdm: %.% holds % past the % of its sequence % (%)',
        c.rel, quote_ident(c.attname), furthest, CASE WHEN down THEN 'minimum' ELSE 'maximum' END, c.seq,
        CASE WHEN down THEN c.seqmin ELSE c.seqmax END
        USING HINT = format('The sequence cannot give new keys past its rows; %s, or use a bigint.',
                            CASE WHEN down THEN 'lower its MINVALUE' ELSE 'raise its MAXVALUE' END);
      CONTINUE;
    END IF;
    IF NOT has_sequence_privilege(c.seq, 'SELECT') OR NOT has_sequence_privilege(c.seq, 'UPDATE') THEN
      RAISE WARNING 'tdm: sequence % of %.% may be behind its rows (up to %), and % may not move it',
        c.seq, c.rel, quote_ident(c.attname), furthest, current_user
        USING HINT = format('Its owner can: SELECT setval(%L, %s(%s, last_value)) FROM %s;',
                            c.seq::text, CASE WHEN down THEN 'least' ELSE 'greatest' END, furthest, c.seq);
      CONTINUE;
    END IF;
    BEGIN
      handed_out := tdm._sequence_handed_out(c.seq);
    EXCEPTION WHEN insufficient_privilege THEN  -- (no USAGE on its schema)
      RAISE WARNING 'tdm: sequence % of %.% may be behind its rows (up to %), and % may not read it',
        c.seq, c.rel, quote_ident(c.attname), furthest, current_user;
      CONTINUE;
    END;
    IF (NOT down AND handed_out < furthest) OR (down AND handed_out > furthest) THEN
      PERFORM setval(c.seq, furthest::bigint);
    END IF;
  END LOOP;
END
$$;

-- Refuses deleting `release`'s rows from `target` (by `what`: archiving,
-- or loading the release again) while rows of other releases reference
-- them, before anything is deleted, naming the tables and the foreign key:
-- one ON DELETE CASCADE, SET NULL or SET DEFAULT would delete or change
-- those rows without a word, a deferrable one refuses only at commit with
-- PostgreSQL's own message; the others (`every_key`) refuse the delete
-- with it. One join per foreign key.
CREATE FUNCTION tdm._refuse_referenced_delete(caller text, target text, release text, what text,
                                              hint text, every_key bool) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t record;
  referencing bigint;
  unreleased bigint;  -- of those rows, tagged for no release (NULL, or a tag no release has)
  first record;  -- the first foreign key with such rows: the message's
  first_referencing bigint;
  first_unreleased bigint;
  others text[] := '{}';  -- the others: tables and counts
  unmanaged text[] := '{}';  -- the others' foreign keys of tables tdm does not manage
  every_holder text[] := '{}';  -- the releases referencing them, through any foreign key
  key_holders text[];           -- through one
BEGIN
  FOR t IN SELECT con.conname, con.conrelid::regclass AS child, con.confrelid::regclass AS parent,
                  p.release_column AS parent_release, c.release_column AS child_release,
                  CASE WHEN con.confdeltype IN ('c', 'n', 'd') THEN tdm._fk_action(con.confdeltype) END AS action,
                  con.condeferrable AS deferrable,
                  tdm._fk_match(con.conrelid, con.conname, 'y', 'x') AS matches
             FROM pg_constraint con
             JOIN tdm._target_tables(target) p ON p.rel = con.confrelid
             LEFT JOIN tdm._target_tables(target) c ON c.rel = con.conrelid
            -- (conparentid: a partitioned table's key is checked once, on
            -- the tables tdm manages, not again through its copies on each
            -- partition, whose rows would read as no release's)
            WHERE con.contype = 'f' AND con.conparentid = 0
              AND (every_key OR con.confdeltype IN ('c', 'n', 'd') OR con.condeferrable)
            ORDER BY con.conrelid::regclass::text, con.conname LOOP
    EXECUTE format('SELECT count(*), array_agg(DISTINCT %1$s),'
                   '       count(*) FILTER (WHERE NOT EXISTS (SELECT FROM tdm.release r WHERE r.release = %1$s))'
                   '  FROM %2$s x JOIN %3$s y ON %4$s'
                   ' WHERE y.%5$I = $1%6$s',
                   CASE WHEN t.child_release IS NULL THEN 'NULL::text' ELSE format('x.%I', t.child_release) END,
                   t.child, t.parent, t.matches, t.parent_release,
                   CASE WHEN t.child_release IS NULL THEN ''
                        ELSE format(' AND x.%I IS DISTINCT FROM $1', t.child_release) END)
      INTO referencing, key_holders, unreleased USING release;
    every_holder := every_holder || ARRAY(SELECT h FROM unnest(key_holders) h WHERE h IS NOT NULL);
    IF referencing > 0 AND first_referencing IS NOT NULL THEN
      -- (with its action: an ON DELETE CASCADE behind the first key is
      -- what would delete rows)
      others := others || format('%s row(s) of %s (to %s, foreign key %s%s)', referencing, t.child, t.parent,
                                 quote_ident(t.conname),
                                 CASE WHEN t.action IS NOT NULL THEN ', ON DELETE ' || t.action
                                      WHEN t.deferrable THEN ', deferrable' ELSE '' END);
      IF t.child_release IS NULL THEN
        unmanaged := unmanaged || format('%s (foreign key %s)', t.child, quote_ident(t.conname));
      END IF;
    ELSIF referencing > 0 THEN
      first := t;
      first_referencing := referencing;
      first_unreleased := unreleased;
    END IF;
  END LOOP;
  IF first_referencing IS NOT NULL THEN
    t := first;
    referencing := first_referencing;
    -- (A table tdm does not manage holds rows of no release.)
    RAISE EXCEPTION '%: % row(s) of % % reference release %''s rows in %',
        caller, referencing, CASE WHEN t.child_release IS NULL THEN 'unmanaged table' ELSE 'other releases in' END,
        t.child, release, t.parent
        USING ERRCODE = 'foreign_key_violation',
              DETAIL = concat_ws(' ',
                         'Releases referencing them: '
                           || nullif(array_to_string(ARRAY(SELECT DISTINCT h FROM unnest(every_holder) h ORDER BY 1), ', '), '')
                           || '.',
                         CASE WHEN t.action IS NOT NULL
                              THEN format('Foreign key %s is ON DELETE %s: %s would %s them.',
                                          quote_ident(t.conname), t.action, what,
                                          CASE t.action WHEN 'CASCADE' THEN 'delete' ELSE 'change' END)
                              WHEN t.deferrable
                              THEN format('Foreign key %s is deferrable: PostgreSQL would refuse %s at commit.',
                                          quote_ident(t.conname), what)
                              ELSE format('Foreign key %s refuses %s.', quote_ident(t.conname), what) END,
                         'Also: ' || nullif(array_to_string(others, '; '), '') || '.'),
              HINT = CASE WHEN t.child_release IS NULL
                          THEN format('%s is not managed by tdm: delete or change its rows that reference them,'
                                      ' or drop its foreign key %s, then call again.',
                                      t.child, quote_ident(t.conname))
                          -- (rows written there by hand, of no release:
                          -- no release to deal with first)
                          WHEN first_unreleased = referencing
                          THEN format('Those rows of %s are of no release (their %I is NULL or names no release:'
                                      ' written there by hand?): delete them, or change them to reference'
                                      ' other rows, then call again.', t.child, t.child_release)
                          WHEN first_unreleased > 0
                          THEN hint || format(' %s of those rows of %s are of no release (their %I is NULL or'
                                              ' names no release): delete or change them.', first_unreleased,
                                              t.child, t.child_release)
                          ELSE hint END
                     || coalesce(' Tables tdm does not manage among the others: ' ||
                                 nullif(array_to_string(unmanaged, ', '), '')
                                 || ': delete or change their rows that reference them, or drop those foreign keys.',
                                 '');
  END IF;
END
$$;

-- Whether `target` holds the release's rows as validation approved them
-- (the collected rows), table by table; records each table's loaded count
-- and checksum in the run. Returns the rows held, or NULL where a table
-- differs; with `refuse`, a table that differs is refused instead (after
-- a load: a trigger or rule changed its rows). Without it, the counts are
-- compared first: they tell most differences without hashing.
CREATE FUNCTION tdm._holds_as_approved(run bigint, target text, release text, refuse bool) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t record;
  same bool;
  approved record;
  got record;
  held bigint := 0;
BEGIN
  FOR t IN SELECT x.managed AS rel, x.rel AS target_rel, x.release_column,
                  format('pg_temp.%I', tdm._collected_name(x.managed))::regclass AS collected
             FROM tdm._target_tables(target) x LOOP
    IF NOT refuse THEN
      EXECUTE format('SELECT (SELECT count(*) FROM %s) = (SELECT count(*) FROM %s t WHERE t.%I = $1)',
                     t.collected, t.target_rel, t.release_column)
        INTO same USING release;
      IF NOT same THEN
        RETURN NULL;
      END IF;
    END IF;
    approved := tdm._release_checksum(t.collected, t.rel, t.release_column, NULL, true, t.target_rel);
    got := tdm._release_checksum(t.target_rel, t.rel, t.release_column, release, true, t.target_rel);
    IF approved.row_count <> got.row_count OR approved.checksum <> got.checksum THEN
      IF NOT refuse THEN
        RETURN NULL;
      END IF;
      RAISE EXCEPTION 'consolidate: %: % rows approved, % loaded%', t.target_rel,
        approved.row_count, got.row_count,
        CASE WHEN approved.row_count = got.row_count THEN ' with a different checksum' ELSE '' END
        USING ERRCODE = 'data_corrupted',
              DETAIL = coalesce('Rows that differ: ' || tdm._loaded_differences(t.collected, t.rel, t.target_rel,
                                                                               t.release_column, release) || '.',
                                'No row differs by its values as read here.'),
              HINT = format('Nothing was loaded. What %s holds of the release differs from what was'
                            ' approved: a trigger or rule changed its rows (one of its own, or one on'
                            ' another target table that writes into it; on INSERT or DELETE: %s), or'
                            ' row level security hides some of them from this user. Ways out: give the'
                            ' rows the values the trigger computes (in the environments, then tag'
                            ' again; or, for rows of conflicts an earlier call recorded, a decision''s'
                            ' values: a merge''s merged, a keep_all''s renames), or'
                            ' disable the trigger on'
                            ' %s while it holds test data (ALTER TABLE ... DISABLE TRIGGER ...).',
                            t.target_rel, coalesce(tdm._writing_triggers(target), 'none found'),
                            target);
    END IF;
    held := held + got.row_count;
    UPDATE tdm.run r
       SET tables = jsonb_set(r.tables, ARRAY[t.rel::text],
                              coalesce(r.tables -> t.rel::text, '{}')
                              || jsonb_build_object('loaded', got.row_count, 'checksum', got.checksum))
     WHERE r.run_id = run;
  END LOOP;
  RETURN held;
END
$$;

-- Loads every managed table's collected rows into the target; returns the
-- rows loaded and records per table counts in the run.
CREATE FUNCTION tdm._load(run bigint, release text, target text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  release_status text := (SELECT r.status FROM tdm.release r WHERE r.release = _load.release);
  t record;
  deletes text[] := '{}';
  inserts text[] := '{}';
  closure text[];
  loaded bigint;
BEGIN
  -- Loads into one target take turns, to the end of the transaction: the
  -- check below and the foreign key checks after the insert see another
  -- release's load only once it has committed. (Two at once, a release
  -- loaded again and one whose rows reference it, deadlocked.)
  PERFORM pg_advisory_xact_lock(hashtext('tdm load'), hashtext(target));
  -- (And the audit's head, before the target's rows are locked; in this
  -- order, so that a load waiting for another's holds no head.)
  PERFORM tdm._audit_reserve();
  -- A target that holds the release's rows as approved (a run called
  -- again on unchanged data, its closure from master in place) is left as
  -- it is: deleting and loading them again costs what the first load did,
  -- and far more where the target's referencing columns have no index
  -- (PostgreSQL then scans the children for each parent deleted, p312).
  -- (Only where an earlier call of the run completed: a first load need
  -- not read the target.)
  IF EXISTS (SELECT FROM tdm.job j
              WHERE j.release = _load.release AND j.kind = 'consolidate' AND j.status = 'completed'
                AND j.detail ->> 'run_id' = run::text AND j.detail ->> 'run_status' = 'completed')
  THEN
    loaded := tdm._holds_as_approved(run, target, release, false);
    IF loaded IS NOT NULL AND tdm._closure(run, target) <> '{}' THEN
      loaded := NULL;
    END IF;
  END IF;
  IF loaded IS NOT NULL THEN
    RAISE NOTICE 'consolidate: % holds release %''s rows as approved (count and checksum of each table): nothing'
                 ' is deleted or loaded again', target, release;
  ELSE
    -- (Other releases' rows in the target that reference the rows replaced:
    -- refused, not deleted or changed by an ON DELETE action.)
    PERFORM tdm._refuse_referenced_delete(
      'consolidate', target, release, 'loading the release again',
      CASE WHEN tdm._presence(release_status) = 'target'
           -- (in master already: consolidated before the releases that
           -- reference it, which cannot be undone by consolidating first)
           THEN format('Release %s is in master already (%s), and those releases were consolidated against its'
                       ' rows in %s: leave it as it is, or delete their rows from %s first and consolidate them'
                       ' again afterwards.', release, release_status, target, target)
           ELSE format('Consolidate release %s before the releases that reference it, or delete their rows from %s'
                       ' first and consolidate them again afterwards.', release, target) END, true);
    FOR t IN SELECT x.managed AS rel, x.step, x.rel AS target_rel, x.release_column,
                    format('pg_temp.%I', tdm._collected_name(x.managed))::regclass AS collected
               FROM tdm._target_tables(target) x LOOP
      deletes := deletes || format('d%s AS (DELETE FROM %s WHERE %I = $1)',
                                   t.step, t.target_rel, t.release_column);
    END LOOP;
    EXECUTE format('WITH %s SELECT 1', array_to_string(deletes, ', ')) USING release;
    PERFORM tdm._refuse_kept_rows('consolidate', target, release, 'the load deletes before loading them again',
                                   'Nothing was loaded');
    closure := tdm._closure(run, target);
    -- (Past the keys about to be written first, when a trigger or rule of
    -- the target may draw one during the load: that reads every collected
    -- row, which the load otherwise need not.)
    IF tdm._writing_triggers(target) IS NOT NULL THEN
      PERFORM tdm._advance_sequences(ARRAY(SELECT x.rel FROM tdm._target_tables(target) x ORDER BY x.step),
                                     ARRAY(SELECT format('pg_temp.%I', tdm._collected_name(x.managed))::regclass
                                             FROM tdm._target_tables(target) x ORDER BY x.step));
    END IF;
    FOR t IN SELECT x.managed AS rel, x.step, x.rel AS target_rel,
                    format('pg_temp.%I', tdm._collected_name(x.managed))::regclass AS collected
               FROM tdm._target_tables(target) x LOOP
      IF tdm._load_rows(t.collected, t.target_rel) IS NULL THEN
        inserts := inserts || tdm._insert_clause('i' || t.step, t.target_rel, t.collected::text);
      END IF;
    END LOOP;
    inserts := inserts || closure;
    IF cardinality(inserts) > 0 THEN
      EXECUTE format('WITH %s SELECT 1', array_to_string(inserts, ', '));
    END IF;
    PERFORM tdm._check_loaded_references();
    -- The target's deferred constraints are checked now, where what they
    -- refuse is the load's refusal; at commit it would be the caller's,
    -- with PostgreSQL's message alone. Those deferred by default are
    -- deferred again. (SET CONSTRAINTS names every constraint of that name
    -- in the schema, other tables' too: a name that one of them holds
    -- without being deferrable, or that some hold deferred and some not,
    -- is left to the commit.)
    FOR t IN SELECT n.nspname, con.conname, bool_and(same.condeferrable) AS deferrable,
                    bool_and(same.condeferred) AS deferred, bool_or(same.condeferred) AS any_deferred
               FROM pg_constraint con
               JOIN pg_namespace n ON n.oid = con.connamespace
               JOIN tdm._target_tables(target) x ON x.rel = con.conrelid
               JOIN pg_constraint same ON same.connamespace = con.connamespace AND same.conname = con.conname
              WHERE con.condeferrable
              GROUP BY 1, 2 ORDER BY 1, 2 LOOP
      CONTINUE WHEN NOT t.deferrable OR t.deferred <> t.any_deferred;
      EXECUTE format('SET CONSTRAINTS %I.%I IMMEDIATE', t.nspname, t.conname);
      IF t.deferred THEN
        EXECUTE format('SET CONSTRAINTS %I.%I DEFERRED', t.nspname, t.conname);
      END IF;
    END LOOP;
  END IF;

  -- What is in the target now is what validation approved.
  IF loaded IS NULL THEN
    loaded := tdm._holds_as_approved(run, target, release, true);
  END IF;
  PERFORM tdm._advance_sequences(ARRAY(SELECT x.rel FROM tdm._target_tables(target) x));
  RETURN loaded;
END
$$;

-- The closure: rows of earlier releases in master that the loaded rows
-- reference (directly or through each other), or that release rows were
-- merged into, and the target lacks come along with their own release
-- tag, so the target stays referentially complete (promotion copies only
-- the release's own rows, so they are not duplicated in master). Collected in pg_temp.tdm_closure_<table>; returns
-- the INSERT clauses that load them, and records their counts in the run.
CREATE FUNCTION tdm._closure(run bigint, target text) RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
-- The collected and closure tables were written by this transaction: with
-- no statistics, the planner took the anti-join for one row and looped
-- over every master row for each (20,000 rows a release: 17.8 s).
SET enable_nestloop = off SET jit = off AS $$
DECLARE
  e record;
  t record;
  clauses text[] := '{}';
  added bigint;
  n bigint;
  counts jsonb := '{}';
BEGIN
  IF NOT EXISTS (SELECT 1 FROM tdm._target_tables('master')) THEN
    RETURN clauses;
  END IF;
  FOR t IN SELECT x.*, mt.pk_columns FROM tdm._target_tables('master') x
             JOIN tdm.managed_table mt ON mt.rel = x.managed LOOP
    IF to_regclass(format('pg_temp.%I', 'tdm_closure_' || t.managed::oid)) IS NOT NULL THEN
      EXECUTE format('DROP TABLE pg_temp.%I', 'tdm_closure_' || t.managed::oid);
    END IF;
    EXECUTE format('CREATE TEMP TABLE %I ON COMMIT DROP AS SELECT * FROM %s LIMIT 0',
                   'tdm_closure_' || t.managed::oid, t.rel);
    -- Master's rows that release rows were merged into (tdm._settle_earlier).
    EXECUTE format('INSERT INTO pg_temp.%1$I SELECT p.* FROM %2$s p'
                   ' WHERE %3$s IN (SELECT k.key FROM pg_temp.tdm_earlier_kept k WHERE k.rel = $1)'
                   '   AND NOT EXISTS (SELECT 1 FROM %4$s x WHERE %5$s)',
                   'tdm_closure_' || t.managed::oid, t.rel,
                   tdm._key_text(t.pk_columns, 'p'), tdm._target_table(target, t.managed),
                   tdm._columns_match(t.managed, t.pk_columns, 'x', 'p'))
      USING t.managed;
  END LOOP;
  -- Parents referenced by collected rows or by closure rows, until stable.
  LOOP
    added := 0;
    FOR e IN SELECT x.* FROM pg_temp.tdm_edges x
              WHERE tdm._target_table('master', x.parent) IS NOT NULL
                AND tdm._target_table('master', x.child) IS NOT NULL LOOP
      EXECUTE format(
        'INSERT INTO pg_temp.%1$I SELECT p.* FROM %2$s p'
        ' WHERE EXISTS (SELECT 1 FROM (SELECT %3$s FROM pg_temp.%4$I UNION ALL'
        '                              SELECT %3$s FROM pg_temp.%5$I) c WHERE %6$s)'
        '   AND NOT EXISTS (SELECT 1 FROM pg_temp.%7$I x WHERE %8$s)'
        '   AND NOT EXISTS (SELECT 1 FROM %9$s x WHERE %8$s)'
        '   AND NOT EXISTS (SELECT 1 FROM pg_temp.%1$I x WHERE %8$s)',
        'tdm_closure_' || e.parent::oid, tdm._target_table('master', e.parent),
        (SELECT string_agg(format('%I', c), ', ') FROM unnest(e.columns) c),
        tdm._collected_name(e.child), 'tdm_closure_' || e.child::oid,
        tdm._fk_match(e.child, e.name, 'p', 'c'),
        tdm._collected_name(e.parent),
        tdm._columns_match(e.parent, e.ref_columns, 'x', 'p'),
        tdm._target_table(target, e.parent));
      GET DIAGNOSTICS n = ROW_COUNT;
      added := added + n;
    END LOOP;
    EXIT WHEN added = 0;
  END LOOP;
  FOR t IN SELECT * FROM tdm._target_tables('master') LOOP
    EXECUTE format('SELECT count(*) FROM pg_temp.%I', 'tdm_closure_' || t.managed::oid) INTO n;
    CONTINUE WHEN n = 0;
    counts := counts || jsonb_build_object(t.managed::text, n);
    clauses := clauses || tdm._insert_clause('c' || t.step, tdm._target_table(target, t.managed),
                                             format('pg_temp.%I', 'tdm_closure_' || t.managed::oid));
  END LOOP;
  UPDATE tdm.run r SET tables = r.tables || jsonb_build_object('closure_from_master', counts)
   WHERE r.run_id = run AND counts <> '{}';
  RETURN clauses;
END
$$;
