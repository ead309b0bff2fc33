-- A table without a natural key of its own whose rows are identified by a
-- subtype sharing its key (AdventureWorks' person.businessentity and
-- person.person): the subtype's natural key tells which entity a row is.
-- Ken is businessentity 1 in the first environment and 2 in the second
-- (whose 1 is Rob): the two businessentity rows are merged, not Ken's
-- second one loaded re-keyed and unreferenced, and a phone of the second
-- environment's Ken follows him. A later release's Terri, under another
-- id, meets master's Terri of the first release the same way.
BEGIN;
SELECT plan(7);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_bk_e1;
  CREATE SCHEMA tap_bk_e2;
  CREATE TABLE tap_bk_e1.bk_entity (entity_id int PRIMARY KEY, rowguid uuid NOT NULL, tdm_release text, tdm_feature text);
  CREATE TABLE tap_bk_e1.bk_person (entity_id int PRIMARY KEY REFERENCES tap_bk_e1.bk_entity, first_name text NOT NULL,
                                    last_name text NOT NULL, tdm_release text, tdm_feature text);
  CREATE TABLE tap_bk_e1.bk_phone (phone_id int PRIMARY KEY, entity_id int NOT NULL REFERENCES tap_bk_e1.bk_entity,
                                   phone text NOT NULL, tdm_release text, tdm_feature text);
  CREATE TABLE tap_bk_e2.bk_entity (LIKE tap_bk_e1.bk_entity INCLUDING ALL);
  CREATE TABLE tap_bk_e2.bk_person (LIKE tap_bk_e1.bk_person INCLUDING ALL);
  ALTER TABLE tap_bk_e2.bk_person ADD FOREIGN KEY (entity_id) REFERENCES tap_bk_e2.bk_entity;
  CREATE TABLE tap_bk_e2.bk_phone (LIKE tap_bk_e1.bk_phone INCLUDING ALL);
  ALTER TABLE tap_bk_e2.bk_phone ADD FOREIGN KEY (entity_id) REFERENCES tap_bk_e2.bk_entity;
  INSERT INTO tap_bk_e1.bk_entity VALUES (1, 'e1000000-0000-0000-0000-000000000001', 'TBK', 'F'),
                                         (2, 'e1000000-0000-0000-0000-000000000002', 'TBK', 'F');
  INSERT INTO tap_bk_e1.bk_person VALUES (1, 'Ken', 'Sanchez', 'TBK', 'F'), (2, 'Terri', 'Duffy', 'TBK', 'F');
  INSERT INTO tap_bk_e2.bk_entity VALUES (1, 'e2000000-0000-0000-0000-000000000001', 'TBK', 'F'),
                                         (2, 'e2000000-0000-0000-0000-000000000002', 'TBK', 'F');
  INSERT INTO tap_bk_e2.bk_person VALUES (1, 'Rob', 'Walters', 'TBK', 'F'), (2, 'Ken', 'Sanchez', 'TBK', 'F');
  INSERT INTO tap_bk_e2.bk_phone VALUES (1, 2, '555-0101', 'TBK', 'F');
  INSERT INTO tap_bk_e2.bk_entity VALUES (9, 'e2000000-0000-0000-0000-000000000009', 'TBK2', 'F');
  INSERT INTO tap_bk_e2.bk_person VALUES (9, 'Terri', 'Duffy', 'TBK2', 'F');
  INSERT INTO tap_bk_e2.bk_phone VALUES (2, 9, '555-0199', 'TBK2', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_bk_self');
CREATE SCHEMA tap_bk;
CREATE TABLE tap_bk.bk_entity (entity_id int PRIMARY KEY, rowguid uuid NOT NULL, tdm_release text, tdm_feature text);
CREATE TABLE tap_bk.bk_person (entity_id int PRIMARY KEY REFERENCES tap_bk.bk_entity, first_name text NOT NULL,
                               last_name text NOT NULL, tdm_release text, tdm_feature text);
CREATE TABLE tap_bk.bk_phone (phone_id int PRIMARY KEY, entity_id int NOT NULL REFERENCES tap_bk.bk_entity,
                              phone text NOT NULL, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('bk1', 'tap_bk_self', 10, 'tap_bk_e1'), tdm.add_environment('bk2', 'tap_bk_self', 20, 'tap_bk_e2');
SELECT tdm.manage_table('tap_bk.bk_entity', surrogate_key => true),
       tdm.manage_table('tap_bk.bk_person', '{"first_name,last_name"}'),
       tdm.manage_table('tap_bk.bk_phone', surrogate_key => true);
SELECT tdm.create_release('TBK'), tdm.add_feature('TBK', 'F', 1);
SELECT tdm.create_release('TBK2', parent => 'TBK'), tdm.add_feature('TBK2', 'F', 1);
UPDATE tdm.release SET created_at = created_at - interval '1 day' WHERE release = 'TBK';
SELECT tdm.tag_release('TBK');

SELECT ok(EXISTS (SELECT FROM tdm.detect_conflicts('TBK')
                   WHERE rel = 'tap_bk.bk_entity'::regclass AND rule = 'environment_precedence'
                     AND members -> 0 ->> 'env' = 'bk1' AND members -> 0 -> 'row' ->> 'entity_id' = '1'
                     AND members -> 1 ->> 'env' = 'bk2' AND members -> 1 -> 'row' ->> 'entity_id' = '2'),
          'the dry run finds Ken''s two businessentity rows one entity');
SELECT tdm.consolidate('TBK', 'tap_bk') AS run \gset
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'the run completes');
SELECT results_eq($$SELECT p.first_name FROM tap_bk.bk_entity e LEFT JOIN tap_bk.bk_person p USING (entity_id)
                     ORDER BY 1$$,
                  $$VALUES ('Ken'), ('Rob'), ('Terri')$$,
                  'three businessentity rows, each a person''s: none left unreferenced');
SELECT results_eq($$SELECT k.rel::text, k.old_key, k.new_key, k.reason FROM tdm.key_map k
                     WHERE k.run_id = $$ || :run || $$ AND k.env = 'bk2' AND k.old_key = '{"entity_id": 2}' ORDER BY 1$$,
                  $$VALUES ('tap_bk.bk_entity', '{"entity_id": 2}'::jsonb, '{"entity_id": 1}'::jsonb, 'merged'),
                           ('tap_bk.bk_person', '{"entity_id": 2}'::jsonb, '{"entity_id": 1}'::jsonb, 'merged')$$,
                  'the key map agrees: the second environment''s 2 is 1 in both tables (its person merged into Ken''s)');
SELECT results_eq($$SELECT ph.phone, p.first_name FROM tap_bk.bk_phone ph JOIN tap_bk.bk_person p USING (entity_id)$$,
                  $$VALUES ('555-0101', 'Ken')$$, 'the second environment''s phone of Ken is Ken''s');

-- TBK2 against master: Terri's two businessentity rows are one entity
-- (their rowguids differ, the feature is the same: master's row stays).
SELECT tdm.promote('TBK', 'tap_bk');
SELECT tdm.tag_release('TBK2');
SELECT tdm.consolidate('TBK2', 'tap_bk') AS run2 \gset
SELECT results_eq($$SELECT c.status, c.members -> 0 ->> 'env', c.members -> 1 -> 'row' ->> 'entity_id'
                      FROM tdm.conflict c WHERE c.run_id = $$ || :run2 || $$ AND c.rel = 'tap_bk.bk_entity'::regclass$$,
                  $$VALUES ('auto_resolved', 'master', '9')$$,
                  'the later release''s Terri meets master''s by her person row');
SELECT results_eq($$SELECT ph.phone, p.first_name, p.tdm_release FROM tap_bk.bk_phone ph JOIN tap_bk.bk_person p USING (entity_id)
                     WHERE ph.tdm_release = 'TBK2'$$,
                  $$VALUES ('555-0199', 'Terri', 'TBK')$$, 'her phone is master''s Terri''s, no second businessentity');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_bk_e1, tap_bk_e2 CASCADE;
