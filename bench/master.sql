-- Benchmark of snapshots and rollback (psql, after bench/consolidate.sql in
-- the same database: R2 is consolidated into staging). R2 is promoted to
-- master; a snapshot of master is timed against CREATE TABLE AS of the same
-- tables, and a rollback reports how long it held the target locked.
\set ON_ERROR_STOP 1
\pset footer off
SET client_min_messages = warning;
\o /dev/null
SELECT tdm.promote('R2');
\o
CREATE TABLE bench_master (measure text, run int, ms float8);

DO $$
DECLARE
  t0 timestamptz;
  id bigint;
BEGIN
  FOR i IN 1 .. 3 LOOP
    t0 := clock_timestamp();
    CREATE TABLE ctas_users AS SELECT * FROM master.users;
    CREATE TABLE ctas_accounts AS SELECT * FROM master.accounts;
    CREATE TABLE ctas_transactions AS SELECT * FROM master.transactions;
    INSERT INTO bench_master VALUES ('create table as', i, 1000 * extract(epoch FROM clock_timestamp() - t0));
    DROP TABLE ctas_users, ctas_accounts, ctas_transactions;
    t0 := clock_timestamp();
    id := tdm.snapshot('bench ' || i, 'master');
    INSERT INTO bench_master VALUES ('snapshot', i, 1000 * extract(epoch FROM clock_timestamp() - t0));
  END LOOP;
END
$$;

-- Rollback after a change, three times: total time and time locked.
DO $$
DECLARE
  t0 timestamptz;
  the_job bigint;
  snap bigint := (SELECT max(snapshot_id) FROM tdm.snapshot);
BEGIN
  FOR i IN 1 .. 3 LOOP
    DELETE FROM master.transactions WHERE txn_id % 10 = i;
    t0 := clock_timestamp();
    the_job := tdm.rollback(snap);
    INSERT INTO bench_master VALUES ('rollback', i, 1000 * extract(epoch FROM clock_timestamp() - t0));
    INSERT INTO bench_master
    SELECT 'rollback: target locked', i, (detail ->> 'locked_ms')::float8 FROM tdm.job WHERE job_id = the_job;
  END LOOP;
END
$$;

\echo
\echo '== Snapshot and rollback of master (medians of 3 runs, ms)'
SELECT measure, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS median_ms
  FROM bench_master GROUP BY measure ORDER BY measure;
SELECT 'snapshot / create table as' AS ratio,
       round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM bench_master WHERE measure = 'snapshot')::numeric
           / (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM bench_master WHERE measure = 'create table as')::numeric, 2)
         AS value, '(informative: ~110k rows, where fixed costs weigh; the 1M-row target is below)' AS target
UNION ALL
SELECT 'snapshot - create table as (ms, the fixed cost)',
       round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM bench_master WHERE measure = 'snapshot')::numeric
           - (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM bench_master WHERE measure = 'create table as')::numeric, 1),
       '';
SELECT (SELECT count(*) FROM master.users) AS users, (SELECT count(*) FROM master.accounts) AS accounts,
       (SELECT count(*) FROM master.transactions) AS transactions;
