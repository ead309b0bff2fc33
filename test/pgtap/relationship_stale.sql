-- A decision on a relationship conflict is taken on the references that
-- name deleted rows. A member's unit is deleted, and the reviewer clears
-- its unit_id (merge); then its mentor is deleted too: the decision does
-- not cover that reference, and the conflict goes stale, back to the
-- queue with both references named, rather than stay decided and fail
-- validation on the mentor's foreign key. Another member, decided deleted
-- on its unit, stays decided: deleted either way (the pass that deletes
-- a parent and its children together).
BEGIN;
SELECT plan(6);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_rs_e1;
  CREATE SCHEMA tap_rs_e2;
  CREATE TABLE tap_rs_e1.mentor (id int PRIMARY KEY, name text NOT NULL, tdm_release text, tdm_feature text);
  CREATE TABLE tap_rs_e1.unit (id int PRIMARY KEY, kind text NOT NULL, tdm_release text, tdm_feature text);
  CREATE TABLE tap_rs_e1.member (id int PRIMARY KEY, unit_id int REFERENCES tap_rs_e1.unit,
                                 mentor_id int REFERENCES tap_rs_e1.mentor, tdm_release text, tdm_feature text);
  CREATE TABLE tap_rs_e2.mentor (LIKE tap_rs_e1.mentor INCLUDING ALL);
  CREATE TABLE tap_rs_e2.unit (LIKE tap_rs_e1.unit INCLUDING ALL);
  CREATE TABLE tap_rs_e2.member (LIKE tap_rs_e1.member INCLUDING ALL);
  INSERT INTO tap_rs_e1.mentor VALUES (1, 'Ann', 'TRS', 'F1');
  INSERT INTO tap_rs_e2.mentor VALUES (1, 'Anna', 'TRS', 'F2');
  INSERT INTO tap_rs_e1.unit VALUES (1, 'sales', 'TRS', 'F1');
  INSERT INTO tap_rs_e2.unit VALUES (1, 'support', 'TRS', 'F2');
  INSERT INTO tap_rs_e1.member VALUES (5, 1, 1, 'TRS', 'F1'), (6, 1, 1, 'TRS', 'F1')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_rs_self');
CREATE SCHEMA tap_rs;
CREATE TABLE tap_rs.mentor (id int PRIMARY KEY, name text NOT NULL, tdm_release text, tdm_feature text);
CREATE TABLE tap_rs.unit (id int PRIMARY KEY, kind text NOT NULL, tdm_release text, tdm_feature text);
CREATE TABLE tap_rs.member (id int PRIMARY KEY, unit_id int REFERENCES tap_rs.unit,
                            mentor_id int REFERENCES tap_rs.mentor, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('rs1', 'tap_rs_self', 10, 'tap_rs_e1'), tdm.add_environment('rs2', 'tap_rs_self', 20, 'tap_rs_e2');
SELECT tdm.manage_table('tap_rs.mentor'), tdm.manage_table('tap_rs.unit'), tdm.manage_table('tap_rs.member');
-- (Two features of one priority: the differences wait for a reviewer.)
SELECT tdm.create_release('TRS'), tdm.add_feature('TRS', 'F1', 1), tdm.add_feature('TRS', 'F2', 1);
SELECT tdm.tag_release('TRS');

SELECT tdm.consolidate('TRS', 'tap_rs');
SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'no unit') FROM tdm.review_queue WHERE rel = 'tap_rs.unit'::regclass;
SELECT tdm.resolve(conflict_id, 'keep', 'rs1', rationale => 'Ann') FROM tdm.review_queue WHERE rel = 'tap_rs.mentor'::regclass;
SELECT tdm.consolidate('TRS', 'tap_rs');
SELECT conflict_id AS orphan FROM tdm.review_queue
 WHERE rel = 'tap_rs.member'::regclass AND members -> 0 -> 'row' ->> 'id' = '5' \gset
SELECT conflict_id AS gone FROM tdm.review_queue
 WHERE rel = 'tap_rs.member'::regclass AND members -> 0 -> 'row' ->> 'id' = '6' \gset
SELECT tdm.resolve(:'orphan', 'merge', merged => '{"unit_id": null}', rationale => 'no unit now');
SELECT tdm.resolve(:'gone', 'delete_all', rationale => 'no unit, no member');
-- (approved by a second reviewer while it holds: the approval does not
-- outlive the members it was given on)
CREATE ROLE tap_rs_approver IN ROLE tdm_reviewer;
SET SESSION AUTHORIZATION tap_rs_approver;
SELECT tdm.approve(:'orphan');
RESET SESSION AUTHORIZATION;
-- The mentor goes too: the member's conflict names both references now.
UPDATE tdm.decision SET action = 'delete_all', keep_env = NULL, rationale = 'no mentor'
 WHERE conflict_id IN (SELECT c.conflict_id FROM tdm.conflict c WHERE c.rel = 'tap_rs.mentor'::regclass);
SELECT tdm.consolidate('TRS', 'tap_rs') AS run \gset
SELECT is((SELECT status FROM tdm.conflict WHERE run_id = :run AND conflict_id = :'orphan'), 'stale',
  'a decision taken on one deleted parent goes stale when another is deleted');
SELECT is((SELECT status FROM tdm.conflict WHERE run_id = :run AND conflict_id = :'gone'), 'decided',
  'a row decided deleted stays decided when another of its parents is deleted');
SELECT ok((SELECT rationale ~ 'tap_rs\.mentor .* by mentor_id' AND rationale ~ 'tap_rs\.unit .* by unit_id'
             FROM tdm.conflict WHERE run_id = :run AND conflict_id = :'orphan'),
  'its rationale names both references');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'awaiting_review', 'the run waits for the reviewer');
-- (a relationship conflict is priority 1: a second reviewer approves, not
-- a stale decision, taken on what its decider saw then; approved before
-- it went stale, it is not "approved already")
SET SESSION AUTHORIZATION tap_rs_approver;
SELECT throws_ok(format('SELECT tdm.approve(%L)', :'orphan'), '55000',
  format('decision on %s: it is stale, taken on members that changed since; it cannot be approved as it is', :'orphan'),
  'a stale decision cannot be approved, whether approved before or not');
RESET SESSION AUTHORIZATION;
SELECT tdm.resolve(:'orphan', 'merge', merged => '{"unit_id": null, "mentor_id": null}', rationale => 'neither now');
SET SESSION AUTHORIZATION tap_rs_approver;
SELECT tdm.approve(:'orphan'), tdm.approve(:'gone');
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TRS', 'tap_rs');
SELECT results_eq($$SELECT id, unit_id, mentor_id FROM tap_rs.member$$, $$VALUES (5, NULL::int, NULL::int)$$,
  'decided again on both, the member loads with neither');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_rs_e1, tap_rs_e2 CASCADE;
