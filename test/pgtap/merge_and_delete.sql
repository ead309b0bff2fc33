-- A row one decision merges away and another deletes is deleted (the
-- delete outranks): counted deleted, not merged, in the run and its
-- table (and given no key map entry to the survivor it would have been
-- merged into, where that one's key differs). st1's a@x, st2's and st3's b@x share id 2: a reviewer
-- merges the key collision into a@x and deletes b@x.
BEGIN;
SELECT plan(3);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  DROP SCHEMA IF EXISTS tap_md_e1 CASCADE;
  DROP SCHEMA IF EXISTS tap_md_e2 CASCADE;
  DROP SCHEMA IF EXISTS tap_md_e3 CASCADE;
  CREATE SCHEMA tap_md_e1;
  CREATE SCHEMA tap_md_e2;
  CREATE SCHEMA tap_md_e3;
  CREATE TABLE tap_md_e1.md_customer (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text, tier text,
                                      tdm_release text, tdm_feature text);
  CREATE TABLE tap_md_e2.md_customer (LIKE tap_md_e1.md_customer INCLUDING ALL);
  CREATE TABLE tap_md_e3.md_customer (LIKE tap_md_e1.md_customer INCLUDING ALL);
  INSERT INTO tap_md_e1.md_customer VALUES (2, 'a@x', 'na', 'gold', 'TMD', 'F');
  INSERT INTO tap_md_e2.md_customer VALUES (2, 'b@x', 'nb', 'gold', 'TMD', 'F');
  INSERT INTO tap_md_e3.md_customer VALUES (2, 'b@x', 'nb', 'silver', 'TMD', 'F')$$)
  \g /dev/null
SELECT pg_temp.loopback_server('tap_md_self');
CREATE TABLE staging.md_customer (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text, tier text,
                                  tdm_release text, tdm_feature text);
SELECT tdm.add_environment('md1', 'tap_md_self', 10, 'tap_md_e1'), tdm.add_environment('md2', 'tap_md_self', 20, 'tap_md_e2'),
       tdm.add_environment('md3', 'tap_md_self', 30, 'tap_md_e3');
SELECT tdm.manage_table('staging.md_customer', '{email}', core_columns => '{tier}');
SELECT tdm.create_release('TMD'), tdm.add_feature('TMD', 'F', 1);
SELECT tdm.tag_release('TMD');
CREATE ROLE tap_md_approver;
GRANT tdm_reviewer TO tap_md_approver;
SELECT tdm.consolidate('TMD') AS run \gset
SELECT tdm.resolve(conflict_id, 'merge', merged => '{"name": "m"}', rationale => 'one customer')
  FROM tdm.conflict WHERE run_id = :run AND kind = 'duplicate_pk';
SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'b@x is junk')
  FROM tdm.conflict WHERE run_id = :run AND kind <> 'duplicate_pk';
SET SESSION AUTHORIZATION tap_md_approver;
SELECT count(tdm.approve(d.conflict_id)) FROM tdm.decision d JOIN tdm.conflict c USING (conflict_id)
 WHERE c.run_id = :run AND c.priority = 1;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TMD');

SELECT results_eq(format($$SELECT status, rows_collected, rows_loaded, rows_merged, rows_deleted FROM tdm.run WHERE run_id = %s$$, :run),
  $$VALUES ('completed', 3::bigint, 1::bigint, 0::bigint, 2::bigint)$$,
  'the b@x rows are counted deleted, not merged');
SELECT results_eq(format($$SELECT (t ->> 'merged')::int, (t ->> 'deleted')::int, (t ->> 'loaded')::int
                             FROM tdm.run, LATERAL (SELECT tables -> 'staging.md_customer' AS t) x WHERE run_id = %s$$, :run),
  $$VALUES (0, 2, 1)$$, 'and so in the table''s figures');
SELECT results_eq('SELECT email, name FROM staging.md_customer', $$VALUES ('a@x', 'm')$$,
  'a@x is loaded with the merge''s values');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_md_e1 CASCADE;
DROP SCHEMA tap_md_e2 CASCADE;
DROP SCHEMA tap_md_e3 CASCADE;
