-- Conflict detection (phase 2): types and the dry-run preview.

CREATE TYPE tdm.conflict_kind AS ENUM
  ('exact_duplicate', 'duplicate_pk', 'duplicate_natural_key', 'attribute_conflict',
   'relationship');

CREATE TYPE tdm.conflict_preview AS (
  conflict_id text,
  rel         regclass,
  kind        tdm.conflict_kind,
  class       text,
  priority    int,
  rule        text,
  suggestion  text,
  rationale   text,
  members     jsonb,
  differing   jsonb
);

-- Component labels computed in SQL, for tables whose first detection pass
-- does not fit in tdm.work_mem: rows sharing a key hash are linked, and
-- labels (the smallest key hash of a component) are kept per key hash.
-- Each round, a key and its label take the smallest label of the rows the
-- key is in (one hop), then every key takes its label's label until none
-- changes (a jump: labels are keys of the same component). Hops alone took one round
-- per link of a chain, each a pass over every key: a chain of rows linked
-- by alternating keys (ids shifted by one between environments) was
-- quadratic; jumps make it a few rounds. PostgreSQL's own sorts and hashes
-- spill to disk as needed. Leaves pg_temp.tdm_labels (row_ctid, label) for
-- multi-row components only and returns its row count.
CREATE FUNCTION tdm._spill_labels(collected regclass, key_exprs text[]) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  changed bigint;
  jumped bigint;
  rounds int := 0;
  labelled bigint;
BEGIN
  IF to_regclass('pg_temp.tdm_keys') IS NOT NULL THEN
    DROP TABLE IF EXISTS pg_temp.tdm_keys, pg_temp.tdm_shared_keys, pg_temp.tdm_key_labels,
                         pg_temp.tdm_labels;
  END IF;
  EXECUTE format('CREATE TEMP TABLE tdm_keys ON COMMIT DROP AS'
                 ' SELECT t.ctid AS row_ctid, k.h FROM %s t CROSS JOIN LATERAL (VALUES %s) AS k(h)'
                 ' WHERE k.h IS NOT NULL', collected,
                 (SELECT string_agg(format('(%s)', e), ', ') FROM unnest(key_exprs) AS e));
  CREATE TEMP TABLE tdm_shared_keys ON COMMIT DROP AS
    SELECT row_ctid, h FROM tdm_keys
     WHERE h IN (SELECT h FROM tdm_keys GROUP BY h HAVING count(*) > 1);
  -- A key's first label: the smallest key of the rows it is in.
  CREATE TEMP TABLE tdm_key_labels ON COMMIT DROP AS
    SELECT s.h, min(r.smallest) AS label
      FROM tdm_shared_keys s
      JOIN (SELECT row_ctid, min(h) AS smallest FROM tdm_shared_keys GROUP BY row_ctid) r USING (row_ctid)
     GROUP BY s.h;
  ANALYZE tdm_shared_keys;
  ANALYZE tdm_key_labels;
  LOOP
    -- Each row's label: the smallest of its keys'. Final once no key's
    -- label changes.
    IF to_regclass('pg_temp.tdm_labels') IS NOT NULL THEN
      DROP TABLE pg_temp.tdm_labels;
    END IF;
    CREATE TEMP TABLE tdm_labels ON COMMIT DROP AS
      SELECT s.row_ctid, min(k.label) AS label
        FROM tdm_shared_keys s JOIN tdm_key_labels k USING (h) GROUP BY s.row_ctid;
    -- The hop offers a row's label to each of its keys, and after the
    -- first round to each key's label too (the root of its tree: so that
    -- whole trees join, not only the keys at their edge). Most components
    -- are settled by the first labels: one plain hop finds that.
    IF rounds = 0 THEN
      WITH offer AS (
             SELECT s.h AS target, min(r.label) AS label
               FROM tdm_shared_keys s JOIN tdm_labels r USING (row_ctid) GROUP BY s.h)
      UPDATE tdm_key_labels k SET label = x.label FROM offer x
       WHERE x.target = k.h AND x.label < k.label;
    ELSE
      WITH offer AS (
             SELECT t.target, min(r.label) AS label
               FROM tdm_shared_keys s JOIN tdm_labels r USING (row_ctid) JOIN tdm_key_labels k USING (h)
              CROSS JOIN LATERAL (VALUES (s.h), (k.label)) AS t(target)
              GROUP BY t.target)
      UPDATE tdm_key_labels k SET label = x.label FROM offer x
       WHERE x.target = k.h AND x.label < k.label;
    END IF;
    GET DIAGNOSTICS changed = ROW_COUNT;
    rounds := rounds + 1;
    EXIT WHEN changed = 0;
    LOOP
      UPDATE tdm_key_labels k SET label = p.label FROM tdm_key_labels p
       WHERE p.h = k.label AND p.label < k.label;
      GET DIAGNOSTICS jumped = ROW_COUNT;
      EXIT WHEN jumped = 0;
    END LOOP;
  END LOOP;
  ANALYZE tdm_labels;
  SELECT count(*) INTO labelled FROM tdm_labels;
  RETURN labelled;
