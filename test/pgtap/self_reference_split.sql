-- A reference to the table's own rows is compared by the natural keys of
-- the rows it names: two davolios reporting to fuller look alike. When a
-- reviewer then splits the two fullers (keep_all with a rename), the
-- davolios report to different people: the conflict a rule settled goes
-- to review (priority 1: reports_to is a core column). Without the split,
-- it stays settled.
BEGIN;
SELECT plan(4);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_ss_e1;
  CREATE SCHEMA tap_ss_e2;
  CREATE TABLE tap_ss_e1.ss_employee (employee_id int PRIMARY KEY, email text NOT NULL UNIQUE, last_name text,
                                      reports_to int REFERENCES tap_ss_e1.ss_employee, tdm_release text, tdm_feature text);
  CREATE TABLE tap_ss_e2.ss_employee (LIKE tap_ss_e1.ss_employee INCLUDING ALL);
  ALTER TABLE tap_ss_e2.ss_employee ADD FOREIGN KEY (reports_to) REFERENCES tap_ss_e2.ss_employee;
  INSERT INTO tap_ss_e1.ss_employee VALUES (2, 'fuller@nw', 'Fuller', NULL, 'TSS', 'F'),
                                           (1, 'davolio@nw', 'Davolio', 2, 'TSS', 'F');
  INSERT INTO tap_ss_e2.ss_employee VALUES (3, 'fuller@nw', 'Fuller', NULL, 'TSS', 'F'),
                                           (4, 'davolio@nw', 'Davolio', 3, 'TSS', 'F'),
                                           (7, 'pat@nw', 'Pat', NULL, 'TSS', 'G')$$) \g /dev/null
SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  INSERT INTO tap_ss_e1.ss_employee VALUES (7, 'pat@nw', 'Patricia', NULL, 'TSS', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_ss_self');
CREATE SCHEMA tap_ss;
CREATE TABLE tap_ss.ss_employee (employee_id int PRIMARY KEY, email text NOT NULL UNIQUE, last_name text,
                                 reports_to int REFERENCES tap_ss.ss_employee, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('ss1', 'tap_ss_self', 10, 'tap_ss_e1'), tdm.add_environment('ss2', 'tap_ss_self', 20, 'tap_ss_e2');
SELECT tdm.manage_table('tap_ss.ss_employee', '{email}', core_columns => '{reports_to}', surrogate_key => true);
SELECT tdm.create_release('TSS'), tdm.add_feature('TSS', 'F', 1), tdm.add_feature('TSS', 'G', 1);
-- (pat's features tie: the run waits for a decision, and the reviewer
-- decides the fullers meanwhile)
SELECT tdm.tag_release('TSS'), tdm.consolidate('TSS', 'tap_ss') AS run \gset
SELECT is((SELECT c.status FROM tdm.conflict c WHERE c.run_id = :run AND c.members -> 0 -> 'row' ->> 'email' = 'davolio@nw'),
          'auto_resolved', 'the davolios report to one fuller: settled by a rule');

SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"ss2": {"email": "fuller2@nw"}}', rationale => 'two Fullers')
  FROM tdm.conflict WHERE run_id = :run AND members -> 0 -> 'row' ->> 'email' = 'fuller@nw';
SELECT tdm.resolve(conflict_id, 'keep', 'ss1', rationale => 'Patricia') FROM tdm.review_queue;
SELECT tdm.consolidate('TSS', 'tap_ss');
SELECT results_eq($$SELECT c.status, c.rule, c.priority, c.differing -> 'reports_to'
                      FROM tdm.conflict c WHERE c.run_id = $$ || :run || $$ AND c.members -> 0 -> 'row' ->> 'email' = 'davolio@nw'$$,
                  $$VALUES ('pending', 'manual', 1, '{"ss1": 2, "ss2": 3}'::jsonb)$$,
                  'once the fullers are two, the davolios name different managers: reviewed, priority 1');
SELECT matches((SELECT c.rationale FROM tdm.conflict c WHERE c.run_id = :run AND c.members -> 0 -> 'row' ->> 'email' = 'davolio@nw'),
               'reference different rows of tap_ss\.ss_employee once its conflicts are decided \(reports_to: .*\), which detection took for one',
               'the rationale says why');
SELECT tdm.resolve(conflict_id, 'keep', 'ss2', rationale => 'she reports to the second Fuller')
  FROM tdm.review_queue;
CREATE ROLE tap_ss_approver;
GRANT tdm_reviewer TO tap_ss_approver;
SET SESSION AUTHORIZATION tap_ss_approver;
SELECT count(tdm.approve(conflict_id)) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TSS', 'tap_ss');
SELECT results_eq($$SELECT e.email, m.email FROM tap_ss.ss_employee e JOIN tap_ss.ss_employee m ON m.employee_id = e.reports_to$$,
                  $$VALUES ('davolio@nw', 'fuller2@nw')$$, 'davolio reports to the second Fuller');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_ss_e1, tap_ss_e2 CASCADE;
