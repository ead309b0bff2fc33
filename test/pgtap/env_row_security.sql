-- Row level security an environment's reader is held to hides rows from
-- tdm: said, for a table whose owner reads it under FORCE ROW LEVEL
-- SECURITY, and for tables read through views (as the reader, with
-- security_invoker; as the view's owner, without); not for a reader who
-- inherits from the table's owner, nor for a view its superuser owns.
BEGIN;
SELECT plan(10);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE ROLE tap_rls_reader LOGIN PASSWORD 'reader';
  CREATE ROLE tap_rls_group;
  CREATE ROLE tap_rls_owner;
  GRANT tap_rls_group TO tap_rls_reader;
  CREATE SCHEMA tap_rls;
  GRANT USAGE ON SCHEMA tap_rls TO tap_rls_reader, tap_rls_owner;
  CREATE TABLE tap_rls.forced_t (id int PRIMARY KEY);
  CREATE TABLE tap_rls.member_t (id int PRIMARY KEY);
  CREATE TABLE tap_rls.forced_member_t (id int PRIMARY KEY);
  CREATE TABLE tap_rls.base_t (id int PRIMARY KEY);
  ALTER TABLE tap_rls.forced_t ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
  ALTER TABLE tap_rls.member_t ENABLE ROW LEVEL SECURITY;
  ALTER TABLE tap_rls.forced_member_t ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
  ALTER TABLE tap_rls.forced_member_t OWNER TO tap_rls_group;
  ALTER TABLE tap_rls.base_t ENABLE ROW LEVEL SECURITY;
  ALTER TABLE tap_rls.forced_t OWNER TO tap_rls_reader;
  ALTER TABLE tap_rls.member_t OWNER TO tap_rls_group;
  GRANT SELECT ON tap_rls.base_t TO tap_rls_reader, tap_rls_owner;
  CREATE VIEW tap_rls.invoker_v WITH (security_invoker = on) AS SELECT * FROM tap_rls.base_t;
  CREATE VIEW tap_rls.definer_v AS SELECT * FROM tap_rls.base_t;
  ALTER VIEW tap_rls.definer_v OWNER TO tap_rls_owner;
  CREATE VIEW tap_rls.nested_v AS SELECT * FROM tap_rls.definer_v;
  CREATE VIEW tap_rls.superuser_v AS SELECT * FROM tap_rls.base_t;
  CREATE VIEW tap_rls.deep_1 WITH (security_invoker = on) AS SELECT * FROM tap_rls.base_t;
  DO $deep$BEGIN
    FOR i IN 2 .. 17 LOOP
      EXECUTE format('CREATE VIEW tap_rls.deep_%s WITH (security_invoker = on) AS SELECT * FROM tap_rls.deep_%s', i, i - 1);
    END LOOP;
  END$deep$;
  CREATE VIEW tap_rls.deep_16_v WITH (security_invoker = on) AS SELECT * FROM tap_rls.deep_15;
  GRANT SELECT ON ALL TABLES IN SCHEMA tap_rls TO tap_rls_reader$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_rls_self', login => 'tap_rls_reader', password => 'reader');
SELECT tdm.add_environment('rls', 'tap_rls_self', 50, 'tap_rls');
SELECT tdm._refresh_environment('rls');  -- (as tagging does first)
-- (the local tables only name the environment's)
CREATE SCHEMA tap_rls_local;
SELECT format('CREATE TABLE tap_rls_local.%I (id int)', t)
  FROM unnest('{forced_t, forced_member_t, member_t, invoker_v, definer_v, nested_v, superuser_v, deep_16_v, deep_17}'::text[]) t \gexec
CREATE TEMP TABLE said AS
SELECT s.rel::text AS rel, s.detail
  FROM tdm._env_row_security('rls', ARRAY['tap_rls_local.forced_t', 'tap_rls_local.member_t', 'tap_rls_local.invoker_v',
                                          'tap_rls_local.definer_v', 'tap_rls_local.nested_v',
                                          'tap_rls_local.superuser_v', 'tap_rls_local.forced_member_t',
                                          'tap_rls_local.deep_16_v', 'tap_rls_local.deep_17']::regclass[]) s;

SELECT is((SELECT detail FROM said WHERE rel = 'tap_rls_local.forced_t'),
  'row level security is forced for tap_rls.forced_t in environment rls, and its reader there (tap_rls_reader) owns it,'
  ' and FORCE ROW LEVEL SECURITY holds its owner to the policies too: rows its policies hide from tap_rls_reader go'
  ' unseen: not tagged, locked, consolidated or compared. Give tap_rls_reader BYPASSRLS there, or check that the'
  ' policies show it every row',
  'a table its reader owns, under FORCE ROW LEVEL SECURITY, is said');
SELECT ok(NOT EXISTS (SELECT FROM said WHERE rel = 'tap_rls_local.member_t'),
  'a table whose owner the reader inherits from is read whole: not said');
SELECT ok((SELECT detail FROM said WHERE rel = 'tap_rls_local.invoker_v')
            LIKE 'row level security is on for tap_rls.base_t in environment rls, which tap_rls.invoker_v reads, and its reader there (tap_rls_reader) neither owns it nor bypasses it: %',
  'a table read through a security_invoker view, as the reader, is said');
SELECT ok((SELECT detail FROM said WHERE rel = 'tap_rls_local.definer_v')
            LIKE 'row level security is on for tap_rls.base_t in environment rls, which tap_rls.definer_v reads, and the owner of tap_rls.definer_v there (tap_rls_owner) neither owns it nor bypasses it: rows its policies hide from tap_rls_owner go unseen%',
  'a table read through a view, as the view''s owner, is said');
SELECT ok((SELECT detail FROM said WHERE rel = 'tap_rls_local.nested_v')
            LIKE 'row level security is on for tap_rls.base_t in environment rls, which tap_rls.definer_v reads, and the owner of tap_rls.definer_v %',
  'so through a view of that view');
SELECT ok(NOT EXISTS (SELECT FROM said WHERE rel = 'tap_rls_local.superuser_v'),
  'a view a superuser owns reads its table whole: not said');
SELECT ok((SELECT detail FROM said WHERE rel = 'tap_rls_local.forced_member_t')
            LIKE 'row level security is forced for tap_rls.forced_member_t in environment rls, and its reader there (tap_rls_reader) has the rights of its owner (tap_rls_group), and FORCE ROW LEVEL SECURITY holds its owner to the policies too: %',
  'nor does inheriting from the owner exempt its reader under FORCE ROW LEVEL SECURITY');
SELECT ok((SELECT detail FROM said WHERE rel = 'tap_rls_local.deep_16_v')
            LIKE 'row level security is on for tap_rls.base_t in environment rls, which tap_rls.deep_1 reads, %',
  'a table sixteen views deep is looked at');
SELECT is((SELECT detail FROM said WHERE rel = 'tap_rls_local.deep_17'),
  'tap_rls.deep_1 in environment rls is read through more than sixteen views: row level security on the tables it'
  ' reads was not looked for', 'deeper, it is said not to be');
SELECT is((SELECT count(*)::int FROM said), 7, 'and nothing else');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_rls CASCADE;
DROP ROLE tap_rls_reader;
DROP ROLE tap_rls_group;
DROP ROLE tap_rls_owner;
