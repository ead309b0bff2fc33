-- Consolidation on schema shapes beyond the scenario's own (release R11):
-- a primary key that includes a foreign key, whose rows get a new key with
-- their parent's and carry their own children along, also after a
-- reviewer renames them; a char(n) key tdm cannot re-key (the preview says
-- what the run does, and the review queue shows the children); numbers
-- equal but written with another scale. Then what a DBA runs into: a
-- managed table dropped, two managed tables with one name, data changed
-- after a release was consolidated, an environment's enum value the
-- consolidation database does not know.
\set SHOW_CONTEXT never
\ir sql/include/sessions.sql
CREATE SCHEMA ship_st1;
CREATE SCHEMA ship_st2;
IMPORT FOREIGN SCHEMA public LIMIT TO (shipments, parcels, parcel_scans, depots, couriers)
  FROM SERVER st1 INTO ship_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (shipments, parcels, parcel_scans, depots, couriers)
  FROM SERVER st2 INTO ship_st2;

SELECT tdm.manage_table('staging.shipments', '{ref}');
SELECT tdm.manage_table('staging.parcels');
SELECT tdm.manage_table('staging.parcel_scans');
SELECT tdm.manage_table('staging.depots', '{name}');
SELECT tdm.manage_table('staging.couriers');
SELECT tdm.create_release('R11', 'v11.0');
SELECT tdm.add_feature('R11', 'FEAT-1101', 1), tdm.add_feature('R11', 'FEAT-1102', 1);

-- SHP-1 is shipment 1 in st1 and 2 in st2: st2's merges into st1's, and
-- its parcels (2, 3), (2, 4) and (2, 6) become (1, 3), (1, 4) and (1, 6)
-- (renamed: their keys changed). (1, 3) and (1, 4) meet st1's: (1, 3)
-- weighs the same (1.5 and 1.50), (1, 4) does not, and the two carry
-- features of equal priority, so a reviewer decides.
INSERT INTO ship_st1.shipments VALUES (1, 'SHP-1', 'R11', 'FEAT-1101');
INSERT INTO ship_st2.shipments VALUES (2, 'SHP-1', 'R11', 'FEAT-1101');
INSERT INTO ship_st1.parcels VALUES (1, 3, 1.5, 'R11', 'FEAT-1101'), (1, 4, 8, 'R11', 'FEAT-1101');
INSERT INTO ship_st2.parcels VALUES (2, 3, 1.50, 'R11', 'FEAT-1101'), (2, 4, 7, 'R11', 'FEAT-1102'),
                                    (2, 6, 2, 'R11', 'FEAT-1101');
INSERT INTO ship_st2.parcel_scans VALUES (200, 2, 3, 'hub', 'R11', 'FEAT-1101'),
                                         (201, 2, 4, 'door', 'R11', 'FEAT-1102');
-- Depot OPS is two depots (their names differ); a char(4) key tdm cannot
-- generate, so a reviewer gives st2's a new code. st2's courier works there.
INSERT INTO ship_st1.depots VALUES ('OPS', 'Operations', 'R11', 'FEAT-1101');
INSERT INTO ship_st2.depots VALUES ('OPS', 'Outposts', 'R11', 'FEAT-1101');
INSERT INTO ship_st2.couriers VALUES (30, 'OPS', 'Ann', 'R11', 'FEAT-1101');
INSERT INTO ship_st1.depots VALUES ('HUB', 'Hub', 'R11', 'FEAT-1101');  -- in no conflict
SELECT tdm.tag_release('R11') IS NOT NULL AS tagged;

-- The preview and the run agree on the depots: a reviewer's, not a rule's.
SELECT rel, kind, class, priority, rule, suggestion FROM tdm.detect_conflicts('R11')
 WHERE rel = 'staging.depots'::regclass;
