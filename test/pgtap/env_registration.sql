-- An environment's registration. Registered again under a new name, its
-- rows of a promoted release are said to be that release's already if it
-- is the same database (locked from the old name, no longer registered),
-- not "part of no release" to be tagged again. A schema tdm_env_<name>
-- an ordinary role made before is not taken over: it could drop or
-- replace the foreign tables tdm reads.
BEGIN;
SELECT plan(2);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_er_e1;
  CREATE SCHEMA tap_er_e2;
  CREATE TABLE tap_er_e2.er_item (id int PRIMARY KEY, name text, tdm_release text, tdm_feature text);
  CREATE TABLE tap_er_e1.er_item (id int PRIMARY KEY, name text, tdm_release text, tdm_feature text);
  INSERT INTO tap_er_e1.er_item VALUES (1, 'one', 'ER1', 'F'), (2, 'two', 'ER1', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_er_self');
CREATE TABLE staging.er_item (id int PRIMARY KEY, name text, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('er1', 'tap_er_self', 10, 'tap_er_e1');
SELECT tdm.manage_table('staging.er_item');
SELECT tdm.create_release('ER1'), tdm.add_feature('ER1', 'F', 1);
SELECT tdm.tag_release('ER1'), tdm.consolidate('ER1'), tdm.promote('ER1');
SELECT tdm.remove_environment('er1');
SELECT tdm.add_environment('er_renamed', 'tap_er_self', 10, 'tap_er_e1');
SELECT tdm.create_release('ER2', parent => 'ER1'), tdm.add_feature('ER2', 'F', 1);
SELECT tdm.tag_release('ER2');
SELECT ok((SELECT detail FROM tdm.tag_finding WHERE env = 'er_renamed' AND kind = 'untagged_rows'
            ORDER BY job_id DESC LIMIT 1)
            ~ 'was locked from environment er1, which is no longer registered: if er_renamed is that database',
          'rows of a promoted release in an environment registered again under a new name are said to be that release''s');

CREATE ROLE tap_er_owner;
CREATE SCHEMA tdm_env_er_planted AUTHORIZATION tap_er_owner;
SELECT throws_ok($$SELECT tdm.add_environment('er_planted', 'tap_er_self', 30, 'tap_er_e2')$$, '42P06',
                 'schema tdm_env_er_planted exists and is owned by tap_er_owner, not by tdm',
                 'an environment schema an ordinary role made is not taken over');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_er_e1, tap_er_e2 CASCADE;
