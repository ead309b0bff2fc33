-- A relationship conflict's merge sets the orphan's references: an
-- employee whose manager a decision deleted stays, with no manager
-- (merged => {"manager_id": null}), rather than go with the manager. Its
-- keys and other columns are not a merge's to change.
BEGIN;
SELECT plan(6);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_rm_e1;
  CREATE SCHEMA tap_rm_e2;
  CREATE TABLE tap_rm_e1.person (id int PRIMARY KEY, email text NOT NULL UNIQUE, role text NOT NULL,
                                 manager_id int REFERENCES tap_rm_e1.person, tdm_release text, tdm_feature text);
  CREATE TABLE tap_rm_e2.person (LIKE tap_rm_e1.person INCLUDING ALL);
  INSERT INTO tap_rm_e1.person VALUES (1, 'boss@x', 'admin', NULL, 'TRM', 'F'), (2, 'emp@x', 'admin', 1, 'TRM', 'F'),
                                      (3, 'intern@x', 'admin', 2, 'TRM', 'F');
  INSERT INTO tap_rm_e2.person VALUES (1, 'boss@x', 'support', NULL, 'TRM', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_rm_self');
CREATE SCHEMA tap_rm;
CREATE TABLE tap_rm.person (id int PRIMARY KEY, email text NOT NULL UNIQUE, role text NOT NULL,
                            manager_id int REFERENCES tap_rm.person, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('rm1', 'tap_rm_self', 10, 'tap_rm_e1'), tdm.add_environment('rm2', 'tap_rm_self', 20, 'tap_rm_e2');
SELECT tdm.manage_table('tap_rm.person', '{email}', core_columns => '{role}');
SELECT tdm.create_release('TRM'), tdm.add_feature('TRM', 'F', 1);
SELECT tdm.tag_release('TRM');
CREATE ROLE tap_rm_approver;
GRANT tdm_reviewer TO tap_rm_approver;
CREATE FUNCTION pg_temp.approve_all() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  SET SESSION AUTHORIZATION tap_rm_approver;
  PERFORM tdm.approve(conflict_id) FROM tdm.decision WHERE approved_by IS NULL;
  RESET SESSION AUTHORIZATION;
END
$$;

SELECT tdm.consolidate('TRM', 'tap_rm');  -- the bosses' roles differ: delete both
SELECT tdm.resolve_all('TRM', 'delete_all', 'not test data any more');
SELECT pg_temp.approve_all();
SELECT tdm.consolidate('TRM', 'tap_rm');  -- emp's manager deleted
SELECT conflict_id AS emp FROM tdm.review_queue WHERE kind = 'relationship' \gset

SELECT throws_ok(format($$SELECT tdm.resolve(%L, 'merge', merged => '{"role": "support"}', rationale => 'x')$$, :'emp'),
  '22023', format('decision on %s: a relationship conflict''s merge sets the row''s foreign keys only, not role', :'emp'),
  'a relationship conflict''s merge sets no attribute');
SELECT throws_ok(format($$SELECT tdm.resolve(%L, 'merge', merged => '{"id": 9, "manager_id": null}', rationale => 'x')$$, :'emp'),
  '22023', format('decision on %s: a relationship conflict''s merge sets the row''s foreign keys only, not id', :'emp'),
  'nor its primary key');
SELECT lives_ok(format($$SELECT tdm.resolve(%L, 'merge', merged => '{"manager_id": null}', rationale => 'no manager now')$$, :'emp'),
  'a relationship conflict''s merge clears the reference to the deleted row');
SELECT pg_temp.approve_all();
SELECT tdm.consolidate('TRM', 'tap_rm');
SELECT results_eq($$SELECT status, rows_collected = rows_loaded + rows_merged + rows_deleted FROM tdm.run WHERE release = 'TRM'$$,
  $$VALUES ('completed', true)$$, 'the run completes, every row accounted for');
SELECT results_eq($$SELECT email, manager_id FROM tap_rm.person ORDER BY id$$,
  $$VALUES ('emp@x', NULL::int), ('intern@x', 2)$$,
  'emp stays without a manager; the intern keeps emp as manager');
SELECT is((SELECT count(*) FROM tdm.violation v JOIN tdm.run r USING (run_id) WHERE r.release = 'TRM'), 0::bigint,
  'no foreign-key violation names the cleared reference');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_rm_e1, tap_rm_e2 CASCADE;