END
$$;

-- Keys, ids and members are spelled from values' text: the settings that
-- change how values print are pinned, so the same data gives the same ids
-- in any session (timestamps show in UTC, ISO style).
-- The dry run writes nothing durable, but collects into temporary tables,
-- which a read-only transaction refuses: said as such, before any read.
CREATE FUNCTION tdm._refuse_read_only(caller text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF current_setting('transaction_read_only')::bool THEN
    RAISE EXCEPTION '%: a read-only transaction cannot hold the temporary tables it collects into', caller
      USING ERRCODE = 'read_only_sql_transaction',
            HINT = CASE WHEN pg_is_in_recovery()
                        THEN 'Run it on the primary: a standby holds no temporary tables.'
                        ELSE 'Run it outside a READ ONLY transaction: it writes nothing durable, and its temporary'
                             ' tables go with the transaction.' END;
  END IF;
END
$$;

CREATE FUNCTION tdm.detect_conflicts(release text) RETURNS SETOF tdm.conflict_preview
AS 'MODULE_PATHNAME', 'tdm_detect_conflicts' LANGUAGE C
SET search_path = pg_catalog, pg_temp SET jit TO off
SET DateStyle TO 'ISO, YMD' SET IntervalStyle TO 'postgres' SET TimeZone TO 'UTC' SET bytea_output TO 'hex' SET lc_monetary TO 'C'
SET xmloption TO 'content' SET array_nulls TO on SET extra_float_digits TO 1;
COMMENT ON FUNCTION tdm.detect_conflicts(text) IS
  'Dry run of collection and conflict detection: writes nothing durable';

-- Detection alone, on the tables a tdm._collect of the same release left in
-- this transaction (used by the benchmark to time the phase by itself).
CREATE FUNCTION tdm._detect_collected(release text) RETURNS SETOF tdm.conflict_preview
AS 'MODULE_PATHNAME', 'tdm_detect_collected' LANGUAGE C
SET search_path = pg_catalog, pg_temp SET jit TO off
SET DateStyle TO 'ISO, YMD' SET IntervalStyle TO 'postgres' SET TimeZone TO 'UTC' SET bytea_output TO 'hex' SET lc_monetary TO 'C'
SET xmloption TO 'content' SET array_nulls TO on SET extra_float_digits TO 1;

-- What consolidation needs beyond the preview: the survivor's and the
-- re-keyed rows' positions among the members (0-based), the merged row,
-- and the members' rows as collected (`env:row hash`, sorted,
-- comma-separated: what a decision is taken on).
CREATE TYPE tdm._conflict_plan AS (
  conflict_id text,
  rel         regclass,
  kind        tdm.conflict_kind,
  class       text,
  priority    int,
  rule        text,
  suggestion  text,
  rationale   text,
  members     jsonb,
  differing   jsonb,
  survivor    int,
  rekeyed     int[],
  merged      jsonb,
  sources     text
);
-- (`row_bound`, with `rel`: at least as many rows as its collected table
-- holds, as consolidation knows them; sizes detection's first pass.)
CREATE FUNCTION tdm._detect_plan(release text, rel regclass DEFAULT NULL, row_bound bigint DEFAULT NULL)
RETURNS SETOF tdm._conflict_plan
AS 'MODULE_PATHNAME', 'tdm_detect_collected' LANGUAGE C
SET search_path = pg_catalog, pg_temp SET jit TO off
SET DateStyle TO 'ISO, YMD' SET IntervalStyle TO 'postgres' SET TimeZone TO 'UTC' SET bytea_output TO 'hex' SET lc_monetary TO 'C'
SET xmloption TO 'content' SET array_nulls TO on SET extra_float_digits TO 1;
