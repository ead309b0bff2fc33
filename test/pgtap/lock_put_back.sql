-- A rollback that brings a release's rows back into master puts back the
-- lock it had then: a tagging since that found errors dropped it (the
-- release left open), and without it a later release's tagging called
-- the release's rows in the environments "part of no release", and a
-- rollback before its promotion left it consolidated with no lock.
BEGIN;
SELECT plan(8);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_lp_e1;
  CREATE TABLE tap_lp_e1.lp_item (id int PRIMARY KEY, name text, tdm_release text, tdm_feature text);
  INSERT INTO tap_lp_e1.lp_item VALUES (1, 'one', 'LA', 'F'), (2, 'two', 'LP', 'F'), (3, 'three', 'LP', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_lp_self');
CREATE TABLE staging.lp_item (id int PRIMARY KEY, name text, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('lp1', 'tap_lp_self', 10, 'tap_lp_e1');
SELECT tdm.manage_table('staging.lp_item');
SELECT tdm.create_release('LA'), tdm.add_feature('LA', 'F', 1);
SELECT tdm.create_release('LP', parent => 'LA'), tdm.add_feature('LP', 'F', 1);
SELECT tdm.tag_release('LA'), tdm.consolidate('LA'), tdm.promote('LA');
SELECT tdm.tag_release('LP'), tdm.consolidate('LP');
SELECT tdm.snapshot('lp before') AS before \gset
SELECT tdm.promote('LP');
SELECT tdm.snapshot('lp with') AS with_lp \gset
SELECT tdm._lock_of('LP') AS lock_then \gset

SELECT tdm.rollback(:before);
-- (What a tagging that found errors leaves: the release open, its lock
-- dropped. The environment's rows cannot change within this transaction:
-- postgres_fdw reads them under one snapshot.)
DELETE FROM tdm.release_lock WHERE release = 'LP';
UPDATE tdm.release SET status = 'open', locked_at = NULL WHERE release = 'LP';
SELECT tdm.rollback(:with_lp);
SELECT is((SELECT status FROM tdm.release WHERE release = 'LP'), 'promoted', 'rolled forward: LP is promoted');
SELECT is(tdm._lock_of('LP'), :'lock_then'::jsonb, 'with the lock it had then');
SELECT is((SELECT j.detail -> 'releases' ->> 'LP' FROM tdm.job j WHERE j.kind = 'rollback'
            ORDER BY j.job_id DESC LIMIT 1), 'open -> promoted (its lock put back: 2 rows, where it held 0)',
          'the rollback says so');
-- Back before its promotion: consolidated, its lock held, promoted again.
SELECT tdm.rollback(:before);
SELECT is((SELECT ROW(status, locked_at IS NOT NULL)::text FROM tdm.release WHERE release = 'LP'),
          '(consolidated,t)', 'rolled back before its promotion: consolidated, still locked');
-- A table renamed since: its lock rows follow it (by OID), and the lock,
-- the same rows, is not put back.
ALTER TABLE staging.lp_item RENAME TO lp_thing;
ALTER TABLE master.lp_item RENAME TO lp_thing;
SELECT tdm.rollback(:with_lp);
SELECT is((SELECT ROW(x.status, (SELECT count(*) FROM tdm.release_lock l
                                  WHERE l.release = 'LP' AND l.rel = 'staging.lp_thing'::regclass))::text
             FROM tdm.release x WHERE x.release = 'LP'), '(promoted,1)',
          'a table renamed since keeps its lock row');
SELECT is((SELECT j.detail -> 'releases' ->> 'LP' FROM tdm.job j WHERE j.kind = 'rollback'
            ORDER BY j.job_id DESC LIMIT 1), 'consolidated -> promoted', 'and the same lock is not put back');
ALTER TABLE staging.lp_thing RENAME TO lp_item;
ALTER TABLE master.lp_thing RENAME TO lp_item;
SELECT tdm.rollback(:before);
SELECT lives_ok($$SELECT tdm.promote('LP')$$, 'and promoted again');
SELECT results_eq($$SELECT id, name, tdm_release FROM master.lp_item ORDER BY id$$,
                  $$VALUES (1, 'one', 'LA'), (2, 'two', 'LP'), (3, 'three', 'LP')$$,
                  'master holds LP''s rows again, beside LA''s');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_lp_e1 CASCADE;
