-- The release story so far, as a DBA would run it in psql.
\pset footer off
\set SHOW_CONTEXT never

\echo
\echo '== 1. What the environments hold (read through postgres_fdw over loopback)'
CREATE SCHEMA demo_st1;
CREATE SCHEMA demo_st2;
CREATE SCHEMA demo_st3;
IMPORT FOREIGN SCHEMA public LIMIT TO (users, accounts, transactions) FROM SERVER st1 INTO demo_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (users, accounts, transactions) FROM SERVER st2 INTO demo_st2;
IMPORT FOREIGN SCHEMA public LIMIT TO (users, accounts, transactions) FROM SERVER st3 INTO demo_st3;
SELECT env, users, accounts, transactions, tagged_r2
  FROM (SELECT 'st1' AS env, (SELECT count(*) FROM demo_st1.users) AS users,
               (SELECT count(*) FROM demo_st1.accounts) AS accounts,
               (SELECT count(*) FROM demo_st1.transactions) AS transactions,
               (SELECT count(*) FROM demo_st1.users WHERE tdm_release = 'R2') AS tagged_r2
        UNION ALL
        SELECT 'st2', (SELECT count(*) FROM demo_st2.users), (SELECT count(*) FROM demo_st2.accounts),
               (SELECT count(*) FROM demo_st2.transactions),
               (SELECT count(*) FROM demo_st2.users WHERE tdm_release = 'R2')
        UNION ALL
        SELECT 'st3', (SELECT count(*) FROM demo_st3.users), (SELECT count(*) FROM demo_st3.accounts),
               (SELECT count(*) FROM demo_st3.transactions),
               (SELECT count(*) FROM demo_st3.users WHERE tdm_release = 'R2')) AS per_env;

\echo 'The same email in several environments, and primary keys colliding across them:'
WITH every_user AS (
  SELECT 'st1' AS env, user_id, email, role FROM demo_st1.users
  UNION ALL SELECT 'st2', user_id, email, role FROM demo_st2.users
  UNION ALL SELECT 'st3', user_id, email, role FROM demo_st3.users)
SELECT (SELECT count(*) FROM (SELECT email FROM every_user GROUP BY email
                               HAVING count(*) > 1) e) AS emails_in_several_envs,
       (SELECT count(*) FROM (SELECT email FROM every_user GROUP BY email
                               HAVING count(DISTINCT role) > 1) e) AS with_different_roles,
       (SELECT count(*) FROM (SELECT user_id FROM every_user GROUP BY user_id
                               HAVING count(DISTINCT email) > 1) k) AS user_ids_naming_different_people;

\echo
\echo '== 2. Register the environments (lower precedence wins ties)'
\o /dev/null
SELECT tdm.add_environment('st1', 'st1', precedence => 10);
SELECT tdm.add_environment('st2', 'st2', precedence => 20);
SELECT tdm.add_environment('st3', 'st3', precedence => 30);
\o
SELECT name, server, precedence, remote_schema FROM tdm.environment ORDER BY precedence;

\echo
\echo '== 3. Register the staging tables: keys and foreign keys come from the catalog'
\o /dev/null
SELECT tdm.manage_table('staging.users', '{email}', 'updated_at', core_columns => '{role}');
SELECT tdm.manage_table('staging.accounts', '{account_number}', 'updated_at');
SELECT tdm.manage_table('staging.transactions', updated_at_column => 'updated_at',
                        surrogate_key => true);
\o
SELECT rel AS "table", pk_columns AS primary_key, natural_keys, core_columns,
       (SELECT string_agg(format('%s -> %s', fk->'columns'->>0, fk->>'references'), ', ')
          FROM jsonb_array_elements(foreign_keys) fk) AS references
  FROM tdm.managed_table ORDER BY rel::text;
\echo 'Parity: do the environments hold the same tables (columns, constraints, indexes, enum labels)?'
SELECT a AS env_a, b AS env_b, count(d.kind) AS differences
  FROM (VALUES ('local', 'st1'), ('st1', 'st2'), ('st1', 'st3')) AS pair(a, b)
  LEFT JOIN LATERAL tdm.schema_diff(a, b) AS d ON true
 GROUP BY a, b ORDER BY a DESC, b;

\echo
\echo '== 4. The release plan for R2 and its business rules'
\o /dev/null
SELECT tdm.create_release('R1', 'v1.0');
SELECT tdm.create_release('R2', 'v2.0', parent => 'R1');
SELECT tdm.add_feature('R2', f, p)
  FROM (VALUES ('FEAT-101', 3), ('FEAT-102', 2), ('FEAT-103', 2), ('FEAT-104', 2),
               ('FEAT-105', 1), ('FEAT-106', 1), ('FEAT-107', 1), ('FEAT-108', 1)) AS plan(f, p);
