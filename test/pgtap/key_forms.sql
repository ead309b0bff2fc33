-- Keys are grouped as their types compare them (decision 162): two
-- environments' citext logins `Carol` and `carol`, a numeric key's 1.5
-- and 1.50, a float's -0 and 0 are one key, so they meet in a conflict a
-- reviewer or a rule settles, rather than in a unique violation nobody can
-- decide. The members keep their spellings; children follow the key their
-- parent ends with.
BEGIN;
SELECT plan(16);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE EXTENSION IF NOT EXISTS citext SCHEMA public;
  CREATE DOMAIN public.tap_kf_positive AS numeric CHECK (VALUE > 0);
  CREATE DOMAIN public.tap_kf_amount AS public.tap_kf_positive;
  CREATE FUNCTION pg_temp.make_env(s text) RETURNS void LANGUAGE plpgsql AS $f$
  BEGIN
    EXECUTE format($t$
      CREATE SCHEMA %1$I;
      CREATE TABLE %1$I.kf_account (login public.citext PRIMARY KEY, name text NOT NULL,
                                    tdm_release text, tdm_feature text);
      CREATE TABLE %1$I.kf_order (id int PRIMARY KEY, login public.citext REFERENCES %1$I.kf_account,
                                  tdm_release text, tdm_feature text);
      CREATE TABLE %1$I.kf_gauge (k numeric PRIMARY KEY, v int, tdm_release text, tdm_feature text);
      CREATE TABLE %1$I.kf_reading (id int PRIMARY KEY, k numeric REFERENCES %1$I.kf_gauge,
                                    tdm_release text, tdm_feature text);
      CREATE TABLE %1$I.kf_point (x float8 PRIMARY KEY, label text NOT NULL, tdm_release text, tdm_feature text);
      CREATE TABLE %1$I.kf_mark (id int PRIMARY KEY, x float8 REFERENCES %1$I.kf_point, tdm_release text, tdm_feature text);
      CREATE TABLE %1$I.kf_cat (id int PRIMARY KEY, parent_id int REFERENCES %1$I.kf_cat, code text NOT NULL UNIQUE,
                                name public.citext NOT NULL, tdm_release text, tdm_feature text, UNIQUE (parent_id, name));
      CREATE TABLE %1$I.kf_dose (amount public.tap_kf_amount PRIMARY KEY, tdm_release text, tdm_feature text);
      CREATE TABLE %1$I.kf_span (span interval PRIMARY KEY, v int, tdm_release text, tdm_feature text);
      CREATE TABLE %1$I.kf_doc (id int PRIMARY KEY, j json, tdm_release text, tdm_feature text);
      CREATE TABLE %1$I.kf_region (id int PRIMARY KEY, descr bpchar NOT NULL UNIQUE, tdm_release text, tdm_feature text);
      CREATE TABLE %1$I.kf_ship (id int PRIMARY KEY, customer bpchar, weight numeric, tdm_release text, tdm_feature text)$t$,
      s);
  END $f$;
  SELECT pg_temp.make_env('tap_kf_e1'), pg_temp.make_env('tap_kf_e2'), pg_temp.make_env('tap_kf_e3');
  INSERT INTO tap_kf_e1.kf_account VALUES ('Carol', 'Carol One', 'TKF1', 'F'), ('Dan', 'Dan', 'TKF1', 'F');
  INSERT INTO tap_kf_e1.kf_order VALUES (10, 'CAROL', 'TKF1', 'F'), (11, 'dan', 'TKF1', 'F');
  INSERT INTO tap_kf_e2.kf_account VALUES ('carol', 'Carol Two', 'TKF1', 'F'), ('DAN', 'Dan', 'TKF1', 'F');
  INSERT INTO tap_kf_e2.kf_order VALUES (20, 'carol', 'TKF1', 'F'), (21, 'Dan', 'TKF1', 'F');
  INSERT INTO tap_kf_e1.kf_gauge VALUES (1.5, 1, 'TKF1', 'F');
  INSERT INTO tap_kf_e1.kf_reading VALUES (10, 1.500, 'TKF1', 'F');
  INSERT INTO tap_kf_e2.kf_gauge VALUES (1.50, 1, 'TKF1', 'F');
  INSERT INTO tap_kf_e2.kf_reading VALUES (20, 1.5, 'TKF1', 'F');
  INSERT INTO tap_kf_e1.kf_point VALUES (0, 'origin', 'TKF1', 'F');
  INSERT INTO tap_kf_e2.kf_point VALUES ('-0', 'zero', 'TKF1', 'F');
  INSERT INTO tap_kf_e1.kf_mark VALUES (10, 0, 'TKF1', 'F');
  INSERT INTO tap_kf_e2.kf_mark VALUES (20, '-0', 'TKF1', 'F');
  -- (a tree whose natural key (parent_id, name) holds a reference to itself)
  INSERT INTO tap_kf_e1.kf_cat VALUES (1, NULL, 'R', 'Root', 'TKF1', 'F'), (2, 1, 'B1', 'Books', 'TKF1', 'F');
  INSERT INTO tap_kf_e2.kf_cat VALUES (1, NULL, 'R', 'Root', 'TKF1', 'F'), (12, 1, 'B2', 'books', 'TKF1', 'F');
  INSERT INTO tap_kf_e1.kf_dose VALUES (1.5, 'TKF1', 'F');
  INSERT INTO tap_kf_e2.kf_dose VALUES (1.50, 'TKF1', 'F');
  INSERT INTO tap_kf_e1.kf_span VALUES ('1 day', 1, 'TKF1', 'F'), ('1 mon', 2, 'TKF1', 'F');
  INSERT INTO tap_kf_e2.kf_span VALUES ('24 hours', 1, 'TKF1', 'F'), ('29 days', 3, 'TKF1', 'F');
  -- (json may hold \u0000, which jsonb, conflict members' type, cannot)
  INSERT INTO tap_kf_e1.kf_doc VALUES (1, '{"a": "\u0000"}', 'TKF1', 'F');
  INSERT INTO tap_kf_e2.kf_doc VALUES (1, '{"a": "\u0000", "b": 1}', 'TKF1', 'F');
  -- (a bpchar's trailing blanks, which its equality ignores)
  INSERT INTO tap_kf_e1.kf_region VALUES (1, 'Eastern', 'TKF1', 'F');
  INSERT INTO tap_kf_e2.kf_region VALUES (5, 'Eastern  ', 'TKF1', 'F');
  INSERT INTO tap_kf_e1.kf_ship VALUES (1, 'ALFKI', 1.0, 'TKF1', 'F');
  INSERT INTO tap_kf_e2.kf_ship VALUES (1, 'ALFKI ', 1.00, 'TKF1', 'F');
  -- (a later release: Dan again, spelled as no environment spelled him)
  INSERT INTO tap_kf_e3.kf_account VALUES ('dan', 'Dan', 'TKF2', 'G')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_kf_self');
CREATE EXTENSION IF NOT EXISTS citext SCHEMA public;
CREATE TABLE staging.kf_account (login public.citext PRIMARY KEY, name text NOT NULL, tdm_release text, tdm_feature text);
CREATE TABLE staging.kf_order (id int PRIMARY KEY, login public.citext REFERENCES staging.kf_account,
                               tdm_release text, tdm_feature text);
CREATE TABLE staging.kf_gauge (k numeric PRIMARY KEY, v int, tdm_release text, tdm_feature text);
CREATE TABLE staging.kf_reading (id int PRIMARY KEY, k numeric REFERENCES staging.kf_gauge,
                                 tdm_release text, tdm_feature text);
CREATE TABLE staging.kf_point (x float8 PRIMARY KEY, label text NOT NULL, tdm_release text, tdm_feature text);
CREATE TABLE staging.kf_mark (id int PRIMARY KEY, x float8 REFERENCES staging.kf_point, tdm_release text, tdm_feature text);
CREATE TABLE staging.kf_cat (id int PRIMARY KEY, parent_id int REFERENCES staging.kf_cat, code text NOT NULL UNIQUE,
                             name public.citext NOT NULL, tdm_release text, tdm_feature text, UNIQUE (parent_id, name));
CREATE TABLE staging.kf_dose (amount public.tap_kf_amount PRIMARY KEY, tdm_release text, tdm_feature text);
CREATE TABLE staging.kf_span (span interval PRIMARY KEY, v int, tdm_release text, tdm_feature text);
CREATE TABLE staging.kf_doc (id int PRIMARY KEY, j json, tdm_release text, tdm_feature text);
CREATE TABLE staging.kf_region (id int PRIMARY KEY, descr bpchar NOT NULL UNIQUE, tdm_release text, tdm_feature text);
CREATE TABLE staging.kf_ship (id int PRIMARY KEY, customer bpchar, weight numeric, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('kf1', 'tap_kf_self', 10, 'tap_kf_e1'),
       tdm.add_environment('kf2', 'tap_kf_self', 20, 'tap_kf_e2'),
       tdm.add_environment('kf3', 'tap_kf_self', 30, 'tap_kf_e3');
SELECT tdm.manage_table('staging.kf_account', core_columns => '{name}'), tdm.manage_table('staging.kf_order'),
       tdm.manage_table('staging.kf_gauge'), tdm.manage_table('staging.kf_reading'),
       tdm.manage_table('staging.kf_point', core_columns => '{label}'), tdm.manage_table('staging.kf_mark'),
       tdm.manage_table('staging.kf_cat', '{code,"parent_id,name"}'), tdm.manage_table('staging.kf_dose'),
       tdm.manage_table('staging.kf_span'), tdm.manage_table('staging.kf_doc'),
       tdm.manage_table('staging.kf_region', '{descr}'), tdm.manage_table('staging.kf_ship');
SELECT tdm.create_release('TKF1'), tdm.add_feature('TKF1', 'F', 1),
       tdm.create_release('TKF2', parent => 'TKF1'), tdm.add_feature('TKF2', 'G', 1);
SELECT tdm.tag_release('TKF1'), tdm.consolidate('TKF1');
CREATE ROLE tap_kf_approver;
GRANT tdm_reviewer TO tap_kf_approver;

SELECT is((SELECT differing -> 'login' FROM tdm.review_queue WHERE rel = 'staging.kf_account'::regclass),
  '{"kf1": "Carol", "kf2": "carol"}'::jsonb,
  'two people with one citext login are a conflict to review, their spellings side by side');
SELECT is((SELECT count(*) FROM tdm.conflict WHERE rel = 'staging.kf_account'::regclass AND status = 'auto_resolved'),
  1::bigint, 'the same person spelled Dan and DAN is settled by a rule');
SELECT is((SELECT count(*) FROM tdm.conflict WHERE rel = 'staging.kf_gauge'::regclass), 1::bigint,
  'numeric keys 1.5 and 1.50 are one key');
SELECT is((SELECT count(*) FROM tdm.conflict WHERE rel = 'staging.kf_point'::regclass), 1::bigint,
  'float keys -0 and 0 are one key');
SELECT is((SELECT count(*) FROM tdm.conflict WHERE rel = 'staging.kf_dose'::regclass), 1::bigint,
  'and so are 1.5 and 1.50 of a domain over a domain over numeric');
SELECT is((SELECT count(*) FROM tdm.conflict WHERE rel = 'staging.kf_span'::regclass), 1::bigint,
  'interval keys ''1 day'' and ''24 hours'' are one key (''1 mon'' and ''29 days'' are not)');
SELECT is((SELECT members -> 0 -> 'row' ->> 'j' FROM tdm.conflict WHERE rel = 'staging.kf_doc'::regclass),
  '{"a": "\u0000"}', 'a json value holding \u0000 is a member as its text');
SELECT is((SELECT count(*) FROM tdm.conflict
            WHERE rel = 'staging.kf_cat'::regclass AND members @> '[{"row": {"name": "books"}}]'), 1::bigint,
  'Books and books under one Root are one citext natural key, the Root a reference to the table itself');
SELECT results_eq($$SELECT kind::text, rule FROM tdm.conflict WHERE rel = 'staging.kf_region'::regclass$$,
  $$VALUES ('duplicate_natural_key', 'environment_precedence')$$,
  'bpchar natural keys ''Eastern'' and ''Eastern  '' are one key');
SELECT results_eq($$SELECT kind::text, differing FROM tdm.conflict WHERE rel = 'staging.kf_ship'::regclass$$,
  $$VALUES ('exact_duplicate', '{}'::jsonb)$$,
  'rows whose bpchar differs only by trailing blanks (and numeric by its scale) are identical');

SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"kf2": {"login": "carol2"}}', rationale => 'two people')
  FROM tdm.review_queue WHERE rel = 'staging.kf_account'::regclass;
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"kf2": {"x": 5}}', rationale => 'two points')
  FROM tdm.review_queue WHERE rel = 'staging.kf_point'::regclass;
-- (Books and books share (parent_id, name) under two codes, B1 and B2: one
-- category or two is a reviewer's to say, decision 458.)
SELECT tdm.resolve(conflict_id, 'keep', 'kf1', rationale => 'one category, its first code')
  FROM tdm.review_queue WHERE rel = 'staging.kf_cat'::regclass;
SET SESSION AUTHORIZATION tap_kf_approver;
SELECT tdm.approve(conflict_id) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TKF1');
SELECT is((SELECT status FROM tdm.run WHERE release = 'TKF1'), 'completed', 'the run completes');
SELECT results_eq(
  $$SELECT o.id, a.name FROM staging.kf_order o JOIN staging.kf_account a ON a.login = o.login ORDER BY 1$$,
  $$VALUES (10, 'Carol One'), (11, 'Dan'), (20, 'Carol Two'), (21, 'Dan')$$,
  'each order references its own person; the two Dans are one');
SELECT results_eq($$SELECT (SELECT count(*) FROM staging.kf_account), (SELECT count(*) FROM staging.kf_gauge),
                           (SELECT count(*) FROM staging.kf_dose), (SELECT count(*) FROM staging.kf_span),
                           (SELECT count(*) FROM staging.kf_doc)$$,
  $$VALUES (3::bigint, 1::bigint, 1::bigint, 3::bigint, 1::bigint)$$, 'one row per key is loaded');
SELECT results_eq($$SELECT m.id, p.label FROM staging.kf_mark m JOIN staging.kf_point p USING (x) ORDER BY 1$$,
  $$VALUES (10, 'origin'), (20, 'zero')$$, 'a mark of -0 follows its point to its new key');
SELECT results_eq($$SELECT r.id, g.v FROM staging.kf_reading r JOIN staging.kf_gauge g USING (k) ORDER BY 1$$,
  $$VALUES (10, 1), (20, 1)$$, 'readings of either spelling reference the one gauge');

-- The later release's dan meets master's Dan (citext's equality, not
-- text's): merged into master's row, not a unique violation.
SELECT tdm.promote('TKF1');
SELECT tdm.tag_release('TKF2'), tdm.consolidate('TKF2');
SELECT results_eq($$SELECT r.status, (SELECT count(*) FROM master.kf_account WHERE login = 'dan') FROM tdm.run r
                    WHERE r.release = 'TKF2'$$,
  $$VALUES ('completed', 1::bigint)$$, 'a later release''s key spelled otherwise meets master''s row');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_kf_e1, tap_kf_e2, tap_kf_e3 CASCADE;
DROP DOMAIN public.tap_kf_amount, public.tap_kf_positive;
DROP EXTENSION IF EXISTS citext;
