-- A lock on the target's tables that another session holds, and the
-- caller's lock_timeout: the call says what waited, and for whom, not
-- only PostgreSQL's "canceling statement due to lock timeout".
BEGIN;
SELECT plan(8);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;
SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_lw_e1;
  CREATE TABLE tap_lw_e1.lw_item (id int PRIMARY KEY, tdm_release text, tdm_feature text);
  INSERT INTO tap_lw_e1.lw_item VALUES (1, 'TLW', 'F');
  CREATE TABLE staging.lw_item (LIKE tap_lw_e1.lw_item INCLUDING ALL)$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_lw_self');
SELECT tdm.add_environment('lw1', 'tap_lw_self', 10, 'tap_lw_e1'), tdm.manage_table('staging.lw_item');
SELECT tdm.create_release('TLW'), tdm.add_feature('TLW', 'F', 1);
SELECT tdm.tag_release('TLW');
SAVEPOINT tagged;

SELECT dblink_connect('locker', pg_temp.conninfo(current_database()));
SELECT dblink_exec('locker', 'BEGIN'), dblink_exec('locker', 'LOCK TABLE staging.lw_item IN ACCESS EXCLUSIVE MODE');
SET lock_timeout = '200ms';
SELECT throws_ok($$SELECT tdm.snapshot('tap-lock', 'staging')$$, '55P03',
  'snapshot: the snapshot of staging waited for a lock, and lock_timeout (200ms) ended the wait',
  'a snapshot that waits for a lock says so');
SELECT ok((SELECT detail FROM pg_temp.error_of($$SELECT tdm.snapshot('tap-lock', 'staging')$$))
            ~ '^Sessions holding locks on its tables: backend \d+ \(\w+, AccessExclusiveLock on staging.lw_item\)\.$',
  'and names the session that holds it, the lock and the table');
SELECT throws_ok($$SELECT tdm.consolidate('TLW')$$, '55P03',
  'consolidate: the load into staging waited for a lock on its tables, and lock_timeout (200ms) ended the wait',
  'so does a consolidation''s load');
SELECT dblink_exec('locker', 'ROLLBACK');
-- (a lock on tdm's own tables: another call's, or a DBA's)
SELECT dblink_exec('locker', 'BEGIN'), dblink_exec('locker', 'LOCK TABLE tdm.run IN ACCESS EXCLUSIVE MODE');
SELECT throws_ok($$SELECT tdm.consolidate('TLW')$$, '55P03',
  'consolidate: the consolidation of TLW waited for a lock, and lock_timeout (200ms) ended the wait',
  'and a consolidation that waits before its load');
SELECT is((SELECT detail FROM pg_temp.error_of($$SELECT tdm.consolidate('TLW')$$)),
  'No other session holds a lock on the tables of staging, master now: the wait was for one that has ended, or for'
  ' another lock (one of tdm''s own, a table of tdm or a call of the same kind). Sessions holding advisory locks'
  ' (tdm''s calls take turns by them): none. tdm calls running: none.',
  'saying that no session holds its tables (a DBA''s lock on tdm''s own is not a reviewer''s to end)');
RESET lock_timeout;
SELECT dblink_exec('locker', 'ROLLBACK');
-- (a consolidation into staging under way in another session: a rollback
-- of staging takes its turn after it, as consolidations into one target
-- do; before, each held what the other waited for, and one of them ended
-- in a deadlock)
SELECT tdm.snapshot('tap-lw-staging', 'staging') AS lw_snap \gset
SELECT dblink_exec('locker', 'BEGIN');
SELECT * FROM dblink('locker', 'SELECT pg_advisory_xact_lock(hashtext(''tdm load''), hashtext(''staging''))')
                AS t(x text)
  \g /dev/null
SET lock_timeout = '200ms';
SELECT throws_like(format('SELECT tdm.rollback(%s)', :lw_snap),
  'rollback: the rollback to snapshot % waited for a lock%',
  'a rollback of staging waits for a consolidation into staging');
RESET lock_timeout;
SELECT dblink_exec('locker', 'ROLLBACK');
-- (a promote of the release in another session's transaction, still open:
-- the calls take turns by an advisory lock, which that session holds)
SELECT tdm.consolidate('TLW');
SELECT dblink_exec('locker', 'BEGIN');
SELECT * FROM dblink('locker', 'SELECT pg_advisory_xact_lock(hashtext(''tdm release turn''), hashtext(''TLW''))')
                AS t(x text)
  \g /dev/null
SET lock_timeout = '200ms';
SELECT ok((SELECT detail FROM pg_temp.error_of($$SELECT tdm.promote('TLW')$$))
            ~ 'Sessions holding advisory locks \(tdm''s calls take turns by them\): backend \d+ \(\w+, idle in transaction\)\.',
  'a wait for one of tdm''s own locks names the sessions holding advisory locks');
RESET lock_timeout;
SELECT dblink_exec('locker', 'ROLLBACK'), dblink_disconnect('locker');
SELECT ok((SELECT count(*) = 0 FROM tdm.snapshot WHERE label = 'tap-lock'), 'and nothing was left of the calls');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_lw_e1 CASCADE;
DROP TABLE staging.lw_item;
