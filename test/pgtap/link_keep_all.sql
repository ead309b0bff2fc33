-- A link table whose natural key is made of its two references (a user's
-- membership of a group): two environments link the same user and group
-- with different roles. keep_all would keep the one link twice, and no
-- rename can help (a new value would point the row at another user or
-- group): the HINT says to keep one, merge or delete, not to rename a
-- reference. A key with a column of its own still gets the rename hint.
BEGIN;
SELECT plan(3);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_lk_e1;
  CREATE SCHEMA tap_lk_e2;
  CREATE TABLE tap_lk_e1.lk_group (id int PRIMARY KEY, name text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
  CREATE TABLE tap_lk_e1.lk_user (id int PRIMARY KEY, email text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
  CREATE TABLE tap_lk_e1.lk_member (id int PRIMARY KEY, user_id int NOT NULL REFERENCES tap_lk_e1.lk_user,
                                    group_id int NOT NULL REFERENCES tap_lk_e1.lk_group, role text,
                                    tdm_release text, tdm_feature text, UNIQUE (user_id, group_id));
  CREATE TABLE tap_lk_e1.lk_tag (id int PRIMARY KEY, group_id int NOT NULL REFERENCES tap_lk_e1.lk_group,
                                 label text NOT NULL, colour text, tdm_release text, tdm_feature text,
                                 UNIQUE (group_id, label));
  CREATE TABLE tap_lk_e2.lk_group (LIKE tap_lk_e1.lk_group INCLUDING ALL);
  CREATE TABLE tap_lk_e2.lk_user (LIKE tap_lk_e1.lk_user INCLUDING ALL);
  CREATE TABLE tap_lk_e2.lk_member (LIKE tap_lk_e1.lk_member INCLUDING ALL);
  CREATE TABLE tap_lk_e2.lk_tag (LIKE tap_lk_e1.lk_tag INCLUDING ALL);
  INSERT INTO tap_lk_e1.lk_group VALUES (1, 'ops', 'TLK', 'F');
  INSERT INTO tap_lk_e2.lk_group VALUES (1, 'ops', 'TLK', 'G');
  INSERT INTO tap_lk_e1.lk_user VALUES (1, 'a@x', 'TLK', 'F');
  INSERT INTO tap_lk_e2.lk_user VALUES (1, 'a@x', 'TLK', 'G');
  INSERT INTO tap_lk_e1.lk_member VALUES (1, 1, 1, 'admin', 'TLK', 'F');
  INSERT INTO tap_lk_e2.lk_member VALUES (2, 1, 1, 'member', 'TLK', 'G');
  INSERT INTO tap_lk_e1.lk_tag VALUES (1, 1, 'urgent', 'red', 'TLK', 'F');
  INSERT INTO tap_lk_e2.lk_tag VALUES (2, 1, 'urgent', 'orange', 'TLK', 'G')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_lk_self');
CREATE SCHEMA tap_lk;
CREATE TABLE tap_lk.lk_group (id int PRIMARY KEY, name text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
CREATE TABLE tap_lk.lk_user (id int PRIMARY KEY, email text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
CREATE TABLE tap_lk.lk_member (id int PRIMARY KEY, user_id int NOT NULL REFERENCES tap_lk.lk_user,
                               group_id int NOT NULL REFERENCES tap_lk.lk_group, role text,
                               tdm_release text, tdm_feature text, UNIQUE (user_id, group_id));
CREATE TABLE tap_lk.lk_tag (id int PRIMARY KEY, group_id int NOT NULL REFERENCES tap_lk.lk_group,
                            label text NOT NULL, colour text, tdm_release text, tdm_feature text,
                            UNIQUE (group_id, label));
SELECT tdm.add_environment('lk1', 'tap_lk_self', 10, 'tap_lk_e1'), tdm.add_environment('lk2', 'tap_lk_self', 20, 'tap_lk_e2');
SELECT tdm.manage_table('tap_lk.lk_group', '{name}'), tdm.manage_table('tap_lk.lk_user', '{email}'),
       tdm.manage_table('tap_lk.lk_member', '{"user_id,group_id"}'), tdm.manage_table('tap_lk.lk_tag', '{"group_id,label"}');
-- (one priority for both features: no rule picks a side)
SELECT tdm.create_release('TLK'), tdm.add_feature('TLK', 'F', 1), tdm.add_feature('TLK', 'G', 1);
SELECT tdm.tag_release('TLK'), tdm.consolidate('TLK', 'tap_lk');

SELECT is((SELECT count(*)::int FROM tdm.review_queue WHERE release = 'TLK' AND rel::text IN ('tap_lk.lk_member', 'tap_lk.lk_tag')),
          2, 'the membership and the tag each wait for review');
SELECT is(pg_temp.hint_of(format($$SELECT tdm.resolve(%L, 'keep_all', rationale => 'both')$$,
                                 (SELECT conflict_id FROM tdm.review_queue
                                   WHERE release = 'TLK' AND rel = 'tap_lk.lk_member'::regclass))),
          'Every column of that key (user_id, group_id) is a reference: the rows are one link, and a new value would'
          ' point one at another row. Keep one of them (keep), merge them, or delete them (delete_all).',
          'keep_all of one link: the hint does not ask to rename a reference');
SELECT alike(pg_temp.hint_of(format($$SELECT tdm.resolve(%L, 'keep_all', rationale => 'both')$$,
                                   (SELECT conflict_id FROM tdm.review_queue
                                     WHERE release = 'TLK' AND rel = 'tap_lk.lk_tag'::regclass))),
            'Give % new values in renames, e.g. renames => %"label": "..."%',
            'a key with a column of its own: rename that column');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_lk_e1 CASCADE;
DROP SCHEMA tap_lk_e2 CASCADE;
