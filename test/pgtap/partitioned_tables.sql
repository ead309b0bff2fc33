-- Partitioned managed tables, as real schemas have them: a hash-partitioned
-- parent referenced by a range-partitioned child with a sub-partitioned
-- partition. Consolidation loads them (each row into its partition);
-- the first promotion creates master's tables partitioned the same way,
-- with the same partitions at every level and the foreign key once; a
-- snapshot and a rollback keep them so.
BEGIN;
SELECT plan(24);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_pp_e1;
  CREATE TABLE tap_pp_e1.pp_device (id int PRIMARY KEY, serial text NOT NULL, tdm_release text, tdm_feature text);
  CREATE TABLE tap_pp_e1.pp_reading (device_id int NOT NULL REFERENCES tap_pp_e1.pp_device, taken date NOT NULL,
                                     value float8 NOT NULL, PRIMARY KEY (device_id, taken),
                                     tdm_release text, tdm_feature text);
  INSERT INTO tap_pp_e1.pp_device VALUES (1, 'SN-1', 'TPP', 'F'), (2, 'SN-2', 'TPP', 'F'), (3, 'SN-3', 'TPP', 'F');
  INSERT INTO tap_pp_e1.pp_reading VALUES (1, '2026-03-01', 1.5, 'TPP', 'F'), (1, '2026-08-01', 2.5, 'TPP', 'F'),
                                          (2, '2026-09-01', 3.5, 'TPP', 'F'), (3, '2026-10-01', 4.5, 'TPP', 'F'),
                                          (1, '2027-02-01', 5.5, 'TPP2', 'F'), (2, '2028-03-01', 6.5, 'TPP2', 'F'),
                                          (2, '2026-04-01', 150, 'TPP3', 'F'), (3, '2026-03-01', 1, 'TPP3', 'F')$$)
  \g /dev/null
SELECT pg_temp.loopback_server('tap_pp_self');
CREATE TABLE staging.pp_device (id int PRIMARY KEY, serial text NOT NULL, tdm_release text, tdm_feature text)
  PARTITION BY HASH (id);
CREATE TABLE staging.pp_device_0 PARTITION OF staging.pp_device FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE staging.pp_device_1 PARTITION OF staging.pp_device FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE staging.pp_reading (device_id int NOT NULL REFERENCES staging.pp_device, taken date NOT NULL,
                                 value float8 NOT NULL, PRIMARY KEY (device_id, taken),
                                 tdm_release text, tdm_feature text) PARTITION BY RANGE (taken);
CREATE TABLE staging.pp_reading_h1 PARTITION OF staging.pp_reading FOR VALUES FROM ('2026-01-01') TO ('2026-07-01');
CREATE TABLE staging.pp_reading_h2 PARTITION OF staging.pp_reading FOR VALUES FROM ('2026-07-01') TO ('2027-01-01')
  PARTITION BY HASH (device_id);
CREATE TABLE staging.pp_reading_h2_0 PARTITION OF staging.pp_reading_h2 FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE staging.pp_reading_h2_1 PARTITION OF staging.pp_reading_h2 FOR VALUES WITH (MODULUS 2, REMAINDER 1);
SELECT tdm.add_environment('pp1', 'tap_pp_self', 10, 'tap_pp_e1');
SELECT tdm.manage_table('staging.pp_device', '{serial}');
-- A foreign key declared on the partitions only (as some schemas have
-- one per partition) is not the table's: its references would load
-- untranslated. Refused, with the statement that makes it the table's.
CREATE TABLE staging.pp_event (id int, device_id int NOT NULL, at date NOT NULL, PRIMARY KEY (at, id),
                               tdm_release text, tdm_feature text) PARTITION BY RANGE (at);
CREATE TABLE staging.pp_event_1 PARTITION OF staging.pp_event FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
ALTER TABLE staging.pp_event_1 ADD CONSTRAINT pp_event_1_device FOREIGN KEY (device_id) REFERENCES staging.pp_device
  ON UPDATE CASCADE ON DELETE RESTRICT;
SELECT throws_ok($$SELECT tdm.manage_table('staging.pp_event')$$, '42P16',
  'manage_table: partitioned table staging.pp_event has foreign keys on its partitions only',
  'manage_table refuses a partitioned table whose foreign key is its partitions'' only');
