-- A reviewer whose session reads string literals the old way
-- (standard_conforming_strings off from the start, before tdm's checks
-- first run in the session): a rationale of spaces is still blank, and
-- one of the letter s is not.
BEGIN;
SET LOCAL standard_conforming_strings = off;
SELECT plan(2);

CREATE SCHEMA tap_scs;
CREATE TABLE tap_scs.t (id int PRIMARY KEY, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('tap_scs.t');
INSERT INTO tdm.release (release, code_version) VALUES ('TAP-SCS', 'v0');
INSERT INTO tdm.run (run_id, release, target) VALUES (-41, 'TAP-SCS', 'tap_scs');
INSERT INTO tdm.conflict (run_id, conflict_id, rel, kind, class, priority, status, rule, members)
VALUES (-41, 'C-tapscs0001', 'tap_scs.t', 'attribute_conflict', 'complex', 3, 'pending', 'manual',
        '[{"env": "st1", "row": {"id": 1}}, {"env": "st2", "row": {"id": 1}}]');

SELECT throws_ok($$SELECT tdm.resolve('C-tapscs0001', 'keep', 'st1', rationale => '   ')$$,
                 '23502', NULL, 'a rationale of spaces is blank, standard_conforming_strings off');
SELECT lives_ok($$SELECT tdm.resolve('C-tapscs0001', 'keep', 'st1', rationale => 'sss')$$,
                'a rationale of the letter s is not');

SELECT * FROM finish();
ROLLBACK;