SET client_min_messages = warning;  -- (run and job numbers)
SELECT tdm.consolidate('R11') AS run \gset
RESET client_min_messages;
SELECT rel, kind, class, priority, rule, status FROM tdm.conflict WHERE run_id = :run
 ORDER BY rel::text, kind;
-- The queue shows who hangs on each member (the char(4) key included).
SELECT rel, related FROM tdm.review_queue WHERE release = 'R11' ORDER BY rel::text;

-- Bad decisions, refused at once: renamed keys another row holds (another
-- member; a row of the release in no conflict, found in its environment),
-- a merge that moves the row to another release or to a feature outside
-- the plan.
SELECT conflict_id AS depot_conflict FROM tdm.review_queue
 WHERE release = 'R11' AND rel = 'staging.depots'::regclass \gset
SELECT tdm.resolve(:'depot_conflict', 'keep_all', renames => '{"st2": {"code": "OPS"}}',
                   rationale => 'same code');
SELECT tdm.resolve(:'depot_conflict', 'keep_all', renames => '{"st2": {"code": "OUT", "name": "Operations"}}',
                   rationale => 'same name');
SELECT tdm.resolve(:'depot_conflict', 'keep_all', renames => '{"st2": {"code": "HUB"}}',
                   rationale => 'the hub''s code');
SELECT tdm.resolve(:'depot_conflict', 'keep_all', renames => '{"st2": {"code": "OUT", "name": "Hub"}}',
                   rationale => 'the hub''s name');
SELECT tdm.resolve(:'depot_conflict', 'merge', merged => '{"tdm_release": "R12"}',
                   rationale => 'into the next release');
SELECT tdm.resolve(:'depot_conflict', 'merge', merged => '{"tdm_feature": "FEAT-9"}',
                   rationale => 'another feature');
-- Natural keys compared normalized (normalize_keys): so are renames.
SELECT tdm.manage_table('staging.depots', '{name}', normalize_keys => true);
SELECT tdm.resolve(:'depot_conflict', 'keep_all', renames => '{"st2": {"code": "OUT", "name": " operations"}}',
                   rationale => 'same name but for case and spaces');
SELECT tdm.resolve(:'depot_conflict', 'keep_all', renames => '{"st2": {"code": "OUT", "name": "HUB "}}',
                   rationale => 'the hub''s name but for case and spaces');
SELECT tdm.manage_table('staging.depots', '{name}');
SELECT count(*) AS decisions FROM tdm.decision WHERE conflict_id = :'depot_conflict';

-- (st2's parcel (2, 6) became (1, 6) with its shipment: not free either.)
-- A reviewer decides, who may not read staging: the parcel's key includes
-- a foreign key, which the check finds in tdm's catalog alone.
SET ROLE tdm_regress_reviewer;
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"st2": {"parcel_no": 6}}',
                   rationale => 'the sixth?')
  FROM tdm.review_queue WHERE release = 'R11' AND rel::text = 'staging.parcels';
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"st2": {"parcel_no": 5}}',
                   rationale => 'two parcels: st2''s is the fifth') IS NULL AS decided
  FROM tdm.review_queue WHERE release = 'R11' AND rel::text = 'staging.parcels';
RESET ROLE;
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"st2": {"code": "OUT"}}',
                   rationale => 'two depots: st2''s is the outpost') IS NULL AS decided
  FROM tdm.review_queue WHERE release = 'R11' AND rel = 'staging.depots'::regclass;
SELECT tdm.consolidate('R11') = :run AS same_run;
SELECT status, rows_collected, rows_loaded, rows_merged, rows_renamed,
       rows_collected = rows_loaded + rows_merged + rows_deleted AS accounted
  FROM tdm.run WHERE run_id = :run;
-- Every key that changed, from the environment's key to the final one:
-- st2's (2, 4) went to (1, 4) with its shipment, then to (1, 5) by the
-- decision, in one entry, `renamed` (the decision gave the final key).
SELECT rel, env, old_key, new_key, reason FROM tdm.key_map WHERE run_id = :run
 ORDER BY rel::text, old_key::text;
