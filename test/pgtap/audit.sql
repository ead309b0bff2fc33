-- The audit trail is append-only and hash-chained; tampering by a
-- superuser who disables the triggers is detected at the broken link.
-- Appends stay one chain under REPEATABLE READ and in replica mode.
BEGIN;
SELECT plan(22);
CREATE EXTENSION IF NOT EXISTS dblink;
\ir ../../sql/include/sessions.sql

-- (First, while this transaction holds no audit row.) A REPEATABLE READ
-- transaction whose snapshot predates another session's append cannot
-- chain to the row before that: a serialization failure, to retry, and
-- the chain stays one line.
\o /dev/null
SELECT dblink_connect('rr', pg_temp.conninfo(current_database())),
       dblink_connect('other', pg_temp.conninfo(current_database()));
SELECT dblink_exec('rr', 'BEGIN ISOLATION LEVEL REPEATABLE READ');
SELECT * FROM dblink('rr', 'SELECT count(*) FROM tdm.audit') AS t(snapshot_taken bigint);
SELECT * FROM dblink('other', $$SELECT tdm.create_release('AUDIT-RR-1')$$) AS t(x text);
\o
SELECT throws_ok($$SELECT * FROM dblink('rr', 'SELECT tdm.create_release(''AUDIT-RR-2'')') AS t(x text)$$,
  '40001', NULL, 'an append under an older snapshot than the head is a serialization failure');
\o /dev/null
SELECT dblink_exec('rr', 'ROLLBACK');
\o
SELECT is((SELECT count(*)::int FROM tdm.audit WHERE object = 'AUDIT-RR-2'), 0, 'its row is not written');
SELECT is_empty('SELECT * FROM tdm.verify_audit()', 'the chain is one line');
-- Release names are created one at a time: a lookalike of a name another
-- session is creating waits for it, and is then refused, rather than
-- passing the check against a name not yet committed.
\o /dev/null
SELECT dblink_exec('other', 'BEGIN');
SELECT * FROM dblink('other', $$SELECT tdm.create_release('AUDIT-NAME')$$) AS t(x text);
SELECT dblink_send_query('rr', $$SELECT tdm.create_release('audit-name')$$);
SELECT pg_temp.wait_until($$EXISTS (SELECT FROM pg_stat_activity
                                     WHERE datname = current_database()
                                       AND query LIKE '%create_release(''audit-name'')%'
                                       AND wait_event_type = 'Lock')$$);
SELECT dblink_exec('other', 'COMMIT');
SELECT * FROM dblink_get_result('rr', false) AS t(x text);
\o
SELECT is(split_part(dblink_error_message('rr'), E'\n', 1),
  'ERROR:  release "audit-name" differs from release "AUDIT-NAME" only in case or spelling',
  'a lookalike of a release name being created waits for it, then is refused');
\o /dev/null
SELECT * FROM dblink_get_result('rr', false) AS t(x text);
-- An append waits for a transaction that appended and is still open; a
-- lock_timeout ends the wait with the holders named.
SELECT dblink_exec('other', 'BEGIN');
SELECT dblink_exec('other', $$INSERT INTO tdm.audit (action, object) VALUES ('tap_hold', 'AUDIT-HOLD')$$);
SELECT dblink_exec('rr', $$SET lock_timeout = '200ms'$$);
\o
SELECT throws_like($$SELECT dblink_exec('rr', 'INSERT INTO tdm.audit (action, object) VALUES (''tap_wait'', ''AUDIT-WAIT'')')$$,
  '%an open transaction holds the audit trail, and lock_timeout (200ms) ended the wait%',
  'an append that waits past lock_timeout for an open appender is told so');
\o /dev/null
SELECT dblink_exec('other', 'ROLLBACK'), dblink_exec('rr', 'RESET lock_timeout');
SELECT dblink_exec('other', $$DELETE FROM tdm.release WHERE release IN ('AUDIT-NAME', 'audit-name')$$);
SELECT dblink_exec('other', $$DELETE FROM tdm.release WHERE release = 'AUDIT-RR-1'$$),
       dblink_disconnect('rr'), dblink_disconnect('other');
\o

SELECT tdm.create_release('A1');
SELECT tdm.create_release('A2');
SELECT tdm.create_release('A3');
SELECT tdm.add_feature('A2', 'FEAT-1', 1);
CREATE TEMP TABLE ids AS
  SELECT audit_id, row_number() OVER (ORDER BY audit_id) AS n FROM tdm.audit
   WHERE object IN ('A1', 'A2', 'A3', 'A2/FEAT-1');

SELECT is((SELECT count(*)::int FROM ids), 4, 'each setup call wrote one audit row');
SELECT is_empty('SELECT * FROM tdm.verify_audit()', 'an intact chain has no broken link');

SELECT throws_ok($$UPDATE tdm.audit SET action = 'x'$$, '42501',
  'tdm.audit is append-only: UPDATE refused', 'UPDATE refused');
SELECT throws_ok($$DELETE FROM tdm.audit$$, '42501',
  'tdm.audit is append-only: DELETE refused', 'DELETE refused');
SELECT throws_ok($$TRUNCATE tdm.audit$$, '42501',
  'tdm.audit is append-only: TRUNCATE refused', 'TRUNCATE refused');

