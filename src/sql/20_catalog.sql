-- The catalog: what tdm knows about environments, tables, releases and jobs.

CREATE TABLE tdm.environment (
  -- 'master' names the earlier releases' rows in conflicts. Names sort
  -- byte by byte (collation "C"), as detection's tie-break compares them,
  -- whatever the database's collation.
  name          text COLLATE "C" PRIMARY KEY CHECK (btrim(name) <> '' AND name <> 'master'),
  server        name NOT NULL,
  precedence    int  NOT NULL,
  remote_schema text NOT NULL,
  added_at      timestamptz NOT NULL DEFAULT now(),
  added_by      name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE tdm.environment IS
  'Source environments: a postgres_fdw server each; lower precedence wins ties';

CREATE TABLE tdm.managed_table (
  rel               regclass PRIMARY KEY,
  pk_columns        text[] NOT NULL,
  natural_keys      text[] NOT NULL DEFAULT '{}',
  updated_at_column text,
  core_columns      text[] NOT NULL DEFAULT '{}',
  release_column    text NOT NULL,
  feature_column    text NOT NULL,
  surrogate_key     bool NOT NULL DEFAULT false,
  normalize_keys    bool NOT NULL DEFAULT false,  -- natural keys compared case/space-insensitively
  bookkeeping_columns text[] NOT NULL DEFAULT '{}',  -- not compared: a version, who updated the row
  foreign_keys      jsonb NOT NULL DEFAULT '[]',
  managed_at        timestamptz NOT NULL DEFAULT now(),
  managed_by        name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE tdm.managed_table IS
  'Target tables; keys and foreign keys as read from the catalog at registration';

CREATE TABLE tdm.release (
  release      text PRIMARY KEY CHECK (btrim(release) <> ''),
  status       text NOT NULL DEFAULT 'open'
               CHECK (status IN ('open', 'locked', 'consolidated', 'promoted', 'deployed',
                                 'rolled_back', 'archived')),
  code_version text,
  parent       text,  -- checked by tdm.create_release; no self-reference, see decisions.md
  locked_at    timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  created_by   name NOT NULL DEFAULT current_user,
  -- its last archiving: each archive table of its rows, with the table
  -- whose rows it holds and its OID
  -- ({"tdm_archive.\"R1__users\"": {"table": "users", "oid": 16500}})
  archived_tables jsonb
);

CREATE TABLE tdm.feature (
  release  text NOT NULL REFERENCES tdm.release (release),
  feature  text NOT NULL CHECK (btrim(feature) <> ''),
  priority int  NOT NULL,
  PRIMARY KEY (release, feature)
);
COMMENT ON TABLE tdm.feature IS 'The release plan: features and priorities (higher wins)';

CREATE TABLE tdm.rule (
  name       text PRIMARY KEY CHECK (btrim(name) <> ''),
  rel        regclass NOT NULL REFERENCES tdm.managed_table (rel),
  predicate  text NOT NULL,
  severity   text NOT NULL CHECK (severity IN ('error', 'warning')),
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE tdm.rule IS 'Business rules checked at validation';

CREATE TABLE tdm.job (
  job_id      bigserial PRIMARY KEY,
  kind        text NOT NULL
              CHECK (kind IN ('tag_release', 'consolidate', 'snapshot', 'rollback', 'promote',
                              'deploy')),
  release     text,
  status      text NOT NULL DEFAULT 'queued'
              CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
  pid         int,
  started_by  name NOT NULL DEFAULT current_user,
  queued_at   timestamptz NOT NULL DEFAULT now(),
  started_at  timestamptz,
  finished_at timestamptz,
  error       text,
  sqlstate    text,
  detail      jsonb NOT NULL DEFAULT '{}'  -- counts and per-phase timings
);
COMMENT ON TABLE tdm.job IS 'Every long operation, foreground or background';
-- (A release's jobs of a kind are looked up per release, by a rollback's
-- reconciliation among others: without it, a scan of every job each.)
CREATE INDEX ON tdm.job (release, kind);

-- Phase 1.5: what tagging found, and the lock of a tagged release.
CREATE TABLE tdm.tag_finding (
  job_id       bigint NOT NULL REFERENCES tdm.job (job_id),
  env          text NOT NULL,
  rel          regclass NOT NULL,
  kind         text NOT NULL
               CHECK (kind IN ('untagged_rows', 'unknown_feature', 'unknown_release',
                               'dangling_reference', 'schema_drift')),
  severity     text NOT NULL CHECK (severity IN ('error', 'warning')),
  detail       text NOT NULL,
  row_count    bigint,
  example_keys jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX ON tdm.tag_finding (job_id);
COMMENT ON TABLE tdm.tag_finding IS 'What tdm.tag_release found, per environment and table';

CREATE TABLE tdm.release_lock (
  release   text NOT NULL REFERENCES tdm.release (release),
  env       text NOT NULL,
  rel       regclass NOT NULL,
  row_count bigint NOT NULL,
  checksum  text NOT NULL,
  locked_at timestamptz NOT NULL DEFAULT now(),
  -- (the managed table's columns and types the checksum was taken over)
  shape     text,
  -- (the columns the environment lacked, and the expressions read for
  -- them: tdm._fills)
  fills     jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (release, env, rel)
);
COMMENT ON TABLE tdm.release_lock IS
  'Tagged rows per environment and table when the release was locked: count and checksum';

-- A table's foreign keys, read from the catalog: one object per constraint.
CREATE FUNCTION tdm._foreign_keys(rel regclass) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(jsonb_agg(jsonb_build_object(
           'name', con.conname,
           'columns', (SELECT jsonb_agg(a.attname ORDER BY k.ord)
                         FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
                         JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum),
           'references', con.confrelid::regclass::text,
           'ref_columns', (SELECT jsonb_agg(a.attname ORDER BY k.ord)
                             FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
                             JOIN pg_attribute a ON a.attrelid = con.confrelid
                                                AND a.attnum = k.attnum),
           'deferrable', con.condeferrable,
           'not_null', (SELECT bool_and(a.attnotnull)
                          FROM unnest(con.conkey) AS k(attnum)
                          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum))
         ORDER BY con.conname), '[]'::jsonb)
    FROM pg_constraint con
   -- (not the copies PostgreSQL adds for each partition of a partitioned
   -- parent: the table's own key stands for them)
   WHERE con.conrelid = rel AND con.contype = 'f' AND con.conparentid = 0
$$;

SELECT pg_catalog.pg_extension_config_dump('tdm.environment', '');
SELECT pg_catalog.pg_extension_config_dump('tdm.managed_table', '');
SELECT pg_catalog.pg_extension_config_dump('tdm.release', '');
SELECT pg_catalog.pg_extension_config_dump('tdm.feature', '');
SELECT pg_catalog.pg_extension_config_dump('tdm.rule', '');
SELECT pg_catalog.pg_extension_config_dump('tdm.job', '');
SELECT pg_catalog.pg_extension_config_dump('tdm.job_job_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tdm.tag_finding', '');
SELECT pg_catalog.pg_extension_config_dump('tdm.release_lock', '');

-- Whether the table holds a row.
CREATE FUNCTION tdm._holds_rows(rel regclass) RETURNS bool
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  holds bool;
BEGIN
  EXECUTE format('SELECT EXISTS (SELECT FROM %s)', rel) INTO holds;
  RETURN holds;
END
$$;

-- `name` when it fits in an identifier (63 bytes); else as much of it as
-- fits with `_<unique>` after it: two long names that begin alike must not
-- become one. A name that fits but could be such a cut name (60 bytes or
-- more, ending in `_` and hex digits) is cut too, with its own unique
-- part: a table named as another's cut name must not share its name.
CREATE FUNCTION tdm._fitted_name(name text, uniq text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  kept int := char_length(name);
BEGIN
  IF octet_length(name) <= 63 AND NOT (octet_length(name) >= 60 AND name ~ '_[0-9a-f]+$') THEN
    RETURN name;
  END IF;
  WHILE octet_length(left(name, kept) || '_' || uniq) > 63 LOOP
    kept := kept - 1;
  END LOOP;
  RETURN left(name, kept) || '_' || uniq;
END
$$;
