-- A column whose type in an environment this database lacks (an
-- extension's, or the application's own enum): tagging's finding says to
-- create the type first and gives the ALTER with its USING clause, which
-- a text column needs to become an enum (p304).
BEGIN;
SELECT plan(3);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

-- (The environment is a database of its own: this one must lack the type.)
SELECT dblink_exec(pg_temp.conninfo('postgres'), 'DROP DATABASE IF EXISTS tdm_tap_tm WITH (FORCE)') \g /dev/null
SELECT dblink_exec(pg_temp.conninfo('postgres'), 'CREATE DATABASE tdm_tap_tm') \g /dev/null
SELECT dblink_exec(pg_temp.conninfo('tdm_tap_tm'), $$
  CREATE TYPE tm_mood AS ENUM ('sad', 'ok');
  CREATE TYPE tm_kind AS ENUM ('a', 'b');
  CREATE TABLE feeling (id int PRIMARY KEY, m tm_mood, k tm_kind, note varchar(10), tdm_release text, tdm_feature text);
  INSERT INTO feeling VALUES (1, 'ok', 'a', 'x', 'TM', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_tm_self', 'tdm_tap_tm');
-- (tm_kind this database has, in a schema of its own)
CREATE SCHEMA tap_tm_types;
CREATE TYPE tap_tm_types.tm_kind AS ENUM ('a', 'b');
CREATE TABLE staging.feeling (id int PRIMARY KEY, m text, k text, note text, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('tm1', 'tap_tm_self', 10);
SELECT tdm.manage_table('staging.feeling');
SELECT tdm.create_release('TM'), tdm.add_feature('TM', 'F', 1);
SELECT tdm.tag_release('TM');
SELECT matches((SELECT detail FROM tdm.tag_finding WHERE env = 'tm1' AND detail LIKE 'column m %'),
               'where type tm_mood does not exist yet: CREATE EXTENSION for an extension''s type, or CREATE TYPE as the'
               ' environment has it; then ALTER TABLE staging\.feeling ALTER COLUMN m TYPE tm_mood USING m::tm_mood;',
               'a type this database lacks: create it first, then the ALTER with USING');
SELECT matches((SELECT detail FROM tdm.tag_finding WHERE env = 'tm1' AND detail LIKE 'column k %'),
               '\(in the target, ALTER TABLE staging\.feeling ALTER COLUMN k TYPE tap_tm_types\.tm_kind USING'
               ' k::tap_tm_types\.tm_kind;',
               'a type this database has is named with its schema, as any session finds it');
SELECT is((SELECT count(*) FROM tdm.tag_finding WHERE env = 'tm1' AND detail LIKE 'column note %' AND severity = 'error'),
          0::bigint, 'a varchar the target''s text widens is no error');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
-- (the session's helpers went with the transaction)
\ir ../../sql/include/loopback.sql
SELECT dblink_exec(pg_temp.conninfo('postgres'), 'DROP DATABASE tdm_tap_tm WITH (FORCE)') \g /dev/null
