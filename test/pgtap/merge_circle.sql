-- Merges that go round a circle of rows: st1's and st2's Ann are one
-- entity (a rule keeps st1's), st1's and st3's Cy another (a rule keeps
-- st1's); the reviewers keep st3's Cy on id 1's key collision and st2's
-- Ann on id 2's. Ann 1 went into Cy 1, Cy 1 into Cy 2, Cy 2 into Ann 2,
-- Ann 2 into Ann 1: no customer loaded, every order failed validation.
-- The decisions outrank the rules that close the circle. Decisions alone
-- in a circle are refused, naming them.
BEGIN;
SELECT plan(7);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.mc_tables(s text) RETURNS text LANGUAGE sql AS $$
  SELECT format($ddl$
    CREATE TABLE %1$I.mc_customer (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text,
                                   tdm_release text, tdm_feature text);
    CREATE TABLE %1$I.mc_order (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES %1$I.mc_customer,
                                ref text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
    CREATE TABLE %1$I.mc_note (id int PRIMARY KEY, body text, tdm_release text, tdm_feature text);$ddl$, s)
$$;
SELECT dblink_exec(pg_temp.conninfo(current_database()), format($$
  CREATE SCHEMA tap_mc_e1;
  CREATE SCHEMA tap_mc_e2;
  CREATE SCHEMA tap_mc_e3;
  %1$s
  %2$s
  %3$s
  INSERT INTO tap_mc_e1.mc_customer VALUES (1, 'a@x', 'Ann', 'TMC', 'F1'), (2, 'c@x', 'Cy', 'TMC', 'F1');
  INSERT INTO tap_mc_e2.mc_customer VALUES (2, 'a@x', 'Ann', 'TMC', 'F1');
  INSERT INTO tap_mc_e3.mc_customer VALUES (1, 'c@x', 'Cy', 'TMC', 'F1');
  INSERT INTO tap_mc_e1.mc_order VALUES (1, 1, 'Ann-st1', 'TMC', 'F1'), (2, 2, 'Cy-st1', 'TMC', 'F1');
  INSERT INTO tap_mc_e2.mc_order VALUES (3, 2, 'Ann-st2', 'TMC', 'F1');
  INSERT INTO tap_mc_e3.mc_order VALUES (4, 1, 'Cy-st3', 'TMC', 'F1');
  INSERT INTO tap_mc_e1.mc_note VALUES (1, 'x', 'TMC', 'F1');
  INSERT INTO tap_mc_e2.mc_note VALUES (1, 'y', 'TMC', 'F1');$$,
  pg_temp.mc_tables('tap_mc_e1'), pg_temp.mc_tables('tap_mc_e2'), pg_temp.mc_tables('tap_mc_e3'))) \g /dev/null
SELECT pg_temp.loopback_server('tap_mc_self');
CREATE SCHEMA tap_mc;
SELECT format('%s', pg_temp.mc_tables('tap_mc')) \gexec
SELECT tdm.add_environment('mc1', 'tap_mc_self', 10, 'tap_mc_e1'), tdm.add_environment('mc2', 'tap_mc_self', 20, 'tap_mc_e2'),
       tdm.add_environment('mc3', 'tap_mc_self', 30, 'tap_mc_e3');
SELECT tdm.manage_table('tap_mc.mc_customer', '{email}'), tdm.manage_table('tap_mc.mc_order', '{ref}'),
       tdm.manage_table('tap_mc.mc_note', core_columns => '{body}');
SELECT tdm.create_release('TMC'), tdm.add_feature('TMC', 'F1', 1);
SELECT tdm.tag_release('TMC');
-- (the note's body waits for a reviewer: the rules are not applied yet)
SELECT tdm.consolidate('TMC', 'tap_mc') AS run \gset
SELECT tdm.resolve(conflict_id, 'keep', 'mc1', rationale => 'st1''s note') FROM tdm.review_queue;
SELECT tdm.resolve(conflict_id, 'keep', 'mc3', rationale => 'id 1 is st3''s')
  FROM tdm.conflict WHERE run_id = :run AND kind = 'duplicate_pk' AND members @> '[{"env": "mc3"}]';
SELECT tdm.resolve(conflict_id, 'keep', 'mc2', rationale => 'id 2 is st2''s')
  FROM tdm.conflict WHERE run_id = :run AND kind = 'duplicate_pk' AND members @> '[{"env": "mc2"}]';
CREATE ROLE tap_mc_approver;
GRANT tdm_reviewer TO tap_mc_approver;
CREATE FUNCTION pg_temp.approve_all() RETURNS void LANGUAGE sql AS $$
  SET SESSION AUTHORIZATION tap_mc_approver;
  SELECT tdm.approve(conflict_id) FROM tdm.decision WHERE approved_by IS NULL AND decided_priority = 1;
  RESET SESSION AUTHORIZATION;
$$;
SELECT pg_temp.approve_all();

SAVEPOINT rules_in_circle;
SELECT tdm.consolidate('TMC', 'tap_mc');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'the run completes');
SELECT results_eq($$SELECT id, email FROM tap_mc.mc_customer ORDER BY id$$,
  $$VALUES (1, 'c@x'), (2, 'a@x')$$, 'st3''s Cy keeps id 1, st2''s Ann id 2, as decided');
SELECT results_eq($$SELECT o.ref, c.email FROM tap_mc.mc_order o JOIN tap_mc.mc_customer c ON c.id = o.customer_id
                     ORDER BY o.ref$$,
  $$VALUES ('Ann-st1', 'c@x'), ('Ann-st2', 'a@x'), ('Cy-st1', 'a@x'), ('Cy-st3', 'c@x')$$,
  'each order follows its customer where the decisions merged it');
SELECT results_eq(format($$SELECT (tables -> 'tap_mc.mc_customer' ->> 'loaded')::int,
                                  (tables -> 'tap_mc.mc_customer' ->> 'merged')::int
                             FROM tdm.run WHERE run_id = %s$$, :run),
  $$VALUES (2, 2)$$, 'two customers loaded, two merged');
ROLLBACK TO SAVEPOINT rules_in_circle;

-- The reviewers also keep st1's Ann and st1's Cy on their entities: a
-- circle of decisions alone.
SELECT tdm.resolve(conflict_id, 'keep', 'mc1', rationale => 'st1''s')
  FROM tdm.conflict WHERE run_id = :run AND kind = 'duplicate_natural_key';
SELECT throws_like(format($$SELECT tdm.consolidate('TMC', 'tap_mc')$$),
  '%decisions on % merge rows in a circle, and none of them would load: mc1''s row (1) merged into mc3''s row (1); mc3''s row (1) merged into mc1''s row (2); mc1''s row (2) merged into mc2''s row (2); mc2''s row (2) merged into mc1''s row (1)',
  'a circle of decisions is refused, naming them and the rows');
SELECT is((SELECT count(*) FROM tap_mc.mc_customer), 0::bigint, 'nothing is loaded');
-- One of them decided again: st3's Cy keeps its own key, re-keyed.
SELECT tdm.resolve(conflict_id, 'keep_all', rationale => 'two customers')
  FROM tdm.conflict WHERE run_id = :run AND kind = 'duplicate_pk' AND members @> '[{"env": "mc3"}]';
SELECT pg_temp.approve_all();
SELECT tdm.consolidate('TMC', 'tap_mc');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'decided again, the run completes');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_mc_e1, tap_mc_e2, tap_mc_e3 CASCADE;