-- The scans followed their parcels; the courier followed its depot.
SELECT shipment_id, parcel_no, weight FROM staging.parcels WHERE tdm_release = 'R11' ORDER BY 1, 2;
SELECT scan_id, shipment_id, parcel_no, place FROM staging.parcel_scans ORDER BY 1;
SELECT code, name FROM staging.depots ORDER BY 1;
SELECT courier_id, depot FROM staging.couriers ORDER BY 1;

-- Business rules resolve names as validation does (search_path pg_catalog,
-- pg_temp): an unqualified function of another schema is refused when the
-- rule is added, not at validation. A rule whose column was renamed since
-- stops consolidation before it starts, naming the rule.
CREATE FUNCTION public.tdm_test_positive(n int) RETURNS bool LANGUAGE sql IMMUTABLE
  AS 'SELECT n > 0';
SELECT tdm.add_rule('parcel_no_positive', 'staging.parcels', 'tdm_test_positive(parcel_no)');
SELECT tdm.add_rule('parcel_no_positive', 'staging.parcels', 'public.tdm_test_positive(parcel_no)');
SELECT tdm.add_rule('some_parcels', 'staging.parcels', 'count(*) > 0');
SELECT tdm.add_rule('weight_positive', 'staging.parcels', 'weight > 0');
ALTER TABLE staging.parcels RENAME weight TO mass;
SELECT tdm.consolidate('R11');
ALTER TABLE staging.parcels RENAME mass TO weight;
SELECT tdm.drop_rule('weight_positive'), tdm.drop_rule('parcel_no_positive');
SELECT tdm.drop_rule('weight_positive');
DROP FUNCTION public.tdm_test_positive(int);

-- Data changed after consolidation: consolidating says to tag again, and
-- the consolidated release can be tagged again.
INSERT INTO ship_st1.couriers VALUES (31, 'OPS', 'Bob', 'R11', 'FEAT-1101');
\set VERBOSITY terse
SELECT tdm.consolidate('R11');
\set VERBOSITY default
SELECT tdm.tag_release('R11') IS NOT NULL AS tagged;
SELECT status FROM tdm.release WHERE release = 'R11';
-- A rule that fails on a row (a division by zero) stops the call, naming
-- the rule; a comment at the end of a predicate ends there; a column
-- may be qualified with the table's name (rules read the row under it).
SELECT tdm.add_rule('weight_ratio', 'staging.parcels', 'weight / (weight - weight) > 0 -- never zero');
SELECT tdm.add_rule('qualified', 'staging.parcels', 'parcels.weight > 0');
SELECT tdm.consolidate('R11');
SELECT tdm.drop_rule('weight_ratio');
SELECT tdm.consolidate('R11') = :run AS same_run;
SELECT status, rows_loaded FROM tdm.run WHERE run_id = :run;
SELECT status FROM tdm.release WHERE release = 'R11';

-- A run that no reviewer touched: the report says so (release R13). Its
-- target table is partitioned, and the key tdm generates falls past the
-- last partition: validation finds it, and a new partition settles it.
CREATE SCHEMA stop_st1;
CREATE SCHEMA stop_st2;
IMPORT FOREIGN SCHEMA public LIMIT TO (stops) FROM SERVER st1 INTO stop_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (stops) FROM SERVER st2 INTO stop_st2;
DROP TABLE staging.stops;
CREATE TABLE staging.stops (stop_id int PRIMARY KEY, name text NOT NULL,
                            tdm_release text, tdm_feature text) PARTITION BY RANGE (stop_id);