SELECT tdm.add_rule('balance_not_negative', 'staging.accounts', 'balance >= 0');
SELECT tdm.add_rule('known_currency', 'staging.accounts', $$currency IN ('EUR', 'USD')$$,
                    'warning');
\o
SELECT release, status, code_version, parent,
       (SELECT string_agg(feature || ' (P' || priority || ')', ', ' ORDER BY priority DESC, feature)
          FROM tdm.feature f WHERE f.release = r.release) AS features
  FROM tdm.release r ORDER BY release;
SELECT name, rel AS "table", predicate, severity FROM tdm.rule ORDER BY name;
\echo 'Personal data: find_pii reads column names and a sample of values in st1.'
\echo 'The emails are test addresses (example.com) reviewers need to read; full names are masked.'
SELECT rel AS "table", column_name, category, evidence, suggestion FROM tdm.find_pii('st1');
\o /dev/null
SELECT tdm.mask_column('staging.users', 'full_name', 'hash', '{"length": 12}');
\o
SELECT rel AS "table", column_name, method, options FROM tdm.mask;

\echo
\echo '== 5. Bad input is refused with what is wrong, which object and what to do'
\set ON_ERROR_STOP 0
CREATE TABLE staging.scratch (note text, tdm_release text, tdm_feature text);
\o /dev/null
SELECT tdm.manage_table('staging.scratch');
SELECT tdm.manage_table('staging.users', '{emial}');
SELECT tdm.add_rule('balance_positive', 'staging.accounts', 'blance > 0');
SELECT tdm.add_environment('st4', 'st4');
\o
\set ON_ERROR_STOP 1

\echo
\echo '== 6. Phase 1.5, the release gate: tag_release checks every environment and locks R2'
SELECT tdm.tag_release('R2') AS job \gset
SELECT count(*) AS findings, count(*) FILTER (WHERE severity = 'error') AS errors,
       count(*) FILTER (WHERE severity = 'warning') AS warnings
  FROM tdm.tag_finding WHERE job_id = :job;
SELECT release, status, locked_at IS NOT NULL AS locked FROM tdm.release WHERE release = 'R2';
SELECT env, rel AS "table", row_count, left(checksum, 12) || '...' AS checksum
  FROM tdm.release_lock WHERE release = 'R2' ORDER BY env, rel::text;
SELECT status, detail->'phase_ms' AS phase_ms FROM tdm.job WHERE job_id = :job;

\echo 'A tester adds a row in st3 after the lock: collection refuses it.'
INSERT INTO demo_st3.users VALUES
  (999999, 'late@example.com', 'Late Tester', 'Customer', now(), now(), 'R2', 'FEAT-101');
\set ON_ERROR_STOP 0
SELECT count(*) FROM tdm.detect_conflicts('R2');
\set ON_ERROR_STOP 1
DELETE FROM demo_st3.users WHERE user_id = 999999;

\echo
\echo '== 7. Phase 2, conflict detection (dry run): what the rules settle, what reviewers get'
CREATE TEMP TABLE preview AS SELECT * FROM tdm.detect_conflicts('R2');
SELECT rel AS "table", count(*) AS conflicts,
       count(*) FILTER (WHERE class = 'simple') AS auto_resolvable,
       round(100.0 * count(*) FILTER (WHERE class = 'simple') / count(*), 1) AS auto_pct,
       count(*) FILTER (WHERE priority = 1 AND class = 'complex') AS p1,
       count(*) FILTER (WHERE priority = 2 AND class = 'complex') AS p2,
       count(*) FILTER (WHERE priority = 3 AND class = 'complex') AS p3
  FROM preview GROUP BY rel ORDER BY rel::text;
SELECT rule, kind, count(*) AS conflicts FROM preview GROUP BY rule, kind ORDER BY rule, kind;

\echo 'One conflict per rule, as a reviewer would read it:'
SELECT DISTINCT ON (rule) rule, conflict_id, rel AS "table", suggestion
  FROM preview ORDER BY rule, priority, conflict_id;

\echo 'The first priority-1 conflict, side by side (only what differs):'
\x on
SELECT conflict_id, rel AS "table", kind, priority, rationale, suggestion,
       jsonb_pretty(differing) AS differing
  FROM preview WHERE class = 'complex' ORDER BY priority, conflict_id LIMIT 1;
\x off

\echo
\echo '== 8. Consolidation: rules settle the simple conflicts, reviewers the rest'
\echo 'Two more tables join: teams and their members (a reference cycle: a team has a lead).'
\o /dev/null
SELECT tdm.manage_table('staging.teams', '{name}', 'updated_at');
SELECT tdm.manage_table('staging.team_members', '{email}', 'updated_at');
SELECT tdm.tag_release('R2');
\o
SELECT tdm.consolidate('R2') AS run \gset
SELECT run_id, status, rows_collected, conflicts, auto_resolved, manual, phase_ms
  FROM tdm.run WHERE run_id = :run;

