-- Session helpers of the suites that drive other sessions (dblink, with
-- st1's loopback credentials) and wait for what they hold.
CREATE FUNCTION pg_temp.opt(options text[], name text) RETURNS text LANGUAGE sql AS $$
  SELECT substr(o, length(name) + 2) FROM unnest(options) o WHERE o LIKE name || '=%'
$$;
CREATE FUNCTION pg_temp.conninfo(db text) RETURNS text LANGUAGE sql AS $$
  SELECT format('host=%s port=%s dbname=%s user=%s password=%s',
                pg_temp.opt(s.srvoptions, 'host'), pg_temp.opt(s.srvoptions, 'port'), db,
                pg_temp.opt(u.umoptions, 'user'), pg_temp.opt(u.umoptions, 'password'))
    FROM pg_foreign_server s JOIN pg_user_mappings u ON u.srvid = s.oid
   WHERE s.srvname = 'st1' AND u.usename = current_user
$$;
-- An environment's database, its server's dbname (the scenario may name
-- the databases otherwise than the servers), and a connection to it.
CREATE FUNCTION pg_temp.env_db(server text) RETURNS text LANGUAGE sql AS $$
  SELECT pg_temp.opt(s.srvoptions, 'dbname') FROM pg_foreign_server s WHERE s.srvname = server
$$;
CREATE FUNCTION pg_temp.env_conninfo(server text) RETURNS text LANGUAGE sql AS $$
  SELECT pg_temp.conninfo(pg_temp.env_db(server))
$$;
-- Waits (bounded) until `condition` holds.
CREATE FUNCTION pg_temp.wait_until(condition text, seconds int DEFAULT 60) RETURNS bool
LANGUAGE plpgsql AS $$
DECLARE
  ok bool;
BEGIN
  FOR i IN 1 .. seconds * 20 LOOP
    -- (pg_stat_activity as it is now, not as this transaction first read it)
    PERFORM pg_stat_clear_snapshot();
    EXECUTE 'SELECT ' || condition INTO ok;
    IF ok THEN RETURN true; END IF;
    PERFORM pg_sleep(0.05);
  END LOOP;
  RETURN false;
END
$$;
