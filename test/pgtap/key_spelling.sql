-- A child whose foreign key spells its parent's key otherwise, where the
-- key's type calls the two equal (citext `CAROL@X` for `Carol@X`, numeric
-- 1.500 for 1.50), follows its own environment's parent: it is counted in
-- the review queue's related rows, becomes a relationship conflict when
-- that parent is deleted, and is re-pointed when that parent is renamed
-- or re-keyed, in this release and in a later one that brings the child
-- alone. Before, it kept its value and ended on another environment's row
-- of that key. Also: a tree's levels, a child key finer than its foreign
-- key (left as spelled), a varchar reference to a char(n) key, rows
-- that reference each other in a loop.
BEGIN;
SELECT plan(14);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE EXTENSION IF NOT EXISTS citext SCHEMA public;
  CREATE COLLATION public.tap_ks_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
  CREATE FUNCTION pg_temp.make_env(s text) RETURNS void LANGUAGE plpgsql AS $f$
  BEGIN
    EXECUTE format($t$
      CREATE SCHEMA %1$I;
      CREATE TABLE %1$I.ks_customer (id int PRIMARY KEY, email public.citext NOT NULL UNIQUE, name text NOT NULL,
                                     tdm_release text, tdm_feature text);
      CREATE TABLE %1$I.ks_order (id int PRIMARY KEY, customer_email public.citext REFERENCES %1$I.ks_customer (email),
                                  tdm_release text, tdm_feature text);
      CREATE TABLE %1$I.ks_product (id numeric(10,2) PRIMARY KEY, sku text NOT NULL UNIQUE, name text NOT NULL,
                                    tdm_release text, tdm_feature text);
      CREATE TABLE %1$I.ks_item (id int PRIMARY KEY, product_id numeric REFERENCES %1$I.ks_product (id),
                                 tdm_release text, tdm_feature text);
      CREATE TABLE %1$I.ks_line (product_id numeric REFERENCES %1$I.ks_product, no int, qty int,
                                 tdm_release text, tdm_feature text, PRIMARY KEY (product_id, no));
      CREATE TABLE %1$I.ks_note (id int PRIMARY KEY, product_id numeric, no int, tdm_release text, tdm_feature text,
                                 FOREIGN KEY (product_id, no) REFERENCES %1$I.ks_line);
      CREATE TABLE %1$I.ks_node (tree numeric, id int, parent int, code text NOT NULL UNIQUE, label text,
                                 tdm_release text, tdm_feature text,
                                 PRIMARY KEY (tree, id), FOREIGN KEY (tree, parent) REFERENCES %1$I.ks_node);
      CREATE TABLE %1$I.ks_tag (name text COLLATE public.tap_ks_ci PRIMARY KEY, tdm_release text, tdm_feature text);
      CREATE TABLE %1$I.ks_post_tag (tag_name text COLLATE "C" REFERENCES %1$I.ks_tag, post_id int,
                                     tdm_release text, tdm_feature text, PRIMARY KEY (tag_name, post_id));
      CREATE TABLE %1$I.ks_shop (code char(5) PRIMARY KEY, name text NOT NULL, tdm_release text, tdm_feature text);
      CREATE TABLE %1$I.ks_sale (id int PRIMARY KEY, shop_code varchar(10) REFERENCES %1$I.ks_shop,
                                 tdm_release text, tdm_feature text)$t$, s);
  END $f$;
  SELECT pg_temp.make_env('tap_ks_e1'), pg_temp.make_env('tap_ks_e2');
  INSERT INTO tap_ks_e1.ks_customer VALUES (1, 'carol@x', 'Carol One', 'TKS1', 'F');
  INSERT INTO tap_ks_e1.ks_order VALUES (10, 'CAROL@X', 'TKS1', 'F'), (11, 'carol@x', 'TKS1', 'F');
  INSERT INTO tap_ks_e2.ks_customer VALUES (7, 'Carol@X', 'Carol Two', 'TKS1', 'F');
  INSERT INTO tap_ks_e2.ks_order VALUES (20, 'CAROL@X', 'TKS1', 'F');
  INSERT INTO tap_ks_e1.ks_product VALUES (1.5, 'S1', 'Widget one', 'TKS1', 'F');
  INSERT INTO tap_ks_e1.ks_item VALUES (10, 1.5, 'TKS1', 'F'), (11, 1.50, 'TKS1', 'F');
  INSERT INTO tap_ks_e2.ks_product VALUES (1.5, 'S2', 'Widget two', 'TKS1', 'F');
  INSERT INTO tap_ks_e2.ks_item VALUES (20, 1.500, 'TKS1', 'F');
  -- (a line's key includes its product's; a node's tree is its parent's)
  INSERT INTO tap_ks_e1.ks_line VALUES (1.5, 1, 10, 'TKS1', 'F');
  INSERT INTO tap_ks_e2.ks_line VALUES (1.500, 1, 20, 'TKS1', 'F');
  INSERT INTO tap_ks_e1.ks_node VALUES (1.5, 2, NULL, 'X', 'ks1 root two', 'TKS1', 'F');
  INSERT INTO tap_ks_e2.ks_node VALUES (1.5, 1, NULL, 'R', 'ks2 root', 'TKS1', 'F'),
                                       (1.50, 2, 1, 'M', 'ks2 mid', 'TKS1', 'F'),
                                       (1.500, 3, 2, 'L', 'ks2 leaf', 'TKS1', 'F');
  -- (two nodes each other's parent, spelled apart: spelling them takes
  -- turns until tdm gives up, with a NOTICE)
  INSERT INTO tap_ks_e1.ks_node VALUES (1.500, 5, NULL, 'P', 'ks1 loop five', 'TKS1', 'F'),
                                       (1.50, 6, 5, 'Q', 'ks1 loop six', 'TKS1', 'F');
  UPDATE tap_ks_e1.ks_node SET parent = 6 WHERE id = 5;
  -- (tags compared without case, their posts' own key with it)
  INSERT INTO tap_ks_e1.ks_tag VALUES ('Abc', 'TKS1', 'F');
  INSERT INTO tap_ks_e1.ks_post_tag VALUES ('ABC', 1, 'TKS1', 'F'), ('abc', 1, 'TKS1', 'F'), ('Abc', 2, 'TKS1', 'F');
  INSERT INTO tap_ks_e1.ks_shop VALUES ('AB', 'Shop AB', 'TKS1', 'F'), ('ABC', 'Shop ABC', 'TKS1', 'F');
  INSERT INTO tap_ks_e1.ks_sale VALUES (10, 'AB', 'TKS1', 'F'), (11, 'ABC', 'TKS1', 'F');
  -- (a later release's children: the environments are read once per
  -- transaction, at its first read)
  INSERT INTO tap_ks_e2.ks_order VALUES (21, 'CAROL@x', 'TKS2', 'G');
  INSERT INTO tap_ks_e1.ks_order VALUES (12, 'Carol@x', 'TKS2', 'G');
  INSERT INTO tap_ks_e2.ks_item VALUES (21, 1.500, 'TKS2', 'G');
  INSERT INTO tap_ks_e1.ks_item VALUES (12, 1.5000, 'TKS2', 'G');
  INSERT INTO tap_ks_e1.ks_note VALUES (10, 1.50, 1, 'TKS2', 'G');
  INSERT INTO tap_ks_e2.ks_note VALUES (20, 1.5000, 1, 'TKS2', 'G')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_ks_self');
CREATE EXTENSION IF NOT EXISTS citext SCHEMA public;
CREATE TABLE staging.ks_customer (id int PRIMARY KEY, email public.citext NOT NULL UNIQUE, name text NOT NULL,
                                  tdm_release text, tdm_feature text);
CREATE TABLE staging.ks_order (id int PRIMARY KEY, customer_email public.citext REFERENCES staging.ks_customer (email),
                               tdm_release text, tdm_feature text);
CREATE TABLE staging.ks_product (id numeric(10,2) PRIMARY KEY, sku text NOT NULL UNIQUE, name text NOT NULL,
                                 tdm_release text, tdm_feature text);
CREATE TABLE staging.ks_item (id int PRIMARY KEY, product_id numeric REFERENCES staging.ks_product (id),
                              tdm_release text, tdm_feature text);
CREATE TABLE staging.ks_line (product_id numeric REFERENCES staging.ks_product, no int, qty int,
                              tdm_release text, tdm_feature text, PRIMARY KEY (product_id, no));
CREATE TABLE staging.ks_note (id int PRIMARY KEY, product_id numeric, no int, tdm_release text, tdm_feature text,
                              FOREIGN KEY (product_id, no) REFERENCES staging.ks_line);
CREATE TABLE staging.ks_node (tree numeric, id int, parent int, code text NOT NULL UNIQUE, label text,
                              tdm_release text, tdm_feature text,
                              PRIMARY KEY (tree, id), FOREIGN KEY (tree, parent) REFERENCES staging.ks_node);
CREATE TABLE staging.ks_tag (name text COLLATE public.tap_ks_ci PRIMARY KEY, tdm_release text, tdm_feature text);
CREATE TABLE staging.ks_post_tag (tag_name text COLLATE "C" REFERENCES staging.ks_tag, post_id int,
                                  tdm_release text, tdm_feature text, PRIMARY KEY (tag_name, post_id));
CREATE TABLE staging.ks_shop (code char(5) PRIMARY KEY, name text NOT NULL, tdm_release text, tdm_feature text);
CREATE TABLE staging.ks_sale (id int PRIMARY KEY, shop_code varchar(10) REFERENCES staging.ks_shop,
                              tdm_release text, tdm_feature text);
SELECT tdm.add_environment('ks1', 'tap_ks_self', 10, 'tap_ks_e1'),
       tdm.add_environment('ks2', 'tap_ks_self', 20, 'tap_ks_e2');
SELECT tdm.manage_table('staging.ks_customer', '{email}', core_columns => '{name}', normalize_keys => true),
       tdm.manage_table('staging.ks_order'),
       tdm.manage_table('staging.ks_product', '{sku}', core_columns => '{name}'),
       tdm.manage_table('staging.ks_item'), tdm.manage_table('staging.ks_line'), tdm.manage_table('staging.ks_note'),
       tdm.manage_table('staging.ks_node', '{code}', core_columns => '{label}'),
       tdm.manage_table('staging.ks_tag'), tdm.manage_table('staging.ks_post_tag'),
       tdm.manage_table('staging.ks_shop'), tdm.manage_table('staging.ks_sale');
SELECT tdm.create_release('TKS1'), tdm.add_feature('TKS1', 'F', 1),
       tdm.create_release('TKS2', parent => 'TKS1'), tdm.add_feature('TKS2', 'G', 1);
SELECT tdm.tag_release('TKS1'), tdm.consolidate('TKS1');
CREATE ROLE tap_ks_approver;
GRANT tdm_reviewer TO tap_ks_approver;

SELECT is((SELECT related FROM tdm.review_queue WHERE rel = 'staging.ks_customer'::regclass),
  '{"staging.ks_order": {"ks1": 2, "ks2": 1}}'::jsonb,
  'orders whose citext email differs in case from their customer''s are its related rows');
SELECT is((SELECT related -> 'staging.ks_item' FROM tdm.review_queue WHERE rel = 'staging.ks_product'::regclass),
  '{"ks1": 2, "ks2": 1}'::jsonb,
  'items whose numeric key differs in scale from their product''s are its related rows');

-- Carol deleted: all three orders lose their customer.
SAVEPOINT deleted;
SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'not test data')
  FROM tdm.review_queue WHERE rel = 'staging.ks_customer'::regclass;
