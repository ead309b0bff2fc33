-- A reference cycle's entry table (staff, compared before the wards'
-- keys are settled) compares its references to the wards by the wards
-- they name, by their natural key (code), as the environments hold them.
-- Ward W1 is 1 in the first environment and 2 in the second (W2 the other
-- way round). HN1's rows differ only where the first has no phone: they
-- merge, the phone kept (compared on the ids, ward_id differed, a
-- precedence kept the first row and the phone was lost). S is in ward 1
-- in both, W1 in one and W2 in the other, and its role differs: the
-- rationale names both wards, which the equal ids hid from the reviewer.
BEGIN;
SELECT plan(5);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.cr_tables(s text) RETURNS text LANGUAGE sql AS $$
  SELECT format($ddl$
    CREATE TABLE %1$I.cr_ward (ward_id int PRIMARY KEY, code text NOT NULL UNIQUE, head_nurse_id int NOT NULL,
                               tdm_release text, tdm_feature text);
    CREATE TABLE %1$I.cr_staff (staff_id int PRIMARY KEY, badge text NOT NULL UNIQUE,
                                ward_id int NOT NULL REFERENCES %1$I.cr_ward, phone text, role text,
                                tdm_release text, tdm_feature text);
    ALTER TABLE %1$I.cr_ward ADD FOREIGN KEY (head_nurse_id) REFERENCES %1$I.cr_staff;$ddl$, s)
$$;
SELECT dblink_exec(pg_temp.conninfo(current_database()), format($$
  SET session_replication_role = replica;
  CREATE SCHEMA tap_cr_e1;
  CREATE SCHEMA tap_cr_e2;
  %1$s
  %2$s
  INSERT INTO tap_cr_e1.cr_ward VALUES (1, 'W1', 11, 'TCR', 'F'), (2, 'W2', 12, 'TCR', 'F');
  INSERT INTO tap_cr_e1.cr_staff VALUES (11, 'HN1', 1, NULL, 'head', 'TCR', 'F'),
                                        (12, 'HN2', 2, '555-2', 'head', 'TCR', 'F'),
                                        (13, 'S', 1, NULL, 'nurse', 'TCR', 'F');
  INSERT INTO tap_cr_e2.cr_ward VALUES (1, 'W2', 21, 'TCR', 'F'), (2, 'W1', 22, 'TCR', 'F');
  INSERT INTO tap_cr_e2.cr_staff VALUES (21, 'HN2', 1, '555-2', 'head', 'TCR', 'F'),
                                        (22, 'HN1', 2, '555-1', 'head', 'TCR', 'F'),
                                        (13, 'S', 1, NULL, 'doctor', 'TCR', 'F');$$,
  pg_temp.cr_tables('tap_cr_e1'), pg_temp.cr_tables('tap_cr_e2'))) \g /dev/null
SELECT pg_temp.loopback_server('tap_cr_self');
CREATE SCHEMA tap_cr;
SELECT format('%s', pg_temp.cr_tables('tap_cr')) \gexec
SELECT tdm.add_environment('cr1', 'tap_cr_self', 10, 'tap_cr_e1'), tdm.add_environment('cr2', 'tap_cr_self', 20, 'tap_cr_e2');
SELECT tdm.manage_table('tap_cr.cr_ward', '{code}'), tdm.manage_table('tap_cr.cr_staff', '{badge}', core_columns => '{role}');
SELECT tdm.create_release('TCR'), tdm.add_feature('TCR', 'F', 1);
SELECT tdm.tag_release('TCR');

SELECT tdm.consolidate('TCR', 'tap_cr') AS run \gset
SELECT results_eq(format($$SELECT c.members -> 0 -> 'row' ->> 'badge', c.rule FROM tdm.conflict c
                            WHERE c.run_id = %s AND c.rel = 'tap_cr.cr_staff'::regclass ORDER BY 1$$, :run),
  $$VALUES ('HN1', 'non_conflicting_merge'), ('HN2', 'environment_precedence'), ('S', 'manual')$$,
  'references to one ward under two ids agree: HN1''s rows merge; HN2''s are alike');
SELECT is((SELECT rationale FROM tdm.review_queue WHERE rel = 'tap_cr.cr_staff'::regclass),
  'core column role differs, and ward_id differs (references W1 in cr1, W2 in cr2): a human decides',
  'S''s equal ward ids name two wards, and the rationale says which');

SELECT tdm.resolve(conflict_id, 'keep', 'cr2', rationale => 'S is the doctor of W2') FROM tdm.review_queue;
CREATE ROLE tap_cr_approver;
GRANT tdm_reviewer TO tap_cr_approver;
SET SESSION AUTHORIZATION tap_cr_approver;
SELECT tdm.approve(conflict_id) FROM tdm.decision WHERE approved_by IS NULL AND decided_priority = 1;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TCR', 'tap_cr');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'the run completes');
SELECT results_eq($$SELECT s.badge, w.code, s.phone, s.role FROM tap_cr.cr_staff s JOIN tap_cr.cr_ward w USING (ward_id)
                     ORDER BY 1$$,
  $$VALUES ('HN1', 'W1', '555-1', 'head'), ('HN2', 'W2', '555-2', 'head'), ('S', 'W2', NULL, 'doctor')$$,
  'HN1 keeps the phone one environment had; S is in the ward the kept environment said');
SELECT results_eq($$SELECT w.code, s.badge FROM tap_cr.cr_ward w JOIN tap_cr.cr_staff s ON s.staff_id = w.head_nurse_id
                     ORDER BY 1$$,
  $$VALUES ('W1', 'HN1'), ('W2', 'HN2')$$, 'each ward''s head nurse is its own');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_cr_e1, tap_cr_e2 CASCADE;
