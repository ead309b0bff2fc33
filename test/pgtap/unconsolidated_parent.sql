-- A release whose rows reference rows of an earlier release that was
-- never consolidated (it waits for review) is refused naming that
-- release, as the guide's chapter 2 says, also before any run completed:
-- not left to validation's "no such parent row".
BEGIN;
SELECT plan(2);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_up_e1;
  CREATE SCHEMA tap_up_e2;
  CREATE TABLE tap_up_e1.up_parent (id int PRIMARY KEY, name text, tdm_release text, tdm_feature text);
  CREATE TABLE tap_up_e1.up_child (id int PRIMARY KEY, parent_id int REFERENCES tap_up_e1.up_parent,
                                   tdm_release text, tdm_feature text);
  CREATE TABLE tap_up_e2.up_parent (LIKE tap_up_e1.up_parent INCLUDING ALL);
  CREATE TABLE tap_up_e2.up_child (LIKE tap_up_e1.up_child INCLUDING ALL,
                                   FOREIGN KEY (parent_id) REFERENCES tap_up_e2.up_parent);
  INSERT INTO tap_up_e1.up_parent VALUES (1, 'one', 'TUP1', 'F');
  INSERT INTO tap_up_e2.up_parent VALUES (1, 'uno', 'TUP1', 'G');
  INSERT INTO tap_up_e1.up_child VALUES (10, 1, 'TUP2', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_up_self');
CREATE TABLE staging.up_parent (id int PRIMARY KEY, name text, tdm_release text, tdm_feature text);
CREATE TABLE staging.up_child (id int PRIMARY KEY, parent_id int REFERENCES staging.up_parent,
                               tdm_release text, tdm_feature text);
SELECT tdm.add_environment('up1', 'tap_up_self', 10, 'tap_up_e1'), tdm.add_environment('up2', 'tap_up_self', 20, 'tap_up_e2');
SELECT tdm.manage_table('staging.up_parent'), tdm.manage_table('staging.up_child');
SELECT tdm.create_release('TUP1'), tdm.add_feature('TUP1', 'F', 1), tdm.add_feature('TUP1', 'G', 1);
SELECT tdm.create_release('TUP2', parent => 'TUP1'), tdm.add_feature('TUP2', 'F', 1);
SELECT tdm.tag_release('TUP1'), tdm.consolidate('TUP1');
SELECT is((SELECT status FROM tdm.run WHERE release = 'TUP1'), 'awaiting_review', 'TUP1 waits for review');
SELECT tdm.tag_release('TUP2');
SELECT results_eq($$SELECT message, detail FROM pg_temp.error_of('SELECT tdm.consolidate(''TUP2'')')$$,
  $$VALUES ('consolidate: rows of environment up1 reference 1 row(s) of staging.up_parent of release TUP1, which is in neither staging nor master',
            'For example the row with key (1). Release TUP1 was never consolidated.')$$,
  'TUP2 is refused naming TUP1, which was never consolidated');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_up_e1, tap_up_e2 CASCADE;
