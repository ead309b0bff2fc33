-- (DDL run in each environment's database.)
CREATE FUNCTION pg_temp.in_environments(ddl text) RETURNS void LANGUAGE sql AS $$
  SELECT dblink_connect(e, pg_temp.env_conninfo(e)), dblink_exec(e, ddl), dblink_disconnect(e)
    FROM unnest('{st1,st2,st3}'::text[]) AS e
$$;
