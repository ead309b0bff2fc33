-- Two background consolidations of a release with no run, called in two
-- sessions that commit together, each make a run; each job works the
-- latest one, so the older was left `collecting` with no call for ever.
-- The run a consolidation works fails older ones no call has worked on.
-- (The two runs are made here as those calls make them.)
BEGIN;
SELECT plan(3);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_sr_e1;
  CREATE TABLE tap_sr_e1.sr_item (id int PRIMARY KEY, label text, tdm_release text, tdm_feature text);
  INSERT INTO tap_sr_e1.sr_item VALUES (1, 'one', 'TSR', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_sr_self');
CREATE SCHEMA tap_sr;
CREATE TABLE tap_sr.sr_item (id int PRIMARY KEY, label text, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('sr1', 'tap_sr_self', 10, 'tap_sr_e1');
SELECT tdm.manage_table('tap_sr.sr_item');
SELECT tdm.create_release('TSR'), tdm.add_feature('TSR', 'F', 1);
SELECT tdm.tag_release('TSR');
INSERT INTO tdm.run (release, target) VALUES ('TSR', 'tap_sr') RETURNING run_id AS older \gset
INSERT INTO tdm.run (release, target) VALUES ('TSR', 'tap_sr') RETURNING run_id AS latest \gset

SELECT is(tdm.consolidate('TSR', 'tap_sr'), :latest::bigint, 'the consolidation works the latest run');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :latest), 'completed', 'which completes');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :older), 'failed',
  'the older run no call worked on is failed, not left collecting');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_sr_e1 CASCADE;
