-- A keep_all that renames a row apart from another row a rule merges into
-- it (by the key they no longer share) would have that row take the new
-- values, and no row keep its own (p317: X6 of two environments lost,
-- e3's row loaded as e2's RV). Refused when decided, naming the rule's
-- conflict, and at the call where the rule is back since; with that
-- conflict decided keep_all, both rows load.
BEGIN;
SELECT plan(6);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_rs_e1;
  CREATE SCHEMA tap_rs_e2;
  CREATE SCHEMA tap_rs_e3;
  CREATE TABLE tap_rs_e1.rs_item (a int, b int, code text NOT NULL UNIQUE, val text, tdm_release text,
                                  tdm_feature text, PRIMARY KEY (a, b));
  CREATE TABLE tap_rs_e2.rs_item (LIKE tap_rs_e1.rs_item INCLUDING ALL);
  CREATE TABLE tap_rs_e3.rs_item (LIKE tap_rs_e1.rs_item INCLUDING ALL);
  INSERT INTO tap_rs_e1.rs_item VALUES (1, 7, 'X0', 'e1 seven', 'TRS', 'F');
  INSERT INTO tap_rs_e2.rs_item VALUES (1, 7, 'X6', 'e2 seven', 'TRS', 'F');
  INSERT INTO tap_rs_e3.rs_item VALUES (1, 3, 'X6', 'e3 three', 'TRS', 'F');
  CREATE TABLE tap_rs_e1.rs_box (a int, b int, code text NOT NULL UNIQUE, val text, tdm_release text,
                                 tdm_feature text, PRIMARY KEY (a, b));
  CREATE TABLE tap_rs_e2.rs_box (LIKE tap_rs_e1.rs_box INCLUDING ALL);
  CREATE TABLE tap_rs_e3.rs_box (LIKE tap_rs_e1.rs_box INCLUDING ALL);
  INSERT INTO tap_rs_e1.rs_box VALUES (1, 7, 'X6', 'e1 seven', 'TRS', 'F');
  INSERT INTO tap_rs_e2.rs_box VALUES (1, 3, 'X6', 'e2 three', 'TRS', 'F');
  INSERT INTO tap_rs_e3.rs_box VALUES (1, 7, 'X0', 'e3 seven', 'TRS', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_rs_self');
CREATE SCHEMA tap_rs;
CREATE TABLE tap_rs.rs_item (a int, b int, code text NOT NULL UNIQUE, val text, tdm_release text, tdm_feature text,
                             PRIMARY KEY (a, b));
CREATE TABLE tap_rs.rs_box (LIKE tap_rs.rs_item INCLUDING ALL);
SELECT tdm.add_environment('rs1', 'tap_rs_self', 10, 'tap_rs_e1'), tdm.add_environment('rs2', 'tap_rs_self', 20, 'tap_rs_e2'),
       tdm.add_environment('rs3', 'tap_rs_self', 30, 'tap_rs_e3');
SELECT tdm.manage_table('tap_rs.rs_item', '{code}'), tdm.manage_table('tap_rs.rs_box', '{code}');
SELECT tdm.create_release('TRS'), tdm.add_feature('TRS', 'F', 1);
SELECT tdm.tag_release('TRS'), tdm.consolidate('TRS', 'tap_rs');
-- rs2's (1,7) collides with rs1's; a rule merges rs3's X6 into rs2's X6.
SELECT conflict_id AS on_key FROM tdm.conflict WHERE rel = 'tap_rs.rs_item'::regclass AND kind = 'duplicate_pk' \gset
SELECT conflict_id AS on_code FROM tdm.conflict WHERE rel = 'tap_rs.rs_item'::regclass AND kind <> 'duplicate_pk' \gset
SELECT (SELECT rule FROM tdm.conflict WHERE conflict_id = :'on_code') AS code_rule \gset
-- In rs_box, a rule merges rs2's X6 into rs1's X6, and rs1's (1,7)
-- collides with rs3's: a merge of that collision that keeps rs1's row with
-- another code would take rs2's X6 along (p318).
SELECT conflict_id AS box_key FROM tdm.conflict WHERE rel = 'tap_rs.rs_box'::regclass AND kind = 'duplicate_pk' \gset
SELECT conflict_id AS box_code FROM tdm.conflict WHERE rel = 'tap_rs.rs_box'::regclass AND kind <> 'duplicate_pk' \gset
SELECT is((pg_temp.error_of(format($$SELECT tdm.resolve(%L, 'merge', merged => '{"code": "RV"}',
                                                        rationale => 'one box, RV')$$, :'box_key'))).message,
  format('decision on %s: merged values set rs1''s row apart from rs2''s, which rule %s of conflict %s merges into it'
         ' by its code: that row would take them, and no row would keep its own', :'box_key',
         (SELECT rule FROM tdm.conflict WHERE conflict_id = :'box_code'), :'box_code'),
  'a merge whose values set the row it keeps apart from a row a rule merges into it: refused the same');
SELECT tdm.resolve(:'box_key', 'keep', 'rs1', rationale => 'rs1''s box');

SELECT is((pg_temp.error_of(format($$SELECT tdm.resolve(%L, 'keep_all', renames => '{"rs2": {"b": 9, "code": "RV"}}',
                                                        rationale => 'rs2 is RV')$$, :'on_key'))).message,
  format('decision on %s: renames set rs2''s row apart from rs3''s, which rule %s of conflict %s merges into it by'
         ' its code: that row would take them, and no row would keep its own', :'on_key', :'code_rule',
         :'on_code'),
  'renaming the row a rule merges another into, apart from it: refused, naming the rule''s conflict');
-- Taken while the rule's conflict was decided, which is withdrawn after:
-- the call refuses it.
SELECT tdm.resolve(:'on_code', 'keep_all', renames => '{"rs2": {"code": "RV"}}', rationale => 'rs3 keeps X6');
SELECT tdm.resolve(:'on_key', 'keep_all', renames => '{"rs2": {"b": 9, "code": "RV"}}', rationale => 'rs2 is RV');
DELETE FROM tdm.decision WHERE conflict_id = :'on_code';
SELECT is((pg_temp.error_of($$SELECT tdm.consolidate('TRS', 'tap_rs')$$)).message,
  format('consolidate: tap_rs.rs_item: the renames of %s set rs2''s row (1, 7) apart from rs3''s (1, 3), which'
         ' rule %s of %s merges into it by its code: that row would take them, and no row would keep its own',
         :'on_key', :'code_rule', :'on_code'),
  'the rule back since: the call refuses, naming both conflicts');
SELECT is((SELECT count(*) FROM tap_rs.rs_item), 0::bigint, 'and loads nothing');
-- The rule's conflict decided keep_all, as the HINT says: rs3 keeps X6,
-- rs2 is RV.
SELECT tdm.resolve(:'on_code', 'keep_all', renames => '{"rs2": {"code": "RV"}}', rationale => 'rs3 keeps X6');
SELECT tdm.consolidate('TRS', 'tap_rs');
SELECT results_eq($$SELECT a, b, code, val FROM tap_rs.rs_item ORDER BY a, b$$,
  $$VALUES (1, 3, 'X6', 'e3 three'), (1, 7, 'X0', 'e1 seven'), (1, 9, 'RV', 'e2 seven')$$,
  'with the rule''s conflict decided keep_all, every row loads as its own entity');
SELECT is((SELECT status FROM tdm.run WHERE release = 'TRS'), 'completed', 'and the run completes');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_rs_e1, tap_rs_e2, tap_rs_e3 CASCADE;