SET SESSION AUTHORIZATION tap_ks_approver;
SELECT tdm.approve(conflict_id) FROM tdm.decision;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TKS1');
SELECT is((SELECT count(*) FROM tdm.review_queue WHERE rel = 'staging.ks_order'::regclass AND kind = 'relationship'),
  3::bigint, 'each order of a deleted customer is a relationship conflict, however it spells her email');
ROLLBACK TO SAVEPOINT deleted;

-- ks2's Carol and Widget get keys of their own: their children follow.
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"ks2": {"email": "carol2@x"}}', rationale => 'two people')
  FROM tdm.review_queue WHERE rel = 'staging.ks_customer'::regclass;
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"ks2": {"id": 9}}', rationale => 'two products')
  FROM tdm.review_queue WHERE rel = 'staging.ks_product'::regclass;
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"ks2": {"id": 20}}', rationale => 'two nodes')
  FROM tdm.review_queue WHERE rel = 'staging.ks_node'::regclass;
SET SESSION AUTHORIZATION tap_ks_approver;
SELECT tdm.approve(conflict_id) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TKS1');
SELECT is((SELECT status FROM tdm.run WHERE release = 'TKS1'), 'completed', 'the run completes');
SELECT results_eq(
  $$SELECT o.id, c.name FROM staging.ks_order o JOIN staging.ks_customer c ON c.email = o.customer_email ORDER BY 1$$,
  $$VALUES (10, 'Carol One'), (11, 'Carol One'), (20, 'Carol Two')$$,
  'each order references the customer of its environment');
