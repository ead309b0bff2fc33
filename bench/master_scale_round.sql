-- One round of bench/master_scale.sql: CREATE TABLE AS of master's tables,
-- then a snapshot of them, each timed after a CHECKPOINT (so that neither
-- pays for the other's writes), then the snapshot's rollback spares, built
-- by a worker after the snapshot commits, waited for (timed too) so that
-- the worker does not run into the next measure.
CHECKPOINT;
DO $$
DECLARE
  t0 timestamptz;
  total bigint := current_setting('bench.rows')::bigint;
BEGIN
  t0 := clock_timestamp();
  CREATE TABLE ctas_users AS SELECT * FROM master.users;
  CREATE TABLE ctas_accounts AS SELECT * FROM master.accounts;
  CREATE TABLE ctas_transactions AS SELECT * FROM master.transactions;
  INSERT INTO bench_scale VALUES (total, 'create table as', 1000 * extract(epoch FROM clock_timestamp() - t0));
  DROP TABLE ctas_users, ctas_accounts, ctas_transactions;
END
$$;

CHECKPOINT;
SELECT clock_timestamp() AS t0 \gset
SELECT tdm.snapshot('bench scale ' || current_setting('bench.rows'), 'master') AS snap \gset
INSERT INTO bench_scale
SELECT current_setting('bench.rows')::bigint, 'snapshot', 1000 * extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);

SELECT clock_timestamp() AS t0 \gset
SELECT bench_wait_spares(:snap, false) \gset
INSERT INTO bench_scale
SELECT current_setting('bench.rows')::bigint, 'rollback spares (background)',
       1000 * extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
