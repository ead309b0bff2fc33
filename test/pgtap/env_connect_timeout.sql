-- An environment whose database a new connection waits for (renamed in a
-- transaction still open there; a DROP DATABASE does the same).
-- PostgreSQL 15's postgres_fdw connects without heeding a cancel: the
-- server's connect_timeout ends the wait, and tdm says what it means.
BEGIN;
SELECT plan(4);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;
SELECT dblink_exec(pg_temp.conninfo(current_database()), 'CREATE DATABASE tap_ct') \g /dev/null
SELECT dblink_exec(pg_temp.conninfo('tap_ct'),
  'CREATE TABLE ct_item (id int PRIMARY KEY, tdm_release text, tdm_feature text)') \g /dev/null
SELECT pg_temp.loopback_server('tap_ct', 'tap_ct');
ALTER SERVER tap_ct OPTIONS (ADD connect_timeout '2');
SELECT dblink_connect('tap_ct_holder', pg_temp.conninfo(current_database())) \g /dev/null
SELECT dblink_exec('tap_ct_holder', 'BEGIN') \g /dev/null
SELECT dblink_exec('tap_ct_holder', 'ALTER DATABASE tap_ct RENAME TO tap_ct_renamed') \g /dev/null

SELECT clock_timestamp() AS t0 \gset
SELECT results_eq(
  $$SELECT e.message, e.detail LIKE '%timeout expired%', e.hint FROM pg_temp.error_of('SELECT tdm.add_environment(''ct'', ''tap_ct'')') e$$,
  $$VALUES ('environment "ct": cannot reach server "tap_ct": could not connect to server "tap_ct"', true,
            'It did not answer within the server''s connect_timeout: its host is down or busy, or its database is'
            ' being renamed or dropped (a new connection waits for that). Call again once it answers.')$$,
  'a connection that waits is ended by the server''s connect_timeout, and said so');
SELECT ok(clock_timestamp() - :'t0'::timestamptz < interval '10 s', 'after the timeout, not after the wait');
SELECT is((SELECT count(*)::int FROM tdm.environment WHERE name = 'ct'), 0, 'nothing is registered');

SELECT dblink_exec('tap_ct_holder', 'ROLLBACK') \g /dev/null
SELECT dblink_disconnect('tap_ct_holder') \g /dev/null
SELECT lives_ok($$SELECT tdm.add_environment('ct', 'tap_ct')$$, 'once the database answers, the call succeeds');

SELECT * FROM finish();
ROLLBACK;
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;
SELECT dblink_exec(pg_temp.conninfo(current_database()), 'DROP DATABASE tap_ct WITH (FORCE)') \g /dev/null
