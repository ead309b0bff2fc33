-- A hierarchy whose rows the rules settle each on its own can close into
-- a cycle no environment holds: hc1 has ROOT > A > B, hc2 ROOT > B > A,
-- and the higher feature is on hc2's A and hc1's B. Validation finds it
-- (a foreign key does not): the run is invalid, nothing is loaded, and
-- each row of the cycle is named with the path. A cycle one environment
-- holds itself is left alone.
BEGIN;
SELECT plan(4);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_hc_e1;
  CREATE SCHEMA tap_hc_e2;
  CREATE TABLE tap_hc_e1.hc_unit (id int PRIMARY KEY, code text NOT NULL UNIQUE, parent_id int REFERENCES tap_hc_e1.hc_unit,
                                  tdm_release text, tdm_feature text);
  CREATE TABLE tap_hc_e2.hc_unit (LIKE tap_hc_e1.hc_unit INCLUDING ALL,
                                  FOREIGN KEY (parent_id) REFERENCES tap_hc_e2.hc_unit);
  INSERT INTO tap_hc_e1.hc_unit VALUES (1, 'ROOT', NULL, 'THC', 'LO'), (2, 'A', 1, 'THC', 'LO'), (3, 'B', 2, 'THC', 'HI');
  INSERT INTO tap_hc_e2.hc_unit VALUES (1, 'ROOT', NULL, 'THC', 'LO'), (3, 'B', 1, 'THC', 'LO'), (2, 'A', 3, 'THC', 'HI');
  -- (a loop hc1 holds itself, of another release)
  INSERT INTO tap_hc_e1.hc_unit VALUES (7, 'X', NULL, 'THC2', 'LO'), (8, 'Y', 7, 'THC2', 'LO');
  UPDATE tap_hc_e1.hc_unit SET parent_id = 8 WHERE id = 7$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_hc_self');
CREATE TABLE staging.hc_unit (id int PRIMARY KEY, code text NOT NULL UNIQUE, parent_id int REFERENCES staging.hc_unit,
                              tdm_release text, tdm_feature text);
SELECT tdm.add_environment('hc1', 'tap_hc_self', 10, 'tap_hc_e1'), tdm.add_environment('hc2', 'tap_hc_self', 20, 'tap_hc_e2');
SELECT tdm.manage_table('staging.hc_unit', '{code}');
SELECT tdm.create_release('THC'), tdm.add_feature('THC', 'HI', 2), tdm.add_feature('THC', 'LO', 1);
SELECT tdm.create_release('THC2'), tdm.add_feature('THC2', 'LO', 1);
SELECT tdm.tag_release('THC'), tdm.consolidate('THC') AS run \gset

SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'invalid', 'the run is invalid');
SELECT is((SELECT count(*) FROM staging.hc_unit), 0::bigint, 'nothing is loaded');
SELECT results_eq(format($$SELECT row_key ->> 'env', row_key -> 'key' ->> 'id', detail ->> 'message'
                             FROM tdm.violation WHERE run_id = %s ORDER BY 1$$, :run),
  $$VALUES ('hc1', '3', 'its reference leads back to it through 1 row(s) of environments hc1, hc2 (keys 3 -> 2): a cycle no environment holds, made by how their conflicts were resolved; decide one of them otherwise'),
           ('hc2', '2', 'its reference leads back to it through 1 row(s) of environments hc1, hc2 (keys 2 -> 3): a cycle no environment holds, made by how their conflicts were resolved; decide one of them otherwise')$$,
  'both rows of the cycle are named, with its path');
SELECT tdm.tag_release('THC2'), tdm.consolidate('THC2') AS run2 \gset
SELECT is((SELECT count(*) FROM tdm.violation WHERE run_id = :run2), 0::bigint,
          'a loop one environment holds is not reported');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_hc_e1, tap_hc_e2 CASCADE;
