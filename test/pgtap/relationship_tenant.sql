-- A row orphaned through a reference that shares a column with its
-- primary key: a task's label (task_id, label_id) referencing the
-- tenant's label (tenant_id, label_id). A merge could only point it at
-- another tenant's label under the same label_id, so none is offered or
-- taken; the reviewer keeps it (its parent loaded first) or deletes it
-- (decision 239).
BEGIN;
SELECT plan(4);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_rt_e1;
  CREATE SCHEMA tap_rt_e2;
  CREATE TABLE tap_rt_e1.label (tenant_id int, id int, name text NOT NULL, PRIMARY KEY (tenant_id, id),
                                tdm_release text, tdm_feature text);
  CREATE TABLE tap_rt_e1.task_label (task_id int, tenant_id int NOT NULL, label_id int,
                                     PRIMARY KEY (task_id, label_id),
                                     FOREIGN KEY (tenant_id, label_id) REFERENCES tap_rt_e1.label,
                                     tdm_release text, tdm_feature text);
  CREATE TABLE tap_rt_e2.label (LIKE tap_rt_e1.label INCLUDING ALL);
  CREATE TABLE tap_rt_e2.task_label (LIKE tap_rt_e1.task_label INCLUDING ALL);
  INSERT INTO tap_rt_e1.label VALUES (1, 1, 'bug', 'TRT', 'F'), (3, 1, 'urgent', 'TRT', 'F');
  INSERT INTO tap_rt_e2.label VALUES (1, 1, 'defect', 'TRT', 'F');
  INSERT INTO tap_rt_e2.task_label VALUES (7, 1, 1, 'TRT', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_rt_self');
CREATE SCHEMA tap_rt;
CREATE TABLE tap_rt.label (tenant_id int, id int, name text NOT NULL, PRIMARY KEY (tenant_id, id),
                           tdm_release text, tdm_feature text);
CREATE TABLE tap_rt.task_label (task_id int, tenant_id int NOT NULL, label_id int, PRIMARY KEY (task_id, label_id),
                                FOREIGN KEY (tenant_id, label_id) REFERENCES tap_rt.label,
                                tdm_release text, tdm_feature text);
SELECT tdm.add_environment('rt1', 'tap_rt_self', 10, 'tap_rt_e1'), tdm.add_environment('rt2', 'tap_rt_self', 20, 'tap_rt_e2');
SELECT tdm.manage_table('tap_rt.label', core_columns => '{name}'), tdm.manage_table('tap_rt.task_label');
SELECT tdm.create_release('TRT'), tdm.add_feature('TRT', 'F', 1);
SELECT tdm.tag_release('TRT');
CREATE ROLE tap_rt_approver;
GRANT tdm_reviewer TO tap_rt_approver;

SELECT tdm.consolidate('TRT', 'tap_rt');  -- tenant 1's label 1 is named otherwise in each
SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'not test data any more')
  FROM tdm.review_queue WHERE rel = 'tap_rt.label'::regclass;
SET SESSION AUTHORIZATION tap_rt_approver;
SELECT count(tdm.approve(conflict_id)) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TRT', 'tap_rt');  -- rt2's task 7 loses its label
SELECT conflict_id AS orphan FROM tdm.review_queue WHERE rel = 'tap_rt.task_label'::regclass \gset
SELECT is((SELECT q.suggestion FROM tdm.review_queue q WHERE q.conflict_id = :'orphan'),
          'delete the row (delete_all), or keep it and load its parent first (its references hold columns of its'
          ' primary key: a merge may not change them)',
          'a reference sharing label_id with the key: no merge is suggested');
SELECT throws_ok(format($$SELECT tdm.resolve(%L, 'merge', merged => '{"tenant_id": 3}', rationale => 'x')$$, :'orphan'),
  '22023', format('decision on %s: a relationship conflict''s merge cannot set the references of tap_rt.task_label that name deleted rows: they share columns with its primary key (task_id, label_id), which a merge keeps', :'orphan'),
  'pointing it at tenant 3''s label 1 is refused');
\ir ../../sql/include/errors.sql
SELECT is(pg_temp.hint_of(format($$SELECT tdm.resolve(%L, 'merge', merged => '{"tenant_id": 3}', rationale => 'x')$$,
                                 :'orphan')),
  'Keep it (its parent loaded first) or delete it (delete_all).',
  'the hint says what settles it');
SELECT lives_ok(format($$SELECT tdm.resolve(%L, 'delete_all', rationale => 'its label is gone')$$, :'orphan'),
  'delete_all settles it');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_rt_e1 CASCADE;
DROP SCHEMA tap_rt_e2 CASCADE;
