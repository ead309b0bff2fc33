-- The extension's shape: control settings, the contract's tables and
-- columns, pg_dump of the catalog, the tdm.work_mem setting.
BEGIN;
SELECT plan(93);

SELECT is((SELECT extrelocatable FROM pg_extension WHERE extname = 'tdm'), false,
  'tdm is not relocatable');
SELECT is((SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'tdm'),
  'tdm', 'tdm lives in schema tdm');
SELECT has_extension('postgres_fdw', 'postgres_fdw came with CASCADE');

SELECT columns_are('tdm', 'environment',
  ARRAY['name', 'server', 'precedence', 'remote_schema', 'added_at', 'added_by'],
  'tdm.environment columns');
SELECT col_is_pk('tdm', 'environment', 'name', 'environment is keyed by name');
SELECT columns_are('tdm', 'managed_table',
  ARRAY['rel', 'pk_columns', 'natural_keys', 'updated_at_column', 'core_columns',
        'release_column', 'feature_column', 'surrogate_key', 'normalize_keys', 'bookkeeping_columns',
        'foreign_keys',
        'managed_at',
        'managed_by'], 'tdm.managed_table columns');
SELECT col_type_is('tdm', 'managed_table', 'rel', 'regclass', 'managed_table.rel is a regclass');
SELECT columns_are('tdm', 'release',
  ARRAY['release', 'status', 'code_version', 'parent', 'locked_at', 'created_at', 'created_by',
        'archived_tables'],
  'tdm.release columns');
SELECT columns_are('tdm', 'job',
  ARRAY['job_id', 'kind', 'release', 'status', 'pid', 'started_by', 'queued_at', 'started_at', 'finished_at',
        'error', 'sqlstate', 'detail'], 'tdm.job columns');
SELECT has_table('tdm', 'feature', 'tdm.feature exists');
SELECT has_table('tdm', 'rule', 'tdm.rule exists');
SELECT has_function('tdm', 'verify_audit', 'tdm.verify_audit exists');

SELECT set_eq(
  $$SELECT unnest(extconfig)::regclass::text FROM pg_extension WHERE extname = 'tdm'$$,
  ARRAY['tdm.environment', 'tdm.managed_table', 'tdm.release', 'tdm.feature', 'tdm.rule',
        'tdm.job', 'tdm.job_job_id_seq', 'tdm.tag_finding', 'tdm.release_lock', 'tdm.audit',
        'tdm.audit_audit_id_seq', 'tdm.run', 'tdm.run_run_id_seq', 'tdm.conflict',
        'tdm.decision', 'tdm.decided_members', 'tdm.key_map', 'tdm.violation', 'tdm.snapshot',
        'tdm.snapshot_snapshot_id_seq', 'tdm.snapshot_table', 'tdm.snapshot_release', 'tdm.deployment',
        'tdm.deployment_deployment_id_seq', 'tdm.mask', 'tdm.mask_key'],
  'pg_dump keeps the catalog tables and their sequences');

-- The consolidation relations keep the contract's column names.
SELECT has_column('tdm', 'run', c, 'tdm.run.' || c)
  FROM unnest('{run_id,job_id,release,target,status,rows_collected,conflicts,auto_resolved,manual,
                rows_loaded,rows_merged,rows_renamed,rows_deleted,phase_ms}'::text[]) c;
SELECT has_column('tdm', 'conflict', c, 'tdm.conflict.' || c)
  FROM unnest('{conflict_id,run_id,rel,kind,class,priority,status,rule,suggestion,rationale,
                members,differing}'::text[]) c;
-- Members are read from the conflicts' own arrays: a view, nothing to dump.
SELECT has_view('tdm', 'conflict_member', 'tdm.conflict_member is a view over tdm.conflict');
SELECT columns_are('tdm', 'conflict_member',
  ARRAY['run_id', 'conflict_id', 'member', 'env', 'label', 'feature', 'ts', 'timestamp', 'row', 'key'],
  'tdm.conflict_member columns');
SELECT has_column('tdm', 'decision', c, 'tdm.decision.' || c)
  FROM unnest('{conflict_id,action,keep_env,renames,merged,rationale,decided_by,decided_at,
                approved_by,approved_at}'::text[]) c;
