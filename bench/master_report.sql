-- The figures of bench/master_scale.sql at its two sizes (medians of its
-- rounds), and the pg_dump -Fc + pg_restore baseline measured by
-- scripts/bench-db.sh.
\set ON_ERROR_STOP 1
\pset footer off
\echo
\echo '== Master at two sizes: snapshot, rollback, time locked (ms; ratios of medians)'
SELECT rows AS master_rows, measure, count(*) AS runs,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS median_ms,
       round(min(ms)::numeric, 1) AS min_ms, round(max(ms)::numeric, 1) AS max_ms
  FROM bench_scale GROUP BY rows, measure ORDER BY rows, measure;
WITH m AS (SELECT rows, measure, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS ms
             FROM bench_scale GROUP BY rows, measure),
     small AS (SELECT min(rows) AS n FROM m), large AS (SELECT max(rows) AS n FROM m)
SELECT 'snapshot / create table as (' || n || ' rows)' AS ratio,
       round((SELECT ms FROM m WHERE rows = n AND measure = 'snapshot')::numeric
           / (SELECT ms FROM m WHERE rows = n AND measure = 'create table as')::numeric, 2) AS value,
       '<= 1.00' AS target
  FROM (SELECT n FROM small UNION SELECT n FROM large) sizes
UNION ALL
SELECT 'pg_dump -Fc + pg_restore / rollback (' || n || ' rows)',
       round((SELECT ms FROM m WHERE rows = n AND measure = 'pg_dump -Fc + pg_restore')::numeric
           / (SELECT ms FROM m WHERE rows = n AND measure = 'rollback')::numeric, 2),
       '>= 20.00'
  FROM small
UNION ALL
SELECT 'pg_dump -Fc + pg_restore / (spares + rollback) (' || n || ' rows)',
       round((SELECT ms FROM m WHERE rows = n AND measure = 'pg_dump -Fc + pg_restore')::numeric
           / (SELECT sum(ms) FROM m WHERE rows = n
                 AND measure IN ('rollback', 'rollback spares (background)'))::numeric, 2),
       '(spares built at rollback)'
  FROM small
UNION ALL
SELECT 'rollback lock time, ' || large.n || ' / ' || small.n || ' rows',
       round((SELECT ms FROM m WHERE rows = large.n AND measure = 'rollback: target locked')::numeric
           / (SELECT ms FROM m WHERE rows = small.n AND measure = 'rollback: target locked')::numeric, 2),
       '<= 1.50'
  FROM small, large;