CREATE TABLE staging.stops_low PARTITION OF staging.stops FOR VALUES FROM (0) TO (2);
SELECT tdm.manage_table('staging.stops', '{name}');
SELECT tdm.create_release('R13');
SELECT tdm.add_feature('R13', 'FEAT-1301', 1);
INSERT INTO stop_st1.stops VALUES (1, 'Dock', 'R13', 'FEAT-1301');
INSERT INTO stop_st2.stops VALUES (1, 'Gate', 'R13', 'FEAT-1301');
SELECT tdm.tag_release('R13') IS NOT NULL AS tagged;
SET client_min_messages = warning;
SELECT tdm.consolidate('R13') AS run \gset
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :run;
SELECT rel, kind, row_key, detail FROM tdm.violation WHERE run_id = :run;
CREATE TABLE staging.stops_high PARTITION OF staging.stops FOR VALUES FROM (2) TO (100);
SELECT tdm.consolidate('R13') = :run AS same_run;
SELECT stop_id, name FROM staging.stops ORDER BY 1;
SELECT regexp_replace(tdm.report(:run), '(Phase timings \(ms\)|All calls \(ms\)|Manual review time|Total elapsed|Completed):[^\n]*',
                      '\1: ...', 'g') AS report;
SELECT tdm.report(:run, 'json')::jsonb -> 'decisions' AS decisions,
       tdm.report(:run, 'html') LIKE '%<td>Decisions</td><td>none</td>%' AS html_says_none;
-- A snapshot of a target with a partitioned table copies its rows through
-- its partitions, and a rollback restores them.
SELECT tdm.snapshot('schemas', 'staging') AS snap \gset
SELECT row_count FROM tdm.snapshot_table
 WHERE snapshot_id = :snap AND rel = 'staging.stops'::regclass;
DELETE FROM staging.stops WHERE stop_id = 2;
SELECT tdm.rollback(:snap) IS NOT NULL AS rolled_back;
SELECT stop_id, name FROM staging.stops ORDER BY 1;
-- Bad input: a partition detached since the snapshot; the table refuses
-- the row it held, and the rollback says so, changing nothing.
ALTER TABLE staging.stops DETACH PARTITION staging.stops_high;
SELECT tdm.rollback(:snap);
SELECT stop_id, name FROM staging.stops ORDER BY 1;
ALTER TABLE staging.stops ATTACH PARTITION staging.stops_high FOR VALUES FROM (2) TO (100);
-- Bad input: master's table, partitioned by the DBA, has no partition for
-- a row of R13 (its stops_high starts at 50, and staging's of that name is
-- not made again): promote names the table and promotes nothing.
CREATE TABLE master.stops (LIKE staging.stops INCLUDING ALL) PARTITION BY RANGE (stop_id);
CREATE TABLE master.stops_low PARTITION OF master.stops FOR VALUES FROM (0) TO (2);
CREATE TABLE master.stops_high PARTITION OF master.stops FOR VALUES FROM (50) TO (100);
SELECT tdm.promote('R13');
SELECT count(*) AS promoted_stops FROM master.stops;
DROP TABLE master.stops;
-- Bad input: master's table has an exclusion constraint, and a row written
-- there since holds the name of R13's row: promote names the row it meets
-- and promotes nothing.
CREATE TABLE master.stops (LIKE staging.stops INCLUDING ALL);
ALTER TABLE master.stops ADD CONSTRAINT stops_one_name EXCLUDE USING btree (name WITH =);
INSERT INTO master.stops VALUES (50, 'Dock', 'R0', NULL);
SELECT tdm.promote('R13');
SELECT count(*) AS promoted_stops FROM master.stops WHERE tdm_release = 'R13';
DROP TABLE master.stops;
-- A table managed since the snapshot, holding rows: the rollback would
-- leave them, so it refuses; emptied, the table goes back too.
CREATE TABLE staging.extra (id int PRIMARY KEY, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.extra');
INSERT INTO staging.extra VALUES (1, 'R13', 'FEAT-1301');
SELECT tdm.rollback(:snap);
DELETE FROM staging.extra;
SELECT tdm.rollback(:snap) IS NOT NULL AS rolled_back;
SELECT tdm.unmanage_table('staging.extra');
DROP TABLE staging.extra;

-- A later release's rows that reference an earlier release's rows by the
-- environment's key follow the key those rows got (release R14, after
-- R11): st2's courier 33 works at st2's depot OPS, which R11 loaded as OUT
-- (staging's OPS is st1's depot).
SELECT tdm.create_release('R14', parent => 'R11');
SELECT tdm.add_feature('R14', 'FEAT-1401', 1);
INSERT INTO ship_st2.couriers VALUES (33, 'OPS', 'Cy', 'R14', 'FEAT-1401');
-- And st2's parcel (2, 9) of shipment 2, which R11 merged into shipment 1,
-- becomes (1, 9), which R14's key map says (its scan follows it).
INSERT INTO ship_st2.parcels VALUES (2, 9, 3, 'R14', 'FEAT-1401');
INSERT INTO ship_st2.parcel_scans VALUES (202, 2, 9, 'dock', 'R14', 'FEAT-1401');
SELECT tdm.tag_release('R14') IS NOT NULL AS tagged;
SET client_min_messages = warning;
SELECT tdm.consolidate('R14') AS run \gset
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :run;
SELECT courier_id, depot, tdm_release FROM staging.couriers ORDER BY 1;
SELECT rel, env, old_key, new_key, reason FROM tdm.key_map WHERE run_id = :run;
SELECT scan_id, shipment_id, parcel_no FROM staging.parcel_scans WHERE tdm_release = 'R14';

