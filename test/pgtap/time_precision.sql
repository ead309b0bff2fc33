-- A time type's fractional digits are part of its type: an environment's
-- timestamp (6 digits) against a target's timestamp(3) would load
-- .123456 as .123, so tagging finds the drift, naming both types. So are
-- an interval's fields: an interval day keeps '1 day 03:00' as '1 day'.
BEGIN;
SELECT plan(3);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_tp_e1;
  CREATE TABLE tap_tp_e1.tp_event (id int PRIMARY KEY, at timestamp NOT NULL, took interval, span interval,
                                   wide interval day, tdm_release text, tdm_feature text);
  INSERT INTO tap_tp_e1.tp_event VALUES (1, '2026-01-01 10:00:00.123456', '1 day 0.654321 s', '1 day 03:00',
                                         '2 days', 'TTP', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_tp_self');
CREATE SCHEMA tap_tp;
CREATE TABLE tap_tp.tp_event (id int PRIMARY KEY, at timestamp(3) NOT NULL, took interval second(0),
                              span interval day, wide interval, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('tp1', 'tap_tp_self', 10, 'tap_tp_e1');
SELECT tdm.manage_table('tap_tp.tp_event');
SELECT tdm.create_release('TTP'), tdm.add_feature('TTP', 'F', 1);
SELECT tdm.tag_release('TTP') AS job \gset

SELECT results_eq(format($$SELECT detail FROM tdm.tag_finding WHERE job_id = %s AND kind = 'schema_drift'
                                  AND severity = 'error' ORDER BY detail$$, :job),
  ARRAY['column at is timestamp(3) without time zone in tap_tp.tp_event but timestamp without time zone in tp1:'
        ' give them one type (in the target, ALTER TABLE tap_tp.tp_event ALTER COLUMN at TYPE timestamp without'
        ' time zone; or migrate tp1''s column to timestamp(3) without time zone), then tag again',
        'column span is interval day in tap_tp.tp_event but interval in tp1: give them one type (in the target,'
        ' ALTER TABLE tap_tp.tp_event ALTER COLUMN span TYPE interval; or migrate tp1''s column to interval day),'
        ' then tag again',
        'column took is interval second(0) in tap_tp.tp_event but interval in tp1: give them one type (in the'
        ' target, ALTER TABLE tap_tp.tp_event ALTER COLUMN took TYPE interval; or migrate tp1''s column to'
        ' interval second(0)), then tag again'],
  'fewer fractional digits or fields in the target are a drift, named with both types, and what to do');
SELECT is((SELECT count(*) FROM tdm.tag_finding WHERE job_id = :job AND kind = 'schema_drift' AND severity = 'warning'
                                                     AND detail LIKE 'column wide is interval in tap_tp.tp_event but interval day in tp1%'),
          1::bigint, 'an environment''s interval day into the target''s interval is a warning: it holds every interval');
SELECT is((SELECT status FROM tdm.release WHERE release = 'TTP'), 'open', 'the release is not locked');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_tp_e1 CASCADE;