SELECT is((pg_temp.error_of($$SELECT tdm.manage_table('staging.pp_event')$$)).hint,
  'Declare each on the partitioned table (PostgreSQL takes the partitions'' equal keys as part of it):'
  ' ALTER TABLE staging.pp_event ADD FOREIGN KEY (device_id) REFERENCES staging.pp_device(id) ON UPDATE CASCADE'
  ' ON DELETE RESTRICT;',
  'the hint gives the statement, with the partitions'' actions (else PostgreSQL would add a key beside theirs)');
ALTER TABLE staging.pp_event ADD FOREIGN KEY (device_id) REFERENCES staging.pp_device(id) ON UPDATE CASCADE
  ON DELETE RESTRICT;
SELECT lives_ok($$SELECT tdm.manage_table('staging.pp_event')$$, 'the hint followed, the table is managed');
SELECT tdm.unmanage_table('staging.pp_event');
SELECT tdm.manage_table('staging.pp_reading');
-- A key to a partitioned parent is one key: PostgreSQL's copies of it,
-- one per partition of the parent, are neither managed references nor
-- differences from an environment whose parent is one table.
SELECT results_eq($$SELECT fk ->> 'references' FROM tdm.managed_table, jsonb_array_elements(foreign_keys) fk
                     WHERE rel = 'staging.pp_reading'::regclass$$,
                  ARRAY['staging.pp_device'], 'the key to the partitioned parent is the table''s one reference');
SELECT is((SELECT count(*)::int FROM tdm.schema_diff('local', 'pp1') d WHERE d::text LIKE '%pp\_device\_%'), 0,
          'schema_diff names no copy of it for the parent''s partitions');
SELECT tdm.create_release('TPP'), tdm.add_feature('TPP', 'F', 1),
       tdm.create_release('TPP2', parent => 'TPP'), tdm.add_feature('TPP2', 'F', 1),
       tdm.create_release('TPP3', parent => 'TPP2'), tdm.add_feature('TPP3', 'F', 1);
-- Declared on a partition after the table was managed: tagging refuses.
ALTER TABLE staging.pp_reading_h1 ADD CONSTRAINT pp_reading_h1_device FOREIGN KEY (device_id)
  REFERENCES staging.pp_device;
SELECT throws_ok($$SELECT tdm.tag_release('TPP')$$, '42P16',
  'tag_release: partitioned table staging.pp_reading has foreign keys on its partitions only',
  'so does tagging, for a key declared on a partition since');
ALTER TABLE staging.pp_reading_h1 DROP CONSTRAINT pp_reading_h1_device;
SELECT tdm.tag_release('TPP');

-- A partition's own constraints (an EXCLUDE PostgreSQL 15 allows on a
-- partition only, a CHECK, one NOT VALID): master's partition gets them.
ALTER TABLE staging.pp_reading_h1 ADD CONSTRAINT pp_h1_one_a_day EXCLUDE USING btree (taken WITH =),
  ADD CONSTRAINT pp_h1_small CHECK (value < 100), ADD CONSTRAINT pp_h1_positive CHECK (value > 0) NOT VALID;
ALTER TABLE staging.pp_device ADD CONSTRAINT pp_device_serial CHECK (serial <> '') NOT VALID;
SELECT tdm.consolidate('TPP') AS run \gset
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'partitioned tables consolidate');
SELECT results_eq($$SELECT tableoid::regclass::text, count(*)::int FROM staging.pp_reading GROUP BY 1 ORDER BY 1$$,
                  $$SELECT c.oid::regclass::text, count(r.*)::int
                      FROM pg_class c LEFT JOIN staging.pp_reading r ON r.tableoid = c.oid
                     WHERE c.relname LIKE 'pp\_reading\_%' AND c.relkind = 'r'
                       AND c.relnamespace = 'staging'::regnamespace GROUP BY 1 HAVING count(r.*) > 0 ORDER BY 1$$,
                  'each row in its partition');

