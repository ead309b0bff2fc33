-- Parity between environments: tdm.schema_diff finds each kind of drift
-- in the tables' shape, tdm.data_diff the rows that differ among many
-- identical ones (reading aggregates from the environments, not rows),
-- tdm.profile_diff the columns whose values are distributed otherwise;
-- 'local' is the managed tables themselves. Bad arguments are refused
-- with what is wrong.
BEGIN;
SELECT plan(23);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

-- Two environments: schemas of this database, written by another session
-- (an environment reads committed rows), dropped at the end. par1 is the
-- managed tables' copy; par2 has drifted: a row gone, one added, two
-- changed (one a NULL become ''), other shapes of `shape`, no `lonely`,
-- and `metric`'s values distributed otherwise.
SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_par_e1;
  CREATE SCHEMA tap_par_e2;
  CREATE TABLE tap_par_e1.item (id int PRIMARY KEY, code text NOT NULL, qty int DEFAULT 0, price numeric(10,2),
                                seen timestamptz, note text, tdm_release text, tdm_feature text);
  CREATE TABLE tap_par_e2.item (LIKE tap_par_e1.item INCLUDING ALL);
  INSERT INTO tap_par_e1.item
  SELECT g, 'C' || g, g % 7, g * 0.25, timestamptz '2024-01-01 00:00+00' + g * interval '1 minute',
         CASE WHEN g % 9 <> 0 THEN 'n' || g % 4 END, 'TP1', 'F'
    FROM generate_series(1, 3000) g;
  INSERT INTO tap_par_e2.item SELECT * FROM tap_par_e1.item WHERE id <> 5;
  INSERT INTO tap_par_e2.item VALUES (3001, 'C3001', 1, 1, NULL, NULL, 'TP1', 'F');
  UPDATE tap_par_e2.item SET price = price + 1, note = NULL WHERE id = 1234;
  UPDATE tap_par_e2.item SET note = '' WHERE id = 1800;

  CREATE TABLE tap_par_e1.shape (id serial PRIMARY KEY, a text NOT NULL, b int, e int DEFAULT 1, c text,
                                 tdm_release text, tdm_feature text);
  CREATE TABLE tap_par_e2.shape (id serial PRIMARY KEY, a text, b bigint, e int DEFAULT 2, d int,
                                 tdm_release text, tdm_feature text);
  INSERT INTO tap_par_e1.shape (a, b, e) VALUES ('x', 1, 1), ('y', 2, 2);
  INSERT INTO tap_par_e2.shape (a, b, e) VALUES ('x', 1, 1), ('y', 2, 2);
  CREATE TABLE tap_par_e1.lonely (id int PRIMARY KEY, tdm_release text, tdm_feature text);

  CREATE TABLE tap_par_e1.metric (id int PRIMARY KEY, kind text, score int, opt text, tdm_release text, tdm_feature text);
  CREATE TABLE tap_par_e2.metric (LIKE tap_par_e1.metric INCLUDING ALL);
  INSERT INTO tap_par_e1.metric SELECT g, chr(97 + g % 5), g % 100, 'o' || g % 3, 'TP1', 'F' FROM generate_series(1, 1000) g;
  INSERT INTO tap_par_e2.metric
  SELECT g, CASE WHEN g % 10 < 7 THEN 'a' ELSE chr(97 + g % 5) END, g % 100,
         CASE WHEN g % 10 >= 3 THEN 'o' || g % 3 END, 'TP1', 'F'
    FROM generate_series(1, 1000) g;

  CREATE TABLE tap_par_e1.label (id int PRIMARY KEY, name varchar(20), tdm_release text, tdm_feature text);
  CREATE TABLE tap_par_e2.label (LIKE tap_par_e1.label INCLUDING ALL);
  INSERT INTO tap_par_e1.label VALUES (1, 'abc', 'TP1', 'F'), (2, 'same', 'TP1', 'F');
  INSERT INTO tap_par_e2.label VALUES (1, 'abc  ', 'TP1', 'F'), (2, 'same', 'TP1', 'F');

  CREATE TYPE tap_par_e1.mood AS ENUM ('sad', 'ok', 'angry');
  CREATE TABLE tap_par_e1.feeling (id int PRIMARY KEY, m tap_par_e1.mood, tdm_release text, tdm_feature text);
  CREATE TABLE tap_par_e2.feeling (LIKE tap_par_e1.feeling);
  INSERT INTO tap_par_e1.feeling VALUES (1, 'angry', 'TP1', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_par_self');
-- The managed tables (tap_par): par1's copy.
CREATE SCHEMA tap_par;
CREATE TABLE tap_par.item (id int PRIMARY KEY, code text NOT NULL, qty int DEFAULT 0, price numeric(10,2),
                           seen timestamptz, note text, tdm_release text, tdm_feature text);
INSERT INTO tap_par.item SELECT * FROM tap_par_e1.item;
CREATE TABLE tap_par.shape (id serial PRIMARY KEY, a text NOT NULL, b int, e int DEFAULT 1, c text,
                            tdm_release text, tdm_feature text);
CREATE TABLE tap_par.lonely (id int PRIMARY KEY, tdm_release text, tdm_feature text);
CREATE TABLE tap_par.metric (id int PRIMARY KEY, kind text, score int, opt text, tdm_release text, tdm_feature text);
INSERT INTO tap_par.metric SELECT * FROM tap_par_e1.metric;
CREATE TABLE tap_par.unmanaged (id int PRIMARY KEY);
CREATE TABLE tap_par.label (id int PRIMARY KEY, name varchar(20), tdm_release text, tdm_feature text);
CREATE TYPE tap_par.mood AS ENUM ('sad', 'ok');
CREATE TABLE tap_par.feeling (id int PRIMARY KEY, m tap_par.mood, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('par1', 'tap_par_self', 10, 'tap_par_e1'),
       tdm.add_environment('par2', 'tap_par_self', 20, 'tap_par_e2');
SELECT tdm.manage_table(t) FROM unnest('{tap_par.item,tap_par.shape,tap_par.lonely,tap_par.metric,tap_par.label,tap_par.feeling}'::regclass[]) t;

-- schema_diff: each kind once, in column order; nothing between equals
-- (their sequences' defaults name their own schemas).
SELECT results_eq(
  $$SELECT rel::text, column_name, kind, in_a, in_b FROM tdm.schema_diff('par1', 'par2')$$,
  $$VALUES ('tap_par.lonely', NULL, 'table_missing', 'tap_par_e1.lonely', NULL),
           ('tap_par.shape', 'a', 'nullable', 'NOT NULL', 'NULL'),
           ('tap_par.shape', 'b', 'type', 'integer', 'bigint'),
           ('tap_par.shape', 'e', 'default', '1', '2'),
           ('tap_par.shape', 'c', 'column_missing', 'text', NULL),
           ('tap_par.shape', 'd', 'column_missing', NULL, 'integer')$$,
  'schema_diff finds a missing table, nullability, type, default and a column missing on either side');
SELECT is((SELECT detail FROM tdm.schema_diff('par1', 'par2') WHERE column_name = 'b'),
  'column b of table shape is integer in environment "par1" but bigint in environment "par2"',
  'its detail names the column, table and both sides');
SELECT is_empty($$SELECT * FROM tdm.schema_diff('local', 'par1')$$,
  'schema_diff between the managed tables and their copy finds nothing');

-- data_diff: the four rows among 3000, with the columns that differ,
-- whatever the session's time zone (rows are shown in UTC).
SET TimeZone = 'Asia/Tokyo';
SELECT results_eq(
  $$SELECT key, kind, columns FROM tdm.data_diff('tap_par.item', 'par1', 'par2') ORDER BY key$$,
  $$VALUES ('{"id": 5}'::jsonb, 'only_in_a', NULL::text[]), ('{"id": 1234}', 'changed', '{price,note}'),
           ('{"id": 1800}', 'changed', '{note}'), ('{"id": 3001}', 'only_in_b', NULL)$$,
  'data_diff finds the row only in a, the row only in b, and the changed rows with their columns (NULL is not '''')');
SELECT results_eq(
  $$SELECT row_a->>'price', row_b->>'price', row_a->>'seen', row_b->>'note' IS NULL, row_a->>'note'
      FROM tdm.data_diff('tap_par.item', 'par1', 'par2') WHERE key = '{"id": 1234}'$$,
  $$VALUES ('308.50', '309.50', '2024-01-01T20:34:00+00:00', true, 'n2')$$,
  'a changed row comes with both sides'' values, timestamps in UTC');
RESET TimeZone;
SELECT is_empty($$SELECT * FROM tdm.data_diff('tap_par.item', 'local', 'par1')$$,
  'data_diff between 3000 identical rows finds nothing');
SELECT results_eq(
  $$SELECT key, kind FROM tdm.data_diff('tap_par.item', 'par2', 'local') ORDER BY key$$,
  $$VALUES ('{"id": 5}'::jsonb, 'only_in_b'), ('{"id": 1234}', 'changed'), ('{"id": 1800}', 'changed'),
           ('{"id": 3001}', 'only_in_a')$$,
  'with ''local'' as a side too');
SELECT is_empty($$SELECT * FROM tdm.data_diff('tap_par.shape', 'par1', 'par2')$$,
  'data_diff compares the columns both sides hold as the managed table does (b and c left out)');

-- What travels: the bucket aggregates and the profile run on the
-- environment's server (postgres_fdw's Remote SQL holds the GROUP BY and
-- the aggregates), so identical tables ship aggregates, not rows.
CREATE FUNCTION pg_temp.remote_sql(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  line text;
  found text := '';
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || query USING 15::int8, 0::int8, '{0}'::int8[] LOOP
    IF line LIKE '%Remote SQL:%' THEN
      found := found || btrim(line) || E'\n';
    END IF;
  END LOOP;
  RETURN found;
END
$$;
SELECT matches(
  pg_temp.remote_sql(tdm._parity_bucket_sql(tdm._env_table('par1', 'tap_par.item'),
                                            tdm._parity_hash_sql('tap_par.item', 't', 'id', 1001, false),
                                            tdm._parity_row_hash_sql('tap_par.item', ARRAY(SELECT column_name FROM tdm._columns('tap_par.item')), 0))),
  '^Remote SQL: SELECT \(hashint4extended\(id, .*count\(\*\), sum\(.*timestamp_hash_extended.* FROM tap_par_e1\.item WHERE .* GROUP BY 1\n$',
  'data_diff''s bucket aggregates are computed on the environment''s server');
SELECT matches(
  pg_temp.remote_sql(tdm._parity_stats_sql('tap_par.item', tdm._env_table('par1', 'tap_par.item'),
                                           ARRAY(SELECT column_name FROM tdm._columns('tap_par.item')), '{price}')),
  '^Remote SQL: SELECT count\(\*\), count\(id\), count\(DISTINCT hashint4extended\(id, .*min\(price\).* FROM tap_par_e1\.item\n$',
  'profile_diff''s counts are computed on the environment''s server');

-- profile_diff: the column whose values moved and the one with NULLs
-- drifted, the others not.
SELECT results_eq(
  $$SELECT column_name, rows_a, rows_b, distinct_a, distinct_b, drifted
      FROM tdm.profile_diff('tap_par.metric', 'par1', 'par2')$$,
  $$VALUES ('id', 1000::bigint, 1000::bigint, 1000::bigint, 1000::bigint, false),
           ('kind', 1000, 1000, 5, 4, true), ('score', 1000, 1000, 100, 100, false),
           ('opt', 1000, 1000, 3, 3, true), ('tdm_release', 1000, 1000, 1, 1, false),
           ('tdm_feature', 1000, 1000, 1, 1, false)$$,
  'profile_diff: a moved distribution and a new share of NULLs drifted, identical columns did not');
SELECT results_eq(
  $$SELECT column_name, round(distance::numeric, 6), null_frac_a, round(null_frac_b::numeric, 6)
      FROM tdm.profile_diff('tap_par.metric', 'par1', 'par2') WHERE column_name IN ('kind', 'score', 'opt')$$,
  $$VALUES ('kind', 0.5, 0::float8, 0::numeric), ('score', 0, 0, 0),
           ('opt', (SELECT round(0.5 * sum(abs(coalesce(a.p, 0) - coalesce(b.p, 0))), 6)
                      FROM (SELECT opt, count(*) / sum(count(*)) OVER () AS p FROM tap_par_e1.metric
                             WHERE opt IS NOT NULL GROUP BY opt) a
                      FULL JOIN (SELECT opt, count(*) / sum(count(*)) OVER () AS p FROM tap_par_e2.metric
                                  WHERE opt IS NOT NULL GROUP BY opt) b USING (opt)), 0, 0.3)$$,
  'the distance is the total variation distance of the values; the null fractions are the shares of NULLs');
SELECT is_empty($$SELECT * FROM tdm.profile_diff('tap_par.metric', 'local', 'par1') WHERE drifted OR distance > 0$$,
  'profile_diff between the managed table and its copy: nothing drifted');

-- Bad arguments.
SELECT throws_ok($$SELECT * FROM tdm.schema_diff('par1', 'nope')$$, '42704',
  'schema_diff: environment "nope" does not exist', 'an unknown environment is refused');
SELECT is(pg_temp.hint_of($$SELECT * FROM tdm.schema_diff('par1', 'nope')$$),
  'Registered environments: par1, par2 (tdm.environment); ''local'' names this database.',
  'its hint lists the registered environments');
SELECT is(pg_temp.hint_of($$SELECT * FROM tdm.data_diff('tap_par.item', 'PAR1', 'local')$$),
  'Environment names are compared exactly: did you mean ''par1''?', 'a lookalike is named');
SELECT throws_ok($$SELECT * FROM tdm.data_diff('tap_par.unmanaged', 'par1', 'par2')$$, '42704',
  'data_diff: table tap_par.unmanaged is not managed by tdm', 'an unmanaged table is refused');
SELECT throws_ok($$SELECT * FROM tdm.profile_diff('tap_par.item', 'par2', 'par2')$$, '22023',
  'profile_diff: env_a and env_b are both "par2": nothing to compare', 'one side twice is refused');
SELECT throws_ok($$SELECT * FROM tdm.data_diff('tap_par.lonely', 'par1', 'par2')$$, '42P01',
  'data_diff: cannot compare tap_par.lonely between environment "par1" and environment "par2": table lonely does not exist in par2 (remote schema tap_par_e2), or the user mapping''s role may not read it',
  'a table one side lacks is refused, pointing to schema_diff');

-- varchar compares trailing blanks (bpchar's hash would not see them);
-- an empty side, where every share is of no value, is all drift.
SELECT results_eq($$SELECT key, kind, columns FROM tdm.data_diff('tap_par.label', 'par1', 'par2')$$,
  $$VALUES ('{"id": 1}'::jsonb, 'changed'::text, '{name}'::text[])$$,
  'data_diff sees a varchar value that differs by trailing blanks');
SELECT results_eq($$SELECT column_name, rows_a, rows_b, distance, drifted FROM tdm.profile_diff('tap_par.label', 'par1', 'local')$$,
  $$VALUES ('id'::text, 2::bigint, 0::bigint, 1::float8, true), ('name', 2, 0, 1, true),
           ('tdm_release', 2, 0, 1, true), ('tdm_feature', 2, 0, 1, true)$$,
  'profile_diff against an empty side: every column drifted, no division by zero');
-- An enum label one side has and this database has not: said so, not
-- PostgreSQL's input error alone.
SELECT throws_ok($$SELECT * FROM tdm.data_diff('tap_par.feeling', 'par1', 'par2')$$, '22P02',
  'data_diff: tap_par.feeling holds, in environment "par1" or environment "par2", a value this database''s type refuses: invalid input value for enum tap_par.mood: "angry"',
  'a value this database''s type refuses names the table and the sides');
-- A differing bucket's keys and row hashes come as an aggregate (the
-- Remote SQL groups by key), not the bucket's rows.
SELECT matches(
  pg_temp.remote_sql(format('SELECT %s AS h, t.id, pg_catalog.sum(%s) FROM %s t GROUP BY 1, t.id',
                            tdm._parity_hash_sql('tap_par.label', 't', 'id', 1001, false),
                            tdm._parity_row_hash_sql('tap_par.label', '{id,name,tdm_release,tdm_feature}', 0),
                            tdm._env_table('par1', 'tap_par.label'))),
  '^Remote SQL: SELECT hashint4extended\(id, .*sum\(.*hashtextextended\(name::text, .* FROM tap_par_e1\.label GROUP BY 1, 2\n$',
  'the key-level read of a bucket (varchar hashed as text) is computed on the environment''s server');

SELECT * FROM finish();
ROLLBACK;
-- (After the transaction: until then, its foreign scans' remote
-- transaction holds the tables.)
SET client_min_messages = warning;
DROP SCHEMA tap_par_e1, tap_par_e2 CASCADE;
