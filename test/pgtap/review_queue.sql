-- The review queue's side_by_side fits an 80-column terminal under \x:
-- a value or a column name cut short ends with ~, and values that begin
-- alike are shown from where they part, so two values cut alike are not
-- taken for equal.
BEGIN;
SELECT plan(10);

CREATE SCHEMA tap_queue;
CREATE TABLE tap_queue.people (person_id int PRIMARY KEY, full_name text, a_rather_long_column text,
                               tdm_release text, tdm_feature text);
SELECT tdm.manage_table('tap_queue.people');
INSERT INTO tdm.release (release, code_version) VALUES ('TAP-QUEUE', 'v0');
INSERT INTO tdm.run (run_id, release, target) VALUES (-21, 'TAP-QUEUE', 'tap_queue');

CREATE FUNCTION pg_temp.member(env text, name text, other text) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('env', env, 'feature', 'F', 'ts', NULL,
                            'row', jsonb_build_object('person_id', 1, 'full_name', name,
                                                      'a_rather_long_column', other,
                                                      'tdm_release', 'TAP-QUEUE', 'tdm_feature', 'F'))
$$;
INSERT INTO tdm.conflict (run_id, conflict_id, rel, kind, class, priority, status, rule, members, differing)
VALUES (-21, 'C-tapqueue', 'tap_queue.people', 'attribute_conflict', 'complex', 3, 'pending', 'manual',
        jsonb_build_array(pg_temp.member('st1', 'Bartholomew Johnson', 'a'),
                          pg_temp.member('st2', 'Bartholomew Johnston', 'b'),
                          pg_temp.member('st3', 'Bart', 'c')),
        '{"full_name": {"st1": "Bartholomew Johnson", "st2": "Bartholomew Johnston", "st3": "Bart"},
          "a_rather_long_column": {"st1": "a", "st2": "b", "st3": "c"}}');

SELECT ok((SELECT max(length(l)) FROM regexp_split_to_table(
             (SELECT tdm._side_by_side(c) FROM tdm.conflict c WHERE c.conflict_id = 'C-tapqueue'), E'\n') AS l)
          <= 80 - length('side_by_side | '),
          'every line fits 80 columns beside the column name \x prints');
SELECT matches((SELECT tdm._side_by_side(c) FROM tdm.conflict c WHERE c.conflict_id = 'C-tapqueue'),
               'full_name +~holomew Johnson +~olomew Johnston +Bart',
               'values that begin alike for longer than their cell are shown from where they part, after ~; a short one stays whole');
SELECT matches((SELECT tdm._side_by_side(c) FROM tdm.conflict c WHERE c.conflict_id = 'C-tapqueue'),
               '(^|\n)a_rather_lon~ ', 'a column name cut short ends with ~');
SELECT is((SELECT differing -> 'full_name' ->> 'st2' FROM tdm.review_queue WHERE conflict_id = 'C-tapqueue'),
          'Bartholomew Johnston', 'differing keeps the whole value');

-- Nine members: more than six cells of 8 characters fit, so the grid is
-- split in blocks (5 and 4), one under the other, each fitting.
INSERT INTO tdm.conflict (run_id, conflict_id, rel, kind, class, priority, status, rule, members, differing)
SELECT -21, 'C-tapnine', 'tap_queue.people', 'attribute_conflict', 'complex', 3, 'pending', 'manual',
       jsonb_agg(pg_temp.member('e' || i, 'Name ' || i, 'v' || i) ORDER BY i),
       jsonb_build_object('full_name', jsonb_object_agg('e' || i, 'Name ' || i))
  FROM generate_series(1, 9) AS i;
SELECT results_eq($$SELECT count(*)::int, max(length(l)) <= 65, count(*) FILTER (WHERE l = '')::int,
                           count(*) FILTER (WHERE l ~ '^full_name +Name \d')::int
                      FROM regexp_split_to_table((SELECT side_by_side FROM tdm.review_queue
                                                   WHERE conflict_id = 'C-tapnine'), E'\n') AS l$$,
                  $$VALUES (7, true, 1, 2)$$,
                  'nine members: two blocks of the grid under each other, every line within 80 columns under \x');
