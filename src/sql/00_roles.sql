-- tdm extension script, generated from src/sql/*.sql (in name order).
\echo Use "CREATE EXTENSION tdm CASCADE" to load this file. \quit

-- Roles are cluster-wide: create them only when missing, so a second
-- database with tdm (or a re-install) reuses them.
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'tdm_admin') THEN
    CREATE ROLE tdm_admin NOLOGIN;
    COMMENT ON ROLE tdm_admin IS 'tdm: setup, consolidate, promote, deploy, rollback';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'tdm_reviewer') THEN
    CREATE ROLE tdm_reviewer NOLOGIN;
    COMMENT ON ROLE tdm_reviewer IS 'tdm: read the review queue, write decisions';
  END IF;
END
$roles$;

-- add_environment probes an environment by importing nothing into it.
CREATE SCHEMA tdm_remote;
COMMENT ON SCHEMA tdm_remote IS 'tdm: scratch space for probing environments (always empty)';
