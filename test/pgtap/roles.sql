-- Roles and grants: tdm_admin runs setup without being superuser;
-- tdm_reviewer reads the catalog and nothing else; credentials of user
-- mappings never reach tdm's tables.
BEGIN;
SELECT plan(66);
\ir ../../sql/include/errors.sql
\getenv password PGPASSWORD
\getenv login PGUSER

SELECT has_role('tdm_admin', 'the extension created tdm_admin');
SELECT has_role('tdm_reviewer', 'the extension created tdm_reviewer');

CREATE ROLE tap_admin IN ROLE tdm_admin;
CREATE ROLE tap_reviewer IN ROLE tdm_reviewer;
GRANT USAGE ON SCHEMA staging TO tap_admin, tap_reviewer;
GRANT SELECT ON ALL TABLES IN SCHEMA staging TO tap_admin;
GRANT USAGE ON FOREIGN SERVER st1 TO tap_admin;
-- postgres_fdw requires a password in a non-superuser's mapping.
CREATE USER MAPPING FOR tap_admin SERVER st1 OPTIONS (user :'login', password :'password');

-- A reviewer: setup refused, catalog readable, catalog not writable.
SET ROLE tap_reviewer;
SELECT throws_ok($$SELECT tdm.add_environment('st1', 'st1')$$, '42501',
  'permission denied for function add_environment', 'reviewer cannot add an environment');
SELECT throws_ok($$SELECT tdm.manage_table('staging.users')$$, '42501',
  'permission denied for function manage_table', 'reviewer cannot manage a table');
SELECT throws_ok($$SELECT tdm.create_release('R7')$$, '42501',
  'permission denied for function create_release', 'reviewer cannot create a release');
SELECT throws_ok($$SELECT tdm.add_feature('R7', 'F', 1)$$, '42501',
  'permission denied for function add_feature', 'reviewer cannot add a feature');
SELECT throws_ok($$SELECT tdm.add_rule('r', 'staging.accounts', 'true')$$, '42501',
  'permission denied for function add_rule', 'reviewer cannot add a rule');
SELECT throws_ok($$INSERT INTO tdm.release (release) VALUES ('R7')$$, '42501', NULL,
  'reviewer cannot write the catalog directly');
SELECT throws_ok($$SELECT tdm.mask_column('staging.users', 'full_name', 'hash')$$, '42501',
  'permission denied for function mask_column', 'reviewer cannot mask a column');
SELECT throws_ok($$SELECT * FROM tdm.mask_key$$, '42501', 'permission denied for table mask_key',
  'reviewer cannot read the masks'' key (it would let a hash mask be reversed by guessing)');
SELECT throws_ok($$SELECT checksum FROM tdm.release_lock$$, '42501', 'permission denied for table release_lock',
  'reviewer cannot read a lock''s checksum (an unkeyed hash of the rows unmasked)');
SELECT lives_ok($$SELECT release, env, rel, row_count, locked_at, shape FROM tdm.release_lock$$,
  'reviewer reads the rest of a lock');
SELECT throws_ok($$SELECT * FROM tdm.find_pii()$$, '42501', 'permission denied for function find_pii',
  'reviewer cannot scan for personal data');
SELECT throws_ok($$SELECT * FROM tdm.schema_diff('st1', 'local')$$, '42501',
  'permission denied for function schema_diff', 'reviewer cannot compare environments');
SELECT lives_ok($$SELECT * FROM tdm.environment, tdm.managed_table, tdm.release, tdm.feature,
                          tdm.rule, tdm.job, tdm.audit$$, 'reviewer reads the catalog');
-- What a decision changes besides itself is written for the reviewer by a
-- definer's trigger: a reviewer writes no audit row, and no conflict
-- status, directly.
SELECT throws_ok($$INSERT INTO tdm.audit (action, object, prev_hash, hash)
                   VALUES ('approve', 'C-000000000000', '', '')$$, '42501', NULL,
  'reviewer cannot write an audit row');
SELECT throws_ok($$SELECT tdm._audit('consolidate', 'R7')$$, '42501', NULL,
  'reviewer cannot call the audit writer');
SELECT throws_ok($$SELECT tdm._mark_conflict('C-000000000000', 'auto_resolved')$$, '42501', NULL,
  'reviewer cannot set a conflict''s status');
