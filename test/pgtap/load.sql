-- The load's direct insert (tdm._load_rows) and the set-based foreign key
-- check that must follow it (tdm._check_loaded_references): rows, index
-- entries, constraints, privileges, the locks on referenced rows, the
-- refusal to commit unchecked rows, the tables left to INSERT, and an
-- empty source, which loads nothing and leaves its target alone.

-- Committed parents, so that another session can try to delete one.
CREATE SCHEMA tdm_load_test;
CREATE TABLE tdm_load_test.parent (id int PRIMARY KEY, code text NOT NULL UNIQUE CHECK (code <> ''));
INSERT INTO tdm_load_test.parent SELECT i, 'p' || i FROM generate_series(1, 2000) i;
CREATE TABLE tdm_load_test.child (
  id int PRIMARY KEY,
  parent_id int NOT NULL REFERENCES tdm_load_test.parent,
  note text,
  amount numeric CHECK (amount > 0));
CREATE INDEX ON tdm_load_test.child (lower(note)) WHERE amount > 100;
-- For the locks: a child that holds a row, so its indexes stay (a load
-- into an empty table rebuilds them, which locks them until commit).
CREATE TABLE tdm_load_test.lock_parent (id int PRIMARY KEY);
INSERT INTO tdm_load_test.lock_parent SELECT generate_series(1, 100);
CREATE TABLE tdm_load_test.lock_child (id int PRIMARY KEY, parent_id int REFERENCES tdm_load_test.lock_parent);
INSERT INTO tdm_load_test.lock_child VALUES (1, 1);
-- An empty table another session reads while the load runs.
CREATE TABLE tdm_load_test.read_now (id int PRIMARY KEY, code text UNIQUE);
CREATE TABLE tdm_load_test.untouched (id int PRIMARY KEY, code text UNIQUE);
CREATE TABLE tdm_load_test.fresh_parent (id int PRIMARY KEY);
CREATE TABLE tdm_load_test.fresh_child (id int PRIMARY KEY, parent_id int REFERENCES tdm_load_test.fresh_parent);
-- A referenced table with an inheritance child (the constraint reads ONLY
-- the table), and a partitioned one.
CREATE TABLE tdm_load_test.inh_parent (id int PRIMARY KEY);
CREATE TABLE tdm_load_test.inh_kid () INHERITS (tdm_load_test.inh_parent);
INSERT INTO tdm_load_test.inh_parent VALUES (1);
INSERT INTO tdm_load_test.inh_kid VALUES (77);
CREATE TABLE tdm_load_test.inh_ref (id int PRIMARY KEY, parent_id int REFERENCES tdm_load_test.inh_parent);
INSERT INTO tdm_load_test.inh_ref VALUES (1, 1);
CREATE TABLE tdm_load_test.parts (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE tdm_load_test.parts_low PARTITION OF tdm_load_test.parts FOR VALUES FROM (0) TO (100);
CREATE TABLE tdm_load_test.parts_high PARTITION OF tdm_load_test.parts FOR VALUES FROM (100) TO (200);
INSERT INTO tdm_load_test.parts VALUES (5), (150);
CREATE TABLE tdm_load_test.parts_ref (id int PRIMARY KEY, parent_id int REFERENCES tdm_load_test.parts);
INSERT INTO tdm_load_test.parts_ref VALUES (1, 5);
CREATE TABLE tdm_load_test.low_ref (id int PRIMARY KEY, parent_id int REFERENCES tdm_load_test.parts_low);
INSERT INTO tdm_load_test.low_ref VALUES (1, 5);
CREATE TABLE tdm_load_test.pair_parent (a int, b int, PRIMARY KEY (a, b));
INSERT INTO tdm_load_test.pair_parent VALUES (1, 1);
CREATE TABLE tdm_load_test.pair (id int PRIMARY KEY, a int, b int,
                                 FOREIGN KEY (a, b) REFERENCES tdm_load_test.pair_parent MATCH FULL);

BEGIN;
SELECT plan(80);
CREATE EXTENSION IF NOT EXISTS dblink;
CREATE EXTENSION IF NOT EXISTS amcheck;
\ir ../../sql/include/sessions.sql
\ir ../../sql/include/errors.sql
\o /dev/null
SELECT dblink_connect('other', pg_temp.conninfo(current_database()));
SELECT dblink_exec('other', 'SET lock_timeout = ''2s''');
\o

-- Collected rows: the target's columns in another order, among others;
-- long notes go to TOAST in the source.
CREATE TEMP TABLE src_child (tdm_row_hash bigint, note text, amount numeric, parent_id int, id int,
                             tdm_env text);
INSERT INTO src_child
SELECT 0, CASE WHEN i % 100 = 0 THEN repeat(md5(i::text), 200) ELSE 'n' || i END, i, 1 + i % 1000, i, 'st1'
  FROM generate_series(1, 5000) i;

SELECT pg_relation_filenode('tdm_load_test.child_pkey') AS empty_pkey \gset
SELECT is(tdm._load_rows('src_child', 'tdm_load_test.child'), 5000::bigint,
          'every collected row is inserted');
SELECT isnt(pg_relation_filenode('tdm_load_test.child_pkey'), :empty_pkey::oid,
            'into an empty table, the indexes are built after the rows');
SELECT lives_ok('SELECT tdm._check_loaded_references()', 'their foreign keys hold');
SELECT results_eq(
  'SELECT id, parent_id, note, amount FROM tdm_load_test.child ORDER BY id',
  'SELECT id, parent_id, note, amount FROM src_child ORDER BY id',
  'the target holds the rows, column by column');
SELECT lives_ok($$SELECT bt_index_check(i.indexrelid, true) FROM pg_index i
                   WHERE i.indrelid = 'tdm_load_test.child'::regclass$$,
                'every index has an entry for every row (amcheck, heapallindexed)');
CREATE FUNCTION pg_temp.plan_of(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  line text;
  plan text := '';
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
    plan := plan || line || ' ';
  END LOOP;
  RETURN plan;
END
$$;
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT ok(pg_temp.plan_of($$SELECT id FROM tdm_load_test.child WHERE lower(note) = 'n4321' AND amount > 100$$)
          LIKE '%Index Scan using child_lower_idx%'
          AND (SELECT id FROM tdm_load_test.child WHERE lower(note) = 'n4321' AND amount > 100) = 4321,
          'the expression and partial index finds a row');
RESET enable_seqscan;
RESET enable_bitmapscan;

-- Into a table that holds rows, index entries are added row by row.
CREATE TEMP TABLE src_more (id int, parent_id int, note text, amount numeric);
INSERT INTO src_more SELECT i, 1, 'more ' || i, i FROM generate_series(5001, 5100) i;
SELECT pg_relation_filenode('tdm_load_test.child_pkey') AS full_pkey \gset
SELECT is(tdm._load_rows('src_more', 'tdm_load_test.child'), 100::bigint, 'rows added to a table with rows');
SELECT tdm._check_loaded_references();
SELECT is(pg_relation_filenode('tdm_load_test.child_pkey'), :full_pkey::oid, 'its indexes are kept');
SELECT lives_ok($$SELECT bt_index_check(i.indexrelid, true) FROM pg_index i
                   WHERE i.indrelid = 'tdm_load_test.child'::regclass$$,
                'and have an entry for every row');

-- The referenced rows are locked FOR KEY SHARE, as the constraint's
-- trigger would lock them: another session cannot delete one.
CREATE TEMP TABLE src_lock (id int, parent_id int);
INSERT INTO src_lock VALUES (2, 7), (3, 7);
SELECT is(tdm._load_rows('src_lock', 'tdm_load_test.lock_child'), 2::bigint, 'rows referencing parent 7');
SELECT tdm._check_loaded_references();
SELECT throws_ok(
  $$SELECT dblink_exec('other', 'SET lock_timeout = ''200ms''; DELETE FROM tdm_load_test.lock_parent WHERE id = 7')$$,
  '55P03', NULL, 'a parent of a loaded row cannot be deleted by another session');
SELECT lives_ok(
  $$SELECT dblink_exec('other', 'SET lock_timeout = ''200ms''; BEGIN; DELETE FROM tdm_load_test.lock_parent WHERE id = 50; ROLLBACK')$$,
  'a parent nobody references can');

SELECT isnt((SELECT xmax FROM tdm_load_test.lock_parent WHERE id = 7), '0'::xid,
            'the referenced row carries the lock');
-- A parent table loaded into no rows holds only this transaction's rows:
-- nothing there is locked, the keys are still checked.
CREATE TEMP TABLE src_fresh_parent (id int);
INSERT INTO src_fresh_parent SELECT generate_series(1, 10);
CREATE TEMP TABLE src_fresh_child (id int, parent_id int);
INSERT INTO src_fresh_child SELECT i, 1 + i % 10 FROM generate_series(1, 30) i;
SELECT tdm._load_rows('src_fresh_parent', 'tdm_load_test.fresh_parent') +
       tdm._load_rows('src_fresh_child', 'tdm_load_test.fresh_child') AS fresh_rows \gset
SELECT lives_ok('SELECT tdm._check_loaded_references()', 'rows referencing a table loaded from empty hold');
SELECT is((SELECT count(*) FROM tdm_load_test.fresh_parent WHERE xmax <> '0'), 0::bigint,
          'and no row of it is locked');

-- A row whose parent is missing: the check refuses it.
CREATE TEMP TABLE src_orphan (id int, parent_id int, note text, amount numeric);
INSERT INTO src_orphan VALUES (9001, 1, 'ok', 1), (9002, 99999, 'orphan', 1);
SAVEPOINT orphan;
SELECT is(tdm._load_rows('src_orphan', 'tdm_load_test.child'), 2::bigint, 'the orphan is inserted');
SELECT throws_like('SELECT tdm._check_loaded_references()',
                   'load: insert into tdm_load_test.child violates foreign key constraint "child_parent_id_fkey"',
                   'then refused by the foreign key check');
ROLLBACK TO SAVEPOINT orphan;
-- MATCH FULL: a key partly NULL is refused too (the trigger's rule).
CREATE TEMP TABLE src_pair (id int, a int, b int);
INSERT INTO src_pair VALUES (1, 1, 1), (2, NULL, NULL), (3, 1, NULL);
SAVEPOINT partial;
SELECT is(tdm._load_rows('src_pair', 'tdm_load_test.pair'), 3::bigint, 'a MATCH FULL key partly NULL is inserted');
SELECT throws_like('SELECT tdm._check_loaded_references()',
                   'load: insert into tdm_load_test.pair violates foreign key constraint "pair_a_b_fkey"',
                   'then refused by the foreign key check');
ROLLBACK TO SAVEPOINT partial;

-- A parent table filled from empty by this transaction: a key it lacks
-- is still refused.
SAVEPOINT fresh_orphan;
DELETE FROM src_fresh_child;
INSERT INTO src_fresh_child VALUES (100, 11);
SELECT is(tdm._load_rows('src_fresh_child', 'tdm_load_test.fresh_child'), 1::bigint, 'a row whose parent the fresh table lacks');
SELECT throws_ok('SELECT tdm._check_loaded_references()', '23503', NULL, 'is refused by the check');
ROLLBACK TO SAVEPOINT fresh_orphan;
-- The source is what the check reads: changed after the load, refused.
SAVEPOINT changed_source;
CREATE TEMP TABLE src_changed (id int, parent_id int);
INSERT INTO src_changed VALUES (50, 1);
SELECT is(tdm._load_rows('src_changed', 'tdm_load_test.lock_child'), 1::bigint, 'a row loaded');
UPDATE src_changed SET parent_id = 2;
SELECT throws_ok('SELECT tdm._check_loaded_references()', '55000',
                 'load: the rows of src_changed changed after they were loaded into lock_child',
                 'its source changed afterwards: the check refuses');
ROLLBACK TO SAVEPOINT changed_source;
SAVEPOINT renamed_source;
CREATE TEMP TABLE src_renamed (id int, parent_id int, decoy int);
INSERT INTO src_renamed VALUES (60, 99999, 1);
SELECT is(tdm._load_rows('src_renamed', 'tdm_load_test.lock_child'), 1::bigint, 'an orphan loaded');
ALTER TABLE src_renamed RENAME COLUMN parent_id TO hidden;
ALTER TABLE src_renamed RENAME COLUMN decoy TO parent_id;
SELECT throws_ok('SELECT tdm._check_loaded_references()', '55000', NULL,
                 'a key column renamed after the load: the check refuses');
ROLLBACK TO SAVEPOINT renamed_source;
SAVEPOINT hidden_source;
CREATE TEMP TABLE src_hidden (id int, parent_id int);
INSERT INTO src_hidden VALUES (61, 99999);
SELECT is(tdm._load_rows('src_hidden', 'tdm_load_test.lock_child'), 1::bigint, 'another orphan loaded');
ALTER TABLE src_hidden ENABLE ROW LEVEL SECURITY;
ALTER TABLE src_hidden FORCE ROW LEVEL SECURITY;
CREATE POLICY none_seen ON src_hidden USING (false);
SELECT throws_ok('SELECT tdm._check_loaded_references()', '23503', NULL,
                 'a row security policy on the source does not hide it from the check');
ROLLBACK TO SAVEPOINT hidden_source;
-- Referenced as the constraint references: ONLY the table, not its
-- inheritance children; a partitioned table through its partitions.
SAVEPOINT referenced;
CREATE TEMP TABLE src_inh (id int, parent_id int);
INSERT INTO src_inh VALUES (2, 77);
SELECT is(tdm._load_rows('src_inh', 'tdm_load_test.inh_ref'), 1::bigint, 'a row referencing a key only an inheritance child has');
SELECT throws_ok('SELECT tdm._check_loaded_references()', '23503', NULL, 'is refused, as the constraint refuses it');
ROLLBACK TO SAVEPOINT referenced;
CREATE TEMP TABLE src_parts (id int, parent_id int);
INSERT INTO src_parts VALUES (2, 5), (3, 150);
SELECT is(tdm._load_rows('src_parts', 'tdm_load_test.parts_ref'), 2::bigint, 'rows referencing two partitions');
SELECT lives_ok('SELECT tdm._check_loaded_references()', 'hold');
SAVEPOINT leaf;
SELECT is(tdm._load_rows('src_parts', 'tdm_load_test.low_ref'), 2::bigint,
          'rows referencing one partition directly');
SELECT throws_like('SELECT tdm._check_loaded_references()', '%violates foreign key constraint "low_ref_parent_id_fkey"',
                   'a key only another partition holds is refused');
ROLLBACK TO SAVEPOINT leaf;

-- Constraints the insert checks row by row, and unique indexes.
CREATE TEMP TABLE src_bad (id int, parent_id int, note text, amount numeric);
INSERT INTO src_bad VALUES (1, 1, 'duplicate id', 1);
SELECT throws_ok($$SELECT tdm._load_rows('src_bad', 'tdm_load_test.child')$$, '23505', NULL,
                 'a duplicate key is refused (unique index)');
SAVEPOINT emptied;
DELETE FROM tdm_load_test.child;
INSERT INTO src_bad VALUES (1, 2, 'same id again', 1);
SELECT throws_ok($$SELECT tdm._load_rows('src_bad', 'tdm_load_test.child')$$, '23505',
                 'could not create unique index "child_pkey"',
                 'a duplicate key is refused when the indexes are built after the rows too');
ROLLBACK TO SAVEPOINT emptied;
DELETE FROM src_bad WHERE note = 'same id again';
UPDATE src_bad SET id = 9100, amount = -1;
SELECT throws_ok($$SELECT tdm._load_rows('src_bad', 'tdm_load_test.child')$$, '23514', NULL,
                 'a CHECK violation is refused');
UPDATE src_bad SET amount = 1, parent_id = NULL;
SELECT throws_ok($$SELECT tdm._load_rows('src_bad', 'tdm_load_test.child')$$, '23502', NULL,
                 'a NULL in a NOT NULL column is refused');

-- A table with an insert trigger of its own is left to INSERT.
CREATE FUNCTION pg_temp.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
SAVEPOINT with_trigger;
CREATE TRIGGER touch BEFORE INSERT ON tdm_load_test.child FOR EACH ROW EXECUTE FUNCTION pg_temp.touch();
UPDATE src_bad SET parent_id = 1;
SELECT is(tdm._load_rows('src_bad', 'tdm_load_test.child'), NULL::bigint, 'a table with a trigger gets NULL');
SELECT is((SELECT count(*) FROM tdm_load_test.child WHERE id = 9100), 0::bigint, 'and no row');
ROLLBACK TO SAVEPOINT with_trigger;
SAVEPOINT partition;
CREATE TABLE tdm_load_test.part (id int, parent_id int, note text, amount numeric) PARTITION BY RANGE (id);
CREATE TABLE tdm_load_test.part_low PARTITION OF tdm_load_test.part FOR VALUES FROM (0) TO (10000);
SELECT is(tdm._load_rows('src_bad', 'tdm_load_test.part_low'), NULL::bigint,
          'so does a partition (INSERT checks its bound)');
ROLLBACK TO SAVEPOINT partition;
SAVEPOINT other_collation;
ALTER TABLE src_bad ALTER COLUMN note TYPE text COLLATE "C";
SELECT is(tdm._load_rows('src_bad', 'tdm_load_test.child'), NULL::bigint,
          'so does a column whose collation differs');
ROLLBACK TO SAVEPOINT other_collation;
SAVEPOINT other_type;
ALTER TABLE src_bad ALTER COLUMN amount TYPE int;
SELECT is(tdm._load_rows('src_bad', 'tdm_load_test.child'), NULL::bigint,
          'so does a column whose type differs from the collected one');
ROLLBACK TO SAVEPOINT other_type;

-- Rows come only from the session's temporary tables, and privileges hold.
SELECT throws_ok($$SELECT tdm._load_rows('tdm_load_test.parent', 'tdm_load_test.child')$$, '42809',
                 'load: rows are loaded only from a temporary table of this session, not from "parent"',
                 'a source that is not a temporary table is refused');
CREATE ROLE tdm_load_test_admin IN ROLE tdm_admin;
GRANT USAGE ON SCHEMA tdm_load_test TO tdm_load_test_admin;
GRANT SELECT, UPDATE ON tdm_load_test.parent TO tdm_load_test_admin;
GRANT SELECT ON src_bad TO tdm_load_test_admin;
GRANT SELECT ON tdm_load_test.lock_parent TO tdm_load_test_admin;
GRANT SELECT, INSERT ON tdm_load_test.lock_child TO tdm_load_test_admin;
GRANT SELECT ON src_lock TO tdm_load_test_admin;
GRANT SELECT ON tdm_load_test.fresh_parent TO tdm_load_test_admin;
GRANT SELECT, INSERT ON tdm_load_test.fresh_child TO tdm_load_test_admin;
CREATE TEMP TABLE src_fresh_more (id int, parent_id int);
INSERT INTO src_fresh_more VALUES (200, 3);
GRANT SELECT ON src_fresh_more TO tdm_load_test_admin;
SET LOCAL ROLE tdm_load_test_admin;
SELECT is(tdm._load_rows('src_lock', 'tdm_load_test.lock_child'), NULL::bigint,
          'a caller who cannot lock the referenced rows (no UPDATE on them) gets INSERT');
SELECT is(tdm._load_rows('src_fresh_more', 'tdm_load_test.fresh_child'), 1::bigint,
          'SELECT is enough on a referenced table this transaction keeps writers out of');
SELECT lives_ok('SELECT tdm._check_loaded_references()', 'whose check locks no row');
SELECT throws_ok($$SELECT tdm._load_rows('src_bad', 'tdm_load_test.child')$$, '42501',
                 'permission denied for table child', 'INSERT privilege on the target is required');
-- The snapshot's copy checks privileges as well.
CREATE TABLE tdm_snapshot.copy_into (id int, code text);
SELECT throws_ok($$SELECT tdm._copy_rows('tdm_load_test.child', 'tdm_snapshot.copy_into', '{1,2}')$$, '42501',
                 'permission denied for table child', 'the snapshot copy needs SELECT on its source');
RESET ROLE;

-- A transaction that loaded directly cannot commit unchecked rows (another
-- session, which commits); one whose load was rolled back can.
\o /dev/null
SELECT dblink_exec('other', 'CREATE TEMP TABLE src (id int, parent_id int)');
SELECT dblink_exec('other', 'INSERT INTO src VALUES (9500, 1)');
\o
SELECT throws_ok(
  $$SELECT dblink_exec('other', 'BEGIN; SELECT tdm._load_rows(''src'', ''tdm_load_test.lock_child''); COMMIT')$$,
  '23000', NULL, 'commit refused while the loaded rows are unchecked');
SELECT lives_ok(
  $$SELECT dblink_exec('other', 'BEGIN; SAVEPOINT s; SELECT tdm._load_rows(''src'', ''tdm_load_test.lock_child''); ROLLBACK TO SAVEPOINT s; COMMIT')$$,
  'a load rolled back to a savepoint leaves nothing to check');
SELECT throws_ok(
  $$SELECT dblink_exec('other', 'BEGIN; SELECT tdm._load_rows(''src'', ''tdm_load_test.lock_child''); SAVEPOINT c; SELECT tdm._check_loaded_references(); ROLLBACK TO SAVEPOINT c; COMMIT')$$,
  '23000', NULL, 'so is one whose check was rolled back to a savepoint (its locks went with it)');
SELECT is((SELECT n FROM dblink('other', 'SELECT count(*) FROM tdm_load_test.lock_child WHERE id = 9500') AS x(n bigint)),
          0::bigint, 'nothing of either was committed');
-- Sequences after rows written with their keys (tdm._advance_sequences):
-- moved past the highest key, never back; an identity, a serial, a
-- default drawn from a sequence the table does not own.
CREATE TABLE tdm_load_test.numbered (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                                     no serial, ext bigint);
CREATE SEQUENCE tdm_load_test.shared_seq START 500;
ALTER TABLE tdm_load_test.numbered ALTER ext SET DEFAULT nextval('tdm_load_test.shared_seq');
INSERT INTO tdm_load_test.numbered VALUES (40, 7, 9);
SELECT tdm._advance_sequences('{tdm_load_test.numbered}');
SELECT is(ARRAY[pg_sequence_last_value(pg_get_serial_sequence('tdm_load_test.numbered', 'id')),
                pg_sequence_last_value(pg_get_serial_sequence('tdm_load_test.numbered', 'no'))],
          ARRAY[40, 7]::bigint[], 'an identity and a serial are moved past the keys written');
SELECT is((SELECT last_value FROM tdm_load_test.shared_seq), 500::bigint,
          'a sequence ahead of the keys (start 500, 9 written) stays');
INSERT INTO tdm_load_test.numbered (no, ext) VALUES (8, 501);
SELECT is((SELECT id FROM tdm_load_test.numbered WHERE no = 8), 41, 'the next insert draws a new key');
-- Before a load: past the keys of the rows about to be written (a trigger
-- of the load may draw from the sequence meanwhile).
CREATE TEMP TABLE numbered_src (id int, no int, ext bigint);
INSERT INTO numbered_src VALUES (60, 9, 9);
SELECT tdm._advance_sequences('{tdm_load_test.numbered}', '{numbered_src}');
SELECT is(pg_sequence_last_value(pg_get_serial_sequence('tdm_load_test.numbered', 'id')), 60::bigint,
          'and past the keys of a source, before its rows go in');
DELETE FROM tdm_load_test.numbered WHERE no = 8;
-- Sequences at the edges of their range: one never called that starts at
-- the least bigint, and one whose range starts past the keys written.
CREATE TABLE tdm_load_test.ranged (id bigint PRIMARY KEY, low bigint);
CREATE SEQUENCE tdm_load_test.from_min MINVALUE -9223372036854775808 START -9223372036854775808 OWNED BY tdm_load_test.ranged.id;
ALTER TABLE tdm_load_test.ranged ALTER id SET DEFAULT nextval('tdm_load_test.from_min');
CREATE SEQUENCE tdm_load_test.from_100 MINVALUE 100 START 100 INCREMENT 10 OWNED BY tdm_load_test.ranged.low;
ALTER TABLE tdm_load_test.ranged ALTER low SET DEFAULT nextval('tdm_load_test.from_100');
INSERT INTO tdm_load_test.ranged VALUES (5, 95);
SELECT lives_ok($$SELECT tdm._advance_sequences('{tdm_load_test.ranged}')$$,
                'sequences at the edges of their range');
SELECT is(ARRAY[pg_sequence_last_value('tdm_load_test.from_min'), pg_sequence_last_value('tdm_load_test.from_100')],
          ARRAY[5, NULL]::bigint[], 'one is moved past the key, the other left (its keys start past 95)');
ALTER SEQUENCE tdm_load_test.from_min RESTART WITH 1000;
SELECT tdm._advance_sequences('{tdm_load_test.ranged}');
SELECT is((SELECT nextval('tdm_load_test.from_min')), 1000::bigint,
          'a sequence restarted past the keys is not moved back');
-- A sequence that counts down: moved past the lowest key written, never
-- back up (p300).
CREATE TABLE tdm_load_test.falling (id int PRIMARY KEY);
CREATE SEQUENCE tdm_load_test.down_seq INCREMENT BY -1 OWNED BY tdm_load_test.falling.id;
ALTER TABLE tdm_load_test.falling ALTER id SET DEFAULT nextval('tdm_load_test.down_seq');
INSERT INTO tdm_load_test.falling VALUES (-1), (-2), (-3);
SELECT tdm._advance_sequences('{tdm_load_test.falling}');
SELECT is((SELECT nextval('tdm_load_test.down_seq')), -4::bigint,
          'a sequence counting down is moved past the lowest key written');
SELECT tdm._advance_sequences('{tdm_load_test.falling}');
SELECT is((SELECT nextval('tdm_load_test.down_seq')), -5::bigint, 'and is not moved back');
-- A key whose default is a function that draws a sequence tdm cannot see:
-- manage_table warns, with what to run.
CREATE SEQUENCE tdm_load_test.hidden_seq;
CREATE FUNCTION tdm_load_test.next_id() RETURNS int LANGUAGE sql AS $$SELECT nextval('tdm_load_test.hidden_seq')::int$$;
CREATE TABLE tdm_load_test.by_function (id int PRIMARY KEY DEFAULT tdm_load_test.next_id(),
                                        tdm_release text, tdm_feature text);
SET LOCAL client_min_messages = error;  -- (its WARNING says so)
SELECT tdm.manage_table('tdm_load_test.by_function', surrogate_key => true);
RESET client_min_messages;
SELECT is(tdm._key_default_unseen('tdm_load_test.by_function'), 'tdm_load_test.next_id()',
          'a key drawn by a function of the user''s is one tdm cannot follow (manage_table warns)');
CREATE TABLE tdm_load_test.by_serial (id serial PRIMARY KEY, tdm_release text, tdm_feature text);
SET LOCAL client_min_messages = error;
SELECT tdm.manage_table('tdm_load_test.by_serial', surrogate_key => true);
RESET client_min_messages;
SELECT is(tdm._key_default_unseen('tdm_load_test.by_serial'), NULL, 'a serial key is not');
-- (a serial whose default was switched to such a function: its own
-- sequence is not what draws the keys, p306)
ALTER TABLE tdm_load_test.by_serial ALTER id SET DEFAULT tdm_load_test.next_id();
SELECT is(tdm._key_default_unseen('tdm_load_test.by_serial'), 'tdm_load_test.next_id()',
          'a serial switched to a function of the user''s is one tdm cannot follow too');
-- A key whose domain gives the default: its sequence is the column's.
CREATE SEQUENCE tdm_load_test.dom_seq;
CREATE DOMAIN tdm_load_test.order_no AS int DEFAULT nextval('tdm_load_test.dom_seq');
CREATE TABLE tdm_load_test.by_domain (id tdm_load_test.order_no PRIMARY KEY);
SELECT is(tdm._column_sequence('tdm_load_test.by_domain', 'id'), 'tdm_load_test.dom_seq'::regclass,
          'a domain''s default names the key''s sequence, which tdm then moves');
SELECT tdm.unmanage_table('tdm_load_test.by_function'), tdm.unmanage_table('tdm_load_test.by_serial');
GRANT SELECT ON tdm_load_test.numbered TO tdm_load_test_admin;
INSERT INTO tdm_load_test.numbered VALUES (90, 70, 9);
SET LOCAL ROLE tdm_load_test_admin;
SET LOCAL client_min_messages = error;  -- (its WARNING names the sequence)
SELECT lives_ok($$SELECT tdm._advance_sequences('{tdm_load_test.numbered}')$$,
                'a sequence the caller may not update does not fail the load');
RESET client_min_messages;
RESET ROLE;
SELECT is(pg_sequence_last_value(pg_get_serial_sequence('tdm_load_test.numbered', 'id')), 60::bigint,
          'and is left as it was');
-- New keys for re-keyed rows come from the table's sequence: a caller who
-- may not use it is told, in one GRANT, of every managed table's key
-- sequence it may not use, not one table per call.
CREATE TABLE tdm_load_test.keyed_a (id serial PRIMARY KEY, tdm_release text, tdm_feature text);
CREATE TABLE tdm_load_test.keyed_b (id serial PRIMARY KEY, tdm_release text, tdm_feature text);
SET LOCAL client_min_messages = error;  -- (managed tables in several schemas: a WARNING)
SELECT tdm.manage_table('tdm_load_test.keyed_a'), tdm.manage_table('tdm_load_test.keyed_b');
RESET client_min_messages;
CREATE TEMP TABLE tdm_previous_keys (rel regclass, env text, old_key text[], new_key jsonb);
CREATE TEMP TABLE keyed_src (id int);
GRANT SELECT ON tdm_load_test.keyed_a, tdm_previous_keys, keyed_src TO tdm_load_test_admin;
SET LOCAL ROLE tdm_load_test_admin;
SELECT matches(pg_temp.hint_of($$SELECT tdm._new_key_expr('tdm_load_test.keyed_a', 'tdm_load_test.keyed_a',
                                                           'keyed_src')$$),
               '^The owner grants it: GRANT SELECT, UPDATE ON SEQUENCE .*tdm_load_test\.keyed_a_id_seq, '
               'tdm_load_test\.keyed_b_id_seq TO tdm_load_test_admin;$',
               'a refused sequence names the other managed tables'' key sequences in the same GRANT');
RESET ROLE;
SELECT tdm.unmanage_table('tdm_load_test.keyed_a'), tdm.unmanage_table('tdm_load_test.keyed_b');

-- A table the release brings no row of (most of a wide schema's): an
-- empty source loads nothing, and the empty target gets no index rebuild
-- and no lock beyond the load's own, and nothing is left to check.
SELECT tdm._check_loaded_references();  -- (the loads above: checked)
CREATE TEMP TABLE src_none (id int, code text);
SELECT pg_relation_filenode('tdm_load_test.untouched_pkey') AS untouched_pkey \gset
SELECT is(tdm._load_rows('src_none', 'tdm_load_test.untouched'), 0::bigint,
          'an empty source loads no row into an empty target');
SELECT is(pg_relation_filenode('tdm_load_test.untouched_pkey'), :untouched_pkey::oid,
          'whose indexes are not rebuilt');
SELECT is((SELECT string_agg(l.mode, ', ' ORDER BY l.mode) FROM pg_locks l
            WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation'
              AND l.relation IN (SELECT 'tdm_load_test.untouched'::regclass
                                 UNION ALL SELECT indexrelid FROM pg_index
                                            WHERE indrelid = 'tdm_load_test.untouched'::regclass)),
          'RowExclusiveLock', 'and which keeps only the load''s own lock (no SHARE lock, no index lock)');
DROP TABLE src_none;
SELECT lives_ok('SELECT tdm._check_loaded_references()',
                'and the check after it has nothing to read (its source is gone)');

-- A session that reads an empty target holds its indexes: the load, which
-- holds the audit trail's head, does not wait to rebuild them (every
-- audited call would wait behind that reader), it inserts entry by entry.
CREATE TEMP TABLE src_read (id int, code text);
INSERT INTO src_read SELECT i, 'c' || i FROM generate_series(1, 300) i;
\o /dev/null
SELECT dblink_exec('other', 'BEGIN');
SELECT * FROM dblink('other', 'SELECT count(*) FROM tdm_load_test.read_now') AS x(n bigint);
\o
SELECT pg_relation_filenode('tdm_load_test.read_now_pkey') AS read_pkey \gset
SET lock_timeout = '1s';
SELECT is(tdm._load_rows('src_read', 'tdm_load_test.read_now'), 300::bigint,
          'a target another session reads is loaded without waiting for it');
RESET lock_timeout;
SELECT is(pg_relation_filenode('tdm_load_test.read_now_pkey'), :read_pkey::oid,
          'its indexes are not rebuilt, but filled entry by entry');
SELECT lives_ok($$SELECT bt_index_check(i.indexrelid, true) FROM pg_index i
                   WHERE i.indrelid = 'tdm_load_test.read_now'::regclass$$,
                'with an entry for every row');
SELECT is((SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND mode = 'AccessExclusiveLock'
              AND relation IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'tdm_load_test.read_now'::regclass)),
          0::bigint, 'and no lock on them is kept from the try');
\o /dev/null
SELECT dblink_exec('other', 'COMMIT');
\o

\o /dev/null
SELECT dblink_disconnect('other');
\o
-- Master's tables take the source's foreign keys as they are: MATCH
-- FULL, and an ON DELETE SET NULL of some of the key's columns (the
-- tenant stays when the assignee goes).
CREATE SCHEMA tdm_fk_from;
CREATE TABLE tdm_fk_from.member (tenant int, id int, tdm_release text, tdm_feature text,
                                 PRIMARY KEY (tenant, id));
CREATE TABLE tdm_fk_from.task (tenant int NOT NULL, id int, assignee int, tdm_release text, tdm_feature text,
                               PRIMARY KEY (tenant, id),
                               FOREIGN KEY (tenant, assignee) REFERENCES tdm_fk_from.member
                                 MATCH FULL ON DELETE SET NULL (assignee));
SELECT tdm.manage_table('tdm_fk_from.member'), tdm.manage_table('tdm_fk_from.task');
CREATE SCHEMA tdm_fk_to;  -- (tdm creates master only)
SELECT tdm._create_target_tables('tdm_fk_from', 'tdm_fk_to');
SELECT is((SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
            WHERE c.conrelid = 'tdm_fk_to.task'::regclass AND c.contype = 'f'),
          'FOREIGN KEY (tenant, assignee) REFERENCES tdm_fk_to.member(tenant, id) MATCH FULL ON DELETE SET NULL (assignee)',
          'a foreign key is made again with its MATCH FULL and its ON DELETE SET NULL columns');

-- The triggers named when the target's own code refuses an operation:
-- those that fire on its statements (the load's INSERT and DELETE; a
-- rollback's UPDATE and TRUNCATE too).
CREATE FUNCTION tdm_fk_from.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'task rows are append-only'; END $$;
CREATE TRIGGER no_update BEFORE UPDATE ON tdm_fk_from.task FOR EACH ROW EXECUTE FUNCTION tdm_fk_from.refuse();
SELECT is(tdm._writing_triggers('tdm_fk_from'), NULL, 'an UPDATE trigger does not fire in a load');
SELECT is(tdm._writing_triggers('tdm_fk_from', 60), 'tdm_fk_from.task trigger no_update',
          'it does in a rollback''s statements');
SELECT throws_ok($$SELECT tdm._raise_own_code('rollback', 'restoring snapshot 7', 'tdm_fk_from', 'Nothing was rolled back',
                                              'Disable it.', 60, 'task rows are append-only', NULL, NULL,
                                              'PL/pgSQL function tdm_fk_from.refuse() line 1 at RAISE')$$,
  'P0001', 'rollback: restoring snapshot 7 was refused by the target''s own code: task rows are append-only',
  'the refusal says what was refused, by the target''s own code');

SELECT * FROM finish();
ROLLBACK;
DROP SCHEMA tdm_load_test CASCADE;
