-- tdm.data_diff pairs keys by their type's own equality: a citext key
-- spelled in another case, an interval key written otherwise are one key
-- (a changed row, or none), and an extension's key type (ltree), whose =
-- is not pg_catalog's, compares at all. A composite column compares as
-- its fields do: (1,1.5) and (1,1.50) are one value, a field of a
-- domain over numeric or of type bool included. A key type whose = can be
-- neither hashed nor merged compares too. tdm.schema_diff shows a column
-- whose collation differs, and an exclusion constraint once.
BEGIN;
SELECT plan(8);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE EXTENSION IF NOT EXISTS citext SCHEMA public;
  CREATE EXTENSION IF NOT EXISTS ltree SCHEMA public;
  CREATE TYPE public.tap_pk_pair AS (x int, y numeric);
  CREATE DOMAIN public.tap_pk_amount AS numeric CHECK (VALUE >= 0);
  CREATE TYPE public.tap_pk_flag AS (on_off bool, amount public.tap_pk_amount);
  -- (an int4 with a btree class and no hash one: its = neither merges nor hashes)
  CREATE TYPE public.tap_pk_myint;
  CREATE FUNCTION public.tap_pk_myint_in(cstring) RETURNS public.tap_pk_myint AS 'int4in' LANGUAGE internal IMMUTABLE STRICT;
  CREATE FUNCTION public.tap_pk_myint_out(public.tap_pk_myint) RETURNS cstring AS 'int4out' LANGUAGE internal IMMUTABLE STRICT;
  CREATE TYPE public.tap_pk_myint (INPUT = public.tap_pk_myint_in, OUTPUT = public.tap_pk_myint_out, LIKE = int4);
  CREATE FUNCTION public.tap_pk_myint_eq(public.tap_pk_myint, public.tap_pk_myint) RETURNS bool AS 'int4eq' LANGUAGE internal IMMUTABLE STRICT;
  CREATE FUNCTION public.tap_pk_myint_lt(public.tap_pk_myint, public.tap_pk_myint) RETURNS bool AS 'int4lt' LANGUAGE internal IMMUTABLE STRICT;
  CREATE FUNCTION public.tap_pk_myint_cmp(public.tap_pk_myint, public.tap_pk_myint) RETURNS int AS 'btint4cmp' LANGUAGE internal IMMUTABLE STRICT;
  CREATE OPERATOR public.= (LEFTARG = public.tap_pk_myint, RIGHTARG = public.tap_pk_myint, FUNCTION = public.tap_pk_myint_eq);
  CREATE OPERATOR public.< (LEFTARG = public.tap_pk_myint, RIGHTARG = public.tap_pk_myint, FUNCTION = public.tap_pk_myint_lt);
  CREATE OPERATOR CLASS public.tap_pk_myint_ops DEFAULT FOR TYPE public.tap_pk_myint USING btree AS
    OPERATOR 1 public.<, OPERATOR 3 public.=, FUNCTION 1 public.tap_pk_myint_cmp(public.tap_pk_myint, public.tap_pk_myint);
  CREATE FUNCTION pg_temp.make_env(s text) RETURNS void LANGUAGE plpgsql AS $f$
  BEGIN
    EXECUTE format($t$
      CREATE SCHEMA %1$I;
      CREATE TABLE %1$I.pk_ci (k public.citext PRIMARY KEY, v int, tdm_release text, tdm_feature text);
      CREATE TABLE %1$I.pk_span (k interval PRIMARY KEY, v int, tdm_release text, tdm_feature text);
      CREATE TABLE %1$I.pk_path (k public.ltree PRIMARY KEY, v int, tdm_release text, tdm_feature text);
      CREATE TABLE %1$I.pk_pairs (id int PRIMARY KEY, p public.tap_pk_pair, ps public.tap_pk_pair[],
                                  amounts public.tap_pk_amount[], tdm_release text, tdm_feature text);
      CREATE TABLE %1$I.pk_coll (id int PRIMARY KEY, e text, tdm_release text, tdm_feature text);
      CREATE TABLE %1$I.pk_flags (id int PRIMARY KEY, f public.tap_pk_flag, tdm_release text, tdm_feature text);
      CREATE TABLE %1$I.pk_my (k public.tap_pk_myint PRIMARY KEY, v int, tdm_release text, tdm_feature text)$t$, s);
  END
  $f$;
  SELECT pg_temp.make_env('tap_pk_e1');
  SELECT pg_temp.make_env('tap_pk_e2');
  ALTER TABLE tap_pk_e1.pk_coll ALTER COLUMN e TYPE text COLLATE "C";
  ALTER TABLE tap_pk_e1.pk_coll ADD CONSTRAINT pk_coll_one_e EXCLUDE USING btree (e WITH =);
  INSERT INTO tap_pk_e1.pk_ci VALUES ('Alice', 1), ('Bob', 2);
  INSERT INTO tap_pk_e2.pk_ci VALUES ('alice', 1), ('BOB', 20);
  INSERT INTO tap_pk_e1.pk_span VALUES ('2 days', 1), ('1 hour', 1);
  INSERT INTO tap_pk_e2.pk_span VALUES ('48:00:00', 2), ('60 minutes', 1);
  INSERT INTO tap_pk_e1.pk_path VALUES ('a.b', 1), ('a.c', 1);
  INSERT INTO tap_pk_e2.pk_path VALUES ('a.b', 2), ('a.c', 1);
  INSERT INTO tap_pk_e1.pk_pairs VALUES (1, ROW(1, 1.5), '{"(1,1.5)"}', '{1.5}'), (2, ROW(2, 2), NULL, NULL);
  INSERT INTO tap_pk_e2.pk_pairs VALUES (1, ROW(1, 1.50), '{"(1,1.50)"}', '{1.50}'), (2, ROW(2, 3), NULL, NULL);
  INSERT INTO tap_pk_e1.pk_flags VALUES (1, ROW(true, 1.5)), (2, ROW(false, 2));
  INSERT INTO tap_pk_e2.pk_flags VALUES (1, ROW(true, 1.50)), (2, ROW(false, 3));
  INSERT INTO tap_pk_e1.pk_my VALUES ('1', 1), ('2', 1);
  INSERT INTO tap_pk_e2.pk_my VALUES ('1', 2), ('2', 1)$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_pk_self');