-- A superuser changes a row behind the triggers' back.
SAVEPOINT tamper;
ALTER TABLE tdm.audit DISABLE TRIGGER audit_append_only;
UPDATE tdm.audit SET detail = '{"code_version": "forged"}'
 WHERE audit_id = (SELECT audit_id FROM ids WHERE n = 2);
SELECT results_eq(
  $$SELECT audit_id, problem FROM tdm.verify_audit()$$,
  $$SELECT audit_id, format('audit row %s was changed after it was written', audit_id)
      FROM ids WHERE n = 2$$,
  'a changed row is the first broken link');
ROLLBACK TO SAVEPOINT tamper;

-- ... or removes one: the next row no longer chains.
ALTER TABLE tdm.audit DISABLE TRIGGER audit_append_only;
DELETE FROM tdm.audit WHERE audit_id = (SELECT audit_id FROM ids WHERE n = 2);
SELECT results_eq(
  $$SELECT audit_id FROM tdm.verify_audit()$$,
  $$SELECT audit_id FROM ids WHERE n = 3$$,
  'a removed row breaks the link of the row after it');
SELECT matches((SELECT problem FROM tdm.verify_audit()), 'does not chain to row',
  'the problem says the chain is broken');
ROLLBACK TO SAVEPOINT tamper;

-- ... or re-computes a forged row's own hash: the next row still breaks.
ALTER TABLE tdm.audit DISABLE TRIGGER audit_append_only;
UPDATE tdm.audit a SET detail = '{"forged": true}' WHERE audit_id = (SELECT audit_id FROM ids WHERE n = 2);
UPDATE tdm.audit a SET hash = tdm._audit_hash(a) WHERE audit_id = (SELECT audit_id FROM ids WHERE n = 2);
SELECT results_eq(
  $$SELECT audit_id FROM tdm.verify_audit()$$,
  $$SELECT audit_id FROM ids WHERE n = 3$$,
  'a re-hashed forged row is caught at the next link');
ROLLBACK TO SAVEPOINT tamper;

SELECT is_empty('SELECT * FROM tdm.verify_audit()', 'the untouched chain verifies again');

-- ... or removes the last rows: the chain's head still names the last one.
SAVEPOINT tamper;
ALTER TABLE tdm.audit DISABLE TRIGGER audit_append_only;
DELETE FROM tdm.audit WHERE audit_id >= (SELECT audit_id FROM ids WHERE n = 3);
SELECT results_eq(
  $$SELECT audit_id, problem FROM tdm.verify_audit()$$,
  $$SELECT (SELECT max(audit_id) FROM ids),
           format('the chain ends at row %s, but row %s was appended last: rows at its end were '
                  'removed or changed', (SELECT audit_id FROM ids WHERE n = 2), (SELECT max(audit_id) FROM ids))$$,
  'removed last rows are found through the head');
SELECT tdm.create_release('A5');
SELECT matches((SELECT problem FROM tdm.verify_audit()), 'does not chain to row',
  'and still after the next append, which chains to the head');
ROLLBACK TO SAVEPOINT tamper;
-- ... and a superuser who then appends a complete row chained to what is
-- left (the next id, the last row's hash) does not move the head: the
-- removal is still found.
SAVEPOINT tamper;
ALTER TABLE tdm.audit DISABLE TRIGGER audit_append_only;
DELETE FROM tdm.audit WHERE audit_id >= (SELECT audit_id FROM ids WHERE n = 3);
CREATE TEMP TABLE forged AS SELECT * FROM tdm.audit WHERE audit_id = (SELECT audit_id FROM ids WHERE n = 2);
UPDATE forged SET audit_id = (SELECT max(audit_id) + 1 FROM ids), prev_hash = hash, detail = '{"forged": true}';
UPDATE forged f SET hash = tdm._audit_hash(ROW(f.*)::tdm.audit);
INSERT INTO tdm.audit SELECT * FROM forged;
SELECT results_eq(
  $$SELECT audit_id, problem FROM tdm.verify_audit()$$,
  $$SELECT (SELECT max(audit_id) FROM ids),
           format('rows after row %s, appended last as far as the head knows, do not chain from it: rows up to it'
                  ' were removed or changed, and rows appended since (to row %s)',
                  (SELECT max(audit_id) FROM ids), (SELECT max(audit_id) + 1 FROM ids))$$,
  'a complete row appended after the removal does not hide it: the head stays');
ROLLBACK TO SAVEPOINT tamper;
SELECT throws_ok($$UPDATE tdm.audit_head SET hash = repeat('f', 64)$$, '42501',
  'tdm.audit_head moves only with an append to tdm.audit: UPDATE refused', 'the head moves only with an append');

-- A session in replica mode (session_replication_role) still chains its
-- rows and cannot remove any.
SET LOCAL session_replication_role = replica;
SELECT tdm.create_release('A4');
SELECT isnt((SELECT hash FROM tdm.audit WHERE object = 'A4'), '', 'a row appended in replica mode is hashed');
SELECT is_empty('SELECT * FROM tdm.verify_audit()', 'and chained');
SELECT throws_ok($$DELETE FROM tdm.audit$$, '42501',
  'tdm.audit is append-only: DELETE refused', 'DELETE refused in replica mode');
RESET session_replication_role;

SELECT * FROM finish();
ROLLBACK;
