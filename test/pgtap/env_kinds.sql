-- A managed table's name in an environment's schema that is there, but
-- is no table or view tdm reads: tagging says what it is, not that it is
-- missing.
BEGIN;
SELECT plan(3);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_kinds;
  CREATE TABLE tap_kinds.base (id int PRIMARY KEY, tdm_release text, tdm_feature text);
  CREATE MATERIALIZED VIEW tap_kinds.snap AS SELECT * FROM tap_kinds.base;
  CREATE SEQUENCE tap_kinds.counter$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_kinds_self');
SELECT tdm.add_environment('kinds', 'tap_kinds_self', 50, 'tap_kinds');
SELECT tdm._refresh_environment('kinds');
CREATE SCHEMA tap_kinds_local;
CREATE TABLE tap_kinds_local.snap (id int PRIMARY KEY, tdm_release text, tdm_feature text);
CREATE TABLE tap_kinds_local.counter (id int PRIMARY KEY, tdm_release text, tdm_feature text);
CREATE TABLE tap_kinds_local.nowhere (id int PRIMARY KEY, tdm_release text, tdm_feature text);

SELECT is((SELECT detail FROM tdm._schema_drift_of('kinds', '{tap_kinds_local.snap}') WHERE column_name IS NULL),
  'tap_kinds.snap in kinds is a materialized view, which tdm does not read: read it through a view there (CREATE VIEW'
  ' ... AS SELECT * FROM it, in a schema of its own given as the environment''s remote_schema), or make it a table',
  'a materialized view in a table''s place is said to be one, with a way to read it');
SELECT is((SELECT detail FROM tdm._schema_drift_of('kinds', '{tap_kinds_local.counter}') WHERE column_name IS NULL),
  'tap_kinds.counter in kinds is a sequence, not a table', 'a sequence likewise');
SELECT is((SELECT detail FROM tdm._schema_drift_of('kinds', '{tap_kinds_local.nowhere}') WHERE column_name IS NULL),
  'table nowhere does not exist in kinds (remote schema tap_kinds), or the user mapping''s role may not read it',
  'a table that is not there is missing');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_kinds CASCADE;
