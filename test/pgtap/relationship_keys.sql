-- A row whose parent a decision deleted becomes a relationship conflict at
-- its own table's turn, after its other parents translated its foreign
-- keys: the reviewer sees the keys the row would load with. Here e2's
-- playlist entry (50, 1) references playlist 50, which a decision deletes,
-- and e2's track 1, which collides with e1's track 1 and is re-keyed.
BEGIN;
SELECT plan(7);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_rk_e1;
  CREATE SCHEMA tap_rk_e2;
  CREATE TABLE tap_rk_e1.track (id int PRIMARY KEY, isrc text UNIQUE, tdm_release text, tdm_feature text);
  CREATE TABLE tap_rk_e1.playlist (id int PRIMARY KEY, name text UNIQUE, descr text,
                                   tdm_release text, tdm_feature text);
  CREATE TABLE tap_rk_e1.entry (playlist_id int REFERENCES tap_rk_e1.playlist, track_id int REFERENCES tap_rk_e1.track,
                                PRIMARY KEY (playlist_id, track_id), tdm_release text, tdm_feature text);
  CREATE TABLE tap_rk_e2.track (LIKE tap_rk_e1.track INCLUDING ALL);
  CREATE TABLE tap_rk_e2.playlist (LIKE tap_rk_e1.playlist INCLUDING ALL);
  CREATE TABLE tap_rk_e2.entry (LIKE tap_rk_e1.entry INCLUDING ALL);
  INSERT INTO tap_rk_e1.track VALUES (1, 'isrc-a', 'TRK', 'F');
  INSERT INTO tap_rk_e1.playlist VALUES (50, 'mix', 'one', 'TRK', 'F');
  INSERT INTO tap_rk_e2.track VALUES (1, 'isrc-b', 'TRK', 'F');
  INSERT INTO tap_rk_e2.playlist VALUES (50, 'mix', 'two', 'TRK', 'G');
  INSERT INTO tap_rk_e2.entry VALUES (50, 1, 'TRK', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_rk_self');
CREATE SCHEMA tap_rk;
CREATE TABLE tap_rk.track (id int PRIMARY KEY, isrc text UNIQUE, tdm_release text, tdm_feature text);
CREATE TABLE tap_rk.playlist (id int PRIMARY KEY, name text UNIQUE, descr text, tdm_release text, tdm_feature text);
CREATE TABLE tap_rk.entry (playlist_id int REFERENCES tap_rk.playlist, track_id int REFERENCES tap_rk.track,
                           PRIMARY KEY (playlist_id, track_id), tdm_release text, tdm_feature text);
SELECT tdm.add_environment('rk1', 'tap_rk_self', 10, 'tap_rk_e1'), tdm.add_environment('rk2', 'tap_rk_self', 20, 'tap_rk_e2');
SELECT tdm.manage_table('tap_rk.track', '{isrc}'), tdm.manage_table('tap_rk.playlist', '{name}'),
       tdm.manage_table('tap_rk.entry');
SELECT tdm.create_release('TRK'), tdm.add_feature('TRK', 'F', 1), tdm.add_feature('TRK', 'G', 1);
SELECT tdm.tag_release('TRK');
CREATE ROLE tap_rk_approver;
GRANT tdm_reviewer TO tap_rk_approver;

SELECT tdm.consolidate('TRK', 'tap_rk');  -- the playlists' descriptions differ
SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'not test data any more')
  FROM tdm.review_queue WHERE rel = 'tap_rk.playlist'::regclass;
SELECT tdm.consolidate('TRK', 'tap_rk');  -- the entry's playlist deleted
SELECT is((SELECT k.new_key FROM tdm.key_map k WHERE k.rel = 'tap_rk.track'::regclass AND k.env = 'rk2'),
          '{"id": 2}'::jsonb, 'e2''s track 1 is re-keyed apart from e1''s');
SELECT results_eq($$SELECT q.kind::text, q.members -> 0 -> 'row' ->> 'track_id'
                      FROM tdm.review_queue q WHERE q.rel = 'tap_rk.entry'::regclass$$,
                  $$VALUES ('relationship', '2')$$,
                  'the entry''s member shows the track key it would load with, not e1''s track 1');
SELECT is((SELECT q.suggestion FROM tdm.review_queue q WHERE q.rel = 'tap_rk.entry'::regclass),
          'delete the row (delete_all), or keep it and load its parent first (its references hold columns of its'
          ' primary key: a merge may not change them)',
          'its reference is in its primary key: no merge is suggested, as none would be taken');

SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'its playlist is gone')
  FROM tdm.review_queue WHERE rel = 'tap_rk.entry'::regclass;
SET SESSION AUTHORIZATION tap_rk_approver;
SELECT count(tdm.approve(conflict_id)) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TRK', 'tap_rk');
SELECT results_eq($$SELECT status, rows_collected, rows_loaded, rows_deleted FROM tdm.run$$,
  $$VALUES ('completed', 5::bigint, 2::bigint, 3::bigint)$$,
  'completed: both playlists and the entry deleted by decisions, both tracks loaded');
SELECT results_eq('SELECT id, isrc FROM tap_rk.track ORDER BY id', $$VALUES (1, 'isrc-a'), (2, 'isrc-b')$$,
                  'the tracks as loaded');
SELECT is((SELECT count(*)::int FROM tap_rk.entry), 0, 'no entry loaded');
SELECT is((SELECT count(*)::int FROM tdm.key_map WHERE rel = 'tap_rk.entry'::regclass), 0,
          'and the key map holds no new key for the deleted entry');

SELECT * FROM finish();
ROLLBACK;
-- (After the transaction: until then, its foreign scans' remote
-- transaction holds the tables.)
SET client_min_messages = warning;
DROP SCHEMA tap_rk_e1, tap_rk_e2 CASCADE;
