-- Two Ken Sanchez, one per environment, are two people. Their
-- businessentity rows, joined by their person rows' natural key (a
-- borrowed key), differ in a core column: a reviewer keeps them apart
-- (keep_all). Their person rows still share the key, and a rule would
-- merge them, leaving one businessentity without its person: that
-- conflict goes to review, and keep_all with renames settles it.
BEGIN;
SELECT plan(4);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_bs_e1;
  CREATE SCHEMA tap_bs_e2;
  CREATE TABLE tap_bs_e1.bs_entity (entity_id int PRIMARY KEY, rowguid uuid NOT NULL, tdm_release text, tdm_feature text);
  CREATE TABLE tap_bs_e1.bs_person (entity_id int PRIMARY KEY REFERENCES tap_bs_e1.bs_entity, first_name text NOT NULL,
                                    last_name text NOT NULL, tdm_release text, tdm_feature text);
  CREATE TABLE tap_bs_e2.bs_entity (LIKE tap_bs_e1.bs_entity INCLUDING ALL);
  CREATE TABLE tap_bs_e2.bs_person (LIKE tap_bs_e1.bs_person INCLUDING ALL);
  ALTER TABLE tap_bs_e2.bs_person ADD FOREIGN KEY (entity_id) REFERENCES tap_bs_e2.bs_entity;
  INSERT INTO tap_bs_e1.bs_entity VALUES (1, 'e1000000-0000-0000-0000-000000000001', 'TBS', 'F');
  INSERT INTO tap_bs_e1.bs_person VALUES (1, 'Ken', 'Sanchez', 'TBS', 'F');
  INSERT INTO tap_bs_e2.bs_entity VALUES (2, 'e2000000-0000-0000-0000-000000000002', 'TBS', 'F');
  INSERT INTO tap_bs_e2.bs_person VALUES (2, 'Ken', 'Sanchez', 'TBS', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_bs_self');
CREATE SCHEMA tap_bs;
CREATE TABLE tap_bs.bs_entity (entity_id int PRIMARY KEY, rowguid uuid NOT NULL, tdm_release text, tdm_feature text);
CREATE TABLE tap_bs.bs_person (entity_id int PRIMARY KEY REFERENCES tap_bs.bs_entity, first_name text NOT NULL,
                               last_name text NOT NULL, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('bs1', 'tap_bs_self', 10, 'tap_bs_e1'), tdm.add_environment('bs2', 'tap_bs_self', 20, 'tap_bs_e2');
SELECT tdm.manage_table('tap_bs.bs_entity', core_columns => '{rowguid}', surrogate_key => true),
       tdm.manage_table('tap_bs.bs_person', '{"first_name,last_name"}');
SELECT tdm.create_release('TBS'), tdm.add_feature('TBS', 'F', 1);
CREATE ROLE tap_bs_approver;
GRANT tdm_reviewer TO tap_bs_approver;
SELECT tdm.tag_release('TBS'), tdm.consolidate('TBS', 'tap_bs') AS run \gset

SELECT tdm.resolve(conflict_id, 'keep_all', rationale => 'two people named Ken Sanchez')
  FROM tdm.review_queue WHERE rel = 'tap_bs.bs_entity'::regclass;
SET SESSION AUTHORIZATION tap_bs_approver;
SELECT count(tdm.approve(conflict_id)) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TBS', 'tap_bs');
SELECT results_eq($$SELECT rel::text, rule, priority FROM tdm.review_queue$$,
                  $$VALUES ('tap_bs.bs_person', 'manual', 1)$$,
                  'the person rows, which a rule would merge, go to review');
SELECT matches((SELECT rationale FROM tdm.review_queue),
               'decision C-[0-9a-f]+ keeps their rows of tap_bs\.bs_entity apart \(keep_all\)',
               'the rationale names the parent''s decision');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'awaiting_review', 'nothing is loaded meanwhile');

SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"bs2": {"last_name": "Sanchez (2)"}}',
                   rationale => 'two people named Ken Sanchez')
  FROM tdm.review_queue;
SET SESSION AUTHORIZATION tap_bs_approver;
SELECT count(tdm.approve(conflict_id)) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TBS', 'tap_bs');
SELECT results_eq($$SELECT e.rowguid::text, p.last_name FROM tap_bs.bs_entity e LEFT JOIN tap_bs.bs_person p USING (entity_id)
                     ORDER BY 1$$,
                  $$VALUES ('e1000000-0000-0000-0000-000000000001', 'Sanchez'),
                           ('e2000000-0000-0000-0000-000000000002', 'Sanchez (2)')$$,
                  'two businessentity rows, each with its person');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_bs_e1, tap_bs_e2 CASCADE;
