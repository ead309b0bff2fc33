-- A managed table unmanaged, or dropped and created again, after a
-- release was consolidated and snapshotted: promote and rollback do not
-- leave its rows out without a word, and a table created again in place
-- of a dropped one takes over its copies in snapshots.
BEGIN;
SELECT plan(11);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_rt_e1;
  CREATE TABLE tap_rt_e1.rt_ward (id int PRIMARY KEY, name text, tdm_release text, tdm_feature text);
  CREATE TABLE tap_rt_e1.rt_bed (id int PRIMARY KEY, label text, tdm_release text, tdm_feature text);
  INSERT INTO tap_rt_e1.rt_ward VALUES (1, 'A', 'TRT1', 'F'), (2, 'B', 'TRT1', 'F'), (3, 'C', 'TRT3', 'F'),
                                       (4, 'C', 'TRT3', 'F');
  INSERT INTO tap_rt_e1.rt_bed VALUES (1, 'b1', 'TRT1', 'F'), (2, 'b2', 'TRT1', 'F'), (3, 'b3', 'TRT2', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_rt_self');
CREATE TABLE staging.rt_ward (id int PRIMARY KEY, name text, tdm_release text, tdm_feature text);
CREATE TABLE staging.rt_bed (id int PRIMARY KEY, label text, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('rt1', 'tap_rt_self', 10, 'tap_rt_e1');
SELECT tdm.manage_table('staging.rt_ward'), tdm.manage_table('staging.rt_bed');
SELECT tdm.create_release('TRT1'), tdm.add_feature('TRT1', 'F', 1);
SELECT tdm.create_release('TRT2', parent => 'TRT1'), tdm.add_feature('TRT2', 'F', 1);
SELECT tdm.create_release('TRT3', parent => 'TRT1'), tdm.add_feature('TRT3', 'F', 1);
SELECT tdm.tag_release('TRT1'), tdm.consolidate('TRT1');
SELECT tdm.promote('TRT1');
SELECT tdm.snapshot('tap_rt') AS snap \gset

-- Unmanaged between consolidation and promotion: promote refuses.
SELECT tdm.tag_release('TRT2'), tdm.consolidate('TRT2');
SELECT tdm.unmanage_table('staging.rt_bed');
SELECT throws_like($$SELECT tdm.promote('TRT2')$$,
  'promote: run % of release TRT2 loaded 1 row(s) into staging.rt_bed (managed no more): they would be left out',
  'promote refuses a release whose rows are in a table unmanaged since its run');
SELECT is((SELECT status FROM tdm.release WHERE release = 'TRT2'), 'consolidated', 'the release is as it was');

-- Unmanaged since a snapshot: a rollback would leave it as it is.
DELETE FROM master.rt_bed;
SELECT results_eq(format($$SELECT e.message, e.detail, e.hint ~ '^Manage the table again' FROM pg_temp.error_of('SELECT tdm.rollback(%s)') e$$, :snap),
  format($$VALUES ('rollback: snapshot %s holds tables that are managed no more',
                   'master.rt_bed (then: id integer, label text, tdm_release text, tdm_feature text; now: not managed: staging.rt_bed was unmanaged since)',
                   true)$$, :snap),
  'a rollback refuses a snapshot table unmanaged since, naming it');
SELECT tdm.manage_table('staging.rt_bed');
SELECT lives_ok(format('SELECT tdm.rollback(%s)', :snap), 'managed again, the rollback runs');
SELECT is((SELECT count(*)::int FROM master.rt_bed), 2, 'and restores its rows');

-- Dropped and created again (a migration tool's way): every call names
-- the dropped table, then the new one takes over its copies.
DROP TABLE staging.rt_ward;
SELECT is((pg_temp.error_of('SELECT tdm.snapshot(''tap_rt_2'')')).message,
  format('snapshot: the managed table staging.rt_ward (OID %s) no longer exists',
         (SELECT rel::oid FROM tdm.managed_table WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = rel))),
  'a dropped managed table is named, not a bare OID');
SELECT tdm.unmanage_table(rel::oid) FROM tdm.managed_table WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = rel);
SELECT is((SELECT object FROM tdm.audit WHERE action = 'unmanage_table' ORDER BY audit_id DESC LIMIT 1),
  'staging.rt_ward', 'the audit names the table unmanaged by OID');
CREATE TABLE staging.rt_ward (id int PRIMARY KEY, name text, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.rt_ward');
SELECT is((SELECT count(*)::int FROM tdm.snapshot_table
            WHERE snapshot_id = :snap AND managed = 'staging.rt_ward'::regclass), 1,
  'the new table takes over the dropped one''s copy in the snapshot');
UPDATE master.rt_ward SET name = 'changed';
SELECT lives_ok(format('SELECT tdm.rollback(%s)', :snap), 'a rollback to the snapshot taken before the drop runs');
SELECT results_eq('SELECT id, name FROM master.rt_ward ORDER BY id', $$VALUES (1, 'A'), (2, 'B')$$,
  'and restores master''s rows of it');

-- A unique constraint only master has, which two rows of one release
-- break: the HINT says so, rather than blame another release's row.
ALTER TABLE master.rt_ward ADD CONSTRAINT rt_ward_name_once UNIQUE (name);
SELECT tdm.tag_release('TRT3'), tdm.consolidate('TRT3');
SELECT matches((pg_temp.error_of($$SELECT tdm.promote('TRT3')$$)).hint,
  '^master\.rt_ward has constraint rt_ward_name_once and staging\.rt_ward has not: validation did not check it, and the row it conflicts with may be another of release TRT3',
  'a unique constraint only master has is named, and the release''s own rows suspected');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_rt_e1 CASCADE;
