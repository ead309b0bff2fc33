-- The text report spells out the first ten decisions and says where the
-- others are; json lists them all.
BEGIN;
SELECT plan(4);

INSERT INTO tdm.release (release, code_version) VALUES ('TAP-REPORT', 'v0');
INSERT INTO tdm.run (run_id, release, target, status, decisions, finished_at)
SELECT -31, 'TAP-REPORT', 'staging', 'completed',
       jsonb_agg(jsonb_build_object('conflict_id', 'C-tap' || i, 'action', 'keep', 'keep_env', 'st1',
                                    'decided_by', 'alice', 'rationale', 'reason ' || i) ORDER BY i),
       now()
  FROM generate_series(1, 12) AS i;

SELECT is((SELECT count(*)::int FROM regexp_split_to_table(tdm.report(-31), E'\n') AS line
            WHERE line ~ '^  C-tap[0-9]+ keep st1 by alice: reason [0-9]+$'),
          10, 'the text report spells out ten decisions');
SELECT matches(tdm.report(-31), E'\n  C-tap10 keep st1 by alice: reason 10\n',
               'in their order, the tenth last');
SELECT matches(tdm.report(-31),
               E'\n  \\.\\.\\. and 2 more: SELECT tdm\\.report\\(-31, ''json''\\); lists them all$',
               'the others counted, with the call that lists them');
SELECT is(jsonb_array_length(tdm.report(-31, 'json')::jsonb -> 'decisions'), 12,
          'json lists every decision');

SELECT * FROM finish();
ROLLBACK;
