-- A keep_all on a junction table, whose key is all references: no rename
-- can keep its rows apart (a renamed reference names another row), so the
-- refusal says so and what is left, rather than asking for renames that
-- are then refused.
BEGIN;
SELECT plan(2);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_jk_e1;
  CREATE SCHEMA tap_jk_e2;
  CREATE TABLE tap_jk_e1.jk_a (id int PRIMARY KEY, tdm_release text, tdm_feature text);
  CREATE TABLE tap_jk_e1.jk_b (id int PRIMARY KEY, tdm_release text, tdm_feature text);
  CREATE TABLE tap_jk_e1.jk_ab (a_id int REFERENCES tap_jk_e1.jk_a, b_id int REFERENCES tap_jk_e1.jk_b, note text,
                                tdm_release text, tdm_feature text, PRIMARY KEY (a_id, b_id));
  CREATE TABLE tap_jk_e2.jk_a (LIKE tap_jk_e1.jk_a INCLUDING ALL);
  CREATE TABLE tap_jk_e2.jk_b (LIKE tap_jk_e1.jk_b INCLUDING ALL);
  CREATE TABLE tap_jk_e2.jk_ab (LIKE tap_jk_e1.jk_ab INCLUDING ALL, FOREIGN KEY (a_id) REFERENCES tap_jk_e2.jk_a,
                                FOREIGN KEY (b_id) REFERENCES tap_jk_e2.jk_b);
  INSERT INTO tap_jk_e1.jk_a VALUES (1, 'TJK', 'F');
  INSERT INTO tap_jk_e1.jk_b VALUES (1, 'TJK', 'F');
  INSERT INTO tap_jk_e1.jk_ab VALUES (1, 1, 'x', 'TJK', 'F');
  INSERT INTO tap_jk_e2.jk_a VALUES (1, 'TJK', 'F');
  INSERT INTO tap_jk_e2.jk_b VALUES (1, 'TJK', 'F');
  INSERT INTO tap_jk_e2.jk_ab VALUES (1, 1, 'y', 'TJK', 'G')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_jk_self');
CREATE TABLE staging.jk_a (id int PRIMARY KEY, tdm_release text, tdm_feature text);
CREATE TABLE staging.jk_b (id int PRIMARY KEY, tdm_release text, tdm_feature text);
CREATE TABLE staging.jk_ab (a_id int REFERENCES staging.jk_a, b_id int REFERENCES staging.jk_b, note text,
                            tdm_release text, tdm_feature text, PRIMARY KEY (a_id, b_id));
SELECT tdm.add_environment('jk1', 'tap_jk_self', 10, 'tap_jk_e1'), tdm.add_environment('jk2', 'tap_jk_self', 20, 'tap_jk_e2');
SELECT tdm.manage_table(t) FROM unnest('{staging.jk_a,staging.jk_b,staging.jk_ab}'::regclass[]) t;
SELECT tdm.create_release('TJK'), tdm.add_feature('TJK', 'F', 1), tdm.add_feature('TJK', 'G', 1);
SELECT tdm.tag_release('TJK'), tdm.consolidate('TJK');
SELECT conflict_id AS c FROM tdm.review_queue WHERE release = 'TJK' AND rel = 'staging.jk_ab'::regclass \gset

SELECT results_eq(format($$SELECT message, hint FROM pg_temp.error_of(%L)$$,
                          format($$SELECT tdm.resolve(%L, 'keep_all', rationale => 'two links')$$, :'c')),
  format($$VALUES ('decision on %s: staging.jk_ab cannot take generated keys, and every column of its key (a_id, b_id) is a reference: keep_all cannot keep its rows apart',
                   'Keep one of the rows (keep), or delete them (delete_all); or decide the conflict of a row they reference, so that they reference two rows.')$$,
         :'c'),
  'keep_all on a junction: said it cannot keep them apart, and what can');
SELECT lives_ok(format($$SELECT tdm.resolve(%L, 'keep', 'jk2', rationale => 'one link')$$, :'c'),
  'keep, as the HINT says, is taken');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_jk_e1, tap_jk_e2 CASCADE;
