-- Environments that are schemas of this very database (pgTAP suites):
-- dblink and the session helpers, and a loopback server.
CREATE EXTENSION IF NOT EXISTS dblink;
\ir sessions.sql
-- A postgres_fdw server `name` (with the current user's mapping) for this
-- very database, or database `db`, over st1's loopback address and
-- credentials (or `login` and `password`): an environment whose schemas
-- are this database's.
CREATE FUNCTION pg_temp.loopback_server(name text, db text DEFAULT current_database(), login text DEFAULT NULL,
                                        password text DEFAULT NULL) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host %L, port %L, dbname %L)',
                 name, pg_temp.opt(s.srvoptions, 'host'), pg_temp.opt(s.srvoptions, 'port'), db)
    FROM pg_foreign_server s WHERE s.srvname = 'st1';
  EXECUTE format('CREATE USER MAPPING FOR CURRENT_USER SERVER %I OPTIONS (user %L, password %L)',
                 name, coalesce(login, pg_temp.opt(u.umoptions, 'user')),
                 coalesce(password, pg_temp.opt(u.umoptions, 'password')))
    FROM pg_user_mappings u WHERE u.srvname = 'st1' AND u.usename = current_user;
END
$$;
