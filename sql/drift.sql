-- A column an environment drops after tagging: its rows read with NULL
-- (or the target's default) where they held values. Consolidation says
-- the environment no longer reads as it was locked, naming the column, not
-- that its rows changed; tagged again, the release consolidates.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;
CREATE SCHEMA drift_st1;
\ir sql/include/sessions.sql
\ir sql/include/in_environments.sql
SELECT pg_temp.in_environments(
  'CREATE TABLE dc_person (id int PRIMARY KEY, name text, phone text, tdm_release text, tdm_feature text)');
IMPORT FOREIGN SCHEMA public LIMIT TO (dc_person) FROM SERVER st1 INTO drift_st1;
CREATE TABLE staging.dc_person (id int PRIMARY KEY, name text, phone text, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.dc_person');
SELECT tdm.create_release('R-DC1'), tdm.add_feature('R-DC1', 'FEAT-DC', 1);
INSERT INTO drift_st1.dc_person VALUES (1, 'ann', '555', 'R-DC1', 'FEAT-DC'), (2, 'bob', NULL, 'R-DC1', 'FEAT-DC');
SELECT tdm.tag_release('R-DC1') IS NOT NULL AS tagged;
SELECT dblink_exec(pg_temp.env_conninfo('st1'), 'ALTER TABLE dc_person DROP COLUMN phone');
\set VERBOSITY terse
SELECT tdm.consolidate('R-DC1');
\set VERBOSITY default
-- Put back (its values are gone): tagged again, it consolidates.
SELECT dblink_exec(pg_temp.env_conninfo('st1'), 'ALTER TABLE dc_person ADD COLUMN phone text');
SELECT tdm.tag_release('R-DC1') IS NOT NULL AS tagged;
SET client_min_messages = warning;
SELECT tdm.consolidate('R-DC1') AS run \gset
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :run;
SELECT id, name, phone FROM staging.dc_person ORDER BY id;
SELECT tdm.promote('R-DC1') IS NOT NULL AS promoted;
-- A row tagged for R-DC1 after its lock: part of no release. Tagging the
-- next release says so.
INSERT INTO drift_st1.dc_person VALUES (3, 'cy', NULL, 'R-DC1', 'FEAT-DC');
SELECT tdm.create_release('R-DC2', parent => 'R-DC1'), tdm.add_feature('R-DC2', 'FEAT-DC2', 1);
SELECT tdm.tag_release('R-DC2') AS job \gset
SELECT env, rel, kind, severity, detail, row_count FROM tdm.tag_finding
 WHERE job_id = :job AND rel = 'staging.dc_person'::regclass;
-- A column renamed in an environment: missing under its name, and the
-- finding asks whether the environment's new column is it.
SELECT dblink_exec(pg_temp.env_conninfo('st1'), 'ALTER TABLE dc_person RENAME COLUMN name TO full_name');
SELECT tdm.tag_release('R-DC2') AS job \gset
SELECT env, kind, severity, detail FROM tdm.tag_finding
 WHERE job_id = :job AND rel = 'staging.dc_person'::regclass AND kind = 'schema_drift' ORDER BY detail;
SELECT dblink_exec(pg_temp.env_conninfo('st1'), 'ALTER TABLE dc_person RENAME COLUMN full_name TO name');