SELECT ok((SELECT bool_and(side_by_side ~ ('Name ' || i || '( |\n|$)')) FROM tdm.review_queue, generate_series(1, 9) i
            WHERE conflict_id = 'C-tapnine'), 'every member''s value shown whole');

-- Long values: cut at their end when they part early, shown from where
-- they part when they begin alike (two texts of 5000 characters).
INSERT INTO tdm.conflict (run_id, conflict_id, rel, kind, class, priority, status, rule, members, differing)
VALUES (-21, 'C-taplong', 'tap_queue.people', 'attribute_conflict', 'complex', 3, 'pending', 'manual',
        jsonb_build_array(pg_temp.member('st1', repeat('x', 4999) || 'A', 'Alpha Centauri Proxima b orbit'),
                          pg_temp.member('st2', repeat('x', 4999) || 'B', 'Betelgeuse supergiant in Orion')),
        jsonb_build_object('full_name', jsonb_build_object('st1', repeat('x', 4999) || 'A', 'st2', repeat('x', 4999) || 'B'),
                           'a_rather_long_column', jsonb_build_object('st1', 'Alpha Centauri Proxima b orbit',
                                                                      'st2', 'Betelgeuse supergiant in Orion')));
SELECT matches((SELECT side_by_side FROM tdm.review_queue WHERE conflict_id = 'C-taplong'),
               E'\na_rather_lon~ Alpha Centauri Proxima ~ +Betelgeuse supergiant i~\nfull_name +~x{22}A +~x{22}B$',
               'a long value is cut at its end, or shown from where it parts from the others');

-- A relationship conflict (one member) shows its row's keys: two of one
-- environment are told apart.
INSERT INTO tdm.conflict (run_id, conflict_id, rel, kind, class, priority, status, rule, members, differing)
VALUES (-21, 'C-taprel', 'tap_queue.people', 'relationship', 'complex', 1, 'pending', 'manual',
        jsonb_build_array(jsonb_build_object('env', 'st1', 'feature', 'F', 'ts', NULL,
                                             'row', '{"person_id": 7, "full_name": "Orphan"}'::jsonb)), '{}');
SELECT matches((SELECT side_by_side FROM tdm.review_queue WHERE conflict_id = 'C-taprel'),
               E'^ +st1\nperson_id +7$', 'a relationship conflict shows its row''s primary key');

-- A line break or tab in a value is shown as \n or \t: the grid keeps
-- one line per column. A differing primary key comes first, in its key's
-- place, as one that does not differ would.
INSERT INTO tdm.conflict (run_id, conflict_id, rel, kind, class, priority, status, rule, members, differing)
VALUES (-21, 'C-tapbreak', 'tap_queue.people', 'duplicate_pk', 'complex', 2, 'pending', 'manual',
        jsonb_build_array(pg_temp.member('st1', E'Line one\nline\ttwo', 'a'),
                          pg_temp.member('st2', 'One line', 'a') || '{"row": {"person_id": 2}}'),
        jsonb_build_object('full_name', jsonb_build_object('st1', E'Line one\nline\ttwo', 'st2', 'One line'),
                           'person_id', jsonb_build_object('st1', '1', 'st2', '2')));
SELECT is((SELECT side_by_side FROM tdm.review_queue WHERE conflict_id = 'C-tapbreak'),
          E'              st1                      st2\n'
          || E'person_id     1                        2\n'
          || 'full_name     Line one\nline\ttwo      One line',
          'a line break and a tab shown escaped; the differing primary key first');
SELECT is((SELECT count(*)::int FROM regexp_split_to_table(
             (SELECT side_by_side FROM tdm.review_queue WHERE conflict_id = 'C-tapbreak'), E'\n')),
          3, 'one line per column');

SELECT * FROM finish();
ROLLBACK;
