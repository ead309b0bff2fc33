-- A reference to a row of an archived release is refused, naming the
-- release to restore, also when that release's consolidation merged the
-- row away (its key map is the archived release's, and no other release's
-- map is there to translate through).
BEGIN;
SELECT plan(4);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_ar_e1;
  CREATE SCHEMA tap_ar_e2;
  CREATE TABLE tap_ar_e1.ar_customer (id int PRIMARY KEY, email text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
  CREATE TABLE tap_ar_e1.ar_order (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES tap_ar_e1.ar_customer,
                                   tdm_release text, tdm_feature text);
  CREATE TABLE tap_ar_e2.ar_customer (LIKE tap_ar_e1.ar_customer INCLUDING ALL);
  CREATE TABLE tap_ar_e2.ar_order (LIKE tap_ar_e1.ar_order INCLUDING ALL);
  INSERT INTO tap_ar_e1.ar_customer VALUES (1, 'a@x', 'TAR1', 'F');
  INSERT INTO tap_ar_e2.ar_customer VALUES (5, 'a@x', 'TAR1', 'F');
  INSERT INTO tap_ar_e2.ar_order VALUES (10, 5, 'TAR2', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_ar_self');
CREATE TABLE staging.ar_customer (id int PRIMARY KEY, email text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
CREATE TABLE staging.ar_order (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES staging.ar_customer,
                               tdm_release text, tdm_feature text);
SELECT tdm.add_environment('ar1', 'tap_ar_self', 10, 'tap_ar_e1'),
       tdm.add_environment('ar2', 'tap_ar_self', 20, 'tap_ar_e2');
SELECT tdm.manage_table('staging.ar_customer', '{email}'), tdm.manage_table('staging.ar_order');
SELECT tdm.create_release('TAR1'), tdm.add_feature('TAR1', 'F', 1);
SELECT tdm.create_release('TAR2', parent => 'TAR1'), tdm.add_feature('TAR2', 'F', 1);
SELECT tdm.tag_release('TAR1'), tdm.consolidate('TAR1'), tdm.promote('TAR1');
SELECT is((SELECT new_key FROM tdm.key_map WHERE env = 'ar2'), '{"id": 1}', 'ar2''s customer 5 merged into 1');
SELECT tdm.archive_release('TAR1');
SELECT tdm.tag_release('TAR2');

SELECT throws_ok($$SELECT tdm.consolidate('TAR2')$$, '55000',
  'consolidate: rows of environment ar2 reference 1 row(s) of staging.ar_customer of release TAR1, which is archived',
  'a reference to a merged-away row of an archived release is refused');
SELECT is(pg_temp.hint_of($$SELECT tdm.consolidate('TAR2')$$), 'Restore it first: SELECT tdm.restore_release(''TAR1'');',
          'the hint names the release to restore');
SELECT tdm.restore_release('TAR1');
SELECT tdm.consolidate('TAR2');
SELECT is((SELECT customer_id FROM staging.ar_order WHERE id = 10), 1,
          'restored, the reference goes to the row it was merged into');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_ar_e1, tap_ar_e2 CASCADE;
