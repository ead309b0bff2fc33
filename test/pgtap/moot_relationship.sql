-- A row whose parent a decision deleted, merged by its own table's rule
-- into another environment's row whose parent lives, asks no reviewer
-- anything: no relationship conflict stays for it, and its environment's
-- children follow the row it went into. (Its relationship conflict was
-- recorded before the table's own conflicts, and its suggestion, delete
-- the row, then deleted its children too, p320.)
BEGIN;
SELECT plan(5);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_mr_e1;
  CREATE SCHEMA tap_mr_e2;
  CREATE TABLE tap_mr_e1.mr_parent (id int PRIMARY KEY, code text NOT NULL UNIQUE, name text NOT NULL,
                                    tdm_release text, tdm_feature text);
  CREATE TABLE tap_mr_e1.mr_child (id int PRIMARY KEY, code text NOT NULL UNIQUE,
                                   parent_id int NOT NULL REFERENCES tap_mr_e1.mr_parent, tdm_release text, tdm_feature text);
  CREATE TABLE tap_mr_e1.mr_grandchild (id int PRIMARY KEY, child_id int NOT NULL REFERENCES tap_mr_e1.mr_child,
                                        tdm_release text, tdm_feature text);
  CREATE TABLE tap_mr_e2.mr_parent (LIKE tap_mr_e1.mr_parent INCLUDING ALL);
  CREATE TABLE tap_mr_e2.mr_child (LIKE tap_mr_e1.mr_child INCLUDING ALL);
  CREATE TABLE tap_mr_e2.mr_grandchild (LIKE tap_mr_e1.mr_grandchild INCLUDING ALL);
  INSERT INTO tap_mr_e1.mr_parent VALUES (1, 'X', 'X', 'TMR', 'F'), (2, 'Y', 'Y', 'TMR', 'F');
  INSERT INTO tap_mr_e1.mr_child VALUES (1, 'C', 1, 'TMR', 'F');
  INSERT INTO tap_mr_e1.mr_grandchild VALUES (1, 1, 'TMR', 'F');
  INSERT INTO tap_mr_e2.mr_parent VALUES (1, 'X', 'X', 'TMR', 'F'), (2, 'Y', 'Y other', 'TMR', 'F');
  INSERT INTO tap_mr_e2.mr_child VALUES (1, 'C', 2, 'TMR', 'F');
  INSERT INTO tap_mr_e2.mr_grandchild VALUES (2, 1, 'TMR', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_mr_self');
CREATE SCHEMA tap_mr;
CREATE TABLE tap_mr.mr_parent (id int PRIMARY KEY, code text NOT NULL UNIQUE, name text NOT NULL,
                               tdm_release text, tdm_feature text);
CREATE TABLE tap_mr.mr_child (id int PRIMARY KEY, code text NOT NULL UNIQUE,
                              parent_id int NOT NULL REFERENCES tap_mr.mr_parent, tdm_release text, tdm_feature text);
CREATE TABLE tap_mr.mr_grandchild (id int PRIMARY KEY, child_id int NOT NULL REFERENCES tap_mr.mr_child,
                                   tdm_release text, tdm_feature text);
SELECT tdm.add_environment('mr1', 'tap_mr_self', 10, 'tap_mr_e1'), tdm.add_environment('mr2', 'tap_mr_self', 20, 'tap_mr_e2');
SELECT tdm.manage_table('tap_mr.mr_parent', '{code}', core_columns => '{name}', surrogate_key => true),
       tdm.manage_table('tap_mr.mr_child', '{code}', surrogate_key => true),
       tdm.manage_table('tap_mr.mr_grandchild', surrogate_key => true);
SELECT tdm.create_release('TMR'), tdm.add_feature('TMR', 'F', 1);
SELECT tdm.tag_release('TMR');
CREATE ROLE tap_mr_approver;
GRANT tdm_reviewer TO tap_mr_approver;

-- Parent Y's two rows differ in a core column: a reviewer deletes them.
SELECT tdm.consolidate('TMR', 'tap_mr');
SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'Y is not test data') FROM tdm.review_queue
 WHERE release = 'TMR';
SET SESSION AUTHORIZATION tap_mr_approver;
SELECT tdm.approve(conflict_id) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TMR', 'tap_mr');

SELECT is((SELECT count(*)::int FROM tdm.conflict c JOIN tdm.run r USING (run_id)
            WHERE r.release = 'TMR' AND c.kind = 'relationship'), 0,
  'mr2''s child C, merged into mr1''s (whose parent X lives), has no relationship conflict');
SELECT is((SELECT c.rule::text FROM tdm.conflict c JOIN tdm.run r USING (run_id)
            WHERE r.release = 'TMR' AND c.rel = 'tap_mr.mr_child'::regclass), 'environment_precedence',
  'its table''s rule settles it: mr1''s C stays');
SELECT is((SELECT status FROM tdm.run WHERE release = 'TMR'), 'completed', 'nothing waits for a reviewer');
SELECT results_eq($$SELECT g.id, c.code, p.code FROM tap_mr.mr_grandchild g JOIN tap_mr.mr_child c ON c.id = g.child_id
                     JOIN tap_mr.mr_parent p ON p.id = c.parent_id ORDER BY g.id$$,
  $$VALUES (1, 'C', 'X'), (2, 'C', 'X')$$,
  'both grandchildren load, under the one C, whose parent is X');
SELECT is((SELECT rows_collected = rows_loaded + rows_merged + rows_deleted FROM tdm.run WHERE release = 'TMR'), true,
  'every row is accounted for');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_mr_e1, tap_mr_e2 CASCADE;
