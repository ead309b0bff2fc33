-- A view in an environment whose column is computed as it is read
-- (clock_timestamp()): its rows never match their lock, and tagging again
-- would not change that. Consolidation names the column and says so,
-- instead of sending the admin to tag the release again.
BEGIN;
SELECT plan(3);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;
SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_unsteady_base;
  CREATE TABLE tap_unsteady_base.gadget (id int PRIMARY KEY, label text, tdm_release text, tdm_feature text);
  INSERT INTO tap_unsteady_base.gadget VALUES (1, 'one', 'TUS', 'F'), (2, 'two', 'TUS', 'F');
  CREATE SCHEMA tap_unsteady;
  CREATE VIEW tap_unsteady.gadget AS
    SELECT id, label, clock_timestamp()::text AS seen_at, tdm_release, tdm_feature FROM tap_unsteady_base.gadget$$)
  \g /dev/null
SELECT pg_temp.loopback_server('tap_unsteady_self');
CREATE TABLE staging.gadget (id int PRIMARY KEY, label text, seen_at text, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('unsteady', 'tap_unsteady_self', 10, 'tap_unsteady'), tdm.manage_table('staging.gadget');
SELECT tdm.create_release('TUS'), tdm.add_feature('TUS', 'F', 1);
SELECT tdm.tag_release('TUS');
SELECT is((SELECT status FROM tdm.release WHERE release = 'TUS'), 'locked', 'the release is locked');

SELECT throws_ok($$SELECT tdm.consolidate('TUS')$$, '55000',
  'unsteady.gadget reads column(s) seen_at otherwise at every read: its rows of release TUS cannot match their lock',
  'a column that reads otherwise at every read is named, not said to have changed after tagging');
SELECT is((SELECT count(*) FROM staging.gadget), 0::bigint, 'and nothing is loaded');

SELECT * FROM finish();
ROLLBACK;
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;
SELECT dblink_exec(pg_temp.conninfo(current_database()),
  'DROP SCHEMA tap_unsteady CASCADE; DROP SCHEMA tap_unsteady_base CASCADE') \g /dev/null
