-- Bookkeeping columns (a version, who updated the row) change with every
-- write: left out of the comparison, a row newer in its timestamp and
-- differing only there is the same row, newer (temporal_priority keeps it
-- whole, its bookkeeping values with it). A row whose attributes differ
-- too is not settled by its timestamp alone. (Without bookkeeping
-- columns, the first pair is an attribute conflict: GoogleTest
-- Rules.BookkeepingColumnsAreNotComparedSoTheNewerRowWins.)
BEGIN;
SELECT plan(5);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_bk_e1;
  CREATE SCHEMA tap_bk_e2;
  CREATE TABLE tap_bk_e1.bk_emp (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text, updated_at timestamptz,
                                 updated_by text, version int, tdm_release text, tdm_feature text);
  CREATE TABLE tap_bk_e2.bk_emp (LIKE tap_bk_e1.bk_emp INCLUDING ALL);
  INSERT INTO tap_bk_e1.bk_emp VALUES (1, 'b@x', 'Bob', '2026-01-01', 'u1', 1, 'BK', 'F'),
                                      (2, 'c@x', 'Cy', '2026-01-01', 'u1', 1, 'BK', 'F');
  INSERT INTO tap_bk_e2.bk_emp VALUES (1, 'b@x', 'Bob', '2026-03-01', 'u2', 2, 'BK', 'F'),
                                      (2, 'c@x', 'Cyrus', '2026-03-01', 'u2', 2, 'BK', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_bk_self');
CREATE TABLE staging.bk_emp (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text, updated_at timestamptz,
                             updated_by text, version int, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('bk1', 'tap_bk_self', 10, 'tap_bk_e1'),
       tdm.add_environment('bk2', 'tap_bk_self', 20, 'tap_bk_e2');
SELECT throws_ok($$SELECT tdm.manage_table('staging.bk_emp', '{email}', 'updated_at',
                                           bookkeeping_columns => '{email}')$$, '22023',
                 'bookkeeping_columns names the natural key column "email" of table staging.bk_emp',
                 'a key column is no bookkeeping column');
SELECT tdm.manage_table('staging.bk_emp', '{email}', 'updated_at', bookkeeping_columns => '{version,updated_by}');
SELECT tdm.create_release('BK'), tdm.add_feature('BK', 'F', 1);
SELECT tdm.tag_release('BK');
SELECT tdm.consolidate('BK');
SELECT is((SELECT rule FROM tdm.conflict c JOIN tdm.conflict_member m USING (conflict_id)
            WHERE m."row" ->> 'id' = '1' LIMIT 1), 'temporal_priority',
          'a row newer in its timestamp, differing only in bookkeeping columns, is the same row, newer');
SELECT is((SELECT ROW(version, updated_by)::text FROM staging.bk_emp WHERE id = 1), '(2,u2)',
          'kept whole, with its own bookkeeping values');
SELECT isnt((SELECT rule FROM tdm.conflict c JOIN tdm.conflict_member m USING (conflict_id)
              WHERE m."row" ->> 'id' = '2' LIMIT 1), 'temporal_priority',
            'a row whose attributes differ too is not settled by its timestamp alone');
SELECT is((SELECT bookkeeping_columns FROM tdm.managed_table WHERE rel = 'staging.bk_emp'::regclass),
          '{version,updated_by}'::text[], 'the registration keeps them');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_bk_e1, tap_bk_e2 CASCADE;
