-- A row whose parent a decision deleted, merged by its table's
-- non_conflicting_merge into another environment's row that has no parent,
-- keeps its relationship conflict: the merge fills the other row's NULL
-- reference with this row's, to the deleted parent, and the row it goes
-- into would load referencing it (p323; decision 442 drops the conflict
-- only where the row is kept out, not merged).
BEGIN;
SELECT plan(3);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_mm_e1;
  CREATE SCHEMA tap_mm_e2;
  CREATE TABLE tap_mm_e1.mm_parent (id int PRIMARY KEY, code text NOT NULL UNIQUE, name text NOT NULL,
                                    tdm_release text, tdm_feature text);
  CREATE TABLE tap_mm_e1.mm_tag (id int PRIMARY KEY, code text NOT NULL UNIQUE, note text,
                                 parent_id int REFERENCES tap_mm_e1.mm_parent, tdm_release text, tdm_feature text);
  CREATE TABLE tap_mm_e2.mm_parent (LIKE tap_mm_e1.mm_parent INCLUDING ALL);
  CREATE TABLE tap_mm_e2.mm_tag (LIKE tap_mm_e1.mm_tag INCLUDING ALL);
  INSERT INTO tap_mm_e1.mm_parent VALUES (2, 'Y', 'Y', 'TMM', 'F');
  INSERT INTO tap_mm_e1.mm_tag VALUES (1, 'T', 'n', NULL, 'TMM', 'F');
  INSERT INTO tap_mm_e2.mm_parent VALUES (2, 'Y', 'Y other', 'TMM', 'F');
  INSERT INTO tap_mm_e2.mm_tag VALUES (1, 'T', NULL, 2, 'TMM', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_mm_self');
CREATE SCHEMA tap_mm;
CREATE TABLE tap_mm.mm_parent (id int PRIMARY KEY, code text NOT NULL UNIQUE, name text NOT NULL,
                               tdm_release text, tdm_feature text);
CREATE TABLE tap_mm.mm_tag (id int PRIMARY KEY, code text NOT NULL UNIQUE, note text,
                            parent_id int REFERENCES tap_mm.mm_parent, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('mm1', 'tap_mm_self', 10, 'tap_mm_e1'), tdm.add_environment('mm2', 'tap_mm_self', 20, 'tap_mm_e2');
SELECT tdm.manage_table('tap_mm.mm_parent', '{code}', core_columns => '{name}', surrogate_key => true),
       tdm.manage_table('tap_mm.mm_tag', '{code}', surrogate_key => true);
SELECT tdm.create_release('TMM'), tdm.add_feature('TMM', 'F', 1);
SELECT tdm.tag_release('TMM');
CREATE ROLE tap_mm_approver;
GRANT tdm_reviewer TO tap_mm_approver;

-- Parent Y's two rows differ in a core column: a reviewer deletes them.
SELECT tdm.consolidate('TMM', 'tap_mm');
SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'Y is not test data') FROM tdm.review_queue
 WHERE release = 'TMM';
SET SESSION AUTHORIZATION tap_mm_approver;
SELECT tdm.approve(conflict_id) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TMM', 'tap_mm');

SELECT is((SELECT c.rule::text FROM tdm.conflict c JOIN tdm.run r USING (run_id)
            WHERE r.release = 'TMM' AND c.rel = 'tap_mm.mm_tag'::regclass AND c.kind <> 'relationship'),
  'non_conflicting_merge', 'mm2''s tag T is merged into mm1''s by a rule''s merge');
SELECT is((SELECT count(*)::int FROM tdm.review_queue WHERE release = 'TMM' AND kind = 'relationship'), 1,
  'its relationship conflict stays for a reviewer');
SELECT is((SELECT status FROM tdm.run WHERE release = 'TMM'), 'awaiting_review', 'the run waits for it');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_mm_e1, tap_mm_e2 CASCADE;
