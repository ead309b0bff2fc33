-- A conflict's related rows stay counted once it is applied, for a
-- member that its parent re-pointed and its decision then renamed: the
-- second environment's acme (tenant 2) is merged into the first's (1),
-- so its dave (2,2) becomes (1,2) and collides with bob; a keep_all
-- renames dave to (1,7), and his two projects follow him.
BEGIN;
SELECT plan(3);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_rc_e1;
  CREATE SCHEMA tap_rc_e2;
  CREATE TABLE tap_rc_e1.rc_tenant (tenant_id int PRIMARY KEY, slug text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
  CREATE TABLE tap_rc_e1.rc_user (tenant_id int NOT NULL REFERENCES tap_rc_e1.rc_tenant, user_id int NOT NULL,
                                  email text NOT NULL, tdm_release text, tdm_feature text,
                                  PRIMARY KEY (tenant_id, user_id), UNIQUE (tenant_id, email));
  CREATE TABLE tap_rc_e1.rc_project (project_id int PRIMARY KEY, tenant_id int NOT NULL, owner_id int NOT NULL,
                                     name text NOT NULL UNIQUE, tdm_release text, tdm_feature text,
                                     FOREIGN KEY (tenant_id, owner_id) REFERENCES tap_rc_e1.rc_user);
  CREATE TABLE tap_rc_e2.rc_tenant (LIKE tap_rc_e1.rc_tenant INCLUDING ALL);
  CREATE TABLE tap_rc_e2.rc_user (LIKE tap_rc_e1.rc_user INCLUDING ALL);
  CREATE TABLE tap_rc_e2.rc_project (LIKE tap_rc_e1.rc_project INCLUDING ALL);
  INSERT INTO tap_rc_e1.rc_tenant VALUES (1, 'acme', 'TRC', 'F');
  INSERT INTO tap_rc_e1.rc_user VALUES (1, 2, 'bob@acme', 'TRC', 'F');
  INSERT INTO tap_rc_e1.rc_project VALUES (1, 1, 2, 'Zeus', 'TRC', 'F');
  INSERT INTO tap_rc_e2.rc_tenant VALUES (1, 'globex', 'TRC', 'F'), (2, 'acme', 'TRC', 'F');
  INSERT INTO tap_rc_e2.rc_user VALUES (2, 2, 'dave@acme', 'TRC', 'F');
  INSERT INTO tap_rc_e2.rc_project VALUES (7, 2, 2, 'Hermes', 'TRC', 'F'), (8, 2, 2, 'Ares', 'TRC', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_rc_self');
CREATE SCHEMA tap_rc;
CREATE TABLE tap_rc.rc_tenant (tenant_id int PRIMARY KEY, slug text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
CREATE TABLE tap_rc.rc_user (tenant_id int NOT NULL REFERENCES tap_rc.rc_tenant, user_id int NOT NULL,
                             email text NOT NULL, tdm_release text, tdm_feature text,
                             PRIMARY KEY (tenant_id, user_id), UNIQUE (tenant_id, email));
CREATE TABLE tap_rc.rc_project (project_id int PRIMARY KEY, tenant_id int NOT NULL, owner_id int NOT NULL,
                                name text NOT NULL UNIQUE, tdm_release text, tdm_feature text,
                                FOREIGN KEY (tenant_id, owner_id) REFERENCES tap_rc.rc_user);
SELECT tdm.add_environment('rc1', 'tap_rc_self', 10, 'tap_rc_e1'), tdm.add_environment('rc2', 'tap_rc_self', 20, 'tap_rc_e2');
SELECT tdm.manage_table('tap_rc.rc_tenant', '{slug}'), tdm.manage_table('tap_rc.rc_user', '{"tenant_id,email"}'),
       tdm.manage_table('tap_rc.rc_project', '{name}');
SELECT tdm.create_release('TRC'), tdm.add_feature('TRC', 'F', 1);
SELECT tdm.tag_release('TRC'), tdm.consolidate('TRC', 'tap_rc');

SELECT is((SELECT related FROM tdm.review_queue WHERE rel = 'tap_rc.rc_user'::regclass),
          '{"tap_rc.rc_project": {"rc1": 1, "rc2": 2}}', 'the queue counts bob''s project and dave''s two');
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"rc2": {"user_id": 7}}', rationale => 'two people')
  FROM tdm.review_queue WHERE rel = 'tap_rc.rc_user'::regclass;
SELECT tdm.consolidate('TRC', 'tap_rc');
SELECT results_eq($$SELECT status, related FROM tdm.conflict WHERE rel = 'tap_rc.rc_user'::regclass$$,
                  $$VALUES ('applied', '{"tap_rc.rc_project": {"rc1": 1, "rc2": 2}}'::jsonb)$$,
                  'the applied conflict still counts them');
SELECT results_eq($$SELECT p.name, u.email FROM tap_rc.rc_project p JOIN tap_rc.rc_user u USING (tenant_id)
                     WHERE u.user_id = p.owner_id ORDER BY 1$$,
                  $$VALUES ('Ares', 'dave@acme'), ('Hermes', 'dave@acme'), ('Zeus', 'bob@acme')$$,
                  'and they are dave''s');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_rc_e1, tap_rc_e2 CASCADE;
