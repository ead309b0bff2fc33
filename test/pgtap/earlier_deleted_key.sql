-- A later release's child, translated through an earlier release's key
-- map, is no orphan of a row an earlier release's decision deleted that
-- had the translated key in the same environment (decision 343). TED1
-- re-keys e2's employee 1 (b@x) to 2; TED2 deletes e2's employee 2
-- (c@x, a conflict a reviewer settles with delete_all); TED3's salary of
-- e2 references its employee 1, b@x: it loads under 2, where it used to
-- become a relationship conflict naming TED2's deleted row, with no
-- decision that could load it.
BEGIN;
SELECT plan(4);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_ed_e1;
  CREATE SCHEMA tap_ed_e2;
  CREATE TABLE tap_ed_e1.ed_employee (emp_no int PRIMARY KEY, email text NOT NULL UNIQUE, name text,
                                      tdm_release text, tdm_feature text);
  CREATE TABLE tap_ed_e1.ed_salary (emp_no int REFERENCES tap_ed_e1.ed_employee, from_date date, amount int NOT NULL,
                                    tdm_release text, tdm_feature text, PRIMARY KEY (emp_no, from_date));
  CREATE TABLE tap_ed_e2.ed_employee (LIKE tap_ed_e1.ed_employee INCLUDING ALL);
  CREATE TABLE tap_ed_e2.ed_salary (LIKE tap_ed_e1.ed_salary INCLUDING ALL);
  ALTER TABLE tap_ed_e2.ed_salary ADD FOREIGN KEY (emp_no) REFERENCES tap_ed_e2.ed_employee;
  INSERT INTO tap_ed_e1.ed_employee VALUES (1, 'a@x', 'A', 'TED1', 'F'), (7, 'c@x', 'C2', 'TED2', 'G');
  INSERT INTO tap_ed_e2.ed_employee VALUES (1, 'b@x', 'B', 'TED1', 'F'), (2, 'c@x', 'C', 'TED2', 'F');
  INSERT INTO tap_ed_e2.ed_salary VALUES (1, '2024-01-01', 1000, 'TED3', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_ed_self');
CREATE SCHEMA tap_ed;
CREATE TABLE tap_ed.ed_employee (emp_no int PRIMARY KEY, email text NOT NULL UNIQUE, name text,
                                 tdm_release text, tdm_feature text);
CREATE TABLE tap_ed.ed_salary (emp_no int REFERENCES tap_ed.ed_employee, from_date date, amount int NOT NULL,
                               tdm_release text, tdm_feature text, PRIMARY KEY (emp_no, from_date));
SELECT tdm.add_environment('ed1', 'tap_ed_self', 10, 'tap_ed_e1'), tdm.add_environment('ed2', 'tap_ed_self', 20, 'tap_ed_e2');
SELECT tdm.manage_table('tap_ed.ed_employee', '{email}'), tdm.manage_table('tap_ed.ed_salary');
SELECT tdm.create_release('TED1'), tdm.add_feature('TED1', 'F', 1);
SELECT tdm.create_release('TED2', parent => 'TED1'), tdm.add_feature('TED2', 'F', 1), tdm.add_feature('TED2', 'G', 1);
SELECT tdm.create_release('TED3', parent => 'TED2'), tdm.add_feature('TED3', 'F', 1);

SELECT tdm.tag_release('TED1'), tdm.consolidate('TED1', 'tap_ed');
SELECT tdm.tag_release('TED2'), tdm.consolidate('TED2', 'tap_ed');
SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'c is junk')
  FROM tdm.review_queue WHERE release = 'TED2';
SELECT tdm.consolidate('TED2', 'tap_ed');
SELECT is((SELECT string_agg(format('%s %s', emp_no, email), ', ' ORDER BY emp_no) FROM tap_ed.ed_employee),
          '1 a@x, 2 b@x', 'TED1 gave b@x the key 2, and TED2''s c@x is deleted');

SELECT tdm.tag_release('TED3'), tdm.consolidate('TED3', 'tap_ed') AS run \gset
SELECT is((SELECT count(*) FROM tdm.conflict WHERE run_id = :run AND kind = 'relationship'), 0::bigint,
          'the salary of e2''s employee 1 is no orphan of the row TED2 deleted');
SELECT is((SELECT status::text FROM tdm.run WHERE run_id = :run), 'completed', 'TED3 loads at once');
SELECT results_eq($$SELECT e.email, s.amount FROM tap_ed.ed_salary s JOIN tap_ed.ed_employee e USING (emp_no)$$,
                  $$VALUES ('b@x', 1000)$$, 'the salary is b@x''s, under the key TED1 gave her');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_ed_e1, tap_ed_e2 CASCADE;
