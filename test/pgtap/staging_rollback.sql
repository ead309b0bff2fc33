-- A rollback of a staging snapshot takes out the rows of the releases
-- consolidated there since: a release only consolidated has its run failed
-- and is locked again (consolidate it again); one promoted since keeps its
-- completed run, whose key map master's rows and later releases'
-- references go by.
BEGIN;
SELECT plan(4);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_sb_e1;
  CREATE TABLE tap_sb_e1.sb_item (id int PRIMARY KEY, code text NOT NULL, tdm_release text, tdm_feature text);
  INSERT INTO tap_sb_e1.sb_item VALUES (1, 'one', 'TSB1', 'F'), (2, 'two', 'TSB2', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_sb_self');
CREATE TABLE staging.sb_item (id int PRIMARY KEY, code text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('sb1', 'tap_sb_self', 10, 'tap_sb_e1');
SELECT tdm.manage_table('staging.sb_item', '{code}');
SELECT tdm.create_release('TSB1'), tdm.add_feature('TSB1', 'F', 1),
       tdm.create_release('TSB2'), tdm.add_feature('TSB2', 'F', 1);
SELECT tdm.snapshot('staging before TSB', 'staging') AS snap \gset
SELECT tdm.tag_release('TSB1'), tdm.consolidate('TSB1') AS run1 \gset
SELECT tdm.tag_release('TSB2'), tdm.consolidate('TSB2') AS run2 \gset
SELECT tdm.promote('TSB2');
SELECT tdm.rollback(:snap);

SELECT is((SELECT status FROM tdm.run WHERE run_id = :run1), 'failed',
          'the run of a release only consolidated since the snapshot is failed');
SELECT is((SELECT status FROM tdm.release WHERE release = 'TSB1'), 'locked', 'and the release is locked again');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run2), 'completed',
          'the run of a release promoted since keeps its status');
SELECT is((SELECT status FROM tdm.release WHERE release = 'TSB2'), 'promoted', 'and the release stays promoted');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_sb_e1 CASCADE;
