-- A relationship conflict's merge sets the orphan's references: an
-- employee whose manager a decision deleted stays, with no manager
-- (merged => {"manager_id": null}), rather than go with the manager. Its
-- keys and other columns are not a merge's to change. A member in both
-- environments, one row by its table's conflict, whose unit was deleted:
-- both copies are decided alike.
BEGIN;
SELECT plan(18);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_rm_e1;
  CREATE SCHEMA tap_rm_e2;
  CREATE TABLE tap_rm_e1.person (id int PRIMARY KEY, email text NOT NULL UNIQUE, role text NOT NULL,
                                 manager_id int REFERENCES tap_rm_e1.person, tdm_release text, tdm_feature text);
  CREATE TABLE tap_rm_e1.unit (id int PRIMARY KEY, kind text NOT NULL, tdm_release text, tdm_feature text);
  CREATE TABLE tap_rm_e1.member (id int PRIMARY KEY, unit_id int REFERENCES tap_rm_e1.unit, name text,
                                 tdm_release text, tdm_feature text);
  CREATE TABLE tap_rm_e2.person (LIKE tap_rm_e1.person INCLUDING ALL);
  CREATE TABLE tap_rm_e2.unit (LIKE tap_rm_e1.unit INCLUDING ALL);
  CREATE TABLE tap_rm_e2.member (LIKE tap_rm_e1.member INCLUDING ALL);
  CREATE TABLE tap_rm_e1.badge (id int PRIMARY KEY, unit_id int NOT NULL REFERENCES tap_rm_e1.unit,
                                tdm_release text, tdm_feature text);
  CREATE TABLE tap_rm_e2.badge (LIKE tap_rm_e1.badge INCLUDING ALL);
  INSERT INTO tap_rm_e1.person VALUES (1, 'boss@x', 'admin', NULL, 'TRM', 'F'), (2, 'emp@x', 'admin', 1, 'TRM', 'F'),
                                      (3, 'intern@x', 'admin', 2, 'TRM', 'F');
  INSERT INTO tap_rm_e2.person VALUES (1, 'boss@x', 'support', NULL, 'TRM', 'F');
  INSERT INTO tap_rm_e1.unit VALUES (1, 'sales', 'TRM', 'F');
  INSERT INTO tap_rm_e2.unit VALUES (1, 'support', 'TRM', 'F');
  INSERT INTO tap_rm_e1.badge VALUES (7, 1, 'TRM', 'F');
  INSERT INTO tap_rm_e1.member VALUES (5, 1, 'Mo', 'TRM', 'F');
  INSERT INTO tap_rm_e2.member VALUES (5, 1, 'Mo', 'TRM', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_rm_self');
CREATE SCHEMA tap_rm;
CREATE TABLE tap_rm.person (id int PRIMARY KEY, email text NOT NULL UNIQUE, role text NOT NULL,
                            manager_id int REFERENCES tap_rm.person, tdm_release text, tdm_feature text);
CREATE TABLE tap_rm.unit (id int PRIMARY KEY, kind text NOT NULL, tdm_release text, tdm_feature text);
CREATE TABLE tap_rm.member (id int PRIMARY KEY, unit_id int REFERENCES tap_rm.unit, name text,
                            tdm_release text, tdm_feature text);
CREATE TABLE tap_rm.badge (id int PRIMARY KEY, unit_id int NOT NULL REFERENCES tap_rm.unit, tdm_release text,
                           tdm_feature text);
SELECT tdm.add_environment('rm1', 'tap_rm_self', 10, 'tap_rm_e1'), tdm.add_environment('rm2', 'tap_rm_self', 20, 'tap_rm_e2');
SELECT tdm.manage_table('tap_rm.person', '{email}', core_columns => '{role}'),
       tdm.manage_table('tap_rm.unit', core_columns => '{kind}'), tdm.manage_table('tap_rm.member'),
       tdm.manage_table('tap_rm.badge');
SELECT tdm.create_release('TRM'), tdm.add_feature('TRM', 'F', 1);
SELECT tdm.tag_release('TRM');
CREATE ROLE tap_rm_approver;
CREATE ROLE tap_rm_reviewer;
GRANT tdm_reviewer TO tap_rm_approver, tap_rm_reviewer;
CREATE FUNCTION pg_temp.approve_all() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  SET SESSION AUTHORIZATION tap_rm_approver;
  PERFORM tdm.approve(conflict_id) FROM tdm.decision WHERE approved_by IS NULL;
  RESET SESSION AUTHORIZATION;
END
$$;

SELECT tdm.consolidate('TRM', 'tap_rm');  -- the bosses' roles differ, the units' kinds: delete them
SELECT tdm.resolve_all('TRM', 'delete_all', 'not test data any more');
SELECT pg_temp.approve_all();
SELECT tdm.consolidate('TRM', 'tap_rm');  -- emp's manager deleted, and Mo's unit in both environments
SELECT conflict_id AS emp FROM tdm.review_queue WHERE rel = 'tap_rm.person'::regclass \gset
SELECT conflict_id AS mo1 FROM tdm.review_queue WHERE rel = 'tap_rm.member'::regclass AND members -> 0 ->> 'env' = 'rm1' \gset
SELECT conflict_id AS mo2 FROM tdm.review_queue WHERE rel = 'tap_rm.member'::regclass AND members -> 0 ->> 'env' = 'rm2' \gset
SELECT conflict_id AS badge FROM tdm.review_queue WHERE rel = 'tap_rm.badge'::regclass \gset
SELECT is((SELECT suggestion FROM tdm.conflict WHERE conflict_id = :'emp'),
  'delete the row (delete_all), point its reference elsewhere or clear it (merge, merged => {"column": null}), or keep it and load its parent first',
  'a reference that takes NULL may be cleared');
SELECT is((SELECT suggestion FROM tdm.conflict WHERE conflict_id = :'badge'),
  'delete the row (delete_all), point its reference elsewhere (merge, merged => {"column": ...}), or keep it and load its parent first',
  'a NOT NULL one is not offered to be cleared');
SELECT is(pg_temp.hint_of(format($$SELECT tdm.resolve(%L, 'merge', merged => '{"id": 9}', rationale => 'x')$$, :'badge')),
  'Set unit_id (NOT NULL): merged => ''{"unit_id": <key>}'' points it at the row of that key, the key it loads with.',
  'a refused merge of a NOT NULL reference is not told to clear it');
SELECT tdm.resolve(:'badge', 'delete_all', rationale => 'its unit is gone');

SELECT results_eq(format($$SELECT rationale ~ '^references tap_rm\.person \(1\) of rm1 by manager_id, which decision', differing
                             FROM tdm.conflict WHERE conflict_id = %L$$, :'emp'),
  $$VALUES (true, '{"manager_id": {"rm1": 1}}'::jsonb)$$,
  'the conflict names the reference to the deleted row, and shows it as differing');
SELECT throws_ok(format($$SELECT tdm.resolve(%L, 'merge', merged => '{"role": "support"}', rationale => 'x')$$, :'emp'),
  '22023', format('decision on %s: a relationship conflict''s merge sets the references that name deleted rows, not role', :'emp'),
  'a relationship conflict''s merge sets no attribute');
SELECT throws_ok(format($$SELECT tdm.resolve(%L, 'merge', merged => '{"id": 9, "manager_id": null}', rationale => 'x')$$, :'emp'),
  '22023', format('decision on %s: a relationship conflict''s merge sets the references that name deleted rows, not id, a column of the primary key, which a merge keeps', :'emp'),
  'nor its primary key');
-- (decided by a reviewer, who needs no USAGE on the target's schema)
SET SESSION AUTHORIZATION tap_rm_reviewer;
SELECT tdm.resolve(:'emp', 'merge', merged => '{"manager_id": null}', rationale => 'no manager now');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT decided_by FROM tdm.decision WHERE conflict_id = :'emp'), 'tap_rm_reviewer',
  'a reviewer''s relationship merge clears the reference to the deleted row');