-- Indexes the DBA named (a key, a partitioned index, a partition's copy
-- of it): master's have their names, not those LIKE and PARTITION OF give.
-- The key's is not taken for a plain index of the same columns; a name
-- LIKE gives one index (pp_reading_value_idx, to the one on value) is
-- another's (on value, taken), which takes it once the first is renamed.
ALTER INDEX staging.pp_device_pkey RENAME TO pp_device_by_id;
CREATE UNIQUE INDEX pp_device_unique_id ON staging.pp_device (id);
CREATE INDEX pp_reading_z_value ON staging.pp_reading (value);
CREATE INDEX pp_reading_value_idx ON staging.pp_reading (value, taken);
ALTER INDEX staging.pp_reading_h1_value_idx RENAME TO pp_h1_by_value;
SELECT tdm.promote('TPP');
SELECT results_eq($$SELECT t.relname::text, c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                      JOIN pg_class t ON t.oid = i.indrelid
                     WHERE t.relnamespace = 'master'::regnamespace AND t.relname ~ '^pp_(device|reading)' ORDER BY 1, 2$$,
                  $$SELECT t.relname::text, c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                      JOIN pg_class t ON t.oid = i.indrelid
                     WHERE t.relnamespace = 'staging'::regnamespace AND t.relname ~ '^pp_(device|reading)' ORDER BY 1, 2$$,
                  'master''s indexes have staging''s names, at every level');
SELECT is((SELECT conname::text FROM pg_constraint WHERE conrelid = 'master.pp_device'::regclass AND contype = 'p'),
          'pp_device_by_id', 'the primary key takes its own index''s name, not the plain one''s of its columns');
SELECT results_eq($$SELECT c.relname::text, c.relkind::text, coalesce(pg_get_expr(c.relpartbound, c.oid), ''),
                           coalesce(pg_get_partkeydef(c.oid), '')
                      FROM pg_class c WHERE c.relnamespace = 'master'::regnamespace
                       AND c.relname ~ '^pp_(device|reading)' AND c.relkind IN ('r', 'p') ORDER BY 1$$,
                  $$SELECT c.relname::text, c.relkind::text, coalesce(pg_get_expr(c.relpartbound, c.oid), ''),
                           coalesce(pg_get_partkeydef(c.oid), '')
                      FROM pg_class c WHERE c.relnamespace = 'staging'::regnamespace
                       AND c.relname ~ '^pp_(device|reading)' AND c.relkind IN ('r', 'p') ORDER BY 1$$,
                  'master''s tables are partitioned as staging''s: same partitions, bounds and keys at every level');
SELECT results_eq($$SELECT conname::text COLLATE "default", confrelid::regclass::text FROM pg_constraint
                     WHERE contype = 'f' AND conrelid = 'master.pp_reading'::regclass AND conparentid = 0$$,
                  $$VALUES ('pp_reading_device_id_fkey', 'master.pp_device')$$,
                  'the foreign key, once, to master''s own partitioned parent');
SELECT results_eq($$SELECT conname::text COLLATE "default", contype::text, convalidated FROM pg_constraint
                     WHERE conrelid IN ('master.pp_reading_h1'::regclass, 'master.pp_device'::regclass)
                       AND conname ~ '^pp_(h1_|device_serial)' ORDER BY 1$$,
                  $$VALUES ('pp_device_serial', 'c', false), ('pp_h1_one_a_day', 'x', true), ('pp_h1_positive', 'c', false),
                           ('pp_h1_small', 'c', true)$$,
                  'master''s partition has the constraints of staging''s own, and a table its CHECKs, NOT VALID as there');
SELECT results_eq($$SELECT tableoid::regclass::text, device_id, taken FROM master.pp_reading ORDER BY 2, 3$$,
                  $$SELECT replace(tableoid::regclass::text, 'staging.', 'master.'), device_id, taken
                      FROM staging.pp_reading ORDER BY 2, 3$$,
                  'promoted rows sit in master''s partitions of the same bounds');

SELECT tdm.snapshot('tap_pp') AS snap \gset
DELETE FROM master.pp_reading WHERE device_id = 3;
UPDATE master.pp_device SET serial = 'changed' WHERE id = 1;
SELECT tdm.rollback(:snap);
SELECT results_eq('SELECT id, serial FROM master.pp_device ORDER BY id',
                  $$VALUES (1, 'SN-1'), (2, 'SN-2'), (3, 'SN-3')$$, 'a rollback brings the rows back');
SELECT is((SELECT count(*)::int FROM master.pp_reading WHERE device_id = 3), 1, 'into the partitioned child too');
SELECT is((SELECT relkind::text FROM pg_class WHERE oid = 'master.pp_reading'::regclass), 'p',
          'and the table stays partitioned');

-- Partitions added to staging since the first promotion (2027, and the
-- first half of 2028): the promotion of the next release gives master the
-- one its rows have no place for, with the same bounds. Master's own
-- partition for 2028 (made by its DBA) is left as it is, and takes its row.
CREATE TABLE staging.pp_reading_2027 PARTITION OF staging.pp_reading FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
CREATE TABLE staging.pp_reading_2028h1 PARTITION OF staging.pp_reading
  FOR VALUES FROM ('2028-01-01') TO ('2028-07-01');
