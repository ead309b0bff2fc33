-- A child whose parent was merged into another environment's row follows
-- it there (e2's badge, whose carol is merged into e1's carol, and e2's
-- parking pass, which names her by email); when a
-- decision then deletes that row (e1's carol, whose manager bob a
-- decision deleted), the child is a relationship conflict at the next
-- call, not a foreign-key violation at load that no decision can settle.
BEGIN;
SELECT plan(4);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_mp_e1;
  CREATE SCHEMA tap_mp_e2;
  CREATE SCHEMA tap_mp_e3;
  CREATE TABLE tap_mp_e1.employee (id int PRIMARY KEY, email text NOT NULL UNIQUE, role text,
                                   manager_id int REFERENCES tap_mp_e1.employee, tdm_release text, tdm_feature text);
  CREATE TABLE tap_mp_e1.badge (id int PRIMARY KEY, employee_id int REFERENCES tap_mp_e1.employee,
                                tdm_release text, tdm_feature text);
  CREATE TABLE tap_mp_e1.pass (id int PRIMARY KEY, employee_email text REFERENCES tap_mp_e1.employee (email),
                               tdm_release text, tdm_feature text);
  CREATE TABLE tap_mp_e2.employee (LIKE tap_mp_e1.employee INCLUDING ALL);
  CREATE TABLE tap_mp_e2.pass (LIKE tap_mp_e1.pass INCLUDING ALL);
  CREATE TABLE tap_mp_e3.pass (LIKE tap_mp_e1.pass INCLUDING ALL);
  CREATE TABLE tap_mp_e2.badge (LIKE tap_mp_e1.badge INCLUDING ALL);
  CREATE TABLE tap_mp_e3.employee (LIKE tap_mp_e1.employee INCLUDING ALL);
  CREATE TABLE tap_mp_e3.badge (LIKE tap_mp_e1.badge INCLUDING ALL);
  INSERT INTO tap_mp_e1.employee VALUES (1, 'bob@x', 'admin', NULL, 'TMP', 'F'), (2, 'carol@x', 'dev', 1, 'TMP', 'F');
  INSERT INTO tap_mp_e2.employee VALUES (1, 'alice@x', 'dev', NULL, 'TMP', 'F'), (9, 'carol@x', 'dev', 1, 'TMP', 'F');
  INSERT INTO tap_mp_e2.badge VALUES (20, 9, 'TMP', 'F');
  INSERT INTO tap_mp_e2.pass VALUES (30, 'carol@x', 'TMP', 'F');
  INSERT INTO tap_mp_e3.employee VALUES (5, 'bob@x', 'support', NULL, 'TMP', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_mp_self');
CREATE SCHEMA tap_mp;
CREATE TABLE tap_mp.employee (id int PRIMARY KEY, email text NOT NULL UNIQUE, role text,
                              manager_id int REFERENCES tap_mp.employee, tdm_release text, tdm_feature text);
CREATE TABLE tap_mp.badge (id int PRIMARY KEY, employee_id int REFERENCES tap_mp.employee,
                           tdm_release text, tdm_feature text);
CREATE TABLE tap_mp.pass (id int PRIMARY KEY, employee_email text REFERENCES tap_mp.employee (email),
                          tdm_release text, tdm_feature text);
SELECT tdm.add_environment('mp' || i, 'tap_mp_self', 10 * i, 'tap_mp_e' || i) FROM generate_series(1, 3) AS i;
SELECT tdm.manage_table('tap_mp.employee', '{email}', core_columns => '{role}'), tdm.manage_table('tap_mp.badge'),
       tdm.manage_table('tap_mp.pass');
SELECT tdm.create_release('TMP'), tdm.add_feature('TMP', 'F', 1);
SELECT tdm.tag_release('TMP');
CREATE ROLE tap_mp_approver;
GRANT tdm_reviewer TO tap_mp_approver;
CREATE FUNCTION pg_temp.delete_pending() RETURNS void LANGUAGE sql AS $$
  SELECT tdm.resolve_all('TMP', 'delete_all', 'not test data any more')
$$;

SELECT tdm.consolidate('TMP', 'tap_mp');  -- the bobs' roles differ
SELECT is((SELECT k.new_key FROM tdm.key_map k WHERE k.rel = 'tap_mp.employee'::regclass AND k.reason = 'merged'),
          '{"id": 2}'::jsonb, 'e2''s carol is merged into e1''s, and e2''s badge follows her there');
SELECT pg_temp.delete_pending();
SET SESSION AUTHORIZATION tap_mp_approver;
SELECT count(tdm.approve(conflict_id)) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TMP', 'tap_mp');  -- bob deleted: carol's manager
SELECT pg_temp.delete_pending();
SET SESSION AUTHORIZATION tap_mp_approver;
SELECT count(tdm.approve(conflict_id)) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TMP', 'tap_mp');  -- carol deleted
SELECT results_eq($$SELECT q.rel::text, q.members -> 0 ->> 'env', q.members -> 0 -> 'row' ->> 'id',
                           q.rationale ~ '^references tap_mp\.employee \(2\) of mp1 by [a-z_]+, which decision'
                      FROM tdm.review_queue q ORDER BY 1$$,
                  $$VALUES ('tap_mp.badge', 'mp2', '20', true), ('tap_mp.pass', 'mp2', '30', true)$$,
                  'e2''s badge and pass, whose carol is deleted in e1, are relationship conflicts naming e1''s row');
SELECT is((SELECT count(*)::int FROM tdm.violation), 0, 'no violation while it waits');
SELECT pg_temp.delete_pending();
SET SESSION AUTHORIZATION tap_mp_approver;
SELECT count(tdm.approve(conflict_id)) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TMP', 'tap_mp');
SELECT results_eq($$SELECT status, rows_collected, rows_loaded, rows_merged, rows_deleted FROM tdm.run$$,
  $$VALUES ('completed', 7::bigint, 1::bigint, 1::bigint, 5::bigint)$$,
  'completed: alice loaded; both bobs, carol, the badge and the pass deleted by decisions; e2''s carol merged');

SELECT * FROM finish();
ROLLBACK;
-- (After the transaction: until then, its foreign scans' remote
-- transaction holds the tables.)
SET client_min_messages = warning;
DROP SCHEMA tap_mp_e1, tap_mp_e2, tap_mp_e3 CASCADE;
