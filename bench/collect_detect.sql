-- Benchmark of collection and detection (psql, one session, in the
-- scenario database built by scripts/bench.sh). Each measure runs five
-- times, alternating with its baseline; medians and ratios are reported.
\set ON_ERROR_STOP 1
\pset footer off
SET client_min_messages = warning;

\o /dev/null
SELECT tdm.add_environment('st' || i, 'st' || i, 10 * i) FROM generate_series(1, 3) AS i;
SELECT tdm.manage_table('staging.users', '{email}', 'updated_at', '{role}');
SELECT tdm.create_release('R2', 'v2.0');
SELECT tdm.add_feature('R2', 'FEAT-' || f, f % 3) FROM generate_series(101, 108) AS f;
SELECT tdm.tag_release('R2');
\o

CREATE TABLE bench_result (measure text, run int, ms float8);
CREATE TABLE bench_memory (stage text, kb bigint);

-- Peak resident memory of this backend (VmHWM), and its reset.
CREATE FUNCTION bench_peak_kb() RETURNS bigint LANGUAGE sql AS $$
  SELECT substring(pg_read_file('/proc/' || pg_backend_pid() || '/status')
                   FROM 'VmHWM:\s+(\d+) kB')::bigint
$$;
CREATE FUNCTION bench_reset_peak() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('COPY (SELECT 5) TO %L', '/proc/' || pg_backend_pid() || '/clear_refs');
EXCEPTION WHEN OTHERS THEN
  NULL;  -- not available: the peak then covers the whole session
END
$$;

