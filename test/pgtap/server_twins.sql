-- A server pointed at another environment's database after both were
-- registered (ALTER SERVER ... SET dbname): tagging and collection would
-- read that database twice, under two names, and the second one's own
-- rows not at all. Both refuse, naming the two environments.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(4);
SELECT tdm.add_environment('st1', 'st1', 10);
SELECT tdm.add_environment('st2', 'st2', 20);
SELECT tdm.manage_table('staging.users', '{email}', 'updated_at', '{role}');
-- (R3: should the environments hold rows tagged for it, as the regress
-- suite's do, R2's tagging would report them as an unknown release's)
SELECT tdm.create_release('R2', 'v2.0'), tdm.create_release('R3');
SELECT tdm.add_feature('R2', format('FEAT-%s', 100 + i), 1) FROM generate_series(1, 10) i;
SELECT tdm.tag_release('R2') AS job \gset
SELECT diag(kind || ': ' || detail) FROM tdm.tag_finding WHERE job_id = :job AND severity = 'error';
SELECT is((SELECT status FROM tdm.release WHERE release = 'R2'), 'locked',
          'locked while each server reaches its own database');
SELECT dbname AS st1_db FROM (SELECT split_part(o, '=', 2) AS dbname FROM pg_foreign_server s, unnest(s.srvoptions) o
                               WHERE s.srvname = 'st1' AND o LIKE 'dbname=%') x \gset
SELECT set_config('tap.st1_db', :'st1_db', true);
DO $$ BEGIN
  EXECUTE format('ALTER SERVER st2 OPTIONS (SET dbname %L)', current_setting('tap.st1_db'));
END $$;
SELECT throws_ok($$SELECT tdm.tag_release('R2')$$, '42710',
  'tag_release: environments "st1" and "st2" read one schema "public" of one database',
  'tagging refuses a server pointed at another environment''s database');
SELECT throws_ok($$SELECT tdm.consolidate('R2')$$, '42710',
  'collect: environments "st1" and "st2" read one schema "public" of one database',
  'so does collection, for a release tagged before');
SELECT is((SELECT count(*) FROM tdm.run WHERE release = 'R2' AND status = 'completed'), 0::bigint,
          'nothing was consolidated');
SELECT * FROM finish();
ROLLBACK;
