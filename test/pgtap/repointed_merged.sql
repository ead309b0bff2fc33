-- A row re-pointed by its parent's merge, then merged away by its own
-- conflict: st2's tenant acme (2) merges into st1's (1), so st2's project
-- (2, 5) becomes (1, 5), and by its natural key (tenant_id, slug) merges
-- into st1's (1, 1). Its key map entry said `repointed` (a row the run
-- counts renamed) and named the tenant's conflict, though the run counted
-- the row merged; its children followed it, as they should. The same for
-- st2's project (2, 3), re-pointed onto the very key of st1's copy (1, 3):
-- merged, of its own conflict, though its key did not change there.
BEGIN;
SELECT plan(4);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.rm_tables(s text) RETURNS text LANGUAGE sql AS $$
  SELECT format($ddl$
    CREATE TABLE %1$I.rm_tenant (id int PRIMARY KEY, slug text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
    CREATE TABLE %1$I.rm_project (tenant_id int REFERENCES %1$I.rm_tenant, id int, slug text NOT NULL,
                                  tdm_release text, tdm_feature text, PRIMARY KEY (tenant_id, id),
                                  UNIQUE (tenant_id, slug));
    CREATE TABLE %1$I.rm_task (id int PRIMARY KEY, tenant_id int NOT NULL, project_id int NOT NULL, title text,
                               tdm_release text, tdm_feature text,
                               FOREIGN KEY (tenant_id, project_id) REFERENCES %1$I.rm_project);$ddl$, s)
$$;
SELECT dblink_exec(pg_temp.conninfo(current_database()), format($$
  CREATE SCHEMA tap_rm_e1;
  CREATE SCHEMA tap_rm_e2;
  %1$s
  %2$s
  INSERT INTO tap_rm_e1.rm_tenant VALUES (1, 'acme', 'TRM', 'F1');
  INSERT INTO tap_rm_e1.rm_project VALUES (1, 1, 'website', 'TRM', 'F1'), (1, 3, 'blog', 'TRM', 'F1');
  INSERT INTO tap_rm_e2.rm_tenant VALUES (2, 'acme', 'TRM', 'F1');
  INSERT INTO tap_rm_e2.rm_project VALUES (2, 5, 'website', 'TRM', 'F1'), (2, 3, 'blog', 'TRM', 'F1');
  INSERT INTO tap_rm_e2.rm_task VALUES (70, 2, 5, 'launch', 'TRM', 'F1'), (71, 2, 3, 'post', 'TRM', 'F1');$$,
  pg_temp.rm_tables('tap_rm_e1'), pg_temp.rm_tables('tap_rm_e2'))) \g /dev/null
SELECT pg_temp.loopback_server('tap_rm_self');
CREATE SCHEMA tap_rm;
SELECT format('%s', pg_temp.rm_tables('tap_rm')) \gexec
SELECT tdm.add_environment('rm1', 'tap_rm_self', 10, 'tap_rm_e1'), tdm.add_environment('rm2', 'tap_rm_self', 20, 'tap_rm_e2');
SELECT tdm.manage_table('tap_rm.rm_tenant', '{slug}'), tdm.manage_table('tap_rm.rm_project', '{"tenant_id,slug"}'),
       tdm.manage_table('tap_rm.rm_task');
SELECT tdm.create_release('TRM'), tdm.add_feature('TRM', 'F1', 1);
SELECT tdm.tag_release('TRM');
SELECT tdm.consolidate('TRM', 'tap_rm') AS run \gset

SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'the run completes');
SELECT results_eq(format($$SELECT k.env, k.old_key, k.new_key, k.reason, c.rel::text
                             FROM tdm.key_map k JOIN tdm.conflict c ON c.conflict_id = k.conflict_id AND c.run_id = k.run_id
                            WHERE k.run_id = %s AND k.rel = 'tap_rm.rm_project'::regclass ORDER BY k.old_key$$, :run),
  $$VALUES ('rm2', '{"id": 3, "tenant_id": 2}'::jsonb, '{"id": 3, "tenant_id": 1}'::jsonb, 'merged', 'tap_rm.rm_project'),
           ('rm2', '{"id": 5, "tenant_id": 2}'::jsonb, '{"id": 1, "tenant_id": 1}'::jsonb, 'merged', 'tap_rm.rm_project')$$,
  'the projects merged away after their tenant''s merge are mapped as merged, by their own conflicts');
SELECT results_eq(format($$SELECT (tables -> 'tap_rm.rm_project' ->> 'merged')::int,
                                  (tables -> 'tap_rm.rm_project' ->> 'renamed')::int
                             FROM tdm.run WHERE run_id = %s$$, :run),
  $$VALUES (2, 0)$$, 'the run counts them merged, as the key map says');
SELECT results_eq($$SELECT t.id, t.tenant_id, t.project_id, p.slug FROM tap_rm.rm_task t JOIN tap_rm.rm_project p
                     ON (p.tenant_id, p.id) = (t.tenant_id, t.project_id) ORDER BY t.id$$,
  $$VALUES (70, 1, 1, 'website'), (71, 1, 3, 'blog')$$, 'their tasks follow them to the survivors');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_rm_e1, tap_rm_e2 CASCADE;
