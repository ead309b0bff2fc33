-- Values of types with unusual spellings in review: a float's -0 against
-- 0 shows as "-0" in `differing` and side by side (a JSON number spells
-- both 0, and the sign may be all that differs); a merged value a type's
-- input would cut ("char" keeps one byte) or refuses with an internal
-- error (hstore) is refused naming the conflict, the column and the type;
-- a JSON string for a jsonb column that is no JSON text, with a HINT
-- saying how to write it.
BEGIN;
SELECT plan(7);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE EXTENSION IF NOT EXISTS hstore;
  CREATE SCHEMA tap_mv_e1;
  CREATE SCHEMA tap_mv_e2;
  CREATE TABLE tap_mv_e1.mv_gauge (id int PRIMARY KEY, reading float8, flag "char", tags hstore,
                                   attrs jsonb, tdm_release text, tdm_feature text);
  CREATE TABLE tap_mv_e2.mv_gauge (LIKE tap_mv_e1.mv_gauge);
  INSERT INTO tap_mv_e1.mv_gauge VALUES (1, '-0', 'a', 'a=>1', '"red"', 'TMV', 'F');
  INSERT INTO tap_mv_e2.mv_gauge VALUES (1, '0', 'a', 'a=>1', '"red"', 'TMV', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_mv_self');
CREATE TABLE staging.mv_gauge (LIKE tap_mv_e1.mv_gauge);
ALTER TABLE staging.mv_gauge ADD PRIMARY KEY (id);
SELECT tdm.add_environment('mv1', 'tap_mv_self', 10, 'tap_mv_e1');
SELECT tdm.add_environment('mv2', 'tap_mv_self', 10, 'tap_mv_e2');
SELECT tdm.manage_table('staging.mv_gauge', core_columns => '{reading}');
SELECT tdm.create_release('TMV'), tdm.add_feature('TMV', 'F', 1);
SELECT tdm.tag_release('TMV') IS NOT NULL;
SELECT tdm.consolidate('TMV') AS run \gset
SELECT conflict_id AS gauge FROM tdm.conflict WHERE run_id = :run AND rel = 'staging.mv_gauge'::regclass \gset

SELECT is((SELECT differing FROM tdm.conflict WHERE conflict_id = :'gauge' AND run_id = :run),
          '{"reading": {"mv1": "-0", "mv2": 0}}'::jsonb,
          'a float''s -0 against 0 is shown as "-0", not as two equal zeros');
SELECT ok((SELECT side_by_side ~ 'reading +-0 +0' FROM tdm.review_queue WHERE conflict_id = :'gauge'),
          'side by side, the reading shows -0 against 0');
SELECT throws_ok(format($$SELECT tdm.resolve(%L, 'merge', merged => '{"flag": "abc"}', rationale => 'x')$$, :'gauge'),
                 '22P02',
                 format('decision on %s: merged gives "flag" the value "abc", which is not a valid "char"', :'gauge'),
                 'a merged value "char" would cut to its first byte is refused');
SELECT throws_ok(format($$SELECT tdm.resolve(%L, 'merge', merged => '{"tags": "a=>"}', rationale => 'x')$$, :'gauge'),
                 '22P02',
                 format('decision on %s: merged gives "tags" the value "a=>", which is not a valid public.hstore', :'gauge'),
                 'a merged hstore its input refuses (an internal error) is refused with the conflict and column');
SELECT is((SELECT concat_ws(' | ', e.message, e.detail, e.hint)
             FROM pg_temp.error_of(format($$SELECT tdm.resolve(%L, 'merge', merged => '{"attrs": "green"}',
                                                              rationale => 'x')$$, :'gauge')) e),
          format('decision on %s: merged gives "attrs" the value "green", which is not a valid jsonb', :'gauge')
          || ' | invalid input syntax for type json | A string is read as the jsonb text itself, as the review'
          || ' queue shows the members'' values: write the JSON string "green" as "\"green\"", or give a JSON'
          || ' object, array or number as it is.',
          'a JSON string for a jsonb column that is no JSON is refused, its HINT saying how to write it');
SELECT lives_ok(format($$SELECT tdm.resolve(%L, 'merge', merged => '{"attrs": "\"green\""}', rationale => 'x')$$,
                       :'gauge'),
                'written as the HINT says, it is taken');
SELECT lives_ok(format($$SELECT tdm.resolve(%L, 'merge', merged => '{"flag": "b", "tags": "b=>2"}',
                                            rationale => 'both')$$, :'gauge'),
                'valid values of both types are taken');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_mv_e1 CASCADE;
DROP SCHEMA tap_mv_e2 CASCADE;
DROP EXTENSION hstore;
