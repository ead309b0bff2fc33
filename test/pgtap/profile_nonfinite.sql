-- profile_diff bins -Infinity, Infinity and NaN apart from the finite
-- values (before: in the outer bins, so NaN against 7, or infinity
-- against one date, read as the same distribution).
BEGIN;
SELECT plan(2);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_pn_e1;
  CREATE SCHEMA tap_pn_e2;
  CREATE TABLE tap_pn_e1.pn_reading (id int PRIMARY KEY, v float8, d date, w numeric, tdm_release text, tdm_feature text);
  CREATE TABLE tap_pn_e2.pn_reading (LIKE tap_pn_e1.pn_reading);
  INSERT INTO tap_pn_e1.pn_reading SELECT n, 'NaN', 'infinity', n, 'TPN', 'F' FROM generate_series(1, 5) AS n;
  INSERT INTO tap_pn_e2.pn_reading SELECT n, 7, '2024-01-01', n, 'TPN', 'F' FROM generate_series(1, 5) AS n$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_pn_self');
CREATE SCHEMA tap_pn;
CREATE TABLE tap_pn.pn_reading (LIKE tap_pn_e1.pn_reading);
ALTER TABLE tap_pn.pn_reading ADD PRIMARY KEY (id);
SELECT tdm.add_environment('pn' || e, 'tap_pn_self', 10 * e, 'tap_pn_e' || e) FROM generate_series(1, 2) AS e;
SELECT tdm.manage_table('tap_pn.pn_reading');

SELECT results_eq($$SELECT column_name, distance, drifted FROM tdm.profile_diff('tap_pn.pn_reading', 'pn1', 'pn2')
                     WHERE column_name IN ('v', 'd') ORDER BY column_name$$,
  $$VALUES ('d', 1::float8, true), ('v', 1::float8, true)$$,
  'all NaN against all 7, all infinity against one date: disjoint, distance 1');
SELECT is((SELECT distance FROM tdm.profile_diff('tap_pn.pn_reading', 'pn1', 'pn2') WHERE column_name = 'w'), 0::float8,
  'the same finite values: distance 0');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_pn_e1, tap_pn_e2 CASCADE;
