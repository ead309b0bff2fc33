-- `related` counts the release's rows that reference a member, not
-- master's: a tree's rows in master that another conflict brought in as
-- members (master's child post under the id a release's new post has)
-- are no child the decision carries along, and were counted partly (p349).
BEGIN;
SELECT plan(2);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_rm_e1;
  CREATE SCHEMA tap_rm_e2;
  CREATE TABLE tap_rm_e1.rm_post (id int PRIMARY KEY, parent_id int REFERENCES tap_rm_e1.rm_post, title text,
                                  guid text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
  CREATE TABLE tap_rm_e2.rm_post (id int PRIMARY KEY, parent_id int REFERENCES tap_rm_e2.rm_post, title text,
                                  guid text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
  INSERT INTO tap_rm_e1.rm_post VALUES (1, NULL, 'Hello', 'p1', 'TRM1', 'F'), (2, 1, 'rev', 'e1-2', 'TRM1', 'F'),
                                       (3, 1, 'cat', 'e1-3', 'TRM1', 'F');
  -- TRM2: rm2 retitles post 1 (a conflict with master's row) and adds
  -- post 3, whose id master's row 3 (a child of post 1) holds: that row is
  -- a member of the second conflict, and no child of the first's.
  INSERT INTO tap_rm_e2.rm_post VALUES (1, NULL, 'Hello v2', 'p1', 'TRM2', 'G'),
                                       (3, NULL, 'New', 'e2-3', 'TRM2', 'G')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_rm_self');
CREATE TABLE staging.rm_post (id int PRIMARY KEY, parent_id int REFERENCES staging.rm_post, title text,
                              guid text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('rm1', 'tap_rm_self', 10, 'tap_rm_e1'), tdm.add_environment('rm2', 'tap_rm_self', 20, 'tap_rm_e2');
SELECT tdm.manage_table('staging.rm_post', '{guid}');
SELECT tdm.create_release('TRM1'), tdm.add_feature('TRM1', 'F', 1);
SELECT tdm.create_release('TRM2', parent => 'TRM1'), tdm.add_feature('TRM2', 'G', 1);
SELECT tdm.tag_release('TRM1'), tdm.consolidate('TRM1'), tdm.promote('TRM1');
SELECT is((SELECT count(*) FROM master.rm_post WHERE parent_id = 1), 2::bigint, 'master holds two children of post 1');

SELECT tdm.tag_release('TRM2'), tdm.consolidate('TRM2') AS run \gset
SELECT is((SELECT related FROM tdm.conflict
            WHERE run_id = :run AND members -> 0 ->> 'env' = 'master' AND members -> 0 -> 'row' ->> 'guid' = 'p1'),
          '{}'::jsonb, 'post 1''s conflict counts no master row as related');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_rm_e1, tap_rm_e2 CASCADE;
