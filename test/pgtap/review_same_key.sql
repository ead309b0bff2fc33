-- A composite-keyed supertype whose subtype's key is its key: st2's Ken
-- (2,2) is one entity with st1's Ken (1,1) by the borrowed person key,
-- so his person row is re-pointed onto (1,1), where st2's Rob is. While
-- the supertype's key collision waits, the person conflict holds two
-- rows of st2 under (1,1): each has a label of its own, and the review
-- queue shows each one's values.
BEGIN;
SELECT plan(3);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_sk_e1;
  CREATE SCHEMA tap_sk_e2;
  CREATE TABLE tap_sk_e1.sk_be (a int, b int, rowguid uuid NOT NULL, tdm_release text, tdm_feature text,
                                PRIMARY KEY (a, b));
  CREATE TABLE tap_sk_e1.sk_person (a int, b int, name text NOT NULL, tdm_release text, tdm_feature text,
                                    PRIMARY KEY (a, b), FOREIGN KEY (a, b) REFERENCES tap_sk_e1.sk_be);
  CREATE TABLE tap_sk_e2.sk_be (LIKE tap_sk_e1.sk_be INCLUDING ALL);
  CREATE TABLE tap_sk_e2.sk_person (LIKE tap_sk_e1.sk_person INCLUDING ALL);
  INSERT INTO tap_sk_e1.sk_be VALUES (1, 1, 'e1000000-0000-0000-0000-000000000001', 'TSK', 'F');
  INSERT INTO tap_sk_e1.sk_person VALUES (1, 1, 'Ken', 'TSK', 'F');
  INSERT INTO tap_sk_e2.sk_be VALUES (2, 2, 'e2000000-0000-0000-0000-000000000002', 'TSK', 'F'),
                                     (1, 1, 'e2000000-0000-0000-0000-000000000001', 'TSK', 'F');
  INSERT INTO tap_sk_e2.sk_person VALUES (2, 2, 'Ken', 'TSK', 'F'), (1, 1, 'Rob', 'TSK', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_sk_self');
CREATE SCHEMA tap_sk;
CREATE TABLE tap_sk.sk_be (a int, b int, rowguid uuid NOT NULL, tdm_release text, tdm_feature text, PRIMARY KEY (a, b));
CREATE TABLE tap_sk.sk_person (a int, b int, name text NOT NULL, tdm_release text, tdm_feature text,
                               PRIMARY KEY (a, b), FOREIGN KEY (a, b) REFERENCES tap_sk.sk_be);
SELECT tdm.add_environment('sk1', 'tap_sk_self', 10, 'tap_sk_e1'), tdm.add_environment('sk2', 'tap_sk_self', 20, 'tap_sk_e2');
SELECT tdm.manage_table('tap_sk.sk_be', surrogate_key => true),
       tdm.manage_table('tap_sk.sk_person', '{name}', surrogate_key => true);
SELECT tdm.create_release('TSK'), tdm.add_feature('TSK', 'F', 1);
SELECT tdm.tag_release('TSK'), tdm.consolidate('TSK', 'tap_sk') AS run \gset
SELECT conflict_id AS people FROM tdm.review_queue WHERE rel = 'tap_sk.sk_person'::regclass \gset

SELECT results_eq(format($$SELECT label, "row" ->> 'name' FROM tdm.conflict_member WHERE conflict_id = %L ORDER BY member$$, :'people'),
  $$VALUES ('sk1', 'Ken'), ('sk2:1,1', 'Rob'), ('sk2:1,1#2', 'Ken')$$,
  'two rows of sk2 under one key have labels of their own');
SELECT is((SELECT differing -> 'name' FROM tdm.conflict WHERE conflict_id = :'people'),
  '{"sk1": "Ken", "sk2:1,1": "Rob", "sk2:1,1#2": "Ken"}'::jsonb, 'differing uses the same labels');
SELECT matches((SELECT split_part(side_by_side, E'\n', 4) FROM tdm.review_queue WHERE conflict_id = :'people'),
  '^name +Ken +Rob +Ken *$', 'side_by_side shows each member''s own values');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_sk_e1, tap_sk_e2 CASCADE;
