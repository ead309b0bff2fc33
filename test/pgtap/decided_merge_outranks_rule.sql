-- A reviewer's merge on a key collision says its members are one entity:
-- md2's artist 70 ("Delta Band") merges into md1's 70 ("Gamma Band", as
-- the reviewer corrects it), although by its name it is md1's 71, which
-- a rule would merge it into. The decision outranks the rule: md2's album
-- of artist 70 goes to Gamma Band, not to Delta Band.
BEGIN;
SELECT plan(5);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.md_tables(s text) RETURNS text LANGUAGE sql AS $$
  SELECT format($ddl$
    CREATE TABLE %1$I.md_artist (artist_id serial PRIMARY KEY, name text NOT NULL UNIQUE,
                                 tdm_release text, tdm_feature text);
    CREATE TABLE %1$I.md_album (album_id serial PRIMARY KEY, title text NOT NULL UNIQUE,
                                artist_id int NOT NULL REFERENCES %1$I.md_artist, tdm_release text, tdm_feature text);
    CREATE TABLE %1$I.md_genre (genre_id int PRIMARY KEY, descr text, tdm_release text, tdm_feature text);$ddl$, s)
$$;
SELECT dblink_exec(pg_temp.conninfo(current_database()), format($$
  CREATE SCHEMA tap_md_e1;
  CREATE SCHEMA tap_md_e2;
  %1$s
  %2$s
  INSERT INTO tap_md_e1.md_artist VALUES (70, 'Gamma Band', 'TMD', 'F1'), (71, 'Delta Band', 'TMD', 'F1');
  INSERT INTO tap_md_e1.md_genre VALUES (1, 'rock', 'TMD', 'F1');
  INSERT INTO tap_md_e2.md_genre VALUES (1, 'roll', 'TMD', 'F1');
  INSERT INTO tap_md_e1.md_album VALUES (90, 'Gamma Album', 70, 'TMD', 'F1');
  INSERT INTO tap_md_e2.md_artist VALUES (70, 'Delta Band', 'TMD', 'F1'), (72, 'Gamma Band', 'TMD', 'F1');
  INSERT INTO tap_md_e2.md_album VALUES (90, 'Delta Live', 70, 'TMD', 'F1'), (92, 'Gamma Album', 72, 'TMD', 'F1');$$,
  pg_temp.md_tables('tap_md_e1'), pg_temp.md_tables('tap_md_e2'))) \g /dev/null
SELECT pg_temp.loopback_server('tap_md_self');
CREATE SCHEMA tap_md;
SELECT format('%s', pg_temp.md_tables('tap_md')) \gexec
SELECT tdm.add_environment('md1', 'tap_md_self', 10, 'tap_md_e1'), tdm.add_environment('md2', 'tap_md_self', 20, 'tap_md_e2');
SELECT tdm.manage_table('tap_md.md_artist', '{name}'), tdm.manage_table('tap_md.md_album', '{title}'),
       tdm.manage_table('tap_md.md_genre', core_columns => '{descr}');
SELECT tdm.create_release('TMD'), tdm.add_feature('TMD', 'F1', 1);
SELECT tdm.tag_release('TMD');
-- (The genre waits for a reviewer; meanwhile the reviewer overrules the
-- rule on the artists' key collision, as one may until a run completes.)
SELECT tdm.consolidate('TMD', 'tap_md') AS run \gset
SELECT tdm.resolve(conflict_id, 'keep', keep_env => 'md1', rationale => 'rock it is')
  FROM tdm.conflict WHERE run_id = :run AND rel = 'tap_md.md_genre'::regclass;
SELECT tdm.resolve(conflict_id, 'merge', merged => '{"name": "Gamma Band"}',
                   rationale => 'md2''s artist 70 is Gamma Band, misnamed')
  FROM tdm.conflict WHERE run_id = :run AND rel = 'tap_md.md_artist'::regclass AND kind = 'duplicate_pk';
CREATE ROLE tap_md_approver IN ROLE tdm_reviewer;
SET SESSION AUTHORIZATION tap_md_approver;
SELECT tdm.approve(d.conflict_id) FROM tdm.decision d JOIN tdm.conflict c USING (conflict_id)
 WHERE c.run_id = :run AND c.priority = 1 AND d.approved_by IS NULL;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TMD', 'tap_md');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'the run completes');
SELECT results_eq($$SELECT artist_id, name FROM tap_md.md_artist ORDER BY 1$$,
  $$VALUES (70, 'Gamma Band'), (71, 'Delta Band')$$, 'both artists are loaded, each once');
SELECT results_eq($$SELECT a.title, ar.name FROM tap_md.md_album a JOIN tap_md.md_artist ar USING (artist_id) ORDER BY 1$$,
  $$VALUES ('Delta Live', 'Gamma Band'), ('Gamma Album', 'Gamma Band')$$,
  'md2''s album of artist 70 follows the decision, not the rule''s merge into Delta Band');
SELECT is_empty(format($$SELECT 1 FROM tdm.key_map WHERE run_id = %s AND env = 'md2'
                          AND rel = 'tap_md.md_artist'::regclass AND old_key = '{"artist_id": 70}'$$, :run),
  'md2''s artist 70 keeps its key: merged into md1''s 70, not mapped to 71');
SELECT results_eq(format($$SELECT rows_collected, rows_loaded, rows_merged FROM tdm.run WHERE run_id = %s$$, :run),
  $$VALUES (9::bigint, 5::bigint, 4::bigint)$$, 'the accounting: 9 collected = 5 loaded + 4 merged');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_md_e1, tap_md_e2 CASCADE;
