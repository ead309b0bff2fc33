-- Consolidation end to end on the seed's planted cases (release R3, from
-- sql/detect.sql): auto-resolution, review, decisions and their checks,
-- approval, relationship conflicts, validation, an invalid run, a stale
-- decision, the atomic load with re-keyed children, row accounting, the
-- report, an idempotent re-run, and who may do what.
\set SHOW_CONTEXT never
CREATE ROLE tdm_regress_approver;
GRANT tdm_reviewer TO tdm_regress_approver;
CREATE ROLE tdm_regress_reviewer;
GRANT tdm_reviewer TO tdm_regress_reviewer;

-- More planted cases: a user both sides disagree on (core column) whose
-- st2 copy has an account, and a merchant account in st3 (its user will be
-- kept under a new key).
INSERT INTO plant_st1.users (user_id, email, full_name, role, created_at, updated_at, tdm_release, tdm_feature)
VALUES (9020, 'junk@company.com', 'Junk', 'Customer', '2024-01-10', '2024-01-10', 'R3', 'FEAT-102');
INSERT INTO plant_st2.users (user_id, email, full_name, role, created_at, updated_at, tdm_release, tdm_feature)
VALUES (9020, 'junk@company.com', 'Junk', 'Support', '2024-01-10', '2024-01-10', 'R3', 'FEAT-102');
INSERT INTO plant_st2.accounts (account_id, user_id, account_number, balance, currency, created_at, updated_at, tdm_release, tdm_feature)
VALUES (9020, 9020, 'ACC-R3-JUNK', 1, 'EUR', '2024-01-10', '2024-01-10', 'R3', 'FEAT-102');
INSERT INTO plant_st3.accounts (account_id, user_id, account_number, balance, currency, created_at, updated_at, tdm_release, tdm_feature)
VALUES (9007, 9007, 'ACC-R3-REFUNDS', 50, 'EUR', '2024-01-10', '2024-01-10', 'R3', 'FEAT-108');
-- A business rule broken in st1 (balance_not_negative, from sql/setup.sql).
UPDATE plant_st1.accounts SET balance = -5 WHERE account_id = 9001;
SELECT tdm.tag_release('R3') IS NOT NULL AS tagged;

-- Bad input: each refused with a clear error, nothing written.
SELECT tdm.consolidate('R404');
SELECT tdm.create_release('R9');
SELECT tdm.consolidate('R9');
SELECT tdm.consolidate('R3', 'nowhere');
CREATE SCHEMA half;
CREATE TABLE half.users (LIKE staging.users);
SELECT tdm.consolidate('R3', 'half');
DROP SCHEMA half CASCADE;
SELECT count(*) AS runs FROM tdm.run;

-- A consolidation of R3 already running in another session: refused.
CREATE EXTENSION IF NOT EXISTS dblink;
\ir sql/include/sessions.sql
-- (a second connection to this database)
SELECT dblink_connect('other', pg_temp.conninfo(current_database()));
SELECT dblink_exec('other', 'BEGIN');
SELECT * FROM dblink('other', format('SELECT pg_advisory_xact_lock(%s, %s)::text',
                                     hashtext('tdm.consolidate'), hashtext('R3')))
  AS t(other_session_locked text);
-- (and holds the target's tables, as its load does: the refusal comes at
-- once, before any check reads them)
SELECT dblink_exec('other', 'LOCK TABLE staging.accounts IN ACCESS EXCLUSIVE MODE');
SET lock_timeout = '5s';
\set VERBOSITY terse
SELECT tdm.consolidate('R3');
\set VERBOSITY default
RESET lock_timeout;
-- Its DETAIL names the backend and says that only its session's
-- transaction is open (idle in transaction: COMMIT ends it). (The pid
-- and user vary: spelled n and u here.)
DO $$
DECLARE
  detail text;
BEGIN
  PERFORM tdm.consolidate('R3');
EXCEPTION WHEN lock_not_available THEN
  GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
  RAISE NOTICE '%', regexp_replace(regexp_replace(detail, 'Backend [0-9]+', 'Backend n'),
                                   '\(user [^)]+\)', '(user u)');
END
$$;
SELECT dblink_exec('other', 'ROLLBACK');
SELECT dblink_disconnect('other');

