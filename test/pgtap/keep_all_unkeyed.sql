-- A keep_all decided without renames on a table tdm cannot give keys to
-- (a composite key), while the row that collides was merged away by a
-- rule: a later decision (delete_all of the row it was merged into) keeps
-- it, and it needs a key. The call is refused naming the conflict, the
-- member and the resolve call to make (before: an internal error naming
-- no conflict, p293); but only once nothing waits for a reviewer: a
-- conflict pending in a table whose turn comes later may be why, and the
-- call waits with it in the queue (p319).
BEGIN;
SELECT plan(5);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_ku_e1; CREATE SCHEMA tap_ku_e2; CREATE SCHEMA tap_ku_e3;
  CREATE TABLE tap_ku_e1.ku_t0 (id int PRIMARY KEY, code text NOT NULL UNIQUE, val text, tdm_release text, tdm_feature text);
  CREATE TABLE tap_ku_e1.ku_t4 (a int, b int, code text NOT NULL UNIQUE, f0_id int NOT NULL REFERENCES tap_ku_e1.ku_t0,
                                tdm_release text, tdm_feature text, PRIMARY KEY (a, b));
  CREATE TABLE tap_ku_e2.ku_t0 (LIKE tap_ku_e1.ku_t0 INCLUDING ALL);
  CREATE TABLE tap_ku_e2.ku_t4 (LIKE tap_ku_e1.ku_t4 INCLUDING ALL);
  CREATE TABLE tap_ku_e3.ku_t0 (LIKE tap_ku_e1.ku_t0 INCLUDING ALL);
  CREATE TABLE tap_ku_e3.ku_t4 (LIKE tap_ku_e1.ku_t4 INCLUDING ALL);
  INSERT INTO tap_ku_e1.ku_t0 VALUES (1, 'X', 'a', 'TKU1', 'F'), (2, 'Y', 'y', 'TKU1', 'F');
  INSERT INTO tap_ku_e1.ku_t4 VALUES (1, 5, 'c6', 1, 'TKU1', 'F');
  INSERT INTO tap_ku_e2.ku_t0 VALUES (1, 'X', 'b', 'TKU1', 'F'), (2, 'Y', 'y', 'TKU1', 'F');
  INSERT INTO tap_ku_e2.ku_t4 VALUES (1, 7, 'c6', 2, 'TKU1', 'F');
  INSERT INTO tap_ku_e3.ku_t0 VALUES (2, 'Y', 'y', 'TKU1', 'F');
  INSERT INTO tap_ku_e3.ku_t4 VALUES (1, 7, 'c5', 2, 'TKU1', 'F');
  CREATE TABLE tap_ku_e1.zz_t (id text PRIMARY KEY, code text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
  CREATE TABLE tap_ku_e2.zz_t (LIKE tap_ku_e1.zz_t INCLUDING ALL);
  CREATE TABLE tap_ku_e3.zz_t (LIKE tap_ku_e1.zz_t INCLUDING ALL);
  INSERT INTO tap_ku_e1.zz_t VALUES ('k', 'z1', 'TKU1', 'F');
  INSERT INTO tap_ku_e2.zz_t VALUES ('k', 'z2', 'TKU1', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_ku_self');
CREATE SCHEMA tap_ku;
CREATE TABLE tap_ku.ku_t0 (id int PRIMARY KEY, code text NOT NULL UNIQUE, val text, tdm_release text, tdm_feature text);
CREATE TABLE tap_ku.ku_t4 (a int, b int, code text NOT NULL UNIQUE, f0_id int NOT NULL REFERENCES tap_ku.ku_t0,
                           tdm_release text, tdm_feature text, PRIMARY KEY (a, b));
CREATE TABLE tap_ku.zz_t (id text PRIMARY KEY, code text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('ku1', 'tap_ku_self', 10, 'tap_ku_e1'), tdm.add_environment('ku2', 'tap_ku_self', 20, 'tap_ku_e2'),
       tdm.add_environment('ku3', 'tap_ku_self', 30, 'tap_ku_e3');
SELECT tdm.manage_table('tap_ku.ku_t0', '{code}'), tdm.manage_table('tap_ku.ku_t4', '{code}'),
       tdm.manage_table('tap_ku.zz_t', '{code}');
SELECT tdm.create_release('TKU1'), tdm.add_feature('TKU1', 'F', 1);
CREATE ROLE tap_ku_approver;
GRANT tdm_reviewer TO tap_ku_approver;
SET client_min_messages = error;
SELECT tdm.tag_release('TKU1'), tdm.consolidate('TKU1', 'tap_ku');
-- X is deleted (over the rule); the (1,7) collision of ku2's c6 and
-- ku3's c5 is kept apart without renames: ku2's c6 is merged away into
-- ku1's by a rule, so ku3's row keeps (1,7) and the check asks for no key.
SELECT tdm.resolve(c.conflict_id, 'delete_all', rationale => 'X goes')
  FROM tdm.conflict c WHERE c.rel = 'tap_ku.ku_t0'::regclass
   AND EXISTS (SELECT FROM tdm.conflict_member m WHERE m.conflict_id = c.conflict_id AND m."row" ->> 'code' = 'X');
SELECT tdm.resolve(c.conflict_id, 'keep_all', rationale => 'two rows')
  FROM tdm.conflict c WHERE c.rel = 'tap_ku.ku_t4'::regclass AND c.kind = 'duplicate_pk'
   AND NOT EXISTS (SELECT FROM tdm.conflict_member m WHERE m.conflict_id = c.conflict_id AND m.key = '{1,5}');
SELECT tdm.consolidate('TKU1', 'tap_ku');
-- ku1's c6 references the deleted X: deleted too (priority 1, approved).
SELECT tdm.resolve_all('TKU1', 'delete_all', 'its parent is gone', kind => 'relationship');
SET SESSION AUTHORIZATION tap_ku_approver;
SELECT tdm.approve(conflict_id) FROM tdm.decision WHERE approved_by IS NULL AND decided_priority = 1;
RESET SESSION AUTHORIZATION;
SET client_min_messages = warning;
SELECT (SELECT conflict_id FROM tdm.decision WHERE action = 'keep_all') AS kept \gset
-- zz_t's two rows of key 'k' (two codes) wait for a reviewer, in a table
-- whose turn comes after ku_t4's: the call waits, with it in the queue.
SELECT tdm.consolidate('TKU1', 'tap_ku') AS run \gset
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'awaiting_review',
  'a conflict waiting in a later table: the call waits for it');
SELECT is((SELECT string_agg(rel::text, ',') FROM tdm.review_queue WHERE release = 'TKU1'), 'tap_ku.zz_t',
  '... with it in the queue');
SELECT tdm.resolve(conflict_id, 'keep', 'ku1', rationale => 'one k') FROM tdm.review_queue WHERE release = 'TKU1';
SELECT is((pg_temp.error_of($$SELECT tdm.consolidate('TKU1', 'tap_ku')$$)).message,
  format('consolidate: tap_ku.ku_t4 cannot take generated keys, and keep_all of %s gives no new key to ku3', :'kept'),
  'the call names the keep_all and the member that needs a key');
SELECT is(pg_temp.hint_of($$SELECT tdm.consolidate('TKU1', 'tap_ku')$$),
  format('Decide it again with the new key in renames (each of them, where several): SELECT tdm.resolve(%L, ''keep_all'', renames => ''{"ku3": {"a": ..., "b": ...}}'', rationale => ''...'');', :'kept'),
  '... and the resolve call that gives it');
SELECT tdm.resolve(:'kept', 'keep_all', renames => '{"ku3": {"b": 99}}', rationale => 'two rows, a key for ku3');
SELECT tdm.consolidate('TKU1', 'tap_ku') AS run \gset
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed',
  'decided again with the key, the run completes');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_ku_e1, tap_ku_e2, tap_ku_e3 CASCADE;
