-- A session whose triggers fire as on a replica (session_replication_role
-- = replica) skips foreign keys: a rollback there deleted a row of master
-- that an unmanaged table references, and left the reference dangling.
-- Every call that changes rows other tables may reference refuses such a
-- session, says why, and changes nothing.
BEGIN;
SELECT plan(10);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_rr_e1;
  CREATE TABLE tap_rr_e1.rr_item (id int PRIMARY KEY, tdm_release text, tdm_feature text);
  INSERT INTO tap_rr_e1.rr_item VALUES (1, 'TRR', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_rr_self');
CREATE TABLE staging.rr_item (id int PRIMARY KEY, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('rr1', 'tap_rr_self', 10, 'tap_rr_e1'), tdm.manage_table('staging.rr_item');
SELECT tdm.create_release('TRR'), tdm.add_feature('TRR', 'F', 1);
SELECT tdm.tag_release('TRR'), tdm.consolidate('TRR');
SELECT tdm.promote('TRR');
SELECT tdm.snapshot('tap-rr') AS snap \gset
-- (a row added to master since, and an unmanaged table's reference to it)
INSERT INTO master.rr_item VALUES (2, 'TRR', 'F');
CREATE TABLE public.tap_rr_ref (id int PRIMARY KEY, item_id int NOT NULL REFERENCES master.rr_item);
INSERT INTO public.tap_rr_ref VALUES (1, 2);

SET LOCAL session_replication_role = replica;
SELECT throws_ok(format('SELECT tdm.rollback(%s)', :snap), '55000',
  'rollback: this session''s session_replication_role is replica, under which foreign keys and triggers do not fire',
  'a rollback in a session whose triggers fire as on a replica is refused');
SELECT is(pg_temp.hint_of(format('SELECT tdm.rollback(%s)', :snap)),
  'SET session_replication_role = origin; then call tdm.rollback again.', 'saying what to do');
SELECT throws_like($$SELECT tdm.promote('TRR')$$,
  'promote: this session''s session_replication_role is replica, %', 'so is a promotion');
SELECT throws_like($$SELECT tdm.deploy('TRR', 'v1')$$,
  'deploy: this session''s session_replication_role is replica, %', 'a deployment');
SELECT throws_like($$SELECT tdm.rollback_release('TRR')$$,
  'rollback_release: this session''s session_replication_role is replica, %', 'a release''s rollback');
SELECT throws_like($$SELECT tdm.archive_release('TRR')$$,
  'archive_release: this session''s session_replication_role is replica, %', 'an archiving');
SELECT throws_like($$SELECT tdm.restore_release('TRR')$$,
  'restore_release: this session''s session_replication_role is replica, %', 'and a restore');
SET LOCAL session_replication_role = local;
SELECT throws_like(format('SELECT tdm.rollback(%s)', :snap),
  '%violates foreign key constraint "tap_rr_ref_item_id_fkey" on table "tap_rr_ref"%',
  'a session in local mode, whose foreign keys fire, is not refused: the reference refuses the rollback');
SET LOCAL session_replication_role = origin;
SELECT is((SELECT count(*) FROM master.rr_item), 2::bigint, 'master''s rows are still there');
SELECT throws_like(format('SELECT tdm.rollback(%s)', :snap),
  '%violates foreign key constraint "tap_rr_ref_item_id_fkey" on table "tap_rr_ref"%',
  'and with triggers firing, the reference refuses the rollback as before');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_rr_e1 CASCADE;
