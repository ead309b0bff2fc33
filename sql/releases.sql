-- Release statuses after a rollback of master (releases R31 and R32, one
-- courier each): every rollback leaves each release's status saying what
-- master holds, so that promote, archive_release and restore_release go
-- on from there.
\set SHOW_CONTEXT never
CREATE SCHEMA rel_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (couriers) FROM SERVER st1 INTO rel_st1;
SELECT tdm.create_release('R31', 'v31.0');
SELECT tdm.add_feature('R31', 'FEAT-3101', 1);
SELECT tdm.create_release('R32', 'v32.0', 'R31');
SELECT tdm.add_feature('R32', 'FEAT-3201', 1);
INSERT INTO rel_st1.couriers VALUES (3101, NULL, 'Ada', 'R31', 'FEAT-3101'),
                                    (3201, NULL, 'Bo', 'R32', 'FEAT-3201');
SET client_min_messages = warning;  -- (job and run numbers)
SELECT tdm.tag_release('R31') IS NOT NULL AS tagged, tdm.tag_release('R32') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R31') IS NOT NULL AS consolidated, tdm.consolidate('R32') IS NOT NULL AS consolidated;
SELECT tdm.promote('R31') IS NOT NULL AS promoted;
RESET client_min_messages;
CREATE FUNCTION pg_temp.state()
RETURNS TABLE (release text, status text, rows_in_master bigint, archive_copy bool)
LANGUAGE sql AS $$
  SELECT r.release, r.status,
         (SELECT count(*) FROM master.couriers c WHERE c.tdm_release = r.release),
         to_regclass(format('tdm_archive.%I', r.release || '__couriers')) IS NOT NULL
    FROM tdm.release r WHERE r.release IN ('R31', 'R32') ORDER BY r.release
$$;