\echo 'The review queue (psql, \\x, long lines folded at 80 columns): one priority-1 conflict, side by side'
\x on
\pset format wrapped
\pset columns 80
SELECT conflict_id, rel AS "table", kind, priority, rationale, side_by_side, related, suggestion
  FROM tdm.review_queue ORDER BY priority, conflict_id LIMIT 1;
\pset format aligned
\pset columns 0
\x off
SELECT conflict_id AS first_p1 FROM tdm.review_queue WHERE priority = 1
 ORDER BY conflict_id LIMIT 1 \gset

\echo 'Reviewer alice decides; she cannot approve her own priority-1 decision; bob can.'
CREATE ROLE alice IN ROLE tdm_reviewer;
CREATE ROLE bob IN ROLE tdm_reviewer;
SET SESSION AUTHORIZATION alice;
SELECT tdm.resolve(:'first_p1', 'keep', 'st1', rationale => 'st1 runs the payment suite');
\set ON_ERROR_STOP 0
SELECT tdm.resolve(:'first_p1', 'keep', 'st9', rationale => 'typo');
SELECT tdm.approve(:'first_p1');
\set ON_ERROR_STOP 1
SELECT tdm.resolve_all('R2', 'keep', 'release manager: the suggested survivor stands') AS bulk_decisions;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION bob;
SELECT count(tdm.approve(conflict_id)) AS approved_by_bob
  FROM tdm.conflict WHERE run_id = :run AND priority = 1 AND status = 'decided';
RESET SESSION AUTHORIZATION;

\echo 'Consolidate again: the run resumes, validates and loads in one transaction.'
SELECT tdm.consolidate('R2') = :run AS same_run;
SELECT status, rows_collected, rows_loaded, rows_merged, rows_renamed, rows_deleted,
       rows_collected = rows_loaded + rows_merged + rows_deleted AS every_row_accounted
  FROM tdm.run WHERE run_id = :run;
SELECT rel AS "table", reason, count(*) AS keys FROM tdm.key_map WHERE run_id = :run
 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT (SELECT count(*) FROM staging.users) AS users, (SELECT count(*) FROM staging.accounts) AS accounts,
       (SELECT count(*) FROM staging.transactions) AS transactions,
       (SELECT count(*) FROM staging.teams) AS teams;

\echo
\echo 'The audit report of the run:'
\pset format unaligned
\pset tuples_only on
SELECT tdm.report(:run);
-- The same as a page, with its chart, for mail or a browser.
\o :report_html
SELECT tdm.report(:run, 'html');
\o
\pset tuples_only off
\pset format aligned
\echo 'The same report as an html page, with a chart of the conflicts:' :report_html

\echo
\echo '== 9. In the background: a worker runs the job, tdm.progress follows it, wait_job waits'
SELECT tdm.consolidate('R2', wait => false) AS run \gset
SELECT job_id AS job FROM tdm.run WHERE run_id = :run \gset
\o /dev/null
SELECT pg_sleep(0.5);
\o
SELECT job_id, kind, release, phase, done, total, percent, elapsed FROM tdm.progress;
SELECT pid, backend_type, state FROM pg_stat_activity WHERE backend_type LIKE 'tdm\_%';
SELECT tdm.wait_job(:job, '10 min') AS final_status;
SELECT job_id, kind, status, detail ->> 'run_id' AS run, detail ->> 'run_status' AS run_status,
       date_trunc('millisecond', finished_at - started_at) AS took
  FROM tdm.job WHERE job_id = :job;

\echo
\echo '== 10. Phases 3 to 5: promote into master, deploy, and roll data back with the code'
SELECT tdm.promote('R2') IS NOT NULL AS promoted;
SELECT release, rel AS "table", rows, cumulative_rows FROM tdm.release_stats ORDER BY rel::text, release;
SELECT tdm.deploy('R2', 'v2.0') AS deployment \gset
SELECT d.release, d.code_version, s.label AS pre_deploy_snapshot,
       (SELECT sum(row_count) FROM tdm.snapshot_table t WHERE t.snapshot_id = d.snapshot_id) AS rows_saved
  FROM tdm.deployment d JOIN tdm.snapshot s USING (snapshot_id) WHERE d.deployment_id = :deployment;
