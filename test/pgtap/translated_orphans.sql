-- A child whose reference was translated through an earlier release's
-- key map names that release's row, not its environment's row of the
-- translated key: it is no orphan of a row a decision deleted under that
-- key there (decisions 343 and 344). In both cases the first release
-- re-keys e2's employee 1 (b@x) to 2, and e2's salary of its employee 1,
-- b@x, must load under 2:
-- - TED: a second release deletes e2's employee 2 (c@x); the salary comes
--   with a third, and used to become a relationship conflict naming that
--   deleted row, which no decision could load;
-- - TSD: the salary comes with the release whose reviewer deletes e2's
--   employee 2 (junk@x), and was taken for junk's orphan (a bulk
--   delete_all of relationship conflicts then deleted it).
BEGIN;
SELECT plan(8);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.to_tables(s text) RETURNS text LANGUAGE sql AS $$
  SELECT format($ddl$
    CREATE TABLE %1$I.to_employee (emp_no int PRIMARY KEY, email text NOT NULL UNIQUE, name text,
                                   tdm_release text, tdm_feature text);
    CREATE TABLE %1$I.to_salary (emp_no int REFERENCES %1$I.to_employee, from_date date, amount int NOT NULL,
                                 tdm_release text, tdm_feature text, PRIMARY KEY (emp_no, from_date));$ddl$, s)
$$;
SELECT dblink_exec(pg_temp.conninfo(current_database()), format($$
  CREATE SCHEMA tap_to_a1;
  CREATE SCHEMA tap_to_a2;
  CREATE SCHEMA tap_to_b1;
  CREATE SCHEMA tap_to_b2;
  %s %s %s %s
  INSERT INTO tap_to_a1.to_employee VALUES (1, 'a@x', 'A', 'TED1', 'F'), (7, 'c@x', 'C2', 'TED2', 'G');
  INSERT INTO tap_to_a2.to_employee VALUES (1, 'b@x', 'B', 'TED1', 'F'), (2, 'c@x', 'C', 'TED2', 'F');
  INSERT INTO tap_to_a2.to_salary VALUES (1, '2024-01-01', 1000, 'TED3', 'F');
  INSERT INTO tap_to_b1.to_employee VALUES (1, 'a@x', 'A', 'TSD1', 'F'), (2, 'junk@x', 'J1', 'TSD2', 'G');
  INSERT INTO tap_to_b2.to_employee VALUES (1, 'b@x', 'B', 'TSD1', 'F'), (2, 'junk@x', 'J2', 'TSD2', 'F');
  INSERT INTO tap_to_b2.to_salary VALUES (1, '2024-01-01', 1000, 'TSD2', 'F')$$,
  pg_temp.to_tables('tap_to_a1'), pg_temp.to_tables('tap_to_a2'),
  pg_temp.to_tables('tap_to_b1'), pg_temp.to_tables('tap_to_b2'))) \g /dev/null
SELECT pg_temp.loopback_server('tap_to_self');
-- (the managed tables, TED's target; TSD's, another)
CREATE SCHEMA tap_to;
CREATE SCHEMA tap_to_b;
SELECT format('%s %s', pg_temp.to_tables('tap_to'), pg_temp.to_tables('tap_to_b')) \gexec
SELECT tdm.add_environment(e, 'tap_to_self', p, 'tap_to_' || e)
  FROM (VALUES ('a1', 10), ('a2', 20), ('b1', 30), ('b2', 40)) AS x(e, p);
SELECT tdm.manage_table('tap_to.to_employee', '{email}'), tdm.manage_table('tap_to.to_salary');
SELECT tdm.create_release('TED1'), tdm.add_feature('TED1', 'F', 1);
SELECT tdm.create_release('TED2', parent => 'TED1'), tdm.add_feature('TED2', 'F', 1), tdm.add_feature('TED2', 'G', 1);
SELECT tdm.create_release('TED3', parent => 'TED2'), tdm.add_feature('TED3', 'F', 1);
SELECT tdm.create_release('TSD1'), tdm.add_feature('TSD1', 'F', 1);
SELECT tdm.create_release('TSD2', parent => 'TSD1'), tdm.add_feature('TSD2', 'F', 1), tdm.add_feature('TSD2', 'G', 1);

-- TED: an earlier release's deletion.
SELECT tdm.tag_release('TED1'), tdm.consolidate('TED1', 'tap_to');
SELECT tdm.tag_release('TED2'), tdm.consolidate('TED2', 'tap_to');
SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'c is junk')
  FROM tdm.review_queue WHERE release = 'TED2';
SELECT tdm.consolidate('TED2', 'tap_to');
SELECT is((SELECT string_agg(format('%s %s', emp_no, email), ', ' ORDER BY emp_no) FROM tap_to.to_employee),
          '1 a@x, 2 b@x', 'TED1 gave b@x the key 2, and TED2''s c@x is deleted');
SELECT tdm.tag_release('TED3'), tdm.consolidate('TED3', 'tap_to') AS run \gset
SELECT is((SELECT count(*) FROM tdm.conflict WHERE run_id = :run AND kind = 'relationship'), 0::bigint,
          'the salary of a2''s employee 1 is no orphan of the row TED2 deleted');
SELECT is((SELECT status::text FROM tdm.run WHERE run_id = :run), 'completed', 'TED3 loads at once');
SELECT results_eq($$SELECT e.email, s.amount FROM tap_to.to_salary s JOIN tap_to.to_employee e USING (emp_no)$$,
                  $$VALUES ('b@x', 1000)$$, 'the salary is b@x''s, under the key TED1 gave her');

-- TSD: the release's own deletion.
SELECT tdm.tag_release('TSD1'), tdm.consolidate('TSD1', 'tap_to_b');
SELECT tdm.tag_release('TSD2'), tdm.consolidate('TSD2', 'tap_to_b') AS run \gset
SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'junk')
  FROM tdm.review_queue WHERE release = 'TSD2' AND rel = 'tap_to.to_employee'::regclass;
SELECT tdm.consolidate('TSD2', 'tap_to_b');
SELECT is((SELECT count(*) FROM tdm.conflict WHERE run_id = :run AND kind = 'relationship'), 0::bigint,
          'the salary of b2''s employee 1 is no orphan of the junk row deleted under b2''s key 2');
SELECT is((SELECT status::text FROM tdm.run WHERE run_id = :run), 'completed', 'TSD2 loads once junk is decided');
SELECT is((SELECT string_agg(format('%s %s', emp_no, email), ', ' ORDER BY emp_no) FROM tap_to_b.to_employee),
          '1 a@x, 2 b@x', 'junk is deleted, b@x keeps the key TSD1 gave her');
SELECT results_eq($$SELECT e.email, s.amount FROM tap_to_b.to_salary s JOIN tap_to_b.to_employee e USING (emp_no)$$,
                  $$VALUES ('b@x', 1000)$$, 'the salary is b@x''s');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_to_a1, tap_to_a2, tap_to_b1, tap_to_b2 CASCADE;