-- R32, promoted after R31's deployment, leaves master when that is rolled
-- back: consolidated again, and it can be promoted again.
SET client_min_messages = warning;
SELECT tdm.deploy('R31', 'v31.0') IS NOT NULL AS deployed;
SELECT tdm.promote('R32') IS NOT NULL AS promoted;
SELECT tdm.rollback_release('R31') IS NOT NULL AS rolled_back;
RESET client_min_messages;
SELECT * FROM pg_temp.state();
SELECT detail -> 'releases' AS changed FROM tdm.job WHERE kind = 'rollback' ORDER BY job_id DESC LIMIT 1;
-- (The rollback's job names the release whose deployment it undid.)
SELECT release FROM tdm.job WHERE kind = 'rollback' ORDER BY job_id DESC LIMIT 1;
SET client_min_messages = warning;
SELECT tdm.promote('R32') IS NOT NULL AS promoted_again;
-- Bad input: promoting R31 again (its rows stayed in master).
SELECT tdm.promote('R31');

-- Archived after a snapshot, then rolled back to it: in master again (its
-- archive copy stays), and it can be archived again.
SELECT tdm.snapshot('before archiving R32') AS snap \gset
SELECT tdm.archive_release('R32');
SELECT tdm.rollback(:snap) IS NOT NULL AS rolled_back;
RESET client_min_messages;
SELECT * FROM pg_temp.state();
SELECT tdm.restore_release('R32');
SELECT tdm.archive_release('R32');
SELECT * FROM pg_temp.state();

-- Restored after a snapshot taken while it was archived, then rolled back
-- to it: archived again, with its rows in the archive, and restorable.
SET client_min_messages = warning;
SELECT tdm.snapshot('while R32 is archived') AS snap \gset
SELECT tdm.restore_release('R32');
SELECT tdm.rollback(:snap) IS NOT NULL AS rolled_back;
RESET client_min_messages;
SELECT * FROM pg_temp.state();
SELECT tdm.restore_release('R32');
SELECT * FROM pg_temp.state();

-- R33, created after a snapshot and promoted since, leaves master with a
-- rollback to it. R34, promoted into schema qa and deployed there, keeps
-- its status through that rollback of master; a rollback of qa to a
-- snapshot taken before R34 came takes it out of qa (consolidated).
SET client_min_messages = warning;
SELECT tdm.snapshot('before R33 and R34') AS snap \gset
SELECT tdm.create_release('R33', 'v33.0'), tdm.create_release('R34', 'v34.0');
SELECT tdm.add_feature('R33', 'FEAT-3301', 1), tdm.add_feature('R34', 'FEAT-3401', 1);
INSERT INTO rel_st1.couriers VALUES (3301, NULL, 'Cy', 'R33', 'FEAT-3301'),
                                    (3401, NULL, 'Di', 'R34', 'FEAT-3401');
SELECT tdm.tag_release('R33') IS NOT NULL AS tagged, tdm.tag_release('R34') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R33') IS NOT NULL AS consolidated, tdm.consolidate('R34') IS NOT NULL AS consolidated;
SELECT tdm.promote('R33') IS NOT NULL AS promoted;
CREATE SCHEMA qa;
CREATE TABLE qa.couriers (LIKE staging.couriers INCLUDING ALL);
SELECT tdm.snapshot('qa before R34', 'qa') AS qa_snap \gset
SELECT tdm.promote('R34', 'staging', 'qa') IS NOT NULL AS promoted, tdm.deploy('R34', 'v34.0', 'qa') IS NOT NULL AS deployed;
SELECT tdm.rollback(:snap) IS NOT NULL AS rolled_back;
RESET client_min_messages;
SELECT release, status, (SELECT count(*) FROM master.couriers c WHERE c.tdm_release = r.release) AS in_master,
       (SELECT count(*) FROM qa.couriers c WHERE c.tdm_release = r.release) AS in_qa
  FROM tdm.release r WHERE r.release IN ('R33', 'R34') ORDER BY r.release;
SET client_min_messages = warning;
SELECT tdm.rollback(:qa_snap) IS NOT NULL AS rolled_back;
RESET client_min_messages;
SELECT release, status, (SELECT count(*) FROM qa.couriers c WHERE c.tdm_release = r.release) AS in_qa
  FROM tdm.release r WHERE r.release = 'R34';
SELECT detail -> 'releases' AS changed FROM tdm.job WHERE kind = 'rollback' ORDER BY job_id DESC LIMIT 1;
-- (A rollback to a snapshot is of no release.)
SELECT release IS NULL AS of_no_release FROM tdm.job WHERE kind = 'rollback' ORDER BY job_id DESC LIMIT 1;
-- That rollback undid R34's deployment to qa too: rolling R34 back now
-- (to the snapshot its deployment took, R34 in qa) is refused.
SELECT release, target, rolled_back_at IS NOT NULL AS undone FROM tdm.deployment WHERE release = 'R34';
SELECT tdm.rollback_release('R34');

-- R33 promoted again, a snapshot, R33 deployed, then a rollback to that
-- snapshot: its rows stay in master and its deployment is undone, so it
-- is promoted again (not deployed). Promoting it while deployed, or after,
-- says it is in master already.
SET client_min_messages = warning;
SELECT tdm.promote('R33') IS NOT NULL AS promoted;
SELECT tdm.snapshot('R33 promoted') AS snap \gset
SELECT tdm.deploy('R33', 'v33.0') IS NOT NULL AS deployed;
RESET client_min_messages;
SELECT tdm.promote('R33');
SET client_min_messages = warning;
SELECT tdm.rollback(:snap) IS NOT NULL AS rolled_back;
RESET client_min_messages;
SELECT release, status, (SELECT count(*) FROM master.couriers c WHERE c.tdm_release = r.release) AS in_master
  FROM tdm.release r WHERE r.release = 'R33';
SELECT detail -> 'releases' AS changed FROM tdm.job WHERE kind = 'rollback' ORDER BY job_id DESC LIMIT 1;
-- A rollback to a deployment's own pre-deploy snapshot undoes that
-- deployment too.
SET client_min_messages = warning;
SELECT tdm.deploy('R33', 'v33.1') AS deployment \gset
SELECT tdm.rollback(snapshot_id) IS NOT NULL AS rolled_back FROM tdm.deployment WHERE deployment_id = :deployment;
RESET client_min_messages;
SELECT d.rolled_back_at IS NOT NULL AS undone, r.status
  FROM tdm.deployment d JOIN tdm.release r USING (release) WHERE d.deployment_id = :deployment;
-- Bad input: R33's data changed in st1 after it was promoted; consolidating
-- it again is refused, and the DETAIL says a promoted release is not
-- tagged again (the message does not send to tdm.tag_release, which
-- would refuse it; the HINT says what to do).
UPDATE rel_st1.couriers SET name = 'Cyd' WHERE courier_id = 3301;
DO $$
DECLARE
  message text;
  detail text;
  hint text;
BEGIN
  PERFORM tdm.consolidate('R33');
EXCEPTION WHEN object_not_in_prerequisite_state THEN
  GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
  RAISE NOTICE '%', message;
  RAISE NOTICE '%', substring(detail FROM 'It is .*');  -- (after the lock's time)
  RAISE NOTICE '%', hint;
END
$$;
UPDATE rel_st1.couriers SET name = 'Cy' WHERE courier_id = 3301;

-- A key an earlier call of a run gave is not given again once a row of
-- another release holds it. R36's st2 user shares st1's id with another
-- email and is re-keyed; staging goes back to before R36, and R37 brings
-- and promotes a user with that new key. R36 consolidated again completes,
-- its user taking another key (before: invalid for good, the old key
-- taken in staging and master).
IMPORT FOREIGN SCHEMA public LIMIT TO (users) FROM SERVER st1 INTO rel_st1;
CREATE SCHEMA rel_st2;
IMPORT FOREIGN SCHEMA public LIMIT TO (users) FROM SERVER st2 INTO rel_st2;
SELECT tdm.create_release('R36'), tdm.add_feature('R36', 'FEAT-3601', 1),
       tdm.create_release('R37'), tdm.add_feature('R37', 'FEAT-3701', 1);
INSERT INTO rel_st1.users (user_id, email, role, created_at, updated_at, tdm_release, tdm_feature)
VALUES (3601, 'r36.one@example.com', 'Customer', '2026-01-01', '2026-01-01', 'R36', 'FEAT-3601');
INSERT INTO rel_st2.users (user_id, email, role, created_at, updated_at, tdm_release, tdm_feature)
VALUES (3601, 'r36.two@example.com', 'Customer', '2026-01-01', '2026-01-01', 'R36', 'FEAT-3601');
SET client_min_messages = warning;
SELECT tdm.snapshot('staging before R36', 'staging') AS snap36 \gset
SELECT tdm.tag_release('R36') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R36') AS run36 \gset
SELECT (new_key ->> 'user_id')::bigint AS taken FROM tdm.key_map WHERE run_id = :run36 AND env = 'st2' \gset
SELECT tdm.rollback(:snap36) IS NOT NULL AS rolled_back;
-- (R36's rows are gone from staging with the rollback: its run is failed
-- and the release locked again, as the rollback's job says; before, both
-- said it was consolidated until promote found no row.)
RESET client_min_messages;
SELECT r.status AS run_status, x.status AS release_status,
       j.detail -> 'releases' AS releases_changed, j.detail -> 'runs' ->> :'run36' AS run_changed
  FROM tdm.run r JOIN tdm.release x USING (release)
  JOIN tdm.job j ON j.job_id = (SELECT max(job_id) FROM tdm.job WHERE kind = 'rollback')
 WHERE r.run_id = :run36;
SET client_min_messages = warning;
INSERT INTO rel_st1.users (user_id, email, role, created_at, updated_at, tdm_release, tdm_feature)
VALUES (:taken, 'r37@example.com', 'Customer', '2026-01-01', '2026-01-01', 'R37', 'FEAT-3701');
SELECT tdm.tag_release('R37') IS NOT NULL AS tagged, tdm.consolidate('R37') IS NOT NULL AS consolidated,
       tdm.promote('R37') IS NOT NULL AS promoted;
SELECT tdm.consolidate('R36') AS run36_again \gset
RESET client_min_messages;
SELECT :run36_again > :run36 AS new_run, r.status, (k.new_key ->> 'user_id')::bigint > :taken AS past_the_taken_key
  FROM tdm.run r JOIN tdm.key_map k USING (run_id) WHERE r.run_id = :run36_again;
SELECT email, tdm_release, user_id = :taken AS has_the_taken_key FROM staging.users
 WHERE tdm_release IN ('R36', 'R37') ORDER BY email;
DELETE FROM rel_st1.users WHERE tdm_release IN ('R36', 'R37');
DELETE FROM rel_st2.users WHERE tdm_release = 'R36';

-- Bad input: two couriers of R39 without a depot or a name, in st1 and
-- st2, where staging's unique key counts NULLs as equal (NULLS NOT
-- DISTINCT). No conflict groups them (a key with a NULL matches no row):
-- the run is invalid, and the HINT says what to do, not the one about
-- keys spelled differently. A warning rule the couriers break too is
-- counted apart from the errors in the NOTICE.
IMPORT FOREIGN SCHEMA public LIMIT TO (couriers) FROM SERVER st2 INTO rel_st2;
ALTER TABLE staging.couriers ADD CONSTRAINT couriers_one_unnamed UNIQUE NULLS NOT DISTINCT (tdm_release, depot, name);
SELECT tdm.create_release('R39'), tdm.add_feature('R39', 'FEAT-3901', 1);
INSERT INTO rel_st1.couriers VALUES (3901, NULL, NULL, 'R39', 'FEAT-3901');
INSERT INTO rel_st2.couriers VALUES (3902, NULL, NULL, 'R39', 'FEAT-3901');
SET client_min_messages = warning;
SELECT tdm.tag_release('R39') IS NOT NULL AS tagged;
SELECT tdm.add_rule('courier_named', 'staging.couriers', 'name IS NOT NULL', 'warning');
RESET client_min_messages;
SELECT tdm.consolidate('R39') IS NOT NULL AS consolidated;
SELECT v.kind, v.severity, v.detail -> 'values' AS "values" FROM tdm.violation v
  JOIN tdm.run r USING (run_id) WHERE r.release = 'R39' ORDER BY v.row_key ->> 'env', v.kind;
ALTER TABLE staging.couriers DROP CONSTRAINT couriers_one_unnamed;
SELECT tdm.drop_rule('courier_named');
-- A table managed after R39 was tagged, holding none of its rows, changes
-- nothing of it: R39 consolidates (before: "st1.desks was not part of the
-- lock of release R39").
SELECT tdm.manage_table('staging.desks', '{label}');
SET client_min_messages = warning;
SELECT tdm.consolidate('R39') AS run39 \gset
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :run39;
SELECT tdm.unmanage_table('staging.desks');
DELETE FROM rel_st1.couriers WHERE tdm_release = 'R39';
DELETE FROM rel_st2.couriers WHERE tdm_release = 'R39';

-- Rolling back an earlier release's deployment undoes the later
-- deployments on master. R-LD2, promoted before R-LD1's pre-deploy
-- snapshot was taken, keeps its rows there (only its deployment is
-- undone: deploy it again); R-LD3, promoted after, is gone (promote and
-- deploy it again). The WARNING says which is which.
SET client_min_messages = warning;
SELECT tdm.create_release('R-LD1'), tdm.add_feature('R-LD1', 'FEAT-LD1', 1),
       tdm.create_release('R-LD2'), tdm.add_feature('R-LD2', 'FEAT-LD2', 1),
       tdm.create_release('R-LD3'), tdm.add_feature('R-LD3', 'FEAT-LD3', 1);
INSERT INTO rel_st1.couriers VALUES (4101, NULL, 'Ed', 'R-LD1', 'FEAT-LD1'), (4201, NULL, 'Flo', 'R-LD2', 'FEAT-LD2'),
                                    (4301, NULL, 'Gus', 'R-LD3', 'FEAT-LD3');
SELECT tdm.tag_release(r) IS NOT NULL AS tagged, tdm.consolidate(r) IS NOT NULL AS consolidated
  FROM unnest(ARRAY['R-LD1', 'R-LD2', 'R-LD3']) AS r;
SELECT tdm.promote('R-LD1') IS NOT NULL AS promoted, tdm.promote('R-LD2') IS NOT NULL AS promoted;
SELECT tdm.deploy('R-LD1', 'v-ld1') IS NOT NULL AS deployed, tdm.deploy('R-LD2', 'v-ld2') IS NOT NULL AS deployed;
SELECT tdm.promote('R-LD3') IS NOT NULL AS promoted, tdm.deploy('R-LD3', 'v-ld3') IS NOT NULL AS deployed;
SELECT tdm.rollback_release('R-LD1') IS NOT NULL AS rolled_back;
RESET client_min_messages;
SELECT release, status, (SELECT count(*) FROM master.couriers c WHERE c.tdm_release = r.release) AS in_master
  FROM tdm.release r WHERE r.release LIKE 'R-LD_' ORDER BY r.release;
-- As the HINT says: R-LD2 is deployed again, R-LD3 promoted and deployed.
SET client_min_messages = warning;
SELECT tdm.deploy('R-LD2', 'v-ld2') IS NOT NULL AS deployed;
SELECT tdm.promote('R-LD3') IS NOT NULL AS promoted, tdm.deploy('R-LD3', 'v-ld3') IS NOT NULL AS deployed;
RESET client_min_messages;
SELECT release, status FROM tdm.release WHERE release LIKE 'R-LD_' ORDER BY release;
-- Rolling back R-LD2's deployment now undoes R-LD3's, promoted after
-- R-LD2's snapshot: its rows are gone, and nothing is said of rows kept.
SET client_min_messages = warning;
SELECT tdm.rollback_release('R-LD2') IS NOT NULL AS rolled_back;
RESET client_min_messages;

-- A rollback whose NOTIFY payload would pass PostgreSQL's 8000 bytes
-- (three later deployments with long code versions, undone with it) still
-- rolls back (before: "payload string too long", nothing rolled back):
-- the payload leaves also_rolled_back out and says so; the audit row has
-- it whole.
\set ECHO none
\ir sql/include/sessions.sql
\set ECHO all
SELECT dblink_connect('tooling', pg_temp.conninfo(current_database()));
SELECT dblink_exec('tooling', 'LISTEN tdm_rollback');
SET client_min_messages = error;
SELECT tdm.deploy('R-LD1', 'v-ld1') IS NOT NULL AS deployed;
SELECT count(tdm.deploy('R-LD2', 'v-ld2-' || i || '-' || repeat('0123456789abcdef', 200))) AS deployed
  FROM generate_series(1, 3) AS i;
SELECT tdm.rollback_release('R-LD1') IS NOT NULL AS rolled_back;
RESET client_min_messages;
-- (The notification reaches the listening session a moment after the
-- commit: read until it has.)
\ir sql/include/tooling_notes.sql
SELECT notify_name, octet_length(extra) < 8000 AS fits,
       extra::jsonb - 'job_id' - 'deployment_id' - 'snapshot_id' AS payload
  FROM pg_temp.tooling_notes;
SELECT jsonb_array_length(detail -> 'also_rolled_back') AS undone_with_it
  FROM tdm.audit WHERE action = 'rollback_release' ORDER BY audit_id DESC LIMIT 1;
SELECT release, status FROM tdm.release WHERE release LIKE 'R-LD_' ORDER BY release;
-- A rollback to a snapshot that undoes a live deployment (R-LD1 deployed
-- again, then master rolled back to its pre-deploy snapshot by hand) says
-- so as rollback_release does: a WARNING naming it, and NOTIFY
-- tdm_rollback with the deployments undone (before: silent, p292).
DROP TABLE pg_temp.tooling_notes;
SET client_min_messages = error;
SELECT tdm.deploy('R-LD1', 'v-ld1-again') IS NOT NULL AS deployed;
RESET client_min_messages;
SELECT tdm.rollback(snapshot_id) IS NOT NULL AS rolled_back
  FROM tdm.deployment WHERE release = 'R-LD1' AND code_version = 'v-ld1-again';
\ir sql/include/tooling_notes.sql
SELECT notify_name, extra::jsonb - 'job_id' - 'snapshot_id' #- '{also_rolled_back,0,deployment_id}' AS payload
  FROM pg_temp.tooling_notes;
SELECT jsonb_array_length(detail -> 'deployments') AS undone FROM tdm.audit WHERE action = 'rollback'
 ORDER BY audit_id DESC LIMIT 1;
SELECT dblink_disconnect('tooling');
-- Bad input: a feature added to a release in master, whose rows would
-- reach no release, is added with a warning.
SELECT tdm.add_feature('R-LD1', 'FEAT-LATE', 2);
-- A deployment with another release's code version (a slip: a later
-- rollback would send the tooling back to it) is made with a WARNING
-- naming that release; a version of no release (a hotfix), without.
SET client_min_messages = warning;
SELECT tdm.create_release('R-CV', 'v-cv'), tdm.add_feature('R-CV', 'FEAT-CV', 1);
INSERT INTO rel_st1.couriers VALUES (4401, NULL, 'Hal', 'R-CV', 'FEAT-CV');
SELECT tdm.tag_release('R-CV') IS NOT NULL AS tagged, tdm.consolidate('R-CV') IS NOT NULL AS consolidated,
       tdm.promote('R-CV') IS NOT NULL AS promoted;
SELECT tdm.deploy('R-CV', 'v31.0') IS NOT NULL AS deployed;
SELECT tdm.deploy('R-CV', 'v-cv.1') IS NOT NULL AS deployed;
RESET client_min_messages;