SELECT has_column('tdm', 'review_queue', c, 'tdm.review_queue.' || c)
  FROM unnest('{conflict_id,rel,kind,priority,rule,suggestion,rationale,members,differing,
                related}'::text[]) c;
SELECT has_column('tdm', 'violation', c, 'tdm.violation.' || c)
  FROM unnest('{run_id,rel,kind,severity,row_key,detail}'::text[]) c;
SELECT has_column('tdm', 'key_map', c, 'tdm.key_map.' || c)
  FROM unnest('{run_id,rel,env,old_key,new_key}'::text[]) c;
SELECT enum_has_labels('tdm', 'action', ARRAY['keep', 'keep_all', 'merge', 'delete_all'],
                       'tdm.action values');

-- A run's conflicts and key map refer to it without a declared foreign key
-- (decision 57): deleting the run is refused while conflicts refer to it,
-- and takes its key map with it.
INSERT INTO tdm.release (release, code_version) VALUES ('TAP-GUARD', 'v0');
INSERT INTO tdm.run (run_id, release, target) VALUES (-7, 'TAP-GUARD', 'staging');
INSERT INTO tdm.conflict (run_id, conflict_id, rel, kind, class, priority, status, rule, members)
VALUES (-7, 'C-tapguard', 'tdm.run', 'duplicate_pk', 'simple', 3, 'auto_resolved',
        'exact_duplicate', '[]');
INSERT INTO tdm.key_map (run_id, rel, env, old_key, new_key, reason)
VALUES (-7, 'tdm.run', 'st1', '{"run_id": 1}', '{"run_id": 2}', 'rekeyed');
SELECT throws_like($$DELETE FROM tdm.run WHERE run_id = -7$$,
  '%conflicts in tdm.conflict refer to it%', 'a run with conflicts cannot be deleted');
SELECT throws_ok($$UPDATE tdm.run SET run_id = -8 WHERE run_id = -7$$, '23503', NULL,
  'a run with conflicts keeps its id');
SELECT lives_ok($$UPDATE tdm.run SET status = 'failed' WHERE run_id = -7$$,
  'other columns of such a run can change');
SELECT throws_ok($$TRUNCATE tdm.run CASCADE$$, '23503', NULL,
  'runs cannot be truncated while conflicts refer to them');
DELETE FROM tdm.conflict WHERE run_id = -7;
SELECT throws_ok($$UPDATE tdm.run SET run_id = -8 WHERE run_id = -7$$, '23503', NULL,
  'a run with a key map keeps its id');
SELECT lives_ok($$DELETE FROM tdm.run WHERE run_id = -7$$,
  'a run without conflicts can be deleted');
SELECT is((SELECT count(*) FROM tdm.key_map WHERE run_id = -7), 0::bigint,
  'deleting a run deletes its key map');
-- The run a promoted release's rows came from keeps its key map: later
-- releases translate their references through it.
INSERT INTO tdm.release (release, code_version, status) VALUES ('TAP-KEPT', 'v0', 'promoted');
INSERT INTO tdm.run (run_id, release, target, status) VALUES (-9, 'TAP-KEPT', 'staging', 'completed');
INSERT INTO tdm.job (kind, release, status, detail)
VALUES ('promote', 'TAP-KEPT', 'completed', '{"from": "staging", "to": "master"}');
INSERT INTO tdm.key_map (run_id, rel, env, old_key, new_key, reason)
VALUES (-9, 'tdm.run', 'st1', '{"run_id": 1}', '{"run_id": 2}', 'rekeyed');
SELECT throws_like($$DELETE FROM tdm.run WHERE run_id = -9$$,
  '%its key map translates later releases'' references to the rows of release TAP-KEPT it loaded%',
  'the run a promoted release came from cannot be deleted');
SELECT is((SELECT count(*) FROM tdm.key_map WHERE run_id = -9), 1::bigint,
  'its key map stays');
