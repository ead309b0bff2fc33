-- tdm_auditor reads the review queue, the report, progress and the audit
-- trail (and verifies it), and decides nothing: tdm.resolve, tdm.approve
-- and writes to tdm.decision are refused.
BEGIN;
SELECT plan(7);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_au_e1;
  CREATE SCHEMA tap_au_e2;
  CREATE TABLE tap_au_e1.item (id int PRIMARY KEY, code text NOT NULL UNIQUE, qty int, tdm_release text, tdm_feature text);
  CREATE TABLE tap_au_e2.item (LIKE tap_au_e1.item INCLUDING ALL);
  INSERT INTO tap_au_e1.item VALUES (1, 'a', 1, 'TAU1', 'F');
  INSERT INTO tap_au_e2.item VALUES (1, 'a', 2, 'TAU1', 'G')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_au_self');
CREATE SCHEMA tap_au;
CREATE TABLE tap_au.item (id int PRIMARY KEY, code text NOT NULL UNIQUE, qty int, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('au1', 'tap_au_self', 10, 'tap_au_e1'), tdm.add_environment('au2', 'tap_au_self', 20, 'tap_au_e2');
SELECT tdm.manage_table('tap_au.item', '{code}');
SELECT tdm.create_release('TAU1'), tdm.add_feature('TAU1', 'F', 1), tdm.add_feature('TAU1', 'G', 1);
SELECT tdm.tag_release('TAU1');
SELECT tdm.consolidate('TAU1', 'tap_au') AS run \gset
SELECT conflict_id AS pending FROM tdm.conflict WHERE run_id = :run AND status = 'pending' \gset
CREATE ROLE tap_au_auditor;
GRANT tdm_auditor TO tap_au_auditor;

SET ROLE tap_au_auditor;
SELECT is((SELECT count(*) FROM tdm.review_queue WHERE release = 'TAU1'), 1::bigint, 'the auditor reads the review queue');
SELECT matches(tdm.report(:run, 'text'), 'Consolidation Audit Trail', 'and the report');
SELECT is_empty('SELECT * FROM tdm.verify_audit()', 'and verifies the audit trail');
SELECT lives_ok('SELECT * FROM tdm.progress', 'and reads progress');
SELECT throws_ok(format($$SELECT tdm.resolve(%L, 'keep', 'au1', rationale => 'no')$$, :'pending'),
  '42501', NULL, 'the auditor decides nothing: tdm.resolve is refused');
SELECT throws_ok(format($$INSERT INTO tdm.decision (conflict_id, action, keep_env, rationale) VALUES (%L, 'keep', 'au1', 'no')$$, :'pending'),
  '42501', NULL, 'nor a decision written directly');
SELECT throws_ok(format($$SELECT tdm.approve(%L)$$, :'pending'), '42501', NULL, 'nor an approval');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_au_e1, tap_au_e2 CASCADE;
