-- The order every stage works the managed tables in (decision 452):
-- parents first, whatever order they were managed in; a reference cycle
-- entered at the table whose natural key tells rows apart; and the C
-- function behind it refuses arrays that do not pair up or name a table
-- outside its list.
BEGIN;
SELECT plan(5);
SET client_min_messages = error;

CREATE SCHEMA tap_to;
CREATE TABLE tap_to.line (id int PRIMARY KEY, order_id int, tdm_release text, tdm_feature text);
CREATE TABLE tap_to.ord (id int PRIMARY KEY, customer_id int, tdm_release text, tdm_feature text);
CREATE TABLE tap_to.customer (id int PRIMARY KEY, email text UNIQUE, tdm_release text, tdm_feature text);
ALTER TABLE tap_to.line ADD FOREIGN KEY (order_id) REFERENCES tap_to.ord;
ALTER TABLE tap_to.ord ADD FOREIGN KEY (customer_id) REFERENCES tap_to.customer;
-- (a cycle: a crew's lead is one of its members; the crew sorts first by name)
CREATE TABLE tap_to.crew (id int PRIMARY KEY, lead_id int, tdm_release text, tdm_feature text);
CREATE TABLE tap_to.member (id int PRIMARY KEY, crew_id int REFERENCES tap_to.crew, email text UNIQUE,
                            tdm_release text, tdm_feature text);
ALTER TABLE tap_to.crew ADD FOREIGN KEY (lead_id) REFERENCES tap_to.member;
SELECT tdm.manage_table('tap_to.line'), tdm.manage_table('tap_to.ord'), tdm.manage_table('tap_to.customer', '{email}'),
       tdm.manage_table('tap_to.crew'), tdm.manage_table('tap_to.member', '{email}');

SELECT results_eq($$SELECT rel::text FROM tdm._table_order() WHERE rel::text LIKE 'tap_to.%' ORDER BY step$$,
                  ARRAY['tap_to.customer', 'tap_to.ord', 'tap_to.line', 'tap_to.member', 'tap_to.crew'],
                  'parents first; the cycle last, entered at the member, whose email tells rows apart');
SELECT is((SELECT count(*) FROM tdm._table_order()), (SELECT count(*) FROM tdm.managed_table),
          'every managed table once');
SELECT is(tdm._order_tables('{1,2}', '{}', '{}', '{}', '{}', '{}'), '{1,2}'::oid[],
          'tables without references keep their order');
SELECT throws_ok($$SELECT tdm._order_tables('{1,2}', '{1}', '{}', '{}', '{}', '{}')$$, '22023',
                 'table order: children and parents must pair up', 'arrays that do not pair up are refused');
SELECT throws_ok($$SELECT tdm._order_tables('{1,2}', '{1}', '{3}', '{}', '{}', '{}')$$, '22023',
                 'table order: a reference names a table not in the list', 'a table outside the list is refused');

SELECT * FROM finish();
ROLLBACK;
