-- A reviewer's renames of a masked natural key: the environments' rows
-- are not searched for the new values (they hold them unmasked), and the
-- NOTICE that says so comes once per decision, not once per renamed
-- member.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;
\ir sql/include/sessions.sql
\ir sql/include/in_environments.sql
SELECT pg_temp.in_environments(
  'CREATE TABLE nt_user (id int PRIMARY KEY, email text NOT NULL UNIQUE, tier text, tdm_release text, tdm_feature text)');
CREATE SCHEMA notices_st1;
CREATE SCHEMA notices_st2;
CREATE SCHEMA notices_st3;
IMPORT FOREIGN SCHEMA public LIMIT TO (nt_user) FROM SERVER st1 INTO notices_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (nt_user) FROM SERVER st2 INTO notices_st2;
IMPORT FOREIGN SCHEMA public LIMIT TO (nt_user) FROM SERVER st3 INTO notices_st3;
CREATE TABLE staging.nt_user (id int PRIMARY KEY, email text NOT NULL UNIQUE, tier text, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.nt_user', '{email}');
SELECT tdm.mask_column('staging.nt_user', 'email', 'email');
-- A business rule on a masked column holds for the masked values, which
-- validation reads: said when the rule is added, and when the mask is.
SELECT tdm.add_rule('nt_email_domain', 'staging.nt_user', $$email LIKE '%@x'$$, 'warning');
SELECT tdm.add_rule('nt_tier_known', 'staging.nt_user', $$tier IN ('gold', 'silver', 'bronze')$$);
SELECT tdm.mask_column('staging.nt_user', 'tier', 'constant', '{"value": "t"}');
SELECT tdm.unmask_column('staging.nt_user', 'tier'), tdm.drop_rule('nt_tier_known'),
       tdm.drop_rule('nt_email_domain');
SELECT tdm.create_release('R-NT1'), tdm.add_feature('R-NT1', 'FEAT-NT1', 1), tdm.add_feature('R-NT1', 'FEAT-NT2', 1),
       tdm.add_feature('R-NT1', 'FEAT-NT3', 1);
-- One login in three environments, three tiers, three features of one
-- priority: a reviewer decides.
INSERT INTO notices_st1.nt_user VALUES (1, 'ann@x', 'gold', 'R-NT1', 'FEAT-NT1');
INSERT INTO notices_st2.nt_user VALUES (1, 'ann@x', 'silver', 'R-NT1', 'FEAT-NT2');
INSERT INTO notices_st3.nt_user VALUES (1, 'ann@x', 'bronze', 'R-NT1', 'FEAT-NT3');
SELECT tdm.tag_release('R-NT1') IS NOT NULL AS tagged;
SET client_min_messages = warning;
SELECT tdm.consolidate('R-NT1') AS run \gset
RESET client_min_messages;
SELECT conflict_id AS ann FROM tdm.conflict WHERE run_id = :run AND status = 'pending' \gset
SELECT tdm.resolve(:'ann', 'keep_all', renames => '{"st2": {"email": "ann2@x"}, "st3": {"email": "ann3@x"}}',
                   rationale => 'three people');
-- A decision changed says so when it was approved (a priority 1
-- conflict: price is a core column; the approval does not carry over),
-- or when it was another reviewer's.
SELECT pg_temp.in_environments(
  'CREATE TABLE nt_plan (id int PRIMARY KEY, code text NOT NULL UNIQUE, price int, tdm_release text, tdm_feature text)');
IMPORT FOREIGN SCHEMA public LIMIT TO (nt_plan) FROM SERVER st1 INTO notices_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (nt_plan) FROM SERVER st2 INTO notices_st2;
CREATE TABLE staging.nt_plan (id int PRIMARY KEY, code text NOT NULL UNIQUE, price int, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.nt_plan', '{code}', core_columns => '{price}');
SELECT tdm.create_release('R-NT2'), tdm.add_feature('R-NT2', 'FEAT-NT4', 1), tdm.add_feature('R-NT2', 'FEAT-NT5', 1);
INSERT INTO notices_st1.nt_plan VALUES (1, 'basic', 10, 'R-NT2', 'FEAT-NT4');
INSERT INTO notices_st2.nt_plan VALUES (1, 'basic', 12, 'R-NT2', 'FEAT-NT5');
SELECT tdm.tag_release('R-NT2') IS NOT NULL AS tagged;
SET client_min_messages = warning;
SELECT tdm.consolidate('R-NT2') AS run \gset
RESET client_min_messages;
SELECT conflict_id AS plan, priority FROM tdm.conflict WHERE run_id = :run AND status = 'pending' \gset
SET SESSION AUTHORIZATION tdm_regress_reviewer;
SELECT tdm.resolve(:'plan', 'keep', keep_env => 'st1', rationale => 'the list price');
SET SESSION AUTHORIZATION tdm_regress_approver;
SELECT tdm.approve(:'plan');
SET SESSION AUTHORIZATION tdm_regress_reviewer;
SELECT tdm.resolve(:'plan', 'keep', keep_env => 'st2', rationale => 'the new price');
SET SESSION AUTHORIZATION tdm_regress_approver;
SELECT tdm.resolve(:'plan', 'keep', keep_env => 'st1', rationale => 'the list price after all');
-- (The same reviewer changing a decision nobody approved: nothing to say.)
SELECT tdm.resolve(:'plan', 'keep', keep_env => 'st1', rationale => 'the list price, as agreed');
RESET SESSION AUTHORIZATION;
SELECT :priority AS priority, decided_by, action, keep_env, approved_by
  FROM tdm.decision WHERE conflict_id = :'plan';
-- resolve_all with keep_env keeps the suggested member where that
-- environment is no member, and names those conflicts.
SELECT pg_temp.in_environments(
  'CREATE TABLE nt_tone (id int PRIMARY KEY, code text NOT NULL UNIQUE, shade text, tdm_release text, tdm_feature text)');
IMPORT FOREIGN SCHEMA public LIMIT TO (nt_tone) FROM SERVER st1 INTO notices_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (nt_tone) FROM SERVER st2 INTO notices_st2;
IMPORT FOREIGN SCHEMA public LIMIT TO (nt_tone) FROM SERVER st3 INTO notices_st3;
CREATE TABLE staging.nt_tone (id int PRIMARY KEY, code text NOT NULL UNIQUE, shade text, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.nt_tone', '{code}');
SELECT tdm.create_release('R-NT5'), tdm.add_feature('R-NT5', 'FEAT-NT8', 1), tdm.add_feature('R-NT5', 'FEAT-NT9', 1);
INSERT INTO notices_st1.nt_tone VALUES (1, 'sky', 'light', 'R-NT5', 'FEAT-NT8'), (2, 'sea', 'dark', 'R-NT5', 'FEAT-NT8');
INSERT INTO notices_st2.nt_tone VALUES (1, 'sky', 'pale', 'R-NT5', 'FEAT-NT9');
INSERT INTO notices_st3.nt_tone VALUES (2, 'sea', 'deep', 'R-NT5', 'FEAT-NT9');
SELECT tdm.tag_release('R-NT5') IS NOT NULL AS tagged;
SET client_min_messages = warning;
SELECT tdm.consolidate('R-NT5') AS run \gset
RESET client_min_messages;
SELECT tdm.resolve_all('R-NT5', 'keep', 'st2 has the palette', keep_env => 'st2') AS decided;
SELECT m.row ->> 'code' AS code, d.keep_env
  FROM tdm.decision d JOIN tdm.conflict c USING (conflict_id)
  JOIN tdm.conflict_member m ON m.run_id = c.run_id AND m.conflict_id = c.conflict_id AND m.label = d.keep_env
 WHERE c.run_id = :run ORDER BY 1;
-- A key drawn from a sequence, with no natural key and no surrogate_key:
-- warned of (each environment's row 1 would be taken for one entity).
CREATE TABLE staging.nt_line (line_id serial PRIMARY KEY, product text, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.nt_line');
SELECT tdm.manage_table('staging.nt_line', surrogate_key => true);
SELECT tdm.unmanage_table('staging.nt_line');
-- A link table (a serial id and UNIQUE (a_id, b_id)): the warning names
-- its unique key, the natural key to register; registered with
-- surrogate_key alone, it is warned of again; with the key, not.
CREATE TABLE staging.nt_link (id serial PRIMARY KEY, a_id int NOT NULL, b_id int NOT NULL, UNIQUE (a_id, b_id),
                              tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.nt_link');
SELECT tdm.manage_table('staging.nt_link', surrogate_key => true);
SELECT tdm.manage_table('staging.nt_link', natural_keys => '{"a_id,b_id"}', surrogate_key => true);
SELECT tdm.unmanage_table('staging.nt_link');
-- A unique index on lower(email), Rails' usual one: the key to register,
-- with normalize_keys; registered without it, warned of.
CREATE TABLE staging.nt_admin (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, email text NOT NULL,
                               tdm_release text, tdm_feature text);
CREATE UNIQUE INDEX ON staging.nt_admin (lower(email));
SELECT tdm.manage_table('staging.nt_admin');
SELECT tdm.manage_table('staging.nt_admin', '{email}');
SELECT tdm.manage_table('staging.nt_admin', '{email}', normalize_keys => true);
SELECT tdm.unmanage_table('staging.nt_admin');
-- A unique index on lower() of two columns is a key of both, folded; one
-- on another expression (Mastodon's COALESCE, which makes NULL domains
-- equal) no natural key can say: warned of, with the way out; on a
-- generated column holding it, registered, not.
CREATE TABLE staging.nt_account (id bigint PRIMARY KEY, username text NOT NULL, domain text,
                                 tdm_release text, tdm_feature text);
CREATE UNIQUE INDEX nt_account_name_uq ON staging.nt_account (lower(username), lower(domain));
SELECT tdm.manage_table('staging.nt_account', surrogate_key => true);
DROP INDEX staging.nt_account_name_uq;
CREATE UNIQUE INDEX nt_account_handle_uq ON staging.nt_account (lower(username), coalesce(lower(domain), ''));
SELECT tdm.manage_table('staging.nt_account', '{"username,domain"}', normalize_keys => true, surrogate_key => true);
DROP INDEX staging.nt_account_handle_uq;
ALTER TABLE staging.nt_account ADD domain_key text GENERATED ALWAYS AS (coalesce(lower(domain), '')) STORED;
CREATE UNIQUE INDEX nt_account_handle_uq ON staging.nt_account (lower(username), domain_key);
SELECT tdm.manage_table('staging.nt_account', '{"username,domain_key"}', normalize_keys => true,
                        surrogate_key => true);
SELECT tdm.unmanage_table('staging.nt_account');
-- A key of its own (an id no sequence draws, as in a dump loaded from
-- files) and a unique key, registered with neither: rows of one id are
-- one entity whatever their account, and a rule would merge two
-- people's. Warned of, with the key to register; registered, not.
CREATE TABLE staging.nt_member (id int PRIMARY KEY, account_id int UNIQUE, name text,
                                tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.nt_member');
SELECT tdm.manage_table('staging.nt_member', '{account_id}');
SELECT tdm.unmanage_table('staging.nt_member');
-- Not of a key that is a reference (a profile's member_id follows its
-- member's rows); but of a NUMBER(10) key, as an Oracle migration has it.
CREATE TABLE staging.nt_profile (member_id int PRIMARY KEY REFERENCES staging.nt_member (id), handle text UNIQUE,
                                 tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.nt_profile');
SELECT tdm.unmanage_table('staging.nt_profile');
CREATE TABLE staging.nt_legacy (id numeric(10) PRIMARY KEY, code text UNIQUE, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.nt_legacy');
SELECT tdm.unmanage_table('staging.nt_legacy');
-- A type and an id without a foreign key (a polymorphic reference, which
-- tdm cannot follow): warned of.
CREATE TABLE staging.nt_note (id int PRIMARY KEY, subject_type text, subject_id int, body text,
                              tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.nt_note');
SELECT tdm.unmanage_table('staging.nt_note');
-- Odoo's pairs, (model, res_id) and (res_model, res_id): warned of too.
CREATE TABLE staging.nt_message (id int PRIMARY KEY, model text, res_id int, res_model text, body text,
                                 tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.nt_message');
SELECT tdm.unmanage_table('staging.nt_message');
-- Not a table's own id beside its model, nor a unique one of its own.
CREATE TABLE staging.nt_device (device_id int PRIMARY KEY, device_model text, printer_id text UNIQUE,
                                printer_model text, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.nt_device');
SELECT tdm.unmanage_table('staging.nt_device');
-- A tree whose natural key holds its parent, (parent_id, path): a node
-- under its parent's other ids in two environments is not found as one,
-- and the invalid run's HINT says so, not that the key is spelled
-- otherwise (p348).
SELECT pg_temp.in_environments(
  'CREATE TABLE nt_group (id int PRIMARY KEY, parent_id int REFERENCES nt_group, path text NOT NULL,
                          tdm_release text, tdm_feature text, UNIQUE (parent_id, path))');
IMPORT FOREIGN SCHEMA public LIMIT TO (nt_group) FROM SERVER st1 INTO notices_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (nt_group) FROM SERVER st2 INTO notices_st2;
CREATE TABLE staging.nt_group (id int PRIMARY KEY, parent_id int REFERENCES staging.nt_group, path text NOT NULL,
                               tdm_release text, tdm_feature text, UNIQUE (parent_id, path));
SELECT tdm.manage_table('staging.nt_group', '{"parent_id,path"}', surrogate_key => true);
SELECT tdm.create_release('R-NT6'), tdm.add_feature('R-NT6', 'FEAT-NT10', 1);
INSERT INTO notices_st1.nt_group VALUES (1, NULL, 'a', 'R-NT6', 'FEAT-NT10'), (2, 1, 'b', 'R-NT6', 'FEAT-NT10'),
                                        (3, 2, 'c', 'R-NT6', 'FEAT-NT10');
INSERT INTO notices_st2.nt_group VALUES (1, NULL, 'a', 'R-NT6', 'FEAT-NT10'), (2, 1, 'x', 'R-NT6', 'FEAT-NT10'),
                                        (3, 1, 'b', 'R-NT6', 'FEAT-NT10'), (4, 3, 'c', 'R-NT6', 'FEAT-NT10');
SELECT tdm.tag_release('R-NT6') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R-NT6') IS NOT NULL AS consolidated;
SELECT tdm.unmanage_table('staging.nt_group');
-- A CHECK over two references that a reviewer's merge of their parents
-- breaks (a follow of Ann by ann, one person once merged): the violation
-- gives the values the CHECK reads, and the HINT the conflict that
-- translated them (p350).
SELECT pg_temp.in_environments(
  'CREATE TABLE nt_person (id int PRIMARY KEY, handle text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
   CREATE TABLE nt_follow (id int PRIMARY KEY, a int NOT NULL REFERENCES nt_person, b int NOT NULL REFERENCES nt_person,
                           tdm_release text, tdm_feature text, CHECK (a <> b))');
IMPORT FOREIGN SCHEMA public LIMIT TO (nt_person, nt_follow) FROM SERVER st1 INTO notices_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (nt_person, nt_follow) FROM SERVER st2 INTO notices_st2;
CREATE TABLE staging.nt_person (id int PRIMARY KEY, handle text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
CREATE TABLE staging.nt_follow (id int PRIMARY KEY, a int NOT NULL REFERENCES staging.nt_person,
                                b int NOT NULL REFERENCES staging.nt_person, tdm_release text, tdm_feature text,
                                CHECK (a <> b));
SELECT tdm.manage_table('staging.nt_person', '{handle}', normalize_keys => true, surrogate_key => true);
SELECT tdm.manage_table('staging.nt_follow', surrogate_key => true);
SELECT tdm.create_release('R-NT7'), tdm.add_feature('R-NT7', 'FEAT-NT11', 1);
INSERT INTO notices_st1.nt_person VALUES (1, 'Ann', 'R-NT7', 'FEAT-NT11'), (2, 'ann', 'R-NT7', 'FEAT-NT11');
INSERT INTO notices_st1.nt_follow VALUES (1, 1, 2, 'R-NT7', 'FEAT-NT11');
SELECT tdm.tag_release('R-NT7') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R-NT7') IS NOT NULL AS consolidated;
SELECT tdm.resolve(c.conflict_id, 'merge', merged => '{"handle": "Ann"}', rationale => 'one person')
  FROM tdm.conflict c JOIN tdm.run r USING (run_id)
 WHERE r.release = 'R-NT7' AND c.rel = 'staging.nt_person'::regclass;
SELECT tdm.consolidate('R-NT7') IS NOT NULL AS consolidated;
SELECT v.rel, v.kind, v.detail -> 'values' AS "values"
  FROM tdm.violation v JOIN tdm.run r USING (run_id) WHERE r.release = 'R-NT7';
SELECT tdm.unmanage_table('staging.nt_follow'), tdm.unmanage_table('staging.nt_person');
-- Rows that one natural key joins and another tells apart (a track's gid
-- differs at one (medium, position)): to review, not merged by a rule
-- (p351).
SELECT pg_temp.in_environments(
  'CREATE TABLE nt_track (id int PRIMARY KEY, gid text NOT NULL UNIQUE, medium int, position int, name text,
                          tdm_release text, tdm_feature text, UNIQUE (medium, position))');
IMPORT FOREIGN SCHEMA public LIMIT TO (nt_track) FROM SERVER st1 INTO notices_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (nt_track) FROM SERVER st2 INTO notices_st2;
CREATE TABLE staging.nt_track (id int PRIMARY KEY, gid text NOT NULL UNIQUE, medium int, position int, name text,
                               tdm_release text, tdm_feature text, UNIQUE (medium, position));
SELECT tdm.manage_table('staging.nt_track', '{gid,"medium,position"}', surrogate_key => true);
SELECT tdm.create_release('R-NT8'), tdm.add_feature('R-NT8', 'FEAT-NT12', 1);
INSERT INTO notices_st1.nt_track VALUES (1, 'g-2', 1, 2, 'Lazing', 'R-NT8', 'FEAT-NT12');
INSERT INTO notices_st2.nt_track VALUES (7, 'g-9', 1, 2, 'Lazing', 'R-NT8', 'FEAT-NT12');
SELECT tdm.tag_release('R-NT8') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R-NT8') IS NOT NULL AS consolidated;
SELECT c.kind, c.rule, c.class, c.priority, c.rationale
  FROM tdm.conflict c JOIN tdm.run r USING (run_id) WHERE r.release = 'R-NT8';
SELECT tdm.unmanage_table('staging.nt_track');
-- A column renamed in staging and not in the environments (title, now
-- label): tagging records a "renamed?" warning, and collection says it,
-- where the rows load without its values.
SELECT pg_temp.in_environments(
  'CREATE TABLE nt_book (id int PRIMARY KEY, title text, tdm_release text, tdm_feature text)');
IMPORT FOREIGN SCHEMA public LIMIT TO (nt_book) FROM SERVER st1 INTO notices_st1;
CREATE TABLE staging.nt_book (id int PRIMARY KEY, label text, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.nt_book');
SELECT tdm.create_release('R-NT3'), tdm.add_feature('R-NT3', 'FEAT-NT6', 1);
INSERT INTO notices_st1.nt_book VALUES (1, 'Dune', 'R-NT3', 'FEAT-NT6');
SELECT tdm.tag_release('R-NT3') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R-NT3') IS NOT NULL AS consolidated;
SELECT id, label FROM staging.nt_book;
-- Row level security an environment's reader is held to (the table's
-- owner, under FORCE ROW LEVEL SECURITY): data_diff says that the rows
-- its policies hide are compared as missing.
SET client_min_messages = warning;
DROP ROLE IF EXISTS tdm_regress_rls_reader;
CREATE ROLE tdm_regress_rls_reader LOGIN PASSWORD 'reader';
RESET client_min_messages;
CREATE SCHEMA nt_rls;
GRANT USAGE ON SCHEMA nt_rls TO tdm_regress_rls_reader;
CREATE TABLE nt_rls.nt_secret (id int PRIMARY KEY, v text, tdm_release text, tdm_feature text);
INSERT INTO nt_rls.nt_secret VALUES (1, 'a', 'R-NT3', 'FEAT-NT6'), (2, 'b', 'R-NT3', 'FEAT-NT6');
ALTER TABLE nt_rls.nt_secret ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY first_only ON nt_rls.nt_secret USING (id = 1);
ALTER TABLE nt_rls.nt_secret OWNER TO tdm_regress_rls_reader;
-- (a server of this database, as st1's host and port reach it)
DO $$BEGIN
  EXECUTE (SELECT format('CREATE SERVER nt_rls_self FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host %L, port %L, dbname %L)',
                         pg_temp.opt(srvoptions, 'host'), pg_temp.opt(srvoptions, 'port'), current_database())
             FROM pg_foreign_server WHERE srvname = 'st1');
END$$;
CREATE USER MAPPING FOR CURRENT_USER SERVER nt_rls_self OPTIONS (user 'tdm_regress_rls_reader', password 'reader');
SELECT tdm.add_environment('nt_rls', 'nt_rls_self', 60, 'nt_rls');
CREATE TABLE staging.nt_secret (LIKE nt_rls.nt_secret INCLUDING ALL);
INSERT INTO staging.nt_secret SELECT * FROM nt_rls.nt_secret;
SELECT tdm.manage_table('staging.nt_secret');
SELECT key, kind FROM tdm.data_diff('staging.nt_secret', 'nt_rls', 'local');
SET client_min_messages = warning;
SELECT tdm.unmanage_table('staging.nt_secret'), tdm.remove_environment('nt_rls');
DROP TABLE staging.nt_secret;
DROP USER MAPPING FOR CURRENT_USER SERVER nt_rls_self;
DROP SERVER nt_rls_self;
DROP SCHEMA nt_rls CASCADE;
DROP ROLE tdm_regress_rls_reader;
RESET client_min_messages;
-- A connection to an environment lost while tagging reads it (its
-- backend terminated as it waited for a lock there): the error names the
-- environment and says to call again.
SELECT tdm.create_release('R-NT4') IS NULL AS created, tdm.add_feature('R-NT4', 'FEAT-NT7', 1) IS NULL AS planned;
SELECT dblink_connect('st1_locker', pg_temp.env_conninfo('st1'));
SELECT dblink_exec('st1_locker', 'BEGIN'), dblink_exec('st1_locker', 'LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
SELECT dblink_connect('tagger', pg_temp.conninfo(current_database()));
SELECT dblink_send_query('tagger', $$SELECT tdm.tag_release('R-NT4')$$);
-- (pg_locks: pg_stat_activity is read once per transaction)
SELECT pg_temp.wait_until($$EXISTS (SELECT FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                                    WHERE d.datname = pg_temp.env_db('st1') AND NOT l.granted)$$) AS tagging_waits;
SELECT count(pg_terminate_backend(l.pid)) AS terminated
  FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = pg_temp.env_db('st1') AND NOT l.granted;
CREATE FUNCTION pg_temp.tagging_error() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM * FROM dblink_get_result('tagger') AS t(x text);
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  RETURN substring(SQLERRM FROM '^[^:]*: [^:]*:');
END
$$;
SELECT pg_temp.tagging_error();
SELECT dblink_exec('st1_locker', 'ROLLBACK'), dblink_disconnect('st1_locker'), dblink_disconnect('tagger');
SELECT status FROM tdm.release WHERE release = 'R-NT4';

-- A background snapshot whose worker is terminated while it waits (for
-- master's users, locked by another session): rolling back to it says it
-- will never complete, not to wait for its job.
\ir sql/include/errors.sql
SELECT dblink_connect('master_locker', pg_temp.conninfo(current_database())) AS locker;
SELECT dblink_exec('master_locker', 'BEGIN'),
       dblink_exec('master_locker', 'LOCK TABLE master.users IN ACCESS EXCLUSIVE MODE');
SELECT tdm.snapshot('doomed', 'master', wait => false) AS doomed \gset
SELECT job_id AS doomed_job FROM tdm.snapshot WHERE snapshot_id = :doomed \gset
SELECT pg_temp.wait_until(format('EXISTS (SELECT FROM pg_locks l JOIN tdm.job j ON j.pid = l.pid'
                                 ' WHERE j.job_id = %s AND NOT l.granted)', :doomed_job)) AS worker_waits;
SELECT pg_terminate_backend(pid) AS terminated FROM tdm.job WHERE job_id = :doomed_job;
SELECT pg_temp.wait_until(format('(SELECT count(*) FROM pg_stat_clear_snapshot()) = 1 AND NOT EXISTS'
                                 ' (SELECT FROM pg_stat_activity a JOIN tdm.job j ON j.pid = a.pid'
                                 ' WHERE j.job_id = %s)', :doomed_job)) AS worker_gone;
SELECT dblink_exec('master_locker', 'ROLLBACK'), dblink_disconnect('master_locker');
SELECT (pg_temp.error_of(format('SELECT tdm.rollback(%s)', :doomed))).hint
         = format('Its job %s ended failed: it will never complete. Take a new snapshot (tdm.snapshot), or roll'
                  ' back to another one.', :doomed_job) AS said_failed;

-- Consolidating a promoted release again, when releases consolidated
-- after it reference its rows in staging: the HINT does not send to
-- consolidate it before them (it was), and says it is in master.
SET client_min_messages = error;
SELECT e.message, e.hint FROM pg_temp.error_of($$SELECT tdm.consolidate('R2')$$) e;
RESET client_min_messages;

-- A mask that can make two values one, on a core column: said, for a
-- difference there no longer reaches a reviewer.
CREATE TABLE staging.nt_core (id int PRIMARY KEY, born date, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.nt_core', core_columns => '{born}');
SELECT tdm.mask_column('staging.nt_core', 'born', 'date_shift');
SELECT tdm.mask_column('staging.nt_core', 'born', 'null');
SELECT tdm.unmanage_table('staging.nt_core');
DROP TABLE staging.nt_core;
