-- A reference cycle entered at staff (staff compared before stores'
-- keys are settled), as in cycle_entry, but with a reference that differs
-- as collected: bob works at store 2 (B) in one environment and store 1
-- (A) in the other. The rule saw that difference and settled it, as it
-- settles any attribute's (store_id is no core column here): the conflict
-- is not sent to review once the stores' keys are settled, though its
-- members still name different stores (an ERP's create_uid on every
-- table, in a cycle with its users, would otherwise send every conflict
-- there). ann's store ids are equal as collected and name one store: the
-- rule's too.
BEGIN;
SELECT plan(3);
\ir ../../sql/include/store_cycle.sql
SET client_min_messages = warning;

SELECT pg_temp.store_cycle('tap_cs', 'TCS', $$(1, 'ann', 1, %1$L, 'F'), (2, 'bob', 1, %1$L, 'F')$$,
                           $$(1, 'A', 1, %1$L, 'F'), (2, 'B', 2, %1$L, 'F')$$);
SELECT tdm.add_environment('cs1', 'tap_cs_self', 10, 'tap_cs_e1'), tdm.add_environment('cs2', 'tap_cs_self', 20, 'tap_cs_e2');
SELECT tdm.manage_table('tap_cs.store', '{name}');
SELECT tdm.manage_table('tap_cs.staff', '{username}');
SELECT tdm.create_release('TCS'), tdm.add_feature('TCS', 'F', 1);
SELECT tdm.tag_release('TCS');

SELECT tdm.consolidate('TCS', 'tap_cs') AS run \gset
SELECT results_eq(format($$SELECT c.status, c.rule, c.differing -> 'store_id'
                             FROM tdm.conflict c WHERE c.run_id = %s AND c.members -> 0 -> 'row' ->> 'username' = 'bob'$$,
                          :run),
                  $$VALUES ('auto_resolved', 'environment_precedence', '{"cs1": 2, "cs2": 1}'::jsonb)$$,
                  'bob''s store ids differed as collected: the rule saw it and settled it, no review');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'the run completes');
SELECT results_eq($$SELECT s.username, st.name FROM tap_cs.staff s JOIN tap_cs.store st USING (store_id) ORDER BY 1$$,
                  $$VALUES ('ann', 'A'), ('bob', 'B')$$, 'bob works at the store of the environment of precedence');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_cs_e1, tap_cs_e2 CASCADE;
