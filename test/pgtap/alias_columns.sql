-- Columns named as tdm's queries name their rows (t, m, x, a): tdm reads
-- whole rows as t.*, so a user's column is never taken for the row. A
-- later release references a row of an earlier one in master (read from
-- master as m), a parent deleted by a decision leaves a relationship
-- conflict (its child read as t), a merge goes into a table with a stored
-- generated column (patched as t), and data_diff shows rows (as t).
BEGIN;
SELECT plan(5);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE FUNCTION pg_temp.make_env(s text) RETURNS void LANGUAGE plpgsql AS $f$
  BEGIN
    EXECUTE format($t$
      CREATE SCHEMA %1$I;
      CREATE TABLE %1$I.al_parent (id int PRIMARY KEY, email text UNIQUE, t text, m text, x text, a text,
                                   g text GENERATED ALWAYS AS (upper(t)) STORED,
                                   tdm_release text, tdm_feature text);
      CREATE TABLE %1$I.al_child (id int PRIMARY KEY, parent_id int REFERENCES %1$I.al_parent, t int, m int,
                                  tdm_release text, tdm_feature text)$t$, s);
  END $f$;
  SELECT pg_temp.make_env('tap_al_e1'), pg_temp.make_env('tap_al_e2');
  INSERT INTO tap_al_e1.al_parent (id, email, t, m, x, a, tdm_release, tdm_feature)
  VALUES (1, 'one@x', 'tee', 'em', 'ex', 'ay', 'TAL1', 'F'), (2, 'two@x', NULL, 'm2', 'x2', 'a2', 'TAL1', 'F'),
         (3, 'three@x', 'gone', 'm3', 'x3', 'a3', 'TAL1', 'F');
  INSERT INTO tap_al_e2.al_parent (id, email, t, m, x, a, tdm_release, tdm_feature)
  VALUES (12, 'two@x', 'filled', 'm2', 'x2', 'a2', 'TAL1', 'F'), (13, 'three@x', 'GONE', 'm3', 'x3', 'a3', 'TAL1', 'F');
  INSERT INTO tap_al_e1.al_child VALUES (1, 1, 10, 20, 'TAL1', 'F'), (3, 3, 30, 40, 'TAL1', 'F');
  -- (a later release's child of an earlier release's parent)
  INSERT INTO tap_al_e1.al_child VALUES (2, 1, 11, 21, 'TAL2', 'G')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_al_self');
CREATE TABLE staging.al_parent (id int PRIMARY KEY, email text UNIQUE, t text, m text, x text, a text,
                                g text GENERATED ALWAYS AS (upper(t)) STORED, tdm_release text, tdm_feature text);
CREATE TABLE staging.al_child (id int PRIMARY KEY, parent_id int REFERENCES staging.al_parent, t int, m int,
                               tdm_release text, tdm_feature text);
SELECT tdm.add_environment('al1', 'tap_al_self', 10, 'tap_al_e1'),
       tdm.add_environment('al2', 'tap_al_self', 20, 'tap_al_e2');
SELECT tdm.manage_table('staging.al_parent', '{email}', core_columns => '{t}'), tdm.manage_table('staging.al_child');
SELECT tdm.create_release('TAL1'), tdm.add_feature('TAL1', 'F', 1),
       tdm.create_release('TAL2', parent => 'TAL1'), tdm.add_feature('TAL2', 'G', 1);
SELECT tdm.tag_release('TAL1'), tdm.consolidate('TAL1');
CREATE ROLE tap_al_approver;
GRANT tdm_reviewer TO tap_al_approver;

-- two@x: a merge (NULL t filled from al2), into the generated column too;
-- three@x: deleted, its child becomes a relationship conflict, deleted too.
SELECT tdm.resolve(conflict_id, 'merge', merged => '{"t": "filled"}', rationale => 'fill t')
  FROM tdm.review_queue
 WHERE conflict_id IN (SELECT cm.conflict_id FROM tdm.conflict_member cm WHERE cm."row" ->> 'email' = 'two@x');
SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'not test data')
  FROM tdm.review_queue
 WHERE conflict_id IN (SELECT cm.conflict_id FROM tdm.conflict_member cm WHERE cm."row" ->> 'email' = 'three@x');
SET SESSION AUTHORIZATION tap_al_approver;
SELECT tdm.approve(conflict_id) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TAL1');
SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'its parent is gone')
  FROM tdm.review_queue WHERE kind = 'relationship';
SET SESSION AUTHORIZATION tap_al_approver;
SELECT tdm.approve(conflict_id) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TAL1');
SELECT is((SELECT status FROM tdm.run WHERE release = 'TAL1' ORDER BY run_id DESC LIMIT 1), 'completed',
  'decisions on rows with columns t, m, x and a apply: merge, delete_all, its relationship conflict');
SELECT results_eq($$SELECT email, t, m, g FROM staging.al_parent ORDER BY email$$,
  $$VALUES ('one@x', 'tee', 'em', 'TEE'), ('two@x', 'filled', 'm2', 'FILLED')$$,
  'the merged value is loaded, its generated column computed from it');

-- A later release's child references an earlier release's parent: read
-- from master.
SELECT tdm.promote('TAL1');
SELECT tdm.tag_release('TAL2'), tdm.consolidate('TAL2');
SELECT results_eq($$SELECT r.status, (SELECT c.parent_id FROM staging.al_child c WHERE c.id = 2) FROM tdm.run r
                     WHERE r.release = 'TAL2'$$,
  $$VALUES ('completed', 1)$$, 'a later release''s row references master''s row of a table with a column m');

SELECT results_eq($$SELECT key, kind, columns, row_a ->> 't', row_b ->> 't'
                      FROM tdm.data_diff('staging.al_parent', 'al1', 'al2') WHERE key = '{"id": 1}'$$,
  $$VALUES ('{"id": 1}'::jsonb, 'only_in_a', NULL::text[], 'tee', NULL)$$,
  'data_diff shows the rows of a table with a column t');
SELECT is((SELECT count(*) FROM tdm.verify_audit()), 0::bigint, 'the audit chain is intact');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_al_e1, tap_al_e2 CASCADE;
