-- An environment whose table lacks its primary key holds two rows with
-- one key: a row that references it cannot say which it means, so
-- tagging reports it as an error and the release stays open (were it
-- consolidated, one of the two would get a new key and take the other's
-- children with it).
BEGIN;
SELECT plan(3);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

-- The environment: a schema of this database, written by another session
-- (an environment reads committed rows), dropped at the end.
SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_dup_env;
  CREATE TABLE tap_dup_env.users AS SELECT * FROM staging.users WITH NO DATA;
  INSERT INTO tap_dup_env.users (user_id, email, full_name, role, created_at, updated_at,
                                 tdm_release, tdm_feature)
  VALUES (4, 'c@example.com', 'C', 'Customer', now(), now(), 'RDUP', 'FEAT-1'),
         (4, 'c2@example.com', 'C Two', 'Customer', now(), now(), 'RDUP', 'FEAT-1'),
         (5, 'd@example.com', 'D', 'Customer', now(), now(), 'RDUP', 'FEAT-1')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_self');
SELECT tdm.add_environment('dup', 'tap_self', 10, 'tap_dup_env');
SELECT tdm.manage_table('staging.users', '{email}');
SELECT tdm.create_release('RDUP'), tdm.add_feature('RDUP', 'FEAT-1', 1);
SELECT tdm.tag_release('RDUP') AS job \gset

SELECT results_eq(
  format($$SELECT kind, severity, row_count, example_keys FROM tdm.tag_finding
            WHERE job_id = %s AND severity = 'error'$$, :job),
  $$VALUES ('schema_drift', 'error', 2::bigint, '[{"user_id": 4}]'::jsonb)$$,
  'two rows of one environment with one primary key are an error finding, with the key');
SELECT matches((SELECT detail FROM tdm.tag_finding WHERE job_id = :job AND severity = 'error'),
  '^1 primary key\(s\) of dup\.users are held by more than one row \(2 rows tagged for RDUP\): the environment''s table lacks its primary key',
  'the finding says what is wrong');
SELECT is((SELECT status FROM tdm.release WHERE release = 'RDUP'), 'open', 'the release stays open');

SELECT * FROM finish();
ROLLBACK;
-- (After the transaction: until then, its foreign scan's remote
-- transaction holds the table.)
SET client_min_messages = warning;
DROP SCHEMA tap_dup_env CASCADE;