-- (A reviewer who names no release there is is sent to the list, not
-- told to create one.)
SELECT is((pg_temp.error_of($$SELECT tdm.resolve_all('R9', 'keep', 'x', keep_env => 'st1')$$)).hint,
  'Releases are in tdm.release.', 'a reviewer naming an unknown release is not told to create it');
RESET ROLE;
-- The definer's key lookup answers for keys only, not any column.
SELECT tdm.manage_table('staging.users', '{email}');
-- A reviewer's decision is audited under the reviewer's role, and its
-- withdrawal under a role the session holds, whatever the statement sets
-- meanwhile (RETURNING runs before the recording trigger).
INSERT INTO tdm.release (release, code_version) VALUES ('TAP-ROLES', 'v0');
INSERT INTO tdm.run (run_id, release, target) VALUES (-21, 'TAP-ROLES', 'staging');
INSERT INTO tdm.conflict (run_id, conflict_id, rel, kind, class, priority, status, rule, members)
VALUES (-21, 'C-taproles001', 'staging.users', 'attribute_conflict', 'complex', 3, 'pending', 'manual',
        '[{"env": "st1", "row": {"user_id": 1}}, {"env": "st2", "row": {"user_id": 1}}]');
SET SESSION AUTHORIZATION tap_reviewer;
INSERT INTO tdm.decision (conflict_id, action, keep_env, rationale)
VALUES ('C-taproles001', 'keep', 'st1', 'st1 is right')
RETURNING set_config('tdm_decision.role', 'tdm_admin', true) IS NOT NULL AS forged;
DELETE FROM tdm.decision WHERE conflict_id = 'C-taproles001'
RETURNING set_config('tdm_decision.role', '', true) IS NOT NULL AS suppressed;
RESET SESSION AUTHORIZATION;
SELECT results_eq($$SELECT action, role FROM tdm.audit WHERE object = 'C-taproles001' ORDER BY audit_id$$,
                  $$VALUES ('decide', 'tap_reviewer'::name), ('withdraw_decision', 'tap_reviewer'::name)$$,
                  'a reviewer can neither choose the audited role nor skip the audit row');
SET ROLE tap_reviewer;
RESET ROLE;
-- (The lookups a decision's check makes with the owner's rights answer
-- for values the caller may not read: reviewers execute only the one a
-- decision's check calls, on a conflict's table and release, and not
-- outside a trigger.)
SET SESSION AUTHORIZATION tap_reviewer;
SELECT throws_ok($$SELECT tdm._key_in_release('staging.users', '{email}', '{"email": "x"}', 'R7')$$,
  '42501', 'permission denied for function _key_in_release',
  'a reviewer cannot execute the environments'' key lookup of any table and release');
SELECT throws_ok($$SELECT tdm._key_holder('staging.users', '{email}', '{"email": "x"}', 'R7')$$,
  '42501', 'permission denied for function _key_holder', 'nor the targets'' one');
SELECT throws_ok($$SELECT tdm._key_taken_for('C-taproles001', '{email}', '{"email": "x"}', true)$$,
  '42501', 'tdm._key_taken_for is the decision check''s: tap_reviewer may not call it directly',
  'nor the decision check''s own, outside a decision''s check');
-- A reviewer's own trigger (on a temporary table) is a trigger too: what
-- it may ask is what a decision may, on a conflict of a release not in
-- master.
CREATE TEMP TABLE spy_on (x int);
CREATE FUNCTION pg_temp.spy() RETURNS trigger LANGUAGE plpgsql AS $spy$
BEGIN
  PERFORM tdm._key_taken_for('C-taproles001', '{email}', '{"email": "x"}', true);
  RETURN NEW;
END
$spy$;
CREATE TRIGGER spy BEFORE INSERT ON spy_on FOR EACH ROW EXECUTE FUNCTION pg_temp.spy();
SELECT lives_ok($$INSERT INTO spy_on VALUES (1)$$,
  'a reviewer''s own trigger may ask what a decision on a pending conflict could');
RESET SESSION AUTHORIZATION;
UPDATE tdm.release SET status = 'promoted' WHERE release = 'TAP-ROLES';
SET SESSION AUTHORIZATION tap_reviewer;
SELECT throws_ok($$INSERT INTO spy_on VALUES (1)$$,
  '55000', 'tdm._key_taken_for: conflict "C-taproles001" is no conflict a decision can be taken on',
  'and nothing of a release in master, on which no decision can be taken');
