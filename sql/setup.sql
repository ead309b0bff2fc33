-- Setup of a release, as a DBA does it in psql (docs/user-guide.md).
-- The scenario built st1..st3 and the servers st1..st3 over loopback.
\set SHOW_CONTEXT never

-- Environments: one postgres_fdw server each; lower precedence wins ties.
SELECT tdm.add_environment('st1', 'st1', precedence => 10);
SELECT tdm.add_environment('st2', 'st2', precedence => 20);
SELECT tdm.add_environment('st3', 'st3', 30, 'public');
SELECT name, server, precedence, remote_schema FROM tdm.environment ORDER BY precedence;

-- Before any table is managed, schema_diff has nothing to compare, and
-- says so (no rows alone would read as two environments alike).
SELECT * FROM tdm.schema_diff('st1', 'st2');

-- Target tables: primary and foreign keys come from the catalog.
SELECT tdm.manage_table('staging.users', natural_keys => '{email}',
                        updated_at_column => 'updated_at', core_columns => '{role}');
SELECT tdm.manage_table('staging.accounts', '{account_number}', 'updated_at');
SELECT tdm.manage_table('staging.transactions', updated_at_column => 'updated_at',
                        surrogate_key => true);
SELECT rel, pk_columns, natural_keys, updated_at_column, core_columns, release_column,
       feature_column, surrogate_key
  FROM tdm.managed_table ORDER BY rel::text;
SELECT rel, fk->>'name' AS constraint_name, fk->'columns' AS columns,
       fk->>'references' AS parent, fk->'ref_columns' AS parent_columns,
       fk->'not_null' AS not_null, fk->'deferrable' AS deferrable
  FROM tdm.managed_table, jsonb_array_elements(foreign_keys) AS fk ORDER BY 1, 2;

-- Registering again updates the registration (here: a composite natural key).
ALTER TABLE staging.users ADD COLUMN first_name text, ADD COLUMN last_name text;
SELECT tdm.manage_table('staging.users', '{email, " first_name , last_name "}', 'updated_at',
                        '{role}');
SELECT natural_keys FROM tdm.managed_table WHERE rel = 'staging.users'::regclass;
ALTER TABLE staging.users DROP COLUMN first_name, DROP COLUMN last_name;
-- A natural key that holds the whole primary key finds nothing the
-- primary key does not: registered, with a WARNING.
SELECT tdm.manage_table('staging.users', '{email, "email,user_id"}', 'updated_at', '{role}');
SELECT tdm.manage_table('staging.users', '{email}', 'updated_at', '{role}');

-- The release plan: R1 then R2 with its features (higher priority wins).
SELECT tdm.create_release('R1', 'v1.0');
SELECT tdm.create_release('R2', code_version => 'v2.0', parent => 'R1');
SELECT tdm.add_feature('R2', 'FEAT-101', 3);
SELECT tdm.add_feature('R2', 'FEAT-102', 2);
SELECT tdm.add_feature('R2', 'FEAT-104', 2);
SELECT tdm.add_feature('R2', 'FEAT-105', 1);
SELECT release, status, code_version, parent FROM tdm.release ORDER BY release;
SELECT release, feature, priority FROM tdm.feature ORDER BY release, priority DESC, feature;

-- Business rules, checked at validation.
SELECT tdm.add_rule('balance_not_negative', 'staging.accounts', 'balance >= 0');
SELECT tdm.add_rule('known_currency', 'staging.accounts', $$currency IN ('EUR', 'USD')$$,
                    severity => 'warning');
SELECT name, rel, predicate, severity FROM tdm.rule ORDER BY name;

-- Every call left one audit row, chained to the previous one (the tables'
-- OIDs, which vary, left out).
SELECT audit_id, action, object, detail - 'rel_oid' AS detail FROM tdm.audit ORDER BY audit_id;
SELECT count(*) AS broken_links FROM tdm.verify_audit();