-- (Mo first pointed at a unit that is not there: validation names the
-- decision; then both copies withdrawn and decided again.)
SELECT lives_ok(format($$SELECT tdm.resolve(%L, 'merge', merged => '{"unit_id": 99}', rationale => 'unit 99')$$, :'mo1'),
  'Mo of rm1 is pointed at another unit');
SELECT throws_ok(format($$SELECT tdm.resolve(%L, 'delete_all', rationale => 'x')$$, :'mo2'), '22023', NULL,
  'Mo of rm2, one row with rm1''s by their table''s conflict, is not decided otherwise');
-- (nor by resolve_all, which leaves it undecided, with a NOTICE, and goes on)
SELECT lives_ok($$SELECT tdm.resolve_all('TRM', 'delete_all', 'orphans', kind => 'relationship')$$,
  'resolve_all over the relationship conflicts does not stop at the copy decided otherwise');
SELECT is((SELECT count(*)::int FROM tdm.decision WHERE conflict_id = :'mo2'), 0, 'it leaves that copy undecided');
SELECT lives_ok(format($$SELECT tdm.resolve(%L, 'merge', merged => '{"unit_id": 99}', rationale => 'alike')$$, :'mo2'),
  'it is decided alike');
-- (Checked whatever session_replication_role says, as every decision is.)
SELECT is((SELECT tgenabled::text FROM pg_trigger WHERE tgrelid = 'tdm.decision'::regclass
             AND tgname = 'decision_check_copies'), 'A', 'the copies'' check is enabled ALWAYS');