CREATE TABLE master.pp_reading_y2028 PARTITION OF master.pp_reading FOR VALUES FROM ('2028-01-01') TO ('2029-01-01');
SELECT tdm.tag_release('TPP2'), tdm.consolidate('TPP2');
SELECT lives_ok($$SELECT tdm.promote('TPP2')$$, 'the next release promotes');
SELECT results_eq($$SELECT c.relname::text COLLATE "default", pg_get_expr(c.relpartbound, c.oid) COLLATE "default", r.taken
                      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                      LEFT JOIN master.pp_reading r ON r.tableoid = c.oid
                     WHERE i.inhparent = 'master.pp_reading'::regclass AND c.relname ~ '202[78]' ORDER BY 1$$,
                  $$VALUES ('pp_reading_2027', 'FOR VALUES FROM (''2027-01-01'') TO (''2028-01-01'')', '2027-02-01'::date),
                           ('pp_reading_y2028', 'FOR VALUES FROM (''2028-01-01'') TO (''2029-01-01'')', '2028-03-01'::date)$$,
                  'master gets staging''s new partition its row had no place for, and keeps its own for the other');
SELECT is((SELECT count(*)::int FROM master.pp_reading WHERE tdm_release = 'TPP2'), 2, 'both rows are promoted');
-- A master table partitioned by another key (by list, or by range of
-- another column) gets none: the bounds would mean something else there.
CREATE SCHEMA tap_pp_x;
CREATE SCHEMA tap_pp_y;
CREATE TABLE tap_pp_x.t (a int, b int) PARTITION BY RANGE (a);
CREATE TABLE tap_pp_x.t_1 PARTITION OF tap_pp_x.t FOR VALUES FROM (0) TO (10);
CREATE TABLE tap_pp_y.by_list (a int, b int) PARTITION BY LIST (b);
CREATE TABLE tap_pp_y.by_list_1 PARTITION OF tap_pp_y.by_list FOR VALUES IN (1);
CREATE TABLE tap_pp_y.by_b (a int, b int) PARTITION BY RANGE (b);
SELECT is(cardinality(tdm._mirror_partitions('tap_pp_y', 'tap_pp_x.t', 'tap_pp_y.by_list'))
          + cardinality(tdm._mirror_partitions('tap_pp_y', 'tap_pp_x.t', 'tap_pp_y.by_b'))
          + (SELECT count(*)::int FROM pg_class WHERE relnamespace = 'tap_pp_y'::regnamespace AND relname = 't_1'),
          0, 'a table partitioned by another key gets no partition');
-- Nor one with a default partition: its rows have a place there.
CREATE TABLE tap_pp_y.with_default (a int, b int) PARTITION BY RANGE (a);
CREATE TABLE tap_pp_y.with_default_rest PARTITION OF tap_pp_y.with_default DEFAULT;
SELECT is(cardinality(tdm._mirror_partitions('tap_pp_y', 'tap_pp_x.t', 'tap_pp_y.with_default')), 0,
          'a table with a default partition gets no partition');

-- Two rows of a third release a partition's own constraints refuse: a
-- value its CHECK does not take, a day its EXCLUDE has (TPP's, in staging
-- and master): recorded violations, the run invalid, nothing loaded.
SELECT tdm.tag_release('TPP3');
SELECT tdm.consolidate('TPP3') AS run \gset
SELECT results_eq($$SELECT kind, row_key ->> 'key', coalesce(detail ->> 'partition', detail ->> 'with'),
                           detail ->> 'constraint'
                      FROM tdm.violation WHERE run_id = $$ || :run || $$ ORDER BY 2$$,
  $$VALUES ('check', '{"taken": "2026-03-01", "device_id": 3}', 'rows of other releases in staging.pp_reading_h1',
            'pp_h1_one_a_day'),
           ('check', '{"taken": "2026-04-01", "device_id": 2}', 'staging.pp_reading_h1', 'pp_h1_small')$$,
  'validation checks a partition''s own CHECK and EXCLUDE on the rows it would hold, once each');
SELECT is((SELECT count(*)::int FROM staging.pp_reading WHERE tdm_release = 'TPP3'), 0, 'and loads nothing');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_pp_e1 CASCADE;
