-- As cycle_entry_merge, where a feature's priority settles ann's rows:
-- the feature column, which the rules compare by the plan, is no
-- difference of hers; e1's row (feature F, ranked first) lacks her email,
-- and the conflict goes to review, the merge suggested.
BEGIN;
SELECT plan(2);
\ir ../../sql/include/store_cycle.sql
SET client_min_messages = warning;

SELECT pg_temp.store_cycle('tap_cf', 'TCF', $$(7, 'ann', 7, %1$L, 'G', 'ann@example.test')$$,
                           $$(7, 'A', 7, %1$L, 'G')$$);
SELECT tdm.add_environment('cf1', 'tap_cf_self', 10, 'tap_cf_e1'), tdm.add_environment('cf2', 'tap_cf_self', 20, 'tap_cf_e2');
SELECT tdm.manage_table('tap_cf.staff', '{username}');
SELECT tdm.manage_table('tap_cf.store', '{manager_staff_id}');
SELECT tdm.create_release('TCF'), tdm.add_feature('TCF', 'F', 2), tdm.add_feature('TCF', 'G', 1);
SELECT tdm.tag_release('TCF');

SELECT tdm.consolidate('TCF', 'tap_cf') AS run \gset
SELECT results_eq($$SELECT c.status, c.rule, c.suggestion
                      FROM tdm.conflict c WHERE c.run_id = $$ || :run || $$ AND c.rel = 'tap_cf.staff'::regclass$$,
                  $$VALUES ('pending', 'manual', 'merge, merged => {"email": "ann@example.test"}')$$,
                  'a feature''s priority that kept the row without the email: reviewed, the merge suggested');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'awaiting_review', 'the run waits for it');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_cf_e1, tap_cf_e2 CASCADE;
