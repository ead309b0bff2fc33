-- A reference a rule's merge (non_conflicting_merge) brings from a row
-- that a reviewer kept though a decision deleted its parent: the row it
-- lands in fails validation with that decision named, not a bare "no
-- such parent row" on a row that held NULL in its environment (p293).
BEGIN;
SELECT plan(2);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_mo_e1; CREATE SCHEMA tap_mo_e2;
  CREATE TABLE tap_mo_e1.mo_t0 (id int PRIMARY KEY, code text NOT NULL UNIQUE, val text, tdm_release text, tdm_feature text);
  CREATE TABLE tap_mo_e1.mo_t1 (id int PRIMARY KEY, f0_id int REFERENCES tap_mo_e1.mo_t0, val text,
                                tdm_release text, tdm_feature text);
  CREATE TABLE tap_mo_e2.mo_t0 (LIKE tap_mo_e1.mo_t0 INCLUDING ALL);
  CREATE TABLE tap_mo_e2.mo_t1 (LIKE tap_mo_e1.mo_t1 INCLUDING ALL);
  INSERT INTO tap_mo_e1.mo_t0 VALUES (5, 'X', 'a', 'TMO1', 'F');
  INSERT INTO tap_mo_e1.mo_t1 VALUES (1, NULL, 'v', 'TMO1', 'F');
  INSERT INTO tap_mo_e2.mo_t0 VALUES (5, 'X', 'b', 'TMO1', 'F');
  INSERT INTO tap_mo_e2.mo_t1 VALUES (1, 5, 'v', 'TMO1', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_mo_self');
CREATE SCHEMA tap_mo;
CREATE TABLE tap_mo.mo_t0 (id int PRIMARY KEY, code text NOT NULL UNIQUE, val text, tdm_release text, tdm_feature text);
CREATE TABLE tap_mo.mo_t1 (id int PRIMARY KEY, f0_id int REFERENCES tap_mo.mo_t0, val text, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('mo1', 'tap_mo_self', 10, 'tap_mo_e1'), tdm.add_environment('mo2', 'tap_mo_self', 20, 'tap_mo_e2');
SELECT tdm.manage_table('tap_mo.mo_t0', '{code}', core_columns => '{val}'), tdm.manage_table('tap_mo.mo_t1');
SELECT tdm.create_release('TMO1'), tdm.add_feature('TMO1', 'F', 1);
CREATE ROLE tap_mo_approver;
GRANT tdm_reviewer TO tap_mo_approver;
SET client_min_messages = error;
SELECT tdm.tag_release('TMO1'), tdm.consolidate('TMO1', 'tap_mo');
-- X goes; mo2's line, whose X is gone, is kept as it is.
SELECT tdm.resolve_all('TMO1', 'delete_all', 'X is garbage');
SET SESSION AUTHORIZATION tap_mo_approver;
SELECT tdm.approve(conflict_id) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TMO1', 'tap_mo');
SELECT tdm.resolve_all('TMO1', 'keep', 'keep the line');
SET SESSION AUTHORIZATION tap_mo_approver;
SELECT tdm.approve(conflict_id) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TMO1', 'tap_mo') AS run \gset
SET client_min_messages = warning;
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'invalid', 'the run is invalid');
SELECT is((SELECT v.detail ->> 'message' FROM tdm.violation v WHERE v.run_id = :run AND v.kind = 'foreign_key'),
  format('no such parent row: the value is that of mo2''s row merged into it by a rule, whose parent (5) in mo2 was deleted by decision %s',
         (SELECT d.conflict_id FROM tdm.decision d WHERE d.action = 'delete_all')),
  'the violation names the row the value came from and the decision that deleted its parent');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_mo_e1, tap_mo_e2 CASCADE;
