-- A decided conflict keeps the rank it was decided at: detection may
-- rank it lower at the next call (here the table's core column is no
-- longer one; in real schemas, a parent's decision settling what made a
-- child's conflict critical), but the decision was taken, and must be
-- approved, as a priority 1 one, and the report counts it so. So in a
-- run into another target as well, whose conflicts rank it anew. And a
-- conflict a check after detection sent to review (an exact duplicate
-- whose references name different rows once their keys are settled)
-- keeps, decided, what its reviewer saw, not the rule's view detection
-- gives it again at the same rank.
BEGIN;
SELECT plan(13);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_da_e1;
  CREATE SCHEMA tap_da_e2;
  CREATE TABLE tap_da_e1.da_plan (id int PRIMARY KEY, code text NOT NULL UNIQUE, price int, tdm_release text,
                                  tdm_feature text);
  CREATE TABLE tap_da_e2.da_plan (LIKE tap_da_e1.da_plan);
  INSERT INTO tap_da_e1.da_plan VALUES (1, 'basic', 10, 'TDA', 'F');
  INSERT INTO tap_da_e2.da_plan VALUES (1, 'basic', 12, 'TDA', 'F');
  -- (a question in both environments, alike, accepting answer 2: each
  -- environment's own answer)
  CREATE TABLE tap_da_e1.da_post (id int PRIMARY KEY, parent_id int, accepted_answer_id int, body text,
                                  tdm_release text, tdm_feature text);
  CREATE TABLE tap_da_e2.da_post (LIKE tap_da_e1.da_post);
  INSERT INTO tap_da_e1.da_post VALUES (1, NULL, 2, 'question', 'TDA2', 'F'), (2, 1, NULL, 'answer of e1', 'TDA2', 'F');
  INSERT INTO tap_da_e2.da_post VALUES (1, NULL, 2, 'question', 'TDA2', 'F'), (2, 1, NULL, 'answer of e2', 'TDA2', 'F')$$)
  \g /dev/null
SELECT pg_temp.loopback_server('tap_da_self');
CREATE TABLE staging.da_plan (LIKE tap_da_e1.da_plan);
ALTER TABLE staging.da_plan ADD PRIMARY KEY (id), ADD UNIQUE (code);
SELECT tdm.add_environment('da1', 'tap_da_self', 10, 'tap_da_e1');
SELECT tdm.add_environment('da2', 'tap_da_self', 20, 'tap_da_e2');
SELECT tdm.manage_table('staging.da_plan', '{code}', core_columns => '{price}');
SELECT tdm.create_release('TDA'), tdm.add_feature('TDA', 'F', 1);
SELECT tdm.tag_release('TDA') IS NOT NULL;
SELECT tdm.consolidate('TDA') AS run \gset
SELECT conflict_id AS plan FROM tdm.conflict WHERE run_id = :run \gset
SELECT tdm.resolve(:'plan', 'keep', 'da2', rationale => 'the new price');

-- price is no core column any more: a rule would settle the conflict now.
SELECT tdm.manage_table('staging.da_plan', '{code}');
SELECT tdm.consolidate('TDA');
SELECT results_eq($$SELECT priority, class, status, rationale ~ 'price' FROM tdm.conflict
                     WHERE run_id = $$ || :run || $$ AND conflict_id = '$$ || :'plan' || $$'$$,
  $$VALUES (1, 'complex', 'decided', true)$$,
  'the decided conflict keeps the priority, class and rationale it was decided with');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'awaiting_review',
  'so its decision still waits for a second reviewer''s approval');
SELECT ok((SELECT count(*) = 0 FROM staging.da_plan), 'and nothing is loaded meanwhile');
SELECT ok(tdm.report(:run) ~ 'P1 1', 'the report counts it as priority 1');

