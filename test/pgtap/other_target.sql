-- A release consolidated into another target gave keys there only: a
-- later release consolidated here does not translate its references
-- through that run's key map (the key there may be another entity's
-- here), and a reference to such a row is refused: the row is in neither
-- this target nor master.
BEGIN;
SELECT plan(3);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

-- Two environments: schemas of this database, written by another session
-- (an environment reads committed rows), dropped at the end. Product 1
-- is A in the first and B in the second (release TQ1); the second's line
-- of release TQ3 references its B.
SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_qa_e1;
  CREATE SCHEMA tap_qa_e2;
  CREATE TABLE tap_qa_e1.product (id int PRIMARY KEY, sku text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
  CREATE TABLE tap_qa_e1.line (id int PRIMARY KEY, product_id int NOT NULL REFERENCES tap_qa_e1.product,
                               tdm_release text, tdm_feature text);
  CREATE TABLE tap_qa_e2.product (LIKE tap_qa_e1.product INCLUDING ALL);
  CREATE TABLE tap_qa_e2.line (id int PRIMARY KEY, product_id int NOT NULL REFERENCES tap_qa_e2.product,
                               tdm_release text, tdm_feature text);
  INSERT INTO tap_qa_e1.product VALUES (1, 'A', 'TQ1', 'F'), (2, 'C', 'TQ2', 'F');
  INSERT INTO tap_qa_e2.product VALUES (1, 'B', 'TQ1', 'F');
  INSERT INTO tap_qa_e2.line VALUES (1, 1, 'TQ3', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_self');
-- Two targets with the same tables: tap_qa (the managed tables) and tap_qa_other.
CREATE SCHEMA tap_qa;
CREATE TABLE tap_qa.product (id int PRIMARY KEY, sku text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
CREATE TABLE tap_qa.line (id int PRIMARY KEY, product_id int NOT NULL REFERENCES tap_qa.product,
                          tdm_release text, tdm_feature text);
CREATE SCHEMA tap_qa_other;
CREATE TABLE tap_qa_other.product (LIKE tap_qa.product INCLUDING ALL);
CREATE TABLE tap_qa_other.line (id int PRIMARY KEY, product_id int NOT NULL REFERENCES tap_qa_other.product,
                                tdm_release text, tdm_feature text);
SELECT tdm.add_environment('qa1', 'tap_self', 10, 'tap_qa_e1'), tdm.add_environment('qa2', 'tap_self', 20, 'tap_qa_e2');
SELECT tdm.manage_table('tap_qa.product', '{sku}'), tdm.manage_table('tap_qa.line');
SELECT tdm.create_release('TQ1'), tdm.create_release('TQ2'), tdm.create_release('TQ3', parent => 'TQ2');
SELECT tdm.add_feature(r, 'F', 1) FROM unnest('{TQ1,TQ2,TQ3}'::text[]) AS r;
-- (TQ1 made earlier, as it would be outside this transaction: its rows
-- are among those TQ3's may reference.)
UPDATE tdm.release SET created_at = created_at - interval '1 day' WHERE release = 'TQ1';

-- TQ1 into tap_qa_other: B is another product than A, and gets key 2 there.
SELECT tdm.tag_release('TQ1'), tdm.consolidate('TQ1', 'tap_qa_other');
SELECT is((SELECT sku FROM tap_qa_other.product WHERE id = 2), 'B', 'B has key 2 in the other target');
-- TQ2 into tap_qa: C has key 2 here.
SELECT tdm.tag_release('TQ2'), tdm.consolidate('TQ2', 'tap_qa');
SELECT tdm.tag_release('TQ3');
SELECT throws_ok($$SELECT tdm.consolidate('TQ3', 'tap_qa')$$, '55000',
  'consolidate: rows of environment qa2 reference 1 row(s) of tap_qa.product of release TQ1, which is in neither tap_qa nor master',
  'a reference to a row only another target holds is refused, not translated by that target''s keys');
SELECT is((SELECT count(*)::int FROM tap_qa.line), 0, 'the line did not go under C');

SELECT * FROM finish();
ROLLBACK;
-- (After the transaction: until then, its foreign scans' remote
-- transaction holds the tables.)
SET client_min_messages = warning;
DROP SCHEMA tap_qa_e1, tap_qa_e2 CASCADE;
