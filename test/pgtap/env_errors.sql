-- An error an environment's server raises computing the rows (1/0 in a
-- view of its own, a foreign table there whose server is down) names that
-- environment and says the fix is there, at tagging and at collection; it
-- is not taken for a value this database refuses, nor for the
-- environment being unreachable (p302).
BEGIN;
SELECT plan(6);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

-- ee2's item is a view that divides by zero once its sequence is moved
-- (a sequence: seen at once by the environment's open transaction).
SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_ee_e1;
  CREATE SCHEMA tap_ee_e2;
  CREATE TABLE tap_ee_e1.item (id int PRIMARY KEY, note text, tdm_release text, tdm_feature text);
  INSERT INTO tap_ee_e1.item VALUES (1, 'one', 'EE', 'F');
  CREATE TABLE tap_ee_e2.item_rows (id int PRIMARY KEY, note text, tdm_release text, tdm_feature text);
  INSERT INTO tap_ee_e2.item_rows VALUES (2, 'two', 'EE', 'F');
  CREATE SEQUENCE tap_ee_e2.reads;
  CREATE TABLE tap_ee_e2.ctl (mode int);
  -- (past 2,000,000 reads a RAISE of its own; past 3,000,000 a table
  -- named without its schema, which postgres_fdw's search_path misses)
  CREATE FUNCTION tap_ee_e2.note_of(note text, n bigint) RETURNS text LANGUAGE plpgsql AS $f$
  BEGIN
    IF n > 3000000 THEN PERFORM 1 FROM ctl; END IF;
    IF n > 2000000 THEN RAISE EXCEPTION 'no notes today in ee2'; END IF;
    RETURN note;
  END $f$;
  CREATE VIEW tap_ee_e2.item AS
    SELECT id, CASE WHEN nextval('tap_ee_e2.reads') > 1000000 AND currval('tap_ee_e2.reads') <= 2000000
                    THEN (1 / (id - id))::text ELSE tap_ee_e2.note_of(note, currval('tap_ee_e2.reads')) END AS note,
           tdm_release, tdm_feature
      FROM tap_ee_e2.item_rows$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_ee_self');
CREATE TABLE staging.item (id int PRIMARY KEY, note text, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('ee1', 'tap_ee_self', 10, 'tap_ee_e1'),
       tdm.add_environment('ee2', 'tap_ee_self', 20, 'tap_ee_e2');
SELECT tdm.manage_table('staging.item');
SELECT tdm.create_release('EE'), tdm.add_feature('EE', 'F', 1);
SELECT tdm.tag_release('EE');
SELECT * FROM dblink(pg_temp.conninfo(current_database()), $$SELECT setval('tap_ee_e2.reads', 1000000)$$) AS t(v bigint) \g /dev/null

SELECT is((pg_temp.error_of($$SELECT tdm.consolidate('EE')$$)).message,
          'collect: environment "ee2": reading staging.item failed there: division by zero',
          'collection names the environment whose server failed to compute the rows');
SELECT matches(pg_temp.hint_of($$SELECT tdm.consolidate('EE')$$),
               '^The environment''s server raised it while computing the rows: a view, a function or a trigger of its own',
               'and says the fix is there');
SELECT is((pg_temp.error_of($$SELECT tdm.tag_release('EE')$$)).message,
          'tag_release: environment "ee2": reading staging.item failed there: division by zero',
          'so does tagging, not a finding of a value staging refuses');
SELECT * FROM dblink(pg_temp.conninfo(current_database()), $$SELECT setval('tap_ee_e2.reads', 2000000)$$) AS t(v bigint) \g /dev/null
SELECT is((pg_temp.error_of($$SELECT tdm.consolidate('EE')$$)).message,
          'collect: environment "ee2": reading staging.item failed there: no notes today in ee2',
          'a RAISE in the environment''s own function is named as that environment''s');
SELECT * FROM dblink(pg_temp.conninfo(current_database()), $$SELECT setval('tap_ee_e2.reads', 3000000)$$) AS t(v bigint) \g /dev/null
SELECT matches(pg_temp.hint_of($$SELECT tdm.consolidate('EE')$$),
               'search_path = pg_catalog: a function there that names objects without their schema finds none',
               'a function there that finds no table under postgres_fdw''s search_path: said so, not blamed on this database');
SELECT is((SELECT count(*) FROM tdm.run WHERE release = 'EE' AND status IN ('completed', 'loading')), 0::bigint,
          'nothing was consolidated');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_ee_e1, tap_ee_e2 CASCADE;
