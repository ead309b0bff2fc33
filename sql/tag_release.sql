-- Phase 1.5: tdm.tag_release checks every environment's tags and locks the
-- tagged data; collection refuses data changed after the lock.
\set SHOW_CONTEXT never
CREATE SCHEMA plant_st1;
CREATE SCHEMA plant_st2;
CREATE SCHEMA plant_st3;
IMPORT FOREIGN SCHEMA public LIMIT TO (users, accounts, transactions)
  FROM SERVER st1 INTO plant_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (users, accounts, transactions)
  FROM SERVER st2 INTO plant_st2;
IMPORT FOREIGN SCHEMA public LIMIT TO (users, accounts, transactions)
  FROM SERVER st3 INTO plant_st3;

-- The release plan of R2 lacks four of the features its rows carry.
SELECT tdm.tag_release('R2') AS job;
SELECT env, rel, kind, severity, row_count, detail
  FROM tdm.tag_finding WHERE job_id = 1 ORDER BY env, rel::text, kind, detail;
SELECT release, status, locked_at IS NULL AS not_locked FROM tdm.release WHERE release = 'R2';
-- Consolidating it says where the findings that kept it open are.
SELECT tdm.consolidate('R2');

-- Completing the plan locks the release: row count and checksum per
-- environment and table.
SELECT tdm.add_feature('R2', f, 1) FROM unnest('{FEAT-103,FEAT-106,FEAT-107,FEAT-108}'::text[]) f;
SELECT tdm.tag_release('R2') AS job;
SELECT count(*) AS findings FROM tdm.tag_finding WHERE job_id = 2;
SELECT release, status, locked_at IS NOT NULL AS locked FROM tdm.release WHERE release = 'R2';
SELECT env, rel, row_count FROM tdm.release_lock WHERE release = 'R2' ORDER BY env, rel::text;
SELECT job_id, kind, release, status, detail - 'phase_ms' AS detail,
       finished_at >= started_at AS timed
  FROM tdm.job ORDER BY job_id;

-- Planted defects, one per finding kind.
INSERT INTO plant_st1.users VALUES
  (90001, 'untagged@example.com', 'No Tag', 'Customer', now(), now(), NULL, NULL);
INSERT INTO plant_st2.users VALUES
  (90002, 'typo@example.com', 'Release Typo', 'Customer', now(), now(), 'R22', 'FEAT-101');
INSERT INTO plant_st3.users VALUES
  (90003, 'orphan.parent@example.com', 'Parent Of Nothing', 'Customer', now(), now(), NULL, NULL),
  (90004, 'nofeature@example.com', 'No Feature', 'Customer', now(), now(), 'R2', 'FEAT-999');
INSERT INTO plant_st3.accounts VALUES
  (90003, 90003, 'ACC-ORPHAN', 5, 'EUR', now(), now(), 'R2', 'FEAT-101');
ALTER TABLE staging.users ADD COLUMN nickname text;
ALTER TABLE staging.users ALTER COLUMN full_name TYPE varchar(200);
SELECT tdm.tag_release('R2') AS job;
SELECT env, rel, kind, severity, row_count, detail, example_keys
  FROM tdm.tag_finding WHERE job_id = 3 ORDER BY env, rel::text, kind, detail;
SELECT release, status FROM tdm.release WHERE release = 'R2';
SELECT count(*) AS lock_rows FROM tdm.release_lock WHERE release = 'R2';

-- Mended: the release locks again.
ALTER TABLE staging.users DROP COLUMN nickname;
ALTER TABLE staging.users ALTER COLUMN full_name TYPE text;
DELETE FROM plant_st3.accounts WHERE account_id = 90003;
DELETE FROM plant_st1.users WHERE user_id = 90001;
DELETE FROM plant_st2.users WHERE user_id = 90002;
DELETE FROM plant_st3.users WHERE user_id IN (90003, 90004);
SELECT tdm.tag_release('R2') AS job;
SELECT release, status FROM tdm.release WHERE release = 'R2';

-- Data changed after tagging is refused, with counts.
INSERT INTO plant_st3.users VALUES
  (90005, 'late@example.com', 'Too Late', 'Customer', now(), now(), 'R2', 'FEAT-101');
\set VERBOSITY terse
SELECT count(*) FROM tdm.detect_conflicts('R2');
UPDATE plant_st3.users SET tdm_release = NULL WHERE user_id = 90005;
UPDATE plant_st2.users SET full_name = full_name || ' Jr' WHERE user_id = 1;
SELECT count(*) FROM tdm.detect_conflicts('R2');
\set VERBOSITY default
UPDATE plant_st2.users SET full_name = left(full_name, -3) WHERE user_id = 1;
DELETE FROM plant_st3.users WHERE user_id = 90005;
SELECT count(*) > 0 AS conflicts_found FROM tdm.detect_conflicts('R2');
-- A migration of the target alone after tagging (a wider scale): the same
-- rows read otherwise, and the error says the target's columns changed
-- since the lock, not that the environment's data changed.
ALTER TABLE staging.accounts ALTER COLUMN balance TYPE numeric(14, 3);
\set VERBOSITY terse
SELECT count(*) FROM tdm.detect_conflicts('R2');
\set VERBOSITY default
ALTER TABLE staging.accounts ALTER COLUMN balance TYPE numeric(12, 2);

