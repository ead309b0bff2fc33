-- Managed tables all in one schema not named staging ("Tap Staging"):
-- that schema is the staging target. A consolidation into it makes the
-- release consolidated, promote takes it from there, and the HINTs
-- send there.
BEGIN;
SELECT plan(8);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_st_e1;
  CREATE TABLE tap_st_e1.st_item (id int PRIMARY KEY, tdm_release text, tdm_feature text);
  INSERT INTO tap_st_e1.st_item VALUES (1, 'TST1', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_st_self');
CREATE SCHEMA "Tap Staging";
CREATE TABLE "Tap Staging".st_item (id int PRIMARY KEY, tdm_release text, tdm_feature text);
-- (The scenario's tables are managed no more, in this transaction.)
SELECT tdm.unmanage_table(rel) FROM tdm.managed_table;
SELECT tdm.manage_table('"Tap Staging".st_item');
SELECT tdm.add_environment('st_e1', 'tap_st_self', 10, 'tap_st_e1');
SELECT tdm.create_release('TST1'), tdm.add_feature('TST1', 'F', 1);
SELECT tdm.tag_release('TST1');

SELECT throws_like($$SELECT tdm.consolidate('TST1')$$,
  'consolidate: target "staging" has no table st_item%', 'staging lacks the table');
SELECT matches(pg_temp.hint_of($$SELECT tdm.consolidate('TST1')$$),
  'The managed tables are in "Tap Staging": SELECT tdm\.consolidate\(''TST1'', ''Tap Staging''\);',
  'the hint gives the call with the schema of the managed tables');
SELECT matches(pg_temp.hint_of($$SELECT tdm.promote('TST1', 'tap_nosuch')$$),
  'The managed tables are in "Tap Staging": consolidate it there, then SELECT tdm\.promote\(''TST1'', ''Tap Staging''\);',
  'promote from a schema that does not exist, before any consolidation, sends to the managed tables');
SELECT tdm.consolidate('TST1', 'Tap Staging');
SELECT is((SELECT status FROM tdm.release WHERE release = 'TST1'), 'consolidated',
  'a consolidation there makes the release consolidated');
SELECT matches(pg_temp.hint_of($$SELECT tdm.promote('TST1')$$),
  'It was consolidated into "Tap Staging": SELECT tdm\.promote\(''TST1'', ''Tap Staging''\);',
  'promote from staging sends to the schema it was consolidated into');
SELECT matches(pg_temp.hint_of($$SELECT tdm.promote('TST1', 'tap_nosuch')$$),
  'It was consolidated into "Tap Staging": SELECT tdm\.promote\(''TST1'', ''Tap Staging''\);',
  'promote from a schema that does not exist sends there too');
SELECT lives_ok($$SELECT tdm.promote('TST1', 'Tap Staging')$$, 'and promote takes it from there');
SELECT results_eq('SELECT id, tdm_release FROM master.st_item', $$VALUES (1, 'TST1')$$, 'into master');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_st_e1 CASCADE;
