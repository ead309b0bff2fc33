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
-- labels (the smallest key hash of a component) propagate until stable.
-- PostgreSQL's own sorts and hashes spill to disk as needed. Leaves
-- pg_temp.tdm_labels (row_ctid, label) for multi-row components only and
-- returns its row count.
CREATE FUNCTION tdm._spill_labels(collected regclass, key_exprs text[]) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  changed bigint;
  labelled bigint;
BEGIN
  IF to_regclass('pg_temp.tdm_keys') IS NOT NULL THEN
    DROP TABLE pg_temp.tdm_keys, pg_temp.tdm_shared_keys, pg_temp.tdm_labels;
  END IF;
  EXECUTE format('CREATE TEMP TABLE tdm_keys ON COMMIT DROP AS'
                 ' SELECT t.ctid AS row_ctid, k.h FROM %s t CROSS JOIN LATERAL (VALUES %s) AS k(h)'
                 ' WHERE k.h IS NOT NULL', collected,
                 (SELECT string_agg(format('(%s)', e), ', ') FROM unnest(key_exprs) AS e));
  CREATE TEMP TABLE tdm_shared_keys ON COMMIT DROP AS
    SELECT row_ctid, h FROM tdm_keys
     WHERE h IN (SELECT h FROM tdm_keys GROUP BY h HAVING count(*) > 1);
  CREATE TEMP TABLE tdm_labels ON COMMIT DROP AS
    SELECT row_ctid, min(h) AS label FROM tdm_shared_keys GROUP BY row_ctid;
  ANALYZE tdm_shared_keys;
  ANALYZE tdm_labels;
  LOOP
    WITH key_label AS (
           SELECT s.h, min(l.label) AS label
             FROM tdm_shared_keys s JOIN tdm_labels l USING (row_ctid) GROUP BY s.h),
         row_label AS (
           SELECT s.row_ctid, min(k.label) AS label
             FROM tdm_shared_keys s JOIN key_label k USING (h) GROUP BY s.row_ctid)
    UPDATE tdm_labels l SET label = r.label FROM row_label r
     WHERE r.row_ctid = l.row_ctid AND r.label < l.label;
    GET DIAGNOSTICS changed = ROW_COUNT;
    EXIT WHEN changed = 0;
  END LOOP;
  SELECT count(*) INTO labelled FROM tdm_labels;
  RETURN labelled;
END
$$;

-- Keys, ids and members are spelled from values' text: the settings that
-- change how values print are pinned, so the same data gives the same ids
-- in any session (timestamps show in UTC, ISO style).
CREATE FUNCTION tdm.detect_conflicts(release text) RETURNS SETOF tdm.conflict_preview
AS 'MODULE_PATHNAME', 'tdm_detect_conflicts' LANGUAGE C
SET DateStyle TO 'ISO, YMD' SET IntervalStyle TO 'postgres' SET TimeZone TO 'UTC' SET bytea_output TO 'hex' SET lc_monetary TO 'C'
SET extra_float_digits TO 1;
COMMENT ON FUNCTION tdm.detect_conflicts(text) IS
  'Dry run of collection and conflict detection: writes nothing durable';

-- Detection alone, on the tables a tdm._collect of the same release left in
-- this transaction (used by the benchmark to time the phase by itself).
CREATE FUNCTION tdm._detect_collected(release text) RETURNS SETOF tdm.conflict_preview
AS 'MODULE_PATHNAME', 'tdm_detect_collected' LANGUAGE C
SET DateStyle TO 'ISO, YMD' SET IntervalStyle TO 'postgres' SET TimeZone TO 'UTC' SET bytea_output TO 'hex' SET lc_monetary TO 'C'
SET extra_float_digits TO 1;

-- What consolidation needs beyond the preview: the survivor's and the
-- re-keyed rows' positions among the members (0-based), and the merged row.
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
  merged      jsonb
);
CREATE FUNCTION tdm._detect_plan(release text, rel regclass DEFAULT NULL) RETURNS SETOF tdm._conflict_plan
AS 'MODULE_PATHNAME', 'tdm_detect_collected' LANGUAGE C
SET DateStyle TO 'ISO, YMD' SET IntervalStyle TO 'postgres' SET TimeZone TO 'UTC' SET bytea_output TO 'hex' SET lc_monetary TO 'C'
SET extra_float_digits TO 1;