-- A migration holding an environment's table: this session's lock_timeout
-- does not reach the environment; its server's options do. Collection
-- reads every environment in one statement: the error names the table
-- and the environments it spans. (The dry run collects as consolidate
-- does; a consolidate failing so leaves no run, but spends a run id.)
\o /dev/null
SELECT dblink_connect('migrator', pg_temp.env_conninfo('st2'));
SELECT dblink_exec('migrator', 'BEGIN');
SELECT dblink_exec('migrator', 'LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
ALTER SERVER st2 OPTIONS (ADD options '-c lock_timeout=200ms');
SELECT postgres_fdw_disconnect_all();
\o
SELECT count(*) FROM tdm.detect_conflicts('R3');
\o /dev/null
ALTER SERVER st2 OPTIONS (DROP options);
SELECT postgres_fdw_disconnect_all();
SELECT dblink_exec('migrator', 'ROLLBACK');
SELECT dblink_disconnect('migrator');
\o
SELECT count(*) AS runs FROM tdm.run;

-- First call: rules settle the simple conflicts; the complex ones wait.
SELECT tdm.consolidate('R3') AS run;
SELECT release, target, status, rows_collected, conflicts, auto_resolved, manual FROM tdm.run;
SELECT rel, kind, rule, status, count(*) FROM tdm.conflict WHERE run_id = 1
 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
SELECT count(*) AS rows_in_staging FROM staging.users;

-- The queue, priority 1 first, as a reviewer reads it.
SELECT priority, rel, kind, rationale, members FROM tdm.review_queue;
\x on
SELECT conflict_id ~ '^C-[0-9a-f]{12}$' AS id_format, kind, priority, suggestion, side_by_side,
       jsonb_pretty(differing) AS differing, related
  FROM tdm.review_queue WHERE differing ? 'role' AND members @> '[{"env": "st2"}]'
   AND related <> '{}';
\x off

-- Conflict ids for the decisions below.
CREATE TEMP TABLE q AS
  SELECT c.conflict_id, coalesce(m.row->>'email', m.row->>'sku') AS what, c.priority
    FROM tdm.conflict c JOIN tdm.conflict_member m USING (run_id, conflict_id)
   WHERE c.run_id = 1 AND c.status = 'pending' AND m.member = 0;
SELECT what, priority FROM q ORDER BY what;
SELECT conflict_id AS c001 FROM q WHERE what = 'testuser1@company.com' \gset
SELECT conflict_id AS merchant FROM q WHERE what = 'testuser_merchant@company.com' \gset
SELECT conflict_id AS core FROM q WHERE what = 'core@company.com' \gset
SELECT conflict_id AS junk FROM q WHERE what = 'junk@company.com' \gset
SELECT conflict_id AS line12 FROM q WHERE what = '22222222-2222-2222-2222-222222222222' \gset
SELECT conflict_id AS sku3 FROM q WHERE what = '33333333-3333-3333-3333-333333333333' \gset
SELECT conflict_id AS auto_one FROM tdm.conflict WHERE run_id = 1 AND rule = 'exact_duplicate'
 ORDER BY conflict_id LIMIT 1 \gset

-- Invalid decisions are rejected at once.
INSERT INTO tdm.decision (conflict_id, action, keep_env, rationale) VALUES ('C-000000000000', 'keep', 'st1', 'x');
-- (A conflict a rule settled can be decided too: the decision outranks
-- the rule. Withdrawn, the rule settles it again.)
SELECT tdm.resolve(:'auto_one', 'keep', 'st2', rationale => 'st2 is the reference');
SELECT status, rule FROM tdm.conflict WHERE run_id = 1 AND conflict_id = :'auto_one';
DELETE FROM tdm.decision WHERE conflict_id = :'auto_one';
SELECT status, rule FROM tdm.conflict WHERE run_id = 1 AND conflict_id = :'auto_one';
SELECT tdm.resolve(:'c001', 'keep', 'st1');
SELECT tdm.resolve(:'c001', 'keep', 'st1', rationale => '  ');
SELECT tdm.resolve(:'c001', 'keep', 'st2', rationale => 'st2 is not a member');
SELECT tdm.resolve(:'c001', 'keep', rationale => 'which one?');
SELECT tdm.resolve(:'c001', 'keep_all', 'st1', rationale => 'keep_env with keep_all');
SELECT tdm.resolve(:'merchant', 'keep_all', rationale => 'both emails stay the same');
SELECT tdm.resolve(:'merchant', 'keep_all', renames => '{"st2": {"email": "x@company.com"}}', rationale => 'unknown member');
SELECT tdm.resolve(:'merchant', 'keep_all', renames => '{"st3": {"email": "dup@company.com"}}', rationale => 'taken?');
SELECT tdm.resolve(:'merchant', 'keep_all', renames => '{"st3": {"nickname": "x"}}', rationale => 'no such column');
SELECT tdm.resolve(:'merchant', 'keep_all', renames => '{"st3": {"EMAIL": "x"}}', rationale => 'spelled otherwise');
SELECT tdm.resolve(:'core', 'merge', merged => '{"created_at": "yesterday-ish"}', rationale => 'wrong type');
SELECT tdm.resolve(:'line12', 'keep_all', rationale => 'composite key, no new key given');
SELECT count(*) AS decisions FROM tdm.decision;

-- Decisions: keep one side (P1, approved by a second reviewer), keep both
-- merchants (st3's gets a new key and email; its account follows), merge
-- the core user (first with a role the target refuses), delete the junk
-- user, keep both order lines (new key given), delete a P1 order line.
SELECT tdm.resolve(:'c001', 'keep', 'st1', rationale => 'st1 holds the admin used by the payment tests');
SELECT tdm.resolve(:'merchant', 'keep_all', renames => '{"st3": {"email": "refunds_merchant@company.com"}}',
                   rationale => 'two merchants for two features');
INSERT INTO tdm.decision (conflict_id, action, merged, rationale)
VALUES (:'core', 'merge', '{"role": "Superuser", "full_name": "Core User (merged)"}', 'one core user');
SELECT tdm.resolve(:'junk', 'delete_all', rationale => 'test garbage');
SELECT tdm.resolve(:'line12', 'keep_all', renames => '{"st2": {"line_no": 3}}',
                   rationale => 'a different line; st2''s becomes line 3');
SELECT tdm.resolve(:'sku3', 'delete_all', rationale => 'contradictory order lines');
SELECT d.conflict_id = :'c001' AS c001, action, keep_env, decided_by = current_user AS by_me,
       approved_by, members_checksum IS NOT NULL AS checksummed
  FROM tdm.decision d ORDER BY d.decided_at, d.conflict_id LIMIT 1;
SELECT count(*) AS still_pending FROM tdm.review_queue;
-- The decider cannot approve their own priority 1 decision, under any role.
SELECT tdm.approve(:'c001');
SET ROLE tdm_regress_approver;
SELECT tdm.approve(:'c001');
RESET ROLE;
SELECT tdm.approve(:'merchant');
-- A mistyped id is said as such.
SELECT tdm.approve('C-000000000000');
SET SESSION AUTHORIZATION tdm_regress_approver;
SELECT tdm.approve(:'c001'), tdm.approve(:'core'), tdm.approve(:'junk'), tdm.approve(:'sku3');
RESET SESSION AUTHORIZATION;

-- Second call: the junk user is deleted, so st2's account pointing at it
-- becomes a relationship conflict (complex, priority 1).
SELECT tdm.consolidate('R3') AS run;
SELECT status FROM tdm.run WHERE run_id = 1;
SELECT rel, kind, class, priority, rationale, members->0->'row'->>'account_number' AS account
  FROM tdm.review_queue;
SELECT conflict_id AS orphan FROM tdm.review_queue WHERE kind = 'relationship' \gset
SELECT tdm.resolve(:'orphan', 'merge', merged => '{}', rationale => 'merge?');
-- Kept for now (validation will find its parent missing).
SELECT tdm.resolve(:'orphan', 'keep', 'st2', rationale => 'keep the account');
SET SESSION AUTHORIZATION tdm_regress_approver;
SELECT tdm.approve(:'orphan');
RESET SESSION AUTHORIZATION;

-- A row of another release already in staging holds an email R3 brings;
-- another, the email a reviewer renamed st3's merchant to (the HINT names
-- that decision).
INSERT INTO staging.users (user_id, email, full_name, role, tdm_release, tdm_feature)
VALUES (1, 'precedence@company.com', 'Already Here', 'Customer', 'R1', 'FEAT-001'),
       (2, 'refunds_merchant@company.com', 'Took The Name', 'Merchant', 'R1', 'FEAT-001');

-- Third call: validation finds every violation; nothing is loaded.
SELECT tdm.consolidate('R3') AS run;
SELECT status, rows_loaded FROM tdm.run WHERE run_id = 1;
SELECT rel, kind, severity, row_key->>'env' AS env, row_key->'key' AS key, detail
  FROM tdm.violation WHERE run_id = 1 ORDER BY rel::text, kind, env;
SELECT count(*) AS rows_in_staging FROM staging.users;

-- Without business rules, the target's constraints are left to the load,
-- for the target enforces them itself. Rows kept though their parent was
-- deleted are checked first all the same (a row of another release with
-- that key would pass the foreign key): the account here, so the load is
-- not tried; validation records every constraint's violations.
CREATE TEMP TABLE saved_rules AS SELECT * FROM tdm.rule;
DELETE FROM tdm.rule;
SELECT tdm.consolidate('R3') AS run;
SELECT status, rows_loaded, phase_ms ? 'load' AS load_tried FROM tdm.run WHERE run_id = 1;
SELECT rel, kind, severity, row_key->>'env' AS env, row_key->'key' AS key
  FROM tdm.violation WHERE run_id = 1 ORDER BY rel::text, kind, env;
SELECT count(*) AS rows_in_staging FROM staging.users;
-- A deferrable foreign key is not checked at insert time: everything is
-- validated first and the load is not tried.
ALTER TABLE staging.accounts ALTER CONSTRAINT accounts_user_id_fkey DEFERRABLE;
SELECT tdm.consolidate('R3') AS run;
SELECT status, phase_ms ? 'load' AS load_tried FROM tdm.run WHERE run_id = 1;
SELECT rel, kind, row_key->>'env' AS env FROM tdm.violation WHERE run_id = 1 ORDER BY 1, 2, 3;
ALTER TABLE staging.accounts ALTER CONSTRAINT accounts_user_id_fkey NOT DEFERRABLE;
INSERT INTO tdm.rule SELECT * FROM saved_rules;

-- Fixes: a valid role (a changed P1 decision needs approval again), the
-- orphaned account deleted, the balance fixed in st1 (re-tagged), the old
-- row moved out of the way. Meanwhile st3's merchant changed.
-- (The reviewer's session reads the time as a reviewer in Tokyo writes
-- it: the decision keeps it as meant, whatever consolidation's settings.)
SET TimeZone = 'Asia/Tokyo';
SET DateStyle = 'SQL, DMY';
UPDATE tdm.decision SET merged = '{"role": "Support", "full_name": "Core User (merged)",
                                   "created_at": "25/12/2024 09:00"}',
                        rationale = 'one core user, support role'
 WHERE conflict_id = :'core';
RESET DateStyle;
RESET TimeZone;
SELECT merged ->> 'created_at' AS created_at FROM tdm.decision WHERE conflict_id = :'core';
SELECT approved_by FROM tdm.decision WHERE conflict_id = :'core';
SELECT tdm.resolve(:'orphan', 'delete_all', rationale => 'its user is gone');
SET SESSION AUTHORIZATION tdm_regress_approver;
SELECT tdm.approve(:'core'), tdm.approve(:'orphan');
RESET SESSION AUTHORIZATION;
UPDATE plant_st1.accounts SET balance = 5 WHERE account_id = 9001;
UPDATE plant_st3.users SET full_name = 'Refunds Team' WHERE user_id = 9007;
SELECT tdm.tag_release('R3') IS NOT NULL AS tagged;
DELETE FROM staging.users WHERE tdm_release = 'R1';

-- Fourth call: the merchant decision was taken on members that changed:
-- stale, back in the queue. The reviewer confirms it.
SELECT tdm.consolidate('R3') AS run;
SELECT status FROM tdm.run WHERE run_id = 1;
SELECT conflict_id = :'merchant' AS merchant, status FROM tdm.review_queue;
-- The queue says what was decided on it, and what changed since; the
-- report counts it.
SELECT rationale ~ '^stale: decided keep_all by \S+ at [0-9-]+ [0-9:]+ UTC, on members that changed since \('
         AS says_the_decision,
       substring(rationale FROM 'changed since \(([^)]*)\); ') AS changed
  FROM tdm.review_queue WHERE conflict_id = :'merchant';
SELECT line FROM regexp_split_to_table(tdm.report(1), E'\n') AS line WHERE line LIKE '%stale%';
UPDATE tdm.decision SET rationale = 'two merchants for two features (checked again)'
 WHERE conflict_id = :'merchant';

-- A unique index on an expression: validation computes its keys as the
-- index does. Every row it refuses is recorded, the run is invalid and
-- nothing is loaded.
CREATE UNIQUE INDEX users_one_per_release ON staging.users ((lower(tdm_release)));
SELECT tdm.consolidate('R3') AS run;
SELECT status, calls FROM tdm.run WHERE run_id = 1;
SELECT kind, detail ->> 'constraint' AS "constraint", detail -> 'values' AS "values",
       detail ->> 'with' AS "with", count(*)
  FROM tdm.violation WHERE run_id = 1 GROUP BY 1, 2, 3, 4;
SELECT count(*) AS r3_users_in_staging FROM staging.users WHERE tdm_release = 'R3';
DROP INDEX staging.users_one_per_release;
-- A partial one: only the rows of its predicate (even keys).
CREATE UNIQUE INDEX users_one_per_release ON staging.users ((lower(tdm_release)))
  WHERE user_id % 2 = 0;
SELECT tdm.consolidate('R3') AS run;
SELECT count(*) > 1 AS flagged, bool_and((row_key -> 'key' ->> 'user_id')::bigint % 2 = 0) AS only_even_keys
  FROM tdm.violation WHERE run_id = 1;
DROP INDEX staging.users_one_per_release;
-- An exclusion constraint, checked at commit (deferred): recorded too.
ALTER TABLE staging.users ADD CONSTRAINT users_one_per_release
  EXCLUDE USING btree ((lower(tdm_release)) WITH =) DEFERRABLE INITIALLY DEFERRED;
SELECT tdm.consolidate('R3') AS run;
SELECT kind, detail ->> 'constraint' AS "constraint", detail -> 'values' AS "values",
       detail ->> 'with' AS "with", count(*)
  FROM tdm.violation WHERE run_id = 1 GROUP BY 1, 2, 3, 4;
ALTER TABLE staging.users DROP CONSTRAINT users_one_per_release;

-- Fifth call: completed.
SELECT tdm.consolidate('R3') AS run;
SELECT status, rows_collected, conflicts, auto_resolved, manual, rows_loaded, rows_merged,
       rows_renamed, rows_deleted, calls FROM tdm.run WHERE run_id = 1;
SELECT status, count(*) FROM tdm.conflict WHERE run_id = 1 GROUP BY 1 ORDER BY 1;
-- Approving a decision that needed no approval, once it is applied: said
-- as what it is.
SELECT tdm.approve(:'merchant');
-- Row accounting: collected = loaded + merged away + deleted.
SELECT rows_collected = rows_loaded + rows_merged + rows_deleted AS accounted,
       rows_loaded = (SELECT count(*) FROM staging.users) + (SELECT count(*) FROM staging.accounts)
                     + (SELECT count(*) FROM staging.transactions)
                     + (SELECT count(*) FROM staging."Order Lines") AS loaded_is_in_staging
  FROM tdm.run WHERE run_id = 1;
SELECT t.key AS rel, t.value - 'checksum' AS outcome FROM tdm.run, jsonb_each(tables) t
 WHERE run_id = 1 ORDER BY 1;
-- The decisions the run applied, as its report lists them: renames and
-- merged values, when each was decided and approved.
SELECT d ->> 'action' AS action, d -> 'renames' AS renames, d -> 'merged' AS merged,
       (d ->> 'decided_at')::timestamptz <= now() AS decided_at,
       ((d ->> 'approved_at') IS NOT NULL) = ((d ->> 'approved_by') IS NOT NULL) AS approved_at
  FROM tdm.run, jsonb_array_elements(decisions) d
 WHERE run_id = 1 ORDER BY 1, 2::text, 3::text;

-- What staging holds: each case resolved as decided or by its rule.
SELECT user_id > 9311 AS new_key, email, full_name, role FROM staging.users ORDER BY email;
SELECT created_at = '2024-12-25 09:00+09' AS created_as_meant FROM staging.users
 WHERE email = 'core@company.com';
-- The kept merchant's account follows its user's new key; st2's
-- transaction 9001 got a new key and still points at its own account.
SELECT a.account_number, u.email FROM staging.accounts a JOIN staging.users u USING (user_id)
 ORDER BY 1;
SELECT t.txn_id = 9001 AS original_id, t.account_id, t.amount FROM staging.transactions t ORDER BY amount;
SELECT "Order Id", line_no, sku, happened FROM staging."Order Lines" ORDER BY 1, 2;
SELECT rel, env, old_key, new_key, reason FROM tdm.key_map WHERE run_id = 1
 ORDER BY rel::text, env, old_key::text;
SELECT status FROM tdm.release WHERE release = 'R3';

-- The audit report.
\pset format unaligned
-- (all of it, the times and clock times masked, line by line: flag n)
SELECT regexp_replace(regexp_replace(tdm.report(1),
                                     '^(Phase timings \(ms\):|All calls \(ms\):|Manual review time:|Total elapsed:'
                                     '|Completed:)( +).*$', '\1\2...', 'gn'),
                      '\(login [^)]*\)', '(login ...)', 'g') AS report;
\pset format aligned
SELECT (tdm.report(1, 'json')::jsonb) ->> 'auto_resolved_pct' AS auto_pct,
       tdm.report(1, 'html') LIKE '<!DOCTYPE html>%<table class="tdm-report">%</table>%<svg%</svg>%</html>'
         AS html_page_with_chart;
-- The chart's bars: conflicts by kind and resolution, as counted.
SELECT m[1] AS chart_bar FROM regexp_matches(tdm.report(1, 'html'), '<rect [^>]*><title>([^<]*)</title>', 'g') AS m
 ORDER BY 1;
-- The JSON's breakdowns and phases, for scripts.
SELECT j -> 'by_kind_rule' AS by_kind_rule, j -> 'collected_by_env' AS collected_by_env,
       ARRAY(SELECT k FROM jsonb_object_keys(j -> 'phase_ms') AS k ORDER BY k) AS phases
  FROM (SELECT tdm.report(1, 'json')::jsonb AS j) r;
SELECT tdm.report(1, 'pdf');
SELECT tdm.report(99);

-- A re-run is idempotent: same counts, same rows.
CREATE TEMP TABLE before_rerun AS SELECT * FROM staging.users;
CREATE VIEW pg_temp.staging_rows AS
  SELECT 'users' AS t, to_jsonb(x) AS r FROM staging.users x
  UNION ALL SELECT 'accounts', to_jsonb(x) FROM staging.accounts x
  UNION ALL SELECT 'transactions', to_jsonb(x) FROM staging.transactions x
  UNION ALL SELECT 'Order Lines', to_jsonb(x) FROM staging."Order Lines" x;
CREATE TEMP TABLE before_rerun_rows AS SELECT * FROM pg_temp.staging_rows;
SELECT tdm.consolidate('R3') AS run;
SELECT status, rows_loaded, rows_merged, rows_renamed, rows_deleted, calls FROM tdm.run WHERE run_id = 1;
-- (every row of every table, keys included, both ways)
SELECT (SELECT count(*) FROM before_rerun_rows) AS rows_before,
       (SELECT count(*) FROM ((TABLE before_rerun_rows EXCEPT ALL TABLE pg_temp.staging_rows)
                              UNION ALL (TABLE pg_temp.staging_rows EXCEPT ALL TABLE before_rerun_rows)) a) AS changed;

-- A target table with an insert trigger of its own is loaded by INSERT, so
-- the trigger fires; one that changes the rows is caught by the load's
-- checksums, and nothing is loaded. (A user's name changed in staging by
-- hand first, for the calls to load the release again: on rows as
-- approved a call loads nothing, decision 425.)
UPDATE staging.users SET full_name = full_name || ' (by hand)'
 WHERE user_id = (SELECT min(user_id) FROM staging.users WHERE tdm_release = 'R3');
CREATE FUNCTION public.tdm_test_shout() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.full_name := upper(NEW.full_name); RETURN NEW; END $$;
CREATE TRIGGER shout BEFORE INSERT ON staging.users FOR EACH ROW EXECUTE FUNCTION public.tdm_test_shout();
-- (One on UPDATE alone does not fire in the load: not named.)
CREATE TRIGGER shout_on_update BEFORE UPDATE ON staging.users FOR EACH ROW EXECUTE FUNCTION public.tdm_test_shout();
SELECT tdm.consolidate('R3');
SELECT (SELECT count(*) FROM staging.users WHERE full_name = upper(full_name)) AS shouted,
       (SELECT count(*) FROM (SELECT email, full_name, role FROM before_rerun
                              EXCEPT SELECT email, full_name, role FROM staging.users) a) AS changed;
DROP TRIGGER shout ON staging.users;
DROP TRIGGER shout_on_update ON staging.users;
DROP FUNCTION public.tdm_test_shout();
-- One that refuses a row: tdm says where it was raised, and that nothing
-- was loaded.
CREATE FUNCTION public.tdm_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.email LIKE 'a%' THEN RAISE EXCEPTION 'no a-mails (%)', NEW.email; END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER refuse BEFORE INSERT ON staging.users FOR EACH ROW EXECUTE FUNCTION public.tdm_test_refuse();
SELECT tdm.consolidate('R3');
SELECT (SELECT count(*) FROM (SELECT email, full_name, role FROM before_rerun
                              EXCEPT SELECT email, full_name, role FROM staging.users) a) AS changed;
DROP TRIGGER refuse ON staging.users;
DROP FUNCTION public.tdm_test_refuse();
-- Without them, the call loads the release again: the row as approved.
SELECT tdm.consolidate('R3');
SELECT (SELECT count(*) FROM (SELECT email, full_name, role FROM before_rerun
                              EXCEPT SELECT email, full_name, role FROM staging.users) a) AS changed;

-- Every decision, approval and call is in the audit trail, and it holds.
SELECT action, count(*) FROM tdm.audit
 WHERE action IN ('decide', 'approve', 'consolidate') GROUP BY 1 ORDER BY 1;
SELECT count(*) AS broken_links FROM tdm.verify_audit();
-- And says what each was: a decision's last decide row its decider,
-- action, member kept, renames, merged values and rationale; its approve
-- row the approver and what was approved.
SELECT count(*) AS decisions,
       count(*) FILTER (WHERE dec.role = d.decided_by
                          AND dec.detail - 'priority' = jsonb_build_object('action', d.action, 'keep_env', d.keep_env,
                                                                           'renames', d.renames, 'merged', d.merged,
                                                                           'rationale', d.rationale)) AS decide_rows_say_it,
       count(*) FILTER (WHERE d.approved_by IS NOT NULL) AS approved,
       count(*) FILTER (WHERE ap.role = d.approved_by AND ap.detail ->> 'decided_by' = d.decided_by::text
                          AND ap.detail ->> 'action' = d.action::text) AS approve_rows_say_it
  FROM tdm.decision d
 CROSS JOIN LATERAL (SELECT a.role, a.detail FROM tdm.audit a
                      WHERE a.object = d.conflict_id AND a.action = 'decide' ORDER BY a.audit_id DESC LIMIT 1) dec
  LEFT JOIN LATERAL (SELECT a.role, a.detail FROM tdm.audit a
                      WHERE a.object = d.conflict_id AND a.action = 'approve' ORDER BY a.audit_id DESC LIMIT 1) ap ON true;

-- R2 at volume (3 environments x 1000 users with accounts and
-- transactions, every sequence starting at 1), plus teams and their
-- members: a reference cycle of NOT NULL, non-deferrable foreign keys.
SELECT tdm.manage_table('staging.teams', '{name}', 'updated_at');
SELECT tdm.manage_table('staging.team_members', '{email}', 'updated_at');
SELECT tdm.manage_table('staging.rooms', surrogate_key => true);
SELECT tdm.tag_release('R2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R2') AS run \gset
SELECT status, rows_collected, conflicts, auto_resolved, manual FROM tdm.run WHERE run_id = :run;
-- Detection stores each conflict's members compressed (lz4), as TOAST
-- would only for rows over 2 kB; they read back as the same jsonb.
SELECT count(*) FILTER (WHERE pg_column_compression(members) = 'lz4') AS members_compressed,
       count(*) AS detected,
       count(*) FILTER (WHERE jsonb_typeof(members) = 'array'
                          AND jsonb_array_length(members) >= 2) AS members_readable
  FROM tdm.conflict WHERE run_id = :run AND kind <> 'relationship';
SELECT priority, count(*) FROM tdm.review_queue WHERE release = 'R2' GROUP BY 1 ORDER BY 1;
-- The bulk form: every waiting conflict keeps its suggested survivor; a
-- second reviewer approves the priority 1 ones.
SET ROLE tdm_regress_reviewer;
-- Bad input: an environment that does not exist, keep_env with another
-- action than keep, one that is a member of none of the conflicts, a
-- decision without an action, a rationale of white space alone.
SELECT tdm.resolve_all('R2', 'keep', 'bulk: typo', keep_env => 'st9');
SELECT tdm.resolve_all('R2', 'delete_all', 'bulk: keep what?', keep_env => 'st1');
SELECT tdm.resolve_all('R2', 'keep', 'bulk: master''s', keep_env => 'master');
SELECT conflict_id AS some_pending FROM tdm.review_queue WHERE release = 'R2' LIMIT 1 \gset
SELECT tdm.resolve(:'some_pending', NULL, rationale => 'no action');
SELECT tdm.resolve(:'some_pending', 'delete_all', rationale => E'\t\n');
SELECT tdm.resolve_all('R2', 'keep', 'bulk: the suggestion stands', priority => 3) AS p3;
SELECT tdm.resolve_all('R2', 'keep', 'bulk: the suggestion stands') AS the_rest;
SELECT DISTINCT decided_by FROM tdm.decision WHERE rationale LIKE 'bulk:%';
-- Reviewers decide; they do not consolidate.
SELECT tdm.consolidate('R2');
RESET ROLE;
SET SESSION AUTHORIZATION tdm_regress_approver;
SELECT count(tdm.approve(conflict_id)) AS approved
  FROM tdm.conflict WHERE run_id = :run AND priority = 1 AND status = 'decided';
-- Approving again changes nothing: who decided and who approved stay.
SET client_min_messages = warning;
SELECT count(tdm.approve(conflict_id)) AS approved_again
  FROM tdm.conflict WHERE run_id = :run AND priority = 1 AND status = 'decided';
RESET client_min_messages;
SELECT DISTINCT d.decided_by, d.approved_by FROM tdm.decision d
  JOIN tdm.conflict c USING (conflict_id) WHERE c.run_id = :run AND c.priority = 1;
RESET SESSION AUTHORIZATION;
-- The audit trail names the role that decided and the one that approved
-- (reviewers cannot write it themselves: tdm._decision_record does).
SELECT a.action, a.role, count(*) FROM tdm.audit a
 WHERE a.action IN ('decide', 'approve')
   AND a.object IN (SELECT c.conflict_id FROM tdm.conflict c WHERE c.run_id = :run)
 GROUP BY 1, 2 ORDER BY 1, 2;
-- A session holding a lock the load's writes wait for (a DBA's LOCK
-- TABLE, a CREATE INDEX): with lock_timeout, the wait ends naming it (the
-- DETAIL, left out here, names its backend), and the run is as it was.
\o /dev/null
SELECT dblink_connect('locker', pg_temp.conninfo(current_database()));
SELECT dblink_exec('locker', 'BEGIN');
SELECT dblink_exec('locker', 'LOCK TABLE staging.users IN SHARE MODE');
\o
SET lock_timeout = '300ms';
\set VERBOSITY terse
SELECT tdm.consolidate('R2');
\set VERBOSITY default
RESET lock_timeout;
\o /dev/null
SELECT dblink_exec('locker', 'ROLLBACK');
SELECT dblink_disconnect('locker');
\o
SELECT tdm.consolidate('R2') = :run AS same_run;
SELECT status, rows_collected = rows_loaded + rows_merged + rows_deleted AS accounted,
       rows_renamed > 0 AS rekeyed FROM tdm.run WHERE run_id = :run;
