-- The reverse of cycle_entry: a store's natural key is its manager
-- (manager_staff_id, a reference back into the cycle), so staff, compared
-- first, sees ann's stores as different ids (1 in one environment, 7 in
-- the other) that turn out to be one store once staff's keys are settled.
-- Her rows differ otherwise only by an email one of them lacks: a rule
-- keeping one row whole would lose it, so the conflict goes to review
-- with a merge suggested, and the merge keeps it.
BEGIN;
SELECT plan(5);
\ir ../../sql/include/store_cycle.sql
SET client_min_messages = warning;

SELECT pg_temp.store_cycle('tap_cm', 'TCM', $$(7, 'ann', 7, %1$L, 'F', 'ann@example.test')$$,
                           $$(7, 'A', 7, %1$L, 'F')$$);
SELECT tdm.add_environment('cm1', 'tap_cm_self', 10, 'tap_cm_e1'), tdm.add_environment('cm2', 'tap_cm_self', 20, 'tap_cm_e2');
SELECT tdm.manage_table('tap_cm.staff', '{username}');
SELECT tdm.manage_table('tap_cm.store', '{manager_staff_id}');
SELECT tdm.create_release('TCM'), tdm.add_feature('TCM', 'F', 1);
SELECT tdm.tag_release('TCM');

SELECT tdm.consolidate('TCM', 'tap_cm') AS run \gset
SELECT results_eq($$SELECT c.status, c.rule, c.priority, c.suggestion, c.differing -> 'store_id'
                      FROM tdm.conflict c WHERE c.run_id = $$ || :run || $$ AND c.rel = 'tap_cm.staff'::regclass$$,
                  $$VALUES ('pending', 'manual', 3, 'merge, merged => {"email": "ann@example.test"}',
                            '{"cm1": 1, "cm2": 1}'::jsonb)$$,
                  'ann''s rows name one store once staff''s keys are settled: reviewed, a merge suggested');
SELECT matches((SELECT c.rationale FROM tdm.conflict c WHERE c.run_id = :run AND c.rel = 'tap_cm.staff'::regclass),
               'but they reference one row of tap_cm.store once its keys are settled .*a merge keeps what each holds$',
               'the rationale says why');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'awaiting_review', 'the run waits for it');

SELECT tdm.resolve(c.conflict_id, 'merge', merged => '{"email": "ann@example.test"}', rationale => 'one store')
  FROM tdm.conflict c WHERE c.run_id = :run AND c.rel = 'tap_cm.staff'::regclass;
SELECT tdm.consolidate('TCM', 'tap_cm');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'decided, the run completes');
SELECT results_eq($$SELECT s.username, s.email, st.name FROM tap_cm.staff s JOIN tap_cm.store st USING (store_id) ORDER BY 1$$,
                  $$VALUES ('ann', 'ann@example.test', 'A'), ('bob', NULL, 'B')$$,
                  'ann keeps the email only one environment held, at her one store');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_cm_e1, tap_cm_e2 CASCADE;
