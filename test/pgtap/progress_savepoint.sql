-- A foreground call that fails under a savepoint (here, cancelled by
-- statement_timeout while an environment's table is locked) leaves no
-- row in tdm.progress while the transaction goes on: its slot is given
-- back when its subtransaction aborts, not only at the transaction's end.
-- A slot taken under a savepoint released (committed into its parent)
-- stays.
BEGIN;
SELECT plan(4);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_ps_e1;
  CREATE TABLE tap_ps_e1.ps_item (id int PRIMARY KEY, label text, tdm_release text, tdm_feature text);
  INSERT INTO tap_ps_e1.ps_item VALUES (1, 'one', 'TPS', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_ps_self');
CREATE SCHEMA tap_ps;
CREATE TABLE tap_ps.ps_item (id int PRIMARY KEY, label text, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('ps1', 'tap_ps_self', 10, 'tap_ps_e1');
SELECT tdm.manage_table('tap_ps.ps_item');
SELECT tdm.create_release('TPS'), tdm.add_feature('TPS', 'F', 1);

SELECT dblink_connect('tap_ps_locker', pg_temp.conninfo(current_database()));
-- (The lock goes with the locker's session if this test stops early.)
SELECT dblink_exec('tap_ps_locker', 'SET idle_in_transaction_session_timeout = ''30s'''),
       dblink_exec('tap_ps_locker', 'BEGIN'),
       dblink_exec('tap_ps_locker', 'LOCK TABLE tap_ps_e1.ps_item IN ACCESS EXCLUSIVE MODE');
-- (The call runs in a subtransaction, which the cancel aborts.)
CREATE FUNCTION pg_temp.cancelled(call text) RETURNS bool LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE call;
  RETURN false;
EXCEPTION WHEN query_canceled THEN
  RETURN true;
END
$$;
SET statement_timeout = '1s';
SELECT ok(pg_temp.cancelled($$SELECT tdm.tag_release('TPS')$$),
  'tag_release waits for the locked environment table, and is cancelled');
RESET statement_timeout;
SELECT is((SELECT count(*)::int FROM tdm.progress WHERE pid = pg_backend_pid()), 0,
  'the cancelled call''s progress is gone, though its transaction goes on');
SELECT dblink_exec('tap_ps_locker', 'ROLLBACK'), dblink_disconnect('tap_ps_locker');

SAVEPOINT kept;
SELECT tdm._progress_begin(-7001, 'test', 'TPS');
RELEASE SAVEPOINT kept;
SAVEPOINT dropped;
SELECT tdm._progress_begin(-7002, 'test', 'TPS');
ROLLBACK TO SAVEPOINT dropped;
SELECT is((SELECT count(*)::int FROM tdm.progress WHERE job_id = -7001), 1,
  'a slot taken under a savepoint since released stays');
SELECT is((SELECT count(*)::int FROM tdm.progress WHERE job_id = -7002), 0,
  'a slot taken under a savepoint rolled back to is given back');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_ps_e1 CASCADE;
