-- A conflict whose members differ in a reference to rows whose own
-- conflict waits for a reviewer says so: wp2's customer 2 is wp1's
-- customer 1 (one email, tiers to decide), so their orders' customer_id
-- 1 and 2 may name one customer. The order's rationale names the
-- customer's conflict to decide first; decided, the next call compares
-- the orders on the final keys, and they are one.
BEGIN;
SELECT plan(4);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.wp_tables(s text) RETURNS text LANGUAGE sql AS $$
  SELECT format($ddl$
    CREATE TABLE %1$I.wp_customer (customer_id serial PRIMARY KEY, email text NOT NULL UNIQUE, tier text,
                                   tdm_release text, tdm_feature text);
    CREATE TABLE %1$I.wp_order (order_id serial PRIMARY KEY, order_no text NOT NULL UNIQUE,
                                customer_id int NOT NULL REFERENCES %1$I.wp_customer, tdm_release text, tdm_feature text);$ddl$, s)
$$;
SELECT dblink_exec(pg_temp.conninfo(current_database()), format($$
  CREATE SCHEMA tap_wp_e1;
  CREATE SCHEMA tap_wp_e2;
  %1$s
  %2$s
  INSERT INTO tap_wp_e1.wp_customer VALUES (1, 'a@x', 'gold', 'TWP', 'F1');
  INSERT INTO tap_wp_e1.wp_order VALUES (10, 'O1', 1, 'TWP', 'F1');
  INSERT INTO tap_wp_e2.wp_customer VALUES (2, 'a@x', 'silver', 'TWP', 'F1');
  INSERT INTO tap_wp_e2.wp_order VALUES (10, 'O1', 2, 'TWP', 'F1');$$,
  pg_temp.wp_tables('tap_wp_e1'), pg_temp.wp_tables('tap_wp_e2'))) \g /dev/null
SELECT pg_temp.loopback_server('tap_wp_self');
CREATE SCHEMA tap_wp;
SELECT format('%s', pg_temp.wp_tables('tap_wp')) \gexec
SELECT tdm.add_environment('wp1', 'tap_wp_self', 10, 'tap_wp_e1'), tdm.add_environment('wp2', 'tap_wp_self', 20, 'tap_wp_e2');
SELECT tdm.manage_table('tap_wp.wp_customer', '{email}', core_columns => '{tier}'),
       tdm.manage_table('tap_wp.wp_order', '{order_no}', core_columns => '{customer_id}');
SELECT tdm.create_release('TWP'), tdm.add_feature('TWP', 'F1', 1);
SELECT tdm.tag_release('TWP');
SELECT tdm.consolidate('TWP', 'tap_wp') AS run \gset
SELECT conflict_id AS customer_conflict FROM tdm.review_queue WHERE rel = 'tap_wp.wp_customer'::regclass \gset
SELECT is((SELECT count(*) FROM tdm.review_queue WHERE release = 'TWP'), 2::bigint,
  'the customer and the order wait for a reviewer');
SELECT matches((SELECT rationale FROM tdm.review_queue WHERE rel = 'tap_wp.wp_order'::regclass),
  format('; customer_id names rows of tap_wp\.wp_customer whose own conflicts wait \(%s\): decide those first',
         :'customer_conflict'),
  'the order''s rationale names the customer''s conflict to decide first');
SELECT unalike((SELECT rationale FROM tdm.review_queue WHERE rel = 'tap_wp.wp_customer'::regclass),
  '%whose own conflicts wait%', 'the customer''s own rationale says nothing of the kind');

CREATE ROLE tap_wp_approver IN ROLE tdm_reviewer;
SELECT tdm.resolve(:'customer_conflict', 'keep', keep_env => 'wp1', rationale => 'gold it is');
SET SESSION AUTHORIZATION tap_wp_approver;
SELECT tdm.approve(:'customer_conflict');
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TWP', 'tap_wp');
SELECT results_eq(format($$SELECT status FROM tdm.run WHERE run_id = %s$$, :run), $$VALUES ('completed')$$,
  'decided, the orders name one customer: the run completes without another question');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_wp_e1, tap_wp_e2 CASCADE;
