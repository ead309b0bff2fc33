-- A row in two conflicts (its key collision and its entity's) that two
-- decisions merge into two rows is refused at consolidate, naming both
-- decisions, and nothing is loaded: st2's category 1 'catB' shares its id
-- with st3's 'catA' and its slug with st1's 'catB'. A reviewer keeps st3
-- on the collision (st2's row is catA) and merges catB (st2's row is
-- catB). Decided again so that they agree (keep_all on the collision),
-- the run completes. (Two notes without a code, sharing an id, keep the
-- run waiting for a reviewer meanwhile.)
BEGIN;
SELECT plan(4);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  DROP SCHEMA IF EXISTS tap_tf_e1 CASCADE;
  DROP SCHEMA IF EXISTS tap_tf_e2 CASCADE;
  DROP SCHEMA IF EXISTS tap_tf_e3 CASCADE;
  CREATE SCHEMA tap_tf_e1;
  CREATE SCHEMA tap_tf_e2;
  CREATE SCHEMA tap_tf_e3;
  CREATE TABLE tap_tf_e1.tf_category (id int PRIMARY KEY, slug text NOT NULL UNIQUE, label text,
                                      tdm_release text, tdm_feature text);
  CREATE TABLE tap_tf_e2.tf_category (LIKE tap_tf_e1.tf_category INCLUDING ALL);
  CREATE TABLE tap_tf_e3.tf_category (LIKE tap_tf_e1.tf_category INCLUDING ALL);
  INSERT INTO tap_tf_e1.tf_category VALUES (2, 'catB', 'b1', 'TTF1', 'F'), (3, 'catA', 'a', 'TTF1', 'F');
  INSERT INTO tap_tf_e2.tf_category VALUES (1, 'catB', 'b2', 'TTF1', 'F');
  INSERT INTO tap_tf_e3.tf_category VALUES (1, 'catA', 'a', 'TTF1', 'F');
  CREATE TABLE tap_tf_e1.tf_note (id int PRIMARY KEY, code text UNIQUE, body text, tdm_release text, tdm_feature text);
  CREATE TABLE tap_tf_e2.tf_note (LIKE tap_tf_e1.tf_note INCLUDING ALL);
  CREATE TABLE tap_tf_e3.tf_note (LIKE tap_tf_e1.tf_note INCLUDING ALL);
  INSERT INTO tap_tf_e1.tf_note VALUES (1, NULL, 'x', 'TTF1', 'F');
  INSERT INTO tap_tf_e2.tf_note VALUES (1, NULL, 'y', 'TTF1', 'F')$$)
  \g /dev/null
SELECT pg_temp.loopback_server('tap_tf_self');
CREATE TABLE staging.tf_category (id int PRIMARY KEY, slug text NOT NULL UNIQUE, label text,
                                  tdm_release text, tdm_feature text);
SELECT tdm.add_environment('tf1', 'tap_tf_self', 10, 'tap_tf_e1'), tdm.add_environment('tf2', 'tap_tf_self', 20, 'tap_tf_e2'),
       tdm.add_environment('tf3', 'tap_tf_self', 30, 'tap_tf_e3');
CREATE TABLE staging.tf_note (id int PRIMARY KEY, code text UNIQUE, body text, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.tf_category', '{slug}'), tdm.manage_table('staging.tf_note', '{code}');
SELECT tdm.create_release('TTF1'), tdm.add_feature('TTF1', 'F', 1);
SELECT tdm.tag_release('TTF1');
SELECT tdm.consolidate('TTF1') AS run \gset
SELECT conflict_id AS collision FROM tdm.conflict WHERE run_id = :run AND kind = 'duplicate_pk' \gset
SELECT conflict_id AS catb FROM tdm.conflict c WHERE run_id = :run AND kind <> 'duplicate_pk'
   AND EXISTS (SELECT FROM jsonb_array_elements(c.members) e WHERE e -> 'row' ->> 'slug' = 'catB') \gset
SELECT tdm.resolve(:'collision', 'keep', 'tf3', rationale => 'st2''s row is catA');
SELECT tdm.resolve(:'catb', 'merge', merged => '{"label": "b"}', rationale => 'one catB');

SELECT throws_ok($$SELECT tdm.consolidate('TTF1')$$, '55000',
  format('consolidate: staging.tf_category: the decisions on %s and %s merge tf2''s row (1) into two rows: %s by the first, %s by the second',
         least(:'collision', :'catb'), greatest(:'collision', :'catb'),
         CASE WHEN :'collision' < :'catb' THEN 'merged into tf3''s row (1)' ELSE 'merged into tf1''s row (2)' END,
         CASE WHEN :'collision' < :'catb' THEN 'merged into tf1''s row (2)' ELSE 'merged into tf3''s row (1)' END),
  'two decisions sending one row to two rows are refused, naming both');
SELECT is((SELECT count(*)::int FROM staging.tf_category), 0, 'nothing was loaded');
SELECT tdm.resolve(:'collision', 'keep_all', rationale => 'two categories');
SELECT tdm.resolve(conflict_id, 'keep_all', rationale => 'two notes') FROM tdm.review_queue WHERE rel = 'staging.tf_note'::regclass;
SELECT lives_ok($$SELECT tdm.consolidate('TTF1')$$, 'decided again so that they agree, the run goes on');
SELECT results_eq('SELECT slug, label FROM staging.tf_category ORDER BY slug',
  $$VALUES ('catA', 'a'), ('catB', 'b')$$, 'one catA, one catB');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_tf_e1 CASCADE;
DROP SCHEMA tap_tf_e2 CASCADE;
DROP SCHEMA tap_tf_e3 CASCADE;
