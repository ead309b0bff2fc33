-- Bad input to tagging and detection: each refused with a clear error,
-- nothing left behind; and detection writes nothing durable.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(78);
\ir ../../sql/include/errors.sql

SELECT throws_ok($$SELECT tdm.tag_release('R404')$$, '42704',
  'tag_release: release "R404" does not exist', 'tag_release: unknown release');
SELECT throws_ok($$SELECT * FROM tdm.detect_conflicts('R404')$$, '42704',
  'detect_conflicts: release "R404" does not exist', 'detect_conflicts: unknown release');

SELECT tdm.create_release('RX');
SELECT throws_ok($$SELECT tdm.tag_release('RX')$$, '42704',
  'tag_release: no environments are registered', 'no environments');
SELECT throws_ok($$SELECT * FROM tdm.detect_conflicts('RX')$$, '42704',
  'detect_conflicts: no environments are registered', 'detect_conflicts: no environments');
SELECT tdm.add_environment('st1', 'st1', 10);
SELECT tdm.add_environment('st2', 'st2', 20);
SELECT throws_ok($$SELECT tdm.tag_release('RX')$$, '42704',
  'tag_release: no tables are managed', 'no managed tables');
SELECT tdm.manage_table('staging.users', '{email}', 'updated_at', '{role}');
SELECT throws_ok($$SELECT tdm.tag_release('RX')$$, '55000',
  'tag_release: release "RX" has no features', 'release with no features');
SELECT tdm.add_feature('RX', 'FEAT-101', 3);
-- Targets are schemas of the user's: not tdm's own, the system's or an
-- environment's; arguments without which a call means something else
-- are refused when NULL.
SELECT throws_ok($$SELECT tdm.promote('RX', 'staging', 'tdm')$$, '22023',
  'promote: schema "tdm" is not a target: it is tdm''s own', 'promote into tdm''s own schema');
SELECT throws_ok($$SELECT tdm.promote('RX', 'staging', 'information_schema')$$, '22023',
  'promote: schema "information_schema" is not a target: it is the system''s', 'promote into a system schema');
SELECT throws_ok($$SELECT tdm.promote('RX', 'staging', 'tdm_env_st1')$$, '22023',
  'promote: schema "tdm_env_st1" is not a target: it is an environment''s (its foreign tables)',
  'promote into an environment''s schema');
SELECT throws_ok($$SELECT tdm.promote('RX', 'staging', NULL)$$, '22004',
  'promote: to_target must not be NULL', 'promote to NULL');
SELECT throws_ok($$SELECT tdm.promote('RX', 'staging', '')$$, '22023',
  'promote: to_target must name a schema', 'promote to an empty name');
SELECT throws_ok($$SELECT tdm.promote('RX', 'staging', 'staging')$$, '22023',
  'promote: from_target and to_target are both "staging"', 'promote from a target into itself');
SELECT throws_ok($$SELECT tdm.promote('RX', 'nosuch')$$, '3F000',
  'promote: schema "nosuch" does not exist', 'promote from a missing schema');
SELECT is(pg_temp.hint_of($$SELECT tdm.promote('RX', 'nosuch')$$),
  'The managed tables are in staging: consolidate it there, then SELECT tdm.promote(''RX'', ''staging'');',
  'its hint sends to the schema of the managed tables');
SELECT throws_ok($$SELECT tdm.consolidate('RX', 'pg_catalog')$$, '22023',
  'consolidate: schema "pg_catalog" is not a target: it is the system''s', 'consolidate into a system schema');
SELECT throws_ok($$SELECT tdm.tag_release(NULL)$$, '22004',
  'tag_release: release must not be NULL', 'tagging a NULL release');
SELECT throws_ok($$SELECT tdm.tag_release('RX', wait => NULL)$$, '22004',
  'tag_release: wait must not be NULL', 'tagging with wait NULL');
SELECT throws_ok($$SELECT tdm.wait_job(NULL)$$, '22004',
  'wait_job: job_id must not be NULL', 'waiting for a NULL job');
SELECT throws_ok($$SELECT tdm.wait_job(1, '-5 seconds')$$, '22023',
  'wait_job: timeout must not be negative, not -00:00:05', 'a negative timeout');
