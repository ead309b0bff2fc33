-- A keep_all whose members share a natural key names every member that
-- needs new values, not the first: three environments' widget, kept all
-- without renames, is refused naming kh2 and kh3 at once; renamed in kh2
-- alone, naming kh3 (kh2's rename kept in the example); renamed in both
-- to one value, naming the two renames that meet; a member given its own
-- name is not renamed; renamed in both apart, taken.
BEGIN;
SELECT plan(7);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_kh_e1;
  CREATE SCHEMA tap_kh_e2;
  CREATE SCHEMA tap_kh_e3;
  CREATE TABLE tap_kh_e1.kh_item (id int PRIMARY KEY, name text UNIQUE, price int, tdm_release text, tdm_feature text);
  CREATE TABLE tap_kh_e2.kh_item (LIKE tap_kh_e1.kh_item INCLUDING ALL);
  CREATE TABLE tap_kh_e3.kh_item (LIKE tap_kh_e1.kh_item INCLUDING ALL);
  INSERT INTO tap_kh_e1.kh_item VALUES (1, 'widget', 10, 'TKH', 'F1');
  INSERT INTO tap_kh_e2.kh_item VALUES (2, 'widget', 20, 'TKH', 'F1');
  INSERT INTO tap_kh_e3.kh_item VALUES (3, 'widget', 30, 'TKH', 'F1')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_kh_self');
CREATE TABLE staging.kh_item (id int PRIMARY KEY, name text UNIQUE, price int, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('kh1', 'tap_kh_self', 10, 'tap_kh_e1'), tdm.add_environment('kh2', 'tap_kh_self', 20, 'tap_kh_e2'),
       tdm.add_environment('kh3', 'tap_kh_self', 30, 'tap_kh_e3');
SELECT tdm.manage_table('staging.kh_item', '{name}', core_columns => '{price}');
CREATE ROLE tap_kh_approver IN ROLE tdm_reviewer;
SELECT tdm.create_release('TKH'), tdm.add_feature('TKH', 'F1', 1);
SELECT tdm.tag_release('TKH'), tdm.consolidate('TKH');
SELECT conflict_id AS widget FROM tdm.review_queue WHERE release = 'TKH' \gset

CREATE FUNCTION pg_temp.hint_of(decide text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  hint text;
BEGIN
  EXECUTE decide;
  RETURN NULL;
EXCEPTION WHEN unique_violation THEN
  GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
  RETURN hint;
END
$$;
SELECT is(pg_temp.hint_of(format($$SELECT tdm.resolve(%L, 'keep_all', rationale => 'three widgets')$$, :'widget')),
  $$Give kh2 and kh3 new values in renames, e.g. renames => '{"kh2": {"name": "..."}, "kh3": {"name": "..."}}'.$$,
  'keep_all without renames names both members that need new values');
SELECT is(pg_temp.hint_of(format($$SELECT tdm.resolve(%L, 'keep_all', renames => '{"kh2": {"name": "widget 2"}}',
                                                      rationale => 'three widgets')$$, :'widget')),
  $$Give kh3 new values in renames, e.g. renames => '{"kh2": {"name": "widget 2"}, "kh3": {"name": "..."}}'.$$,
  'renamed in kh2 alone, it names kh3, and its example keeps kh2''s rename');
CREATE FUNCTION pg_temp.detail_of(decide text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  detail text;
BEGIN
  EXECUTE decide;
  RETURN NULL;
EXCEPTION WHEN unique_violation THEN
  GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
  RETURN detail;
END
$$;
SELECT is(pg_temp.detail_of(format($$SELECT tdm.resolve(%L, 'keep_all', renames => '{"kh2": {"name": "widget 9"},
                                                                                     "kh3": {"name": "widget 9"}}',
                                                        rationale => 'three widgets')$$, :'widget')),
  'kh2 (renamed) and kh3 (renamed) would both have name {"name": "widget 9"}.',
  'renamed both to one value: the DETAIL says the two renames meet, not that kh3 lacks one');
-- A rename that gives a member the name it has is no rename of its key:
-- kh1 "renamed" to widget (a price too) keeps it, and kh2 and kh3 are the
-- ones to rename, kh1's renames kept in the example (p314). Renamed onto
-- the same new name, the second is named (the DETAIL above).
SELECT is(pg_temp.hint_of(format($$SELECT tdm.resolve(%L, 'keep_all', renames => '{"kh1": {"name": "widget", "price": 11}}',
                                                      rationale => 'three widgets')$$, :'widget')),
  $$Give kh2 and kh3 new values in renames, e.g. renames => '{"kh1": {"name": "widget", "price": 11}, "kh2": {"name": "..."}, "kh3": {"name": "..."}}'.$$,
  'kh1 given its own name: kh2 and kh3 are named, kh1''s renames kept');
SELECT is(pg_temp.detail_of(format($$SELECT tdm.resolve(%L, 'keep_all', renames => '{"kh1": {"name": "widget 1"}}',
                                                        rationale => 'three widgets')$$, :'widget')),
  'kh2 and kh3 would both have name {"name": "widget"}.',
  'kh1 renamed apart: the two left as collected are said to meet each other');
SELECT lives_ok(format($$SELECT tdm.resolve(%L, 'keep_all', renames => '{"kh2": {"name": "widget 2"}, "kh3": {"name": "widget 3"}}',
                                            rationale => 'three widgets')$$, :'widget'),
  'renamed in both, the decision is taken');
SET SESSION AUTHORIZATION tap_kh_approver;
SELECT tdm.approve(:'widget');
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TKH');
SELECT results_eq($$SELECT id, name FROM staging.kh_item ORDER BY id$$,
  $$VALUES (1, 'widget'), (2, 'widget 2'), (3, 'widget 3')$$, 'all three are loaded under their names');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_kh_e1, tap_kh_e2, tap_kh_e3 CASCADE;
