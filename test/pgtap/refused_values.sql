-- A value this database's types refuse (an environment's enum label, or
-- a domain CHECK its own domain lacks) is a tagging finding per column,
-- with its rows' count and up to five keys (decision 202): in a plain
-- column, and in the primary key, which the other checks read first.
BEGIN;
SELECT plan(3);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_rv_e1;
  CREATE TYPE tap_rv_e1.tap_rv_mood AS ENUM ('happy', 'sad', 'meh');
  CREATE DOMAIN tap_rv_e1.tap_rv_code AS text;
  CREATE DOMAIN tap_rv_e1.tap_rv_phone AS text;
  CREATE TABLE tap_rv_e1.rv_line (code tap_rv_e1.tap_rv_code PRIMARY KEY, mood tap_rv_e1.tap_rv_mood, phone tap_rv_e1.tap_rv_phone,
                                  tdm_release text, tdm_feature text);
  INSERT INTO tap_rv_e1.rv_line VALUES ('A', 'meh', '5551234', 'TRV', 'F'), ('b', 'happy', '5551234', 'TRV', 'F'),
                                       ('C', 'meh', '123', 'TRV', 'F'), ('D', 'happy', '123', 'TRV', 'F'),
                                       ('e', 'meh', '1', 'TRV0', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_rv_self');
CREATE TYPE staging.tap_rv_mood AS ENUM ('happy', 'sad');
CREATE DOMAIN staging.tap_rv_code AS text CHECK (VALUE ~ '^[A-Z]+$');
CREATE DOMAIN staging.tap_rv_phone AS text CHECK (length(VALUE) >= 7);
CREATE TABLE staging.rv_line (code staging.tap_rv_code PRIMARY KEY, mood staging.tap_rv_mood,
                              phone staging.tap_rv_phone, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('rv1', 'tap_rv_self', 10, 'tap_rv_e1');
SELECT tdm.manage_table('staging.rv_line');
SELECT tdm.create_release('TRV'), tdm.add_feature('TRV', 'F', 1);
SELECT tdm.tag_release('TRV') AS job \gset

SELECT results_eq(
  $$SELECT substring(detail FROM '\(column (.*)\)$'), row_count::int, example_keys
      FROM tdm.tag_finding WHERE job_id = $$ || :job || $$ ORDER BY 1$$,
  $$VALUES ('code', 1, '[{"code": "b"}]'::jsonb), ('mood', 2, '[{"code": "A"}, {"code": "C"}]'),
           ('phone', 2, '[{"code": "C"}, {"code": "D"}]')$$,
  'each column holding values the types refuse is a finding, with the rows of the release that hold them');
SELECT is((SELECT detail FROM tdm.tag_finding WHERE job_id = :job AND detail LIKE '%(column phone)'),
  '2 rows of rv1.rv_line tagged for TRV hold a value that staging.rv_line does not accept: value for domain staging.tap_rv_phone violates check constraint "tap_rv_phone_check" (column phone)',
  'the finding counts the rows and gives the type''s own message');
SELECT is((SELECT status FROM tdm.release WHERE release = 'TRV'), 'open', 'the release stays open');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_rv_e1 CASCADE;
