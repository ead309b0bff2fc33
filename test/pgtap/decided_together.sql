-- A reviewer decides a parent's conflict and its child's in one pass: the
-- child's members were shown with their environments' references, which
-- the parent's decision then translates. The child's decision was taken
-- on the same rows and still applies (it is not stale); the child loads
-- with the kept environment's values and the translated reference. A
-- merge that typed a reference among the members' references does go
-- stale when those change.
BEGIN;
SELECT plan(7);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_dt_e1;
  CREATE SCHEMA tap_dt_e2;
  CREATE TABLE tap_dt_e1.customer (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text,
                                   tdm_release text, tdm_feature text);
  CREATE TABLE tap_dt_e1."order" (id int PRIMARY KEY, number text NOT NULL UNIQUE,
                                  customer_id int NOT NULL REFERENCES tap_dt_e1.customer, state text,
                                  tdm_release text, tdm_feature text);
  CREATE TABLE tap_dt_e2.customer (LIKE tap_dt_e1.customer INCLUDING ALL);
  CREATE TABLE tap_dt_e2."order" (LIKE tap_dt_e1."order" INCLUDING ALL);
  ALTER TABLE tap_dt_e2."order" ADD FOREIGN KEY (customer_id) REFERENCES tap_dt_e2.customer;
  INSERT INTO tap_dt_e1.customer VALUES (1, 'dave@x', 'Dave', 'TDT', 'LOY');
  INSERT INTO tap_dt_e1."order" VALUES (30, 'R-3001', 1, 'placed', 'TDT', 'LOY'), (31, 'R-3002', 1, 'placed', 'TDT', 'LOY');
  INSERT INTO tap_dt_e2.customer VALUES (2, 'dave@x', 'David', 'TDT', 'PROMO');
  INSERT INTO tap_dt_e2."order" VALUES (30, 'R-3001', 2, 'cancelled', 'TDT', 'PROMO'),
                                       (31, 'R-3002', 2, 'shipped', 'TDT', 'PROMO')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_dt_self');
CREATE SCHEMA tap_dt;
CREATE TABLE tap_dt.customer (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text, tdm_release text, tdm_feature text);
CREATE TABLE tap_dt."order" (id int PRIMARY KEY, number text NOT NULL UNIQUE,
                             customer_id int NOT NULL REFERENCES tap_dt.customer, state text,
                             tdm_release text, tdm_feature text);
SELECT tdm.add_environment('dt1', 'tap_dt_self', 10, 'tap_dt_e1'), tdm.add_environment('dt2', 'tap_dt_self', 20, 'tap_dt_e2');
SELECT tdm.manage_table('tap_dt.customer', '{email}'), tdm.manage_table('tap_dt."order"', '{number}');
SELECT tdm.create_release('TDT'), tdm.add_feature('TDT', 'LOY', 2), tdm.add_feature('TDT', 'PROMO', 2);
SELECT tdm.tag_release('TDT');

SELECT tdm.consolidate('TDT', 'tap_dt');
SELECT results_eq($$SELECT rel::text, differing ? 'customer_id' FROM tdm.review_queue ORDER BY rel::text$$,
                  $$VALUES ('tap_dt."order"', true), ('tap_dt."order"', true), ('tap_dt.customer', false)$$,
                  'all three conflicts wait; the orders differ in their customer, as each environment keys it');
SELECT tdm.resolve(conflict_id, 'keep', 'dt1', rationale => 'Dave is the loyalty user')
  FROM tdm.review_queue WHERE rel = 'tap_dt.customer'::regclass;
SELECT tdm.resolve(conflict_id, 'keep', 'dt2', rationale => 'the cancelled order is the promo case')
  FROM tdm.conflict WHERE members -> 0 -> 'row' ->> 'number' = 'R-3001';
SELECT tdm.resolve(conflict_id, 'merge', merged => '{"state": "shipped", "customer_id": 2}',
                   rationale => 'shipped, to dt2''s customer')
  FROM tdm.conflict WHERE members -> 0 -> 'row' ->> 'number' = 'R-3002';
SELECT tdm.consolidate('TDT', 'tap_dt');

SELECT results_eq($$SELECT c.members -> 0 -> 'row' ->> 'number', c.status FROM tdm.conflict c
                     WHERE c.rel = 'tap_dt."order"'::regclass ORDER BY 1$$,
                  $$VALUES ('R-3001', 'decided'), ('R-3002', 'stale')$$,
                  'the keep on R-3001 still applies; the merge that typed customer 2 among the references 2 and 1 is stale');
SELECT tdm.resolve(conflict_id, 'merge', merged => '{"state": "shipped"}', rationale => 'shipped')
  FROM tdm.conflict WHERE members -> 0 -> 'row' ->> 'number' = 'R-3002';
SELECT tdm.consolidate('TDT', 'tap_dt');

SELECT is((SELECT status FROM tdm.run), 'completed', 'the run completes');
SELECT results_eq($$SELECT c.rel::text, c.status, c.rule FROM tdm.conflict c ORDER BY c.rel::text, c.members::text$$,
                  $$VALUES ('tap_dt."order"', 'applied', 'manual'), ('tap_dt."order"', 'applied', 'manual'),
                           ('tap_dt.customer', 'applied', 'manual')$$,
                  'every decision is applied');
SELECT results_eq('SELECT id, number, customer_id, state FROM tap_dt."order" ORDER BY id',
                  $$VALUES (30, 'R-3001', 1, 'cancelled'), (31, 'R-3002', 1, 'shipped')$$,
                  'dt2''s order R-3001 is loaded, its customer dt1''s Dave; R-3002 merged');
SELECT results_eq('SELECT id, name FROM tap_dt.customer', $$VALUES (1, 'Dave')$$, 'dt1''s customer is loaded');
SELECT is((SELECT count(*)::int FROM tdm.review_queue), 0, 'nothing waits for review');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_dt_e1, tap_dt_e2 CASCADE;