-- An environment's own lock_timeout ends a read there (another session
-- there holds a lock on its users): the error names the environment, so
-- it is not taken for this session's timeout.
CREATE EXTENSION IF NOT EXISTS dblink;
\ir sql/include/sessions.sql
SELECT dblink_connect('st3_holder', pg_temp.env_conninfo('st3'));
SELECT dblink_exec('st3_holder', 'BEGIN'), dblink_exec('st3_holder', 'LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
CREATE FUNCTION pg_temp.st3_lock_timeout(setting text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('ALTER ROLE %I IN DATABASE st3 %s',
                 (SELECT o.option_value FROM pg_user_mappings u, pg_options_to_table(u.umoptions) o
                   WHERE u.srvname = 'st3' AND u.usename = current_user AND o.option_name = 'user'),
                 CASE WHEN setting IS NULL THEN 'RESET lock_timeout'
                      ELSE format('SET lock_timeout = %L', setting) END);
END
$$;
SELECT pg_temp.st3_lock_timeout('200ms'), postgres_fdw_disconnect_all() IS NOT NULL AS reconnects;
SELECT tdm.tag_release('R2');
SELECT pg_temp.st3_lock_timeout(NULL), postgres_fdw_disconnect_all() IS NOT NULL AS reconnects;
SELECT dblink_exec('st3_holder', 'ROLLBACK'), dblink_disconnect('st3_holder');

-- An environment migrated after the lock (a wider scale) where a value
-- then changed by less than the target's numeric(12,2) keeps: read back,
-- it rounds to the locked value and the checksum agrees. The
-- environment's catalog tells, before any row is read.
SELECT dblink_connect('st2_migrator', pg_temp.env_conninfo('st2'));
SELECT dblink_exec('st2_migrator', 'ALTER TABLE accounts ALTER COLUMN balance TYPE numeric(14, 3)'),
       dblink_exec('st2_migrator', $$UPDATE accounts SET balance = balance + 0.001
                                     WHERE account_id = (SELECT min(account_id) FROM accounts
                                                          WHERE tdm_release = 'R2')$$);
\set VERBOSITY terse
SELECT count(*) FROM tdm.detect_conflicts('R2');
\set VERBOSITY default
SELECT dblink_exec('st2_migrator', $$UPDATE accounts SET balance = balance - 0.001
                                     WHERE account_id = (SELECT min(account_id) FROM accounts
                                                          WHERE tdm_release = 'R2')$$),
       dblink_exec('st2_migrator', 'ALTER TABLE accounts ALTER COLUMN balance TYPE numeric(12, 2)');
SELECT count(*) > 0 AS conflicts_found FROM tdm.detect_conflicts('R2');
-- A migration after the lock to a type the target's widens (varchar(200)
-- where the target has text) reads every value as it was: not refused.
-- A change of a row there is still a change.
SELECT dblink_exec('st2_migrator', 'ALTER TABLE users ALTER COLUMN full_name TYPE varchar(200)');
SELECT count(*) > 0 AS conflicts_found FROM tdm.detect_conflicts('R2');
SELECT dblink_exec('st2_migrator', $$UPDATE users SET full_name = full_name || ' Jr' WHERE user_id = 1$$);
\set VERBOSITY terse
SELECT count(*) FROM tdm.detect_conflicts('R2');
\set VERBOSITY default
SELECT dblink_exec('st2_migrator', $$UPDATE users SET full_name = left(full_name, -3) WHERE user_id = 1$$),
       dblink_exec('st2_migrator', 'ALTER TABLE users ALTER COLUMN full_name TYPE text'),
       dblink_disconnect('st2_migrator');
SELECT count(*) > 0 AS conflicts_found FROM tdm.detect_conflicts('R2');

-- A release no row is tagged for is locked empty, with a warning.
SELECT tdm.create_release('R-EMPTY'), tdm.add_feature('R-EMPTY', 'FEAT-EMPTY', 1);
SELECT tdm.tag_release('R-EMPTY') IS NOT NULL AS tagged;
SELECT status, (SELECT sum(row_count) FROM tdm.release_lock l WHERE l.release = 'R-EMPTY') AS locked_rows
  FROM tdm.release WHERE release = 'R-EMPTY';

-- Tagging leaves an audit row per run and the chain intact.
SELECT action, object, detail FROM tdm.audit WHERE action = 'tag_release' ORDER BY audit_id;
SELECT count(*) AS broken_links FROM tdm.verify_audit();
