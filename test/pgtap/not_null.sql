-- Validation finds every NULL the target refuses: a NOT NULL column of
-- the table, and one of a single partition only (on the rows it would
-- hold); the run is invalid and loads nothing; the report says what to fix.
BEGIN;
SELECT plan(6);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

-- Three people without a role, one of them also without a city; the
-- target requires a role, and its de partition a city.
SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_nn_e1;
  CREATE SCHEMA tap_nn_e2;
  CREATE TABLE tap_nn_e1.person (id int PRIMARY KEY, email text NOT NULL UNIQUE, role text, region text NOT NULL,
                                 city text, tdm_release text, tdm_feature text);
  CREATE TABLE tap_nn_e2.person (LIKE tap_nn_e1.person INCLUDING ALL);
  INSERT INTO tap_nn_e1.person VALUES (1, 'a@x', NULL, 'de', NULL, 'TNN', 'F'), (2, 'b@x', 'admin', 'de', 'Bonn', 'TNN', 'F'),
                                      (3, 'c@x', 'user', 'fr', NULL, 'TNN', 'F');
  INSERT INTO tap_nn_e2.person VALUES (4, 'd@x', NULL, 'fr', 'Lyon', 'TNN', 'F'), (5, 'e@x', NULL, 'fr', NULL, 'TNN', 'F')$$)
  \g /dev/null
SELECT pg_temp.loopback_server('tap_nn_self');
CREATE SCHEMA tap_nn;
CREATE TABLE tap_nn.person (id int, email text NOT NULL, role text NOT NULL, region text NOT NULL,
                            city text, tdm_release text, tdm_feature text, PRIMARY KEY (id, region), UNIQUE (email, region))
  PARTITION BY LIST (region);
CREATE TABLE tap_nn.person_de PARTITION OF tap_nn.person (city NOT NULL) FOR VALUES IN ('de');
CREATE TABLE tap_nn.person_fr PARTITION OF tap_nn.person FOR VALUES IN ('fr');
SELECT tdm.add_environment('nn1', 'tap_nn_self', 10, 'tap_nn_e1'), tdm.add_environment('nn2', 'tap_nn_self', 20, 'tap_nn_e2');
SELECT tdm.manage_table('tap_nn.person', '{email}');
SELECT tdm.create_release('TNN'), tdm.add_feature('TNN', 'F', 1);
SELECT tdm.tag_release('TNN');

SELECT tdm.consolidate('TNN', 'tap_nn') AS run \gset
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'invalid', 'NULLs the target refuses make the run invalid');
SELECT results_eq($$SELECT v.row_key ->> 'env', v.row_key -> 'key' ->> 'id', v.detail ->> 'column', v.severity
                      FROM tdm.violation v WHERE v.kind = 'not_null' AND v.detail ->> 'partition' IS NULL
                     ORDER BY 1, 2$$,
  $$VALUES ('nn1', '1', 'role', 'error'), ('nn2', '4', 'role', 'error'), ('nn2', '5', 'role', 'error')$$,
  'every row without a role, each by its key, not the first only');
SELECT is((SELECT v.detail ->> 'message' FROM tdm.violation v
            WHERE v.kind = 'not_null' AND v.detail ->> 'column' = 'role' AND v.row_key ->> 'env' = 'nn1'),
  'role is NULL; the target requires a value', 'the message names the column');
SELECT results_eq($$SELECT v.row_key ->> 'env', v.row_key -> 'key' ->> 'id', v.detail ->> 'partition'
                      FROM tdm.violation v WHERE v.kind = 'not_null' AND v.detail ->> 'column' = 'city'$$,
  $$VALUES ('nn1', '1', 'tap_nn.person_de')$$,
  'a city only the de partition requires: its row only (c@x and e@x go to the fr partition)');
SELECT is((SELECT count(*)::int FROM tap_nn.person), 0, 'nothing loaded');
SELECT matches(tdm.report(:run, 'text'),
  'Violations: +not_null error 4\n.*city is NULL; partition tap_nn.person_de requires a value.*Nothing loaded: fix these rows',
  'the report counts the violations, lists each and says what to do');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_nn_e1, tap_nn_e2 CASCADE;
