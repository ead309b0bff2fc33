-- Detection's first pass plans its arrays from the collected table's
-- blocks times its first block's rows (decision 303). Wide rows first make
-- that plan far too small: the arrays grow while tdm.work_mem allows, and
-- a pass that outgrows it runs in SQL instead. Either way, the same
-- conflicts.
BEGIN;
SELECT plan(8);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

-- Two environments; each begins with four wide rows (1,792 characters
-- that do not compress, kept in line: a handful to a page), then 3,000 narrow ones. Ids 1..3000
-- collide across the two; codes of every tenth row too.
SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_dg_e1;
  CREATE SCHEMA tap_dg_e2;
  CREATE TABLE tap_dg_e1.item (id int PRIMARY KEY, code text UNIQUE, note text,
                               tdm_release text, tdm_feature text);
  CREATE TABLE tap_dg_e2.item (LIKE tap_dg_e1.item INCLUDING ALL);
  INSERT INTO tap_dg_e1.item SELECT 100000 + g, 'w1-' || g, (SELECT string_agg(md5(g || '-' || i), '') FROM generate_series(1, 56) i), 'TDG', 'F'
    FROM generate_series(1, 4) g;
  INSERT INTO tap_dg_e2.item SELECT 200000 + g, 'w2-' || g, (SELECT string_agg(md5(g || '-' || i), '') FROM generate_series(1, 56) i), 'TDG', 'F'
    FROM generate_series(1, 4) g;
  INSERT INTO tap_dg_e1.item SELECT g, 'c' || g, 'one', 'TDG', 'F' FROM generate_series(1, 3000) g;
  INSERT INTO tap_dg_e2.item SELECT g, CASE WHEN g % 10 = 0 THEN 'c' || g ELSE 'd' || g END, 'two', 'TDG', 'F'
    FROM generate_series(1, 3000) g$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_dg_self');
CREATE SCHEMA tap_dg;
CREATE TABLE tap_dg.item (id int PRIMARY KEY, code text UNIQUE, note text, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('dg1', 'tap_dg_self', 10, 'tap_dg_e1'),
       tdm.add_environment('dg2', 'tap_dg_self', 20, 'tap_dg_e2');
SELECT tdm.manage_table('tap_dg.item', '{code}');
SELECT tdm.create_release('TDG'), tdm.add_feature('TDG', 'F', 1), tdm.tag_release('TDG');

SELECT count(*) FROM tdm._collect('TDG') \g /dev/null
SELECT format('pg_temp.%I', tdm._collected_name('tap_dg.item')) AS collected \gset
SELECT pg_relation_size(:'collected') / current_setting('block_size')::int
       * (SELECT count(*) FROM :collected t WHERE t.ctid < '(1,0)'::tid) AS planned \gset
SELECT ok(:planned < (SELECT count(*) FROM :collected) / 4 AND (:planned + 64) * 21 < 64 * 1024,
          'the first block''s rows plan for a quarter of the rows or less, which would fit 64kB');

-- 1MB: the arrays grow past the plan, in memory.
SET LOCAL tdm.work_mem = '1MB';
CREATE TEMP TABLE grown AS SELECT conflict_id, kind, members FROM tdm._detect_collected('TDG');
SELECT is(to_regclass('pg_temp.tdm_labels'), NULL, 'with 1MB the first pass ran in memory');
SELECT is((SELECT count(*) FROM grown), 3000::bigint, 'and found the 3,000 colliding ids');

-- A caller's bound on the rows (consolidation's: collected, and master's)
-- sizes the pass instead of the estimate: 100,000 rows would not fit 1MB,
-- so the pass runs in SQL at once.
CREATE TEMP TABLE bounded AS
  SELECT conflict_id, kind, members FROM tdm._detect_plan('TDG', 'tap_dg.item', 100000);
SELECT isnt(to_regclass('pg_temp.tdm_labels'), NULL, 'a bound too large for 1MB sends the pass to SQL');
SELECT set_eq('SELECT * FROM bounded', 'SELECT * FROM grown', 'with the same conflicts');
DROP TABLE pg_temp.tdm_labels;

-- 64kB: 21 bytes a row for 6,008 rows do not fit; the plan (a few
-- hundred rows) did. The pass stops when its arrays outgrow the setting
-- and runs in SQL.
SET LOCAL tdm.work_mem = '64kB';
CREATE TEMP TABLE spilled AS SELECT conflict_id, kind, members FROM tdm._detect_collected('TDG');
SELECT isnt(to_regclass('pg_temp.tdm_labels'), NULL, 'with 64kB the first pass ran in SQL');
SELECT set_eq('SELECT * FROM spilled', 'SELECT * FROM grown', 'and found the same conflicts');
RESET tdm.work_mem;
SELECT set_eq('SELECT conflict_id, kind, members FROM tdm._detect_collected(''TDG'')',
              'SELECT * FROM grown', 'as with the default setting');

SELECT * FROM finish();
ROLLBACK;
-- (After the transaction: until then, its foreign scans' remote
-- transaction holds the tables.)
SET client_min_messages = warning;
DROP SCHEMA tap_dg_e1, tap_dg_e2 CASCADE;
