-- A row re-pointed by its parent's new key and renamed by a reviewer's
-- keep_all is one renamed row: st2's tenant 1 is another entity than
-- st1's (re-keyed to 2), so st2's project (1, 5) becomes (2, 5); its
-- slug collides with st1's project, and the reviewer keeps both, renaming
-- st2's. The run counted that project twice (re-pointed, and renamed).
BEGIN;
SELECT plan(3);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.rr_tables(s text) RETURNS text LANGUAGE sql AS $$
  SELECT format($ddl$
    CREATE TABLE %1$I.rr_tenant (id int PRIMARY KEY, slug text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
    CREATE TABLE %1$I.rr_project (tenant_id int REFERENCES %1$I.rr_tenant, id int, slug text NOT NULL UNIQUE,
                                  title text, tdm_release text, tdm_feature text, PRIMARY KEY (tenant_id, id));$ddl$, s)
$$;
SELECT dblink_exec(pg_temp.conninfo(current_database()), format($$
  CREATE SCHEMA tap_rr_e1;
  CREATE SCHEMA tap_rr_e2;
  %1$s
  %2$s
  INSERT INTO tap_rr_e1.rr_tenant VALUES (1, 'acme', 'TRR', 'F1');
  INSERT INTO tap_rr_e1.rr_project VALUES (1, 1, 'website', 'Site', 'TRR', 'F1');
  INSERT INTO tap_rr_e2.rr_tenant VALUES (1, 'beta', 'TRR', 'F1');
  INSERT INTO tap_rr_e2.rr_project VALUES (1, 5, 'website', 'Beta site', 'TRR', 'F1');$$,
  pg_temp.rr_tables('tap_rr_e1'), pg_temp.rr_tables('tap_rr_e2'))) \g /dev/null
SELECT pg_temp.loopback_server('tap_rr_self');
CREATE SCHEMA tap_rr;
SELECT format('%s', pg_temp.rr_tables('tap_rr')) \gexec
SELECT tdm.add_environment('rr1', 'tap_rr_self', 10, 'tap_rr_e1'), tdm.add_environment('rr2', 'tap_rr_self', 20, 'tap_rr_e2');
SELECT tdm.manage_table('tap_rr.rr_tenant', '{slug}'),
       tdm.manage_table('tap_rr.rr_project', '{slug}', core_columns => '{title}');
SELECT tdm.create_release('TRR'), tdm.add_feature('TRR', 'F1', 1);
SELECT tdm.tag_release('TRR');
SELECT tdm.consolidate('TRR', 'tap_rr') AS run \gset
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"rr2": {"slug": "beta-website"}}', rationale => 'two sites')
  FROM tdm.review_queue WHERE rel = 'tap_rr.rr_project'::regclass;
CREATE ROLE tap_rr_approver;
GRANT tdm_reviewer TO tap_rr_approver;
SET SESSION AUTHORIZATION tap_rr_approver;
SELECT tdm.approve(conflict_id) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TRR', 'tap_rr');

SELECT results_eq($$SELECT tenant_id, id, slug FROM tap_rr.rr_project ORDER BY tenant_id$$,
  $$VALUES (1, 1, 'website'), (2, 5, 'beta-website')$$, 'st2''s project follows its tenant and is renamed');
SELECT results_eq(format($$SELECT (tables -> 'tap_rr.rr_project' ->> 'renamed')::int, rows_renamed::int
                             FROM tdm.run WHERE run_id = %s$$, :run),
  $$VALUES (1, 2)$$, 'it counts as one renamed row (the run: it and its tenant)');
SELECT ok(tdm.report(:run, 'text') ~ '\mRenamed: +2\M', 'the report says the same');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_rr_e1, tap_rr_e2 CASCADE;