SELECT throws_ok($$SELECT tdm.report(NULL)$$, '22004', 'report: run_id must not be NULL', 'a NULL run''s report');
SELECT throws_ok($$SELECT tdm.report(-1, NULL)$$, '22004', 'report: format must not be NULL', 'a NULL format');
SAVEPOINT read_only;
SET TRANSACTION READ ONLY;
SELECT throws_ok($$SELECT count(*) FROM tdm.detect_conflicts('R2')$$, '25006',
  'detect_conflicts: a read-only transaction cannot hold the temporary tables it collects into',
  'the dry run in a read-only transaction is refused as such');
ROLLBACK TO SAVEPOINT read_only;
SELECT throws_ok($$SELECT tdm.resolve_all('R2', NULL, 'x')$$, '22004', 'resolve_all: action must not be NULL',
  'a NULL action of resolve_all is its own, not a conflict''s');
SELECT throws_ok($$SELECT tdm.mask_column('staging.users', 'email', 'email', NULL)$$, '22004',
  'mask_column: options must not be NULL', 'NULL options are not taken for none');
SELECT throws_ok($$SELECT tdm.resolve_all(NULL, 'keep', 'x')$$, '22004',
  'resolve_all: release must not be NULL', 'resolving all of a NULL release');
SELECT throws_ok($$SELECT tdm.resolve(NULL, 'keep', rationale => 'x')$$, '22004',
  'decision: conflict_id must not be NULL', 'a decision on a NULL conflict');
SELECT throws_ok($$SELECT tdm.approve(NULL)$$, '22004', 'approve: conflict_id must not be NULL',
  'approving a NULL conflict');
-- NULLs before anything is read: no such snapshot, target or table yet.
SELECT throws_ok($$SELECT tdm.rollback(-1, NULL)$$, '22004', 'rollback: wait must not be NULL',
  'a rollback with wait NULL, to a snapshot that does not exist');
SELECT throws_ok($$SELECT tdm.snapshot('x', 'nowhere', NULL)$$, '22004', 'snapshot: wait must not be NULL',
  'a snapshot with wait NULL, of a target that does not exist');
SELECT throws_ok($$SELECT count(*) FROM tdm.detect_conflicts(NULL)$$, '22004',
  'detect_conflicts: release must not be NULL', 'the C functions name themselves too');
SELECT throws_ok($$SELECT tdm.manage_table(NULL)$$, '22004', 'manage_table: rel must not be NULL',
  'a NULL table to manage');
CREATE TEMP TABLE background_job AS SELECT tdm.tag_release('RX', wait => false) AS job_id;
SELECT is((SELECT status FROM tdm.job JOIN background_job USING (job_id)),
  'queued', 'background tagging queues a job for a worker (which starts at commit)');

-- An environment whose server went down after it was registered: a clear
-- error naming it, no job, no lock.
SAVEPOINT reachable;
CREATE SERVER st_down FOREIGN DATA WRAPPER postgres_fdw
  OPTIONS (host '127.0.0.1', port '1', dbname 'st_down');
CREATE USER MAPPING FOR CURRENT_USER SERVER st_down OPTIONS (user 'nobody');
INSERT INTO tdm.environment (name, server, precedence, remote_schema)
VALUES ('st_down', 'st_down', 90, 'public');
CREATE TEMP TABLE jobs_before AS SELECT count(*) AS n FROM tdm.job;
SELECT throws_like($$SELECT tdm.tag_release('RX')$$,
  'environment "st_down": cannot reach server "st_down": %',
  'tag_release: unreachable server named');
SELECT throws_like($$SELECT * FROM tdm.detect_conflicts('RX')$$,
  'environment "st_down": cannot reach server "st_down": %',
  'detect_conflicts: unreachable server named');
SELECT is((SELECT count(*) FROM tdm.job), (SELECT n FROM jobs_before), 'no job left behind');
SELECT is((SELECT status FROM tdm.release WHERE release = 'RX'), 'open', 'release still open');
ROLLBACK TO SAVEPOINT reachable;

