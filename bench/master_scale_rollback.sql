-- One rollback of bench/master_scale.sql: rows changed, then a rollback
-- to snapshot :snap, timed, and the time it held the target locked.
SELECT bench_wait_spares(:snap, true) \gset
DELETE FROM master.transactions WHERE txn_id % 100 = 7;
SELECT clock_timestamp() AS t0 \gset
SELECT tdm.rollback(:snap) AS the_job \gset
INSERT INTO bench_scale
SELECT current_setting('bench.rows')::bigint, 'rollback', 1000 * extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);
INSERT INTO bench_scale
SELECT current_setting('bench.rows')::bigint, 'rollback: target locked', (detail ->> 'locked_ms')::float8
  FROM tdm.job WHERE job_id = :the_job;
SELECT bench_wait_spares(:snap, true) \gset