SELECT results_eq(
  $$SELECT i.id, p.name FROM staging.ks_item i JOIN staging.ks_product p ON p.id = i.product_id ORDER BY 1$$,
  $$VALUES (10, 'Widget one'), (11, 'Widget one'), (20, 'Widget two')$$,
  'each item references the product of its environment');

SELECT results_eq(
  $$SELECT c.label, p.label FROM staging.ks_node c JOIN staging.ks_node p ON p.tree = c.tree AND p.id = c.parent
     ORDER BY 1$$,
  $$VALUES ('ks1 loop five', 'ks1 loop six'), ('ks1 loop six', 'ks1 loop five'),
           ('ks2 leaf', 'ks2 mid'), ('ks2 mid', 'ks2 root')$$,
  'a tree''s rows follow their parents down the levels of the tree, and a loop of them loads as it is');
SELECT results_eq($$SELECT tag_name::text COLLATE "C", post_id FROM staging.ks_post_tag ORDER BY 1, 2$$,
  $$VALUES ('ABC'::text COLLATE "C", 1), ('Abc', 2), ('abc', 1)$$,
  'rows the child''s own key tells apart keep their spellings, and are all loaded');
SELECT results_eq($$SELECT s.id, p.name FROM staging.ks_sale s JOIN staging.ks_shop p ON p.code = s.shop_code ORDER BY 1$$,
  $$VALUES (10, 'Shop AB'), (11, 'Shop ABC')$$,
  'a varchar reference to a char(5) key is compared whole');

