-- Consolidation, load: the validated rows replace the release's rows in the
-- target, in one transaction, parents first. Foreign keys that point
-- against that order (reference cycles) are checked at the end of the load
-- instead: deferred for the load when they are deferrable, and made
-- deferrable for the load (and restored in the same transaction) when they
-- are not, so no constraint is left weakened. Counts and checksums of what
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
  con record;
  made_deferrable text[] := '{}';
  deferred text[] := '{}';
  columns text;
  loaded bigint := 0;
  n bigint;
  approved record;
  got record;
BEGIN
  CREATE TEMP TABLE tdm_load_order ON COMMIT DROP AS
    SELECT o.rel, o.step, tdm._target_table(target, o.rel) AS target_rel,
           m.release_column, format('pg_temp.%I', tdm._collected_name(o.rel))::regclass AS collected
      FROM tdm._table_order() o JOIN tdm.managed_table m ON m.rel = o.rel;

  -- Foreign keys among the target tables that point from a table to one
  -- loaded after it: checked when the load is complete.
  FOR con IN SELECT format('%I.%I', n.nspname, c.conname) AS qualified, c.conname,
                    c.conrelid::regclass AS child, c.condeferrable
               FROM pg_constraint c
               JOIN pg_namespace n ON n.oid = c.connamespace
               JOIN tdm_load_order ch ON ch.target_rel = c.conrelid
               JOIN tdm_load_order pa ON pa.target_rel = c.confrelid
              WHERE c.contype = 'f' AND pa.step > ch.step LOOP
    IF NOT con.condeferrable THEN
      EXECUTE format('ALTER TABLE %s ALTER CONSTRAINT %I DEFERRABLE', con.child, con.conname);
      made_deferrable := made_deferrable || format('ALTER TABLE %s ALTER CONSTRAINT %I NOT DEFERRABLE',
                                                   con.child, con.conname);
    END IF;
    EXECUTE format('SET CONSTRAINTS %s DEFERRED', con.qualified);
    deferred := deferred || con.qualified;
  END LOOP;

  -- The release's earlier rows go (children first), the new ones come in.
  FOR t IN SELECT * FROM tdm_load_order ORDER BY step DESC LOOP
    EXECUTE format('DELETE FROM %s WHERE %I = $1', t.target_rel, t.release_column) USING release;
  END LOOP;
  FOR t IN SELECT * FROM tdm_load_order ORDER BY step LOOP
    columns := (SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum)
                  FROM pg_attribute a
                 WHERE a.attrelid = t.target_rel AND a.attnum > 0 AND NOT a.attisdropped
                   AND a.attgenerated = ''
                   AND EXISTS (SELECT 1 FROM pg_attribute c WHERE c.attrelid = t.collected
                                AND c.attname = a.attname AND NOT c.attisdropped));
    EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s',
                   t.target_rel, columns, columns, t.collected);
    GET DIAGNOSTICS n = ROW_COUNT;
    loaded := loaded + n;
  END LOOP;

  -- The deferred checks run now; the constraints get back their own kind.
  FOREACH columns IN ARRAY deferred LOOP
    EXECUTE format('SET CONSTRAINTS %s IMMEDIATE', columns);
  END LOOP;
  FOREACH columns IN ARRAY made_deferrable LOOP
    EXECUTE columns;
  END LOOP;

  -- What is in the target now is what validation approved.
  FOR t IN SELECT * FROM tdm_load_order ORDER BY step LOOP
    approved := tdm._release_checksum(t.collected, t.rel, t.release_column, NULL);
    got := tdm._release_checksum(t.target_rel, t.rel, t.release_column, release);
    IF approved.row_count <> got.row_count OR approved.checksum <> got.checksum THEN
      RAISE EXCEPTION 'consolidate: %: % rows approved, % loaded%', t.target_rel,
        approved.row_count, got.row_count,
        CASE WHEN approved.row_count = got.row_count THEN ' with a different checksum' ELSE '' END
        USING ERRCODE = 'data_corrupted',
              HINT = 'A trigger or rule on the target table changed the rows; nothing was loaded.';
    END IF;
    UPDATE tdm.run r
       SET tables = jsonb_set(r.tables, ARRAY[t.rel::text],
                              coalesce(r.tables -> t.rel::text, '{}')
                              || jsonb_build_object('loaded', got.row_count, 'checksum', got.checksum))
     WHERE r.run_id = run;
  END LOOP;
  DROP TABLE tdm_load_order;
  RETURN loaded;
END
$$;