-- What was collected is every row the environments tag for R2, counted
-- there, table by table.
SELECT r.rows_collected = sum(x.n) AS collected_all_tagged
  FROM tdm.run r, tdm.environment e
 CROSS JOIN LATERAL (SELECT d.n FROM dblink(pg_temp.env_conninfo(e.server),
                                            (SELECT string_agg(format('SELECT count(*) FROM %I.%I WHERE %I = %L',
                                                                      e.remote_schema, c.relname, m.release_column,
                                                                      'R2'), ' UNION ALL ')
                                               FROM tdm.managed_table m JOIN pg_class c ON c.oid = m.rel))
                                     AS d(n bigint)) x
 WHERE r.run_id = :run
 GROUP BY r.rows_collected;
-- New keys are given in the order of the rows' environments (precedence,
-- then name) and old keys, whatever order collection met them in: the same
-- data gets the same keys.
SELECT count(*) AS rekeyed_users,
       bool_and(by_new_key = by_old_key) AS in_environment_and_key_order
  FROM (SELECT row_number() OVER (ORDER BY (k.new_key ->> 'user_id')::bigint) AS by_new_key,
               row_number() OVER (ORDER BY e.precedence, k.env, (k.old_key ->> 'user_id')::bigint) AS by_old_key
          FROM tdm.key_map k JOIN tdm.environment e ON e.name = k.env
         WHERE k.run_id = :run AND k.rel = 'staging.users'::regclass AND k.reason = 'rekeyed') x;
