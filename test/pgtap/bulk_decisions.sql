-- tdm.resolve_all keeps no member where the suggestion keeps them all
-- (two order lines under one key that are two products, which need new
-- keys from a reviewer): keeping one would merge the other away. And it
-- leaves a stale decision taken otherwise one by one (another member
-- kept) as it was, re-confirming only one it would take again; the
-- queue says what changed in a stale conflict's members. A blank
-- rationale is refused as its own.
BEGIN;
SELECT plan(20);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_bd_e1;
  CREATE SCHEMA tap_bd_e2;
  CREATE TABLE tap_bd_e1.line (order_no int, line_no int, sku text NOT NULL, tdm_release text, tdm_feature text,
                               PRIMARY KEY (order_no, line_no), UNIQUE (order_no, sku));
  CREATE TABLE tap_bd_e1.item (id int PRIMARY KEY, code text NOT NULL UNIQUE, qty int, note text,
                               tdm_release text, tdm_feature text);
  CREATE TABLE tap_bd_e2.line (LIKE tap_bd_e1.line INCLUDING ALL);
  CREATE TABLE tap_bd_e2.item (LIKE tap_bd_e1.item INCLUDING ALL);
  INSERT INTO tap_bd_e1.line VALUES (1, 1, 'S1', 'TBD1', 'F');
  INSERT INTO tap_bd_e2.line VALUES (1, 1, 'S2', 'TBD1', 'G');
  INSERT INTO tap_bd_e1.item VALUES (1, 'a', 1, 'n', 'TBD1', 'F'), (2, 'b', 1, 'n', 'TBD1', 'F');
  INSERT INTO tap_bd_e2.item VALUES (1, 'a', 2, 'n', 'TBD1', 'G'), (2, 'b', 2, 'n', 'TBD1', 'G')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_bd_self');
CREATE SCHEMA tap_bd;
CREATE TABLE tap_bd.line (order_no int, line_no int, sku text NOT NULL, tdm_release text, tdm_feature text,
                          PRIMARY KEY (order_no, line_no), UNIQUE (order_no, sku));
