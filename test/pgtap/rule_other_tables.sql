-- A business rule over other rows: an invoice's total is the sum of its
-- lines. The row is named by its table's name inside the subquery, and
-- the lines are named bare: the target as the load will leave it (the
-- release's consolidated lines, which the target does not hold yet, and
-- its rows of other releases). Invoice 2 says 9.99 for one line of 0.99.
BEGIN;
SELECT plan(9);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_ro_e1;
  CREATE TABLE tap_ro_e1.ro_invoice (invoice_id int PRIMARY KEY, total numeric(10,2) NOT NULL, tdm_release text,
                                     tdm_feature text);
  CREATE TABLE tap_ro_e1.ro_line (line_id int PRIMARY KEY, invoice_id int NOT NULL REFERENCES tap_ro_e1.ro_invoice,
                                  amount numeric(10,2) NOT NULL, tdm_release text, tdm_feature text);
  INSERT INTO tap_ro_e1.ro_invoice VALUES (1, 0.99, 'TRO', 'F'), (2, 9.99, 'TRO', 'F');
  INSERT INTO tap_ro_e1.ro_line VALUES (1, 1, 0.99, 'TRO', 'F'), (2, 2, 0.99, 'TRO', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_ro_self');
CREATE SCHEMA tap_ro;
CREATE TABLE tap_ro.ro_invoice (invoice_id int PRIMARY KEY, total numeric(10,2) NOT NULL, tdm_release text,
                                tdm_feature text);
CREATE TABLE tap_ro.ro_line (line_id int PRIMARY KEY, invoice_id int NOT NULL REFERENCES tap_ro.ro_invoice,
                             amount numeric(10,2) NOT NULL, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('ro1', 'tap_ro_self', 10, 'tap_ro_e1');
SELECT tdm.manage_table('tap_ro.ro_invoice'), tdm.manage_table('tap_ro.ro_line');
SELECT tdm.create_release('TRO'), tdm.add_feature('TRO', 'F', 1);

SELECT lives_ok($$SELECT tdm.add_rule('total_is_lines', 'tap_ro.ro_invoice',
  'total = (SELECT sum(l.amount) FROM ro_line l WHERE l.invoice_id = ro_invoice.invoice_id)')$$,
  'a rule names another managed table bare and its row by the table''s name');
SELECT is((SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema() AND relkind = 'v'), 0::bigint,
  'adding it leaves no view behind');
SELECT tdm.tag_release('TRO');
-- (a temporary table of the session under a rule's table's name would be
-- read in its place)
CREATE TEMP TABLE ro_line (line_id int);
SELECT throws_ok($$SELECT tdm.consolidate('TRO', 'tap_ro')$$, '42P07',
  'the temporary table ro_line of this session hides managed table tap_ro.ro_line from the business rules that name it',
  'a temporary table that would hide a rule''s table is refused');
DROP TABLE pg_temp.ro_line;
SELECT tdm.consolidate('TRO', 'tap_ro') AS run \gset
SELECT results_eq($$SELECT rel::text, kind, row_key ->> 'key' FROM tdm.violation$$,
  $$VALUES ('tap_ro.ro_invoice', 'rule', '{"invoice_id": 2}')$$,
  'the invoice whose lines do not add up is found, against the release''s own lines');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'invalid', 'nothing is loaded');
SELECT throws_ok($$SELECT tdm.add_rule('bad', 'tap_ro.ro_invoice', 'total = (SELECT sum(amount) FROM tap_ro_e1.nowhere)')$$,
  '42P01', NULL, 'a table that does not exist is still refused');

-- Unmanaging the table a rule of another table reads (ro_line, bare)
-- would break that rule at the next consolidation: refused, naming it,
-- and nothing changes.
SELECT throws_ok($$SELECT tdm.unmanage_table('tap_ro.ro_line')$$, '2BP01',
  'unmanage_table: rule "total_is_lines" on tap_ro.ro_invoice reads tap_ro.ro_line: relation "ro_line" does not exist',
  'a table another table''s rule reads is not unmanaged under it');
SELECT ok(EXISTS (SELECT FROM tdm.managed_table WHERE rel = 'tap_ro.ro_line'::regclass), 'and it stays managed');

-- The views are temporary: a role that may not create temporary objects
-- in the database is told so, not PostgreSQL's bare permission error.
CREATE ROLE tap_ro_admin;
GRANT tdm_admin TO tap_ro_admin;
GRANT USAGE ON SCHEMA tap_ro TO tap_ro_admin;
GRANT SELECT ON ALL TABLES IN SCHEMA tap_ro TO tap_ro_admin;
SELECT format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database()) \gexec
SET ROLE tap_ro_admin;
SELECT throws_ok($$SELECT tdm.add_rule('lines_exist', 'tap_ro.ro_invoice',
  'EXISTS (SELECT FROM ro_line l WHERE l.invoice_id = ro_invoice.invoice_id)')$$, '42501',
  format('business rules name managed table tap_ro.ro_invoice, and tap_ro_admin may not create the temporary view they read it through in database %s',
         current_database()),
  'without TEMPORARY on the database, a rule naming another table is refused, saying which privilege');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_ro_e1 CASCADE;