-- A later release brings children alone, spelled otherwise again: they
-- are translated through the first release's key map.
SELECT tdm.tag_release('TKS2'), tdm.consolidate('TKS2');
SELECT results_eq(
  $$SELECT o.id, c.name FROM staging.ks_order o JOIN staging.ks_customer c ON c.email = o.customer_email
     WHERE o.id IN (12, 21) UNION ALL
    SELECT i.id + 100, p.name FROM staging.ks_item i JOIN staging.ks_product p ON p.id = i.product_id
     WHERE i.id IN (12, 21) ORDER BY 1$$,
  $$VALUES (12, 'Carol One'), (21, 'Carol Two'), (112, 'Widget one'), (121, 'Widget two')$$,
  'a later release''s children follow the keys the first one gave');
SELECT results_eq(
  $$SELECT n.id, l.qty FROM staging.ks_note n JOIN staging.ks_line l USING (product_id, no) ORDER BY 1$$,
  $$VALUES (10, 10), (20, 20)$$,
  'and through a key that includes a re-keyed parent''s, as the first release spelled it');

-- A renamed key that another release's row holds, in another case: the
-- check compares with citext's own equality (a bare = under tdm's
-- search_path compared them as text, and took the rename).
CREATE TABLE staging.ks_member (id int PRIMARY KEY, email public.citext NOT NULL UNIQUE,
                                tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.ks_member', '{email}');
INSERT INTO staging.ks_member VALUES (1, 'carol@x', 'TKS0', 'F');
SELECT is(tdm._key_holder('staging.ks_member', '{email}', '{"email": "Carol@X"}', 'TKS9'),
          'release TKS0''s row in staging.ks_member',
          'a rename to another release''s citext key in another case is taken');
-- (a row of no release, an application's insert: said so, p300)
INSERT INTO staging.ks_member VALUES (2, 'dan@x', NULL, NULL);
SELECT is(tdm._key_holder('staging.ks_member', '{email}', '{"email": "dan@x"}', 'TKS9'),
          'an untagged row in staging.ks_member', 'a key an untagged row holds is taken by an untagged row');
-- Masked as detection compares it: case aside, not its blanks
-- (' ZED@x' and 'zed@x' are two citext values, and stay two).
SELECT is(tdm._mask_folded('staging.ks_member', 'email', 'x.email'), 'pg_catalog.lower((x.email)::text)',
          'a citext key is hashed lower-cased, not trimmed');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_ks_e1, tap_ks_e2 CASCADE;
DROP EXTENSION IF EXISTS citext;
DROP COLLATION IF EXISTS public.tap_ks_ci;