CREATE TABLE tap_bd.item (id int PRIMARY KEY, code text NOT NULL UNIQUE, qty int, note text, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('bd1', 'tap_bd_self', 10, 'tap_bd_e1'), tdm.add_environment('bd2', 'tap_bd_self', 20, 'tap_bd_e2');
SELECT tdm.manage_table('tap_bd.line', '{"order_no,sku"}'), tdm.manage_table('tap_bd.item', '{code}');
SELECT tdm.create_release('TBD1'), tdm.add_feature('TBD1', 'F', 1), tdm.add_feature('TBD1', 'G', 1);
SELECT tdm.tag_release('TBD1'), tdm.consolidate('TBD1', 'tap_bd');
SELECT conflict_id AS line_conflict FROM tdm.conflict WHERE rel = 'tap_bd.line'::regclass AND status = 'pending' \gset
SELECT conflict_id AS a_conflict FROM tdm.conflict
 WHERE rel = 'tap_bd.item'::regclass AND status = 'pending' AND members @> '[{"row": {"code": "a"}}]' \gset
SELECT conflict_id AS b_conflict FROM tdm.conflict
 WHERE rel = 'tap_bd.item'::regclass AND status = 'pending' AND members @> '[{"row": {"code": "b"}}]' \gset
-- One by one: a keeps bd2 (not the suggestion), b keeps the suggestion.
SELECT tdm.resolve(:'a_conflict', 'keep', 'bd2', rationale => 'bd2 counts a right'),
       tdm.resolve(:'b_conflict', 'keep', (SELECT cm.label FROM tdm.conflict_member cm JOIN tdm.conflict c USING (run_id, conflict_id)
                                             WHERE c.conflict_id = :'b_conflict' AND cm.member = c.survivor),
                   rationale => 'as suggested');
-- The items' notes are masked since: their members read otherwise, and
-- their decisions go stale.
SET client_min_messages = error;
SELECT tdm.mask_column('tap_bd.item', 'note', 'hash');
SET client_min_messages = warning;
SELECT tdm.consolidate('TBD1', 'tap_bd');
SELECT results_eq(format($$SELECT status FROM tdm.conflict WHERE conflict_id IN (%L, %L)
                            AND run_id = (SELECT max(run_id) FROM tdm.run WHERE release = 'TBD1')$$,
                         :'a_conflict', :'b_conflict'),
  $$VALUES ('stale'), ('stale')$$, 'both decisions are stale');
SELECT is((SELECT substring(rationale FROM 'on members that changed since \(([^)]*)\);')
             FROM tdm.review_queue WHERE conflict_id = :'a_conflict'),
  'bd1: note; bd2: note', 'the queue says which members changed since the decision, and in which columns');
-- (a decision restored without its members as decided: no list)
DELETE FROM tdm.decided_members WHERE conflict_id = :'b_conflict';
SELECT ok((SELECT rationale LIKE '%on members that changed since; write it again%'
             FROM tdm.review_queue WHERE conflict_id = :'b_conflict'),
  'without the members as decided, the queue says no list');

SELECT throws_ok($$SELECT tdm.resolve_all('TBD1', 'keep', E' \u00a0')$$, '23502', 'resolve_all: a rationale is required',
  'a blank rationale is refused as resolve_all''s, before any conflict');
SELECT is(tdm.resolve_all('TBD1', 'keep', 'bulk: the suggestion stands'), 1::bigint,
  'resolve_all keep decides only the stale decision it would take again');
SELECT is((SELECT status FROM tdm.conflict WHERE conflict_id = :'line_conflict'
             AND run_id = (SELECT max(run_id) FROM tdm.run WHERE release = 'TBD1')), 'pending',
  'a conflict whose suggestion keeps every member is left to a reviewer');
SELECT results_eq(format($$SELECT keep_env, rationale FROM tdm.decision WHERE conflict_id = %L$$, :'a_conflict'),
  $$VALUES ('bd2', 'bd2 counts a right')$$, 'a stale decision that kept another member stays as it was taken');
SELECT is((SELECT rationale FROM tdm.decision WHERE conflict_id = :'b_conflict'), 'bulk: the suggestion stands',
  'a stale decision that kept the suggestion is re-confirmed');
-- Nor does a keep_env replace a stale decision that kept another member.
SELECT is(tdm.resolve_all('TBD1', 'keep', 'bd1 for all', rel => 'tap_bd.item', keep_env => 'bd1'), 0::bigint,
  'a keep_env leaves a stale decision that kept another member');
-- Named, the reviewer's choice: keep_env keeps it.
SELECT is(tdm.resolve_all('TBD1', 'keep', 'bd1 it is', rel => 'tap_bd.line', keep_env => 'bd1'), 1::bigint,
  'with keep_env named, resolve_all keeps that member of it');

-- Who decided and when is tdm's to write.
SELECT throws_ok(format($$UPDATE tdm.decision SET decided_by = 'somebody' WHERE conflict_id = %L$$, :'a_conflict'),
  '428C9', format('decision on %s: decided_by is set by tdm, not written', :'a_conflict'),
  'decided_by written by hand is refused, not silently set again');
-- So is an approval written with the decision (before: dropped without a
-- word): a second reviewer approves with tdm.approve.
DELETE FROM tdm.decision WHERE conflict_id = :'b_conflict';
SELECT throws_ok(format($$INSERT INTO tdm.decision (conflict_id, action, keep_env, rationale, approved_by)
                          VALUES (%L, 'keep', 'bd1', 'bd1 it is', 'somebody_else')$$, :'b_conflict'),
  '428C9', format('decision on %s: approved_by is set by tdm, not written', :'b_conflict'),
  'approved_by written with a new decision is refused, not silently dropped');
SELECT throws_ok(format($$INSERT INTO tdm.decision (conflict_id, action, keep_env, rationale, decided_by)
                          VALUES (%L, 'keep', 'bd1', 'bd1 it is', 'somebody_else')$$, :'b_conflict'),
  '428C9', format('decision on %s: decided_by is set by tdm, not written', :'b_conflict'),
  'decided_by written with a new decision is refused (before: replaced without a word)');
SELECT throws_ok(format($$INSERT INTO tdm.decision (conflict_id, action, keep_env, rationale, decided_at)
                          VALUES (%L, 'keep', 'bd1', 'bd1 it is', now() - interval '1 day')$$, :'b_conflict'),
  '428C9', format('decision on %s: decided_at is set by tdm, not written', :'b_conflict'),
  'so is decided_at');
SELECT throws_ok($$SELECT tdm.resolve_all('TBD1', 'keep', 'all P7', priority => 7)$$, '22023',
  'resolve_all: priority 7 is none a conflict has', 'a priority no conflict has is refused, not 0 decided');
SELECT throws_ok(format($$UPDATE tdm.decision SET rationale = 'still bd2', approved_by = 'somebody_else'
                          WHERE conflict_id = %L$$, :'a_conflict'),
  '428C9', format('decision on %s: approved_by is set by tdm, not written', :'a_conflict'),
  'so is one written with other changes of a decision');
-- The action changed alone: what went with the old one goes; written
-- with the new one, it is checked.
UPDATE tdm.decision SET action = 'delete_all' WHERE conflict_id = :'a_conflict';
SELECT results_eq(format($$SELECT action::text, keep_env FROM tdm.decision WHERE conflict_id = %L$$, :'a_conflict'),
  $$VALUES ('delete_all', NULL::text)$$, 'a keep changed to delete_all by its action alone drops its keep_env');
UPDATE tdm.decision SET action = 'merge', merged = '{"qty": 3}' WHERE conflict_id = :'a_conflict';
UPDATE tdm.decision SET action = 'keep', keep_env = 'bd1' WHERE conflict_id = :'a_conflict';
SELECT results_eq(format($$SELECT action::text, keep_env, merged FROM tdm.decision WHERE conflict_id = %L$$, :'a_conflict'),
  $$VALUES ('keep', 'bd1', NULL::jsonb)$$, 'a merge changed to keep drops its merged values');
SELECT throws_ok(format($$UPDATE tdm.decision SET action = 'delete_all', keep_env = 'bd2' WHERE conflict_id = %L$$,
                        :'a_conflict'),
  '22023', format('decision on %s: keep_env goes with action keep, not delete_all', :'a_conflict'),
  'a keep_env written with another action is refused');
-- TRUNCATE would withdraw them all unaudited: refused.
SELECT throws_ok('TRUNCATE tdm.decision', '55000', 'tdm.decision: TRUNCATE would withdraw every decision unaudited',
  'decisions are not truncated');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_bd_e1, tap_bd_e2 CASCADE;
