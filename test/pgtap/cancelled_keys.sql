-- A consolidation cancelled or failed before it commits gives no key away:
-- the next call gives the same rows the same new keys (decision 237).
-- New keys come from a temporary sequence started past the keys in use
-- and past what the table's own sequence handed out, which is read, not
-- drawn from; the load moves the table's sequence past the keys it wrote.
BEGIN;
SELECT plan(4);
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
  INSERT INTO tap_ck_e2.person VALUES (1, 'c@x', 'TCK', 'F'), (2, 'd@x', 'TCK', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_ck_self');
CREATE SCHEMA tap_ck;
CREATE TABLE tap_ck.person (id serial PRIMARY KEY, email text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('ck1', 'tap_ck_self', 10, 'tap_ck_e1'), tdm.add_environment('ck2', 'tap_ck_self', 20, 'tap_ck_e2');
SELECT tdm.manage_table('tap_ck.person', '{email}', surrogate_key => true);
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
SELECT is(nextval('tap_ck.person_id_seq'), 5::bigint,
          'and the load moved the table''s sequence past them');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_ck_e1 CASCADE;
DROP SCHEMA tap_ck_e2 CASCADE;
