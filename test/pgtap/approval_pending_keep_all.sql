-- A keep_all that leaves out a member another conflict's priority 1
-- decision merges away is checked against that decision from when it is
-- taken, before its approval (p317): accepted without a key tdm cannot
-- generate; the call before the approval waits for it (no error for the
-- key), and the call after loads the row merged away.
BEGIN;
SELECT plan(4);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_ap_e1;
  CREATE SCHEMA tap_ap_e2;
  CREATE TABLE tap_ap_e1.ap_item (a int, b int, code text NOT NULL UNIQUE, val text, tdm_release text,
                                  tdm_feature text, PRIMARY KEY (a, b));
  CREATE TABLE tap_ap_e2.ap_item (LIKE tap_ap_e1.ap_item INCLUDING ALL);
  INSERT INTO tap_ap_e1.ap_item VALUES (1, 7, 'X0', 'e1 seven', 'TAP', 'F'), (1, 2, 'X6', 'e1 two', 'TAP', 'F');
  INSERT INTO tap_ap_e2.ap_item VALUES (1, 7, 'X6', 'e2 seven', 'TAP', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_ap_self');
CREATE SCHEMA tap_ap;
CREATE TABLE tap_ap.ap_item (a int, b int, code text NOT NULL UNIQUE, val text, tdm_release text, tdm_feature text,
                             PRIMARY KEY (a, b));
SELECT tdm.add_environment('ap1', 'tap_ap_self', 10, 'tap_ap_e1'), tdm.add_environment('ap2', 'tap_ap_self', 20, 'tap_ap_e2');
SELECT tdm.manage_table('tap_ap.ap_item', '{code}', core_columns => '{val}');
CREATE ROLE tap_ap_approver IN ROLE tdm_reviewer;
SELECT tdm.create_release('TAP'), tdm.add_feature('TAP', 'F', 1);
SELECT tdm.tag_release('TAP'), tdm.consolidate('TAP', 'tap_ap');
SELECT conflict_id AS on_key FROM tdm.conflict WHERE rel = 'tap_ap.ap_item'::regclass AND kind = 'duplicate_pk' \gset
SELECT conflict_id AS on_code FROM tdm.conflict WHERE rel = 'tap_ap.ap_item'::regclass AND kind <> 'duplicate_pk' \gset

-- ap2's (1,7) is X6, as ap1's (1,2): a core difference, priority 1, kept as
-- ap1's by a decision that waits for its approval.
SELECT tdm.resolve(:'on_code', 'keep', 'ap1', rationale => 'one X6, ap1''s');
SELECT lives_ok(format($$SELECT tdm.resolve(%L, 'keep_all', rationale => 'X0 and X6 are two items')$$, :'on_key'),
  'keep_all leaving out the member a decision awaiting approval merges away: no key asked for');
SELECT tdm.consolidate('TAP', 'tap_ap');
SELECT is((SELECT status FROM tdm.run WHERE release = 'TAP'), 'awaiting_review',
  'before the approval, the call waits for it');
SET SESSION AUTHORIZATION tap_ap_approver;
SELECT tdm.approve(:'on_code');
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TAP', 'tap_ap');
SELECT is((SELECT status FROM tdm.run WHERE release = 'TAP'), 'completed', 'after it, the run completes');
SELECT results_eq($$SELECT a, b, code, val FROM tap_ap.ap_item ORDER BY a, b$$,
  $$VALUES (1, 2, 'X6', 'e1 two'), (1, 7, 'X0', 'e1 seven')$$,
  'ap2''s row is merged into ap1''s X6, and ap1''s (1,7) keeps its key');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_ap_e1, tap_ap_e2 CASCADE;
DROP ROLE IF EXISTS tap_ap_approver;