RESET SESSION AUTHORIZATION;
UPDATE tdm.release SET status = 'open' WHERE release = 'TAP-ROLES';
SET SESSION AUTHORIZATION tap_reviewer;
DROP TABLE spy_on;
RESET SESSION AUTHORIZATION;

-- An admin who is not superuser sets up a release.
SET ROLE tap_admin;
SELECT lives_ok($$SELECT tdm.add_environment('st1', 'st1', 10)$$, 'admin adds an environment');
SELECT lives_ok($$SELECT tdm.manage_table('staging.accounts', '{account_number}')$$,
  'admin manages a table');
SELECT lives_ok($$SELECT tdm.create_release('R7')$$, 'admin creates a release');
SELECT lives_ok($$SELECT tdm.add_rule('r7', 'staging.accounts', 'balance >= 0')$$,
  'admin adds a rule');
SELECT lives_ok($$SELECT tdm.add_feature('R7', 'FEAT-101', 1)$$, 'admin plans a feature');
SELECT lives_ok($$SELECT tdm.tag_release('R7')$$, 'admin tags a release');
SELECT lives_ok($$SELECT * FROM tdm.detect_conflicts('R7')$$, 'admin previews conflicts');
SELECT throws_ok($$SELECT tdm._require_privileges('consolidate', 'staging', '{SELECT,INSERT,DELETE}')$$, '42501',
  'consolidate: tap_admin lacks INSERT, DELETE on staging.accounts; INSERT, DELETE on staging.users in schema staging',
  'consolidating needs INSERT and DELETE on the target''s tables: named (consolidate asks before reading the target)');
-- Row level security that applies to the caller on a target table: its
-- policies would hide or refuse rows; named before anything is read.
RESET ROLE;
ALTER TABLE staging.accounts ENABLE ROW LEVEL SECURITY;
SET ROLE tap_admin;
SELECT throws_ok($$SELECT tdm._refuse_row_security('consolidate', 'staging')$$, '42501',
  'consolidate: row level security applies to tap_admin on staging.accounts',
  'row level security on a target table that applies to the caller is named');
SELECT throws_ok($$SELECT tdm.snapshot('rls', 'staging')$$, '42501',
  'snapshot: row level security applies to tap_admin on staging.accounts',
  'a snapshot is refused too: its copy would hold the rows the policies hide from the caller');
