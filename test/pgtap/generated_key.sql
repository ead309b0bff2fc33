-- A natural key that is a stored generated column (lower(email)): a
-- keep_all renames the column it is computed from, and the check, the
-- hint and the apply compute it again, as the target will.
BEGIN;
SELECT plan(5);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

-- Two environments: schemas of this database, written by another session
-- (an environment reads committed rows), dropped at the end. Q@x of the
-- first and q@X of the second are one key, lower-cased, with another v:
-- a conflict the reviewer decides as two people.
SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_gk_e1;
  CREATE SCHEMA tap_gk_e2;
  CREATE TABLE tap_gk_e1.person (id int PRIMARY KEY, email text NOT NULL,
                                 email_l text GENERATED ALWAYS AS (lower(email)) STORED UNIQUE, v text,
                                 tdm_release text, tdm_feature text);
  CREATE TABLE tap_gk_e2.person (LIKE tap_gk_e1.person INCLUDING ALL);
  INSERT INTO tap_gk_e1.person (id, email, v, tdm_release, tdm_feature) VALUES (3, 'Q@x', 'a', 'TG1', 'F');
  INSERT INTO tap_gk_e2.person (id, email, v, tdm_release, tdm_feature) VALUES (4, 'q@X', 'b', 'TG1', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_gk_self');
CREATE SCHEMA tap_gk;
CREATE TABLE tap_gk.person (id int PRIMARY KEY, email text NOT NULL,
                            email_l text GENERATED ALWAYS AS (lower(email)) STORED UNIQUE, v text,
                            tdm_release text, tdm_feature text);
SELECT tdm.add_environment('gk1', 'tap_gk_self', 10, 'tap_gk_e1'), tdm.add_environment('gk2', 'tap_gk_self', 20, 'tap_gk_e2');
SELECT tdm.manage_table('tap_gk.person', '{email_l}', core_columns => '{v}');
SELECT tdm.create_release('TG1'), tdm.add_feature('TG1', 'F', 1);
SELECT tdm.tag_release('TG1');
CREATE ROLE tap_gk_approver;
GRANT tdm_reviewer TO tap_gk_approver;
-- (The decisions are a plain reviewer's, who may use the table's schema.)
CREATE ROLE tap_gk_decider;
GRANT tdm_reviewer TO tap_gk_decider;
GRANT USAGE ON SCHEMA tap_gk TO tap_gk_decider;

SELECT tdm.consolidate('TG1', 'tap_gk');
SELECT conflict_id AS conflict FROM tdm.conflict \gset
SET ROLE tap_gk_decider;
SELECT throws_ok(format($$SELECT tdm.resolve(%L, 'keep_all', rationale => 'two people')$$, :'conflict'),
  '23505', NULL, 'keep_all with no renames: two rows with email_l q@x');
SELECT matches((SELECT pg_temp.hint_of(format($$SELECT tdm.resolve(%L, 'keep_all', rationale => 'two people')$$,
                                             :'conflict'))),
  '"gk2": \{"email": "\.\.\."\}', 'the hint renames email, which email_l is computed from');
SELECT lives_ok(format($$SELECT tdm.resolve(%L, 'keep_all', renames => '{"gk2": {"email": "R@x"}}',
                                            rationale => 'two people')$$, :'conflict'),
  'renaming email makes email_l r@x: no collision');
RESET ROLE;
SET SESSION AUTHORIZATION tap_gk_approver;
SELECT tdm.approve(:'conflict');
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TG1', 'tap_gk');
SELECT results_eq('SELECT id, email, email_l, v FROM tap_gk.person ORDER BY id',
  $$VALUES (3, 'Q@x', 'q@x', 'a'), (4, 'R@x', 'r@x', 'b')$$, 'both people loaded, the second renamed');
SELECT results_eq($$SELECT status, rows_renamed, (SELECT count(*) FROM tdm.violation) FROM tdm.run$$,
  $$VALUES ('completed', 1::bigint, 0::bigint)$$, 'completed, the renamed row counted, no violation');

SELECT * FROM finish();
ROLLBACK;
-- (After the transaction: until then, its foreign scans' remote
-- transaction holds the tables.)
SET client_min_messages = warning;
DROP SCHEMA tap_gk_e1, tap_gk_e2 CASCADE;