UPDATE tdm.release SET status = 'consolidated' WHERE release = 'TAP-KEPT';
SELECT lives_ok($$DELETE FROM tdm.run WHERE run_id = -9$$,
  'once its promotion is rolled back (master holds none of its rows), it can be deleted');

LOAD 'tdm';
SELECT is(current_setting('tdm.work_mem'), '64MB', 'tdm.work_mem defaults to 64MB');
SET LOCAL tdm.work_mem = '64kB';
SELECT is(current_setting('tdm.work_mem'), '64kB', 'tdm.work_mem can be set very small');
SELECT throws_ok($$SET LOCAL tdm.work_mem = '1kB'$$, '22023', NULL,
  'tdm.work_mem below 64kB is refused');
SELECT throws_ok($$SET LOCAL tdm.no_such_setting = 1$$, '42602', NULL,
  'the tdm. prefix is reserved: misspelt settings are refused');

-- The row hash of a value is the same whether it is read from a table or
-- written as a literal (a large oid, a negative int2).
CREATE TEMP TABLE tap_hashed (o oid, i int2);
INSERT INTO tap_hashed VALUES (4000000000, -3);
SELECT ok((SELECT tdm._row_hash(o, i) = tdm._row_hash(4000000000::oid, (-3)::int2) FROM tap_hashed),
          'row hash: stored and literal values hash alike');

-- Values whose stored form holds object ids (an enum's label, an array's
-- element type, a range's or a composite's own type) hash by their parts:
-- the same values of two types alike but for their ids (as a restored
-- dump's types are) hash alike, and different values apart.
CREATE TYPE pg_temp.tap_mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE pg_temp.tap_mood_again AS ENUM ('happy', 'ok', 'sad');
CREATE TYPE pg_temp.tap_pair AS (mood pg_temp.tap_mood, n int);
CREATE TYPE pg_temp.tap_pair_again AS (mood pg_temp.tap_mood_again, n int);
CREATE TYPE pg_temp.tap_span AS RANGE (subtype = int8);
CREATE TYPE pg_temp.tap_span_again AS RANGE (subtype = int8);
CREATE TABLE pg_temp.tap_moods (m pg_temp.tap_mood, ms pg_temp.tap_mood[], p pg_temp.tap_pair,
                                s pg_temp.tap_span, ss pg_temp.tap_span_multirange);
INSERT INTO pg_temp.tap_moods VALUES ('ok', '{happy,NULL,sad}', '(happy,7)', '[1,5)', '{[1,2),[4,9)}');
SELECT ok((SELECT tdm._row_hash(m, ms, p, s, ss)
                = tdm._row_hash('ok'::pg_temp.tap_mood_again, '{happy,NULL,sad}'::pg_temp.tap_mood_again[],
                                '(happy,7)'::pg_temp.tap_pair_again, '[1,5)'::pg_temp.tap_span_again,
                                '{[1,2),[4,9)}'::pg_temp.tap_span_again_multirange)
             FROM pg_temp.tap_moods),
          'row hash: enums, arrays, composites and ranges hash by their parts, not their types'' ids');
CREATE TYPE pg_temp.tap_pair_altered AS (gone int, mood pg_temp.tap_mood, n int);
ALTER TYPE pg_temp.tap_pair_altered DROP ATTRIBUTE gone;
SELECT is(tdm._row_hash('(happy,7)'::pg_temp.tap_pair_altered), tdm._row_hash('(happy,7)'::pg_temp.tap_pair),
          'row hash: a composite''s dropped attribute counts for nothing (a restored type has none)');
SELECT isnt(tdm._row_hash('ok'::pg_temp.tap_mood), tdm._row_hash('sad'::pg_temp.tap_mood),
            'row hash: two labels of an enum hash apart');
SELECT isnt(tdm._row_hash('{happy,sad}'::pg_temp.tap_mood[]), tdm._row_hash('{sad,happy}'::pg_temp.tap_mood[]),
            'row hash: an array''s elements hash in their order');
SELECT isnt(tdm._row_hash('[1,5)'::pg_temp.tap_span), tdm._row_hash('[1,6)'::pg_temp.tap_span),
            'row hash: ranges with another bound hash apart');

SELECT * FROM finish();
ROLLBACK;
