-- Detection compares a self-reference by the natural keys of the row it
-- names, in its own environment. When a decision has deleted that row
-- (e2's bob, whose department was deleted), it still names bob: e1's
-- carol, managed by alice (id 1 in e1), and e2's carol, managed by bob
-- (id 1 in e2), keep differing, and the same rule settles them at every
-- call, not a merge into the carol whose manager is gone.
BEGIN;
SELECT plan(4);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_dr_e1;
  CREATE SCHEMA tap_dr_e2;
  CREATE TABLE tap_dr_e1.dept (id int PRIMARY KEY, name text NOT NULL UNIQUE, descr text,
                               tdm_release text, tdm_feature text);
  CREATE TABLE tap_dr_e1.employee (id int PRIMARY KEY, email text NOT NULL UNIQUE,
                                   manager_id int REFERENCES tap_dr_e1.employee, dept_id int REFERENCES tap_dr_e1.dept,
                                   updated_at timestamptz, tdm_release text, tdm_feature text);
  CREATE TABLE tap_dr_e1.badge (id int PRIMARY KEY, employee_id int REFERENCES tap_dr_e1.employee,
                                tdm_release text, tdm_feature text);
  CREATE TABLE tap_dr_e2.dept (LIKE tap_dr_e1.dept INCLUDING ALL);
  CREATE TABLE tap_dr_e2.employee (LIKE tap_dr_e1.employee INCLUDING ALL);
  CREATE TABLE tap_dr_e2.badge (LIKE tap_dr_e1.badge INCLUDING ALL);
  INSERT INTO tap_dr_e1.dept VALUES (1, 'ops', 'one', 'TDR', 'F');
  INSERT INTO tap_dr_e1.employee VALUES (1, 'alice@x', NULL, NULL, '2026-01-01', 'TDR', 'F'),
                                        (9, 'carol@x', 1, NULL, '2026-01-01', 'TDR', 'F');
  INSERT INTO tap_dr_e1.badge VALUES (20, 9, 'TDR', 'F');
  INSERT INTO tap_dr_e2.dept VALUES (1, 'ops', 'two', 'TDR', 'G');
  INSERT INTO tap_dr_e2.employee VALUES (1, 'bob@x', NULL, 1, '2026-01-01', 'TDR', 'F'),
                                        (2, 'carol@x', 1, NULL, '2026-02-01', 'TDR', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_dr_self');
CREATE SCHEMA tap_dr;
CREATE TABLE tap_dr.dept (id int PRIMARY KEY, name text NOT NULL UNIQUE, descr text, tdm_release text, tdm_feature text);
CREATE TABLE tap_dr.employee (id int PRIMARY KEY, email text NOT NULL UNIQUE, manager_id int REFERENCES tap_dr.employee,
                              dept_id int REFERENCES tap_dr.dept, updated_at timestamptz,
                              tdm_release text, tdm_feature text);
CREATE TABLE tap_dr.badge (id int PRIMARY KEY, employee_id int REFERENCES tap_dr.employee,
                           tdm_release text, tdm_feature text);
SELECT tdm.add_environment('dr1', 'tap_dr_self', 10, 'tap_dr_e1'), tdm.add_environment('dr2', 'tap_dr_self', 20, 'tap_dr_e2');
SELECT tdm.manage_table('tap_dr.dept', '{name}'), tdm.manage_table('tap_dr.employee', '{email}', 'updated_at'),
       tdm.manage_table('tap_dr.badge');
SELECT tdm.create_release('TDR'), tdm.add_feature('TDR', 'F', 1), tdm.add_feature('TDR', 'G', 1);
SELECT tdm.tag_release('TDR');
CREATE ROLE tap_dr_approver;
GRANT tdm_reviewer TO tap_dr_approver;
-- The rule that settles the two carols, and the member it keeps.
CREATE VIEW pg_temp.carol AS
  SELECT c.rule, c.members -> c.survivor ->> 'env' AS kept FROM tdm.conflict c
   WHERE c.run_id = (SELECT max(run_id) FROM tdm.run) AND c.members::text LIKE '%carol@x%';

SELECT tdm.consolidate('TDR', 'tap_dr');  -- the departments differ
SELECT results_eq('SELECT rule::text, kept FROM pg_temp.carol', $$VALUES ('environment_precedence', 'dr1')$$,
                  'the carols'' managers differ (alice, bob): e1''s carol is kept');
SELECT tdm.resolve_all('TDR', 'delete_all', 'not test data any more');
SELECT tdm.consolidate('TDR', 'tap_dr');  -- bob's department deleted
SELECT tdm.resolve_all('TDR', 'delete_all', 'not test data any more');
SET SESSION AUTHORIZATION tap_dr_approver;
SELECT count(tdm.approve(conflict_id)) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TDR', 'tap_dr');  -- bob deleted before the employees are compared
SELECT results_eq('SELECT rule::text, kept FROM pg_temp.carol', $$VALUES ('environment_precedence', 'dr1')$$,
                  'with bob deleted, e2''s carol still names him: the same rule keeps e1''s carol');
SELECT results_eq($$SELECT status, rows_collected, rows_loaded, rows_merged, rows_deleted FROM tdm.run$$,
  $$VALUES ('completed', 7::bigint, 3::bigint, 1::bigint, 3::bigint)$$,
  'completed: both departments and bob deleted, e2''s carol merged into e1''s');
SELECT results_eq('SELECT e.id, e.manager_id, b.id FROM tap_dr.employee e LEFT JOIN tap_dr.badge b ON b.employee_id = e.id ORDER BY e.id',
                  $$VALUES (1, NULL::int, NULL::int), (9, 1, 20)$$,
                  'alice, and carol with her manager and her badge, loaded');

SELECT * FROM finish();
ROLLBACK;
-- (After the transaction: until then, its foreign scans' remote
-- transaction holds the tables.)
SET client_min_messages = warning;
DROP SCHEMA tap_dr_e1, tap_dr_e2 CASCADE;
