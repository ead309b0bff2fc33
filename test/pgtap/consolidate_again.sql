-- A completed run called again, its data unchanged, leaves the target as
-- it is when the target holds the release's rows as approved (decision
-- 425): nothing deleted or inserted, the run's counts as before. Where the
-- target no longer does (a row changed there by hand), the call loads the
-- release again, and the row is the environment's again.
BEGIN;
SELECT plan(6);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_ca_e1;
  CREATE TABLE tap_ca_e1.ca_shelf (id int PRIMARY KEY, label text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
  CREATE TABLE tap_ca_e1.ca_book (id int PRIMARY KEY, shelf_id int NOT NULL REFERENCES tap_ca_e1.ca_shelf, title text,
                                  tdm_release text, tdm_feature text);
  INSERT INTO tap_ca_e1.ca_shelf VALUES (1, 'A', 'TCA', 'F'), (2, 'B', 'TCA', 'F');
  INSERT INTO tap_ca_e1.ca_book VALUES (1, 1, 'one', 'TCA', 'F'), (2, 2, 'two', 'TCA', 'F'), (3, 2, 'three', 'TCA', 'F')$$)
  \g /dev/null
SELECT pg_temp.loopback_server('tap_ca_self');
CREATE SCHEMA tap_ca;
CREATE TABLE tap_ca.ca_shelf (id int PRIMARY KEY, label text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
-- (the referencing column without an index: deleting the shelves again
-- would scan the books once per shelf)
CREATE TABLE tap_ca.ca_book (id int PRIMARY KEY, shelf_id int NOT NULL REFERENCES tap_ca.ca_shelf, title text,
                             tdm_release text, tdm_feature text);
SELECT tdm.add_environment('ca1', 'tap_ca_self', 10, 'tap_ca_e1');
SELECT tdm.manage_table('tap_ca.ca_shelf', '{label}'), tdm.manage_table('tap_ca.ca_book');
SELECT tdm.create_release('TCA'), tdm.add_feature('TCA', 'F', 1);
SELECT tdm.tag_release('TCA');

CREATE FUNCTION pg_temp.written() RETURNS bigint LANGUAGE sql AS $$
  SELECT sum(n_tup_ins + n_tup_del + n_tup_upd) FROM pg_stat_xact_user_tables WHERE schemaname = 'tap_ca'
$$;
SELECT tdm.consolidate('TCA', 'tap_ca') AS run \gset
SELECT pg_temp.written() AS written_first \gset
SELECT tdm.run.tables AS tables_first FROM tdm.run WHERE run_id = :run \gset
SELECT is(tdm.consolidate('TCA', 'tap_ca'), :run::bigint, 'called again: the same run');
SELECT is(pg_temp.written(), :written_first::bigint, 'nothing deleted, inserted or updated in the target');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'the run completed');
SELECT is((SELECT r.tables FROM tdm.run r WHERE r.run_id = :run), :'tables_first'::jsonb,
          'with the same counts and checksums per table');
-- A row of the release changed in the target by hand: loaded again.
UPDATE tap_ca.ca_book SET title = 'changed by hand' WHERE id = 3;
SELECT tdm.consolidate('TCA', 'tap_ca');
SELECT ok(pg_temp.written() > :written_first::bigint + 1, 'a row changed in the target: the release is loaded again');
SELECT results_eq($$SELECT id, shelf_id, title FROM tap_ca.ca_book ORDER BY id$$,
                  $$VALUES (1, 1, 'one'), (2, 2, 'two'), (3, 2, 'three')$$,
                  'and the row is the environment''s again');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_ca_e1 CASCADE;
