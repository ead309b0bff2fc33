-- Rows a decision deletes in a reference cycle (a team has a lead, a
-- member has a team) are deleted parents like any other, whichever table
-- of the cycle is resolved first: each level of their children becomes
-- relationship conflicts at the next call, until the run completes, not a
-- foreign-key violation at load that no decision can settle.
BEGIN;
SELECT plan(5);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

-- e2's team red (which a decision deletes) has members cat and dan; dan
-- leads team green, whose member is eli. e1's red differs from e2's; e2's
-- cat has the id of e1's ann, so she is re-keyed before she is deleted.
SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_cy_e1;
  CREATE SCHEMA tap_cy_e2;
  CREATE TABLE tap_cy_e1.team (id int PRIMARY KEY, name text NOT NULL UNIQUE, descr text, lead_id int,
                               tdm_release text, tdm_feature text);
  CREATE TABLE tap_cy_e1.member (id int PRIMARY KEY, email text NOT NULL UNIQUE,
                                 team_id int REFERENCES tap_cy_e1.team, tdm_release text, tdm_feature text);
  ALTER TABLE tap_cy_e1.team ADD FOREIGN KEY (lead_id) REFERENCES tap_cy_e1.member;
  CREATE TABLE tap_cy_e2.team (LIKE tap_cy_e1.team INCLUDING ALL);
  CREATE TABLE tap_cy_e2.member (LIKE tap_cy_e1.member INCLUDING ALL);
  INSERT INTO tap_cy_e1.team VALUES (1, 'red', 'one', NULL, 'TCY', 'F');
  INSERT INTO tap_cy_e1.member VALUES (10, 'ann@x', 1, 'TCY', 'F');
  UPDATE tap_cy_e1.team SET lead_id = 10;
  INSERT INTO tap_cy_e2.team VALUES (1, 'red', 'two', NULL, 'TCY', 'G'), (3, 'green', 'three', NULL, 'TCY', 'F');
  INSERT INTO tap_cy_e2.member VALUES (10, 'cat@x', 1, 'TCY', 'F'), (21, 'dan@x', 1, 'TCY', 'F'),
                                      (22, 'eli@x', 3, 'TCY', 'F');
  UPDATE tap_cy_e2.team SET lead_id = CASE id WHEN 1 THEN 10 ELSE 21 END$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_cy_self');
CREATE SCHEMA tap_cy;
CREATE TABLE tap_cy.team (id int PRIMARY KEY, name text NOT NULL UNIQUE, descr text, lead_id int,
                          tdm_release text, tdm_feature text);
CREATE TABLE tap_cy.member (id int PRIMARY KEY, email text NOT NULL UNIQUE, team_id int REFERENCES tap_cy.team,
                            tdm_release text, tdm_feature text);
ALTER TABLE tap_cy.team ADD FOREIGN KEY (lead_id) REFERENCES tap_cy.member;
SELECT tdm.add_environment('cy1', 'tap_cy_self', 10, 'tap_cy_e1'), tdm.add_environment('cy2', 'tap_cy_self', 20, 'tap_cy_e2');
SELECT tdm.manage_table('tap_cy.team', '{name}'), tdm.manage_table('tap_cy.member', '{email}');
SELECT tdm.create_release('TCY'), tdm.add_feature('TCY', 'F', 1), tdm.add_feature('TCY', 'G', 1);
SELECT tdm.tag_release('TCY');
CREATE ROLE tap_cy_approver;
GRANT tdm_reviewer TO tap_cy_approver;
-- The queue, as "table:name", after a call; then every pending conflict
-- deleted (delete_all) and approved by the second reviewer.
CREATE FUNCTION pg_temp.queue_after_call() RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tdm.consolidate('TCY', 'tap_cy');
  RETURN QUERY SELECT format('%s:%s', q.rel, coalesce(m."row" ->> 'name', m."row" ->> 'email'))
                 FROM tdm.review_queue q
                 JOIN tdm.conflict_member m ON m.conflict_id = q.conflict_id
                WHERE m.run_id = (SELECT max(run_id) FROM tdm.run) ORDER BY 1;
END
$$;
CREATE FUNCTION pg_temp.delete_pending() RETURNS void LANGUAGE sql AS $$
  SELECT tdm.resolve_all('TCY', 'delete_all', 'not test data any more')
$$;

SELECT results_eq('SELECT pg_temp.queue_after_call()', ARRAY['tap_cy.team:red', 'tap_cy.team:red'],
                  'the two reds differ: a reviewer decides');
SELECT pg_temp.delete_pending();
SELECT results_eq('SELECT pg_temp.queue_after_call()',
                  ARRAY['tap_cy.member:ann@x', 'tap_cy.member:cat@x', 'tap_cy.member:dan@x'],
                  'red deleted by decision: its members are relationship conflicts');
SELECT pg_temp.delete_pending();
SET SESSION AUTHORIZATION tap_cy_approver;
SELECT count(tdm.approve(conflict_id)) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT results_eq('SELECT pg_temp.queue_after_call()', ARRAY['tap_cy.team:green'],
                  'dan deleted by decision: the team he leads, back across the cycle');
SELECT pg_temp.delete_pending();
SET SESSION AUTHORIZATION tap_cy_approver;
SELECT count(tdm.approve(conflict_id)) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT results_eq('SELECT pg_temp.queue_after_call()', ARRAY['tap_cy.member:eli@x'],
                  'green deleted by decision: its member');
SELECT pg_temp.delete_pending();
SET SESSION AUTHORIZATION tap_cy_approver;
SELECT count(tdm.approve(conflict_id)) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TCY', 'tap_cy');
SELECT results_eq($$SELECT status, rows_collected, rows_loaded, rows_deleted, rows_renamed FROM tdm.run$$,
  $$VALUES ('completed', 7::bigint, 0::bigint, 7::bigint, 0::bigint)$$,
  'completed: every row deleted by a decision (cat too, re-keyed first), none left referencing a deleted one');

SELECT * FROM finish();
ROLLBACK;
-- (After the transaction: until then, its foreign scans' remote
-- transaction holds the tables.)
SET client_min_messages = warning;
DROP SCHEMA tap_cy_e1, tap_cy_e2 CASCADE;
