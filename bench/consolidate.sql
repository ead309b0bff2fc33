-- Benchmark of consolidation end to end (psql, one session, in a scenario
-- database built by scripts/bench-db.sh with users, accounts and
-- transactions). Every conflict is auto-resolvable: no core columns, and
-- every feature of the release plan has its own priority. The baseline is
-- a raw INSERT .. SELECT of the same tagged rows from the same foreign
-- tables into unconstrained copies of the target tables. Three runs each
-- (psql variable `runs`; 0: consolidate once, measure nothing),
-- alternating; medians, the ratio and consolidate's phases are reported.
-- A second reference, informative: the same rows, one per primary key,
-- into copies of the target tables with their indexes and CHECKs (no
-- foreign keys). It is what putting the rows into the target's indexes
-- costs by itself, before anything a consolidation decides. Measured
-- where one row per primary key is one row per entity (psql variable
-- `indexed`, default 1; the scenario with colliding ids sets 0).
\set ON_ERROR_STOP 1
\if :{?runs}
\else
\set runs 3
\endif
\if :{?indexed}
\else
\set indexed 1
\endif
SELECT set_config('bench.runs', :'runs', false), set_config('bench.indexed', :'indexed', false) \g /dev/null
SELECT :runs > 0 AS measured \gset
\pset footer off
SET client_min_messages = warning;

\o /dev/null
SELECT tdm.add_environment('st' || i, 'st' || i, 10 * i) FROM generate_series(1, 3) AS i;
SELECT tdm.manage_table('staging.users', '{email}', 'updated_at');
SELECT tdm.manage_table('staging.accounts', '{account_number}', 'updated_at');
SELECT tdm.manage_table('staging.transactions', updated_at_column => 'updated_at',
                        surrogate_key => true);
SELECT tdm.create_release('R2', 'v2.0');
SELECT tdm.add_feature('R2', 'FEAT-' || f, f - 100) FROM generate_series(101, 108) AS f;
SELECT tdm.tag_release('R2');
\o

CREATE SCHEMA raw;
CREATE TABLE raw.users (LIKE staging.users);
CREATE TABLE raw.accounts (LIKE staging.accounts);
CREATE TABLE raw.transactions (LIKE staging.transactions);
CREATE SCHEMA indexed;
CREATE TABLE indexed.users (LIKE staging.users INCLUDING ALL);
CREATE TABLE indexed.accounts (LIKE staging.accounts INCLUDING ALL);
CREATE TABLE indexed.transactions (LIKE staging.transactions INCLUDING ALL);
CREATE TABLE bench_result (measure text, run int, ms float8, phases jsonb);

-- The raw copy: every tagged row of the three tables, as is. Into
-- schema `indexed`: one row per primary key (the first column).
CREATE FUNCTION raw_copy(into_schema text DEFAULT 'raw') RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  t text;
  tagged text;
BEGIN
  FOREACH t IN ARRAY ARRAY['users', 'accounts', 'transactions'] LOOP
    EXECUTE format('TRUNCATE %I.%I', into_schema, t);
    tagged := (SELECT string_agg(format('SELECT * FROM %s WHERE tdm_release = %L',
                                        tdm._env_table(name, ('staging.' || t)::regclass), 'R2'),
                                 ' UNION ALL ')
                 FROM tdm.environment);
    IF into_schema = 'indexed' THEN
      tagged := format('SELECT DISTINCT ON (1) * FROM (%s) AS tagged', tagged);
    END IF;
    EXECUTE format('INSERT INTO %I.%I ', into_schema, t) || tagged;
  END LOOP;
END
$$;

-- Warm-up of both, unmeasured (the environments' caches).
SELECT raw_copy();
SELECT tdm.consolidate('R2') AS run \gset
SELECT status AS warm_up_status, rows_collected, conflicts, manual FROM tdm.run WHERE run_id = :run;

DO $$
DECLARE
  t0 timestamptz;
  the_run bigint;
BEGIN
  FOR i IN 1 .. current_setting('bench.runs')::int LOOP
    t0 := clock_timestamp();
    PERFORM raw_copy();
    INSERT INTO bench_result VALUES ('raw copy', i, 1000 * extract(epoch FROM clock_timestamp() - t0));
    IF current_setting('bench.indexed')::int = 1 THEN
      t0 := clock_timestamp();
      PERFORM raw_copy('indexed');
      INSERT INTO bench_result VALUES ('indexed copy', i, 1000 * extract(epoch FROM clock_timestamp() - t0));
    END IF;
    -- Each measured consolidation starts from empty targets and a new run.
    TRUNCATE staging.users, staging.accounts, staging.transactions;
    UPDATE tdm.run SET status = 'failed' WHERE status <> 'failed';
    t0 := clock_timestamp();
    the_run := tdm.consolidate('R2');
    INSERT INTO bench_result
    SELECT 'consolidate', i, 1000 * extract(epoch FROM clock_timestamp() - t0), r.phase_ms
      FROM tdm.run r WHERE r.run_id = the_run;
  END LOOP;
END
$$ LANGUAGE plpgsql;

\if :measured
\echo
\echo '== Consolidation end to end vs raw copy (medians of' :runs 'runs, ms)'
SELECT measure, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS median_ms
  FROM bench_result GROUP BY measure ORDER BY measure;
WITH median AS (
  SELECT measure, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS ms FROM bench_result GROUP BY measure)
SELECT r.measure || ' / raw copy' AS ratio, round((m.ms / raw.ms)::numeric, 2) AS value, r.target
  FROM (VALUES (1, 'consolidate', '<= 1.30'), (2, 'indexed copy', '(informative)')) AS r(n, measure, target)
  JOIN median m USING (measure) JOIN median raw ON raw.measure = 'raw copy'
 ORDER BY r.n;
\echo 'Phases of consolidate (median ms over the runs):'
SELECT p.key AS phase, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY p.value::numeric)::numeric) AS median_ms
  FROM bench_result, jsonb_each_text(phases) p WHERE measure = 'consolidate'
 GROUP BY p.key ORDER BY array_position('{collect,detect,resolve,validate,load,audit}', p.key);
SELECT rows_collected, conflicts, auto_resolved, manual, rows_loaded, rows_merged, rows_renamed,
       rows_deleted FROM tdm.run WHERE status = 'completed' ORDER BY run_id DESC LIMIT 1;
\endif
