-- An environment a migration has not reached yet lacks a column the
-- target has. Its rows are read as that migration (ALTER TABLE .. ADD
-- COLUMN) would give them the column: NULL, or the column's default when
-- that is a constant. Tagging warns and locks; consolidation loads the
-- rows so, and migrated later as the target was, the environment's rows
-- still match the lock. A column the environment's rows cannot be given a value for
-- (a key, NOT NULL without a default, a default such as now()) stays an
-- error (decision 236).
BEGIN;
SELECT plan(15);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_mc_e1;
  CREATE SCHEMA tap_mc_e2;
  CREATE TABLE tap_mc_e1.mc_account (id int PRIMARY KEY, email text NOT NULL UNIQUE, nickname text,
                                     active bool NOT NULL DEFAULT true, tier text NOT NULL DEFAULT 'basic',
                                     tdm_release text, tdm_feature text);
  CREATE TABLE tap_mc_e1.mc_order (id int PRIMARY KEY, account_id int NOT NULL REFERENCES tap_mc_e1.mc_account,
                                   referrer_id int REFERENCES tap_mc_e1.mc_account, tdm_release text,
                                   tdm_feature text);
  -- (st2: before the migration that added nickname, active, tier and
  -- referrer_id)
  CREATE TABLE tap_mc_e2.mc_account (id int PRIMARY KEY, email text NOT NULL UNIQUE, tdm_release text,
                                     tdm_feature text);
  CREATE TABLE tap_mc_e2.mc_order (id int PRIMARY KEY, account_id int NOT NULL REFERENCES tap_mc_e2.mc_account,
                                   tdm_release text, tdm_feature text);
  CREATE TABLE tap_mc_e1.mc_event (id int PRIMARY KEY, kind text NOT NULL, at timestamptz NOT NULL DEFAULT now(),
                                   code varchar(3) DEFAULT 'abcd', n int NOT NULL DEFAULT nullif(1, 1),
                                   tdm_release text, tdm_feature text);
  CREATE TABLE tap_mc_e2.mc_event (id int PRIMARY KEY, tdm_release text, tdm_feature text);
  -- (st2 after the migration, as its DBA would run it; and after one
  -- whose default differs from the target's)
  CREATE SCHEMA tap_mc_e2m;
  CREATE SCHEMA tap_mc_e2g;
  INSERT INTO tap_mc_e1.mc_account VALUES (1, 'ann@x', 'Annie', false, 'gold', 'TMC', 'F'),
                                          (2, 'bob@x', NULL, true, 'basic', 'TMC', 'F');
  INSERT INTO tap_mc_e1.mc_order VALUES (10, 1, 2, 'TMC', 'F');
  INSERT INTO tap_mc_e2.mc_account VALUES (2, 'bob@x', 'TMC', 'F'), (3, 'cy@x', 'TMC', 'F');
  INSERT INTO tap_mc_e2.mc_order VALUES (11, 3, 'TMC', 'F');
  INSERT INTO tap_mc_e1.mc_event VALUES (1, 'login', now(), 'ab', 0, 'TMC2', 'F');
  INSERT INTO tap_mc_e2.mc_event VALUES (2, 'TMC2', 'F');
  CREATE TABLE tap_mc_e2m.mc_account AS SELECT * FROM tap_mc_e2.mc_account;
  CREATE TABLE tap_mc_e2m.mc_order AS SELECT * FROM tap_mc_e2.mc_order;
  ALTER TABLE tap_mc_e2m.mc_account ADD COLUMN nickname text, ADD COLUMN active bool NOT NULL DEFAULT true,
                                    ADD COLUMN tier text NOT NULL DEFAULT 'basic';
  ALTER TABLE tap_mc_e2m.mc_order ADD COLUMN referrer_id int;
  CREATE TABLE tap_mc_e2g.mc_account AS SELECT * FROM tap_mc_e2.mc_account;
  CREATE TABLE tap_mc_e2g.mc_order AS SELECT * FROM tap_mc_e2m.mc_order;
  ALTER TABLE tap_mc_e2g.mc_account ADD COLUMN nickname text, ADD COLUMN active bool NOT NULL DEFAULT true,
                                    ADD COLUMN tier text NOT NULL DEFAULT 'gold'$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_mc_self');
CREATE SCHEMA tap_mc;
CREATE TABLE tap_mc.mc_account (id int PRIMARY KEY, email text NOT NULL UNIQUE, nickname text,
                                active bool NOT NULL DEFAULT true, tier text NOT NULL DEFAULT 'basic',
                                tdm_release text, tdm_feature text);
CREATE TABLE tap_mc.mc_order (id int PRIMARY KEY, account_id int NOT NULL REFERENCES tap_mc.mc_account,
                              referrer_id int REFERENCES tap_mc.mc_account, tdm_release text, tdm_feature text);
CREATE TABLE tap_mc.mc_event (id int PRIMARY KEY, kind text NOT NULL, at timestamptz NOT NULL DEFAULT now(),
                              code varchar(3) DEFAULT 'abcd', n int NOT NULL DEFAULT nullif(1, 1),
                              tdm_release text, tdm_feature text);
SELECT tdm.add_environment('mc1', 'tap_mc_self', 10, 'tap_mc_e1'),
       tdm.add_environment('mc2', 'tap_mc_self', 20, 'tap_mc_e2');
SELECT tdm.manage_table('tap_mc.mc_account', '{email}'), tdm.manage_table('tap_mc.mc_order');

SELECT results_eq($$SELECT c, f.fill, f.reason
                      FROM unnest(ARRAY['id', 'email', 'nickname', 'active', 'tier', 'tdm_release']) AS c,
                           tdm._missing_column_fill('tap_mc.mc_account', c) f$$,
  $$VALUES ('id', NULL, 'it is part of the primary key'), ('email', NULL, 'it is part of a natural key'),
           ('nickname', 'NULL::text', NULL), ('active', 'CAST((true) AS boolean)', NULL),
           ('tier', 'CAST((''basic''::text) AS text)', NULL),
           ('tdm_release', NULL, 'it holds the release and feature tags')$$,
  'a column an environment lacks is read as NULL or its constant default, never a key''s or a tag''s');

-- A column of a domain without a default of its own takes the domain's,
-- as ADD COLUMN gives it; a NOT NULL domain without one gives no value.
CREATE DOMAIN tap_mc.status_d AS text DEFAULT 'new';
CREATE DOMAIN tap_mc.status_nn AS text NOT NULL;
CREATE TABLE tap_mc.mc_domain (id int PRIMARY KEY, s tap_mc.status_d, s2 tap_mc.status_d NOT NULL,
                               n tap_mc.status_nn, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('tap_mc.mc_domain');
SELECT results_eq($$SELECT c, f.fill, f.reason FROM unnest(ARRAY['s', 's2', 'n']) AS c,
                           tdm._missing_column_fill('tap_mc.mc_domain', c) f$$,
  $$VALUES ('s', 'CAST((''new''::text) AS tap_mc.status_d)', NULL),
           ('s2', 'CAST((''new''::text) AS tap_mc.status_d)', NULL),
           ('n', NULL, 'its type tap_mc.status_nn is NOT NULL and has no default')$$,
  'a domain''s default fills a column of it; a NOT NULL domain without one does not');
SELECT tdm.unmanage_table('tap_mc.mc_domain');

SELECT tdm.create_release('TMC'), tdm.add_feature('TMC', 'F', 1);
SELECT tdm.tag_release('TMC') AS job \gset
SELECT results_eq(format($$SELECT env, severity, detail FROM tdm.tag_finding
                            WHERE job_id = %s AND kind = 'schema_drift' ORDER BY env, rel::text, detail$$, :job),
  $$VALUES ('mc2', 'warning', 'column active (boolean) of tap_mc.mc_account is missing in mc2: its rows are read with active = true (its default), as adding the column there would give them'),
           ('mc2', 'warning', 'column nickname (text) of tap_mc.mc_account is missing in mc2: its rows are read with nickname NULL, as adding the column there would give them'),
           ('mc2', 'warning', 'column tier (text) of tap_mc.mc_account is missing in mc2: its rows are read with tier = ''basic''::text (its default), as adding the column there would give them'),
           ('mc2', 'warning', 'column referrer_id (integer) of tap_mc.mc_order is missing in mc2: its rows are read with referrer_id NULL, as adding the column there would give them')$$,
  'each column the environment lacks is a warning saying how its rows are read');
SELECT is((SELECT status::text FROM tdm.release WHERE release = 'TMC'), 'locked', 'the release locks');

-- The target migrated after the lock (a NOT NULL column no environment
-- has): the target's change is named, not the environments' lack.
SAVEPOINT target_migrated;
ALTER TABLE tap_mc.mc_account ADD COLUMN extra int NOT NULL;
SELECT throws_like($$SELECT tdm.consolidate('TMC', 'tap_mc')$$,
  'mc1.mc_account was locked over the columns tap_mc.mc_account had then, which changed since',
  'a column the target gained since the lock is told as the target''s migration');
ROLLBACK TO SAVEPOINT target_migrated;

-- The target's default changed after the lock: the rows of the
-- environment that lacks the column read otherwise, and that is said.
SAVEPOINT default_changed;
ALTER TABLE tap_mc.mc_account ALTER COLUMN tier SET DEFAULT 'free';
SELECT throws_like($$SELECT tdm.consolidate('TMC', 'tap_mc')$$,
  'mc2.mc_account lacks columns the target gives other values now than at the lock (tier: CAST((''basic''::text) AS text) then, CAST((''free''::text) AS text) now)',
  'a default of the target changed since the lock is told as such');
ROLLBACK TO SAVEPOINT default_changed;

-- The environment migrated after the lock: read from the migrated
-- tables, its rows hold what they were read with, and the lock holds.
-- Migrated with another default, they hold other values: refused.
UPDATE tdm.environment SET remote_schema = 'tap_mc_e2g' WHERE name = 'mc2';
SELECT throws_like($$SELECT tdm.consolidate('TMC', 'tap_mc')$$,
  'mc2.mc_account changed after tagging: 2 row(s) locked, 2 now with different content%',
  'migrated with another default, the environment''s rows changed after the lock');
UPDATE tdm.environment SET remote_schema = 'tap_mc_e2m' WHERE name = 'mc2';
SELECT tdm.consolidate('TMC', 'tap_mc') AS run \gset
SELECT is((SELECT status::text FROM tdm.run WHERE run_id = :run), 'completed',
          'migrated as the target, the environment''s rows match the lock: the release consolidates');
SELECT results_eq($$SELECT id, email, nickname, active, tier FROM tap_mc.mc_account ORDER BY id$$,
  $$VALUES (1, 'ann@x', 'Annie', false, 'gold'), (2, 'bob@x', NULL, true, 'basic'), (3, 'cy@x', NULL, true, 'basic')$$,
  'the environment''s rows load with NULL and the defaults; the other''s as it holds them');
SELECT results_eq($$SELECT id, account_id, referrer_id FROM tap_mc.mc_order ORDER BY id$$,
  $$VALUES (10, 1, 2), (11, 3, NULL::int)$$,
  'a reference the environment lacks loads as NULL');
SELECT is((SELECT count(*) FROM tdm.conflict WHERE run_id = :run AND rel = 'tap_mc.mc_account'::regclass
              AND kind = 'exact_duplicate'), 1::bigint,
          'bob@x, read with the defaults, is the same row as where the column exists');

-- A column the environment's rows cannot be given a value for: NOT NULL
-- without a default, a default that is not a constant (now() would give
-- every reading another value, and the lock would not hold), or one its
-- type refuses (ADD COLUMN would fail; a cast would cut it short). An
-- error naming why, and the release stays open.
-- (Not the schema another environment reads: its rows would be collected
-- twice.)
SELECT throws_ok($$UPDATE tdm.environment SET remote_schema = 'tap_mc_e1' WHERE name = 'mc2'$$, '42710',
  'environment "mc2": schema "tap_mc_e1" of server "tap_mc_self" is environment "mc1" already',
  'an environment pointed at another''s schema is refused');
UPDATE tdm.environment SET remote_schema = 'tap_mc_e2' WHERE name = 'mc2';
-- Parity compares the columns both hold.
SELECT results_eq($$SELECT key, kind, row_a, row_b FROM tdm.data_diff('tap_mc.mc_account', 'mc1', 'mc2')$$,
  $$VALUES ('{"id": 1}'::jsonb, 'only_in_a', '{"id": 1, "email": "ann@x", "tdm_feature": "F", "tdm_release": "TMC"}'::jsonb, NULL::jsonb),
           ('{"id": 3}', 'only_in_b', NULL, '{"id": 3, "email": "cy@x", "tdm_feature": "F", "tdm_release": "TMC"}')$$,
  'data_diff against an environment that lacks columns compares and shows the others');
SELECT tdm.manage_table('tap_mc.mc_event');
SELECT tdm.create_release('TMC2', parent => 'TMC'), tdm.add_feature('TMC2', 'F', 1);
SELECT tdm.tag_release('TMC2') AS job \gset
SELECT results_eq(format($$SELECT env, severity, detail FROM tdm.tag_finding
                            WHERE job_id = %s AND kind = 'schema_drift' AND rel = 'tap_mc.mc_event'::regclass
                            ORDER BY env, detail$$, :job),
  $$VALUES ('mc2', 'error', 'column at (timestamp with time zone) of tap_mc.mc_event is missing in mc2, and its default (now()) is not a constant: add it there'),
           ('mc2', 'error', 'column code (character varying(3)) of tap_mc.mc_event is missing in mc2, and its default (''abcd''::character varying) cannot be stored in it: value too long for type character varying(3): add it there'),
           ('mc2', 'error', 'column kind (text) of tap_mc.mc_event is missing in mc2, and it is NOT NULL and has no default: add it there'),
           ('mc2', 'error', 'column n (integer) of tap_mc.mc_event is missing in mc2, and it is NOT NULL and its default (NULLIF(1, 1)) gives NULL: add it there')$$,
  'a column without a constant value to read is an error saying why');
SELECT is((SELECT status::text FROM tdm.release WHERE release = 'TMC2'), 'open', 'that release is not locked');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_mc_e1 CASCADE;
DROP SCHEMA tap_mc_e2 CASCADE;
DROP SCHEMA tap_mc_e2m CASCADE;
DROP SCHEMA tap_mc_e2g CASCADE;
