-- A table unmanaged since a release was locked keeps its lock row
-- (unmanage_table leaves it), and a rollback that brings the release back
-- compares and replaces the lock rows of managed tables only: the lock,
-- the very one recorded, is not put back, and that row stays.
BEGIN;
SELECT plan(2);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_lu_e1;
  CREATE TABLE tap_lu_e1.lu_a (id int PRIMARY KEY, name text, tdm_release text, tdm_feature text);
  CREATE TABLE tap_lu_e1.lu_b (id int PRIMARY KEY, name text, tdm_release text, tdm_feature text);
  INSERT INTO tap_lu_e1.lu_a VALUES (1, 'one', 'LU', 'F'), (2, 'two', 'LU', 'F');
  INSERT INTO tap_lu_e1.lu_b VALUES (1, 'x', 'LU', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_lu_self');
CREATE TABLE staging.lu_a (id int PRIMARY KEY, name text, tdm_release text, tdm_feature text);
CREATE TABLE staging.lu_b (id int PRIMARY KEY, name text, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('lu1', 'tap_lu_self', 10, 'tap_lu_e1');
SELECT tdm.manage_table('staging.lu_a'), tdm.manage_table('staging.lu_b');
SELECT tdm.create_release('LU'), tdm.add_feature('LU', 'F', 1);
SELECT tdm.tag_release('LU'), tdm.consolidate('LU'), tdm.promote('LU');
SELECT tdm.unmanage_table('staging.lu_b');
SELECT tdm.snapshot('lu promoted') AS promoted \gset
SELECT tdm.archive_release('LU');
SELECT tdm.rollback(:promoted);
SELECT is((SELECT j.detail -> 'releases' ->> 'LU' FROM tdm.job j WHERE j.kind = 'rollback'
            ORDER BY j.job_id DESC LIMIT 1), 'archived -> promoted', 'the lock, the one recorded, is not put back');
SELECT is((SELECT count(*)::int FROM tdm.release_lock WHERE release = 'LU'), 2,
          'the unmanaged table''s lock row stays');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_lu_e1 CASCADE;