-- A rehearsal into another schema: a new run, whose detection ranks the
-- conflict priority 3, a rule's.
CREATE SCHEMA tap_da_rehearsal;
CREATE TABLE tap_da_rehearsal.da_plan (LIKE staging.da_plan INCLUDING ALL);
SELECT tdm.consolidate('TDA', target => 'tap_da_rehearsal') AS rehearsal \gset
SELECT results_eq($$SELECT c.priority, c.class, c.status, r.status FROM tdm.conflict c JOIN tdm.run r USING (run_id)
                     WHERE c.run_id = $$ || :rehearsal || $$ AND c.conflict_id = '$$ || :'plan' || $$'$$,
  $$VALUES (1, 'complex', 'decided', 'awaiting_review')$$,
  'a rehearsal keeps the rank the decision was taken at: it waits for the approval too');
SELECT ok((SELECT count(*) = 0 FROM tap_da_rehearsal.da_plan), 'and loads nothing unapproved');
SELECT is(tdm._decided_priority(:'plan', NULL), 1,
  'a decision restored without its rank has the one its decide audit row recorded');
-- (approved by a login acting as the group role of its team)
CREATE ROLE tap_da_team;
GRANT tdm_reviewer TO tap_da_team;
CREATE ROLE tap_da_approver IN ROLE tap_da_team;
SET SESSION AUTHORIZATION tap_da_approver;
SET ROLE tap_da_team;
SELECT tdm.approve(:'plan');
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT is((SELECT approved_by FROM tdm.decision WHERE conflict_id = :'plan'), 'tap_da_team'::name,
  'approve takes the decision as the priority 1 one it was taken as, after the rehearsal ranked it anew');
SELECT tdm.consolidate('TDA');
SELECT results_eq($$SELECT r.status, p.price FROM tdm.run r, staging.da_plan p WHERE r.run_id = $$ || :run,
  $$VALUES ('completed', 12)$$, 'the staging run goes on with the approved decision');
SELECT matches(tdm.report(:run), 'keep da2 by postgres, approved by tap_da_team \(login tap_da_approver\):',
  'the report names the login that approved under its team''s role (not the login that is the role)');

CREATE TABLE staging.da_post (id int PRIMARY KEY, parent_id int REFERENCES staging.da_post,
                              accepted_answer_id int REFERENCES staging.da_post, body text,
                              tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.da_post', surrogate_key => true);
SELECT tdm.create_release('TDA2'), tdm.add_feature('TDA2', 'F', 1);
SELECT tdm.tag_release('TDA2') IS NOT NULL;
SELECT tdm.consolidate('TDA2') AS post_run \gset
SELECT conflict_id AS question, suggestion AS asked FROM tdm.review_queue WHERE rel = 'staging.da_post'::regclass \gset
SELECT ok(:'asked' ~ 'keep_all if they are different rows'
          AND (SELECT rationale ~ 'which detection took for one by the keys each environment gives them$'
                 FROM tdm.conflict WHERE run_id = :post_run AND conflict_id = :'question'),
  'the alike questions go to review, said to be one by their environments'' keys (the table has no natural key)');
SELECT tdm.resolve(:'question', 'keep_all', rationale => 'two questions');
SELECT tdm.consolidate('TDA2');
SELECT results_eq($$SELECT c.status, c.class, c.suggestion, r.status FROM tdm.conflict c JOIN tdm.run r USING (run_id)
                     WHERE c.run_id = $$ || :post_run || $$ AND c.conflict_id = '$$ || :'question' || $$'$$,
  format('VALUES (%L, %L, %L, %L)', 'applied', 'complex', :'asked', 'completed'),
  'applied, the conflict keeps what its reviewer saw, not the exact duplicate detection finds again');
SELECT results_eq($$SELECT a.body FROM staging.da_post q JOIN staging.da_post a ON a.id = q.accepted_answer_id
                     WHERE q.parent_id IS NULL AND a.parent_id = q.id ORDER BY 1$$,
  $$VALUES ('answer of e1'), ('answer of e2')$$, 'each question accepts its own answer, which answers it');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_da_e1 CASCADE;
DROP SCHEMA tap_da_e2 CASCADE;
