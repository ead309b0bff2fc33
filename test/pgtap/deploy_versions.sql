-- The code version a rollback sends the tooling back to: the deployment
-- before it, else the nearest ancestor release that is not rolled back
-- (a rolled-back parent's code is known bad).
BEGIN;
SELECT plan(5);
\ir ../../sql/include/loopback.sql
SET client_min_messages = error;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_dv_e1;
  CREATE TABLE tap_dv_e1.dv_item (id int PRIMARY KEY, tdm_release text, tdm_feature text);
  INSERT INTO tap_dv_e1.dv_item VALUES (1, 'TDV1', 'F'), (2, 'TDV2', 'F'), (3, 'TDV3', 'F'), (4, 'TDV4', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_dv_self');
CREATE SCHEMA tap_dv;
CREATE TABLE tap_dv.dv_item (id int PRIMARY KEY, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('dv1', 'tap_dv_self', 10, 'tap_dv_e1');
SELECT tdm.manage_table('tap_dv.dv_item');
SELECT tdm.create_release('TDV1', 'v1'), tdm.add_feature('TDV1', 'F', 1);
SELECT tdm.create_release('TDV2', 'v2', 'TDV1'), tdm.add_feature('TDV2', 'F', 1);
SELECT tdm.create_release('TDV3', 'v3', 'TDV2'), tdm.add_feature('TDV3', 'F', 1);
SELECT tdm.create_release('TDV4', 'v4', 'TDV1'), tdm.add_feature('TDV4', 'F', 1);
SELECT tdm.tag_release(r), tdm.consolidate(r, 'tap_dv'), tdm.promote(r, 'tap_dv')
  FROM unnest(ARRAY['TDV1', 'TDV2']) AS r;

-- TDV2 deployed, then rolled back: nothing deployed before it, its parent's v1.
SELECT tdm.deploy('TDV2', 'v2');
SELECT tdm.rollback_release('TDV2');
SELECT is((SELECT detail ->> 'return_to_code_version' FROM tdm.audit
            WHERE action = 'rollback_release' ORDER BY audit_id DESC LIMIT 1), 'v1',
  'with no deployment before it, a rollback returns to the parent''s code version');

-- TDV3 on top of the rolled-back TDV2: back to v1, not TDV2's v2.
SELECT tdm.tag_release('TDV3'), tdm.consolidate('TDV3', 'tap_dv'), tdm.promote('TDV3', 'tap_dv');
SELECT tdm.deploy('TDV3', 'v3');
SELECT tdm.rollback_release('TDV3');
SELECT is((SELECT detail ->> 'return_to_code_version' FROM tdm.audit
            WHERE action = 'rollback_release' ORDER BY audit_id DESC LIMIT 1), 'v1',
  'a rolled-back parent is passed over: its code is known bad');

-- TDV1 deployed as v1, then TDV3 again: a rollback returns to the deployment before it.
SELECT tdm.deploy('TDV1', 'v1');
SELECT tdm.deploy('TDV3', 'v3.0.1');
SELECT tdm.rollback_release('TDV3');
SELECT is((SELECT detail ->> 'return_to_code_version' FROM tdm.audit
            WHERE action = 'rollback_release' ORDER BY audit_id DESC LIMIT 1), 'v1',
  'a live deployment before it is the code version to return to');
SELECT is((SELECT status FROM tdm.release WHERE release = 'TDV3'), 'rolled_back', 'and the release is rolled back');

-- TDV4 promoted after TDV1's pre-deploy snapshot, never deployed (under
-- test in master): rolling back TDV1 takes its rows out too, and says so.
SELECT tdm.tag_release('TDV4'), tdm.consolidate('TDV4', 'tap_dv'), tdm.promote('TDV4', 'tap_dv');
SELECT tdm.rollback_release('TDV1');
SELECT results_eq($$SELECT detail -> 'also_removed', (SELECT status FROM tdm.release WHERE release = 'TDV4')
                      FROM tdm.audit WHERE action = 'rollback_release' ORDER BY audit_id DESC LIMIT 1$$,
  $$VALUES ('["TDV4"]'::jsonb, 'consolidated')$$,
  'a release promoted after the snapshot and never deployed is named as taken out with it');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_dv_e1 CASCADE;
