-- Gail is a person in both environments, under businessentity 7 in one
-- and 9 in the other, but each environment gives that businessentity
-- another store. The person key says one entity, the store key says two:
-- no rule merges them. Once a reviewer keeps one, the two stores meet
-- under one key, which is the businessentity's: tdm makes up no new key
-- for a store (it would name no businessentity) and asks which store.
BEGIN;
SELECT plan(7);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_bd_e1;
  CREATE SCHEMA tap_bd_e2;
  CREATE TABLE tap_bd_e1.bd_entity (id int PRIMARY KEY, rowguid uuid NOT NULL, tdm_release text, tdm_feature text);
  CREATE TABLE tap_bd_e1.bd_person (id int PRIMARY KEY REFERENCES tap_bd_e1.bd_entity, name text NOT NULL,
                                    tdm_release text, tdm_feature text);
  CREATE TABLE tap_bd_e1.bd_store (id int PRIMARY KEY REFERENCES tap_bd_e1.bd_entity, name text NOT NULL,
                                   tdm_release text, tdm_feature text);
  CREATE TABLE tap_bd_e2.bd_entity (LIKE tap_bd_e1.bd_entity INCLUDING ALL);
  CREATE TABLE tap_bd_e2.bd_person (LIKE tap_bd_e1.bd_person INCLUDING ALL);
  CREATE TABLE tap_bd_e2.bd_store (LIKE tap_bd_e1.bd_store INCLUDING ALL);
  INSERT INTO tap_bd_e1.bd_entity VALUES (7, 'e1000000-0000-0000-0000-000000000007', 'TBD', 'F');
  INSERT INTO tap_bd_e1.bd_person VALUES (7, 'Gail', 'TBD', 'F');
  INSERT INTO tap_bd_e1.bd_store VALUES (7, 'Shop A', 'TBD', 'F');
  INSERT INTO tap_bd_e2.bd_entity VALUES (9, 'e2000000-0000-0000-0000-000000000009', 'TBD', 'F');
  INSERT INTO tap_bd_e2.bd_person VALUES (9, 'Gail', 'TBD', 'F');
  INSERT INTO tap_bd_e2.bd_store VALUES (9, 'Shop B', 'TBD', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_bd_self');
CREATE SCHEMA tap_bd;
CREATE TABLE tap_bd.bd_entity (id int PRIMARY KEY, rowguid uuid NOT NULL, tdm_release text, tdm_feature text);
CREATE TABLE tap_bd.bd_person (id int PRIMARY KEY REFERENCES tap_bd.bd_entity, name text NOT NULL,
                               tdm_release text, tdm_feature text);
CREATE TABLE tap_bd.bd_store (id int PRIMARY KEY REFERENCES tap_bd.bd_entity, name text NOT NULL,
                              tdm_release text, tdm_feature text);
SELECT tdm.add_environment('bd1', 'tap_bd_self', 10, 'tap_bd_e1'), tdm.add_environment('bd2', 'tap_bd_self', 20, 'tap_bd_e2');
SELECT tdm.manage_table('tap_bd.bd_entity', surrogate_key => true),
       tdm.manage_table('tap_bd.bd_person', '{name}', surrogate_key => true),
       tdm.manage_table('tap_bd.bd_store', '{name}', surrogate_key => true);
SELECT tdm.create_release('TBD'), tdm.add_feature('TBD', 'F', 1);
SELECT tdm.tag_release('TBD'), tdm.consolidate('TBD', 'tap_bd') AS run \gset

SELECT results_eq($$SELECT rel::text, rule, priority FROM tdm.review_queue$$,
                  $$VALUES ('tap_bd.bd_entity', 'manual', 2)$$,
                  'the businessentity rows, one person with two stores, go to review');
SELECT is((SELECT rationale FROM tdm.review_queue),
          'tap_bd.bd_store (name) differs (bd1 Shop A, bd2 Shop B): one entity or two, a human decides '
          '(keep one, or keep_all); one entity by tap_bd.bd_person (name) Gail',
          'the rationale names both subtypes'' keys');

SELECT tdm.resolve(conflict_id, 'keep', 'bd1', rationale => 'one Gail, one shop') FROM tdm.review_queue;
SELECT tdm.consolidate('TBD', 'tap_bd');
SELECT results_eq($$SELECT rel::text, rule, suggestion FROM tdm.review_queue$$,
                  $$VALUES ('tap_bd.bd_store', 'manual', 'keep bd1 (id 7 is tap_bd.bd_entity''s row)')$$,
                  'the stores now under one key go to review, not to a made-up key');
SELECT throws_ok($$SELECT tdm.resolve(conflict_id, 'keep_all', rationale => 'both shops') FROM tdm.review_queue$$,
                 '22023', NULL, 'keep_all without a new key for the store is refused');
SELECT throws_like($$SELECT tdm.resolve(conflict_id, 'keep_all', rationale => 'both shops') FROM tdm.review_queue$$,
                   '%cannot take generated keys%', 'the refusal says why');

SELECT tdm.resolve(conflict_id, 'keep', 'bd1', rationale => 'shop A it is') FROM tdm.review_queue;
SELECT tdm.consolidate('TBD', 'tap_bd');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'the run completes');
SELECT results_eq($$SELECT e.id, p.name, s.name FROM tap_bd.bd_entity e JOIN tap_bd.bd_person p USING (id)
                     JOIN tap_bd.bd_store s USING (id)$$,
                  $$VALUES (7, 'Gail', 'Shop A')$$,
                  'one businessentity, with its person and the store kept');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_bd_e1, tap_bd_e2 CASCADE;
