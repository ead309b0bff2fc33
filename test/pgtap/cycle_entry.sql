-- A reference cycle (a store's manager is a staff member, a staff member
-- works at a store) is entered at one table: staff is compared before
-- store's keys are settled, on the store ids each environment has. Here
-- the second environment's stores carry each other's ids: bob's store_id
-- is 2 in both, but store B in one and store A in the other. Detection
-- compares the references by the stores they name (their natural keys),
-- as it compares a table's references to its own rows: bob's rows differ,
-- and the conflict goes to review (priority 1: store_id is a core
-- column), the stores named, with the rows that reference its members
-- counted.
BEGIN;
SELECT plan(7);
\ir ../../sql/include/store_cycle.sql
SET client_min_messages = warning;

SELECT pg_temp.store_cycle('tap_cy', 'TCY', $$(1, 'ann', 2, %1$L, 'F'), (3, 'bob', 2, %1$L, 'F')$$,
                           $$(1, 'B', 3, %1$L, 'F'), (2, 'A', 1, %1$L, 'F')$$);
SELECT tdm.add_environment('cy1', 'tap_cy_self', 10, 'tap_cy_e1'), tdm.add_environment('cy2', 'tap_cy_self', 20, 'tap_cy_e2');
SELECT tdm.manage_table('tap_cy.store', '{name}');
SELECT tdm.manage_table('tap_cy.staff', '{username}', core_columns => '{store_id}');
SELECT tdm.create_release('TCY'), tdm.add_feature('TCY', 'F', 1);
SELECT tdm.tag_release('TCY');
CREATE ROLE tap_cy_approver;
GRANT tdm_reviewer TO tap_cy_approver;

SELECT tdm.consolidate('TCY', 'tap_cy') AS run \gset
SELECT results_eq($$SELECT c.status, c.rule, c.priority, c.differing -> 'store_id'
                      FROM tdm.conflict c WHERE c.run_id = (SELECT max(x.run_id) FROM tdm.run x WHERE x.release = 'TCY') AND c.members -> 0 -> 'row' ->> 'username' = 'bob'$$,
                  $$VALUES ('pending', 'manual', 1, '{"cy1": 2, "cy2": 2}'::jsonb)$$,
                  'bob''s rows hold one store id of their environments; they name two stores: reviewed');
SELECT is((SELECT c.rationale FROM tdm.conflict c
             WHERE c.run_id = (SELECT max(x.run_id) FROM tdm.run x WHERE x.release = 'TCY') AND c.members -> 0 -> 'row' ->> 'username' = 'bob'),
          'core column store_id differs (references B in cy1, A in cy2): a human decides',
          'the rationale names the stores');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'awaiting_review', 'the run waits for it');
-- (each of bob's rows manages the store of the other environment's ids)
SELECT is((SELECT c.related FROM tdm.conflict c
            WHERE c.run_id = :run AND c.members -> 0 -> 'row' ->> 'username' = 'bob'),
          '{"tap_cy.store": {"cy1": 1, "cy2": 1}}'::jsonb,
          'the conflict sent to review counts the stores each of bob''s rows manages');

-- e2 says bob works at A; ann works at A in both (its ids differ).
SELECT tdm.resolve(conflict_id, 'keep', 'cy2', rationale => 'bob moved to A')
  FROM tdm.review_queue WHERE members -> 0 ->> 'env' IS NOT NULL AND conflict_id IN
       (SELECT c.conflict_id FROM tdm.conflict c WHERE c.run_id = (SELECT max(x.run_id) FROM tdm.run x WHERE x.release = 'TCY') AND c.members -> 0 -> 'row' ->> 'username' = 'bob');
SELECT tdm.resolve(conflict_id, 'keep', 'cy1', rationale => 'same store A')
  FROM tdm.review_queue WHERE conflict_id IN
       (SELECT c.conflict_id FROM tdm.conflict c WHERE c.run_id = (SELECT max(x.run_id) FROM tdm.run x WHERE x.release = 'TCY') AND c.members -> 0 -> 'row' ->> 'username' = 'ann');
SET SESSION AUTHORIZATION tap_cy_approver;
SELECT count(tdm.approve(conflict_id)) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TCY', 'tap_cy');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'decided, the run completes');
SELECT results_eq($$SELECT s.username, st.name FROM tap_cy.staff s JOIN tap_cy.store st USING (store_id) ORDER BY 1$$,
                  $$VALUES ('ann', 'A'), ('bob', 'A')$$, 'bob works at the store the kept environment said');
SELECT is((SELECT count(*)::int FROM tdm.conflict WHERE run_id = :run AND status = 'pending'), 0,
          'a decided conflict is not sent back to review');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_cy_e1, tap_cy_e2 CASCADE;
