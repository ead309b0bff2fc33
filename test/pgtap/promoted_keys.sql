-- A release in master has the keys of the run it was promoted from. A
-- later consolidation of it into another target does not change that: a
-- later release's references to its rows are translated through the
-- promoted run's key map, not through the newest run's, and its first run
-- into another target gives its rows the keys master holds where they
-- are free there. A release promoted before the one whose rows it
-- references is refused with that one named, and so is a release
-- whose rows reference a release never consolidated. A promoted release
-- consolidated again after its table was registered again (a rule's
-- difference now a core column's) is refused, the table named. A release
-- whose rows are referenced, tagged again since its consolidation, is
-- named with its status.
BEGIN;
SELECT plan(9);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

-- Product 1 is A in the first environment and B in the second (release
-- TPK1); the second's line of release TPK2 references its B.
SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_pk_e1;
  CREATE SCHEMA tap_pk_e2;
  CREATE TABLE tap_pk_e1.pk_product (id int PRIMARY KEY, sku text NOT NULL UNIQUE, label text, tdm_release text, tdm_feature text);
  CREATE TABLE tap_pk_e1.pk_line (id int PRIMARY KEY, product_id int NOT NULL REFERENCES tap_pk_e1.pk_product,
                                  tdm_release text, tdm_feature text);
  CREATE TABLE tap_pk_e2.pk_product (LIKE tap_pk_e1.pk_product INCLUDING ALL);
  CREATE TABLE tap_pk_e2.pk_line (id int PRIMARY KEY, product_id int NOT NULL REFERENCES tap_pk_e2.pk_product,
                                  tdm_release text, tdm_feature text);
  INSERT INTO tap_pk_e1.pk_product VALUES (1, 'A', 'a', 'TPK1', 'F'), (4, 'E', 'e1', 'TPK1', 'F'),
                                           (5, 'C', 'c', 'TPK2', 'F');
  INSERT INTO tap_pk_e1.pk_line VALUES (7, 5, 'TPK3', 'F');
  INSERT INTO tap_pk_e2.pk_product VALUES (1, 'B', 'b', 'TPK1', 'F'), (4, 'E', 'e2', 'TPK1', 'F');
  INSERT INTO tap_pk_e2.pk_product VALUES (9, 'D', 'd', 'TPK4', 'F');
  INSERT INTO tap_pk_e2.pk_line VALUES (1, 1, 'TPK2', 'F'), (8, 9, 'TPK5', 'F');
  INSERT INTO tap_pk_e1.pk_product VALUES (6, 'F', 'f', 'TPK6', 'F'), (11, 'G', 'g', 'TPK7', 'F');
  INSERT INTO tap_pk_e1.pk_line VALUES (10, 6, 'TPK7', 'F'), (12, 11, 'TPK7', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_pk_self');
CREATE TABLE staging.pk_product (id int PRIMARY KEY, sku text NOT NULL UNIQUE, label text, tdm_release text, tdm_feature text);
CREATE TABLE staging.pk_line (id int PRIMARY KEY, product_id int NOT NULL REFERENCES staging.pk_product,
                              tdm_release text, tdm_feature text);
-- Two scratch targets; in the first, key 5 is another release's row.
CREATE SCHEMA tap_pk_qa;
CREATE TABLE tap_pk_qa.pk_product (LIKE staging.pk_product INCLUDING ALL);
CREATE TABLE tap_pk_qa.pk_line (id int PRIMARY KEY, product_id int NOT NULL REFERENCES tap_pk_qa.pk_product,
                                tdm_release text, tdm_feature text);
INSERT INTO tap_pk_qa.pk_product VALUES (5, 'Z', 'z', 'TPK0', 'F');
CREATE SCHEMA tap_pk_qa2;
CREATE TABLE tap_pk_qa2.pk_product (LIKE staging.pk_product INCLUDING ALL);
CREATE TABLE tap_pk_qa2.pk_line (id int PRIMARY KEY, product_id int NOT NULL REFERENCES tap_pk_qa2.pk_product,
                                 tdm_release text, tdm_feature text);
SELECT tdm.add_environment('pk1', 'tap_pk_self', 10, 'tap_pk_e1'), tdm.add_environment('pk2', 'tap_pk_self', 20, 'tap_pk_e2');
SELECT tdm.manage_table('staging.pk_product', '{sku}'), tdm.manage_table('staging.pk_line');
SELECT tdm.create_release('TPK1'), tdm.create_release('TPK2', parent => 'TPK1'),
       tdm.create_release('TPK3', parent => 'TPK2'), tdm.create_release('TPK4', parent => 'TPK3'),
       tdm.create_release('TPK5', parent => 'TPK4'), tdm.create_release('TPK6'), tdm.create_release('TPK7', parent => 'TPK6');
SELECT tdm.add_feature(r, 'F', 1) FROM unnest('{TPK1,TPK2,TPK3,TPK4,TPK5,TPK6,TPK7}'::text[]) AS r;
UPDATE tdm.release SET created_at = created_at - interval '1 day' WHERE release = 'TPK1';

-- TPK1 into staging and master: B gets key 5 (past E's 4).
SELECT tdm.tag_release('TPK1'), tdm.consolidate('TPK1'), tdm.promote('TPK1');
-- Then into the scratch targets: key 5 is free in the second, not in the first.
SELECT tdm.consolidate('TPK1', 'tap_pk_qa2'), tdm.consolidate('TPK1', 'tap_pk_qa');
SELECT results_eq($$SELECT id FROM tap_pk_qa2.pk_product WHERE sku = 'B' UNION ALL SELECT id FROM master.pk_product WHERE sku = 'B'$$,
                  $$VALUES (5), (5)$$, 'another target gives B the key master holds');
SELECT is((SELECT id FROM tap_pk_qa.pk_product WHERE sku = 'B'), 6, 'or, where that key is taken, another');

-- TPK2: the second environment's line references its product 1, B.
SELECT tdm.tag_release('TPK2'), tdm.consolidate('TPK2');
SELECT is((SELECT p.sku FROM staging.pk_line l JOIN staging.pk_product p ON p.id = l.product_id), 'B',
          'the line references B in staging, as master''s key map says (not the newest run''s)');
-- TPK3's line references TPK2's C, which only staging holds yet.
SELECT tdm.tag_release('TPK3'), tdm.consolidate('TPK3');
SELECT matches(pg_temp.hint_of($$SELECT tdm.promote('TPK3')$$),
               '^The rows it references are in staging, of release TPK2 \(consolidated\), and not in master: promote it first \(SELECT tdm\.promote\(''TPK2''\);\), then promote TPK3 again\.$',
               'promoting TPK3 before TPK2 is refused, TPK2 named with the call to make');
SELECT tdm.promote('TPK2'), tdm.promote('TPK3');
SELECT results_eq($$SELECT l.tdm_release, p.sku FROM master.pk_line l JOIN master.pk_product p ON p.id = l.product_id
                     ORDER BY 1$$,
                  $$VALUES ('TPK2', 'B'), ('TPK3', 'C')$$,
                  'and in master');

-- TPK5's line references TPK4's D: TPK4 is tagged, never consolidated.
SELECT tdm.tag_release('TPK4'), tdm.tag_release('TPK5');
SELECT throws_ok($$SELECT tdm.consolidate('TPK5')$$, '55000',
  'consolidate: rows of environment pk2 reference 1 row(s) of staging.pk_product of release TPK4, which is in neither staging nor master',
  'a reference to a row of a release never consolidated is refused, the release named');
SELECT is((pg_temp.error_of($$SELECT tdm.consolidate('TPK5')$$)).detail,
          'For example the row with key (9). Release TPK4 was never consolidated.', 'and said so');

-- E's label differed (settled by precedence); label is a core column now.
SELECT tdm.manage_table('staging.pk_product', '{sku}', core_columns => '{label}');
SELECT matches(pg_temp.hint_of($$SELECT tdm.consolidate('TPK1')$$),
               '^Since the release was consolidated \(see tdm\.audit\): staging\.pk_product registered again\. ',
               'consolidating promoted TPK1 again is refused, the registration named');

-- TPK7's line references TPK6's F, and TPK6 was tagged again since its
-- consolidation: still in staging, it is named as it is now (locked), not
-- among the releases consolidated and not promoted. TPK7's other line
-- references its own G, which goes in with it: TPK7 is not named.
SELECT tdm.tag_release('TPK6'), tdm.consolidate('TPK6'), tdm.tag_release('TPK7'), tdm.consolidate('TPK7');
SELECT tdm.tag_release('TPK6');
SELECT matches(pg_temp.hint_of($$SELECT tdm.promote('TPK7')$$),
               '^The rows it references are in staging, of release TPK6 \(locked\), and not in master: promote it first \(tagged since its consolidation: consolidate it again, then promote it\), then promote TPK7 again\.$',
               'a release tagged again since its consolidation is named as it is');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_pk_e1, tap_pk_e2 CASCADE;
