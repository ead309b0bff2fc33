-- A rule's merge (non_conflicting_merge) loads the row its conflict
-- records: `merged` and the suggestion say what staging gets. It fills
-- the survivor's NULL attributes from the other members; the survivor
-- keeps its own timestamp (not an attribute), NULL as it is.
BEGIN;
SELECT plan(5);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_rg_e1;
  CREATE SCHEMA tap_rg_e2;
  CREATE TABLE tap_rg_e1.rm_person (id int PRIMARY KEY, email text UNIQUE, name text, city text,
                                    upd timestamptz, tdm_release text, tdm_feature text);
  CREATE TABLE tap_rg_e2.rm_person (LIKE tap_rg_e1.rm_person INCLUDING ALL);
  INSERT INTO tap_rg_e1.rm_person VALUES (1, 'a@x', NULL, 'Oslo', NULL, 'TRM1', 'F');
  INSERT INTO tap_rg_e2.rm_person VALUES (7, 'a@x', 'Ann', NULL, '2024-05-01 00:00+00', 'TRM1', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_rg_self');
CREATE TABLE staging.rm_person (id int PRIMARY KEY, email text UNIQUE, name text, city text,
                                upd timestamptz, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('rm1', 'tap_rg_self', 10, 'tap_rg_e1'),
       tdm.add_environment('rm2', 'tap_rg_self', 20, 'tap_rg_e2');
SELECT tdm.manage_table('staging.rm_person', '{email}', updated_at_column => 'upd');
SELECT tdm.create_release('TRM1'), tdm.add_feature('TRM1', 'F', 1);
SELECT tdm.tag_release('TRM1');
SELECT tdm.consolidate('TRM1') AS run \gset

SELECT is(c.rule, 'non_conflicting_merge', 'the rule merges the two rows')
  FROM tdm.conflict c WHERE c.run_id = :run;
SELECT is(c.suggestion, 'merge: rm1''s row with name from rm2', 'the suggestion names what is filled')
  FROM tdm.conflict c WHERE c.run_id = :run;
SELECT is((SELECT to_jsonb(p.*) - 'tdm_release' - 'tdm_feature' FROM staging.rm_person p),
          (SELECT c.merged - 'tdm_release' - 'tdm_feature' FROM tdm.conflict c WHERE c.run_id = :run),
          'staging holds the merged row the conflict records');
SELECT is((SELECT row(p.id, p.name, p.city)::text FROM staging.rm_person p), '(1,Ann,Oslo)',
          'the survivor''s key, its NULL attribute filled, its own values kept');
SELECT ok((SELECT p.upd IS NULL FROM staging.rm_person p), 'the survivor keeps its own (NULL) timestamp');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_rg_e1, tap_rg_e2 CASCADE;
