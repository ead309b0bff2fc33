-- A statement writing decisions takes the audit trail's head before any
-- decision row. A reviewer whose open transaction held the head (an
-- earlier decision) and who then wrote a conflict another reviewer's
-- statement had just written waited for that statement's row, while it
-- waited for the head: a deadlock (40P01), every time. Here another
-- session holds the head: a decision, even one on no conflict, waits for
-- it first (lock_timeout ends the wait with the holder named), before
-- its row is checked or written.
BEGIN;
SELECT plan(2);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_connect('tap_dh', pg_temp.conninfo(current_database()));
SELECT dblink_exec('tap_dh', $$SET idle_in_transaction_session_timeout = '30s'$$),
       dblink_exec('tap_dh', 'BEGIN');
SELECT audited > 0 AS holder_audited
  FROM dblink('tap_dh', $$SELECT tdm._audit('test', 'decision_head_first')$$) AS t(audited bigint);
SET lock_timeout = '300ms';
SELECT throws_like($$INSERT INTO tdm.decision (conflict_id, action, rationale) VALUES ('C-nowhere', 'keep', 'x')$$,
  'tdm: an open transaction holds the audit trail, and lock_timeout (300ms) ended the wait',
  'a decision waits for the audit trail''s head before its row is checked');
SELECT throws_like($$UPDATE tdm.decision SET rationale = 'y' WHERE conflict_id = 'C-nowhere'$$,
  'tdm: an open transaction holds the audit trail, and lock_timeout (300ms) ended the wait',
  'so does an update of decisions, before it locks any row');
RESET lock_timeout;
SELECT dblink_exec('tap_dh', 'ROLLBACK'), dblink_disconnect('tap_dh');

SELECT * FROM finish();
ROLLBACK;