RESET ROLE;
ALTER TABLE staging.accounts DISABLE ROW LEVEL SECURITY;
-- (A table of one's own under FORCE ROW LEVEL SECURITY: the way out is
-- the owner's.)
CREATE SCHEMA tap_forced;
GRANT USAGE ON SCHEMA tap_forced TO tap_admin;
CREATE TABLE tap_forced.accounts (LIKE staging.accounts);
ALTER TABLE tap_forced.accounts OWNER TO tap_admin;
ALTER TABLE tap_forced.accounts ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
SET ROLE tap_admin;
SELECT is((pg_temp.error_of($$SELECT tdm._refuse_row_security('snapshot', 'tap_forced')$$)).hint,
  'You own tap_forced.accounts, and FORCE ROW LEVEL SECURITY applies its policies to you too: ALTER TABLE ... NO FORCE ROW LEVEL SECURITY, or run it as a role with BYPASSRLS.',
  'its owner under FORCE ROW LEVEL SECURITY is told to lift the FORCE');
-- Forging an audit row: who, when and the hashes are the trigger's.
INSERT INTO tdm.audit (action, object, actor, role, prev_hash, hash)
VALUES ('forged', 'x', 'someone_else', 'tdm_admin', 'f', 'f');
SELECT throws_ok($$SELECT tdm._bridge_spin(1)$$, '42501', NULL,
  'admin cannot call the bridge diagnostics');
-- The decision recorder, put on a table of one's own, would write audit
-- rows under a role of the caller's choosing: it refuses.
CREATE TEMP TABLE forged_decisions (LIKE tdm.decision INCLUDING DEFAULTS);
CREATE TRIGGER forge AFTER INSERT ON forged_decisions
  FOR EACH ROW EXECUTE FUNCTION tdm._decision_record();
SET tdm_decision.role = 'tdm_reviewer';
SELECT throws_ok($$INSERT INTO forged_decisions (conflict_id, action, rationale)
                   VALUES ('C-000000000000', 'keep', 'x')$$, '42501', NULL,
  'the decision recorder records tdm.decision only');
RESET ROLE;

-- An admin without a user mapping is told which server to map, not
-- postgres_fdw's error inside tdm's query.
CREATE ROLE tap_nomap IN ROLE tdm_admin;
GRANT USAGE ON SCHEMA staging TO tap_nomap;
GRANT SELECT ON ALL TABLES IN SCHEMA staging TO tap_nomap;
GRANT USAGE ON FOREIGN SERVER st1 TO tap_nomap;
DO $$  -- (the tables tap_admin's preview collected into, which are its own)
DECLARE
  t text;
BEGIN
  FOR t IN SELECT c.relname FROM pg_class c
            WHERE c.relnamespace = pg_my_temp_schema() AND c.relkind = 'r' AND c.relname LIKE 'tdm\_%' LOOP
    EXECUTE format('DROP TABLE pg_temp.%I', t);
  END LOOP;
END
$$;
SET ROLE tap_nomap;
SELECT throws_ok($$SELECT * FROM tdm.detect_conflicts('R7')$$, '42704',
  'environment "st1": cannot reach server "st1": user mapping not found for "tap_nomap"',
  'an admin without a user mapping is told which server to map');
RESET ROLE;

SELECT is((SELECT actor || '/' || role FROM tdm.audit WHERE action = 'forged'),
  session_user || '/tap_admin', 'an appended audit row names the real session user and role');
SELECT is((SELECT count(*)::int FROM tdm.verify_audit()), 0, 'the chain holds after those appends');
SELECT is((SELECT count(*)::int FROM tdm.audit WHERE role = 'tap_admin'), 7,
  'admin calls are audited under the admin role');
SELECT is(
  (SELECT count(*)::int FROM (
     SELECT to_jsonb(e)::text AS t FROM tdm.environment e
     UNION ALL SELECT to_jsonb(a)::text FROM tdm.audit a
     UNION ALL SELECT to_jsonb(j)::text FROM tdm.job j) rows
   WHERE strpos(t, :'password') > 0),
  0, 'no user-mapping password in tdm tables or the audit');

-- An admin's own domain: the extension owner's key lookups do not cast to
-- it (its CHECK would run as the owner), they compare as text; and a
-- table the admin may not read is not registered.
CREATE SCHEMA tap_own;
GRANT USAGE, CREATE ON SCHEMA tap_own TO tap_admin;
SET ROLE tap_admin;
CREATE DOMAIN tap_own.code AS text CHECK (VALUE <> '');
CREATE TABLE tap_own.things (k tap_own.code PRIMARY KEY, tdm_release text, tdm_feature text);
RESET ROLE;
SELECT ok(NOT tdm._is_trusted_type('tap_own.code'::regtype), 'a domain an admin created is not trusted');
SELECT ok(tdm._is_trusted_type('int4'::regtype) AND tdm._is_trusted_type('text[]'::regtype),
  'built-in types are');
SELECT is(tdm._key_matches('tap_own.things', '{k}'), 't.k::text = ($1->>''k'')',
  'a key of an untrusted type is compared as text in the lookups');
CREATE TABLE tap_own.secret (id int PRIMARY KEY, tdm_release text, tdm_feature text);
REVOKE ALL ON tap_own.secret FROM tap_admin;
SET ROLE tap_admin;
SELECT throws_ok($$SELECT tdm.manage_table('tap_own.secret')$$, '42501',
  'manage_table: tap_admin may not read table tap_own.secret', 'a table the admin may not read is refused');
RESET ROLE;

-- What an admin can change in an environment's schema (its foreign
-- tables are tdm_admin's) is not read with the extension owner's rights:
-- a column of the admin's own domain is not read at all (its CHECK would
-- run as the owner), and a view put in place of a foreign table is
-- refused (its functions would).
SELECT account_number AS st1_account FROM tdm_env_st1.accounts WHERE tdm_release = 'R2' LIMIT 1 \gset
SELECT is(tdm._key_in_release('staging.accounts', '{account_number}',
                              jsonb_build_object('account_number', :'st1_account'), 'R2'),
  'st1', 'the key lookup finds a key in an environment');
SET ROLE tap_admin;
CREATE FUNCTION tap_own.spy() RETURNS bool LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'spy ran as %', current_user;
END
$$;
CREATE DOMAIN tap_own.watched AS text CHECK (tap_own.spy());
ALTER FOREIGN TABLE tdm_env_st1.accounts OPTIONS (SET table_name 'transactions');
RESET ROLE;
SELECT is(tdm._key_in_release('staging.accounts', '{account_number}',
                              jsonb_build_object('account_number', :'st1_account'), 'R2'),
  NULL, 'a foreign table its owner pointed at another table is not read');
SELECT tdm._refresh_environment('st1');
SELECT is((SELECT ftoptions FROM pg_foreign_table WHERE ftrelid = 'tdm_env_st1.accounts'::regclass)
            @> '{table_name=accounts}', true,
  'collection imports it again, reading the table of its name');
SET ROLE tap_admin;
ALTER FOREIGN TABLE tdm_env_st1.accounts ALTER COLUMN account_number OPTIONS (ADD column_name 'currency');
RESET ROLE;
SELECT is(tdm._key_in_release('staging.accounts', '{account_number}',
                              jsonb_build_object('account_number', :'st1_account'), 'R2'),
  NULL, 'nor one whose column its owner pointed at another remote column');
SET ROLE tap_admin;
ALTER FOREIGN TABLE tdm_env_st1.accounts ALTER COLUMN account_number OPTIONS (DROP column_name);
ALTER FOREIGN TABLE tdm_env_st1.accounts ALTER COLUMN currency TYPE tap_own.watched;
RESET ROLE;
SELECT is(tdm._key_in_release('staging.accounts', '{account_number}',
                              jsonb_build_object('account_number', :'st1_account'), 'R2'),
  'st1', 'a column of an admin''s type the lookup does not read does not stop it');
SET ROLE tap_admin;
ALTER FOREIGN TABLE tdm_env_st1.accounts ALTER COLUMN account_number TYPE tap_own.watched;
RESET ROLE;
SELECT is(tdm._key_in_release('staging.accounts', '{account_number}',
                              jsonb_build_object('account_number', :'st1_account'), 'R2'),
  NULL, 'an environment whose key column has an admin''s type is not read');
SET ROLE tap_admin;
DROP FOREIGN TABLE tdm_env_st1.accounts;
CREATE VIEW tdm_env_st1.accounts AS SELECT * FROM staging.accounts WHERE tap_own.spy();
RESET ROLE;
SELECT throws_ok($$SELECT tdm._key_in_release('staging.accounts', '{account_number}',
                                              '{"account_number": "x"}', 'R2')$$,
  '42809', 'environment "st1": tdm_env_st1.accounts is not a foreign table',
  'a view in place of an environment''s foreign table is refused, not read');
SELECT throws_ok($$SELECT * FROM tdm.detect_conflicts('R7')$$,
  '42809', 'environment "st1": tdm_env_st1.accounts is not a foreign table',
  'collection refuses it too');

-- An admin who does not own a target's tables, with the privileges the
-- reference lists, snapshots it and rolls it back: the rollback's spares
-- are tdm's own, owned like the target's tables.
CREATE ROLE tap_admin2 IN ROLE tdm_admin;
CREATE SCHEMA tap_target;
CREATE TABLE tap_target.users (LIKE staging.users INCLUDING ALL);
INSERT INTO tap_target.users (user_id, email, full_name, role)
SELECT i, 'u' || i || '@example.com', 'User ' || i, 'Customer' FROM generate_series(1, 20) AS i;
GRANT USAGE ON SCHEMA tap_target TO tap_admin2;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON tap_target.users TO tap_admin2;
GRANT USAGE, UPDATE ON ALL SEQUENCES IN SCHEMA tap_target TO tap_admin2;
SET ROLE tap_admin2;
SELECT tdm.snapshot('tap', 'tap_target') AS tap_snapshot \gset
DELETE FROM tap_target.users WHERE user_id > 5;
SELECT lives_ok(format('SELECT tdm.rollback(%s)', :tap_snapshot),
  'an admin who does not own the target''s tables rolls it back');
SELECT is((SELECT count(*)::int FROM tap_target.users), 20, 'the rows are back');
RESET ROLE;
-- Without the privileges changing rows needs (no DELETE): refused in the
-- call, naming the table and what it lacks. (Without TRUNCATE alone it
-- changes rows rather than swap storage.)
CREATE ROLE tap_admin3 IN ROLE tdm_admin;
GRANT USAGE ON SCHEMA tap_target TO tap_admin3;
GRANT SELECT, INSERT, UPDATE ON tap_target.users TO tap_admin3;
SET ROLE tap_admin3;
SELECT tdm.snapshot('tap3', 'tap_target') AS tap_snapshot3 \gset
INSERT INTO tap_target.users (user_id, email, full_name, role)
VALUES (21, 'u21@example.com', 'User 21', 'Customer');
SELECT throws_ok(format('SELECT tdm.rollback(%s)', :tap_snapshot3), '42501',
  'rollback: tap_admin3 may not change the rows of tap_target.users (DELETE)',
  'a rollback without DELETE on a target table is refused in the call, naming it');
RESET ROLE;

-- Archive tables of two long release names that begin alike are two.
SELECT isnt(tdm._archive_table(repeat('Релиз', 8) || '-A', 'staging.accounts'),
            tdm._archive_table(repeat('Релиз', 8) || '-B', 'staging.accounts'),
  'two long release names get two archive tables');
SELECT ok(octet_length((parse_ident(tdm._archive_table(repeat('Релиз', 8) || '-A', 'staging.accounts')))[2]) <= 63,
  'an archive table''s name fits in an identifier');
-- Release P's table a__b and release P__a's table b: one name alone.
CREATE TABLE staging.a__b (id int PRIMARY KEY);
CREATE TABLE staging.b (id int PRIMARY KEY);
SELECT isnt(tdm._archive_table('P', 'staging.a__b'), tdm._archive_table('P__a', 'staging.b'),
  'a release name holding __ does not share its archive table with another release''s');
SELECT isnt(tdm._archive_table('P_', 'staging.b'), tdm._archive_table('P', 'staging.b'),
  'nor one ending with _');
SELECT is(tdm._archive_table('R2', 'staging.accounts'), 'tdm_archive."R2__accounts"',
  'other releases keep <release>__<table>');
-- A table named as another's cut archive name: still two archive tables.
CREATE TABLE staging.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa (id int PRIMARY KEY);
SELECT format('CREATE TABLE staging.%I (id int PRIMARY KEY)',
              substr((parse_ident(tdm._archive_table('R',
                'staging.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')))[2], 4)) \gexec
SELECT isnt(tdm._archive_table('R', 'staging.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'),
            tdm._archive_table('R', (SELECT c.oid FROM pg_class c WHERE c.relname ~ '^a{47}_[0-9a-f]{12}$'
                                      AND c.relnamespace = 'staging'::regnamespace)::regclass),
  'a table named as another''s cut archive name gets an archive table of its own');

-- release_stats counts master's rows with the reader's rights: a reviewer
-- is told which privilege it lacks.
RESET ROLE;
CREATE SCHEMA IF NOT EXISTS master;
CREATE TABLE IF NOT EXISTS master.users (LIKE staging.users);
SET ROLE tap_reviewer;
SELECT throws_like($$SELECT * FROM tdm.release_stats$$,
  'release_stats: counting the rows of % takes USAGE on its schema and SELECT on it, which tap_reviewer lacks',
  'reviewer reading release_stats is told which privilege it lacks on master');
RESET ROLE;

-- Every helper that a role's functions and views call, in their bodies or
-- in the SQL they build, is that role's to execute (a view calls its
-- functions with the reader's rights; a SECURITY DEFINER one with its
-- owner's, left out).
SELECT is_empty($$
  WITH code AS (
    SELECT r.role, p.oid::regprocedure::text AS caller, p.prosrc AS body
      FROM pg_proc p CROSS JOIN (VALUES ('tdm_admin'), ('tdm_reviewer')) r(role)
     WHERE p.pronamespace = 'tdm'::regnamespace AND NOT p.prosecdef
       AND has_function_privilege(r.role, p.oid, 'EXECUTE')
    UNION ALL
    SELECT r.role, c.oid::regclass::text, pg_get_viewdef(c.oid)
      FROM pg_class c CROSS JOIN (VALUES ('tdm_admin'), ('tdm_reviewer')) r(role)
     WHERE c.relnamespace = 'tdm'::regnamespace AND c.relkind = 'v'
       AND has_table_privilege(r.role, c.oid, 'SELECT'))
  SELECT DISTINCT c.role, c.caller, m[1] AS callee
    FROM code c CROSS JOIN LATERAL regexp_matches(c.body, 'tdm\.(_[a-z_0-9]+)\s*\(', 'g') m
   WHERE NOT EXISTS (SELECT 1 FROM pg_proc p WHERE p.pronamespace = 'tdm'::regnamespace AND p.proname = m[1]
                        AND has_function_privilege(c.role, p.oid, 'EXECUTE'))$$,
  'every tdm helper the admin''s and the reviewer''s functions and views call is theirs to execute');

SELECT * FROM finish();
ROLLBACK;
