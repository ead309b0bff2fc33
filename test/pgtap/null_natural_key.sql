-- Two environments' rows that share only their primary key, neither with
-- its natural key (a nullable email), and disagree past it are not one
-- entity by a rule: they wait for a reviewer, who keeps both apart
-- (keep_all) or says they are one. Rows that differ only where one is
-- NULL still merge by rule.
BEGIN;
SELECT plan(6);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  DROP SCHEMA IF EXISTS tap_nn_e1 CASCADE;
  DROP SCHEMA IF EXISTS tap_nn_e2 CASCADE;
  CREATE SCHEMA tap_nn_e1;
  CREATE SCHEMA tap_nn_e2;
  CREATE TABLE tap_nn_e1.nn_customer (id int PRIMARY KEY, name text, city text, email text, tdm_release text, tdm_feature text);
  CREATE TABLE tap_nn_e2.nn_customer (LIKE tap_nn_e1.nn_customer INCLUDING ALL);
  INSERT INTO tap_nn_e1.nn_customer VALUES (1, 'Ann One', NULL, NULL, 'TNN1', 'F'), (2, 'Bob', 'Oslo', NULL, 'TNN1', 'F');
  INSERT INTO tap_nn_e2.nn_customer VALUES (1, 'Cid Three', NULL, NULL, 'TNN1', 'F'), (2, 'Bob', NULL, NULL, 'TNN1', 'F')$$)
  \g /dev/null
SELECT pg_temp.loopback_server('tap_nn_self');
CREATE TABLE staging.nn_customer (id serial PRIMARY KEY, name text, city text, email text UNIQUE,
                                  tdm_release text, tdm_feature text);
SELECT tdm.add_environment('nn1', 'tap_nn_self', 10, 'tap_nn_e1'), tdm.add_environment('nn2', 'tap_nn_self', 20, 'tap_nn_e2');
SELECT tdm.manage_table('staging.nn_customer', '{email}');
SELECT tdm.create_release('TNN1'), tdm.add_feature('TNN1', 'F', 1);
SELECT tdm.tag_release('TNN1');
SELECT tdm.consolidate('TNN1') AS run \gset

SELECT results_eq(format($$SELECT rule, status FROM tdm.conflict WHERE run_id = %s ORDER BY members -> 0 -> 'row' ->> 'id'$$, :run),
  $$VALUES ('manual', 'pending'), ('non_conflicting_merge', 'auto_resolved')$$,
  'Ann and Cid (id 1, no email, names differ) wait for review; the two Bobs (2) merge by rule');
SELECT is((SELECT rationale FROM tdm.review_queue WHERE release = 'TNN1'),
  'nn1 and nn2 share only id 1, which each environment gives on its own, with no email to tell (NULL), and name'
  ' differs: one entity or two, a human decides (keep one, merge, or keep_all)',
  'the rationale says why no rule settles it');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'awaiting_review', 'the run waits for the reviewer');
SELECT tdm.resolve(conflict_id, 'keep_all', rationale => 'two customers') FROM tdm.review_queue WHERE release = 'TNN1';
SELECT is(tdm.consolidate('TNN1'), :run::bigint, 'the same run resumes');
SELECT results_eq('SELECT name, city FROM staging.nn_customer ORDER BY name',
  $$VALUES ('Ann One', NULL), ('Bob', 'Oslo'), ('Cid Three', NULL)$$,
  'both customers without an email are loaded, the Bobs once');

-- (Another matter, on the same release:) tagged again after its
-- consolidation, with an error (its rows' feature gone from the plan),
-- the release is open: promote says to tag it first, not to consolidate,
-- which would refuse an open release.
DELETE FROM tdm.feature WHERE release = 'TNN1';
SELECT tdm.add_feature('TNN1', 'G', 1);
SELECT tdm.tag_release('TNN1');
SELECT is(pg_temp.hint_of($$SELECT tdm.promote('TNN1')$$),
  'Fix what its tagging found and tag it again (SELECT tdm.tag_release(''TNN1'');), then consolidate it again:'
  ' SELECT tdm.consolidate(''TNN1'');',
  'promote of a release tagged again with errors says to tag it first');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_nn_e1 CASCADE;
DROP SCHEMA tap_nn_e2 CASCADE;
