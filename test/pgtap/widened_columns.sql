-- An environment a migration has not reached yet holds a column of a type
-- the target's widens (varchar(20) where the target has varchar(40),
-- integer where it has bigint): each value reads into the target's type
-- as itself, so tagging warns of the drift and locks, and consolidation
-- loads the rows unchanged (decision 230). A type the target's narrows
-- stays an error.
BEGIN;
SELECT plan(8);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT results_eq($$SELECT f, t, tdm._type_widens(f, t) FROM (VALUES
    ('character varying(20)', 'character varying(40)'), ('character varying(40)', 'character varying(20)'),
    ('character varying(20)', 'text'), ('text', 'character varying(20)'), ('text', 'character varying'),
    ('smallint', 'integer'), ('integer', 'bigint'), ('bigint', 'integer'), ('integer', 'numeric'),
    ('integer', 'numeric(12,2)'), ('bigint', 'numeric(12,2)'),
    ('numeric(8,2)', 'numeric(12,3)'), ('numeric(8,2)', 'numeric(12,1)'), ('numeric(8,2)', 'numeric(8,3)'),
    ('numeric(8,2)', 'numeric'), ('numeric', 'numeric(8,2)'),
    ('real', 'double precision'), ('double precision', 'real'),
    ('character varying[]', 'text[]'), ('text[]', 'character varying[]'), ('integer[]', 'numeric[]'),
    ('text[]', 'character varying(3)[]'), ('numeric(10,4)[]', 'numeric(10,2)[]'),
    ('character varying(3)[]', 'character varying(8)[]'), ('character varying(3)[]', 'character varying(10)'),
    ('character varying(3)', 'character varying(10)[]'), ('character varying(3)[]', 'text'),
    ('timestamp(3) without time zone', 'timestamp without time zone'),
    ('timestamp without time zone', 'timestamp(3) without time zone'),
    ('timestamp(3) without time zone', 'timestamp with time zone'),
    ('time(0) without time zone', 'time(3) without time zone'),
    ('integer', 'text'), ('character(4)', 'character(8)'),
    ('integer[]', 'bigint[]'), ('bigint[]', 'integer[]'), ('integer', 'bigint[]')) AS x(f, t)$$,
  $$VALUES ('character varying(20)', 'character varying(40)', true), ('character varying(40)', 'character varying(20)', false),
    ('character varying(20)', 'text', true), ('text', 'character varying(20)', false), ('text', 'character varying', true),
    ('smallint', 'integer', true), ('integer', 'bigint', true), ('bigint', 'integer', false), ('integer', 'numeric', true),
    ('integer', 'numeric(12,2)', true), ('bigint', 'numeric(12,2)', false),
    ('numeric(8,2)', 'numeric(12,3)', true), ('numeric(8,2)', 'numeric(12,1)', false), ('numeric(8,2)', 'numeric(8,3)', false),
    ('numeric(8,2)', 'numeric', true), ('numeric', 'numeric(8,2)', false),
    ('real', 'double precision', false), ('double precision', 'real', false),
    ('character varying[]', 'text[]', true), ('text[]', 'character varying[]', true), ('integer[]', 'numeric[]', true),
    ('text[]', 'character varying(3)[]', false), ('numeric(10,4)[]', 'numeric(10,2)[]', false),
    ('character varying(3)[]', 'character varying(8)[]', true), ('character varying(3)[]', 'character varying(10)', false),
    ('character varying(3)', 'character varying(10)[]', false), ('character varying(3)[]', 'text', false),
    ('timestamp(3) without time zone', 'timestamp without time zone', true),
    ('timestamp without time zone', 'timestamp(3) without time zone', false),
    ('timestamp(3) without time zone', 'timestamp with time zone', false),
    ('time(0) without time zone', 'time(3) without time zone', true),
    ('integer', 'text', false), ('character(4)', 'character(8)', false),
    ('integer[]', 'bigint[]', true), ('bigint[]', 'integer[]', false), ('integer', 'bigint[]', false)$$,
  'a type widens into another when each of its values reads into it as itself');

