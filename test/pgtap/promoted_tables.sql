-- A target keeps a table for every managed table a release was promoted
-- into it with: renamed (or its schema renamed) since, snapshot and
-- promote refuse and name it, rather than leave it out or create an
-- empty one beside it. A table managed after the promotions is created.
BEGIN;
SELECT plan(34);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_pt_e1;
  CREATE TABLE tap_pt_e1.pt_item (id int PRIMARY KEY, tdm_release text, tdm_feature text);
  CREATE TABLE tap_pt_e1.pt_note (id int PRIMARY KEY, tdm_release text, tdm_feature text);
  INSERT INTO tap_pt_e1.pt_item VALUES (1, 'TPT1', 'F'), (2, 'TPT2', 'F');
  INSERT INTO tap_pt_e1.pt_note VALUES (1, 'TPT2', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_pt_self');
CREATE TABLE staging.pt_item (id int PRIMARY KEY, tdm_release text, tdm_feature text);
CREATE TABLE staging.pt_note (id int PRIMARY KEY, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('pt1', 'tap_pt_self', 10, 'tap_pt_e1');
SELECT tdm.manage_table('staging.pt_item');
SELECT tdm.create_release('TPT1'), tdm.add_feature('TPT1', 'F', 1);
SELECT tdm.create_release('TPT2', parent => 'TPT1'), tdm.add_feature('TPT2', 'F', 1);
SELECT tdm.tag_release('TPT1'), tdm.consolidate('TPT1');
-- An admin who may not create schemas in the database: said, with the GRANT.
CREATE ROLE tap_pt_admin IN ROLE tdm_admin;
SET ROLE tap_pt_admin;
SELECT throws_ok($$SELECT tdm.promote('TPT1', 'staging', 'tap_pt_nowhere')$$, '42501',
  'promote: tap_pt_admin may not use schema staging', 'nor one that may not read the source');
RESET ROLE;
GRANT USAGE ON SCHEMA staging TO tap_pt_admin;
GRANT SELECT ON ALL TABLES IN SCHEMA staging TO tap_pt_admin;
SET ROLE tap_pt_admin;
SELECT throws_ok($$SELECT tdm.promote('TPT1', 'staging', 'tap_pt_nowhere')$$, '42501',
  'promote: schema tap_pt_nowhere does not exist, and tap_pt_admin may not create it',
  'a first promotion that may not create its schema says so');
RESET ROLE;
-- A target of another name than master is not made up (a typo would keep
-- the release there for good): it is created first.
SELECT throws_ok($$SELECT tdm.promote('TPT1', 'staging', 'tap_pt_mastr')$$, '3F000',
  'promote: schema tap_pt_mastr does not exist, and tdm creates only master',
  'a missing target other than master is refused, not created');
SELECT tdm.promote('TPT1');
-- A migration of the targets after the promotion: consolidating the
-- promoted release again reads its rows otherwise, which is said as the
-- migration it is (not as rows changed in the environment), and sends
-- nobody to tag a release that is in master.
ALTER TABLE staging.pt_item ADD COLUMN note text;
ALTER TABLE master.pt_item ADD COLUMN note text;
SELECT results_eq($$SELECT e.message, e.hint ~ 'promoted: its rows are where it put them' FROM pg_temp.error_of('SELECT tdm.consolidate(''TPT1'')') e$$,
  $$VALUES ('pt1.pt_item was locked over the columns staging.pt_item had then, which changed since', true)$$,
  'a promoted release consolidated again after a migration is told the migration');
ALTER TABLE staging.pt_item DROP COLUMN note;
ALTER TABLE master.pt_item DROP COLUMN note;
-- Master is written by promote only: a consolidation there would leave a
-- release in master unpromoted, its promotion colliding with its rows.
SELECT throws_ok($$SELECT tdm.consolidate('TPT1', 'master')$$, '22023',
  'consolidate: target "master" is where releases are promoted, not a consolidation target',
  'consolidate refuses master as its target');
SELECT tdm.snapshot('tap_pt_before') AS before \gset

ALTER TABLE master.pt_item RENAME TO pt_item_old;
SELECT matches((pg_temp.error_of(format('SELECT tdm.rollback(%s)', :before))).detail,
  '^master\.pt_item \(then: .*; now: missing \(the table is master\.pt_item_old now\)\)',
  'a rollback names the table by the name it must have, and the one it has');
SELECT throws_ok($$SELECT tdm.snapshot('tap_pt')$$, '42P01',
  'snapshot: master.pt_item does not exist, and releases were promoted into it (TPT1)',
  'a snapshot does not leave the renamed table out');
SELECT tdm.manage_table('staging.pt_note');
SELECT tdm.tag_release('TPT2'), tdm.consolidate('TPT2');
SELECT throws_ok($$SELECT tdm.promote('TPT2')$$, '42P01',
  'promote: master.pt_item does not exist, and releases were promoted into it (TPT1)',
  'promote does not create an empty one beside it');
ALTER SCHEMA master RENAME TO tap_pt_master;
SELECT throws_ok($$SELECT tdm.promote('TPT2')$$, '3F000',
  'promote: schema master does not exist, and releases were promoted into it (TPT1)',
  'nor a new master schema');
ALTER SCHEMA tap_pt_master RENAME TO master;
ALTER TABLE master.pt_item_old RENAME TO pt_item;
ALTER TABLE staging.pt_note RENAME TO pt_note_new;
SELECT throws_like($$SELECT tdm.promote('TPT2')$$,
  'promote: run % of release TPT2 loaded staging.pt_note, and no managed table has that name now (staging.pt_note_new is not in the run)',
  'promote says a managed table was renamed since the consolidation');
ALTER TABLE staging.pt_note_new RENAME TO pt_note;
-- A column added since the release was tagged changes every row's
-- checksum: said as the migration it is, not as rows written.
ALTER TABLE staging.pt_note ADD COLUMN extra text;
SELECT results_eq($$SELECT e.message ~ '^promote: the columns of staging\.pt_note changed since release TPT2 was tagged; its run [0-9]+ loaded its rows as they were$',
                           e.hint ~ 'tag the release again \(SELECT tdm\.tag_release\(''TPT2''\);\)'
                      FROM pg_temp.error_of('SELECT tdm.promote(''TPT2'')') e$$,
  $$VALUES (true, true)$$, 'a column added since the tagging is said as the migration it is');
ALTER TABLE staging.pt_note DROP COLUMN extra;
-- Unmanaged since the run: the copy of managed tables would leave its
-- rows out, and the release would be promoted without them.
SELECT tdm.unmanage_table('staging.pt_note');
SELECT throws_like($$SELECT tdm.promote('TPT2')$$,
  'promote: run % of release TPT2 loaded 1 row(s) into staging.pt_note (managed no more): they would be left out',
  'promote refuses a release whose run loaded rows into a table unmanaged since');
SELECT tdm.manage_table('staging.pt_note');
-- A target spelled otherwise than master ('Master', a typing slip) is
-- not made beside it as a second master.
SELECT throws_ok($$SELECT tdm.promote('TPT2', 'staging', 'Master')$$, '3F000',
  'promote: schema "Master" does not exist, and schema "master" differs from it only in case, spelling or quotes',
  'a target spelled otherwise than an existing schema is refused');
SELECT is(to_regnamespace('"Master"'), NULL, 'and no schema of that spelling was made');
SELECT lives_ok($$SELECT tdm.promote('TPT2')$$, 'the name given back and managed again, the release is promoted');
SELECT results_eq('SELECT id, tdm_release FROM master.pt_item ORDER BY id',
  $$VALUES (1, 'TPT1'), (2, 'TPT2')$$, 'both releases'' rows in the one table');
SELECT results_eq('SELECT id, tdm_release FROM master.pt_note',
  $$VALUES (1, 'TPT2')$$, 'the table managed after the first promotion was created');
SELECT lives_ok($$SELECT tdm.snapshot('tap_pt')$$, 'a snapshot is taken');
SELECT results_eq($$SELECT rel::text FROM tdm.snapshot_table
                      WHERE snapshot_id = (SELECT max(snapshot_id) FROM tdm.snapshot)
                        AND managed IN ('staging.pt_item'::regclass, 'staging.pt_note'::regclass) ORDER BY 1$$,
  $$VALUES ('master.pt_item'), ('master.pt_note')$$, 'with both tables');

-- Deployed where its rows are, not elsewhere.
SELECT throws_ok($$SELECT tdm.deploy('TPT2', 'v2', 'staging')$$, '55000',
  'deploy: release "TPT2" was promoted into master, not into staging', 'a deployment follows the rows');
SAVEPOINT deployed;
SELECT tdm.deploy('TPT2', 'v2') AS tpt2_deployment \gset
SELECT results_eq($$SELECT j.status, (j.detail ->> 'deployment_id')::bigint, s.label
                      FROM tdm.job j JOIN tdm.snapshot s ON s.snapshot_id = (j.detail ->> 'snapshot_id')::bigint
                     WHERE j.kind = 'deploy' AND j.release = 'TPT2'$$,
  format($$VALUES ('completed'::text, %s::bigint, 'pre-deploy TPT2 v2'::text)$$, :tpt2_deployment),
  'a deployment is a job of kind deploy, naming its deployment and its snapshot');
-- The same deployment again (a script run twice) is that deployment; a
-- deployment with another code version is one of its own, which a
-- rollback_release undoes first, leaving the release deployed with the
-- earlier one.
SELECT is(tdm.deploy('TPT2', 'v2'), :tpt2_deployment::bigint, 'the same deployment again is the one made');
SELECT is((SELECT count(*) FROM tdm.deployment WHERE release = 'TPT2'), 1::bigint, 'and no second is recorded');
SELECT tdm.deploy('TPT2', 'v2.1') AS tpt2_hotfix \gset
SELECT tdm.rollback_release('TPT2');
SELECT results_eq($$SELECT d.code_version, d.rolled_back_at IS NOT NULL, r.status
                      FROM tdm.deployment d JOIN tdm.release r USING (release)
                     WHERE d.release = 'TPT2' ORDER BY d.deployment_id$$,
  $$VALUES ('v2', false, 'deployed'), ('v2.1', true, 'deployed')$$,
  'rolling back the later deployment leaves the release deployed with the earlier one');
SELECT tdm.rollback_release('TPT2');
SELECT is((SELECT status FROM tdm.release WHERE release = 'TPT2'), 'rolled_back',
          'rolled back once no deployment of it is live');
ROLLBACK TO SAVEPOINT deployed;
-- A release taken out of master again (a rollback to before its
-- promotion leaves it consolidated) holds none of master's tables.
UPDATE tdm.release SET status = 'consolidated' WHERE release = 'TPT2';
DELETE FROM master.pt_item WHERE tdm_release = 'TPT2';
DROP TABLE master.pt_note;
SELECT lives_ok($$SELECT tdm.promote('TPT2')$$, 'its table dropped meanwhile, promote creates it again');
-- A snapshot's table whose managed table was dropped since: named, not
-- a raw error.
SELECT tdm.snapshot('tap_pt_last') AS last \gset
SELECT tdm.unmanage_table('staging.pt_note');
DROP TABLE staging.pt_note;
SELECT matches((pg_temp.error_of(format('SELECT tdm.rollback(%s)', :last))).detail,
  'master\.pt_note \(then: .*; now: not managed: its managed table staging\.pt_note was dropped\)',
  'a rollback names the table whose managed table was dropped');

-- A table unmanaged and another managed since the consolidation: no
-- rename, the release is promoted.
SELECT tdm.create_release('TPT3', parent => 'TPT2'), tdm.add_feature('TPT3', 'F', 1);
SELECT tdm.tag_release('TPT3'), tdm.consolidate('TPT3');
CREATE TABLE staging.pt_extra (id int PRIMARY KEY, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.pt_extra'), tdm.unmanage_table('staging.pt_item');
SELECT lives_ok($$SELECT tdm.promote('TPT3')$$, 'a table unmanaged and another managed since are no rename');
SELECT tdm.manage_table('staging.pt_item');

-- An archived release whose table was renamed since: restore refuses
-- rather than leave that table's rows in the archive.
ALTER TABLE master.pt_item RENAME TO pt_thing;
SELECT throws_ok($$SELECT tdm.archive_release('TPT1')$$, '42P01',
  'archive_release: master.pt_item does not exist, and releases were promoted into it (TPT1, TPT2)',
  'archiving refuses a master that lost a table, rather than archive the rest');
ALTER TABLE master.pt_thing RENAME TO pt_item;
SELECT tdm.archive_release('TPT1');
ALTER TABLE staging.pt_item RENAME TO pt_thing;
ALTER TABLE master.pt_item RENAME TO pt_thing;
SELECT is(pg_temp.hint_of($$SELECT tdm.restore_release('TPT1')$$),
  'If it is the table renamed since: ALTER TABLE tdm_archive."TPT1__pt_item" RENAME TO "TPT1__pt_thing"; then restore again.',
  'the hint gives the rename that joins the archive to its table');
SELECT throws_ok($$SELECT tdm.restore_release('TPT1')$$, '55000',
  'restore_release: tdm_archive."TPT1__pt_item" (its rows of table pt_item) holds release TPT1''s rows, and no table of master takes them now',
  'restore names the archive no table takes');
ALTER TABLE tdm_archive."TPT1__pt_item" RENAME TO "TPT1__pt_thing";
SELECT tdm.restore_release('TPT1');
SELECT results_eq($$SELECT id FROM master.pt_thing WHERE tdm_release = 'TPT1'$$, $$VALUES (1)$$,
  'the archive renamed as the hint says, the rows come back');
-- An archive renamed away since is refused too, not skipped.
SELECT tdm.archive_release('TPT1');
ALTER TABLE tdm_archive."TPT1__pt_thing" RENAME TO "TPT1__kept";
SELECT throws_like($$SELECT tdm.restore_release('TPT1')$$,
  'restore_release: tdm_archive."TPT1__pt_thing" (its rows of table pt_thing) holds release TPT1''s rows, and no table of master takes them now',
  'an archive renamed away is named');
ALTER TABLE tdm_archive."TPT1__kept" RENAME TO "TPT1__pt_thing";
SELECT tdm.restore_release('TPT1');
-- A table whose rows an archived release holds, renamed in master:
-- a snapshot would leave it out, and restoring the release then puts
-- its rows back into a table no snapshot has. Refused, the release named.
SELECT tdm.archive_release('TPT1');
ALTER TABLE master.pt_thing RENAME TO pt_gone;
SELECT throws_ok($$SELECT tdm.snapshot('tap_pt_archived')$$, '42P01',
  'snapshot: master.pt_thing does not exist, and releases were promoted into it (TPT1 (archived), TPT2)',
  'a snapshot counts the tables of an archived release');
ALTER TABLE master.pt_gone RENAME TO pt_thing;

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_pt_e1 CASCADE;