-- A row an earlier release's decision deleted: a later release's row that
-- references it is a relationship conflict, not a reference to whatever
-- row has that key now (R16's depots DEL are deleted; R17 brings st3's
-- depot DEL, and st2's courier 34 works at st2's DEL).
CREATE SCHEMA ship_st3;
IMPORT FOREIGN SCHEMA public LIMIT TO (depots, couriers) FROM SERVER st3 INTO ship_st3;
SELECT tdm.create_release('R16', parent => 'R14');
SELECT tdm.add_feature('R16', 'FEAT-1601', 1);
INSERT INTO ship_st1.depots VALUES ('DEL', 'Depot one', 'R16', 'FEAT-1601');
INSERT INTO ship_st2.depots VALUES ('DEL', 'Depot two', 'R16', 'FEAT-1601');
INSERT INTO ship_st1.depots VALUES ('TWO', 'Depot 2a', 'R16', 'FEAT-1601');
INSERT INTO ship_st2.depots VALUES ('TWO', 'Depot 2b', 'R16', 'FEAT-1601');
SELECT tdm.tag_release('R16') IS NOT NULL AS tagged;
SET client_min_messages = warning;
SELECT tdm.consolidate('R16') IS NOT NULL AS awaiting;
-- Two decisions may not rename two rows to one key.
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"st2": {"code": "NEW"}}',
                   rationale => 'st2''s second depot is new') IS NULL AS decided
  FROM tdm.review_queue WHERE release = 'R16' AND conflict_id IN (SELECT c.conflict_id FROM tdm.conflict c
                                     WHERE c.members->0->'row'->>'code' LIKE 'TWO%');
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"st2": {"code": "NEW "}}',
                   rationale => 'st2''s DEL is new too (char(4): the same key)')
  FROM tdm.review_queue WHERE release = 'R16' AND conflict_id IN (SELECT c.conflict_id FROM tdm.conflict c
                                     WHERE c.members->0->'row'->>'code' LIKE 'DEL%');
SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'neither depot is wanted') IS NULL AS decided
  FROM tdm.review_queue WHERE release = 'R16' AND conflict_id IN (SELECT c.conflict_id FROM tdm.conflict c
                                     WHERE c.members->0->'row'->>'code' LIKE 'DEL%');
