-- Consolidation, load: the validated rows replace the release's rows in the
-- target, in one transaction. All tables are deleted from in one statement
-- and inserted into in one statement (data-modifying WITH clauses):
-- PostgreSQL checks foreign keys, deferrable or not, at the end of the
-- statement, so reference cycles load, NOT NULL and non-deferrable ones
-- included, without touching any constraint. Counts and checksums of what
-- was loaded are then compared with what validation approved.

-- A table's rows of one release: count and order-independent checksum.
CREATE FUNCTION tdm._release_checksum(rel regclass, hash_of regclass, release_column text,
                                      release text, OUT row_count bigint, OUT checksum text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  EXECUTE format('SELECT count(*), coalesce(sum(tdm._row_hash(%s)), 0)::text FROM %s t'
                 ' WHERE $1 IS NULL OR t.%I = $1',
                 tdm._hash_args(hash_of), rel, release_column)
    INTO row_count, checksum USING release;
END
$$;

-- Loads every managed table's collected rows into the target; returns the
-- rows loaded and records per table counts in the run.
CREATE FUNCTION tdm._load(run bigint, release text, target text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t record;
  deletes text[] := '{}';
  inserts text[] := '{}';
  columns text;
  loaded bigint := 0;
  approved record;
  got record;
BEGIN
  FOR t IN SELECT o.rel, o.step, tdm._target_table(target, o.rel) AS target_rel, m.release_column,
                  format('pg_temp.%I', tdm._collected_name(o.rel))::regclass AS collected
             FROM tdm._table_order() o JOIN tdm.managed_table m ON m.rel = o.rel
            ORDER BY o.step LOOP
    deletes := deletes || format('d%s AS (DELETE FROM %s WHERE %I = $1)',
                                 t.step, t.target_rel, t.release_column);
    columns := (SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum)
                  FROM pg_attribute a
                 WHERE a.attrelid = t.target_rel AND a.attnum > 0 AND NOT a.attisdropped
                   AND a.attgenerated = ''
                   AND EXISTS (SELECT 1 FROM pg_attribute c WHERE c.attrelid = t.collected
                                AND c.attname = a.attname AND NOT c.attisdropped));
    inserts := inserts || format('i%s AS (INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s)',
                                 t.step, t.target_rel, columns, columns, t.collected);
  END LOOP;
  EXECUTE format('WITH %s SELECT 1', array_to_string(deletes, ', ')) USING release;
  EXECUTE format('WITH %s SELECT 1', array_to_string(inserts, ', '));

  -- What is in the target now is what validation approved.
  FOR t IN SELECT o.rel, tdm._target_table(target, o.rel) AS target_rel, m.release_column,
                  format('pg_temp.%I', tdm._collected_name(o.rel))::regclass AS collected
             FROM tdm._table_order() o JOIN tdm.managed_table m ON m.rel = o.rel
            ORDER BY o.step LOOP
    approved := tdm._release_checksum(t.collected, t.rel, t.release_column, NULL);
    got := tdm._release_checksum(t.target_rel, t.rel, t.release_column, release);
    IF approved.row_count <> got.row_count OR approved.checksum <> got.checksum THEN
      RAISE EXCEPTION 'consolidate: %: % rows approved, % loaded%', t.target_rel,
        approved.row_count, got.row_count,
        CASE WHEN approved.row_count = got.row_count THEN ' with a different checksum' ELSE '' END
        USING ERRCODE = 'data_corrupted',
              HINT = 'A trigger or rule on the target table changed the rows; nothing was loaded.';
    END IF;
    loaded := loaded + got.row_count;
    UPDATE tdm.run r
       SET tables = jsonb_set(r.tables, ARRAY[t.rel::text],
                              coalesce(r.tables -> t.rel::text, '{}')
                              || jsonb_build_object('loaded', got.row_count, 'checksum', got.checksum))
     WHERE r.run_id = run;
  END LOOP;
  RETURN loaded;
END
$$;
