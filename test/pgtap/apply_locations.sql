-- The apply step finds conflict members' collected rows by their location
-- (decision 58): a row patched by a decision moves, and the plan follows
-- it. A row whose key a reviewer renamed in one conflict keeps that key
-- even when another conflict (a key collision) would re-key it.
BEGIN;
SELECT plan(10);

CREATE SCHEMA tap_apply;
CREATE TABLE tap_apply.users (user_id int PRIMARY KEY, email text NOT NULL UNIQUE,
                              tdm_release text, tdm_feature text);
SELECT tdm.manage_table('tap_apply.users', '{email}');
INSERT INTO tdm.release (release, code_version) VALUES ('TAP-APPLY', 'v0');
INSERT INTO tdm.run (run_id, release, target) VALUES (-11, 'TAP-APPLY', 'tap_apply');

-- What tdm.consolidate leaves for the apply step: the collected rows, the
-- working tables, the conflicts and where their members are.
SELECT format('CREATE TEMP TABLE %I (tdm_row_hash bigint, user_id int, email text,'
              ' tdm_release text, tdm_feature text, tdm_env text) ON COMMIT DROP',
              tdm._collected_name('tap_apply.users')) \gexec
SELECT format('pg_temp.%I', tdm._collected_name('tap_apply.users')) AS collected \gset
INSERT INTO :collected VALUES (0, 5, 'a@x', 'TAP-APPLY', 'F', 'st1'),
                              (0, 5, 'b@x', 'TAP-APPLY', 'F', 'st2'),
                              (0, 7, 'b@x', 'TAP-APPLY', 'F', 'st3');
CREATE TEMP TABLE tdm_keymap (rel regclass, env text, old_key text[], old_json jsonb,
                              new_key text[], new_json jsonb, reason text, conflict_id text,
                              row_hash bigint, to_env text)
  ON COMMIT DROP;
CREATE TEMP TABLE tdm_deleted (rel regclass, env text, key text[], conflict_id text,
                               earlier bool NOT NULL DEFAULT false, old_row jsonb, row_hash bigint,
                               merged_into text, copy bool NOT NULL DEFAULT false)
  ON COMMIT DROP;
CREATE TEMP TABLE tdm_previous_keys (rel regclass, env text, old_key jsonb, new_key jsonb)
  ON COMMIT DROP;

CREATE FUNCTION pg_temp.member(env text, id int, email text) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('env', env, 'feature', 'F', 'ts', NULL,
                            'row', jsonb_build_object('user_id', id, 'email', email,
                                                      'tdm_release', 'TAP-APPLY', 'tdm_feature', 'F'))
$$;
-- K: st1 and st2 hold user_id 5 as different entities: st2 is re-keyed.
-- E: st2 and st3 share an email: a reviewer keeps both, st2 renamed.
INSERT INTO tdm.conflict (run_id, conflict_id, rel, kind, class, priority, status, rule, members,
                          survivor, rekeyed)
VALUES (-11, 'C-tapapplyk', 'tap_apply.users', 'duplicate_pk', 'simple', 3, 'auto_resolved',
        'distinct_entities',
        jsonb_build_array(pg_temp.member('st1', 5, 'a@x'), pg_temp.member('st2', 5, 'b@x')), 0, '{1}'),
       (-11, 'C-tapapplye', 'tap_apply.users', 'duplicate_natural_key', 'complex', 2, 'pending',
        'manual',
        jsonb_build_array(pg_temp.member('st2', 5, 'b@x'), pg_temp.member('st3', 7, 'b@x')), 0, '{}');
CREATE TEMP TABLE tdm_member_rows ON COMMIT DROP AS
SELECT 'C-tapapplyk' AS conflict_id,
       ARRAY[(SELECT ctid FROM :collected WHERE tdm_env = 'st1'),
             (SELECT ctid FROM :collected WHERE tdm_env = 'st2')] AS locations
UNION ALL
SELECT 'C-tapapplye',
       ARRAY[(SELECT ctid FROM :collected WHERE tdm_env = 'st2'),
             (SELECT ctid FROM :collected WHERE tdm_env = 'st3')];
CREATE INDEX ON tdm_member_rows (conflict_id);
SELECT lives_ok($$SELECT tdm.resolve('C-tapapplye', 'keep_all',
                                     renames => '{"st2": {"user_id": 100, "email": "c@x"}}',
                                     rationale => 'st2 is another user')$$,
                'the reviewer renames st2''s row, key included');

SELECT is((SELECT (merged, renamed, deleted)::text
             FROM tdm._apply_table(-11, 'tap_apply.users', 'tap_apply.users')),
          '(0,1,0)', 'one row renamed, none re-keyed on top');
SELECT results_eq(format('SELECT tdm_env, user_id, email FROM %s ORDER BY tdm_env', :'collected'),
                  $$VALUES ('st1', 5, 'a@x'), ('st2', 100, 'c@x'), ('st3', 7, 'b@x')$$,
                  'st2''s row has the key and email the reviewer gave');
SELECT results_eq($$SELECT env, old_key, new_key, reason FROM pg_temp.tdm_keymap$$,
                  $$VALUES ('st2', '{5}'::text[], '{100}'::text[], 'renamed')$$,
                  'the key map has the rename only');
SELECT is((SELECT count(*) FROM pg_temp.tdm_plan WHERE row_ctid IS NULL), 0::bigint,
          'every plan row has its location');
SELECT is((SELECT count(*) FROM pg_temp.tdm_plan p
             JOIN pg_temp.tdm_moved mv ON mv.new_ctid = p.row_ctid), 1::bigint,
          'the plan follows the patched row to its new location');

-- Members detection did not locate (no row in pg_temp.tdm_member_rows)
-- are refused, not skipped.
TRUNCATE pg_temp.tdm_member_rows;
SELECT throws_ok($$SELECT tdm._apply_table(-11, 'tap_apply.users', 'tap_apply.users')$$,
                 'XX000', 'consolidate: tap_apply.users: conflict members without a collected row',
                 'a plan member without a location is refused');
-- Detection writes locations only into a plain table of the expected shape
-- (this one has an index by now).
SELECT throws_ok($$SELECT count(*) FROM tdm._detect_plan('TAP-APPLY', 'tap_apply.users')$$,
                 '42809', 'pg_temp.tdm_member_rows must be a plain temporary table (conflict_id text, locations tid[])',
                 'locations are not written into a table with an index');

-- New keys start past those an earlier call of the run gave (this table
-- has no sequence: each call counts from a temporary one anew).
INSERT INTO pg_temp.tdm_previous_keys VALUES ('tap_apply.users', 'st2', '{"user_id": 5}',
                                              '{"user_id": 150}');
SELECT is(tdm._new_key_expr('tap_apply.users', 'tap_apply.users', :'collected'),
          'nextval(''pg_temp.tdm_new_keys'')', 'a table without a sequence counts from a temporary one');
SELECT is(nextval('pg_temp.tdm_new_keys'), 151::bigint,
          'past the keys an earlier call gave (they are given again), not only past the rows');

SELECT * FROM finish();
ROLLBACK;
