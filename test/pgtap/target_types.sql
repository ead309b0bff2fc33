-- Master, when promote creates it, takes its columns' types from the
-- managed tables, not from the target promoted from: a staging copy made
-- from the application's script with its own schema's domain (and a
-- longer varchar, which the load assigns) loads and promotes, and master
-- then holds the managed tables' types (decision 406).
BEGIN;
SELECT plan(5);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_tt_e1;
  CREATE DOMAIN tap_tt_e1.name_t AS varchar(50);
  CREATE TABLE tap_tt_e1.tt_item (id int PRIMARY KEY, code varchar(20) NOT NULL UNIQUE, name tap_tt_e1.name_t,
                               tdm_release text, tdm_feature text);
  CREATE TABLE tap_tt_e1.tt_part (id int PRIMARY KEY, item_id int REFERENCES tap_tt_e1.tt_item, label tap_tt_e1.name_t,
                               tdm_release text, tdm_feature text);
  INSERT INTO tap_tt_e1.tt_item VALUES (1, 'A', 'alpha', 'TTT1', 'F'), (2, 'B', 'beta', 'TTT1', 'F');
  INSERT INTO tap_tt_e1.tt_part VALUES (1, 1, 'bolt', 'TTT1', 'F');
  CREATE TABLE tap_tt_e1.tt_zone (id int, region tap_tt_e1.name_t, tdm_release text, tdm_feature text,
                                  PRIMARY KEY (id, region)) PARTITION BY LIST (region);
  CREATE TABLE tap_tt_e1.tt_zone_eu PARTITION OF tap_tt_e1.tt_zone FOR VALUES IN ('eu');
  INSERT INTO tap_tt_e1.tt_zone VALUES (1, 'eu', 'TTT2', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_tt_self');
CREATE SCHEMA tap_tt;
CREATE DOMAIN tap_tt.name_t AS varchar(50);
CREATE TABLE tap_tt.tt_item (id int PRIMARY KEY, code varchar(20) NOT NULL UNIQUE, name tap_tt.name_t,
                          tdm_release text, tdm_feature text);
CREATE SCHEMA tap_tt2;
CREATE TABLE tap_tt2.tt_part (id int PRIMARY KEY, item_id int REFERENCES tap_tt.tt_item, label tap_tt.name_t,
                          tdm_release text, tdm_feature text);
-- (in two schemas, their target is staging: the copies, from the same
-- script there, with staging's own domain)
CREATE DOMAIN staging.tt_name_t AS varchar(50);
CREATE TABLE staging.tt_item (id int PRIMARY KEY, code varchar(40) NOT NULL UNIQUE, name staging.tt_name_t,
                                tdm_release text, tdm_feature text);
CREATE TABLE staging.tt_part (id int PRIMARY KEY, item_id int REFERENCES staging.tt_item,
                                label staging.tt_name_t, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('tt1', 'tap_tt_self', 10, 'tap_tt_e1');
SET client_min_messages = error;  -- (the managed tables' two schemas: told, staging is their target)
SELECT tdm.manage_table('tap_tt.tt_item', '{code}'), tdm.manage_table('tap_tt2.tt_part');
SET client_min_messages = warning;
SELECT tdm.create_release('TTT1'), tdm.add_feature('TTT1', 'F', 1);
SELECT tdm.tag_release('TTT1'), tdm.consolidate('TTT1');
DROP SCHEMA IF EXISTS master CASCADE;

SELECT lives_ok($$SELECT tdm.promote('TTT1')$$,
  'promote creates master from the copies and accepts it');
SELECT results_eq($$SELECT c.relname::text COLLATE "default", a.attname::text COLLATE "default", format_type(a.atttypid, a.atttypmod)
                      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                     WHERE c.relnamespace = 'master'::regnamespace AND c.relname IN ('tt_item', 'tt_part')
                       AND a.attname IN ('code', 'name', 'label') ORDER BY 1, 2$$,
  $$VALUES ('tt_item', 'code', 'character varying(20)'), ('tt_item', 'name', 'tap_tt.name_t'),
           ('tt_part', 'label', 'tap_tt.name_t')$$,
  'master holds the managed tables'' types, not the copies''');
SELECT results_eq($$SELECT i.code::text, i.name::text, p.label::text
                      FROM master.tt_item i LEFT JOIN master.tt_part p ON p.item_id = i.id ORDER BY i.code$$,
  $$VALUES ('A', 'alpha', 'bolt'), ('B', 'beta', NULL)$$,
  'the release''s rows are in master');
SELECT results_eq($$SELECT count(*)::int FROM pg_constraint c
                     WHERE c.conrelid = 'master.tt_part'::regclass AND c.contype = 'f'
                       AND c.confrelid = 'master.tt_item'::regclass$$,
  $$VALUES (1)$$, 'master''s reference points at master''s own table, over the retyped key');

-- A column PostgreSQL will not retype in place (a partition key here) is
-- refused by name, with the way to create the table by hand, not with
-- PostgreSQL's error alone.
CREATE TABLE tap_tt.tt_zone (id int, region tap_tt.name_t, tdm_release text, tdm_feature text,
                             PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE tap_tt.tt_zone_eu PARTITION OF tap_tt.tt_zone FOR VALUES IN ('eu');
CREATE TABLE staging.tt_zone (id int, region staging.tt_name_t, tdm_release text, tdm_feature text,
                              PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE staging.tt_zone_eu PARTITION OF staging.tt_zone FOR VALUES IN ('eu');
SET client_min_messages = error;
SELECT tdm.manage_table('tap_tt.tt_zone');
SELECT tdm.create_release('TTT2', parent => 'TTT1'), tdm.add_feature('TTT2', 'F', 1);
SELECT tdm.tag_release('TTT2'), tdm.consolidate('TTT2');
SET client_min_messages = warning;
SELECT throws_ok($$SELECT tdm.promote('TTT2')$$, '42804',
  'promote: master.tt_zone cannot be created with the types of the managed table tap_tt.tt_zone: cannot alter column "region" because it is part of the partition key of relation "tt_zone"',
  'a partition key of another type is refused by name');

SELECT * FROM finish();
ROLLBACK;
-- (After the transaction: until then, its foreign scans' remote
-- transaction holds the tables.)
SET client_min_messages = warning;
DROP SCHEMA tap_tt_e1 CASCADE;
