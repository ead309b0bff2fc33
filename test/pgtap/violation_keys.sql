-- A violation names the row by the key it would load with; a row re-keyed
-- apart from another environment's row of the same id holds another key
-- in its environment, which the violation names too (env_key), so that
-- the DBA fixes the right row there.
BEGIN;
SELECT plan(2);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

-- Two people with id 1, told apart by email: vk2's is re-keyed, and a
-- business rule refuses it.
SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_vk_e1;
  CREATE SCHEMA tap_vk_e2;
  CREATE TABLE tap_vk_e1.person (id int PRIMARY KEY, email text NOT NULL UNIQUE, age int,
                                 tdm_release text, tdm_feature text);
  CREATE TABLE tap_vk_e2.person (LIKE tap_vk_e1.person INCLUDING ALL);
  INSERT INTO tap_vk_e1.person VALUES (1, 'a@x', 30, 'TVK', 'F'), (2, 'c@x', -1, 'TVK', 'F');
  INSERT INTO tap_vk_e2.person VALUES (1, 'b@x', -5, 'TVK', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_vk_self');
CREATE SCHEMA tap_vk;
CREATE TABLE tap_vk.person (id int PRIMARY KEY, email text NOT NULL UNIQUE, age int, tdm_release text,
                            tdm_feature text);
SELECT tdm.add_environment('vk1', 'tap_vk_self', 10, 'tap_vk_e1'), tdm.add_environment('vk2', 'tap_vk_self', 20, 'tap_vk_e2');
SELECT tdm.manage_table('tap_vk.person', '{email}');
SELECT tdm.add_rule('age_not_negative', 'tap_vk.person', 'age >= 0');
SELECT tdm.create_release('TVK'), tdm.add_feature('TVK', 'F', 1);
SELECT tdm.tag_release('TVK');

SELECT tdm.consolidate('TVK', 'tap_vk') AS run \gset
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'invalid', 'the rule makes the run invalid');
SELECT results_eq($$SELECT row_key FROM tdm.violation ORDER BY row_key ->> 'env'$$,
  $$VALUES ('{"env": "vk1", "key": {"id": 2}}'::jsonb),
           ('{"env": "vk2", "key": {"id": 3}, "env_key": {"id": 1}}')$$,
  'a row kept under its own key is named by it; a re-keyed row by its new key and its environment''s');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_vk_e1, tap_vk_e2 CASCADE;
