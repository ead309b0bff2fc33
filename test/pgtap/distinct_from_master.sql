-- A release's row that collides with master's row on the primary key and
-- is another entity (distinct_entities): a decision that would change
-- master's row is refused, and the HINT does not send the reviewer to keep
-- master's row without saying that this merges the release's row, and its
-- children, into it (decision 343). Once a run loads the rule's choice,
-- no decision overrules it, and the HINT says what would change it.
BEGIN;
SELECT plan(4);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_dm_e1;
  CREATE SCHEMA tap_dm_e2;
  CREATE TABLE tap_dm_e1.dm_person (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text,
                                    tdm_release text, tdm_feature text);
  CREATE TABLE tap_dm_e2.dm_person (LIKE tap_dm_e1.dm_person INCLUDING ALL);
  INSERT INTO tap_dm_e2.dm_person VALUES (9, 'gina@x', 'Gina', 'TDM1', 'F');
  INSERT INTO tap_dm_e1.dm_person VALUES (9, 'quinn@x', 'Quinn', 'TDM2', 'F');
  -- (and Amy, whom two features of one priority spell otherwise: the run
  -- waits for a reviewer, and the rules' conflicts can be overruled)
  INSERT INTO tap_dm_e1.dm_person VALUES (5, 'amy@x', 'Amy', 'TDM2', 'F');
  INSERT INTO tap_dm_e2.dm_person VALUES (5, 'amy@x', 'Amy B', 'TDM2', 'G')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_dm_self');
CREATE TABLE staging.dm_person (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text,
                                tdm_release text, tdm_feature text);
SELECT tdm.add_environment('dm1', 'tap_dm_self', 10, 'tap_dm_e1'), tdm.add_environment('dm2', 'tap_dm_self', 20, 'tap_dm_e2');
SELECT tdm.manage_table('staging.dm_person', '{email}');
SELECT tdm.create_release('TDM1'), tdm.add_feature('TDM1', 'F', 1);
SELECT tdm.create_release('TDM2', parent => 'TDM1'), tdm.add_feature('TDM2', 'F', 1), tdm.add_feature('TDM2', 'G', 1);
SELECT tdm.tag_release('TDM1'), tdm.consolidate('TDM1'), tdm.promote('TDM1');
SELECT tdm.tag_release('TDM2'), tdm.consolidate('TDM2') AS run \gset
SELECT conflict_id AS c, rule FROM tdm.conflict WHERE run_id = :run AND members::text LIKE '%quinn%' \gset
SELECT is(:'rule'::text, 'distinct_entities', 'Quinn under Gina''s id is another person');
SELECT is((SELECT status::text FROM tdm.run WHERE run_id = :run), 'awaiting_review', 'the run waits for Amy''s');
SELECT is(pg_temp.hint_of(format($$INSERT INTO tdm.decision (conflict_id, action, rationale)
                                   VALUES (%L, 'delete_all', 'quinn is junk')$$, :'c')),
          'The rows are different entities (distinct_entities): keep_all gives the release''s rows new keys, or'
          ' renames of their own; keep (keep_env ''master'') only if they are that row after all: the release''s'
          ' rows and their children are merged into it. To leave a release''s row out, untag it in its environment'
          ' and tag the release again.',
          'a delete_all that would delete master''s row is refused, with what keep would do');

-- Amy decided, the run completes: the rule's choice for Quinn is loaded,
-- and no decision overrules it now; the HINT says what changes it.
SELECT tdm.resolve(conflict_id, 'keep', 'dm1', rationale => 'Amy as dm1 spells her')
  FROM tdm.review_queue WHERE release = 'TDM2';
SELECT tdm.consolidate('TDM2');
SELECT is(pg_temp.hint_of(format($$SELECT tdm.resolve(%L, 'keep_all', rationale => 'two people')$$, :'c')),
          'Rule distinct_entities settled it and a completed run loaded that: a rule is overruled before a run'
          ' completes. For another outcome now, change what the rule reads (the rows in the environments, the'
          ' release plan''s priorities or the environments'' precedence), tag the release again and consolidate it.',
          'a loaded rule is not overruled, and the HINT says what would change it');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_dm_e1, tap_dm_e2 CASCADE;
