-- Consolidation passes over a table the release brings no row of (decision
-- 227), unless something still speaks of it: TET2 brings one order line
-- only, whose order TET1's reviewer deleted. The orders' turn still comes
-- (the line is a relationship conflict naming that decision, not a foreign
-- key violation), and the run's report lists the tables passed over.
BEGIN;
SELECT plan(5);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_et_e1;
  CREATE SCHEMA tap_et_e2;
  CREATE TABLE tap_et_e1.ord (id int PRIMARY KEY, ref text NOT NULL UNIQUE, descr text,
                              tdm_release text, tdm_feature text);
  CREATE TABLE tap_et_e1.line (ord_id int REFERENCES tap_et_e1.ord, line_no int, qty int,
                               tdm_release text, tdm_feature text, PRIMARY KEY (ord_id, line_no));
  CREATE TABLE tap_et_e1.note (id int PRIMARY KEY, body text, tdm_release text, tdm_feature text);
  CREATE TABLE tap_et_e2.ord (LIKE tap_et_e1.ord INCLUDING ALL);
  CREATE TABLE tap_et_e2.line (LIKE tap_et_e1.line INCLUDING ALL);
  CREATE TABLE tap_et_e2.note (LIKE tap_et_e1.note INCLUDING ALL);
  INSERT INTO tap_et_e1.ord VALUES (1, 'A', 'one', 'TET1', 'F');
  INSERT INTO tap_et_e2.ord VALUES (1, 'A', 'two', 'TET1', 'G');
  INSERT INTO tap_et_e1.note VALUES (1, 'hello', 'TET1', 'F');
  INSERT INTO tap_et_e1.line VALUES (1, 1, 5, 'TET2', 'H')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_et_self');
CREATE SCHEMA tap_et;
CREATE TABLE tap_et.ord (id int PRIMARY KEY, ref text NOT NULL UNIQUE, descr text, tdm_release text, tdm_feature text);
CREATE TABLE tap_et.line (ord_id int REFERENCES tap_et.ord, line_no int, qty int, tdm_release text, tdm_feature text,
                          PRIMARY KEY (ord_id, line_no));
CREATE TABLE tap_et.note (id int PRIMARY KEY, body text, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('et1', 'tap_et_self', 10, 'tap_et_e1'), tdm.add_environment('et2', 'tap_et_self', 20, 'tap_et_e2');
SELECT tdm.manage_table('tap_et.ord', '{ref}'), tdm.manage_table('tap_et.line'), tdm.manage_table('tap_et.note');
SELECT tdm.create_release('TET1'), tdm.add_feature('TET1', 'F', 1), tdm.add_feature('TET1', 'G', 1),
       tdm.create_release('TET2', parent => 'TET1'), tdm.add_feature('TET2', 'H', 1),
       tdm.create_release('TET3', parent => 'TET2'), tdm.add_feature('TET3', 'I', 1);
CREATE ROLE tap_et_approver;
GRANT tdm_reviewer TO tap_et_approver;

-- TET1: the two A orders differ, and neither is right.
SELECT tdm.tag_release('TET1'), tdm.consolidate('TET1', 'tap_et');
SELECT tdm.resolve_all('TET1', 'delete_all', 'neither order is test data');
SET SESSION AUTHORIZATION tap_et_approver;
SELECT count(tdm.approve(conflict_id)) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TET1', 'tap_et'), tdm.promote('TET1', 'tap_et');

-- TET2: one line, under et1's order A, which TET1 deleted.
SELECT tdm.tag_release('TET2'), tdm.consolidate('TET2', 'tap_et');
SELECT results_eq($$SELECT kind::text, status::text, rationale ~ 'which decision C-[0-9a-f]+ deleted'
                      FROM tdm.conflict WHERE run_id = (SELECT max(run_id) FROM tdm.run)$$,
                  $$VALUES ('relationship', 'pending', true)$$,
                  'the line whose order an earlier release deleted is a relationship conflict: the orders'' turn came');
SELECT is((SELECT count(*) FROM tdm.violation WHERE run_id = (SELECT max(run_id) FROM tdm.run)), 0::bigint,
          'and no foreign key violation');
SELECT results_eq($$SELECT t.key, (t.value ->> 'collected')::int, (t.value ->> 'merged')::int,
                           (t.value ->> 'renamed')::int, (t.value ->> 'deleted')::int
                      FROM tdm.run r, jsonb_each(r.tables) AS t
                     WHERE r.run_id = (SELECT max(run_id) FROM tdm.run) AND t.key LIKE 'tap_et.%'
                     ORDER BY 1$$,
                  $$VALUES ('tap_et.line', 1, 0, 0, 0), ('tap_et.note', 0, 0, 0, 0), ('tap_et.ord', 0, 0, 0, 0)$$,
                  'the report lists every table, those passed over with nothing merged, renamed or deleted');
-- Deleted too: the line goes with its order.
SELECT tdm.resolve_all('TET2', 'delete_all', 'its order is gone');
SET SESSION AUTHORIZATION tap_et_approver;
SELECT count(tdm.approve(conflict_id)) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TET2', 'tap_et');
SELECT results_eq($$SELECT status::text, rows_loaded FROM tdm.run WHERE run_id = (SELECT max(run_id) FROM tdm.run)$$,
                  $$VALUES ('completed', 0::bigint)$$, 'TET2 completes, loading nothing');

-- TET3 brings no row at all: every table passed over, every phase timed.
SELECT tdm.tag_release('TET3'), tdm.consolidate('TET3', 'tap_et');
SELECT ok((SELECT phase_ms ?& ARRAY['collect', 'detect', 'resolve', 'validate', 'load', 'audit'] AND status = 'completed'
             FROM tdm.run WHERE run_id = (SELECT max(run_id) FROM tdm.run)),
          'a release of no rows completes with each phase''s time');

SELECT * FROM finish();
ROLLBACK;
-- (After the transaction: until then, its foreign scans' remote
-- transaction holds the tables.)
SET client_min_messages = warning;
DROP SCHEMA tap_et_e1, tap_et_e2 CASCADE;
