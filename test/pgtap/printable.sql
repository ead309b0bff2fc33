-- What a reviewer reads in a terminal (p298): control characters and the
-- characters that reorder text shown escaped, long texts cut; a refused
-- decision's message names a value of a megabyte by its first hundred
-- characters; a server's fetch_size set or dropped after the foreign
-- tables were made counts at the next tagging.
BEGIN;
SELECT plan(8);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

SELECT is(tdm._printable(E'\x1b[31mRED\b x\u202Etxt\t\n'), E'\\x1b[31mRED\\x08 x\\u202etxt\\t\\n',
  'ESC, backspace, U+202E, tab and line break escaped');
SELECT is(tdm._printable('plain text é'), 'plain text é', 'printable text unchanged');
SELECT is(tdm._printable(repeat('a', 10), 5), 'aaaa~', 'cut to the length given, ~ last');
SELECT is(tdm._printable(NULL), NULL, 'NULL stays NULL');

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_pr_e1;
  CREATE TABLE tap_pr_e1.pr_doc (id int PRIMARY KEY, body text, tdm_release text, tdm_feature text);
  INSERT INTO tap_pr_e1.pr_doc VALUES (1, 'one', 'TPR1', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_pr_self');
CREATE SCHEMA tap_pr;
CREATE TABLE tap_pr.pr_doc (id int PRIMARY KEY, body text, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('pr1', 'tap_pr_self', 10, 'tap_pr_e1');
SELECT tdm.manage_table('tap_pr.pr_doc');
SELECT tdm.create_release('TPR1'), tdm.add_feature('TPR1', 'F', 1);
SELECT tdm.tag_release('TPR1') IS NOT NULL;
CREATE FUNCTION pg_temp.fetch_size() RETURNS text LANGUAGE sql AS $$
  SELECT coalesce((SELECT o FROM pg_foreign_table ft, unnest(ft.ftoptions) AS o
                    WHERE ft.ftrelid = 'tdm_env_pr1.pr_doc'::regclass AND o LIKE 'fetch_size=%'), 'none')
$$;
SELECT is(pg_temp.fetch_size(), 'fetch_size=10000', 'a server without fetch_size: the foreign table has 10000');
ALTER SERVER tap_pr_self OPTIONS (ADD fetch_size '2');
SELECT tdm.tag_release('TPR1') IS NOT NULL;
SELECT is(pg_temp.fetch_size(), 'none', 'the server''s fetch_size set since counts: the table''s own is dropped');
ALTER SERVER tap_pr_self OPTIONS (DROP fetch_size);
SELECT tdm.tag_release('TPR1') IS NOT NULL;
SELECT is(pg_temp.fetch_size(), 'fetch_size=10000', 'and dropped since: 10000 again');

-- A refused merge of a megabyte says its first hundred characters.
CREATE TABLE tap_pr.pr_num (id int PRIMARY KEY, n int, tdm_release text, tdm_feature text);
SELECT cmp_ok(length((pg_temp.error_of($$SELECT tdm._check_values('tap_pr.pr_num', jsonb_build_object('n', repeat('x', 1000000)), 'merged', 'C-1')$$)).message),
  '<', 300, 'a refused value of a megabyte is named by its first hundred characters');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_pr_e1 CASCADE;
