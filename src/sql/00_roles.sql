-- tdm extension script, generated from src/sql/*.sql (in name order).
\echo Use "CREATE EXTENSION tdm CASCADE" to load this file. \quit

-- Schema tdm holds the audit trail and functions that run as their owner:
-- one that existed before, owned by an ordinary role or holding objects
-- of its own, would stay in that role's hands (it could revoke the tdm
-- roles' access, or plant a function). An empty one a superuser owns (left
-- by DROP EXTENSION tdm) is taken.
DO $schema$
DECLARE
  owner name := (SELECT r.rolname FROM pg_catalog.pg_namespace n
                   JOIN pg_catalog.pg_roles r ON r.oid = n.nspowner
                  WHERE n.nspname = 'tdm' AND NOT r.rolsuper);
  creator name;  -- another role that may create objects there ('public': every role)
  taken text := (SELECT string_agg(n.nspname, ', ' ORDER BY n.nspname) FROM pg_catalog.pg_namespace n
                  WHERE n.nspname IN ('tdm_snapshot', 'tdm_archive', 'tdm_remote'));
BEGIN
  -- (The extension's other schemas are its members: made by the script,
  -- dropped with it. One of those names taken is someone else's.)
  IF taken IS NOT NULL THEN
    RAISE EXCEPTION 'schema % already exists', taken
      USING ERRCODE = 'duplicate_schema',
            HINT = 'tdm creates its schemas tdm_snapshot, tdm_archive and tdm_remote (DROP EXTENSION tdm drops'
                   ' them): drop or rename that schema first.';
  END IF;
  IF owner IS NOT NULL THEN
    RAISE EXCEPTION 'schema tdm already exists, owned by %, who is not a superuser', owner
      USING ERRCODE = 'duplicate_schema',
            HINT = 'tdm installs into a schema tdm of its own: drop or rename that schema first.';
  END IF;
  -- (Every object of a schema depends on it; so does this extension.)
  IF EXISTS (SELECT FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_namespace n ON n.oid = d.refobjid
              WHERE d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND n.nspname = 'tdm'
                AND NOT (d.classid = 'pg_catalog.pg_extension'::pg_catalog.regclass
                         AND d.objid = (SELECT e.oid FROM pg_catalog.pg_extension e
                                         WHERE e.extname = 'tdm'))) THEN
    RAISE EXCEPTION 'schema tdm already exists and holds objects'
      USING ERRCODE = 'duplicate_schema',
            HINT = 'tdm installs into a schema tdm of its own: drop or rename that schema first.';
  END IF;
  creator := (SELECT coalesce(r.rolname, 'public')
                FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
                LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
               WHERE n.nspname = 'tdm' AND a.privilege_type = 'CREATE' AND a.grantee <> n.nspowner
                 AND NOT coalesce(r.rolsuper, false) LIMIT 1);
  IF creator IS NOT NULL THEN
    RAISE EXCEPTION 'schema tdm already exists, and % may create objects in it',
      CASE WHEN creator = 'public' THEN 'every role (PUBLIC)' ELSE creator END
      USING ERRCODE = 'duplicate_schema',
            HINT = format('REVOKE CREATE ON SCHEMA tdm FROM %s; or drop that schema first.',
                          CASE WHEN creator = 'public' THEN 'PUBLIC' ELSE quote_ident(creator) END);
  END IF;
END
$schema$;

-- Roles are cluster-wide: create them only when missing, so a second
-- database with tdm (or a re-install) reuses them. Two databases that
-- create the extension at once both find a role missing: the second
-- CREATE ROLE waits for the first's commit, then takes its role.
DO $roles$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT * FROM (VALUES
             ('tdm_admin', 'tdm: setup, consolidate, promote, deploy, rollback'),
             ('tdm_reviewer', 'tdm: read the review queue, write decisions'),
             ('tdm_auditor', 'tdm: read the review queue, reports and audit trail; decide nothing'))
             AS v(name, purpose) LOOP
    CONTINUE WHEN EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r.name);
    BEGIN
      EXECUTE format('CREATE ROLE %I NOLOGIN', r.name);
      EXECUTE format('COMMENT ON ROLE %I IS %L', r.name, r.purpose);
    EXCEPTION WHEN unique_violation OR duplicate_object THEN
      NULL;  -- (made by the other database's CREATE EXTENSION, committed)
    END;
  END LOOP;
END
$roles$;

-- add_environment probes an environment by importing nothing into it.
CREATE SCHEMA tdm_remote;
COMMENT ON SCHEMA tdm_remote IS 'tdm: scratch space for probing environments (always empty)';
