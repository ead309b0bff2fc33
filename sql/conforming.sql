-- tdm in a session with standard_conforming_strings = off from its start:
-- tdm's own string literals (regexes, escapes, the SQL it builds) read as
-- under on, without a warning about any of them (escape_string_warning
-- would print one into this output), and types are named as they are.
-- (This file's own literals hold no backslash outside E'...'.)
SET standard_conforming_strings = off;
SET escape_string_warning = on;
\set SHOW_CONTEXT never
\ir sql/include/sessions.sql
\ir sql/include/in_environments.sql
SELECT tdm._describe_type('timestamp without time zone', 'timestamp', NULL, NULL, NULL, 3),
       tdm._describe_type('ARRAY', '_timestamp', NULL, NULL, NULL, 6);
SELECT pg_temp.in_environments(
  'CREATE TABLE cf_items (id int PRIMARY KEY, code text NOT NULL UNIQUE, note text, seen timestamp(3),'
  '  tdm_release text, tdm_feature text)');
CREATE SCHEMA cf_st1;
CREATE SCHEMA cf_st2;
IMPORT FOREIGN SCHEMA public LIMIT TO (cf_items) FROM SERVER st1 INTO cf_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (cf_items) FROM SERVER st2 INTO cf_st2;
CREATE TABLE staging.cf_items (id int PRIMARY KEY, code text NOT NULL UNIQUE, note text, seen timestamp(3),
  tdm_release text, tdm_feature text);
CREATE INDEX ON staging.cf_items (lower(code)) INCLUDE (note);
SELECT tdm.manage_table('staging.cf_items', '{code}', core_columns => '{note}');
SELECT tdm.create_release('R-CF1'), tdm.add_feature('R-CF1', 'FEAT-CF', 1);
-- id 1: two entities (st2's re-keyed); code b: one entity whose note
-- differs, a backslash and a line break in st1's.
INSERT INTO cf_st1.cf_items VALUES (1, 'a', 'one', '2024-01-02 03:04:05.678', 'R-CF1', 'FEAT-CF'),
                                     (2, 'b', E'back\\slash\nline', NULL, 'R-CF1', 'FEAT-CF');
INSERT INTO cf_st2.cf_items VALUES (1, 'c', 'three', NULL, 'R-CF1', 'FEAT-CF'),
                                     (2, 'b', 'plain', NULL, 'R-CF1', 'FEAT-CF');
-- schema_diff reads the environments' index definitions and constraints
-- with regexes: st1 lacks the index.
SELECT kind, in_a, in_b FROM tdm.schema_diff('st1', 'local') WHERE rel = 'staging.cf_items'::regclass;
SELECT tdm.tag_release('R-CF1') IS NOT NULL AS tagged;
SELECT severity, detail FROM tdm.tag_finding
 WHERE job_id = (SELECT max(job_id) FROM tdm.tag_finding) AND rel = 'staging.cf_items'::regclass;
SET client_min_messages = warning;
SELECT tdm.consolidate('R-CF1') AS run \gset
RESET client_min_messages;
SELECT kind, priority, status FROM tdm.conflict WHERE run_id = :run ORDER BY kind;
SELECT side_by_side FROM tdm.review_queue WHERE run_id = :run;
SELECT tdm.resolve(conflict_id, 'keep', keep_env => 'st1', rationale => E'st1\'s note, backslash kept')
  FROM tdm.conflict WHERE run_id = :run AND status = 'pending';
SET SESSION AUTHORIZATION tdm_regress_approver;
SELECT tdm.approve(conflict_id) FROM tdm.conflict WHERE run_id = :run AND status = 'decided';
RESET SESSION AUTHORIZATION;
SET client_min_messages = warning;
SELECT tdm.consolidate('R-CF1') = :run AS same_run;
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :run;
SELECT id, code, note, seen FROM staging.cf_items ORDER BY id;
SELECT regexp_replace(line, ' by [a-z_]+', ' by (role)', 'g') AS line
  FROM regexp_split_to_table(tdm.report(:run, 'text'), E'\n') AS line WHERE line ~ 'st1''s note';
