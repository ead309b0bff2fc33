-- As cycle_entry_merge, where the rule keeps the row that holds the
-- email (e2 comes first by precedence): nothing is lost, and the conflict
-- stays settled by its rule; the run completes with her email.
BEGIN;
SELECT plan(3);
\ir ../../sql/include/store_cycle.sql
SET client_min_messages = warning;

SELECT pg_temp.store_cycle('tap_ck', 'TCK', $$(7, 'ann', 7, %1$L, 'F', 'ann@example.test')$$,
                           $$(7, 'A', 7, %1$L, 'F')$$);
SELECT tdm.add_environment('ck1', 'tap_ck_self', 20, 'tap_ck_e1'), tdm.add_environment('ck2', 'tap_ck_self', 10, 'tap_ck_e2');
SELECT tdm.manage_table('tap_ck.staff', '{username}');
SELECT tdm.manage_table('tap_ck.store', '{manager_staff_id}');
SELECT tdm.create_release('TCK'), tdm.add_feature('TCK', 'F', 1);
SELECT tdm.tag_release('TCK');

SELECT tdm.consolidate('TCK', 'tap_ck') AS run \gset
SELECT results_eq($$SELECT c.status, c.rule FROM tdm.conflict c
                     WHERE c.run_id = $$ || :run || $$ AND c.rel = 'tap_ck.staff'::regclass$$,
                  $$VALUES ('auto_resolved', 'environment_precedence')$$,
                  'the survivor holds the email: the rule''s settlement stands');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'the run completes');
SELECT is((SELECT email FROM tap_ck.staff WHERE username = 'ann'), 'ann@example.test', 'with ann''s email');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_ck_e1, tap_ck_e2 CASCADE;
