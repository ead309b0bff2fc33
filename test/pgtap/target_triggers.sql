-- A trigger of master's own that changes the rows it gets: promote's copy
-- and a rollback's restore no longer hold what they wrote. Both refuse,
-- nothing changed, and the HINT names the trigger and how out. And a
-- CHECK added NOT VALID that a snapshot's row breaks: named, with the
-- way out.
BEGIN;
SELECT plan(7);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_tt_e1;
  CREATE TABLE tap_tt_e1.tt_item (id int PRIMARY KEY, name text, tdm_release text, tdm_feature text);
  INSERT INTO tap_tt_e1.tt_item VALUES (1, 'a', 'TTT1', 'F'), (2, 'b', 'TTT2', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_tt_self');
CREATE TABLE staging.tt_item (id int PRIMARY KEY, name text, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('tt1', 'tap_tt_self', 10, 'tap_tt_e1');
SELECT tdm.manage_table('staging.tt_item');
SELECT tdm.create_release('TTT1'), tdm.add_feature('TTT1', 'F', 1);
SELECT tdm.create_release('TTT2', parent => 'TTT1'), tdm.add_feature('TTT2', 'F', 1);
SELECT tdm.tag_release('TTT1'), tdm.consolidate('TTT1'), tdm.promote('TTT1');
CREATE FUNCTION pg_temp.shout() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.name := upper(NEW.name);
  RETURN NEW;
END
$$;
CREATE TRIGGER tt_shout BEFORE INSERT OR UPDATE ON master.tt_item FOR EACH ROW EXECUTE FUNCTION pg_temp.shout();

SELECT tdm.tag_release('TTT2'), tdm.consolidate('TTT2');
SELECT results_eq($$SELECT e.message, e.hint ~ 'master\.tt_item trigger tt_shout' FROM pg_temp.error_of('SELECT tdm.promote(''TTT2'')') e$$,
  $$VALUES ('copy of release TTT2: staging.tt_item holds 1 rows of it, master.tt_item got 1 with another checksum', true)$$,
  'promote refuses a copy its destination''s trigger changed, naming the trigger');

SELECT tdm.snapshot('tap_tt_before') AS before \gset
ALTER TABLE master.tt_item DISABLE TRIGGER tt_shout;
UPDATE master.tt_item SET name = 'z';
ALTER TABLE master.tt_item ENABLE TRIGGER tt_shout;
SELECT results_eq(format($$SELECT e.message, e.hint ~ 'master\.tt_item trigger tt_shout' FROM pg_temp.error_of('SELECT tdm.rollback(%s)') e$$, :before),
  format($$VALUES ('rollback: master.tt_item does not match snapshot %s after restore (1 rows, 1 expected, with another checksum)', true)$$, :before),
  'a rollback whose restored rows a trigger changed is refused, naming the trigger');
SELECT is((SELECT name FROM master.tt_item), 'z', 'nothing was rolled back');
-- A table tdm does not restore references the rows: they cannot all be
-- replaced either; the error still says why changing them failed, and
-- names the trigger.
CREATE TABLE master.tt_note (id int PRIMARY KEY, item_id int REFERENCES master.tt_item);
SELECT results_eq(format($$SELECT e.message, e.detail ~ 'Replacing every row instead was refused: cannot truncate a table referenced in a foreign key constraint \(Table "tt_note" references "tt_item"\.',
                                  e.hint ~ 'master\.tt_item trigger tt_shout' FROM pg_temp.error_of('SELECT tdm.rollback(%s)') e$$, :before),
  format($$VALUES ('rollback: snapshot %1$s cannot be restored into master: master.tt_item does not match snapshot %1$s after restore (1 rows, 1 expected, with another checksum)', true, true)$$, :before),
  'a rollback that can neither change the rows nor replace them names the trigger, and the foreign key');
DROP TABLE master.tt_note;
ALTER TABLE master.tt_item DISABLE TRIGGER tt_shout;
SELECT tdm.rollback(:before);
SELECT is((SELECT name FROM master.tt_item), 'a', 'with the trigger disabled, the rollback restores the row');
ALTER TABLE master.tt_item ADD CONSTRAINT tt_name_long CHECK (length(name) > 1) NOT VALID;
SELECT tdm.snapshot('tap_tt_not_valid') AS not_valid \gset
DELETE FROM master.tt_item;
-- (A scan this transaction holds open keeps the storage from being
-- swapped, which would bring the row back below the constraint: the rows
-- are restored by statements, as for a partitioned table.)
DECLARE held CURSOR FOR SELECT * FROM master.tt_item;
FETCH 1 FROM held \g /dev/null
SELECT matches((pg_temp.error_of(format('SELECT tdm.rollback(%s)', :not_valid))).hint,
  '^Its constraint tt_name_long is NOT VALID: rows older than it may break it, and the snapshot holds one\. Drop it for the rollback, then add it back as it was: ALTER TABLE master\.tt_item DROP CONSTRAINT tt_name_long; .* ADD CONSTRAINT tt_name_long CHECK \(\(length\(name\) > 1\)\) NOT VALID;$',
  'a row a NOT VALID constraint refuses is named with the way out');

-- Two rows that swapped values of a unique key cannot be changed back in
-- place; a foreign key of a table tdm does not restore keeps their rows
-- from being replaced: both said, with the statements out.
CLOSE held;
ALTER TABLE master.tt_item DROP CONSTRAINT tt_name_long, ADD CONSTRAINT tt_name_key UNIQUE (name);
INSERT INTO master.tt_item VALUES (1, 'aa', 'TTT1', 'F'), (3, 'cc', 'TTT1', 'F');
SELECT tdm.snapshot('tap_tt_swap') AS swap \gset
UPDATE master.tt_item SET name = 'x' WHERE id = 1;
UPDATE master.tt_item SET name = 'aa' WHERE id = 3;
UPDATE master.tt_item SET name = 'cc' WHERE id = 1;
CREATE TABLE master.tt_note (id int PRIMARY KEY, item_id int REFERENCES master.tt_item);
SELECT results_eq(format($$SELECT e.message, e.hint FROM pg_temp.error_of('SELECT tdm.rollback(%s)') e$$, :swap),
  format($$VALUES ('rollback: snapshot %1$s cannot be restored into master: its rows could not be changed in place (duplicate key value violates unique constraint "tt_name_key")',
                   'Nothing was rolled back. Drop the foreign keys of the tables tdm does not restore for the rollback, then add them back (their rows must find their parents again): ALTER TABLE master.tt_note DROP CONSTRAINT tt_note_item_id_fkey; SELECT tdm.rollback(%1$s); ALTER TABLE master.tt_note ADD CONSTRAINT tt_note_item_id_fkey FOREIGN KEY (item_id) REFERENCES master.tt_item(id);')$$, :swap),
  'a rollback that can neither change the rows in place nor replace them says why, and how out');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_tt_e1 CASCADE;