CREATE TABLE staging.pk_ci (k public.citext PRIMARY KEY, v int, tdm_release text, tdm_feature text);
CREATE TABLE staging.pk_span (k interval PRIMARY KEY, v int, tdm_release text, tdm_feature text);
CREATE TABLE staging.pk_path (k public.ltree PRIMARY KEY, v int, tdm_release text, tdm_feature text);
CREATE TABLE staging.pk_pairs (id int PRIMARY KEY, p public.tap_pk_pair, ps public.tap_pk_pair[],
                               amounts public.tap_pk_amount[], tdm_release text, tdm_feature text);
CREATE TABLE staging.pk_coll (id int PRIMARY KEY, e text, tdm_release text, tdm_feature text);
CREATE TABLE staging.pk_flags (id int PRIMARY KEY, f public.tap_pk_flag, tdm_release text, tdm_feature text);
CREATE TABLE staging.pk_my (k public.tap_pk_myint PRIMARY KEY, v int, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('pk1', 'tap_pk_self', 10, 'tap_pk_e1'), tdm.add_environment('pk2', 'tap_pk_self', 20, 'tap_pk_e2');
SELECT tdm.manage_table(t) FROM unnest('{staging.pk_ci,staging.pk_span,staging.pk_path,staging.pk_pairs,staging.pk_coll,staging.pk_flags,staging.pk_my}'::regclass[]) t;

SELECT results_eq($$SELECT key, kind, columns FROM tdm.data_diff('staging.pk_ci', 'pk1', 'pk2')$$,
                  $$VALUES ('{"k": "Bob"}'::jsonb, 'changed', '{v}'::text[])$$,
                  'citext keys in another case are one key: Alice is unchanged, Bob changed');
SELECT results_eq($$SELECT key, kind, columns FROM tdm.data_diff('staging.pk_span', 'pk1', 'pk2')$$,
                  $$VALUES ('{"k": "2 days"}'::jsonb, 'changed', '{v}'::text[])$$,
                  'an interval key written otherwise is one key: changed, shown as env_a spells it');
SELECT is((SELECT row_b FROM tdm.data_diff('staging.pk_span', 'pk1', 'pk2')), '{"k": "48:00:00", "v": 2, "tdm_feature": null, "tdm_release": null}'::jsonb,
          'its row_b as env_b holds it');
SELECT results_eq($$SELECT key, kind, columns FROM tdm.data_diff('staging.pk_path', 'pk1', 'pk2')$$,
                  $$VALUES ('{"k": "a.b"}'::jsonb, 'changed', '{v}'::text[])$$,
                  'an ltree key compares with ltree''s own equality');
SELECT results_eq($$SELECT key, kind, columns FROM tdm.data_diff('staging.pk_pairs', 'pk1', 'pk2')$$,
                  $$VALUES ('{"id": 2}'::jsonb, 'changed', '{p}'::text[])$$,
                  'a composite compares as its fields do: (1,1.5) and (1,1.50) are equal, (2,2) and (2,3) not;'
                  ' so do arrays of composites and of a domain over numeric');

SELECT results_eq($$SELECT key, kind, columns FROM tdm.data_diff('staging.pk_flags', 'pk1', 'pk2')$$,
                  $$VALUES ('{"id": 2}'::jsonb, 'changed', '{f}'::text[])$$,
                  'a composite of a bool and a domain over numeric compares as its fields do');
SELECT results_eq($$SELECT key, kind, columns FROM tdm.data_diff('staging.pk_my', 'pk1', 'pk2')$$,
                  $$VALUES ('{"k": "1"}'::jsonb, 'changed', '{v}'::text[])$$,
                  'a key whose = neither hashes nor merges is paired too');
SELECT results_eq($$SELECT table_name, column_name, kind, in_b FROM tdm.schema_diff('pk1', 'pk2')$$,
                  $$VALUES ('pk_coll', 'e', 'collation', 'default'), ('pk_coll', NULL, 'constraint', NULL)$$,
                  'schema_diff shows the column whose collation differs, and the exclusion constraint only'
                  ' one side has once, as a constraint (not again as its index)');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_pk_e1, tap_pk_e2 CASCADE;
DROP TYPE IF EXISTS public.tap_pk_pair, public.tap_pk_flag;
DROP DOMAIN IF EXISTS public.tap_pk_amount;
DROP TYPE IF EXISTS public.tap_pk_myint CASCADE;
DROP EXTENSION IF EXISTS ltree;
DROP EXTENSION IF EXISTS citext;
