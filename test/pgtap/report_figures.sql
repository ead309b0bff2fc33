-- The report's figures. Shares of conflicts that make all of them add up
-- to 100 (15 of 16 and 1 of 16: 93.8% and 6.2%, not 6.3%). A call on a
-- completed run starts it over: its elapsed time is counted from that
-- call, not from the first one (the time the run sat completed is
-- nobody's), and the heading says which call that was. A run whose job
-- was cancelled before it began says so, and ended is not "completed".
-- Times are in UTC whatever the caller's TimeZone.
BEGIN;
SELECT plan(10);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_rf_e1;
  CREATE SCHEMA tap_rf_e2;
  CREATE TABLE tap_rf_e1.rf_user (id int PRIMARY KEY, email text NOT NULL UNIQUE, role text,
                                  tdm_release text, tdm_feature text);
  CREATE TABLE tap_rf_e2.rf_user (LIKE tap_rf_e1.rf_user INCLUDING ALL);
  INSERT INTO tap_rf_e1.rf_user SELECT g, 'u' || g || '@x', 'Customer', 'RF', 'F' FROM generate_series(1, 15) g;
  INSERT INTO tap_rf_e2.rf_user SELECT g, 'u' || g || '@x', 'Customer', 'RF', 'F' FROM generate_series(1, 15) g;
  INSERT INTO tap_rf_e1.rf_user VALUES (50, 'core@x', 'Admin', 'RF', 'F');
  INSERT INTO tap_rf_e2.rf_user VALUES (50, 'core@x', 'User', 'RF', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_rf_self');
CREATE TABLE staging.rf_user (id int PRIMARY KEY, email text NOT NULL UNIQUE, role text, tdm_release text,
                              tdm_feature text);
SELECT tdm.add_environment('rf1', 'tap_rf_self', 10, 'tap_rf_e1'),
       tdm.add_environment('rf2', 'tap_rf_self', 20, 'tap_rf_e2');
SELECT tdm.manage_table('staging.rf_user', '{email}', core_columns => '{role}');
SELECT tdm.create_release('RF'), tdm.add_feature('RF', 'F', 1);
SELECT tdm.tag_release('RF');
SELECT tdm.consolidate('RF') AS run \gset
SET LOCAL TimeZone = 'Asia/Kathmandu';
SELECT is((SELECT ROW(d->>'conflicts', d->>'auto_resolved', d->>'auto_resolved_pct', d->>'manual_pct')::text
             FROM (SELECT tdm.report(:run, 'json')::jsonb AS d) x),
          '(16,15,93.8,6.2)', 'the two shares of 16 conflicts add up to 100.0');
SELECT ok(tdm.report(:run, 'json')::jsonb ->> 'started_at' LIKE '%+00:00',
          'times are in UTC under another TimeZone');
CREATE ROLE "tap_rf:decider";
GRANT tdm_reviewer TO "tap_rf:decider";
SET SESSION AUTHORIZATION "tap_rf:decider";
SELECT tdm.resolve(conflict_id, 'keep', 'rf1', rationale => 'admin') FROM tdm.review_queue;
RESET SESSION AUTHORIZATION;
CREATE ROLE tap_rf_approver;
GRANT tdm_reviewer TO tap_rf_approver;
SET SESSION AUTHORIZATION tap_rf_approver;
SELECT tdm.approve(conflict_id) FROM tdm.decision;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('RF');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'the run completed');
SELECT pg_sleep(1.2);
SELECT tdm.consolidate('RF');
SELECT is((tdm.report(:run, 'json')::jsonb ->> 'started_over_at_call')::int, 3,
          'the third call started the completed run over');
SELECT cmp_ok((tdm.report(:run, 'json')::jsonb ->> 'elapsed_ms')::bigint, '<', 1000::bigint,
              'its elapsed time leaves out the second the run sat completed');
SELECT ok(tdm.report(:run) ~ 'Run \d+ into staging: completed \(3 calls; call 3 started it over',
          'the heading says so');
SELECT ok(tdm.report(:run, 'html') LIKE '%by tap_rf:decider, approved by tap_rf_approver</td><td>admin</td>%',
          'the html page splits a line at its first ": ", not at a colon in a role name');

-- A run whose background job was cancelled before it began.
INSERT INTO tdm.job (kind, release, status, finished_at, error)
VALUES ('consolidate', 'RF', 'cancelled', clock_timestamp(), 'cancelled before it started')
RETURNING job_id AS cancelled_job \gset
INSERT INTO tdm.run (release, target, status, job_id, finished_at)
VALUES ('RF', 'tap_rf_other', 'failed', :cancelled_job, clock_timestamp())
RETURNING run_id AS cancelled_run \gset
SELECT ok(tdm.report(:cancelled_run) ~ ('Job: +' || :cancelled_job || ' cancelled: cancelled before it started'),
          'a run whose job was cancelled names the job and why');
SELECT ok(tdm.report(:cancelled_run) ~ 'Last call ended: ' AND tdm.report(:cancelled_run) !~ 'Completed:',
          'and it did not complete');
SELECT is(ARRAY[tdm._duration(59999), tdm._duration(3599600), tdm._duration(3599999)],
          ARRAY['1 min 0 s', '1 h 0 min', '1 h 0 min'], 'a minute or an hour short of a millisecond reads as one');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_rf_e1, tap_rf_e2 CASCADE;
