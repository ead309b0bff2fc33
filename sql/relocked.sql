-- A rollback that puts back a release's earlier run puts back the lock
-- that run was collected under, also where the release stays promoted
-- (p297): RL2 promoted (run A), master rolled back before it, RL2 tagged
-- again with more rows and promoted (run B), master rolled back to run A's
-- rows. Consolidating RL2 again then collects nothing of run B's lock: the
-- environments' rows changed since the lock it holds, and it says so. A
-- later release whose row references a row only run B loaded (left in
-- staging by the failed run, decision 183) is refused at promote with a
-- HINT that names that run.
\set SHOW_CONTEXT never
\ir sql/include/sessions.sql
\ir sql/include/in_environments.sql
\ir sql/include/errors.sql
SELECT pg_temp.in_environments($$
  CREATE TABLE rl_t (id int PRIMARY KEY, v text, tdm_release text, tdm_feature text);
  CREATE TABLE rl_c (id int PRIMARY KEY, t_id int REFERENCES rl_t, tdm_release text, tdm_feature text)$$);
CREATE SCHEMA relocked_st1;
CREATE SCHEMA relocked_st2;
IMPORT FOREIGN SCHEMA public LIMIT TO (rl_t, rl_c) FROM SERVER st1 INTO relocked_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (rl_t, rl_c) FROM SERVER st2 INTO relocked_st2;
CREATE TABLE staging.rl_t (id int PRIMARY KEY, v text, tdm_release text, tdm_feature text);
CREATE TABLE staging.rl_c (id int PRIMARY KEY, t_id int REFERENCES staging.rl_t, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.rl_t', surrogate_key => true), tdm.manage_table('staging.rl_c', surrogate_key => true);
INSERT INTO relocked_st1.rl_t VALUES (11, 'rl1 st1', 'RL1', 'F'), (1, 'st1 row', 'RL2', 'F');
INSERT INTO relocked_st2.rl_t VALUES (12, 'rl1 st2', 'RL1', 'F'), (2, 'st2 row', 'RL2', 'F');
SELECT tdm.create_release('RL1'), tdm.add_feature('RL1', 'F', 1),
       tdm.create_release('RL2', parent => 'RL1'), tdm.add_feature('RL2', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('RL1') IS NOT NULL AS tagged, tdm.consolidate('RL1') IS NOT NULL AS consolidated,
       tdm.promote('RL1') IS NOT NULL AS promoted;
SELECT tdm.snapshot('before RL2') AS before_rl2 \gset
SELECT tdm.tag_release('RL2') IS NOT NULL AS tagged, tdm.consolidate('RL2') AS run_a \gset
SELECT tdm.promote('RL2') IS NOT NULL AS promoted;
SELECT tdm.snapshot('RL2 run A') AS with_run_a \gset
SELECT tdm.rollback(:before_rl2) IS NOT NULL AS rolled_back;
RESET client_min_messages;
-- RL2 again, with one more row in each environment (run B).
INSERT INTO relocked_st1.rl_t VALUES (3, 'st1 new', 'RL2', 'F');
INSERT INTO relocked_st2.rl_t VALUES (3, 'st2 new', 'RL2', 'F');
SET client_min_messages = error;
SELECT tdm.tag_release('RL2') IS NOT NULL AS tagged, tdm.consolidate('RL2') AS run_b \gset
SELECT tdm.promote('RL2') IS NOT NULL AS promoted;
SELECT tdm.rollback(:with_run_a) AS back_to_a \gset
RESET client_min_messages;
SELECT detail -> 'releases' AS releases FROM tdm.job WHERE job_id = :back_to_a;
SELECT run_id = :run_a AS run_a, status, rows_collected FROM tdm.run WHERE release = 'RL2' ORDER BY run_id;
SELECT sum(row_count) AS locked_rows FROM tdm.release_lock WHERE release = 'RL2';
SELECT count(*) AS rl2_in_master FROM master.rl_t WHERE tdm_release = 'RL2';
-- Consolidating RL2 again is refused (before: it re-ran run A under run
-- B's lock, rewriting its figures and key map with rows master lacks).
SET client_min_messages = error;
\set VERBOSITY terse
SELECT tdm.consolidate('RL2');
\set VERBOSITY default
RESET client_min_messages;
SELECT rows_collected FROM tdm.run WHERE run_id = :run_a;
-- RL3's row references st2's row 3, loaded into staging by run B only.
INSERT INTO relocked_st2.rl_c VALUES (1, 3, 'RL3', 'F');
SELECT tdm.create_release('RL3', parent => 'RL2'), tdm.add_feature('RL3', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('RL3') IS NOT NULL AS tagged, tdm.consolidate('RL3') IS NOT NULL AS consolidated;
RESET client_min_messages;
SELECT x.message, regexp_replace(x.hint, 'run \d+ of', 'run N of') AS hint
  FROM pg_temp.error_of($$SELECT tdm.promote('RL3')$$) x \gx
-- RL4 brings st1's row 3, which run B loaded into staging as RL2's and
-- the rollback left there: the invalid run's HINT names run B's rows.
UPDATE relocked_st1.rl_t SET tdm_release = 'RL4' WHERE id = 3;
SELECT tdm.create_release('RL4', parent => 'RL2'), tdm.add_feature('RL4', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('RL4') IS NOT NULL AS tagged;
SET client_min_messages = notice;
SELECT tdm.consolidate('RL4') AS rl4 \gset
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :rl4;
