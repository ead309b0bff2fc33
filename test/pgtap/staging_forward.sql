-- Staging rolled back to before a consolidation, then forward again to a
-- snapshot taken after it: the release's run whose rows are back is its
-- completed run again and the release is consolidated again (promote
-- takes it), as a rollback back had failed the one and locked the other.
BEGIN;
SELECT plan(9);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_sf_e1;
  CREATE TABLE tap_sf_e1.sf_item (id int PRIMARY KEY, name text, tdm_release text, tdm_feature text);
  INSERT INTO tap_sf_e1.sf_item VALUES (1, 'one', 'SF', 'F'), (2, 'two', 'SF', 'F'), (10, 'ten', 'SG', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_sf_self');
CREATE TABLE staging.sf_item (id int PRIMARY KEY, name text, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('sf1', 'tap_sf_self', 10, 'tap_sf_e1');
SELECT tdm.manage_table('staging.sf_item');
SELECT tdm.create_release('SF'), tdm.add_feature('SF', 'F', 1);
SELECT tdm.create_release('SG'), tdm.add_feature('SG', 'F', 1);
SELECT tdm.tag_release('SF');
SELECT tdm.snapshot('sf before', 'staging') AS before \gset
SELECT tdm.consolidate('SF') AS run \gset
SELECT tdm.snapshot('sf with', 'staging') AS with_sf \gset
SELECT is(tdm.consolidate('SF'), :run::bigint, 'a re-run after a staging snapshot repeats the run');
SELECT tdm.rollback(:before);
SELECT is((SELECT status FROM tdm.release WHERE release = 'SF'), 'locked', 'rolled back: SF is locked');
SELECT tdm.rollback(:with_sf);
SELECT is((SELECT ROW(r.status, x.status)::text FROM tdm.run r JOIN tdm.release x USING (release)
            WHERE r.run_id = :run), '(completed,consolidated)',
          'rolled forward: its run is completed and SF consolidated again');
SELECT is((SELECT j.detail -> 'releases' ->> 'SF' FROM tdm.job j WHERE j.kind = 'rollback'
            ORDER BY j.job_id DESC LIMIT 1), 'locked -> consolidated', 'the rollback says so');
SELECT lives_ok($$SELECT tdm.promote('SF')$$, 'and SF is promoted');
-- Promoted since: a rollback of staging to the snapshot leaves its runs
-- alone (master's rows are the promoted run's).
SELECT tdm.rollback(:with_sf);
SELECT is((SELECT ROW(r.status, tdm._promoted_run('SF'))::text FROM tdm.run r WHERE r.run_id = :run),
          format('(completed,%s)', :run), 'promoted, its run stays completed through a staging rollback');
SELECT is((SELECT status FROM tdm.release WHERE release = 'SF'), 'promoted', 'and SF stays promoted');

-- A release consolidated when the snapshot was taken and tagged again
-- over other rows since. (The environment's rows cannot change within
-- this transaction, postgres_fdw reading them under one snapshot: the
-- lock is set as a tag of changed rows leaves it, and a call of the run
-- counted as a consolidation of those rows counts it.) Not consolidated
-- since, its run keeps its rows through the rollback; consolidated since,
-- the rows put back are not that call's: its run is failed and it is
-- locked again.
SELECT tdm.tag_release('SG');
SELECT tdm.consolidate('SG') AS run_g \gset
SELECT tdm.snapshot('sg with', 'staging') AS sg_with \gset
UPDATE tdm.release_lock SET checksum = md5('the rows as tagged again') WHERE release = 'SG';
SELECT tdm.rollback(:sg_with);
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run_g), 'completed',
          'tagged again, not consolidated since: its run keeps its rows');
UPDATE tdm.run SET calls = calls + 1 WHERE run_id = :run_g;
SELECT tdm.rollback(:sg_with);
SELECT is((SELECT ROW(x.status, (SELECT count(*) FROM tdm.run r WHERE r.release = 'SG' AND r.status = 'completed'))::text
             FROM tdm.release x WHERE x.release = 'SG'), '(locked,0)',
          'consolidated since: rolled back to rows of tags it no longer has, SG is locked, no run of it completed');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_sf_e1 CASCADE;
