-- An environment's foreign table the admin may not read (after a restore
-- without owners, they belong to the restoring role) is a privilege
-- error of this database, said as one with the GRANT that gives it back,
-- not as a server that cannot be reached; so is one to declare again
-- without USAGE on the server. Nor is a managed table's schema the admin
-- may not use, which tagging reads.
BEGIN;
SELECT plan(7);
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;
SELECT tdm.add_environment('st1', 'st1', 10);
SELECT tdm.manage_table('staging.users', '{email}', 'updated_at', '{role}');
SELECT tdm.schema_diff('st1', 'local') IS NULL;  -- (the catalog's foreign tables made)
CREATE ROLE tap_ep_admin IN ROLE tdm_admin;
ALTER FOREIGN TABLE tdm_env_st1.tdm_remote_columns OWNER TO CURRENT_USER;
SELECT format('CREATE USER MAPPING FOR tap_ep_admin SERVER st1 OPTIONS (user %L, password %L)',
              (SELECT split_part(o, '=', 2) FROM pg_user_mappings u, unnest(u.umoptions) o
                WHERE u.srvname = 'st1' AND u.usename = current_user AND o LIKE 'user=%'),
              (SELECT substr(o, 10) FROM pg_user_mappings u, unnest(u.umoptions) o
                WHERE u.srvname = 'st1' AND u.usename = current_user AND o LIKE 'password=%')) \gexec
SET ROLE tap_ep_admin;
SELECT throws_ok($$SELECT * FROM tdm.schema_diff('st1', 'local')$$, '42501',
  'environment "st1": tap_ep_admin may not read it: permission denied for foreign table tdm_remote_columns',
  'a foreign table of the environment the admin may not read is said as a privilege, not an unreachable server');
RESET ROLE;
-- A foreign table to declare again (missing here) needs USAGE on the
-- server, which the admin lacks: said with the GRANT, not as PostgreSQL's
-- bare "permission denied for foreign server".
ALTER FOREIGN TABLE tdm_env_st1.tdm_remote_columns OWNER TO tdm_admin;
DROP FOREIGN TABLE tdm_env_st1.tdm_remote_checks;
SET ROLE tap_ep_admin;
SELECT throws_ok($$SELECT * FROM tdm.schema_diff('st1', 'local')$$, '42501',
  'environment "st1": tap_ep_admin may not use server "st1", which declaring its foreign table tdm_remote_checks again needs',
  'declaring a foreign table again without USAGE on the server is said with what it needs');
RESET ROLE;
-- An environment added on a server the admin may not use: the HINT is
-- the GRANT, not the one for foreign tables restored without owners.
SET ROLE tap_ep_admin;
SELECT is(pg_temp.hint_of($$SELECT tdm.add_environment('ep2', 'st2', 20)$$),
  'GRANT USAGE ON FOREIGN SERVER st2 TO tap_ep_admin; (as its owner or a superuser).',
  'an environment on a server the admin may not use: the HINT is the GRANT');
RESET ROLE;
-- A snapshot or a PII scan of tables in a schema the admin may not use:
-- said with the GRANT, not PostgreSQL's bare "permission denied".
REVOKE USAGE ON SCHEMA staging FROM tdm_admin;
SET ROLE tap_ep_admin;
SELECT throws_ok($$SELECT tdm.snapshot('x', 'staging')$$, '42501',
  'snapshot: tap_ep_admin may not use schema staging', 'a snapshot of a schema the admin may not use');
SELECT throws_ok($$SELECT * FROM tdm.find_pii()$$, '42501',
  'find_pii: tap_ep_admin may not use schema staging', 'a PII scan of a schema the admin may not use');
RESET ROLE;
-- Tagging compares the managed tables' columns with the environments':
-- where the admin may not read them, it is refused so, not reported as
-- drift of every column and a server that may not read staging (p316).
SELECT tdm.create_release('TEP'), tdm.add_feature('TEP', 'F', 1);
SET ROLE tap_ep_admin;
SELECT throws_ok($$SELECT tdm.tag_release('TEP')$$, '42501',
  'tag_release: tap_ep_admin may not use schema staging', 'tagging when the admin may not read the managed tables');
RESET ROLE;
-- Managed tables in two schemas: the second's other tables, one named
-- like a managed table of the first, are not asked for (p317).
GRANT USAGE ON SCHEMA staging TO tdm_admin;
GRANT SELECT ON staging.users TO tdm_admin;
CREATE SCHEMA tap_ep_hr;
CREATE TABLE tap_ep_hr.emp (id int PRIMARY KEY, tdm_release text, tdm_feature text);
CREATE TABLE tap_ep_hr.users (id int PRIMARY KEY);
SELECT tdm.manage_table('tap_ep_hr.emp');
GRANT USAGE ON SCHEMA tap_ep_hr TO tdm_admin;
GRANT SELECT ON tap_ep_hr.emp TO tdm_admin;
SET ROLE tap_ep_admin;
SELECT lives_ok($$SELECT tdm._require_managed_schemas('tag_release')$$,
  'an unmanaged table named like a managed one of another schema is not asked for');
RESET ROLE;
SELECT * FROM finish();
ROLLBACK;
