-- Environment names as the reviewer reads them: two long names that
-- begin alike stay apart in side_by_side's header, and a name with a
-- double quote is escaped in the JSON of a keep_all HINT's example. A
-- value two members share is shown from its start, as a value would be
-- cut if the other member's did not begin alike. Wide (CJK) characters
-- take two columns of the grid: values and column names are cut and padded
-- by the columns they take, not by characters.
BEGIN;
SELECT plan(9);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

-- Three environments, one enum key (no generated keys): "happy" in each.
SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE TYPE public.tap_rl_mood AS ENUM ('happy', 'sad');
  CREATE SCHEMA tap_rl_a;
  CREATE SCHEMA tap_rl_b;
  CREATE SCHEMA tap_rl_c;
  CREATE TABLE tap_rl_a.rl_k (e public.tap_rl_mood PRIMARY KEY, v text, tdm_release text, tdm_feature text);
  CREATE TABLE tap_rl_b.rl_k (LIKE tap_rl_a.rl_k INCLUDING ALL);
  CREATE TABLE tap_rl_c.rl_k (LIKE tap_rl_a.rl_k INCLUDING ALL);
  INSERT INTO tap_rl_a.rl_k VALUES ('happy', '2024-01-01 00:00:00+00', 'TRL1', 'F1');
  INSERT INTO tap_rl_b.rl_k VALUES ('happy', '2024-01-01 00:00:00+00', 'TRL1', 'F2');
  INSERT INTO tap_rl_c.rl_k VALUES ('happy', '2024-03-15 00:00:00+00', 'TRL1', 'F2');
  CREATE TABLE tap_rl_a.rl_w (id int PRIMARY KEY, "名前" text, address text, memo text, tag text, tdm_release text,
                              tdm_feature text);
  CREATE TABLE tap_rl_b.rl_w (LIKE tap_rl_a.rl_w INCLUDING ALL);
  CREATE TABLE tap_rl_c.rl_w (LIKE tap_rl_a.rl_w INCLUDING ALL);
  INSERT INTO tap_rl_a.rl_w VALUES (1, '山田', '東京都千代田区丸の内一丁目', repeat('東', 19) || '京', repeat('a', 14) || '中x1', 'TRL1',
                                    'F1');
  INSERT INTO tap_rl_b.rl_w VALUES (1, '田中', '大阪府大阪市北区梅田三丁目', repeat('東', 19) || '都', repeat('a', 14) || '文x2', 'TRL1',
                                    'F2');
  INSERT INTO tap_rl_c.rl_w VALUES (1, 'Sato', 'Kyoto short', 'memo', 'tag', 'TRL1', 'F2')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_rl_self');
CREATE TABLE staging.rl_k (e public.tap_rl_mood PRIMARY KEY, v text, tdm_release text, tdm_feature text);
CREATE TABLE staging.rl_w (id int PRIMARY KEY, "名前" text, address text, memo text, tag text, tdm_release text,
                           tdm_feature text);
SELECT tdm.add_environment('St 2 "q"', 'tap_rl_self', 40, 'tap_rl_a'),
       tdm.add_environment('long_environment_name_of_squad_alpha', 'tap_rl_self', 20, 'tap_rl_b'),
       tdm.add_environment('long_environment_name_of_squad_betaa', 'tap_rl_self', 30, 'tap_rl_c');
SELECT tdm.manage_table('staging.rl_k'), tdm.manage_table('staging.rl_w');
SELECT tdm.create_release('TRL1'), tdm.add_feature('TRL1', 'F1', 1), tdm.add_feature('TRL1', 'F2', 1);
SELECT tdm.tag_release('TRL1');
SELECT tdm.consolidate('TRL1');
SELECT conflict_id AS conflict FROM tdm.review_queue WHERE rel = 'staging.rl_k'::regclass \gset

-- (cells of 17 characters after 14: 80 columns under \x)
SELECT is((SELECT count(DISTINCT rtrim(substr(split_part(q.side_by_side, E'\n', 1), 15 + 17 * i, 17)))
             FROM tdm.review_queue q, generate_series(0, 2) AS i
            WHERE q.conflict_id = :'conflict'), 3::bigint,
  'the header tells the three environments apart');
SELECT matches((SELECT split_part(side_by_side, E'\n', 1) FROM tdm.review_queue WHERE conflict_id = :'conflict'),
  '~_of_squad_alpha +~_of_squad_betaa', 'a long name is shown from where it parts from the others');
SELECT is((SELECT string_agg(rtrim(substr(l, 15 + 17 * i, 17)), '|' ORDER BY i)
             FROM tdm.review_queue q, regexp_split_to_table(q.side_by_side, E'\n') AS l, generate_series(0, 2) AS i
            WHERE q.conflict_id = :'conflict' AND l LIKE 'v %'),
  '2024-01-01 00:0~|2024-03-15 00:0~|2024-01-01 00:0~',
  'a value two members share is shown from its start (not from where it parts from itself)');
SELECT is((pg_temp.hint_of(format($$SELECT tdm.resolve(%L, 'keep_all', rationale => 'x')$$, :'conflict'))
             ~ '"St 2 \\\\"q\\\\"": \{"e": \.\.\.\}'), true,
  'the HINT''s example escapes the double quote of the name');

SELECT conflict_id AS wide FROM tdm.review_queue WHERE rel = 'staging.rl_w'::regclass \gset
-- (cells of 17 columns after 14; a wide character is not split: 14
-- columns and the ~ where the fifteenth would take two)
SELECT is((SELECT l FROM tdm.review_queue q, regexp_split_to_table(q.side_by_side, E'\n') AS l
            WHERE q.conflict_id = :'wide' AND l LIKE 'address %'),
  'address       大阪府大阪市北~  Kyoto short      東京都千代田区~',
  'wide values are cut and padded by the columns they take');
SELECT is((SELECT l FROM tdm.review_queue q, regexp_split_to_table(q.side_by_side, E'\n') AS l
            WHERE q.conflict_id = :'wide' AND l LIKE '名前%'),
  '名前          田中             Sato             山田',
  'a wide column name is padded by the columns it takes');
-- (wide values that part past their cells' width: shown from where they
-- part, the end that fits, p317)
SELECT is((SELECT l FROM tdm.review_queue q, regexp_split_to_table(q.side_by_side, E'\n') AS l
            WHERE q.conflict_id = :'wide' AND l LIKE 'memo %'),
  'memo          ~東東東東東東都  memo             ~東東東東東東京',
  'wide values that begin alike are shown from the end where they part');
SELECT is((SELECT l FROM tdm.review_queue q, regexp_split_to_table(q.side_by_side, E'\n') AS l
            WHERE q.conflict_id = :'wide' AND l LIKE 'tag %'),
  'tag           ~aaaaaaaaaaa文x2 tag              ~aaaaaaaaaaa中x1',
  'values that part on a wide character at the cell''s edge are shown from where they part (p318)');
SELECT is(tdm._display_right('abe' || chr(769) || 'cc', 2), 'cc', 'an ending cut leaves no combining mark alone');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_rl_a, tap_rl_b, tap_rl_c CASCADE;
DROP TYPE public.tap_rl_mood;
