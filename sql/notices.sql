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
