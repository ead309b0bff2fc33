-- tdm.find_pii by column names: a name says nothing of a boolean
-- (email_verified) nor of a number that is a key named an id
-- (address_id); it still points at text columns (street) and at phone
-- numbers kept as numbers, a key among them (msisdn), and at a medical
-- record number (mrn), and at the people a card or a payment names
-- (cardholder, payee_name), with names spelt with blanks ("Full Name",
-- "born date").
BEGIN;
SELECT plan(2);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_pn_e1;
  CREATE TABLE tap_pn_e1.address (address_id int PRIMARY KEY, street text, tdm_release text, tdm_feature text);
  CREATE TABLE tap_pn_e1.customer (customer_id int PRIMARY KEY, address_id int REFERENCES tap_pn_e1.address,
                                   email_verified bool, mobile_phone bigint, note text, mrn text,
                                   cardholder text, payee_name text, "Full Name" text, "born date" date,
                                   tdm_release text, tdm_feature text);
  CREATE TABLE tap_pn_e1.subscriber (msisdn bigint PRIMARY KEY, login varchar(10) UNIQUE, tdm_release text,
                                     tdm_feature text);
  INSERT INTO tap_pn_e1.address VALUES (1, 'Main Street 1', 'TPN', 'F');
  INSERT INTO tap_pn_e1.customer VALUES (1, 1, true, 447700900123, 'x', 'M-0042', 'Dave Dunn', 'Ed Eaves', 'Flo Fry', '1970-01-01', 'TPN', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_pn_self');
CREATE SCHEMA tap_pn;
CREATE TABLE tap_pn.address (address_id int PRIMARY KEY, street text, tdm_release text, tdm_feature text);
CREATE TABLE tap_pn.customer (customer_id int PRIMARY KEY, address_id int REFERENCES tap_pn.address,
                              email_verified bool, mobile_phone bigint, note text, mrn text, cardholder text,
                              payee_name text, "Full Name" text, "born date" date, tdm_release text, tdm_feature text);
CREATE TABLE tap_pn.subscriber (msisdn bigint PRIMARY KEY, login varchar(10) UNIQUE, tdm_release text,
                                tdm_feature text);
SELECT tdm.add_environment('pn1', 'tap_pn_self', 10, 'tap_pn_e1');
SELECT tdm.manage_table('tap_pn.address'), tdm.manage_table('tap_pn.customer'),
       tdm.manage_table('tap_pn.subscriber');

SELECT results_eq($$SELECT rel::text, column_name, category FROM tdm.find_pii('pn1') ORDER BY 1, 2$$,
  $$VALUES ('tap_pn.address', 'street', 'address'), ('tap_pn.customer', 'Full Name', 'person_name'),
           ('tap_pn.customer', 'born date', 'date_of_birth'), ('tap_pn.customer', 'cardholder', 'person_name'),
           ('tap_pn.customer', 'mobile_phone', 'phone'), ('tap_pn.customer', 'mrn', 'medical_record'),
           ('tap_pn.customer', 'payee_name', 'person_name'), ('tap_pn.subscriber', 'msisdn', 'phone')$$,
  'the street, the phone numbers (a key among them), the medical record number, the names of a cardholder and a payee, names with blanks (a full name, a birth date); not the address key, nor the boolean named after an email');
-- A key too short for a hash that keeps values apart: said so, not sent
-- from one length to another.
SELECT throws_like($$SELECT tdm.mask_column('tap_pn.subscriber', 'login', 'hash')$$,
  '%login is part of a unique index tap_pn.subscriber_login_key, and character varying(10) holds no masked value of 16 characters or more%: widen the column%',
  'a unique column too short for a safe hash cannot be masked, and the error says why');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_pn_e1 CASCADE;
