-- Snapshot and rollback of master as it grows (psql, after bench/master.sql
-- in the same database). Run with -v users=N: master is filled with N
-- synthetic users (release BENCH), one account each and two transactions
-- per account (4N rows with the consolidated ones), then a snapshot is timed
-- against CREATE TABLE AS of the same tables and the rollback spares are
-- waited for (three rounds, bench/master_scale_round.sql), some rows are
-- changed and a rollback returns them (three times, master_scale_rollback.sql);
-- the time it held the target locked
-- is kept in bench_scale for the ratios bench/master_report.sql prints
-- (medians).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE TABLE IF NOT EXISTS bench_scale (rows bigint, measure text, ms float8);
-- Waits (at most 10 minutes) until the snapshot's spares are all built and,
-- with `idle`, no spare worker runs any more.
CREATE OR REPLACE FUNCTION bench_wait_spares(snap bigint, idle bool) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1 .. 12000 LOOP
    EXIT WHEN (SELECT count(*) FROM tdm.snapshot_spare s WHERE s.snapshot_id = snap)
            = (SELECT count(*) FROM tdm.snapshot_table t WHERE t.snapshot_id = snap)
          AND NOT (idle AND EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'tdm_spare'));
    PERFORM pg_sleep(0.05);
  END LOOP;
END
$$;

-- Filled by SQL rather than consolidated: the measure is of master's size.
DELETE FROM master.transactions WHERE tdm_release = 'BENCH';
DELETE FROM master.accounts WHERE tdm_release = 'BENCH';
DELETE FROM master.users WHERE tdm_release = 'BENCH';
INSERT INTO master.users (user_id, email, full_name, role, created_at, updated_at, tdm_release, tdm_feature)
SELECT 1000000000 + g, 'bench' || g || '@example.com', 'Bench User ' || g, 'Customer',
       '2024-01-01', '2024-01-01', 'BENCH', 'FEAT-BENCH'
  FROM generate_series(1, :users) AS g;
INSERT INTO master.accounts (account_id, user_id, account_number, balance, currency, created_at, updated_at, tdm_release, tdm_feature)
SELECT 1000000000 + g, 1000000000 + g, 'BENCH-' || g, g % 1000, 'EUR',
       '2024-01-01', '2024-01-01', 'BENCH', 'FEAT-BENCH'
  FROM generate_series(1, :users) AS g;
INSERT INTO master.transactions (txn_id, account_id, amount, kind, created_at, updated_at, tdm_release, tdm_feature)
SELECT 1000000000 + g, 1000000000 + (g + 1) / 2, 1 + g % 500, 'deposit',
       '2024-01-01', '2024-01-01', 'BENCH', 'FEAT-BENCH'
  FROM generate_series(1, 2 * :users) AS g;
VACUUM ANALYZE master.users, master.accounts, master.transactions;
SELECT sum(n) AS master_rows FROM (
  SELECT count(*) AS n FROM master.users UNION ALL SELECT count(*) FROM master.accounts
  UNION ALL SELECT count(*) FROM master.transactions) c \gset
SELECT set_config('bench.rows', :'master_rows', false) \gset

-- Three rounds of CREATE TABLE AS, snapshot and spares (the report takes
-- medians); the rollback below goes to the last snapshot.
\ir master_scale_round.sql
\ir master_scale_round.sql
\ir master_scale_round.sql

-- A production validation that went wrong (1% of the transactions gone),
-- then a rollback to the last snapshot; three times (the report takes
-- medians), each after the worker the previous rollback launched (ANALYZE,
-- then the next spares) is done, so that it does not run into the measure.
\ir master_scale_rollback.sql
\ir master_scale_rollback.sql
\ir master_scale_rollback.sql
