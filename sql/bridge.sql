-- The error bridge between C++ and PostgreSQL, seen from SQL.
\set SHOW_CONTEXT never

-- An error raised in C++ reaches SQL as an ERROR with its SQLSTATE,
-- detail and hint, and the backend keeps working.
SELECT tdm._bridge_raise('domain');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tdm._bridge_raise('std');
SELECT tdm._bridge_raise('bad_alloc');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tdm._bridge_raise('unknown');
SELECT 'backend still works' AS check;

-- Each of those unwound one C++ object (a Sentinel) before the ERROR.
SELECT tdm._bridge_sentinels() AS destroyed;

-- A PostgreSQL error inside C++ keeps its SQLSTATE and message, and the two
-- C++ objects alive around the failing SPI call are destroyed first.
SELECT tdm._bridge_raise('postgres');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tdm._bridge_sentinels() AS destroyed;

-- The same from inside a row callback of a streamed query (a DestReceiver):
-- rows 1 and 2 and the failing row 3 each destroyed their object, and the
-- outer one too.
SELECT tdm._bridge_sentinels() AS before_stream \gset
SELECT tdm._bridge_raise('stream');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tdm._bridge_sentinels() - :before_stream AS destroyed_in_stream;

-- A cancel (statement_timeout) stops a long C++ loop: the loop's objects
-- are destroyed and the backend goes on.
SET statement_timeout = '200ms';
SELECT tdm._bridge_spin(1000000000000000);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET statement_timeout;
SELECT tdm._bridge_sentinels() AS destroyed;
SELECT tdm._bridge_spin(100000) AS finished_iterations;

-- In a transaction the error aborts it as any ERROR would.
BEGIN;
SELECT tdm._bridge_raise('domain');
SELECT 1;
ROLLBACK;
SELECT tdm._bridge_sentinels() AS destroyed;
