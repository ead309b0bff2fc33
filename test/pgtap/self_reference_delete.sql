-- A row a decision deletes from a table that references itself (an
-- employee whose manager was deleted) is a deleted parent too: its own
-- reports and its accounts become relationship conflicts, one level a
-- call, not foreign-key violations that no decision can settle.
BEGIN;
SELECT plan(5);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

-- Two environments: schemas of this database, written by another session
-- (an environment reads committed rows), dropped at the end. st1's boss
-- manages emp, who manages intern; each of the last two has an account.
-- st2's boss has another role: a conflict a reviewer decides.
SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_sr_e1;
  CREATE SCHEMA tap_sr_e2;
  CREATE TABLE tap_sr_e1.person (id int PRIMARY KEY, email text NOT NULL UNIQUE, role text NOT NULL,
                                 manager_id int REFERENCES tap_sr_e1.person, tdm_release text, tdm_feature text);
  CREATE TABLE tap_sr_e1.account (id int PRIMARY KEY, person_id int NOT NULL REFERENCES tap_sr_e1.person,
                                  tdm_release text, tdm_feature text);
  CREATE TABLE tap_sr_e2.person (LIKE tap_sr_e1.person INCLUDING ALL);
  CREATE TABLE tap_sr_e2.account (LIKE tap_sr_e1.account INCLUDING ALL);
  INSERT INTO tap_sr_e1.person VALUES (1, 'boss@x', 'admin', NULL, 'TS1', 'F'), (2, 'emp@x', 'admin', 1, 'TS1', 'F'),
                                      (3, 'intern@x', 'admin', 2, 'TS1', 'F');
  INSERT INTO tap_sr_e1.account VALUES (10, 2, 'TS1', 'F'), (11, 3, 'TS1', 'F');
  INSERT INTO tap_sr_e2.person VALUES (1, 'boss@x', 'support', NULL, 'TS1', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_sr_self');
CREATE SCHEMA tap_sr;
CREATE TABLE tap_sr.person (id int PRIMARY KEY, email text NOT NULL UNIQUE, role text NOT NULL,
                            manager_id int REFERENCES tap_sr.person, tdm_release text, tdm_feature text);
CREATE TABLE tap_sr.account (id int PRIMARY KEY, person_id int NOT NULL REFERENCES tap_sr.person,
                             tdm_release text, tdm_feature text);
SELECT tdm.add_environment('sr1', 'tap_sr_self', 10, 'tap_sr_e1'), tdm.add_environment('sr2', 'tap_sr_self', 20, 'tap_sr_e2');
SELECT tdm.manage_table('tap_sr.person', '{email}', core_columns => '{role}'), tdm.manage_table('tap_sr.account');
SELECT tdm.create_release('TS1'), tdm.add_feature('TS1', 'F', 1);
SELECT tdm.tag_release('TS1');
CREATE ROLE tap_sr_approver;
GRANT tdm_reviewer TO tap_sr_approver;
-- One call: every pending conflict deleted (delete_all), and approved by
-- the second reviewer; the queue it left, as "table:key".
CREATE VIEW pg_temp.queue AS
  SELECT format('%s:%s', q.rel, m."row" ->> 'id') AS item FROM tdm.review_queue q
    JOIN tdm.conflict_member m ON m.conflict_id = q.conflict_id
   WHERE m.run_id = (SELECT max(run_id) FROM tdm.run) ORDER BY 1;
CREATE FUNCTION pg_temp.delete_pending() RETURNS void LANGUAGE sql AS $$
  SELECT tdm.resolve_all('TS1', 'delete_all', 'not test data any more')
$$;

SELECT tdm.consolidate('TS1', 'tap_sr');  -- the bosses' roles differ
SELECT pg_temp.delete_pending();
SET SESSION AUTHORIZATION tap_sr_approver;
SELECT count(tdm.approve(conflict_id)) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TS1', 'tap_sr');  -- emp's manager deleted
SELECT results_eq('SELECT item FROM pg_temp.queue', ARRAY['tap_sr.person:2'], 'emp references the deleted boss');
SELECT pg_temp.delete_pending();
SET SESSION AUTHORIZATION tap_sr_approver;
SELECT count(tdm.approve(conflict_id)) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TS1', 'tap_sr');
SELECT results_eq('SELECT item FROM pg_temp.queue', ARRAY['tap_sr.account:10', 'tap_sr.person:3'],
  'emp deleted by decision: its report and its account are relationship conflicts');
SELECT pg_temp.delete_pending();
SET SESSION AUTHORIZATION tap_sr_approver;
SELECT count(tdm.approve(conflict_id)) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TS1', 'tap_sr');
SELECT results_eq('SELECT item FROM pg_temp.queue', ARRAY['tap_sr.account:11'],
  'intern deleted by decision, two levels below the boss: its account');
SELECT pg_temp.delete_pending();
SET SESSION AUTHORIZATION tap_sr_approver;
SELECT count(tdm.approve(conflict_id)) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TS1', 'tap_sr');
SELECT results_eq($$SELECT status, rows_collected, rows_loaded, rows_deleted FROM tdm.run$$,
  $$VALUES ('completed', 6::bigint, 0::bigint, 6::bigint)$$,
  'completed: every collected row deleted by decision, none lost unaccounted');
SELECT is((SELECT count(*)::int FROM tdm.violation), 0, 'no violation on the way');

SELECT * FROM finish();
ROLLBACK;
-- (After the transaction: until then, its foreign scans' remote
-- transaction holds the tables.)
SET client_min_messages = warning;
DROP SCHEMA tap_sr_e1, tap_sr_e2 CASCADE;
