-- A child translated through an earlier release's key map is no orphan
-- of a row its own release's decision deletes that has the translated key
-- in the same environment (decision 344; earlier_deleted_key for a row an
-- earlier release deleted). TSD1 re-keys e2's employee 1 (b@x) to 2; TSD2
-- brings junk@x as employee 2 of both environments, which a reviewer
-- deletes, and e2's salary of its employee 1, b@x: it loads under 2,
-- where it used to become a relationship conflict naming the deleted
-- junk row, which a bulk delete_all of relationship conflicts deleted.
BEGIN;
SELECT plan(4);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_sd_e1;
  CREATE SCHEMA tap_sd_e2;
  CREATE TABLE tap_sd_e1.sd_employee (emp_no int PRIMARY KEY, email text NOT NULL UNIQUE, name text,
                                      tdm_release text, tdm_feature text);
  CREATE TABLE tap_sd_e1.sd_salary (emp_no int REFERENCES tap_sd_e1.sd_employee, from_date date, amount int NOT NULL,
                                    tdm_release text, tdm_feature text, PRIMARY KEY (emp_no, from_date));
  CREATE TABLE tap_sd_e2.sd_employee (LIKE tap_sd_e1.sd_employee INCLUDING ALL);
  CREATE TABLE tap_sd_e2.sd_salary (LIKE tap_sd_e1.sd_salary INCLUDING ALL);
  ALTER TABLE tap_sd_e2.sd_salary ADD FOREIGN KEY (emp_no) REFERENCES tap_sd_e2.sd_employee;
  INSERT INTO tap_sd_e1.sd_employee VALUES (1, 'a@x', 'A', 'TSD1', 'F'), (2, 'junk@x', 'J1', 'TSD2', 'G');
  INSERT INTO tap_sd_e2.sd_employee VALUES (1, 'b@x', 'B', 'TSD1', 'F'), (2, 'junk@x', 'J2', 'TSD2', 'F');
  INSERT INTO tap_sd_e2.sd_salary VALUES (1, '2024-01-01', 1000, 'TSD2', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_sd_self');
CREATE SCHEMA tap_sd;
CREATE TABLE tap_sd.sd_employee (emp_no int PRIMARY KEY, email text NOT NULL UNIQUE, name text,
                                 tdm_release text, tdm_feature text);
CREATE TABLE tap_sd.sd_salary (emp_no int REFERENCES tap_sd.sd_employee, from_date date, amount int NOT NULL,
                               tdm_release text, tdm_feature text, PRIMARY KEY (emp_no, from_date));
SELECT tdm.add_environment('sd1', 'tap_sd_self', 10, 'tap_sd_e1'), tdm.add_environment('sd2', 'tap_sd_self', 20, 'tap_sd_e2');
SELECT tdm.manage_table('tap_sd.sd_employee', '{email}'), tdm.manage_table('tap_sd.sd_salary');
SELECT tdm.create_release('TSD1'), tdm.add_feature('TSD1', 'F', 1);
SELECT tdm.create_release('TSD2', parent => 'TSD1'), tdm.add_feature('TSD2', 'F', 1), tdm.add_feature('TSD2', 'G', 1);

SELECT tdm.tag_release('TSD1'), tdm.consolidate('TSD1', 'tap_sd');
SELECT tdm.tag_release('TSD2'), tdm.consolidate('TSD2', 'tap_sd') AS run \gset
SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'junk')
  FROM tdm.review_queue WHERE release = 'TSD2' AND rel = 'tap_sd.sd_employee'::regclass;
SELECT tdm.consolidate('TSD2', 'tap_sd');
SELECT is((SELECT count(*) FROM tdm.conflict WHERE run_id = :run AND kind = 'relationship'), 0::bigint,
          'the salary of e2''s employee 1 is no orphan of the junk row deleted under e2''s key 2');
SELECT is((SELECT status::text FROM tdm.run WHERE run_id = :run), 'completed', 'TSD2 loads once junk is decided');
SELECT is((SELECT string_agg(format('%s %s', emp_no, email), ', ' ORDER BY emp_no) FROM tap_sd.sd_employee),
          '1 a@x, 2 b@x', 'junk is deleted, b@x keeps the key TSD1 gave her');
SELECT results_eq($$SELECT e.email, s.amount FROM tap_sd.sd_salary s JOIN tap_sd.sd_employee e USING (emp_no)$$,
                  $$VALUES ('b@x', 1000)$$, 'the salary is b@x''s');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_sd_e1, tap_sd_e2 CASCADE;
