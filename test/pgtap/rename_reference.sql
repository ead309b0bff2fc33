-- An order keyed (o_d_id, o_id), o_d_id also in its reference to the
-- customer (o_d_id, o_c_id): bob's January order in e1 and his February
-- order in e2 both have key (1, 1). The key collision asks for a new
-- o_id (the order's own column, not the district, which says whose it
-- is); a rename of o_d_id, which would move the order to zed, is refused.
BEGIN;
SELECT plan(8);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_rr_e1;
  CREATE SCHEMA tap_rr_e2;
  CREATE TABLE tap_rr_e1.rr_customer (c_d_id int, c_id int, email text NOT NULL UNIQUE, tdm_release text,
                                      tdm_feature text, PRIMARY KEY (c_d_id, c_id));
  CREATE TABLE tap_rr_e1.rr_order (o_d_id int, o_id int, o_c_id int NOT NULL, entered date NOT NULL,
                                   tdm_release text, tdm_feature text, PRIMARY KEY (o_d_id, o_id),
                                   FOREIGN KEY (o_d_id, o_c_id) REFERENCES tap_rr_e1.rr_customer);
  CREATE TABLE tap_rr_e2.rr_customer (LIKE tap_rr_e1.rr_customer INCLUDING ALL);
  CREATE TABLE tap_rr_e2.rr_order (LIKE tap_rr_e1.rr_order INCLUDING ALL);
  INSERT INTO tap_rr_e1.rr_customer VALUES (1, 1, 'bob@x', 'TRR', 'F'), (2, 1, 'zed@x', 'TRR', 'F');
  INSERT INTO tap_rr_e1.rr_order VALUES (1, 1, 1, '2026-01-03', 'TRR', 'F');
  INSERT INTO tap_rr_e2.rr_customer VALUES (1, 7, 'bob@x', 'TRR', 'F');
  INSERT INTO tap_rr_e2.rr_order VALUES (1, 1, 7, '2026-02-02', 'TRR', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_rr_self');
CREATE SCHEMA tap_rr;
CREATE TABLE tap_rr.rr_customer (c_d_id int, c_id int, email text NOT NULL UNIQUE, tdm_release text,
                                 tdm_feature text, PRIMARY KEY (c_d_id, c_id));
CREATE TABLE tap_rr.rr_order (o_d_id int, o_id int, o_c_id int NOT NULL, entered date NOT NULL,
                              tdm_release text, tdm_feature text, PRIMARY KEY (o_d_id, o_id),
                              FOREIGN KEY (o_d_id, o_c_id) REFERENCES tap_rr.rr_customer);
SELECT tdm.add_environment('rr1', 'tap_rr_self', 10, 'tap_rr_e1'), tdm.add_environment('rr2', 'tap_rr_self', 20, 'tap_rr_e2');
SELECT tdm.manage_table('tap_rr.rr_customer', '{email}'), tdm.manage_table('tap_rr.rr_order', surrogate_key => true);
SELECT tdm.create_release('TRR'), tdm.add_feature('TRR', 'F', 1);
SELECT tdm.tag_release('TRR'), tdm.consolidate('TRR', 'tap_rr') AS run \gset
SELECT conflict_id AS orders FROM tdm.review_queue WHERE rel = 'tap_rr.rr_order'::regclass \gset

SELECT is((SELECT suggestion FROM tdm.review_queue WHERE conflict_id = :'orders'),
          'keep all; give the row of rr2 a new o_id in renames => ''{"rr2": {"o_id": ...}}'' (o_d_id 1, o_id 1 stays with rr1)',
          'the suggestion renumbers the order''s own column');
SELECT throws_ok(format($$SELECT tdm.resolve(%L, 'keep_all', renames => '{"rr2": {"o_d_id": 2}}', rationale => 'x')$$, :'orders'),
  '22023', format('decision on %s: renames of rr2 set o_d_id, a column of the foreign key to tap_rr.rr_customer: the row would reference another row of it', :'orders'),
  'a rename of a foreign key''s column is refused');
SELECT is((SELECT (pg_temp.error_of(format($$SELECT tdm.resolve(%L, 'keep_all', renames => '{"rr2": {"o_d_id": 2}}', rationale => 'x')$$, :'orders'))).hint),
  'Rename a column of the row''s own key instead: o_id.', 'the HINT names the column to rename');
SELECT lives_ok(format($$SELECT tdm.resolve(%L, 'keep_all', renames => '{"rr2": {"o_d_id": 1, "o_id": 2}}', rationale => 'two orders')$$, :'orders'),
  'a rename that leaves the foreign key''s column as it is goes');
SELECT tdm.consolidate('TRR', 'tap_rr');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'the run completes');
SELECT results_eq($$SELECT o.entered, c.email FROM tap_rr.rr_order o JOIN tap_rr.rr_customer c
                     ON (c.c_d_id, c.c_id) = (o.o_d_id, o.o_c_id) ORDER BY 1$$,
                  $$VALUES ('2026-01-03'::date, 'bob@x'), ('2026-02-02', 'bob@x')$$,
                  'both orders are bob''s');


-- bob of rr2 (1, 7) was merged into (1, 1): unmanaged, the customers'
-- keys would no longer be translated for the orders that reference them.
SELECT throws_ok($$SELECT tdm.unmanage_table('tap_rr.rr_customer')$$, '55006',
  'unmanage_table: tap_rr.rr_customer is referenced by managed tables tap_rr.rr_order, and earlier runs gave rows of it other keys',
  'a parent whose rows the key map moved is not unmanaged under its managed children');
SELECT lives_ok($$SELECT tdm.unmanage_table('tap_rr.rr_order'), tdm.unmanage_table('tap_rr.rr_customer')$$,
  'children first, then the parent');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_rr_e1, tap_rr_e2 CASCADE;
