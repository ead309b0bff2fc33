-- A consolidation cancelled or failed before it commits gives no key away:
-- the next call gives the same rows the same new keys (decisions 237, 243).
-- New keys come from a temporary sequence started past the keys in use
-- and past what the table's own sequence handed out, which is read, not
-- drawn from; the load moves the table's sequence past the keys it wrote.
BEGIN;
SELECT plan(8);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

-- Two environments whose sequences both began at 1: person 1 and 2 of
-- each are other people (surrogate keys), and the second's are re-keyed.
SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_ck_e1;
  CREATE SCHEMA tap_ck_e2;
  CREATE TABLE tap_ck_e1.person (id int PRIMARY KEY, email text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
  CREATE TABLE tap_ck_e2.person (LIKE tap_ck_e1.person INCLUDING ALL);
  INSERT INTO tap_ck_e1.person VALUES (1, 'a@x', 'TCK', 'F'), (2, 'b@x', 'TCK', 'F');
  INSERT INTO tap_ck_e2.person VALUES (1, 'c@x', 'TCK', 'F'), (2, 'd@x', 'TCK', 'F');
  CREATE TABLE tap_ck_e1.pet (id int PRIMARY KEY, tag text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
  CREATE TABLE tap_ck_e2.pet (LIKE tap_ck_e1.pet INCLUDING ALL);
  INSERT INTO tap_ck_e1.pet VALUES (1, 'p1', 'TCK', 'F'), (2, 'p2', 'TCK', 'F');
  INSERT INTO tap_ck_e2.pet VALUES (1, 'p3', 'TCK', 'F'), (2, 'p4', 'TCK', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_ck_self');
CREATE SCHEMA tap_ck;
CREATE TABLE tap_ck.person (id serial PRIMARY KEY, email text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('ck1', 'tap_ck_self', 10, 'tap_ck_e1'), tdm.add_environment('ck2', 'tap_ck_self', 20, 'tap_ck_e2');
-- (pets draw their ids from the people's sequence: ids unique across both)
CREATE TABLE tap_ck.pet (id int PRIMARY KEY DEFAULT nextval('tap_ck.person_id_seq'), tag text NOT NULL UNIQUE,
                         tdm_release text, tdm_feature text);
SELECT tdm.manage_table('tap_ck.person', '{email}', surrogate_key => true),
       tdm.manage_table('tap_ck.pet', '{tag}', surrogate_key => true);
SELECT tdm.create_release('TCK'), tdm.add_feature('TCK', 'F', 1);
SELECT tdm.tag_release('TCK');

-- The first call fails after it gave the new keys, before the load (a
-- business rule that divides by zero on new key 3, where a cancel or a
-- statement_timeout could have come), and is rolled back.
SELECT tdm.add_rule('tap_ck_fails', 'tap_ck.person', '10 / (id - 3) <> 0');
SELECT throws_ok($$SELECT tdm.consolidate('TCK', 'tap_ck')$$, '22012', NULL,
                 'the first call fails past the re-keying');
SELECT tdm.drop_rule('tap_ck_fails');
SELECT is(pg_sequence_last_value('tap_ck.person_id_seq'), NULL::bigint,
          'rolled back, it has drawn nothing from the table''s sequence');

SELECT tdm.consolidate('TCK', 'tap_ck');
SELECT results_eq($$SELECT id, email FROM tap_ck.person ORDER BY id$$,
                  $$VALUES (1, 'a@x'), (2, 'b@x'), (3, 'c@x'), (4, 'd@x')$$,
                  'the next call gives the same people the same keys');
SELECT results_eq($$SELECT id, tag FROM tap_ck.pet ORDER BY id$$,
                  $$VALUES (1, 'p1'), (2, 'p2'), (5, 'p3'), (6, 'p4')$$,
                  'a table drawing from the same sequence gets keys past the other''s new keys');
SELECT is(nextval('tap_ck.person_id_seq'), 7::bigint,
          'and the load moved the sequence past them all');

-- Giving new keys needs SELECT and UPDATE on the key's sequence: the
-- load reads it and moves it past the keys (decision 243).
CREATE TABLE tap_ck.solo (id serial PRIMARY KEY, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('tap_ck.solo');
CREATE TEMP TABLE IF NOT EXISTS tdm_previous_keys (rel regclass, env text, old_key text[], new_key jsonb);
CREATE TEMP TABLE solo_src (id int);
CREATE ROLE tap_ck_admin IN ROLE tdm_admin;
GRANT USAGE ON SCHEMA tap_ck TO tap_ck_admin;
GRANT SELECT ON tap_ck.solo, tdm_previous_keys, solo_src TO tap_ck_admin;
GRANT SELECT ON SEQUENCE tap_ck.solo_id_seq TO tap_ck_admin;
SET LOCAL ROLE tap_ck_admin;
SELECT throws_like($$SELECT tdm._new_key_expr('tap_ck.solo', 'tap_ck.solo', 'solo_src')$$,
  'consolidate: tap_ck.solo: new keys for the rows to re-key come after what sequence tap_ck.solo_id_seq handed out, and the load moves it past them: tap_ck_admin may not read and update it',
  'a caller who may read the key''s sequence but not update it is refused');
RESET ROLE;
GRANT UPDATE ON SEQUENCE tap_ck.solo_id_seq TO tap_ck_admin;
REVOKE SELECT ON SEQUENCE tap_ck.solo_id_seq FROM tap_ck_admin;
GRANT USAGE ON SEQUENCE tap_ck.solo_id_seq TO tap_ck_admin;
SET LOCAL ROLE tap_ck_admin;
SELECT throws_like($$SELECT tdm._new_key_expr('tap_ck.solo', 'tap_ck.solo', 'solo_src')$$, '%may not read and update it',
  'nor one who may use and update it, not read it (the load reads it to move it past the keys)');
RESET ROLE;
SELECT is(tdm._new_key_expr('tap_ck.solo', 'tap_ck.solo', 'solo_src'), 'nextval(''pg_temp.tdm_new_keys'')',
          'new keys come from a sequence of the session''s own');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_ck_e1 CASCADE;
DROP SCHEMA tap_ck_e2 CASCADE;
