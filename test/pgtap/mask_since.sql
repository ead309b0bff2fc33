-- A natural key masked after a release was loaded: the next release's
-- order references that release's customer, whose email the environment
-- now gives masked while master holds it as it was loaded. The refusal
-- names the mask as the cause, not a reset of the environment's keys, and
-- its way out (removing the mask) consolidates without a second customer.
BEGIN;
SELECT plan(6);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = error;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_ms_e1;
  CREATE TABLE tap_ms_e1.ms_customer (id int PRIMARY KEY, email text NOT NULL UNIQUE,
                                      tdm_release text, tdm_feature text);
  CREATE TABLE tap_ms_e1.ms_order (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES tap_ms_e1.ms_customer,
                                   tdm_release text, tdm_feature text);
  INSERT INTO tap_ms_e1.ms_customer VALUES (1, 'ann@corp.test', 'MS1', 'F');
  INSERT INTO tap_ms_e1.ms_order VALUES (10, 1, 'MS2', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_ms_self');
CREATE SCHEMA tap_ms;
CREATE TABLE tap_ms.ms_customer (id int PRIMARY KEY, email text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
CREATE TABLE tap_ms.ms_order (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES tap_ms.ms_customer,
                              tdm_release text, tdm_feature text);
SELECT tdm.add_environment('ms1', 'tap_ms_self', 10, 'tap_ms_e1');
SELECT tdm.manage_table('tap_ms.ms_customer', '{email}'), tdm.manage_table('tap_ms.ms_order');
SELECT tdm.create_release('MS1'), tdm.add_feature('MS1', 'F', 1);
SELECT tdm.create_release('MS2', parent => 'MS1'), tdm.add_feature('MS2', 'F', 1);
SELECT tdm.tag_release('MS1');
SELECT tdm.consolidate('MS1', 'tap_ms');
SELECT tdm.promote('MS1', 'tap_ms');
SELECT tdm.mask_column('tap_ms.ms_customer', 'email', 'email');
SELECT tdm.tag_release('MS2');

SAVEPOINT masked;
SELECT throws_like($$SELECT tdm.consolidate('MS2', 'tap_ms')$$,
  'consolidate: the row of tap_ms.ms_customer with key (1) in environment ms1 no longer matches the row release MS1 loaded: its natural key was masked since',
  'a natural key masked since the referenced release was loaded is named as the cause');
ROLLBACK TO SAVEPOINT masked;
SELECT matches((pg_temp.error_of($$SELECT tdm.consolidate('MS2', 'tap_ms')$$)).detail,
  '^Rows of this release reference it\. Masked since release MS1 was loaded: email \(email, declared [0-9: -]+\)\. The loaded row holds \{"email": "ann@corp\.test"\}, the environment''s row is collected as \{"email": "u[0-9a-f]+@example\.com"\}',
  'its DETAIL shows the loaded value and the masked one');
SELECT matches(pg_temp.hint_of($$SELECT tdm.consolidate('MS2', 'tap_ms')$$),
  'Remove it \(SELECT tdm\.unmask_column\(''tap_ms\.ms_customer'', ''email''\);\) and consolidate again',
  'its HINT gives the call that removes the mask');
SELECT is((SELECT count(*) FROM tap_ms.ms_order), 0::bigint, 'nothing is loaded');

-- The way out the HINT gives.
SELECT tdm.unmask_column('tap_ms.ms_customer', 'email');
SELECT tdm.consolidate('MS2', 'tap_ms');
SELECT results_eq($$SELECT o.id, c.id, c.email FROM tap_ms.ms_order o JOIN tap_ms.ms_customer c ON c.id = o.customer_id$$,
  $$VALUES (10, 1, 'ann@corp.test')$$, 'unmasked again, the order loads on the customer MS1 loaded');
SELECT is((SELECT count(*) FROM tap_ms.ms_customer), 1::bigint, 'and the customer is not loaded twice');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_ms_e1 CASCADE;
