-- `related` of a conflict counts each child row once per member: while
-- it waits for review, and once decided and applied on the next call,
-- when a member merged into a survivor of its own environment has its
-- children re-pointed to the survivor (they count for the survivor, not
-- again for the member), as one merged into another environment's has
-- them counted under the survivor's key there (cycle_entry).
BEGIN;
SELECT plan(2);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

-- rm1 holds a@x twice (ids 1 and 2, three orders between them), rm2 once.
SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_rd_e1;
  CREATE SCHEMA tap_rd_e2;
  CREATE TABLE tap_rd_e1.person (id int PRIMARY KEY, email text NOT NULL, name text, tdm_release text, tdm_feature text);
  CREATE TABLE tap_rd_e1.orders (id int PRIMARY KEY, person_id int NOT NULL REFERENCES tap_rd_e1.person,
                                 tdm_release text, tdm_feature text);
  CREATE TABLE tap_rd_e2.person (LIKE tap_rd_e1.person INCLUDING ALL);
  CREATE TABLE tap_rd_e2.orders (LIKE tap_rd_e1.orders INCLUDING ALL);
  INSERT INTO tap_rd_e1.person VALUES (1, 'a@x', 'Ann', 'TRD', 'F'), (2, 'a@x', 'Ann B', 'TRD', 'F');
  INSERT INTO tap_rd_e2.person VALUES (5, 'a@x', 'Ann C', 'TRD', 'F');
  INSERT INTO tap_rd_e1.orders VALUES (10, 1, 'TRD', 'F'), (11, 2, 'TRD', 'F'), (12, 2, 'TRD', 'F');
  INSERT INTO tap_rd_e2.orders VALUES (20, 5, 'TRD', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_rd_self');
CREATE SCHEMA tap_rd;
CREATE TABLE tap_rd.person (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text, tdm_release text, tdm_feature text);
CREATE TABLE tap_rd.orders (id int PRIMARY KEY, person_id int NOT NULL REFERENCES tap_rd.person,
                            tdm_release text, tdm_feature text);
SELECT tdm.add_environment('rd1', 'tap_rd_self', 10, 'tap_rd_e1'), tdm.add_environment('rd2', 'tap_rd_self', 20, 'tap_rd_e2');
SELECT tdm.manage_table('tap_rd.person', '{email}'), tdm.manage_table('tap_rd.orders');
SELECT tdm.create_release('TRD'), tdm.add_feature('TRD', 'F', 1);
SELECT tdm.tag_release('TRD');

SELECT tdm.consolidate('TRD', 'tap_rd') AS run \gset
SELECT conflict_id AS ann FROM tdm.conflict WHERE run_id = :run AND rel = 'tap_rd.person'::regclass \gset
SELECT is((SELECT related FROM tdm.conflict WHERE conflict_id = :'ann'),
          '{"tap_rd.orders": {"rd2": 1, "rd1:1": 1, "rd1:2": 2}}'::jsonb, 'pending: each member''s orders');
SELECT tdm.resolve(:'ann', 'keep', 'rd1:1', rationale => 'one Ann');
SELECT tdm.consolidate('TRD', 'tap_rd');
SELECT is((SELECT related FROM tdm.conflict WHERE conflict_id = :'ann'),
          '{"tap_rd.orders": {"rd2": 1, "rd1:1": 3}}'::jsonb,
          'applied: rd1''s three orders under the survivor once; rd2''s under its own key');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_rd_e1, tap_rd_e2 CASCADE;