-- An environment whose foreign server was dropped since: named, with what
-- to do, not PostgreSQL's error inside tdm's CREATE FOREIGN TABLE.
SAVEPOINT server_dropped;
CREATE SERVER st_gone FOREIGN DATA WRAPPER postgres_fdw OPTIONS (dbname 'st_gone');
INSERT INTO tdm.environment (name, server, precedence, remote_schema)
VALUES ('st_gone', 'st_gone', 90, 'public');
DROP SERVER st_gone;
SELECT throws_ok($$SELECT tdm.tag_release('RX')$$, '42704',
  'environment "st_gone": its server "st_gone" does not exist', 'a dropped server is named');
ROLLBACK TO SAVEPOINT server_dropped;
-- Renamed, the server still serves the environment's foreign tables: the
-- error names it, and the ways out (creating one under the old name would
-- point the environment elsewhere).
SAVEPOINT server_renamed;
CREATE SERVER st_moved FOREIGN DATA WRAPPER postgres_fdw OPTIONS (dbname 'st_moved');
INSERT INTO tdm.environment (name, server, precedence, remote_schema)
VALUES ('st_moved', 'st_moved', 90, 'public');
SELECT tdm._refresh_environment('st_moved');
ALTER SERVER st_moved RENAME TO st_moved_now;
SELECT throws_ok($$SELECT tdm.tag_release('RX')$$, '42704',
  'environment "st_moved": its server "st_moved" does not exist; its foreign tables use server "st_moved_now"',
  'a renamed server is named by its new name');
ROLLBACK TO SAVEPOINT server_renamed;

-- Names that look like another release's or feature's are refused: a
-- row tagged with one would silently belong to another release.
SELECT throws_ok($$SELECT tdm.create_release('rx')$$, '42710',
  'release "rx" differs from release "RX" only in case or spelling', 'a release name differing only in case');
SELECT throws_ok($$SELECT tdm.create_release('RX ')$$, '22023',
  'release name "RX " has spaces at its start or end', 'a release name with a trailing space');
-- (In a UTF8 database: a non-breaking space reads as a space, and e with
-- a combining acute accent as é.)
SELECT throws_ok($$SELECT tdm.create_release(E'RX\u00a0')$$, '22023',
  E'release name "RX\u00a0" has spaces at its start or end', 'a release name ending in a non-breaking space');
SELECT tdm.create_release(E'R\u00e9');
SELECT throws_ok($$SELECT tdm.create_release(E'R\u0065\u0301')$$, '42710',
  E'release "R\u0065\u0301" differs from release "R\u00e9" only in case or spelling',
  'a release name spelt with a combining accent');
SELECT throws_ok($$SELECT tdm.create_release(E'r\u00c9')$$, '42710',
  E'release "r\u00c9" differs from release "R\u00e9" only in case or spelling',
  'a release name differing in the case of an accented letter');
SELECT throws_ok($$SELECT tdm.create_release('RY', parent => 'rx')$$, '42704',
  'parent release "rx" of release "RY" does not exist', 'a parent named as a lookalike');
SELECT is((SELECT 1 FROM tdm.release WHERE release = 'RY'), NULL, 'is not created');
SELECT throws_ok($$SELECT tdm.remove_environment(NULL)$$, '22004', 'remove_environment: name must not be NULL',
  'removing a NULL environment');
SELECT throws_ok($$SELECT tdm.add_feature('RX', 'feat-101', 1)$$, '42710',
  'feature "feat-101" differs from feature "FEAT-101" only in case or spelling', 'a feature name differing only in case');

