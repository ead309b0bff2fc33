-- A release name an environment's encoding cannot spell (RΩ, and a LATIN1
-- database): its server refuses every query that names it. Tagging says
-- so, once for the environment, not that a row holds a bad value. And an
-- SQL_ASCII database, which stores any bytes: rows holding bytes that are
-- not UTF-8 are named, with their column.
BEGIN;
SELECT plan(4);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;
SELECT dblink_exec(pg_temp.conninfo(current_database()),
  'CREATE DATABASE tap_enc_latin1 ENCODING LATIN1 LC_COLLATE ''C'' LC_CTYPE ''C'' TEMPLATE template0') \g /dev/null
SELECT dblink_exec(pg_temp.conninfo('tap_enc_latin1'), $$
  CREATE TABLE enc_item (id int PRIMARY KEY, label text, tdm_release text, tdm_feature text);
  INSERT INTO enc_item VALUES (1, 'café', 'R1', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_enc', 'tap_enc_latin1');
CREATE TABLE staging.enc_item (id int PRIMARY KEY, label text, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('latin1', 'tap_enc', 10), tdm.manage_table('staging.enc_item');
SELECT tdm.create_release('RΩ'), tdm.add_feature('RΩ', 'F', 1);
SELECT tdm.tag_release('RΩ');

SELECT results_eq($$SELECT env, severity, detail FROM tdm.tag_finding
                     WHERE job_id = (SELECT max(job_id) FROM tdm.job WHERE kind = 'tag_release')$$,
  $$VALUES ('latin1', 'error', 'the release name RΩ cannot be written in the encoding of latin1 (LATIN1): its server'
            ' refuses the queries that name it, and no row there can be tagged for it; name the release in'
            ' characters every environment''s encoding has')$$,
  'a release name the environment''s encoding cannot spell is one finding, saying so');
SELECT is((SELECT status FROM tdm.release WHERE release = 'RΩ'), 'open', 'and the release stays open');

SELECT dblink_exec(pg_temp.conninfo(current_database()),
  'CREATE DATABASE tap_enc_ascii ENCODING SQL_ASCII LC_COLLATE ''C'' LC_CTYPE ''C'' TEMPLATE template0') \g /dev/null
SELECT dblink_exec(pg_temp.conninfo('tap_enc_ascii'), $$
  CREATE TABLE enc_item (id int PRIMARY KEY, label text, tdm_release text, tdm_feature text);
  INSERT INTO enc_item VALUES (1, 'plain', 'RA', 'F'), (2, E'caf\xe9', 'RA', 'F'), (3, 'café', 'RA', 'F'),
                              (4, E'\xff', 'RA', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_enc_a', 'tap_enc_ascii');
SELECT tdm.remove_environment('latin1');
SELECT tdm.add_environment('ascii', 'tap_enc_a', 10);
SELECT tdm.create_release('RA'), tdm.add_feature('RA', 'F', 1);
SELECT tdm.tag_release('RA');
SELECT results_eq($$SELECT env, severity, detail, row_count, example_keys FROM tdm.tag_finding
                     WHERE job_id = (SELECT max(job_id) FROM tdm.job WHERE kind = 'tag_release')$$,
  $$VALUES ('ascii', 'error', '2 rows of ascii.enc_item tagged for RA hold a value that staging.enc_item does not'
            ' accept: bytes that are not UTF-8 (its database stores any bytes, as SQL_ASCII does) (column label)',
            2::bigint, '[{"id": 2}, {"id": 4}]'::jsonb)$$,
  'rows of an SQL_ASCII environment holding bytes that are not UTF-8 are named, with their column');
SELECT is((SELECT status FROM tdm.release WHERE release = 'RA'), 'open', 'and that release stays open');

SELECT * FROM finish();
ROLLBACK;
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;
SELECT dblink_exec(pg_temp.conninfo(current_database()), 'DROP DATABASE tap_enc_latin1 WITH (FORCE)') \g /dev/null
SELECT dblink_exec(pg_temp.conninfo(current_database()), 'DROP DATABASE tap_enc_ascii WITH (FORCE)') \g /dev/null
