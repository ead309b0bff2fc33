-- Tagging's dangling_reference finding says which case it is, and what to
-- do: a parent row the environment does not hold (add it, or leave the
-- rows that reference it untagged), one it holds untagged or tagged for a
-- release outside the lineage (tag it, naming the tags), or both.
BEGIN;
SELECT plan(3);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_dp_e1;
  CREATE TABLE tap_dp_e1.dp_parent (id int PRIMARY KEY, tdm_release text, tdm_feature text);
  -- (the environment lacks the foreign keys: its rows may name no row)
  CREATE TABLE tap_dp_e1.dp_gone (id int PRIMARY KEY, parent_id int, tdm_release text, tdm_feature text);
  CREATE TABLE tap_dp_e1.dp_untagged (id int PRIMARY KEY, parent_id int, tdm_release text, tdm_feature text);
  CREATE TABLE tap_dp_e1.dp_mixed (id int PRIMARY KEY, parent_id int, tdm_release text, tdm_feature text);
  INSERT INTO tap_dp_e1.dp_parent VALUES (2, 'TDPX', 'F'), (3, NULL, NULL), (4, 'TDP2', 'F');
  INSERT INTO tap_dp_e1.dp_gone VALUES (1, 1, 'TDP2', 'F'), (4, 4, 'TDP2', 'F');
  INSERT INTO tap_dp_e1.dp_untagged VALUES (3, 3, 'TDP2', 'F');
  INSERT INTO tap_dp_e1.dp_mixed VALUES (1, 1, 'TDP2', 'F'), (2, 2, 'TDP2', 'F'), (3, 3, 'TDP2', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_dp_self');
CREATE SCHEMA tap_dp;
CREATE TABLE tap_dp.dp_parent (id int PRIMARY KEY, tdm_release text, tdm_feature text);
CREATE TABLE tap_dp.dp_gone (id int PRIMARY KEY, parent_id int REFERENCES tap_dp.dp_parent,
                             tdm_release text, tdm_feature text);
CREATE TABLE tap_dp.dp_untagged (LIKE tap_dp.dp_gone INCLUDING ALL);
ALTER TABLE tap_dp.dp_untagged ADD FOREIGN KEY (parent_id) REFERENCES tap_dp.dp_parent;
CREATE TABLE tap_dp.dp_mixed (LIKE tap_dp.dp_gone INCLUDING ALL);
ALTER TABLE tap_dp.dp_mixed ADD FOREIGN KEY (parent_id) REFERENCES tap_dp.dp_parent;
SELECT tdm.add_environment('dp1', 'tap_dp_self', 10, 'tap_dp_e1');
SELECT tdm.manage_table(t) FROM unnest('{tap_dp.dp_parent,tap_dp.dp_gone,tap_dp.dp_untagged,tap_dp.dp_mixed}'::regclass[]) t;
SELECT tdm.create_release('TDP2'), tdm.add_feature('TDP2', 'F', 1);
-- (created after TDP2: no release of its lineage)
SELECT tdm.create_release('TDPX'), tdm.add_feature('TDPX', 'F', 1);
SELECT tdm.tag_release('TDP2') AS job \gset

SELECT alike((SELECT detail FROM tdm.tag_finding WHERE job_id = :job AND rel = 'tap_dp.dp_gone'::regclass),
            '1 row(s) of dp1.dp_gone tagged for TDP2 reference a tap_dp.dp_parent row (dp_gone_parent_id_fkey) that dp1'
            ' does not hold: add those rows there, or leave the rows that reference them untagged',
            'a parent the environment lacks: said as such');
SELECT alike((SELECT detail FROM tdm.tag_finding WHERE job_id = :job AND rel = 'tap_dp.dp_untagged'::regclass),
            '1 row(s) of dp1.dp_untagged tagged for TDP2 reference a tap_dp.dp_parent row (dp_untagged_parent_id_fkey)'
            ' that dp1 holds untagged: tag them for TDP2, or leave the rows that reference them untagged',
            'a parent held untagged: tag it');
SELECT alike((SELECT detail FROM tdm.tag_finding WHERE job_id = :job AND rel = 'tap_dp.dp_mixed'::regclass),
            '3 row(s) of dp1.dp_mixed tagged for TDP2 reference a tap_dp.dp_parent row (dp_mixed_parent_id_fkey) that dp1'
            ' does not hold (1 of them), or holds tagged for no release of % (the others; tags: ''TDPX'', none): add or'
            ' tag those rows, or leave the rows that reference them untagged',
            'both: counted, with the tags the held ones carry');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_dp_e1 CASCADE;