-- Bad input: the decisions of a loaded run stay as they were applied.
SELECT conflict_id AS applied_p1 FROM tdm.conflict
 WHERE run_id = :run AND priority = 1 AND status = 'applied' ORDER BY conflict_id LIMIT 1 \gset
DELETE FROM tdm.decision WHERE conflict_id = :'applied_p1';
UPDATE tdm.decision SET approved_by = NULL WHERE conflict_id = :'applied_p1';
-- Each environment's team 2 and its members came in under new keys, with
-- the lead and team references translated both ways round the cycle.
SELECT t.name, m.email AS lead, (SELECT count(*) FROM staging.team_members x WHERE x.team_id = t.team_id) AS members
  FROM staging.teams t JOIN staging.team_members m ON m.member_id = t.lead_id ORDER BY t.name;
-- Each team 2 keeps its own room: the rooms, below the cycle, were
-- compared once their teams had their final keys (not merged as copies).
SELECT t.name, d.label FROM staging.rooms d JOIN staging.teams t USING (team_id) ORDER BY t.name;
-- Every child row points at its own parent, through every re-keying (a
-- foreign key only says it points at some row): an account at the user
-- its environment gave it (the account number and the email name one
-- person: ACC-00000007 user7@..., ACC-ST2-00000007 st2.user7@...), a
-- transaction at its account (made a second or none after it, and, on an
-- environment's own account, changed so after it too).
SELECT count(*) AS r2_accounts,
       count(*) FILTER (WHERE u.email = CASE WHEN a.account_number ~ '^ACC-[0-9]+$'
                                             THEN 'user' || ltrim(substr(a.account_number, 5), '0') || '@example.com'
                                             ELSE 'st' || split_part(substr(a.account_number, 7), '-', 1) || '.user'
                                                  || ltrim(split_part(a.account_number, '-', 3), '0') || '@example.com'
                                        END) AS of_their_user
  FROM staging.accounts a JOIN staging.users u USING (user_id) WHERE a.tdm_release = 'R2';
SELECT count(*) AS r2_transactions,
       count(*) FILTER (WHERE t.created_at - a.created_at IN ('0 s', '1 s')
                          AND (a.account_number !~ '^ACC-ST' OR t.updated_at - a.updated_at IN ('0 s', '1 s')))
         AS on_their_account
  FROM staging.transactions t JOIN staging.accounts a USING (account_id) WHERE t.tdm_release = 'R2';
-- R3's rows are still there, next to R2's.
SELECT tdm_release, count(*) FROM staging.users GROUP BY 1 ORDER BY 1;