SELECT results_eq($$SELECT tdm._describe_type('ARRAY', '_timestamp', NULL, NULL, NULL, NULL, t)
                      FROM unnest(ARRAY[-1, 6, 3]) AS t$$,
                  ARRAY['timestamp without time zone[]', 'timestamp without time zone[]',
                        'timestamp(3) without time zone[]'],
                  'an array of timestamp(6) is spelled as one of timestamp, as a column is');

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_wc_e1;
  CREATE TABLE tap_wc_e1.wc_parent (id int PRIMARY KEY, code varchar(20) NOT NULL UNIQUE, amount numeric(8,2),
                                    at timestamp(3), ratio real, tdm_release text, tdm_feature text);
  CREATE TABLE tap_wc_e1.wc_child (id smallint PRIMARY KEY, parent_id int REFERENCES tap_wc_e1.wc_parent,
                                   note varchar(30), tdm_release text, tdm_feature text);
  CREATE TABLE tap_wc_e1.wc_note (id int PRIMARY KEY, body varchar(60), tags varchar(8)[], marks bigint[],
                                  prices numeric(10,4)[], codes varchar(3)[], tdm_release text, tdm_feature text);
  INSERT INTO tap_wc_e1.wc_parent VALUES (1, 'P-1', 12.34, '2026-01-01 10:00:00.123', 0.1, 'TWC', 'F');
  INSERT INTO tap_wc_e1.wc_child VALUES (7, 1, 'first', 'TWC', 'F');
  INSERT INTO tap_wc_e1.wc_note VALUES (1, 'sixty characters at most there', '{a}', '{1}', '{1.2345}', '{ab}', 'TWC2', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_wc_self');
CREATE SCHEMA tap_wc;
CREATE TABLE tap_wc.wc_parent (id bigint PRIMARY KEY, code varchar(40) NOT NULL UNIQUE, amount numeric(12,3),
                               at timestamp, ratio real, tdm_release text, tdm_feature text);
CREATE TABLE tap_wc.wc_child (id integer PRIMARY KEY, parent_id bigint REFERENCES tap_wc.wc_parent,
                              note text, tdm_release text, tdm_feature text);
CREATE TABLE tap_wc.wc_note (id int PRIMARY KEY, body varchar(40), tags text[], marks integer[],
                             prices numeric(10,2)[], codes varchar(8)[], tdm_release text, tdm_feature text);
SELECT tdm.add_environment('wc1', 'tap_wc_self', 10, 'tap_wc_e1');
SELECT tdm.manage_table('tap_wc.wc_parent', '{code}'), tdm.manage_table('tap_wc.wc_child');
SELECT tdm.create_release('TWC'), tdm.add_feature('TWC', 'F', 1);
SELECT tdm.tag_release('TWC') AS job \gset

SELECT results_eq(format($$SELECT severity, detail FROM tdm.tag_finding
                            WHERE job_id = %s AND kind = 'schema_drift' ORDER BY detail$$, :job),
  $$VALUES ('warning', 'column amount is numeric(12,3) in tap_wc.wc_parent but numeric(8,2) in wc1: each value is read as numeric(12,3), unchanged'),
           ('warning', 'column at is timestamp without time zone in tap_wc.wc_parent but timestamp(3) without time zone in wc1: each value is read as timestamp without time zone, unchanged'),
           ('warning', 'column code is character varying(40) in tap_wc.wc_parent but character varying(20) in wc1: each value is read as character varying(40), unchanged'),
           ('warning', 'column id is bigint in tap_wc.wc_parent but integer in wc1: each value is read as bigint, unchanged'),
           ('warning', 'column id is integer in tap_wc.wc_child but smallint in wc1: each value is read as integer, unchanged'),
           ('warning', 'column note is text in tap_wc.wc_child but character varying(30) in wc1: each value is read as text, unchanged'),
           ('warning', 'column parent_id is bigint in tap_wc.wc_child but integer in wc1: each value is read as bigint, unchanged')$$,
  'each column of a type the target''s widens is a warning naming both types');
SELECT is((SELECT status::text FROM tdm.release WHERE release = 'TWC'), 'locked', 'the release locks');

SELECT tdm.consolidate('TWC', 'tap_wc') AS run \gset
SELECT is((SELECT status::text FROM tdm.run WHERE run_id = :run), 'completed', 'the release consolidates');
SELECT results_eq($$SELECT p.id, p.code::text, p.amount, p.at, p.ratio, c.id, c.note
                      FROM tap_wc.wc_parent p JOIN tap_wc.wc_child c ON c.parent_id = p.id$$,
  $$VALUES (1::bigint, 'P-1', 12.340::numeric, '2026-01-01 10:00:00.123'::timestamp, 0.1::real, 7, 'first')$$,
  'the rows load as the environment holds them, child under parent');

-- A column the target's type narrows (varchar(60) into varchar(40))
-- could not read every value: an error, and the release stays open.
SELECT tdm.manage_table('tap_wc.wc_note');
SELECT tdm.create_release('TWC2', parent => 'TWC'), tdm.add_feature('TWC2', 'F', 1);
SELECT tdm.tag_release('TWC2') AS job \gset
SELECT results_eq(format($$SELECT severity, detail FROM tdm.tag_finding
                            WHERE job_id = %s AND kind = 'schema_drift' AND rel = 'tap_wc.wc_note'::regclass
                            ORDER BY detail$$, :job),
  $$VALUES ('error', 'column body is character varying(40) in tap_wc.wc_note but character varying(60) in wc1: give them one type (in the target, ALTER TABLE tap_wc.wc_note ALTER COLUMN body TYPE character varying(60); or migrate wc1''s column to character varying(40)), then tag again'),
           ('warning', 'column codes is character varying(8)[] in tap_wc.wc_note but character varying(3)[] in wc1: each value is read as character varying(8)[], unchanged'),
           ('error', 'column marks is integer[] in tap_wc.wc_note but bigint[] in wc1: give them one type (in the target, ALTER TABLE tap_wc.wc_note ALTER COLUMN marks TYPE bigint[]; or migrate wc1''s column to integer[]), then tag again'),
           ('error', 'column prices is numeric(10,2)[] in tap_wc.wc_note but numeric(10,4)[] in wc1: give them one type (in the target, ALTER TABLE tap_wc.wc_note ALTER COLUMN prices TYPE numeric(10,4)[]; or migrate wc1''s column to numeric(10,2)[]), then tag again'),
           ('warning', 'column tags is text[] in tap_wc.wc_note but character varying(8)[] in wc1: each value is read as text[], unchanged')$$,
  'a narrower target''s type is an error, with what to do; arrays are named by their elements'' types, lengths and scales');
SELECT is((SELECT status::text FROM tdm.release WHERE release = 'TWC2'), 'open', 'that release is not locked');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_wc_e1 CASCADE;