-- Bad input: a schema tdm that exists before the extension, owned by an
-- ordinary role or holding objects of its own, is not taken over; an empty
-- one a superuser owns (left by DROP EXTENSION) is.
\set regress_db :DBNAME
CREATE DATABASE tdm_regress_schema;
\c tdm_regress_schema
SET client_min_messages = warning;
CREATE ROLE tdm_regress_schema_owner;
CREATE SCHEMA tdm AUTHORIZATION tdm_regress_schema_owner;
CREATE EXTENSION tdm CASCADE;
ALTER SCHEMA tdm OWNER TO CURRENT_USER;
GRANT CREATE ON SCHEMA tdm TO tdm_regress_schema_owner;
CREATE EXTENSION tdm CASCADE;
REVOKE CREATE ON SCHEMA tdm FROM tdm_regress_schema_owner;
GRANT CREATE ON SCHEMA tdm TO PUBLIC;
CREATE EXTENSION tdm CASCADE;
REVOKE CREATE ON SCHEMA tdm FROM PUBLIC;
CREATE COLLATION tdm.planted (provider = libc, locale = 'C');
CREATE EXTENSION tdm CASCADE;
DROP COLLATION tdm.planted;
CREATE FUNCTION tdm.planted() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE EXTENSION tdm CASCADE;
DROP FUNCTION tdm.planted();
-- (nor one of its other schemas, which it makes and drops with itself)
CREATE SCHEMA tdm_archive AUTHORIZATION tdm_regress_schema_owner;
CREATE EXTENSION tdm CASCADE;
DROP SCHEMA tdm_archive;
CREATE EXTENSION tdm CASCADE;
SELECT count(*) > 0 AS installed FROM pg_proc WHERE pronamespace = 'tdm'::regnamespace;
\c :regress_db
DROP DATABASE tdm_regress_schema;
DROP ROLE tdm_regress_schema_owner;
-- A consolidation database in LATIN1: names are checked there as well
-- (for what that encoding can hold).
CREATE DATABASE tdm_regress_latin1 ENCODING 'LATIN1' TEMPLATE template0 LOCALE 'C';
\c tdm_regress_latin1
SET client_min_messages = warning;
CREATE EXTENSION tdm CASCADE;
SELECT tdm.create_release('R1'), tdm.add_feature('R1', 'F1', 1) \gset
SELECT count(*) AS features_of_r1 FROM tdm.feature WHERE release = 'R1';
\c :regress_db
DROP DATABASE tdm_regress_latin1;
-- A natural key generated from the primary key, or drawn from a
-- sequence, is as local to each environment as the key: a WARNING.
CREATE DATABASE tdm_regress_keys;
\c tdm_regress_keys
SET client_min_messages = warning;
CREATE EXTENSION tdm CASCADE;
CREATE SCHEMA staging;
CREATE SEQUENCE staging.account_seq;
CREATE TABLE staging.orders (id int PRIMARY KEY, order_number text GENERATED ALWAYS AS ('SO' || id) STORED,
                             account_number text NOT NULL DEFAULT 'AW' || nextval('staging.account_seq'),
                             purchase_order text UNIQUE, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.orders', '{order_number}');
SELECT tdm.manage_table('staging.orders', '{account_number}');
SELECT tdm.manage_table('staging.orders', '{purchase_order}');
-- A natural key narrower than a unique key of the table (a flight number
-- flies on several days): rows that share it would be merged. Most often
-- the slip of writing one group's columns as two elements: a WARNING with
-- the one-group spelling. None where the key is unique itself, or
-- registered as one group.
CREATE TABLE staging.flight (flight_id serial PRIMARY KEY, flight_no text NOT NULL,
                             scheduled_departure timestamptz NOT NULL, code text UNIQUE,
                             UNIQUE (flight_no, scheduled_departure), tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.flight', '{flight_no, scheduled_departure}');
SELECT tdm.manage_table('staging.flight', '{code,flight_no}');
SELECT tdm.manage_table('staging.flight', '{code,"flight_no,scheduled_departure"}');
-- Only the narrower keys are replaced in the HINT (email, unique itself,
-- stays); none is narrower where a unique key lies within it (code, or
-- lower(email) with normalize_keys), nor against a unique key holding a
-- column drawn from a sequence, nor, of a partitioned table, against one
-- wider only by the partition key.
CREATE TABLE staging.member (id int PRIMARY KEY, email text UNIQUE, tenant text, UNIQUE (tenant, email),
                             tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.member', '{email, tenant}');
CREATE TABLE staging.item (id int PRIMARY KEY, code text UNIQUE, name text, x int, UNIQUE (code, name, x),
                           tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.item', '{"code,name"}');
CREATE TABLE staging.acct (id int PRIMARY KEY, email text, tenant text, UNIQUE (tenant, email),
                           tdm_release text, tdm_feature text);
CREATE UNIQUE INDEX ON staging.acct (lower(email));
SELECT tdm.manage_table('staging.acct', '{email}', normalize_keys => true);
CREATE TABLE staging.tick (id uuid PRIMARY KEY, tenant text, local_no serial, UNIQUE (tenant, local_no),
                           tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.tick', '{tenant}');
CREATE TABLE staging.sale (id int, order_no text, order_date date, tdm_release text, tdm_feature text,
                           PRIMARY KEY (id, order_date), UNIQUE (order_no, order_date)) PARTITION BY RANGE (order_date);
SELECT tdm.manage_table('staging.sale', '{order_no}');
\c :regress_db
DROP DATABASE tdm_regress_keys;
