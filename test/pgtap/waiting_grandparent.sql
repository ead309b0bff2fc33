-- A conflict whose reference differs only because its parent's rows were
-- settled by a rule on keys its grandparent's waiting conflict leaves
-- provisional (a medium re-keyed apart while its release's conflict
-- waits) says so, naming the conflict to decide first, as it does for a
-- parent's own waiting conflict (p351).
BEGIN;
SELECT plan(3);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_wg_e1;
  CREATE SCHEMA tap_wg_e2;
  CREATE TABLE tap_wg_e1.wg_rel (id int PRIMARY KEY, gid text NOT NULL UNIQUE, name text, tdm_release text, tdm_feature text);
  CREATE TABLE tap_wg_e1.wg_med (id int PRIMARY KEY, rel_id int NOT NULL REFERENCES tap_wg_e1.wg_rel, position int NOT NULL,
                                 tdm_release text, tdm_feature text, UNIQUE (rel_id, position));
  CREATE TABLE tap_wg_e1.wg_trk (id int PRIMARY KEY, gid text NOT NULL UNIQUE, med_id int NOT NULL REFERENCES tap_wg_e1.wg_med,
                                 name text, tdm_release text, tdm_feature text);
  CREATE TABLE tap_wg_e2.wg_rel (LIKE tap_wg_e1.wg_rel INCLUDING ALL);
  CREATE TABLE tap_wg_e2.wg_med (LIKE tap_wg_e1.wg_med INCLUDING ALL);
  CREATE TABLE tap_wg_e2.wg_trk (LIKE tap_wg_e1.wg_trk INCLUDING ALL);
  -- One release, spelled otherwise by two features of one priority (a
  -- reviewer decides); its medium, id 1 in each environment, under the
  -- release's ids 1 and 2 until then; one track on it, named otherwise.
  INSERT INTO tap_wg_e1.wg_rel VALUES (1, 'rel-a', 'Opera', 'TWG', 'F');
  INSERT INTO tap_wg_e2.wg_rel VALUES (2, 'rel-a', 'Opera!', 'TWG', 'G');
  INSERT INTO tap_wg_e1.wg_med VALUES (1, 1, 1, 'TWG', 'F');
  INSERT INTO tap_wg_e2.wg_med VALUES (1, 2, 1, 'TWG', 'G');
  INSERT INTO tap_wg_e1.wg_trk VALUES (1, 'trk-1', 1, 'Death', 'TWG', 'F');
  INSERT INTO tap_wg_e2.wg_trk VALUES (5, 'trk-1', 1, 'Death!', 'TWG', 'G')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_wg_self');
CREATE SCHEMA tap_wg;
CREATE TABLE tap_wg.wg_rel (id int PRIMARY KEY, gid text NOT NULL UNIQUE, name text, tdm_release text, tdm_feature text);
CREATE TABLE tap_wg.wg_med (id int PRIMARY KEY, rel_id int NOT NULL REFERENCES tap_wg.wg_rel, position int NOT NULL,
                            tdm_release text, tdm_feature text, UNIQUE (rel_id, position));
CREATE TABLE tap_wg.wg_trk (id int PRIMARY KEY, gid text NOT NULL UNIQUE, med_id int NOT NULL REFERENCES tap_wg.wg_med,
                            name text, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('wg1', 'tap_wg_self', 10, 'tap_wg_e1'), tdm.add_environment('wg2', 'tap_wg_self', 20, 'tap_wg_e2');
SELECT tdm.manage_table('tap_wg.wg_rel', '{gid}'), tdm.manage_table('tap_wg.wg_med', '{"rel_id,position"}'),
       tdm.manage_table('tap_wg.wg_trk', '{gid}');
SELECT tdm.create_release('TWG'), tdm.add_feature('TWG', 'F', 1), tdm.add_feature('TWG', 'G', 1);
SELECT tdm.tag_release('TWG');

SELECT tdm.consolidate('TWG', 'tap_wg') AS run \gset
SELECT conflict_id AS rel_conflict FROM tdm.conflict WHERE run_id = :run AND rel = 'tap_wg.wg_rel'::regclass \gset
SELECT is((SELECT rule || ' ' || status FROM tdm.conflict WHERE run_id = :run AND rel = 'tap_wg.wg_med'::regclass),
          'distinct_entities auto_resolved', 'the media were kept apart by a rule, on the release''s ids of each');
SELECT ok((SELECT differing ? 'med_id' FROM tdm.conflict WHERE run_id = :run AND rel = 'tap_wg.wg_trk'::regclass),
          'the track''s medium differs');
SELECT is((SELECT substring(rationale FROM position('; med_id' IN rationale)) FROM tdm.conflict
            WHERE run_id = :run AND rel = 'tap_wg.wg_trk'::regclass),
          format('; med_id names rows of tap_wg.wg_med that reference rows whose conflicts wait (%s): decide those'
                 ' first, and the next call compares it on their final keys', :'rel_conflict'),
          'the track''s rationale names the release''s conflict to decide first');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_wg_e1, tap_wg_e2 CASCADE;
