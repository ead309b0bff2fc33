-- A trigger of the target that changes rows as they go in can make the
-- load break a constraint validation saw kept: two emails that differ
-- only in case, lower-cased by the trigger, meet on a unique key. The
-- load is refused, nothing loaded, and the HINT names the trigger
-- (and, with no master yet, says nothing of master's rows).
BEGIN;
SELECT plan(2);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_lt_e1;
  CREATE TABLE tap_lt_e1.lt_person (id int PRIMARY KEY, email text NOT NULL, tdm_release text, tdm_feature text);
  INSERT INTO tap_lt_e1.lt_person VALUES (1, 'Ann@x', 'TLT', 'F'), (2, 'ann@x', 'TLT', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_lt_self');
CREATE SCHEMA tap_lt;
CREATE TABLE tap_lt.lt_person (id int PRIMARY KEY, email text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
CREATE FUNCTION pg_temp.lower_email() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.email := lower(NEW.email);
  RETURN NEW;
END
$$;
CREATE TRIGGER lt_lower BEFORE INSERT ON tap_lt.lt_person FOR EACH ROW EXECUTE FUNCTION pg_temp.lower_email();
SELECT tdm.add_environment('lt1', 'tap_lt_self', 10, 'tap_lt_e1');
SELECT tdm.manage_table('tap_lt.lt_person');
SELECT tdm.create_release('TLT'), tdm.add_feature('TLT', 'F', 1);
SELECT tdm.tag_release('TLT');

SELECT results_eq($$SELECT e.message, e.hint ~ 'not what a trigger of the target changes in them as they go in \(on INSERT: tap_lt\.lt_person trigger lt_lower\)\. Fix', e.hint ~ 'master'
                      FROM pg_temp.error_of($q$SELECT tdm.consolidate('TLT', 'tap_lt')$q$) e$$,
  $$VALUES ('consolidate: duplicate key value violates unique constraint "lt_person_email_key"', true, false)$$,
  'the load''s unique violation names the trigger that made it');
SELECT is((SELECT count(*)::int FROM tap_lt.lt_person), 0, 'nothing was loaded');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_lt_e1 CASCADE;