-- Collection against a raw INSERT .. SELECT from the same foreign tables,
-- after one unmeasured warm-up of each (the environments' caches).
DO $$
DECLARE
  t0 timestamptz;
  raw_sql text := 'INSERT INTO raw_copy ' || (
    SELECT string_agg(format('SELECT * FROM %s WHERE tdm_release = %L',
                             tdm._env_table(name, 'staging.users'), 'R2'), ' UNION ALL ')
      FROM tdm.environment);
BEGIN
  CREATE TEMP TABLE raw_copy (LIKE staging.users);
  EXECUTE raw_sql;
  DROP TABLE raw_copy;
  PERFORM * FROM tdm._collect('R2');
  FOR i IN 1 .. 5 LOOP
    CREATE TEMP TABLE raw_copy (LIKE staging.users);
    t0 := clock_timestamp();
    EXECUTE raw_sql;
    INSERT INTO bench_result VALUES ('raw copy', i, 1000 * extract(epoch FROM clock_timestamp() - t0));
    DROP TABLE raw_copy;
    t0 := clock_timestamp();
    PERFORM * FROM tdm._collect('R2');
    INSERT INTO bench_result VALUES ('collect', i, 1000 * extract(epoch FROM clock_timestamp() - t0));
  END LOOP;
END
$$;

-- Detection alone on collected rows, against plain SQL finding the same
-- conflicting keys (GROUP BY the primary key and the natural key, with the
-- attribute comparison).
DO $$
DECLARE
  t0 timestamptz;
  collected text;
  sql_detect text;
  n bigint;
BEGIN
  PERFORM * FROM tdm._collect('R2');
  collected := format('pg_temp.%I', tdm._collected_name('staging.users'));
  sql_detect := format(
    'WITH by_pk AS (SELECT user_id, count(DISTINCT (email, full_name, role, created_at)) AS variants'
    '                 FROM %1$s GROUP BY user_id HAVING count(*) > 1),'
    '     by_email AS (SELECT email, count(DISTINCT (user_id, full_name, role, created_at)) AS variants'
    '                    FROM %1$s GROUP BY email HAVING count(*) > 1)'
    ' SELECT (SELECT count(*) FROM by_pk) + (SELECT count(*) FILTER (WHERE variants > 1) FROM by_pk)'
    '      + (SELECT count(*) FROM by_email) + (SELECT count(*) FILTER (WHERE variants > 1) FROM by_email)',
    collected);
  FOR i IN 1 .. 5 LOOP
    PERFORM bench_reset_peak();
    t0 := clock_timestamp();
    SELECT count(*) INTO n FROM tdm._detect_collected('R2');
    INSERT INTO bench_result VALUES ('detect', i, 1000 * extract(epoch FROM clock_timestamp() - t0));
    INSERT INTO bench_memory VALUES ('detect ' || i, bench_peak_kb());
    t0 := clock_timestamp();
    EXECUTE sql_detect INTO n;
    INSERT INTO bench_result VALUES ('sql detect', i, 1000 * extract(epoch FROM clock_timestamp() - t0));
    -- The same with room for one partition.
    PERFORM set_config('tdm.work_mem', '256MB', true);
    PERFORM bench_reset_peak();
    t0 := clock_timestamp();
    SELECT count(*) INTO n FROM tdm._detect_collected('R2');
    INSERT INTO bench_result VALUES ('detect (256MB)', i, 1000 * extract(epoch FROM clock_timestamp() - t0));
    INSERT INTO bench_memory VALUES ('detect (256MB) ' || i, bench_peak_kb());
    RESET tdm.work_mem;
  END LOOP;

  -- Both find the same conflicting keys.
  EXECUTE format('CREATE TEMP TABLE keys_sql AS'
                 ' SELECT ''pk'' AS kind, user_id::text AS k FROM %1$s GROUP BY user_id HAVING count(*) > 1'
                 ' UNION SELECT ''nk'', email FROM %1$s GROUP BY email HAVING count(*) > 1', collected);
  CREATE TEMP TABLE keys_tdm AS
    SELECT 'pk' AS kind, m->'row'->>'user_id' AS k
      FROM tdm._detect_collected('R2') d, jsonb_array_elements(d.members) m
     GROUP BY d.conflict_id, 2 HAVING count(*) > 1
    UNION
    SELECT 'nk', m->'row'->>'email'
      FROM tdm._detect_collected('R2') d, jsonb_array_elements(d.members) m
     GROUP BY d.conflict_id, 2 HAVING count(*) > 1;
  INSERT INTO bench_result
  SELECT 'keys only in sql', 0, count(*) FROM (SELECT * FROM keys_sql EXCEPT SELECT * FROM keys_tdm) a
  UNION ALL
  SELECT 'keys only in tdm', 0, count(*) FROM (SELECT * FROM keys_tdm EXCEPT SELECT * FROM keys_sql) b
  UNION ALL
  SELECT 'conflicting keys', 0, count(*) FROM keys_sql;
END
$$;

\echo
\echo '== Collection and detection, 3 environments x users (medians of 5 runs, ms)'
WITH median AS (
  SELECT measure, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS ms
    FROM bench_result WHERE run > 0 GROUP BY measure)
SELECT measure, round(ms::numeric, 1) AS median_ms FROM median ORDER BY measure;

SELECT 'collection / raw copy' AS ratio,
       round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM bench_result WHERE measure = 'collect')::numeric
           / (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM bench_result WHERE measure = 'raw copy')::numeric, 2) AS value,
       '<= 1.10' AS target
UNION ALL
SELECT 'sql detect / tdm detect',
       round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM bench_result WHERE measure = 'sql detect')::numeric
           / (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM bench_result WHERE measure = 'detect')::numeric, 2),
       '>= 2.00'
UNION ALL
SELECT 'sql detect / tdm detect (256MB)',
       round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM bench_result WHERE measure = 'sql detect')::numeric
           / (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM bench_result WHERE measure = 'detect (256MB)')::numeric, 2),
       '(informative)';

SELECT measure, ms::bigint AS count FROM bench_result WHERE run = 0 ORDER BY measure;
SELECT stage, pg_size_pretty(kb * 1024) AS backend_peak_rss FROM bench_memory ORDER BY stage;
SELECT current_setting('tdm.work_mem') AS tdm_work_mem_default,
       (SELECT sum(row_count) FROM tdm.release_lock WHERE release = 'R2') AS rows_collected;