\echo 'Production validation fails after the data changed; deployment tooling listens on tdm_rollback.'
DELETE FROM master.transactions WHERE amount < 100;
SELECT count(*) AS transactions_after_change FROM master.transactions;
LISTEN tdm_rollback;
SELECT tdm.rollback_release('R2') = :deployment AS rolled_back;
UNLISTEN tdm_rollback;
SELECT count(*) AS transactions_after_rollback FROM master.transactions;
SELECT j.kind, j.status, j.detail ->> 'restored' AS restored, (j.detail ->> 'locked_ms') || ' ms' AS target_locked
  FROM tdm.job j WHERE j.kind = 'rollback' ORDER BY j.job_id DESC LIMIT 1;
SELECT release, status FROM tdm.release ORDER BY release;

\echo
\echo '== 11. The next release meets the last one in master: the same rules and review settle it'
SELECT tdm.create_release('R3', 'v3.0', parent => 'R2');
SELECT tdm.add_feature('R3', 'FEAT-201', 2);
SELECT u.user_id AS taken_id FROM master.users u
 WHERE NOT EXISTS (SELECT 1 FROM demo_st1.users e WHERE e.user_id = u.user_id) ORDER BY 1 LIMIT 1 \gset
SELECT u.user_id AS again_id FROM master.users u
 WHERE NOT EXISTS (SELECT 1 FROM demo_st1.users e WHERE e.email = u.email) AND u.user_id <> :taken_id
 ORDER BY 1 LIMIT 1 \gset
SELECT u.user_id AS renamed_id FROM master.users u
 WHERE NOT EXISTS (SELECT 1 FROM demo_st1.users e WHERE e.email = u.email)
   AND u.user_id > :again_id AND u.user_id <> :taken_id
 ORDER BY 1 LIMIT 1 \gset
\echo 'R3 testers add users in st1: one reuses an id an R2 user holds in master, one is an R2 user'
\echo 'again under a new id (with an account), one has an R2 user''s email but another name.'
INSERT INTO demo_st1.users VALUES
  (:taken_id, 'r3-new@example.com', 'New In R3', 'Customer', now(), now(), 'R3', 'FEAT-201');
INSERT INTO demo_st1.users
SELECT 900001, email, full_name, role, created_at, updated_at + interval '1 day', 'R3', 'FEAT-201'
  FROM master.users WHERE user_id = :again_id;
INSERT INTO demo_st1.users
SELECT 900002, email, 'Renamed In R3', role, created_at, updated_at, 'R3', 'FEAT-201'
  FROM master.users WHERE user_id = :renamed_id;
INSERT INTO demo_st1.accounts VALUES
  (900011, 900001, 'ACC-R3-0001', 50, 'EUR', now(), now(), 'R3', 'FEAT-201');
SELECT tdm.tag_release('R3') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R3') AS r3_run \gset
SELECT kind, rule, status, ARRAY(SELECT m ->> 'env' FROM jsonb_array_elements(members) m) AS members,
       suggestion
  FROM tdm.conflict WHERE run_id = :r3_run ORDER BY rule;
\x on
SELECT conflict_id, priority, rationale, differing FROM tdm.review_queue;
\x off
SELECT conflict_id AS r3_conflict FROM tdm.review_queue \gset
\echo 'Master''s row stays as R2 shipped it: a decision that would change it is refused.'
\set ON_ERROR_STOP 0
SELECT tdm.resolve(:'r3_conflict', 'keep', 'st1', rationale => 'R3 renamed the user');
\set ON_ERROR_STOP 1
SELECT tdm.resolve(:'r3_conflict', 'keep', 'master', rationale => 'R3 tests with R2''s user as it is');
SELECT tdm.consolidate('R3') = :r3_run AS resumed;
SELECT status, rows_collected, rows_loaded, rows_merged, rows_renamed FROM tdm.run WHERE run_id = :r3_run;
SELECT env, old_key, new_key, reason FROM tdm.key_map WHERE run_id = :r3_run ORDER BY reason;
SELECT tdm.promote('R3') IS NOT NULL AS promoted;
SELECT release, rel AS "table", rows, cumulative_rows FROM tdm.release_stats
 WHERE rel = 'staging.users'::regclass ORDER BY release;
DELETE FROM demo_st1.accounts WHERE tdm_release = 'R3';
DELETE FROM demo_st1.users WHERE tdm_release = 'R3';

\echo
\echo '== 12. The audit trail: every call, who made it, hash-chained'
SELECT action, count(*) AS entries, string_agg(DISTINCT role::text, ', ') AS roles
  FROM tdm.audit GROUP BY action ORDER BY min(audit_id);
SELECT CASE WHEN count(*) = 0 THEN 'intact' ELSE 'BROKEN' END AS audit_chain
  FROM tdm.verify_audit();

SET client_min_messages = warning;
DROP SCHEMA demo_st1, demo_st2, demo_st3 CASCADE;
RESET client_min_messages;
