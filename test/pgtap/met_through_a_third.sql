-- Two rows of one environment met through a third: st1's row shares its
-- badge with st2's 1 and its email with st2's 2. It was merged with st2's
-- 1 and loaded beside st2's 2, their email twice: the run was invalid,
-- with no conflict to decide. The three rows are one conflict for a
-- reviewer; keep_all with renames keeps three people.
BEGIN;
SELECT plan(5);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_mt_e1;
  CREATE SCHEMA tap_mt_e2;
  CREATE TABLE tap_mt_e1.mt_staff (staff_id int PRIMARY KEY, badge text NOT NULL UNIQUE, email text UNIQUE,
                                   tdm_release text, tdm_feature text);
  CREATE TABLE tap_mt_e2.mt_staff (LIKE tap_mt_e1.mt_staff INCLUDING ALL);
  INSERT INTO tap_mt_e1.mt_staff VALUES (1, 'N0800', 'shared@x', 'TMT', 'F');
  INSERT INTO tap_mt_e2.mt_staff VALUES (1, 'N0800', 'n800@x', 'TMT', 'F'), (2, 'N0801', 'shared@x', 'TMT', 'F')$$)
  \g /dev/null
SELECT pg_temp.loopback_server('tap_mt_self');
CREATE SCHEMA tap_mt;
CREATE TABLE tap_mt.mt_staff (staff_id int PRIMARY KEY, badge text NOT NULL UNIQUE, email text UNIQUE,
                              tdm_release text, tdm_feature text);
SELECT tdm.add_environment('mt1', 'tap_mt_self', 10, 'tap_mt_e1'), tdm.add_environment('mt2', 'tap_mt_self', 20, 'tap_mt_e2');
SELECT tdm.manage_table('tap_mt.mt_staff', '{badge,email}');
SELECT tdm.create_release('TMT'), tdm.add_feature('TMT', 'F', 1);
SELECT tdm.tag_release('TMT');

SELECT tdm.consolidate('TMT', 'tap_mt') AS run \gset
SELECT is((SELECT jsonb_array_length(members) FROM tdm.review_queue WHERE rule = 'manual'), 3,
          'the three rows are one conflict for a reviewer');
SELECT is((SELECT rationale FROM tdm.review_queue),
          'two rows of mt2 (staff_id 1 and 2) share natural keys with one row of another environment: one entity or more, a human decides (keep one, keep_all with renames, or merge)',
          'which says why');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'awaiting_review', 'the run waits for it');
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"mt1": {"badge": "N0802", "email": "mt1@x"}}',
                   rationale => 'three people') FROM tdm.review_queue;
SELECT tdm.consolidate('TMT', 'tap_mt');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'decided, the run completes');
SELECT results_eq($$SELECT badge, email FROM tap_mt.mt_staff ORDER BY badge$$,
  $$VALUES ('N0800', 'n800@x'), ('N0801', 'shared@x'), ('N0802', 'mt1@x')$$, 'three people, each key once');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_mt_e1, tap_mt_e2 CASCADE;