-- (Both decided anew in one statement: checked once it has written both.)
SELECT lives_ok(format($$UPDATE tdm.decision SET action = 'delete_all', merged = NULL, rationale = 'Mo gone'
                          WHERE conflict_id IN (%L, %L)$$, :'mo1', :'mo2'),
  'one UPDATE decides both copies anew, alike');
UPDATE tdm.decision SET action = 'merge', merged = '{"unit_id": 99}', rationale = 'unit 99'
 WHERE conflict_id IN (:'mo1', :'mo2');
SELECT pg_temp.approve_all();
SELECT tdm.consolidate('TRM', 'tap_rm');
SELECT results_eq($$SELECT v.detail ->> 'message' FROM tdm.violation v JOIN tdm.run r USING (run_id) WHERE r.release = 'TRM'$$,
  ARRAY[format('no such parent row: decision %s set it', :'mo1')],
  'unit 99 is no row: the violation names the decision that set the reference');
DELETE FROM tdm.decision WHERE conflict_id = :'mo2';
SELECT tdm.resolve(:'mo1', 'merge', merged => '{"unit_id": null}', rationale => 'no unit now'),
       tdm.resolve(:'mo2', 'merge', merged => '{"unit_id": null}', rationale => 'alike');
SELECT pg_temp.approve_all();
SELECT tdm.consolidate('TRM', 'tap_rm');
SELECT results_eq($$SELECT status, rows_collected = rows_loaded + rows_merged + rows_deleted FROM tdm.run WHERE release = 'TRM'$$,
  $$VALUES ('completed', true)$$, 'the run completes, every row accounted for');
SELECT results_eq($$SELECT email, manager_id FROM tap_rm.person ORDER BY id$$,
  $$VALUES ('emp@x', NULL::int), ('intern@x', 2)$$,
  'emp stays without a manager; the intern keeps emp as manager');
SELECT results_eq($$SELECT id, unit_id, name FROM tap_rm.member$$, $$VALUES (5, NULL::int, 'Mo')$$,
  'Mo is loaded once, without a unit');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_rm_e1, tap_rm_e2 CASCADE;
