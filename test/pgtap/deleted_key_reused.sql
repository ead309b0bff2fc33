-- A child whose reference was translated to another environment's row
-- is no orphan of a deleted row that had that key in its own
-- environment. Here e3's customer 23 (cust42) is deleted by a decision,
-- and e3's customer 55 (cust49) is merged into e1's row, whose key is 23:
-- e3's subscription to customer 55 now says 23, and names e1's row, not
-- the deleted one. No relationship conflict; the subscription loads with
-- its customer.
BEGIN;
SELECT plan(5);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  SET session_replication_role = replica;
  CREATE SCHEMA tap_dk_e1;
  CREATE SCHEMA tap_dk_e2;
  CREATE SCHEMA tap_dk_e3;
  CREATE TABLE tap_dk_e1.dk_customer (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text,
                                      tdm_release text, tdm_feature text);
  CREATE TABLE tap_dk_e1.dk_subscription (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES tap_dk_e1.dk_customer,
                                          code text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
  CREATE TABLE tap_dk_e2.dk_customer (LIKE tap_dk_e1.dk_customer INCLUDING ALL);
  CREATE TABLE tap_dk_e2.dk_subscription (LIKE tap_dk_e1.dk_subscription INCLUDING ALL);
  CREATE TABLE tap_dk_e3.dk_customer (LIKE tap_dk_e1.dk_customer INCLUDING ALL);
  CREATE TABLE tap_dk_e3.dk_subscription (LIKE tap_dk_e1.dk_subscription INCLUDING ALL);
  INSERT INTO tap_dk_e1.dk_customer VALUES (23, 'c49@x', 'Ann', 'TDK', 'F');
  INSERT INTO tap_dk_e2.dk_customer VALUES (23, 'c42@x', 'Bob', 'TDK', 'F');
  INSERT INTO tap_dk_e3.dk_customer VALUES (23, 'c42@x', 'Robert', 'TDK', 'F'), (55, 'c49@x', 'Anne', 'TDK', 'F');
  INSERT INTO tap_dk_e3.dk_subscription VALUES (27, 55, 'SUB-49', 'TDK', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_dk_self');
CREATE SCHEMA tap_dk;
CREATE TABLE tap_dk.dk_customer (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text,
                                 tdm_release text, tdm_feature text);
CREATE TABLE tap_dk.dk_subscription (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES tap_dk.dk_customer,
                                     code text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('dk1', 'tap_dk_self', 10, 'tap_dk_e1'), tdm.add_environment('dk2', 'tap_dk_self', 20, 'tap_dk_e2'),
       tdm.add_environment('dk3', 'tap_dk_self', 30, 'tap_dk_e3');
SELECT tdm.manage_table('tap_dk.dk_customer', '{email}', core_columns => '{name}', surrogate_key => true),
       tdm.manage_table('tap_dk.dk_subscription', '{code}', surrogate_key => true);
SELECT tdm.create_release('TDK'), tdm.add_feature('TDK', 'F', 1);
SELECT tdm.tag_release('TDK');
CREATE ROLE tap_dk_approver;
GRANT tdm_reviewer TO tap_dk_approver;

SELECT tdm.consolidate('TDK', 'tap_dk') AS run \gset
SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'cust42 is junk')
  FROM tdm.conflict WHERE run_id = :run AND members::text LIKE '%c42@x%';
SELECT tdm.resolve(conflict_id, 'keep', 'dk1', rationale => 'cust49 as dk1 has her')
  FROM tdm.conflict WHERE run_id = :run AND members::text LIKE '%c49@x%';
SET SESSION AUTHORIZATION tap_dk_approver;
SELECT count(tdm.approve(conflict_id)) FROM tdm.decision WHERE approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TDK', 'tap_dk');

SELECT is((SELECT count(*)::int FROM tdm.conflict WHERE run_id = :run AND kind = 'relationship'), 0,
  'a subscription translated to dk1''s customer 23 is no orphan of dk3''s deleted customer 23');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'the run completes');
SELECT results_eq($$SELECT s.code, c.email, c.name FROM tap_dk.dk_subscription s JOIN tap_dk.dk_customer c
                      ON c.id = s.customer_id$$,
  $$VALUES ('SUB-49', 'c49@x', 'Ann')$$, 'the subscription loads with the customer it was merged into');
SELECT is((SELECT count(*)::int FROM tap_dk.dk_customer WHERE email = 'c42@x'), 0, 'the deleted customer is gone');
-- (what each customer's rows carry along: the subscription is cust49's,
-- counted once the decisions applied)
SELECT results_eq(format($$SELECT c.members::text LIKE '%%c42@x%%', coalesce(c.related, '{}')
                             FROM tdm.conflict c WHERE c.run_id = %s ORDER BY 1, 2::text$$, :run),
  $$VALUES (false, '{"tap_dk.dk_subscription": {"dk3": 1}}'::jsonb), (true, '{}'::jsonb), (true, '{}'::jsonb)$$,
  'the subscription is counted for the customer it references, not for the deleted one of the same key');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_dk_e1, tap_dk_e2, tap_dk_e3 CASCADE;