SELECT tdm.consolidate('R16') AS run \gset
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :run;
SELECT tdm.create_release('R17', parent => 'R16');
SELECT tdm.add_feature('R17', 'FEAT-1701', 1);
INSERT INTO ship_st3.depots VALUES ('DEL', 'Depot three', 'R17', 'FEAT-1701');
INSERT INTO ship_st2.couriers VALUES (34, 'DEL', 'Dee', 'R17', 'FEAT-1701');
SELECT tdm.tag_release('R17') IS NOT NULL AS tagged;
SET client_min_messages = warning;
SELECT tdm.consolidate('R17') AS run \gset
RESET client_min_messages;
SELECT status, rows_deleted FROM tdm.run WHERE run_id = :run;
SELECT rel, kind, priority, rationale FROM tdm.review_queue WHERE release = 'R17';

-- Bad input: a second managed table with a managed table's name.
CREATE TABLE public.depots (LIKE staging.depots INCLUDING ALL);
SELECT tdm.manage_table('public.depots', '{name}');
DROP TABLE public.depots;

-- Bad input: a managed table dropped. Every operation over the managed
-- tables names it by OID and says how to stop managing it.
CREATE TABLE staging.scratch (id int PRIMARY KEY, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.scratch');
SELECT 'staging.scratch'::regclass::oid AS scratch_oid \gset
SELECT set_config('tdm_test.scratch_oid', :'scratch_oid', false) IS NOT NULL AS noted;
DROP TABLE staging.scratch;
DO $$
BEGIN
  PERFORM tdm.tag_release('R11');
EXCEPTION WHEN undefined_table THEN
  RAISE NOTICE '% (%)', replace(SQLERRM, current_setting('tdm_test.scratch_oid'), '<oid>'),
    SQLSTATE;
END
$$;
SELECT tdm.unmanage_table(:'scratch_oid');
SELECT count(*) AS still_managed FROM tdm.managed_table WHERE rel = :scratch_oid::oid;
SELECT action FROM tdm.audit ORDER BY audit_id DESC LIMIT 1;
SELECT tdm.unmanage_table('ship_st1.depots');

-- Managed tables in two schemas: registered with a WARNING, and a target
-- without the other schema's table is refused naming both schemas.
CREATE SCHEMA regress_other;
CREATE TABLE regress_other.extra (id int PRIMARY KEY, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('regress_other.extra');
SELECT tdm.consolidate('R11');
-- (a target that has the first of them: the HINT's example is one it lacks)
\ir sql/include/errors.sql
SELECT hint FROM pg_temp.error_of($$SELECT tdm.consolidate('R11', 'regress_other')$$);
SELECT tdm.unmanage_table('regress_other.extra');
DROP SCHEMA regress_other CASCADE;

-- Bad input: st1's enum has a label the consolidation database's lacks,
-- and a tagged row uses it: a finding, and the release stays open.
SELECT dblink_connect('st1', pg_temp.env_conninfo('st1'));
SELECT dblink_exec('st1', $$ALTER TYPE "Line Status" ADD VALUE 'lost'$$);
SELECT dblink_exec('st1', $$INSERT INTO "Order Lines" ("Order Id", line_no, sku, status, tdm_release, tdm_feature)
                           VALUES (70, 1, 'b1a2c3d4-0000-4000-8000-000000000070', 'lost', 'R12', 'FEAT-1201')$$);
SELECT tdm.create_release('R12');
SELECT tdm.add_feature('R12', 'FEAT-1201', 1);
SET client_min_messages = warning;
SELECT tdm.tag_release('R12') AS job \gset
RESET client_min_messages;
SELECT env, rel, kind, severity, detail, row_count, example_keys FROM tdm.tag_finding WHERE job_id = :job;
SELECT status FROM tdm.release WHERE release = 'R12';
SELECT dblink_exec('st1', $$DELETE FROM "Order Lines" WHERE "Order Id" = 70$$);
SELECT dblink_disconnect('st1');
