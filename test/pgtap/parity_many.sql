-- data_diff with many differing rows: past 10,000 keys their rows are
-- joined to the keys here, not sent to the environments in an array (an
-- array of 300,000 held 250 MB); the result is the same either way.
-- profile_diff bins dates spread over a day or two by fractions of a
-- day: one day against the next is a drift.
BEGIN;
SELECT plan(6);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;
SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_pm_e1;
  CREATE SCHEMA tap_pm_e2;
  CREATE TABLE tap_pm_e1.reading (id int PRIMARY KEY, v int, taken date, tdm_release text, tdm_feature text);
  CREATE TABLE tap_pm_e2.reading (LIKE tap_pm_e1.reading INCLUDING ALL);
  INSERT INTO tap_pm_e1.reading SELECT g, g, date '2024-01-01', 'TPM', 'F' FROM generate_series(1, 12000) g;
  INSERT INTO tap_pm_e2.reading
  SELECT g, CASE WHEN g <= 10500 THEN g + 1 ELSE g END, date '2024-01-02', 'TPM', 'F'
    FROM generate_series(2, 12001) g$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_pm_self');
CREATE SCHEMA tap_pm;
CREATE TABLE tap_pm.reading (id int PRIMARY KEY, v int, taken date, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('pm1', 'tap_pm_self', 10, 'tap_pm_e1'),
       tdm.add_environment('pm2', 'tap_pm_self', 20, 'tap_pm_e2');
SELECT tdm.manage_table('tap_pm.reading');
CREATE TEMP TABLE diffs AS SELECT * FROM tdm.data_diff('tap_pm.reading', 'pm1', 'pm2');

SELECT is((SELECT count(*) FROM diffs WHERE kind = 'changed'), 11999::bigint,
  'every row both sides hold differs (10,499 in v and taken, 1,500 in taken): more than 10,000 keys');
SELECT is((SELECT count(*) FROM diffs WHERE kind = 'only_in_a'), 1::bigint, 'id 1 only in pm1');
SELECT is((SELECT count(*) FROM diffs WHERE kind = 'only_in_b'), 1::bigint, 'id 12001 only in pm2');
SELECT is((SELECT (columns, row_a ->> 'v', row_b ->> 'v') FROM diffs WHERE key = '{"id": 42}'),
          ('{v,taken}'::text[], '42'::text, '43'::text),
          'a changed row says its columns and both sides'' values');
SELECT is((SELECT (distance, drifted) FROM tdm.profile_diff('tap_pm.reading', 'pm1', 'pm2') WHERE column_name = 'taken'),
          (1::float8, true), 'every date one day later: distance 1, drifted');
SELECT is((SELECT drifted FROM tdm.profile_diff('tap_pm.reading', 'pm1', 'pm2') WHERE column_name = 'id'),
          false, 'ids shifted by one of 12,000: no drift');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_pm_e1, tap_pm_e2 CASCADE;