-- An environment whose user may read users but not accounts: tagging
-- says so in a finding, detection names the environment and the server to
-- grant on. (The role lives in the cluster: made and dropped over dblink.)
CREATE EXTENSION IF NOT EXISTS dblink;
\o /dev/null
\ir ../../sql/include/sessions.sql
-- (A release another session is consolidating is not promoted meanwhile:
-- the two would meet on the target's tables in opposite orders.)
SELECT dblink_connect('tap_consolidating', pg_temp.conninfo(current_database()));
SELECT * FROM dblink('tap_consolidating',
  $$SELECT pg_advisory_lock(hashtext('tdm.consolidate'), hashtext('RX'))::text$$) AS x(locked text);
\o
SELECT throws_ok($$SELECT tdm.promote('RX')$$, '55P03', 'promote: release "RX" is being consolidated',
  'a release being consolidated is not promoted meanwhile');
-- (Nor is another release consolidated into the same target meanwhile:
-- the call waits for it, here until lock_timeout.)
\o /dev/null
SELECT * FROM dblink('tap_consolidating',
  $$SELECT pg_advisory_lock(hashtext('tdm load'), hashtext('staging'))::text$$) AS x(locked text);
\o
SAVEPOINT waiting;
SELECT tdm.create_release('RZ');
UPDATE tdm.release SET status = 'locked' WHERE release = 'RZ';  -- (as tagging leaves it)
SET LOCAL lock_timeout = '300ms';
SELECT throws_like($$SELECT tdm.consolidate('RZ')$$,
  'consolidate: another consolidation into staging holds it, and lock_timeout (300ms) ended the wait',
  'consolidations into one target take turns: the second waits for the first');
ROLLBACK TO waiting;
\o /dev/null
SELECT dblink_disconnect('tap_consolidating');
SAVEPOINT readable;
SELECT dblink_exec(pg_temp.env_conninfo('st2'),
  'CREATE ROLE tdm_tap_reader LOGIN PASSWORD ''reader'';'
  ' GRANT SELECT (user_id, email, role, created_at, updated_at, tdm_release, tdm_feature)'
  '   ON users TO tdm_tap_reader');
CREATE SERVER st2_reader FOREIGN DATA WRAPPER postgres_fdw
  OPTIONS (host 'localhost', port '5432', dbname 'st2');
SELECT format('ALTER SERVER st2_reader OPTIONS (SET host %L, SET port %L, SET dbname %L)',
              pg_temp.opt(srvoptions, 'host'), pg_temp.opt(srvoptions, 'port'), pg_temp.opt(srvoptions, 'dbname'))
  FROM pg_foreign_server WHERE srvname = 'st2' \gexec
CREATE USER MAPPING FOR CURRENT_USER SERVER st2_reader
  OPTIONS (user 'tdm_tap_reader', password 'reader');
-- (st2 read by that user instead: one schema of one database is one
-- environment)
SELECT tdm.remove_environment('st2');
SELECT tdm.add_environment('st2_reader', 'st2_reader', 95);
SELECT tdm.manage_table('staging.accounts', '{account_number}', 'updated_at');
\o
SELECT lives_ok($$SELECT tdm.tag_release('RX')$$, 'tagging reports a table its user may not read');
SELECT is((SELECT count(*)::int FROM tdm.tag_finding
            WHERE env = 'st2_reader' AND rel = 'staging.accounts'::regclass
              AND detail = 'public.accounts in st2_reader is there, but the user mapping''s role of server'
                           ' st2_reader may not read it: grant it USAGE on schema public and SELECT on the table'
                           ' there'), 1,
  'a table the user may not read is a finding that says so, with the GRANT');
SELECT throws_ok($$SELECT * FROM tdm.detect_conflicts('RX')$$, '42501',
  'collect: environment "st2_reader" does not let its user read accounts: permission denied for table accounts',
  'detection names the environment whose user may not read a table');
-- Every column of accounts now, all but full_name of users.
\o /dev/null
SELECT dblink_exec(pg_temp.env_conninfo('st2'), 'GRANT SELECT ON accounts TO tdm_tap_reader');
\o
SELECT throws_ok($$SELECT * FROM tdm.detect_conflicts('RX')$$, '42501',
  'collect: environment "st2_reader" does not let its user read users: permission denied for table users',
  'detection names the environment whose user may not read a column');
-- (not a column the environment lacks, which would be read as NULL)
SELECT is((SELECT detail FROM tdm._schema_drift('st2_reader', 'staging.users') WHERE column_name = 'full_name'),
  'column full_name (text) of staging.users in st2_reader: the user mapping''s role may not read it; grant it'
  ' SELECT on the column there',
  'a column hidden from the user is told apart from one the environment lacks');
-- A schema the user may not use, though it may read a table there: a
-- finding that names the server, not the remote error.
SAVEPOINT unusable;
\o /dev/null
SELECT dblink_exec(pg_temp.env_conninfo('st2'),
  'CREATE SCHEMA tap_private; CREATE TABLE tap_private.users (LIKE public.users);'
  ' GRANT SELECT ON tap_private.users TO tdm_tap_reader;'
  ' GRANT USAGE ON SCHEMA tap_private TO tdm_tap_reader');
-- (a server of its own: st2_reader's remote transaction began before the
-- schema was made, and would not see it)
CREATE SERVER st2_private FOREIGN DATA WRAPPER postgres_fdw
  OPTIONS (host 'localhost', port '5432', dbname 'st2');
SELECT format('ALTER SERVER st2_private OPTIONS (SET host %L, SET port %L, SET dbname %L)',
              pg_temp.opt(srvoptions, 'host'), pg_temp.opt(srvoptions, 'port'), pg_temp.opt(srvoptions, 'dbname'))
  FROM pg_foreign_server WHERE srvname = 'st2' \gexec
CREATE USER MAPPING FOR CURRENT_USER SERVER st2_private
  OPTIONS (user 'tdm_tap_reader', password 'reader');
SELECT tdm.add_environment('st2_private', 'st2_private', 96, remote_schema => 'tap_private');
SELECT dblink_exec(pg_temp.env_conninfo('st2'), 'REVOKE USAGE ON SCHEMA tap_private FROM tdm_tap_reader');
\o
SELECT lives_ok($$SELECT tdm.tag_release('RX')$$, 'tagging reports a schema its user may not use');
SELECT is((SELECT count(*)::int FROM tdm.tag_finding
            WHERE env = 'st2_private' AND rel = 'staging.users'::regclass AND severity = 'error'
              AND detail LIKE 'the user of server st2_private may not read st2_private.users: permission denied for schema tap_private%'), 1,
  'a schema the user may not use is a finding naming the server');
-- Row level security on the environment's table, whose reader neither
-- owns it nor bypasses it: rows its policies hide would go unseen, a
-- warning says so. (A server of its own again, for a remote transaction
-- that sees the change.)
\o /dev/null
SELECT dblink_exec(pg_temp.env_conninfo('st2'), 'ALTER TABLE tap_private.users ENABLE ROW LEVEL SECURITY');
CREATE SERVER st2_rls FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'localhost', port '5432', dbname 'st2');
SELECT format('ALTER SERVER st2_rls OPTIONS (SET host %L, SET port %L, SET dbname %L)',
              pg_temp.opt(srvoptions, 'host'), pg_temp.opt(srvoptions, 'port'), pg_temp.opt(srvoptions, 'dbname'))
  FROM pg_foreign_server WHERE srvname = 'st2' \gexec
