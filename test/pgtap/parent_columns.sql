-- Orders partitioned by date carry the date in their primary key (id,
-- ordered_on), their ids being each environment's own (surrogate_key);
-- an order line's key (order_id, line_no) holds only part of its foreign
-- key (order_id, ordered_on). Two environments' order 1, of two dates, are
-- two orders, and their lines 1 are two lines under one key: a reviewer
-- gives one a new line number (decision 235), where one line used to be
-- merged away into the other without a word.
BEGIN;
SELECT plan(8);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_pc_e1;
  CREATE SCHEMA tap_pc_e2;
  CREATE TABLE tap_pc_e1.pc_order (id int, ordered_on date, note text, tdm_release text, tdm_feature text,
                                   PRIMARY KEY (id, ordered_on));
  CREATE TABLE tap_pc_e1.pc_line (order_id int, ordered_on date, line_no int, sku text,
                                  tdm_release text, tdm_feature text, PRIMARY KEY (order_id, line_no),
                                  FOREIGN KEY (order_id, ordered_on) REFERENCES tap_pc_e1.pc_order);
  CREATE TABLE tap_pc_e1.pc_extra (order_id int PRIMARY KEY, ordered_on date, gift text,
                                   tdm_release text, tdm_feature text,
                                   FOREIGN KEY (order_id, ordered_on) REFERENCES tap_pc_e1.pc_order);
  CREATE TABLE tap_pc_e1.pc_cat (tenant_id int, id int, name text, tdm_release text, tdm_feature text,
                                 PRIMARY KEY (tenant_id, id));
  CREATE TABLE tap_pc_e1.pc_prod (tenant_id int, id int, category_id int, tdm_release text, tdm_feature text,
                                  PRIMARY KEY (tenant_id, id),
                                  FOREIGN KEY (tenant_id, category_id) REFERENCES tap_pc_e1.pc_cat);
  CREATE TABLE tap_pc_e2.pc_cat (LIKE tap_pc_e1.pc_cat INCLUDING ALL);
  CREATE TABLE tap_pc_e2.pc_prod (LIKE tap_pc_e1.pc_prod INCLUDING ALL);
  INSERT INTO tap_pc_e1.pc_cat VALUES (1, 1, 'tools', 'TPC', 'F'), (1, 2, 'toys', 'TPC', 'F');
  INSERT INTO tap_pc_e2.pc_cat VALUES (1, 1, 'tools', 'TPC', 'F'), (1, 2, 'toys', 'TPC', 'F');
  INSERT INTO tap_pc_e1.pc_prod VALUES (1, 10, 1, 'TPC', 'F');
  INSERT INTO tap_pc_e2.pc_prod VALUES (1, 10, 2, 'TPC', 'F');
  CREATE TABLE tap_pc_e2.pc_order (LIKE tap_pc_e1.pc_order INCLUDING ALL);
  CREATE TABLE tap_pc_e2.pc_line (LIKE tap_pc_e1.pc_line INCLUDING ALL);
  CREATE TABLE tap_pc_e2.pc_extra (LIKE tap_pc_e1.pc_extra INCLUDING ALL);
  INSERT INTO tap_pc_e1.pc_order VALUES (1, '2026-11-05', 'first', 'TPC', 'F');
  INSERT INTO tap_pc_e2.pc_order VALUES (1, '2026-11-10', 'second', 'TPC', 'F');
  INSERT INTO tap_pc_e1.pc_line VALUES (1, '2026-11-05', 1, 'SKU-A', 'TPC', 'F');
  INSERT INTO tap_pc_e2.pc_line VALUES (1, '2026-11-10', 1, 'SKU-B', 'TPC', 'F');
  INSERT INTO tap_pc_e1.pc_extra VALUES (1, '2026-11-05', 'wrapped', 'TPC', 'F');
  INSERT INTO tap_pc_e2.pc_extra VALUES (1, '2026-11-10', 'card', 'TPC', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_pc_self');
CREATE SCHEMA tap_pc;
CREATE TABLE tap_pc.pc_order (id int, ordered_on date, note text, tdm_release text, tdm_feature text,
                              PRIMARY KEY (id, ordered_on)) PARTITION BY RANGE (ordered_on);
CREATE TABLE tap_pc.pc_order_2026_11 PARTITION OF tap_pc.pc_order FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');
CREATE TABLE tap_pc.pc_line (order_id int, ordered_on date, line_no int, sku text,
                             tdm_release text, tdm_feature text, PRIMARY KEY (order_id, line_no),
                             FOREIGN KEY (order_id, ordered_on) REFERENCES tap_pc.pc_order);
CREATE TABLE tap_pc.pc_cat (tenant_id int, id int, name text, tdm_release text, tdm_feature text,
                            PRIMARY KEY (tenant_id, id));
CREATE TABLE tap_pc.pc_prod (tenant_id int, id int, category_id int, tdm_release text, tdm_feature text,
                             PRIMARY KEY (tenant_id, id), FOREIGN KEY (tenant_id, category_id) REFERENCES tap_pc.pc_cat);
CREATE TABLE tap_pc.pc_extra (order_id int PRIMARY KEY, ordered_on date, gift text, tdm_release text, tdm_feature text,
                              FOREIGN KEY (order_id, ordered_on) REFERENCES tap_pc.pc_order);
SELECT tdm.add_environment('pc1', 'tap_pc_self', 10, 'tap_pc_e1'), tdm.add_environment('pc2', 'tap_pc_self', 20, 'tap_pc_e2');
SELECT tdm.manage_table('tap_pc.pc_order', surrogate_key => true), tdm.manage_table('tap_pc.pc_line'),
       tdm.manage_table('tap_pc.pc_extra'), tdm.manage_table('tap_pc.pc_cat'), tdm.manage_table('tap_pc.pc_prod');
SELECT tdm.create_release('TPC'), tdm.add_feature('TPC', 'F', 1);
SELECT tdm.tag_release('TPC'), tdm.consolidate('TPC', 'tap_pc') AS run \gset

SELECT results_eq($$SELECT kind::text, status::text, rationale FROM tdm.conflict
                     WHERE run_id = (SELECT max(run_id) FROM tdm.run) AND rel = 'tap_pc.pc_line'::regclass$$,
  $$VALUES ('duplicate_pk', 'pending',
            'same order_id 1, line_no 1 but different ordered_on: different entities that collided on an'
            ' environment-local key; tdm cannot generate a new order_id, line_no: decide keep_all with the new'
            ' key in renames')$$,
  'the two orders'' lines 1 are two lines under one key, for a reviewer');
SELECT is((SELECT status::text FROM tdm.run WHERE run_id = (SELECT max(run_id) FROM tdm.run)), 'awaiting_review',
          'nothing is loaded before that');
-- A tenant's product whose reference (tenant_id, category_id) shares the
-- tenant with its key, to a lookup table: one product, its category an
-- attribute that differs, settled by the rules.
SELECT results_eq($$SELECT kind::text, status::text FROM tdm.conflict
                     WHERE run_id = (SELECT max(run_id) FROM tdm.run) AND rel = 'tap_pc.pc_prod'::regclass$$,
  $$VALUES ('attribute_conflict', 'auto_resolved')$$,
  'a tenant''s reference to a lookup row is an attribute, not a second parent');
-- An order's one extra row, keyed by order_id alone: a new order_id would
-- name no order, so tdm makes none up; one extra row is kept.
SELECT results_eq($$SELECT kind::text, status::text, rule::text, suggestion FROM tdm.conflict
                     WHERE run_id = (SELECT max(run_id) FROM tdm.run) AND rel = 'tap_pc.pc_extra'::regclass$$,
  $$VALUES ('duplicate_pk', 'pending', 'manual', 'keep pc1 (order_id 1 is tap_pc.pc_order''s row)')$$,
  'two orders'' extra rows under one order_id wait for a reviewer: no key is made up');
SELECT tdm.resolve((SELECT conflict_id FROM tdm.review_queue WHERE release = 'TPC' AND rel = 'tap_pc.pc_extra'::regclass),
                   'keep', keep_env => 'pc1', rationale => 'the first order''s');

SELECT tdm.resolve((SELECT conflict_id FROM tdm.review_queue WHERE release = 'TPC' AND rel = 'tap_pc.pc_line'::regclass), 'keep_all',
                   renames => '{"pc2": {"line_no": 2}}', rationale => 'two orders, two lines');
SELECT tdm.consolidate('TPC', 'tap_pc');
SELECT is((SELECT status::text FROM tdm.run WHERE run_id = (SELECT max(run_id) FROM tdm.run)), 'completed',
          'decided, the release loads');
SELECT results_eq($$SELECT l.order_id, l.ordered_on, l.line_no, l.sku, o.note
                      FROM tap_pc.pc_line l JOIN tap_pc.pc_order o USING (ordered_on) ORDER BY l.sku$$,
  $$VALUES (1, '2026-11-05'::date, 1, 'SKU-A', 'first'), (1, '2026-11-10'::date, 2, 'SKU-B', 'second')$$,
  'each order keeps its line');
SELECT is((SELECT (tables -> 'tap_pc.pc_line' ->> 'loaded')::int FROM tdm.run
            WHERE run_id = (SELECT max(run_id) FROM tdm.run)), 2, 'no line is merged away');
SELECT results_eq('SELECT order_id, ordered_on, gift FROM tap_pc.pc_extra',
                  $$VALUES (1, '2026-11-05'::date, 'wrapped')$$, 'the extra row kept, under its own order');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_pc_e1, tap_pc_e2 CASCADE;
