-- Values as the environments hold them, whatever the session. Under
-- array_nulls = off a NULL element is read as NULL, not as the string
-- "NULL". A non-conflicting merge fills a NULL with the other member's
-- unbounded bpchar, blanks kept (a cast to text drops them). A column the
-- target generates that is plain in an environment is a schema_drift
-- warning at tagging, named.
BEGIN;
SELECT plan(4);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_cv_e1;
  CREATE SCHEMA tap_cv_e2;
  CREATE TABLE tap_cv_e1.cv_item (id int PRIMARY KEY, tags text[], code bpchar, note text, price numeric,
                                  doubled numeric, tdm_release text, tdm_feature text);
  CREATE TABLE tap_cv_e2.cv_item (id int PRIMARY KEY, tags text[], code bpchar, note text, price numeric,
                                  doubled numeric GENERATED ALWAYS AS (price * 2) STORED,
                                  tdm_release text, tdm_feature text);
  INSERT INTO tap_cv_e1.cv_item VALUES (1, '{a,NULL}', NULL, 'x', 1, 2, 'CV', 'F');
  INSERT INTO tap_cv_e2.cv_item (id, tags, code, note, price, tdm_release, tdm_feature)
  VALUES (1, '{a,NULL}', 'AB  ', 'x', 1, 'CV', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_cv_self');
CREATE TABLE staging.cv_item (id int PRIMARY KEY, tags text[], code bpchar, note text, price numeric,
                              doubled numeric GENERATED ALWAYS AS (price * 2) STORED,
                              tdm_release text, tdm_feature text);
SELECT tdm.add_environment('cv1', 'tap_cv_self', 10, 'tap_cv_e1'),
       tdm.add_environment('cv2', 'tap_cv_self', 20, 'tap_cv_e2');
SELECT tdm.manage_table('staging.cv_item');
SELECT tdm.create_release('CV'), tdm.add_feature('CV', 'F', 1);
SET LOCAL array_nulls = off;
SELECT tdm.tag_release('CV');
SELECT ok((SELECT detail FROM tdm.tag_finding WHERE env = 'cv1' AND kind = 'schema_drift' AND severity = 'warning')
            ~ 'column doubled of staging.cv_item is generated, but plain in cv1',
          'a column the target generates, plain in an environment, is a warning at tagging');
SELECT tdm.consolidate('CV');
SELECT is((SELECT tags[2] IS NULL FROM staging.cv_item WHERE id = 1), true,
          'a NULL array element read under array_nulls = off is NULL');
SELECT is((SELECT octet_length(code) FROM staging.cv_item WHERE id = 1), 4,
          'the merge filled the bpchar with its blanks');
SELECT is((SELECT doubled FROM staging.cv_item WHERE id = 1), 2::numeric, 'the target computed its own column');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_cv_e1, tap_cv_e2 CASCADE;