CREATE USER MAPPING FOR CURRENT_USER SERVER st2_rls OPTIONS (user 'tdm_tap_reader', password 'reader');
SELECT tdm.remove_environment('st2_private');
SELECT tdm.add_environment('st2_rls', 'st2_rls', 97, remote_schema => 'tap_private');
SELECT tdm.tag_release('RX');
\o
SELECT is((SELECT count(*)::int FROM tdm.tag_finding
            WHERE env = 'st2_rls' AND rel = 'staging.users'::regclass AND severity = 'warning'
              AND detail LIKE 'row level security is on for tap_private.users in environment st2_rls, and its reader there (tdm_tap_reader) neither owns it nor bypasses it: rows its policies hide %'), 1,
  'row level security hiding rows from the environment''s reader is a warning at tagging');
ROLLBACK TO SAVEPOINT unusable;
ROLLBACK TO SAVEPOINT readable;
\o /dev/null
SELECT dblink_exec(pg_temp.env_conninfo('st2'), 'DROP SCHEMA IF EXISTS tap_private CASCADE');
SELECT dblink_exec(pg_temp.env_conninfo('st2'),
  'REVOKE ALL ON users, accounts FROM tdm_tap_reader; DROP ROLE tdm_tap_reader');
\o

-- A managed table that does not exist in the environments.
CREATE TABLE staging.nowhere (id int PRIMARY KEY, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.nowhere');
SELECT lives_ok($$SELECT tdm.tag_release('RX')$$, 'tagging reports a missing remote table');
SELECT is((SELECT count(*)::int FROM tdm.tag_finding
            WHERE kind = 'schema_drift' AND severity = 'error'
              AND detail = 'table nowhere does not exist in st1 (remote schema public), or the user mapping''s role may not read it'), 1,
  'missing remote table is an error finding');
SELECT is((SELECT status FROM tdm.release WHERE release = 'RX'), 'open',
  'an error finding keeps the release open');
SELECT throws_ok($$SELECT * FROM tdm.detect_conflicts('RX')$$, '42P01',
  'collect: table nowhere does not exist in environment "st1"',
  'detection refuses a missing remote table');
DELETE FROM tdm.managed_table WHERE rel = 'staging.nowhere'::regclass;

-- Tag columns the environments do not have.
ALTER TABLE staging.transactions RENAME COLUMN tdm_release TO release_tag;
SELECT tdm.manage_table('staging.transactions', release_column => 'release_tag');
SELECT lives_ok($$SELECT tdm.tag_release('RX')$$, 'tagging reports missing tag columns');
SELECT is((SELECT count(*)::int FROM tdm.tag_finding
            WHERE kind = 'schema_drift' AND rel = 'staging.transactions'::regclass
              AND detail LIKE 'column release_tag (text) of staging.transactions is missing in %'), 2,
  'missing tag column is a finding in each environment');
SELECT throws_like($$SELECT * FROM tdm.detect_conflicts('RX')$$,
  'collect: environment "st1" cannot provide staging.transactions: column release_tag %',
  'detection refuses missing tag columns');
DELETE FROM tdm.managed_table WHERE rel = 'staging.transactions'::regclass;
ALTER TABLE staging.transactions RENAME COLUMN release_tag TO tdm_release;

-- Detection writes nothing durable.
CREATE TEMP TABLE before AS
  SELECT (SELECT count(*) FROM tdm.job) AS jobs, (SELECT count(*) FROM tdm.audit) AS audit_rows,
         (SELECT count(*) FROM tdm.tag_finding) AS findings,
         (SELECT count(*) FROM tdm.release_lock) AS locks;
SELECT lives_ok($$SELECT * FROM tdm.detect_conflicts('RX')$$, 'detection runs');
SELECT results_eq(
  $$SELECT (SELECT count(*) FROM tdm.job), (SELECT count(*) FROM tdm.audit),
           (SELECT count(*) FROM tdm.tag_finding), (SELECT count(*) FROM tdm.release_lock)$$,
  $$SELECT jobs, audit_rows, findings, locks FROM before$$,
  'detection wrote no catalog row');
-- Nor does the session's search_path change what detection calls: a
-- function of the user's that shadows a built-in one is not run.
SAVEPOINT shadowed;
CREATE SCHEMA tap_shadow;
CREATE FUNCTION tap_shadow.btrim(text) RETURNS text LANGUAGE plpgsql AS
  $$BEGIN RAISE EXCEPTION 'the shadowing btrim ran'; END$$;
SET LOCAL search_path = tap_shadow, pg_catalog, public;
SELECT lives_ok($$SELECT * FROM tdm.detect_conflicts('RX')$$,
  'detection runs with a search_path that shadows a built-in function');
ROLLBACK TO SAVEPOINT shadowed;

-- A column renamed after registration is refused by name; a foreign key
-- added after it is read from the catalog.
SAVEPOINT renamed;
ALTER TABLE staging.users RENAME COLUMN role TO user_role;
SELECT throws_ok($$SELECT tdm.tag_release('RX')$$, '42703',
  'tag_release: table staging.users has no column role any more, its core column as tdm.manage_table registered it',
  'a registered column renamed since is refused by name');
ROLLBACK TO SAVEPOINT renamed;
SAVEPOINT added_fk;
CREATE TABLE staging.tap_parent (id int PRIMARY KEY, tdm_release text, tdm_feature text);
CREATE TABLE staging.tap_child (id int PRIMARY KEY, parent_id int, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.tap_child');
ALTER TABLE staging.tap_child ADD FOREIGN KEY (parent_id) REFERENCES staging.tap_parent;
\o /dev/null
SELECT tdm.tag_release('RX');  -- (its findings aside: tap_child is in no environment)
\o
SELECT is((SELECT jsonb_array_length(foreign_keys) FROM tdm.managed_table
            WHERE rel = 'staging.tap_child'::regclass), 1,
  'tagging reads a foreign key added after registration from the catalog');
ROLLBACK TO SAVEPOINT added_fk;

-- An environment retired after a release was locked with its rows: its
-- foreign tables go, the audit says so, and the release's consolidation
-- is refused (its rows would be left out) until it is tagged again.
-- (The lock as tagging leaves it, written here: the environments' rows
-- are other suites' too, and change.)
SAVEPOINT retired;
SELECT tdm.create_release('RRET'), tdm.add_feature('RRET', 'FEAT-101', 1);
INSERT INTO tdm.release_lock (release, env, rel, row_count, checksum)
VALUES ('RRET', 'st1', 'staging.users', 0, '0'), ('RRET', 'st2', 'staging.users', 2, '0');
UPDATE tdm.release SET status = 'locked' WHERE release = 'RRET';
SELECT tdm.remove_environment('st2');
SELECT is((SELECT count(*)::int FROM pg_class WHERE relnamespace = 'tdm_env_st2'::regnamespace),
  0, 'the retired environment''s foreign tables are dropped');
SELECT is((SELECT detail ->> 'server' FROM tdm.audit WHERE action = 'remove_environment'),
  'st2', 'retiring an environment is audited');
SELECT throws_ok($$SELECT tdm.consolidate('RRET')$$, '55000',
  'release RRET was locked with 2 row(s) of environment st2, which is no longer registered',
  'a release locked with a retired environment''s rows is refused');
SELECT throws_ok($$SELECT tdm.remove_environment('st2')$$, '42704', 'remove_environment: environment "st2" does not exist',
  'an unknown environment');
ROLLBACK TO SAVEPOINT retired;
-- The same for a table managed no more since the lock.
SAVEPOINT unmanaged;
SELECT tdm.create_release('RUNM'), tdm.add_feature('RUNM', 'FEAT-101', 1);
INSERT INTO tdm.release_lock (release, env, rel, row_count, checksum)
VALUES ('RUNM', 'st1', 'staging.accounts', 3, '0');
UPDATE tdm.release SET status = 'locked' WHERE release = 'RUNM';
SELECT tdm.manage_table('staging.accounts', '{account_number}');
SELECT tdm.unmanage_table('staging.accounts');
SELECT throws_ok($$SELECT tdm.consolidate('RUNM')$$, '55000',
  'release RUNM was locked with 3 row(s) of staging.accounts, which is managed no more',
  'a release locked with rows of a table unmanaged since is refused, not consolidated without them');
ROLLBACK TO SAVEPOINT unmanaged;

-- A reviewer neither tags nor detects.
CREATE ROLE tap_gate_reviewer IN ROLE tdm_reviewer;
SET ROLE tap_gate_reviewer;
SELECT throws_ok($$SELECT tdm.tag_release('RX')$$, '42501', NULL, 'reviewer cannot tag');
SELECT throws_ok($$SELECT * FROM tdm.detect_conflicts('RX')$$, '42501', NULL,
  'reviewer cannot run detection');
RESET ROLE;

-- A run made for a background consolidation whose job ended with no call
-- having worked on it is failed (the next call starts a new one); a run a
-- call worked on stays as it was.
INSERT INTO tdm.job (kind, release, status, detail) VALUES ('consolidate', 'RX', 'queued', '{}')
RETURNING job_id AS unworked_job \gset
INSERT INTO tdm.run (release, target, job_id) VALUES ('RX', 'staging', :unworked_job)
RETURNING run_id AS unworked_run \gset
UPDATE tdm.job SET detail = jsonb_build_object('run_id', :unworked_run) WHERE job_id = :unworked_job;
UPDATE tdm.job SET status = 'cancelled' WHERE job_id = :unworked_job;
SELECT is((SELECT status FROM tdm.run WHERE run_id = :unworked_run), 'failed',
  'a run no call worked on is failed when its background job ends without working on it');
INSERT INTO tdm.job (kind, release, status, detail) VALUES ('consolidate', 'RX', 'running', '{}')
RETURNING job_id AS worked_job \gset
INSERT INTO tdm.run (release, target, job_id, status, calls) VALUES ('RX', 'staging', :worked_job, 'awaiting_review', 1)
RETURNING run_id AS worked_run \gset
UPDATE tdm.job SET detail = jsonb_build_object('run_id', :worked_run) WHERE job_id = :worked_job;
UPDATE tdm.job SET status = 'failed' WHERE job_id = :worked_job;
SELECT is((SELECT status FROM tdm.run WHERE run_id = :worked_run), 'awaiting_review',
  'a run calls worked on stays as it was when a later call''s job fails');

SELECT * FROM finish();
ROLLBACK;
