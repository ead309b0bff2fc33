-- The notifications the dblink session `tooling` (listening on
-- tdm_rollback) has received, into pg_temp.tooling_notes: a notification
-- reaches it a moment after the commit, so read until one has (10 s at
-- most).
\set ECHO none
CREATE TEMP TABLE tooling_notes AS SELECT * FROM dblink_get_notify('tooling');
DO $$BEGIN
  FOR i IN 1 .. 200 LOOP
    EXIT WHEN EXISTS (SELECT FROM pg_temp.tooling_notes);
    PERFORM pg_sleep(0.05);
    INSERT INTO pg_temp.tooling_notes SELECT * FROM dblink_get_notify('tooling');
  END LOOP;
END$$;
\set ECHO all
