-- Two admins, neither superuser, share master: the first promotion
-- creates it, its tables are granted to tdm_admin, and the snapshots'
-- copies and the archived releases' belong to tdm_admin, so the second
-- admin consolidates (which reads master), counts, promotes, snapshots,
-- rolls back to the first admin's snapshot and restores the release the
-- first archived.
BEGIN;
SELECT plan(12);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  DROP SCHEMA IF EXISTS tap_ta_e1 CASCADE;
  CREATE SCHEMA tap_ta_e1;
  CREATE TABLE tap_ta_e1.ta_item (id int PRIMARY KEY, name text, tdm_release text, tdm_feature text);
  INSERT INTO tap_ta_e1.ta_item VALUES (1, 'one', 'TTA1', 'F'), (2, 'two', 'TTA1', 'F'), (3, 'three', 'TTA2', 'F')$$)
  \g /dev/null
SELECT pg_temp.loopback_server('tap_ta_self');
CREATE TABLE staging.ta_item (id int PRIMARY KEY, name text, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('ta1', 'tap_ta_self', 10, 'tap_ta_e1');
SELECT tdm.manage_table('staging.ta_item');
SELECT tdm.create_release('TTA1'), tdm.add_feature('TTA1', 'F', 1);
SELECT tdm.create_release('TTA2', parent => 'TTA1'), tdm.add_feature('TTA2', 'F', 1);
SELECT tdm.tag_release('TTA1'), tdm.tag_release('TTA2');

CREATE ROLE tap_ta_alice IN ROLE tdm_admin;
CREATE ROLE tap_ta_erin IN ROLE tdm_admin;
GRANT USAGE ON SCHEMA staging TO tap_ta_alice, tap_ta_erin;
GRANT SELECT, INSERT, DELETE ON staging.ta_item TO tap_ta_alice, tap_ta_erin;
-- Only the first admin may create schemas (master) in the database.
SELECT format('GRANT CREATE ON DATABASE %I TO tap_ta_alice', current_database()) \gexec
-- (postgres_fdw requires a password in a non-superuser's mapping)
SELECT format('CREATE USER MAPPING FOR %I SERVER tap_ta_self OPTIONS (user %L, password %L)', r,
              (SELECT split_part(o, '=', 2) FROM pg_user_mappings u, unnest(u.umoptions) o
                WHERE u.srvname = 'st1' AND u.usename = current_user AND o LIKE 'user=%'),
              (SELECT substr(o, 10) FROM pg_user_mappings u, unnest(u.umoptions) o
                WHERE u.srvname = 'st1' AND u.usename = current_user AND o LIKE 'password=%'))
  FROM unnest(ARRAY['tap_ta_alice', 'tap_ta_erin']) AS r \gexec

SELECT ok(to_regnamespace('master') IS NULL, 'no master yet');
-- (The second admin consolidates both: one session's calls as two roles
-- share its temporary tables, which two admins' sessions do not.)
SET ROLE tap_ta_erin;
SELECT tdm.consolidate('TTA1') IS NOT NULL AS consolidated;
SET ROLE tap_ta_alice;
SELECT tdm.promote('TTA1') IS NOT NULL AS promoted;
SELECT tdm.snapshot('tap_ta_alice') AS alice_snapshot \gset
RESET ROLE;
SELECT ok(has_table_privilege('tdm_admin', 'master.ta_item', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
          AND pg_get_userbyid((SELECT relowner FROM pg_class WHERE oid = 'master.ta_item'::regclass)) = 'tap_ta_alice'
          AND (SELECT c.relowner = 'tdm_admin'::regrole FROM pg_class c
                WHERE c.oid = (SELECT storage::regclass FROM tdm.snapshot_table WHERE snapshot_id = :alice_snapshot)),
  'master''s table the first admin''s promotion made is granted to tdm_admin (its owner''s rights run its index'
  ' expressions), the snapshot''s copy belongs to tdm_admin');
SELECT ok(has_schema_privilege('tdm_admin', 'master', 'USAGE, CREATE'),
  'the schema master the first promotion created: tdm_admin may use it and create in it');

SET ROLE tap_ta_erin;
SELECT lives_ok($$SELECT tdm.consolidate('TTA2')$$, 'the second admin consolidates, reading master');
SELECT results_eq($$SELECT release, sum(rows)::int FROM tdm.release_stats WHERE rel = 'staging.ta_item'::regclass
                     GROUP BY release ORDER BY release$$,
  $$VALUES ('TTA1', 2)$$, 'the second admin reads release_stats over master');
SELECT lives_ok($$SELECT tdm.promote('TTA2')$$, 'the second admin promotes into master');
SELECT tdm.snapshot('tap_ta_erin') AS erin_snapshot \gset
SELECT is((SELECT count(*)::int FROM master.ta_item), 3, 'master holds both releases');
SELECT lives_ok(format('SELECT tdm.rollback(%s)', :alice_snapshot),
  'the second admin rolls master back to the first admin''s snapshot');
SELECT results_eq('SELECT id FROM master.ta_item ORDER BY id', 'VALUES (1), (2)',
  'master is as the first admin''s snapshot has it');
SELECT lives_ok(format('SELECT tdm.rollback(%s)', :erin_snapshot), 'and forward again to the second''s');
SELECT tdm.archive_release('TTA2');
RESET ROLE;
SET ROLE tap_ta_alice;
SELECT lives_ok($$SELECT tdm.restore_release('TTA2')$$,
  'the first admin restores the release the second archived');
RESET ROLE;
SELECT results_eq('SELECT id FROM master.ta_item ORDER BY id', 'VALUES (1), (2), (3)',
  'the restored release is back in master');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_ta_e1 CASCADE;
