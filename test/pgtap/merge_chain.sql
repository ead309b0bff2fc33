-- A merge chain through a survivor merged away elsewhere: mc3's b@x (5)
-- merges into mc2's b@x (1) by a rule; a reviewer's merge on the key
-- collision of id 1 merges mc2's b@x into mc1's 1 (a@x), and mc1's a@x
-- merges by a rule into mc2's a@x (2). mc3's row, and its order, end in
-- customer 2, not in a key 1 nobody loads (the run went invalid on its
-- own foreign key, "no such parent row"), with the merge's values.
BEGIN;
SELECT plan(5);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.mc_tables(s text) RETURNS text LANGUAGE sql AS $$
  SELECT format($ddl$
    CREATE TABLE %1$I.mc_customer (customer_id serial PRIMARY KEY, email text NOT NULL UNIQUE, name text, tier text,
                                   tdm_release text, tdm_feature text);
    CREATE TABLE %1$I.mc_order (order_id serial PRIMARY KEY, order_no text UNIQUE,
                                customer_id int NOT NULL REFERENCES %1$I.mc_customer, note text,
                                tdm_release text, tdm_feature text);$ddl$, s)
$$;
SELECT dblink_exec(pg_temp.conninfo(current_database()), format($$
  CREATE SCHEMA tap_mc_e1;
  CREATE SCHEMA tap_mc_e2;
  CREATE SCHEMA tap_mc_e3;
  %1$s
  %2$s
  %3$s
  INSERT INTO tap_mc_e1.mc_customer VALUES (1, 'a@x', 'A-e1', 'gold', 'TMC', 'F1');
  INSERT INTO tap_mc_e1.mc_order VALUES (7, 'OZ', 1, 'x', 'TMC', 'F1');
  INSERT INTO tap_mc_e2.mc_customer VALUES (1, 'b@x', NULL, 'gold', 'TMC', 'F1'), (2, 'a@x', 'A-e2', 'gold', 'TMC', 'F2');
  INSERT INTO tap_mc_e2.mc_order VALUES (7, 'OZ', 2, 'y', 'TMC', 'F3');
  INSERT INTO tap_mc_e3.mc_customer VALUES (5, 'b@x', 'B-e3', 'gold', 'TMC', 'F1');
  INSERT INTO tap_mc_e3.mc_order VALUES (1, 'OB', 5, NULL, 'TMC', 'F1');$$,
  pg_temp.mc_tables('tap_mc_e1'), pg_temp.mc_tables('tap_mc_e2'), pg_temp.mc_tables('tap_mc_e3'))) \g /dev/null
SELECT pg_temp.loopback_server('tap_mc_self');
CREATE SCHEMA tap_mc;
SELECT format('%s', pg_temp.mc_tables('tap_mc')) \gexec
SELECT tdm.add_environment('mc1', 'tap_mc_self', 10, 'tap_mc_e1'), tdm.add_environment('mc2', 'tap_mc_self', 20, 'tap_mc_e2'),
       tdm.add_environment('mc3', 'tap_mc_self', 30, 'tap_mc_e3');
SELECT tdm.manage_table('tap_mc.mc_customer', '{email}', core_columns => '{tier}'),
       tdm.manage_table('tap_mc.mc_order', '{order_no}');
-- (F2 outranks F1; F3 ties F1: the OZ orders wait for a reviewer)
SELECT tdm.create_release('TMC'), tdm.add_feature('TMC', 'F1', 1), tdm.add_feature('TMC', 'F2', 2),
       tdm.add_feature('TMC', 'F3', 1);
SELECT tdm.tag_release('TMC');
SELECT tdm.consolidate('TMC', 'tap_mc') AS run \gset
SELECT tdm.resolve(conflict_id, 'merge', merged => '{"tier": "silver"}', rationale => 'one customer')
  FROM tdm.conflict WHERE run_id = :run AND rule = 'distinct_entities' AND rel = 'tap_mc.mc_customer'::regclass;
SELECT tdm.resolve(conflict_id, 'keep', 'mc1', rationale => 'unrelated')
  FROM tdm.review_queue WHERE rel = 'tap_mc.mc_order'::regclass;
SELECT tdm.consolidate('TMC', 'tap_mc');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'the run completes');
SELECT results_eq($$SELECT customer_id, email FROM tap_mc.mc_customer ORDER BY 1$$, $$VALUES (2, 'a@x')$$,
  'a@x is the one customer the merges leave');
SELECT is((SELECT tier FROM tap_mc.mc_customer), 'silver',
  'the reviewer''s merged values go with the rows to the customer kept');
SELECT results_eq($$SELECT order_no, customer_id FROM tap_mc.mc_order ORDER BY 1$$,
  $$VALUES ('OB', 2), ('OZ', 2)$$, 'mc3''s order follows its customer along the whole chain');
SELECT results_eq(format($$SELECT env, new_key ->> 'customer_id' FROM tdm.key_map
                            WHERE run_id = %s AND rel = 'tap_mc.mc_customer'::regclass ORDER BY 1$$, :run),
  $$VALUES ('mc1', '2'), ('mc2', '2'), ('mc3', '2')$$, 'every merged customer is mapped to the loaded one');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_mc_e1, tap_mc_e2, tap_mc_e3 CASCADE;
