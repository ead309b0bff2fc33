-- Renamed keys are compared as their columns' types spell them (decisions
-- 60-62): another spelling of a key is the same key. And a restored
-- decision (a superuser's insert of a complete row) adds no audit row,
-- while a checked one always does, whatever its statement returns.
BEGIN;
SELECT plan(39);

CREATE SCHEMA tap_keys;
CREATE TABLE tap_keys.t (id int PRIMARY KEY, d date, amt numeric, code char(5), email text,
                         tdm_release text, tdm_feature text);

SELECT ok(tdm._same_key('tap_keys.t', '{d}', '{"d": "2024-01-02"}', '{"d": "January 2 2024"}', false),
          'a date written two ways is one key');
SELECT ok(tdm._same_key('tap_keys.t', '{amt}', '{"amt": 7}', '{"amt": "7.00"}', false),
          'a numeric with and without its scale''s zeros is one key');
SELECT ok(tdm._same_key('tap_keys.t', '{code}', '{"code": "AA   "}', '{"code": "AA"}', false),
          'a char(n) with and without its padding is one key');
SELECT ok(tdm._same_key('tap_keys.t', '{id}', '{"id": 17}', '{"id": "17"}', false),
          'a number and its string are one key');
SELECT ok(tdm._same_key('tap_keys.t', '{email}', '{"email": "a@x"}', '{"email": " A@X "}', true),
          'normalized: case and surrounding spaces aside');
SELECT ok(NOT tdm._same_key('tap_keys.t', '{email}', '{"email": "a@x"}', '{"email": " A@X "}', false),
          'not normalized: case counts');
SELECT ok(NOT tdm._same_key('tap_keys.t', '{amt,d}', '{"amt": 7, "d": "2024-01-02"}',
                            '{"amt": 7.01, "d": "2024-01-02"}', false),
          'different values are different keys');

-- A conflict to decide on, in a run of its own.
SELECT tdm.manage_table('tap_keys.t', '{email}');
INSERT INTO tdm.release (release, code_version) VALUES ('TAP-KEYS', 'v0');
INSERT INTO tdm.run (run_id, release, target) VALUES (-31, 'TAP-KEYS', 'tap_keys');
INSERT INTO tdm.conflict (run_id, conflict_id, rel, kind, class, priority, status, rule, members)
VALUES (-31, 'C-tapkeys0001', 'tap_keys.t', 'attribute_conflict', 'complex', 3, 'pending', 'manual',
        '[{"env": "st1", "row": {"id": 1, "email": "a@x"}}, {"env": "st2", "row": {"id": 1, "email": "a@x"}}]'),
       (-31, 'C-tapkeys0002', 'tap_keys.t', 'attribute_conflict', 'complex', 3, 'pending', 'manual',
        '[{"env": "st1", "row": {"id": 2, "email": "b@x"}}, {"env": "st2", "row": {"id": 2, "email": "b@x"}}]');

-- A checked decision is audited even when its statement clears the
-- setting an earlier version read.
INSERT INTO tdm.decision (conflict_id, action, keep_env, rationale)
VALUES ('C-tapkeys0001', 'keep', 'st1', 'st1 is right')
RETURNING set_config('tdm_decision.role', '', true) IS NOT NULL AS cleared;
SELECT is((SELECT count(*)::int FROM tdm.audit WHERE object = 'C-tapkeys0001' AND action = 'decide'), 1,
          'a checked decision is audited, whatever its statement returns');
-- A restored one (complete, stamped before this transaction) is not: it
-- was audited when it was taken.
INSERT INTO tdm.decision (conflict_id, action, keep_env, rationale, decided_by, decided_at,
                          members_checksum)
VALUES ('C-tapkeys0002', 'keep', 'st1', 'restored', 'someone', now() - interval '1 day',
        md5('[]'));
SELECT is((SELECT count(*)::int FROM tdm.audit WHERE object = 'C-tapkeys0002'), 0,
          'a restored decision adds no audit row');
SELECT is((SELECT decided_by::text FROM tdm.decision WHERE conflict_id = 'C-tapkeys0002'), 'someone',
          'and stays as it was restored');

-- Values are stored whole or refused: a string longer than a domain's
-- varchar(3), or than an array's elements', is not cut; trailing spaces
-- past the length are cut, as storing cuts them.
CREATE DOMAIN tap_keys.code3 AS varchar(3);
CREATE DOMAIN tap_keys.code3_again AS tap_keys.code3;
CREATE TABLE tap_keys.v (id int PRIMARY KEY, dv tap_keys.code3, arr varchar(3)[], vc varchar(5),
                         dd tap_keys.code3_again);
SELECT throws_ok($$SELECT tdm._check_values('tap_keys.v', '{"vc": {"a": 1}}', 'merged', 'C-tap')$$,
                 '22P02', 'decision on C-tap: merged gives "vc" a JSON object, but its type is character varying(5)',
                 'a JSON object for a string column is refused, not stored as its JSON text');
SELECT lives_ok($$SELECT tdm._check_values('tap_keys.v', '{"arr": ["AB", "C"]}', 'merged', 'C-tap')$$,
                'a JSON array for an array column is read as its elements');
SELECT throws_ok($$SELECT tdm._check_values('tap_keys.v', '{"dv": "ABCD"}', 'merged', 'C-tap')$$,
                 '22P02', NULL, 'a value longer than its domain''s varchar(3) is refused');
SELECT throws_ok($$SELECT tdm._check_values('tap_keys.v', '{"dd": "ABCD"}', 'merged', 'C-tap')$$,
                 '22P02', NULL, 'so is one longer than a domain over that domain');
SELECT throws_ok($$SELECT tdm._check_values('tap_keys.v', '{"arr": "{ABCD,XY}"}', 'merged', 'C-tap')$$,
                 '22P02', NULL, 'an array element longer than varchar(3) is refused');
SELECT lives_ok($$SELECT tdm._check_values('tap_keys.v', '{"dv": "AB", "arr": "{ABC}", "vc": "ABCD   "}',
                                           'merged', 'C-tap')$$,
                'values that fit, trailing spaces past the length included, are accepted');
-- An array column takes a JSON array as the literal of its elements
-- (stored as that literal); elements too long are refused as in one.
SELECT is(tdm._check_values('tap_keys.v', '{"arr": ["AB", "C D", null]}', 'merged', 'C-tap'),
          '{"arr": "{AB,\"C D\",NULL}"}'::jsonb, 'a JSON array for an array column: its literal');
SELECT throws_ok($$SELECT tdm._check_values('tap_keys.v', '{"arr": ["ABCD"]}', 'merged', 'C-tap')$$,
                 '22P02', NULL, 'a JSON array''s element longer than varchar(3) is refused');
-- A value a type's input refuses as a syntax error (tsvector, tsquery)
-- is named as any other.
CREATE TABLE tap_keys.doc (id int PRIMARY KEY, fulltext tsvector);
SELECT throws_ok($$SELECT tdm._check_values('tap_keys.doc', '{"fulltext": "bad:::"}', 'merged', 'C-tap')$$,
                 '22P02', 'decision on C-tap: merged gives "fulltext" the value "bad:::", which is not a valid tsvector',
                 'a tsvector''s syntax error');
SELECT lives_ok($$SELECT tdm._check_values('tap_keys.doc', '{"fulltext": "''fat'':2 ''cat'':3"}', 'merged', 'C-tap')$$,
                'a valid tsvector is accepted');
-- A domain's CHECK and NOT NULL refuse a value as its type would, named
-- by the decision and the column.
CREATE DOMAIN tap_keys.amount AS numeric CHECK (VALUE >= 0);
CREATE DOMAIN tap_keys.required AS text NOT NULL;
CREATE TABLE tap_keys.m (id int PRIMARY KEY, amount tap_keys.amount, label tap_keys.required);
SELECT throws_ok($$SELECT tdm._check_values('tap_keys.m', '{"amount": -1}', 'renames', 'C-tap')$$,
                 '23514', 'decision on C-tap: renames gives "amount" the value -1, which is not a valid tap_keys.amount',
                 'a value its domain''s CHECK refuses is refused by the decision, naming the column');
SELECT throws_ok($$SELECT tdm._check_values('tap_keys.m', '{"label": null}', 'merged', 'C-tap')$$,
                 '23502', 'decision on C-tap: merged gives "label" the value null, which is not a valid tap_keys.required',
                 'a null its domain''s NOT NULL refuses too');
SELECT lives_ok($$SELECT tdm._check_values('tap_keys.m', '{"amount": 0, "label": "x"}', 'merged', 'C-tap')$$,
                'values the domains take are accepted');
-- A reviewer who may not use the domain's schema: told which grant lets them.
SELECT 'tap_keys.m'::regclass::oid AS m_oid \gset
CREATE ROLE tap_keys_reviewer IN ROLE tdm_reviewer;
SET LOCAL ROLE tap_keys_reviewer;
SELECT throws_ok(format($$SELECT tdm._check_values(%s::oid::regclass, '{"amount": 3}', 'merged', 'C-tap')$$, :m_oid),
                 '42501', 'decision on C-tap: merged gives "amount" a value of type tap_keys.amount, which tap_keys_reviewer may not use',
                 'a reviewer without USAGE on a domain''s schema is refused by the decision, naming the type');
RESET ROLE;
-- Values are read as the deciding session reads them and stored as
-- consolidation reads them (UTC, ISO): a time written in Tokyo, a JSON
-- number for a timestamp; a value that reads the same is kept as written.
CREATE TABLE tap_keys.w (id int PRIMARY KEY, at timestamptz, n numeric);
SET LOCAL TimeZone = 'Asia/Tokyo';
SET LOCAL DateStyle = 'SQL, DMY';
SELECT is(tdm._check_values('tap_keys.w', '{"at": "25/12/2024 09:00"}', 'merged', 'C-tap'),
          '{"at": "2024-12-25 00:00:00+00"}', 'a time in the reviewer''s zone and date style is stored in UTC, ISO');
SELECT is(tdm._check_values('tap_keys.w', '{"at": 20241225}', 'merged', 'C-tap'),
          '{"at": "2024-12-24 15:00:00+00"}', 'a JSON number for a timestamp too');
SELECT is(tdm._check_values('tap_keys.w', '{"n": 1.50}', 'merged', 'C-tap'),
          '{"n": 1.50}', 'a number that reads the same stays as written');
RESET TimeZone;
RESET DateStyle;
-- A rationale of white space alone, Unicode spaces included, is blank.
SELECT throws_ok($$SELECT tdm.resolve('C-tapkeys0001', 'keep', 'st1', rationale => E'\u00a0\u3000\t')$$,
                 '23502', NULL, 'a rationale of no-break and ideographic spaces is refused');
SELECT lives_ok($$SELECT tdm.resolve('C-tapkeys0001', 'keep', 'st1', rationale => E'\u00a0ok')$$,
                'a rationale with a word is accepted');
-- A second INSERT for a decided conflict says whose decision is there and
-- how to change it; tdm.resolve replaces it.
SELECT throws_like($$INSERT INTO tdm.decision (conflict_id, action, keep_env, rationale)
                     VALUES ('C-tapkeys0001', 'keep', 'st2', 'st2 rather')$$,
  'decision on C-tapkeys0001: it is decided already (keep st1 by % at % UTC)',
  'a second INSERT names the decision already there');
SELECT throws_ok($$INSERT INTO tdm.decision (conflict_id, action, keep_env, rationale)
                   VALUES ('C-tapkeys0001', 'keep', 'st2', 'st2 rather')$$,
  '23505', NULL, 'with the SQLSTATE of a duplicate key');
SELECT lives_ok($$SELECT tdm.resolve('C-tapkeys0001', 'keep', 'st2', rationale => 'st2 rather')$$,
                'tdm.resolve replaces it');
SELECT is((SELECT keep_env FROM tdm.decision WHERE conflict_id = 'C-tapkeys0001'), 'st2',
          'with the new choice');
-- The audit trail says what each was: who decided, which member was kept,
-- why, at which priority; a withdrawal names what it withdrew.
SELECT results_eq($$SELECT a.role::text, a.detail FROM tdm.audit a
                     WHERE a.object = 'C-tapkeys0001' AND a.action = 'decide' ORDER BY a.audit_id$$,
  $$VALUES (current_user::text, '{"action": "keep", "keep_env": "st1", "renames": null, "merged": null,
                                  "rationale": "st1 is right", "priority": 3}'::jsonb),
           (current_user::text, '{"action": "keep", "keep_env": "st1", "renames": null, "merged": null,
                                  "rationale": "\u00a0ok", "priority": 3}'),
           (current_user::text, '{"action": "keep", "keep_env": "st2", "renames": null, "merged": null,
                                  "rationale": "st2 rather", "priority": 3}')$$,
  'each decision''s audit row records its decider, action, member kept, rationale and priority');
DELETE FROM tdm.decision WHERE conflict_id = 'C-tapkeys0001';
SELECT is((SELECT a.detail FROM tdm.audit a WHERE a.object = 'C-tapkeys0001' AND a.action = 'withdraw_decision'),
          '{"action": "keep"}', 'a withdrawal is audited with the action it withdrew');

-- A table that computes a column takes no value for it from a decision
-- (the value would be dropped at the load, the decision marked applied).
CREATE TABLE tap_keys.priced (id int PRIMARY KEY, price numeric,
                              total numeric GENERATED ALWAYS AS (price * 2) STORED,
                              tdm_release text, tdm_feature text);
SELECT throws_ok($$SELECT tdm._check_values('tap_keys.priced', '{"total": 99}', 'merged', 'C-tapkeys0001')$$,
  '428C9', 'decision on C-tapkeys0001: merged gives "total" a value, but tap_keys.priced computes that column',
  'a merged value for a generated column is refused');
SELECT lives_ok($$SELECT tdm._check_values('tap_keys.priced', '{"price": 3}', 'merged', 'C-tapkeys0001')$$,
  'its other columns take values');

-- When tdm cannot give a new key (the key has two columns), the column
-- a reviewer renumbers is the one the table generates: a partitioned
-- table's key holds its partition key, a date a renumbering would move.
CREATE TABLE tap_keys.payments (payment_id int GENERATED BY DEFAULT AS IDENTITY,
                                paid_on date, tdm_release text, tdm_feature text,
                                PRIMARY KEY (payment_id, paid_on)) PARTITION BY RANGE (paid_on);
CREATE TABLE tap_keys.lines (order_id int, line_no int, tdm_release text, tdm_feature text,
                             PRIMARY KEY (order_id, line_no));
SET client_min_messages = warning;
SELECT tdm.manage_table('tap_keys.payments'), tdm.manage_table('tap_keys.lines');
RESET client_min_messages;
SELECT is(tdm._renamed_key_column('tap_keys.payments'), 'payment_id',
  'the generated key column is the one to renumber');
SELECT is(tdm._renamed_key_column('tap_keys.lines'), 'line_no',
  'without one, the key''s last column');

SELECT * FROM finish();
ROLLBACK;
