-- Runs `first` in a session of its own, in a transaction it keeps open,
-- then `second` in another session, which waits for the first's locks;
-- once it waits, the first commits. Returns the second's result (one
-- value, as text), or raises its error.
CREATE FUNCTION pg_temp.second_waits(first text, second text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  result text;
BEGIN
  PERFORM dblink_connect('first', pg_temp.conninfo(current_database())),
          dblink_connect('second', pg_temp.conninfo(current_database()));
  PERFORM dblink_exec('first', 'SET client_min_messages = warning'),
          dblink_exec('second', 'SET client_min_messages = warning'),
          dblink_exec('first', 'BEGIN');
  PERFORM * FROM dblink('first', first) AS t(r text);
  PERFORM dblink_send_query('second', second);
  -- (pg_stat_activity as it is now, not as this transaction first read it)
  PERFORM pg_temp.wait_until(format('(SELECT count(*) FROM pg_stat_clear_snapshot()) = 1 AND EXISTS (SELECT 1 FROM pg_stat_activity'
                                    ' WHERE datname = current_database() AND wait_event_type = ''Lock'' AND query = %L)', second));
  PERFORM dblink_exec('first', 'COMMIT');
  BEGIN
    SELECT t.r INTO result FROM dblink_get_result('second') AS t(r text);
  EXCEPTION WHEN OTHERS THEN
    PERFORM dblink_disconnect('first'), dblink_disconnect('second');
    RAISE;
  END;
  PERFORM dblink_disconnect('first'), dblink_disconnect('second');
  RETURN result;
END
$$;
