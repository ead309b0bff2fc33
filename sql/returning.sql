-- Rows an earlier release in master loaded under other keys, brought
-- again by a later release (corrected in their environment, tagged for
-- it), meet master's row they became, not the row that holds their
-- environment's key in master (decision 345): Bob, re-keyed from st2's
-- id 1 by distinct_entities, is not split from himself again; Carol,
-- renamed by a keep_all that left her key, keeps her rename; their new
-- bookings follow them; a surrogate-key row re-keyed then is sent to a
-- reviewer as master's row, not re-keyed as another entity.
-- It runs in a consolidation database of its own, beside the release story
-- (scripts/db-suites.sh): the scenario's environments, registered as setup
-- does, and an approver of its own (roles are the cluster's).
\set SHOW_CONTEXT never
\o /dev/null
SELECT tdm.add_environment('st1', 'st1', 10), tdm.add_environment('st2', 'st2', 20),
       tdm.add_environment('st3', 'st3', 30, 'public');
\o
CREATE EXTENSION IF NOT EXISTS dblink;
CREATE ROLE tdm_returning_approver IN ROLE tdm_reviewer;
\ir sql/include/sessions.sql
\ir sql/include/in_environments.sql
-- (Release `name` after `parent`, with features F and G of priority 1,
-- tagged.)
CREATE FUNCTION pg_temp.tagged_release(name text, parent text DEFAULT NULL) RETURNS bool LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tdm.create_release(name, parent => parent);
  PERFORM tdm.add_feature(name, 'F', 1), tdm.add_feature(name, 'G', 1);
  RETURN tdm.tag_release(name) IS NOT NULL;
END
$$;
-- (A person table rt_<t> keyed by id, with natural keys `natural_keys`
-- (email), and notes on its rows, rt_<t>_note, in the environments, in
-- schemas returning_<t>1 and returning_<t>2 as st1 and st2 have them, and
-- in staging, managed.)
CREATE FUNCTION pg_temp.people_with_notes(t text, natural_keys text[] DEFAULT '{email}') RETURNS void
LANGUAGE plpgsql SET search_path = staging, public AS $fn$
DECLARE
  ddl text := format('CREATE TABLE %1$I (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text, tdm_release text,'
                     '                   tdm_feature text, role text);'
                     'CREATE TABLE %2$I (id int PRIMARY KEY, %3$I int NOT NULL REFERENCES %1$I, note text,'
                     '                   tdm_release text, tdm_feature text)',
                     'rt_' || t, 'rt_' || t || '_note', t || '_id');
BEGIN
  PERFORM pg_temp.in_environments(ddl);
  FOR i IN 1 .. 2 LOOP
    EXECUTE format('CREATE SCHEMA %1$I; IMPORT FOREIGN SCHEMA public LIMIT TO (%2$I, %3$I) FROM SERVER %4$I INTO %1$I',
                   'returning_' || t || i, 'rt_' || t, 'rt_' || t || '_note', 'st' || i);
  END LOOP;
  EXECUTE ddl;  -- (in staging)
  PERFORM tdm.manage_table(format('staging.%I', 'rt_' || t), natural_keys),
          tdm.manage_table(format('staging.%I', 'rt_' || t || '_note'));
END
$fn$;
SELECT pg_temp.in_environments($$
  CREATE TABLE rt_person (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text, tdm_release text, tdm_feature text);
  CREATE TABLE rt_booking (id int PRIMARY KEY, person_id int NOT NULL REFERENCES rt_person, note text,
                           tdm_release text, tdm_feature text);
  CREATE TABLE rt_move (id int PRIMARY KEY, qty int, tdm_release text, tdm_feature text)$$);
CREATE SCHEMA returning_st1;
CREATE SCHEMA returning_st2;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_person, rt_booking, rt_move) FROM SERVER st1 INTO returning_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_person, rt_booking, rt_move) FROM SERVER st2 INTO returning_st2;
CREATE TABLE staging.rt_person (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text,
                                tdm_release text, tdm_feature text);
CREATE TABLE staging.rt_booking (id int PRIMARY KEY, person_id int NOT NULL REFERENCES staging.rt_person,
                                 note text, tdm_release text, tdm_feature text);
CREATE TABLE staging.rt_move (id int PRIMARY KEY, qty int, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.rt_person', '{email}'), tdm.manage_table('staging.rt_booking'),
       tdm.manage_table('staging.rt_move', surrogate_key => true);
INSERT INTO returning_st1.rt_person VALUES (1, 'ann@x', 'Ann', 'TRT1', 'F'), (5, 'carol@x', 'Carol North', 'TRT1', 'F');
INSERT INTO returning_st2.rt_person VALUES (1, 'bob@x', 'Bob', 'TRT1', 'F'), (6, 'carol@x', 'Carol South', 'TRT1', 'G');
INSERT INTO returning_st1.rt_move VALUES (1, 10, 'TRT1', 'F');
INSERT INTO returning_st2.rt_move VALUES (1, 20, 'TRT1', 'F');
-- TRT1: Bob collides with Ann on id 1 (re-keyed); the two Carols
-- (features of one priority) are kept apart, st2's renamed; the two
-- moves (surrogate keys) collide on id 1 (st2's re-keyed).
SELECT tdm.create_release('TRT1'), tdm.add_feature('TRT1', 'F', 1), tdm.add_feature('TRT1', 'G', 1);
SELECT tdm.tag_release('TRT1') IS NOT NULL AS tagged;
SET client_min_messages = error;
SELECT tdm.consolidate('TRT1') IS NOT NULL AS waits;
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"st2": {"email": "carol.south@x"}}', rationale => 'two Carols')
  FROM tdm.review_queue WHERE release = 'TRT1';
SELECT tdm.consolidate('TRT1') IS NOT NULL AS consolidated, tdm.promote('TRT1') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT id AS bob_id FROM master.rt_person WHERE email = 'bob@x' \gset
SELECT id AS move_id FROM master.rt_move WHERE qty = 20 \gset

-- TRT2: st2 corrects Bob's and Carol's names and its move, and books for
-- both.
UPDATE returning_st2.rt_person SET name = name || ' (fixed)', tdm_release = 'TRT2';
UPDATE returning_st2.rt_move SET qty = 21, tdm_release = 'TRT2';
INSERT INTO returning_st2.rt_booking VALUES (10, 1, 'bob''s', 'TRT2', 'F'), (11, 6, 'carol''s', 'TRT2', 'F');
SELECT tdm.create_release('TRT2', parent => 'TRT1'), tdm.add_feature('TRT2', 'F', 1), tdm.add_feature('TRT2', 'G', 1);
SELECT tdm.tag_release('TRT2') IS NOT NULL AS tagged;
SET client_min_messages = error;
SELECT tdm.consolidate('TRT2') AS run \gset
RESET client_min_messages;

-- No returning row is taken for another entity; the returning move is
-- master's row to a reviewer, who sees which.
SELECT rel, kind, rule, status, suggestion, rationale FROM tdm.conflict WHERE run_id = :run ORDER BY rel::text;
SELECT tdm.resolve(conflict_id, 'keep', 'master', rationale => 'the same move') FROM tdm.review_queue WHERE release = 'TRT2';
SET client_min_messages = error;
SELECT tdm.consolidate('TRT2') = :run AS same_run;
RESET client_min_messages;
SELECT status, rows_collected, rows_loaded, rows_merged, rows_deleted FROM tdm.run WHERE run_id = :run;
-- The bookings reference Bob and the renamed Carol, neither loaded twice.
SELECT b.note, p.email, p.name, p.id = :bob_id AS bobs_id
  FROM staging.rt_booking b JOIN staging.rt_person p ON p.id = b.person_id ORDER BY b.id;
SELECT email, count(*) FROM staging.rt_person GROUP BY email ORDER BY email;
-- The key map says st2's own keys.
SELECT rel, env, old_key, new_key = jsonb_build_object('id', CASE WHEN rel = 'staging.rt_person'::regclass THEN :bob_id ELSE :move_id END) AS to_master_row, reason
  FROM tdm.key_map WHERE run_id = :run ORDER BY rel::text;
SELECT tdm.promote('TRT2') IS NOT NULL AS promoted;
-- Master holds each move once.
SELECT id = :move_id AS rt2s, qty, tdm_release FROM master.rt_move ORDER BY qty;

-- TRT3: st2 brings Bob once more (the map's latest entry for him is
-- TRT2's, of a row master holds tagged TRT1): he still meets his own row.
UPDATE returning_st2.rt_person SET name = 'Bob (fixed twice)', tdm_release = 'TRT3' WHERE email = 'bob@x';
SELECT tdm.create_release('TRT3', parent => 'TRT2'), tdm.add_feature('TRT3', 'F', 1);
SELECT tdm.tag_release('TRT3') IS NOT NULL AS tagged;
SET client_min_messages = error;
SELECT tdm.consolidate('TRT3') AS run3 \gset
RESET client_min_messages;
SELECT rel, kind, rule, status FROM tdm.conflict WHERE run_id = :run3;
SELECT status FROM tdm.run WHERE run_id = :run3;
SELECT old_key, new_key = jsonb_build_object('id', :bob_id) AS to_master_row, reason
  FROM tdm.key_map WHERE run_id = :run3;

-- Not where the environment holds its own row under the key a returning
-- row would take: TRT4 merged st2's Eve (12) into st1's (11) and re-keyed
-- st2's Fay (11); TRT5 brings Eve back with a booking for Fay, which
-- names st2's 11. Eve keeps her key (and meets master's Eve by her
-- email), and the booking is Fay's.
INSERT INTO returning_st1.rt_person VALUES (11, 'eve@x', 'Eve', 'TRT4', 'F');
INSERT INTO returning_st2.rt_person VALUES (11, 'fay@x', 'Fay', 'TRT4', 'F'), (12, 'eve@x', 'Eve', 'TRT4', 'F');
SELECT tdm.create_release('TRT4', parent => 'TRT3'), tdm.add_feature('TRT4', 'F', 1);
SELECT tdm.tag_release('TRT4') IS NOT NULL AS tagged;
SET client_min_messages = error;
SELECT tdm.consolidate('TRT4') IS NOT NULL AS consolidated, tdm.promote('TRT4') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT id AS fay_id FROM master.rt_person WHERE email = 'fay@x' \gset
UPDATE returning_st2.rt_person SET name = 'Eve (fixed)', tdm_release = 'TRT5' WHERE id = 12;
INSERT INTO returning_st2.rt_booking VALUES (20, 11, 'fay''s', 'TRT5', 'F');
SELECT tdm.create_release('TRT5', parent => 'TRT4'), tdm.add_feature('TRT5', 'F', 1);
SELECT tdm.tag_release('TRT5') IS NOT NULL AS tagged;
SET client_min_messages = error;
SELECT tdm.consolidate('TRT5') AS run5 \gset
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :run5;
SELECT b.note, p.email, p.id = :fay_id AS fays_id
  FROM staging.rt_booking b JOIN staging.rt_person p ON p.id = b.person_id WHERE b.id = 20;

-- A row a keep_all re-keyed keeps that key through a call that waits for
-- review: st2 changes it after the run completed, the decision is stale
-- (the call waits), the reviewer confirms it, and the row loads under
-- the key the first call gave it, not the next one (decision 108).
SELECT pg_temp.in_environments(
  'CREATE TABLE rs_item (id int PRIMARY KEY, code text NOT NULL UNIQUE, qty int, tdm_release text, tdm_feature text)');
CREATE SCHEMA stable_st1;
CREATE SCHEMA stable_st2;
IMPORT FOREIGN SCHEMA public LIMIT TO (rs_item) FROM SERVER st1 INTO stable_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (rs_item) FROM SERVER st2 INTO stable_st2;
CREATE TABLE staging.rs_item (id int PRIMARY KEY, code text NOT NULL UNIQUE, qty int, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.rs_item', '{code}');
INSERT INTO stable_st1.rs_item VALUES (1, 'a', 1, 'TRS1', 'F');
INSERT INTO stable_st2.rs_item VALUES (1, 'a', 2, 'TRS1', 'G');
SELECT tdm.create_release('TRS1'), tdm.add_feature('TRS1', 'F', 1), tdm.add_feature('TRS1', 'G', 1);
SELECT tdm.tag_release('TRS1') IS NOT NULL AS tagged;
SET client_min_messages = error;
SELECT tdm.consolidate('TRS1') AS rs_run \gset
SELECT conflict_id AS rs_conflict FROM tdm.review_queue WHERE release = 'TRS1' \gset
SELECT tdm.resolve(:'rs_conflict', 'keep_all', renames => '{"st2": {"code": "a2"}}', rationale => 'two items');
SELECT tdm.consolidate('TRS1') = :rs_run AS same_run;
RESET client_min_messages;
SELECT id AS rs_given FROM staging.rs_item WHERE code = 'a2' \gset
SELECT status FROM tdm.run WHERE run_id = :rs_run;
UPDATE stable_st2.rs_item SET qty = 3;
SELECT tdm.tag_release('TRS1') IS NOT NULL AS tagged;
SET client_min_messages = error;
SELECT tdm.consolidate('TRS1') = :rs_run AS same_run;
RESET client_min_messages;
SELECT status, (SELECT status FROM tdm.conflict c WHERE c.run_id = :rs_run AND c.conflict_id = :'rs_conflict') AS decision
  FROM tdm.run WHERE run_id = :rs_run;
SELECT new_key = jsonb_build_object('id', :rs_given) AS kept_in_map FROM tdm.key_map WHERE run_id = :rs_run;
UPDATE tdm.decision SET rationale = 'two items (checked again)' WHERE conflict_id = :'rs_conflict';
SET client_min_messages = error;
SELECT tdm.consolidate('TRS1') = :rs_run AS same_run;
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :rs_run;
SELECT code, qty, id = :rs_given AS same_key FROM staging.rs_item ORDER BY code;

-- A new row whose environment key is the key tdm gave another row in
-- master (st2's new move under the id TRT1 gave its move 1, with the
-- quantity master holds) is not merged into master's row as an identical
-- row by a rule: another entity that has the key tdm chose, or master's
-- row itself where st2 was refreshed from master, a reviewer says which.
-- Here another move: keep_all re-keys it.
INSERT INTO returning_st2.rt_move VALUES (:move_id, 20, 'TRT6', 'F');
SELECT tdm.create_release('TRT6', parent => 'TRT4'), tdm.add_feature('TRT6', 'F', 1);
SELECT tdm.tag_release('TRT6') IS NOT NULL AS tagged;
SET client_min_messages = error;
SELECT tdm.consolidate('TRT6') AS run6 \gset
RESET client_min_messages;
SELECT kind, rule, status, suggestion = format('keep all; re-key the row of st2 (id %s stays with master)', :move_id) AS suggested,
       rationale = format('master''s row id %s is the row st2''s id 1 got from tdm in release TRT1 (tdm.key_map), not a'
                          ' row of that key in an environment: st2''s row of that key is another entity (keep_all),'
                          ' unless it was refreshed from master (keep master)', :move_id) AS said
  FROM tdm.conflict WHERE run_id = :run6;
SELECT tdm.resolve(conflict_id, 'keep_all', rationale => 'another move') FROM tdm.review_queue WHERE release = 'TRT6';
SET client_min_messages = error;
SELECT tdm.consolidate('TRT6') = :run6 AS same_run;
RESET client_min_messages;
SELECT status, rows_collected, rows_loaded, rows_merged, rows_renamed FROM tdm.run WHERE run_id = :run6;
SET client_min_messages = error;
SELECT tdm.promote('TRT6') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT qty, tdm_release, id = :move_id AS trt1s_key FROM master.rt_move ORDER BY qty, tdm_release;

-- A returning row a reviewer keeps as another entity (keep_all) gets a
-- new key, and keeps it when the completed run is called again (its map
-- says its environment's key; the call looks it up by the key it was
-- brought under).
UPDATE returning_st2.rt_move SET qty = 22, tdm_release = 'TRT7' WHERE id = 1;
SELECT tdm.create_release('TRT7', parent => 'TRT6'), tdm.add_feature('TRT7', 'F', 1);
SELECT tdm.tag_release('TRT7') IS NOT NULL AS tagged;
SET client_min_messages = error;
SELECT tdm.consolidate('TRT7') AS run7 \gset
SELECT tdm.resolve(conflict_id, 'keep_all', rationale => 'another move') FROM tdm.review_queue WHERE release = 'TRT7';
SELECT tdm.consolidate('TRT7') = :run7 AS same_run;
SELECT id AS trt7_key FROM staging.rt_move WHERE tdm_release = 'TRT7' \gset
SELECT tdm.consolidate('TRT7') = :run7 AS same_run_again;
RESET client_min_messages;
SELECT status, (SELECT id FROM staging.rt_move WHERE tdm_release = 'TRT7') = :trt7_key AS same_key,
       :trt7_key <> :move_id AS not_masters
  FROM tdm.run WHERE run_id = :run7;
SELECT env, old_key, new_key = jsonb_build_object('id', :trt7_key) AS to_new_key, reason FROM tdm.key_map WHERE run_id = :run7;

-- A row a reviewer merged into master's row of its own key (keep master
-- on another entity's key collision: no key changed, no map entry),
-- referenced by a later release: the reference means master's row, not a
-- reset of the environment's keys. TRT8: st2's new Dan under id 5, which
-- master's Carol North holds; st1 corrects Carol under a feature that
-- outranks hers (the run waits for that one), and the reviewer keeps
-- master's row on both. TRT9: st2 books for
-- its person 5.
INSERT INTO returning_st2.rt_person VALUES (5, 'dan@x', 'Dan', 'TRT8', 'F');
UPDATE returning_st1.rt_person SET name = 'Carol North (fixed)', tdm_release = 'TRT8', tdm_feature = 'H' WHERE id = 5;
SELECT tdm.create_release('TRT8', parent => 'TRT7'), tdm.add_feature('TRT8', 'F', 1), tdm.add_feature('TRT8', 'H', 5);
SELECT tdm.tag_release('TRT8') IS NOT NULL AS tagged;
SET client_min_messages = error;
SELECT tdm.consolidate('TRT8') AS run8 \gset
SELECT tdm.resolve(conflict_id, 'keep', 'master', rationale => 'master''s row stays')
  FROM tdm.conflict WHERE run_id = :run8 AND status IN ('pending', 'auto_resolved') ORDER BY conflict_id;
SELECT tdm.consolidate('TRT8') = :run8 AS same_run, tdm.promote('TRT8') IS NOT NULL AS promoted;
INSERT INTO returning_st2.rt_booking VALUES (30, 5, 'for st2''s 5', 'TRT9', 'F');
SELECT tdm.create_release('TRT9', parent => 'TRT8'), tdm.add_feature('TRT9', 'F', 1);
SELECT tdm.tag_release('TRT9') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRT9') AS run9 \gset
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :run9;
SELECT b.note, p.id, p.email FROM staging.rt_booking b JOIN staging.rt_person p ON p.id = b.person_id WHERE b.id = 30;

-- An order line an earlier release merged into another environment's
-- copy under that copy's order key, corrected later, meets that line
-- only: its key is master's once it returns, and is not translated again
-- as its environment's own key of another order (st3's order 3, which a
-- later release re-keyed). TRL1: st2's and st3's identical order 2 'oA'
-- (st2's re-keyed past st1's 2, st3's merged into it) with line (2,1)
-- 'LA'; TRL2: st3's own order 3 'oC' (re-keyed past master's 3) with line
-- (3,1) 'LC'; TRL3: st3 corrects LA.
SELECT pg_temp.in_environments($$
  CREATE TABLE rl_order (id int PRIMARY KEY, note text, tdm_release text, tdm_feature text);
  CREATE TABLE rl_line (order_id int REFERENCES rl_order, line_no int, sku text NOT NULL UNIQUE, qty int,
                        tdm_release text, tdm_feature text, PRIMARY KEY (order_id, line_no))$$);
CREATE SCHEMA lines_st1;
CREATE SCHEMA lines_st2;
CREATE SCHEMA lines_st3;
IMPORT FOREIGN SCHEMA public LIMIT TO (rl_order, rl_line) FROM SERVER st1 INTO lines_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (rl_order, rl_line) FROM SERVER st2 INTO lines_st2;
IMPORT FOREIGN SCHEMA public LIMIT TO (rl_order, rl_line) FROM SERVER st3 INTO lines_st3;
CREATE TABLE staging.rl_order (id int PRIMARY KEY, note text, tdm_release text, tdm_feature text);
CREATE TABLE staging.rl_line (order_id int REFERENCES staging.rl_order, line_no int, sku text NOT NULL UNIQUE,
                              qty int, tdm_release text, tdm_feature text, PRIMARY KEY (order_id, line_no));
SELECT tdm.manage_table('staging.rl_order', surrogate_key => true), tdm.manage_table('staging.rl_line', '{sku}');
INSERT INTO lines_st1.rl_order VALUES (1, 'o1', 'TRL1', 'F'), (2, 'o2', 'TRL1', 'F');
INSERT INTO lines_st2.rl_order VALUES (2, 'oA', 'TRL1', 'F');
INSERT INTO lines_st2.rl_line VALUES (2, 1, 'LA', 5, 'TRL1', 'F');
INSERT INTO lines_st3.rl_order VALUES (2, 'oA', 'TRL1', 'F');
INSERT INTO lines_st3.rl_line VALUES (2, 1, 'LA', 5, 'TRL1', 'F');
SELECT tdm.create_release('TRL1'), tdm.add_feature('TRL1', 'F', 1);
SELECT tdm.tag_release('TRL1') IS NOT NULL AS tagged;
SET client_min_messages = error;
SELECT tdm.consolidate('TRL1') IS NOT NULL AS consolidated, tdm.promote('TRL1') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT order_id AS la_order FROM master.rl_line WHERE sku = 'LA' \gset
INSERT INTO lines_st3.rl_order VALUES (:la_order, 'oC', 'TRL2', 'F');
INSERT INTO lines_st3.rl_line VALUES (:la_order, 1, 'LC', 7, 'TRL2', 'F');
SELECT tdm.create_release('TRL2', parent => 'TRL1'), tdm.add_feature('TRL2', 'F', 1);
SELECT tdm.tag_release('TRL2') IS NOT NULL AS tagged;
SET client_min_messages = error;
SELECT tdm.consolidate('TRL2') IS NOT NULL AS consolidated, tdm.promote('TRL2') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT sku, order_id = :la_order AS las_order, line_no FROM master.rl_line ORDER BY sku;
UPDATE lines_st3.rl_line SET qty = 6, tdm_release = 'TRL3' WHERE sku = 'LA';
SELECT tdm.create_release('TRL3', parent => 'TRL2'), tdm.add_feature('TRL3', 'F', 1);
SELECT tdm.tag_release('TRL3') IS NOT NULL AS tagged;
SET client_min_messages = error;
SELECT tdm.consolidate('TRL3') AS run_l3 \gset
RESET client_min_messages;
-- One conflict: st3's LA with master's LA, both under LA's order.
SELECT c.kind, m.label, m.row ->> 'sku' AS sku, (m.key)[1]::int = :la_order AS las_order
  FROM tdm.conflict c JOIN tdm.conflict_member m USING (run_id, conflict_id)
 WHERE c.run_id = :run_l3 ORDER BY m.label;
SELECT status, rows_collected, rows_loaded, rows_merged FROM tdm.run WHERE run_id = :run_l3;

-- A reference to a row a decision of an earlier release deleted, whose
-- key another environment's row took in master since, is a relationship
-- conflict, not a reset of the environment's keys: TRD1 deletes st1's and
-- st2's person 40 (two people on one id, the run waiting for another
-- conflict meanwhile); TRD2 loads st3's own person 40; TRD3 brings a
-- booking of st2's person 40.
CREATE SCHEMA returning_st3;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_person, rt_booking) FROM SERVER st3 INTO returning_st3;
INSERT INTO returning_st1.rt_person VALUES (40, 'p40@x', 'P40', 'TRD1', 'F');
INSERT INTO returning_st2.rt_person VALUES (40, 'q40@x', 'Q40', 'TRD1', 'F');
UPDATE returning_st1.rt_person SET name = 'Ann (fixed)', tdm_release = 'TRD1', tdm_feature = 'H' WHERE id = 1;
SELECT tdm.create_release('TRD1', parent => 'TRT9'), tdm.add_feature('TRD1', 'F', 1), tdm.add_feature('TRD1', 'H', 5);
SELECT tdm.tag_release('TRD1') IS NOT NULL AS tagged;
SET client_min_messages = error;
SELECT tdm.consolidate('TRD1') AS rd1 \gset
SELECT tdm.resolve(conflict_id, CASE WHEN kind = 'duplicate_pk' THEN 'delete_all' ELSE 'keep' END::tdm.action,
                   CASE WHEN kind = 'duplicate_pk' THEN NULL ELSE 'master' END, rationale => 'as planned')
  FROM tdm.conflict WHERE run_id = :rd1 AND status IN ('pending', 'auto_resolved') ORDER BY conflict_id;
SELECT tdm.consolidate('TRD1') = :rd1 AS same_run, tdm.promote('TRD1') IS NOT NULL AS promoted;
INSERT INTO returning_st3.rt_person VALUES (40, 'r40@x', 'R40', 'TRD2', 'F');
SELECT tdm.create_release('TRD2', parent => 'TRD1'), tdm.add_feature('TRD2', 'F', 1);
SELECT tdm.tag_release('TRD2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRD2') IS NOT NULL AS consolidated, tdm.promote('TRD2') IS NOT NULL AS promoted;
INSERT INTO returning_st2.rt_booking VALUES (41, 40, 'for st2''s 40', 'TRD3', 'F');
SELECT tdm.create_release('TRD3', parent => 'TRD2'), tdm.add_feature('TRD3', 'F', 1);
SELECT tdm.tag_release('TRD3') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRD3') AS rd3 \gset
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :rd3;
SELECT kind, rationale ~ '^references staging\.rt_person \(40\) of st2 by person_id, which decision C-[0-9a-f]+ deleted' AS says
  FROM tdm.conflict WHERE run_id = :rd3;

-- A row its tag's release settled in a decided conflict, whose key the
-- environment gave another entity since (a reset keeping the tag), is
-- still refused when a later release references it: TRZ1 decides st1's
-- and st2's person 60 (keep st2); st2 then holds w60@x under 60, tagged
-- TRZ1; TRZ2 books for st2's 60.
INSERT INTO returning_st1.rt_person VALUES (60, 'z60@x', 'Z one', 'TRZ1', 'F');
INSERT INTO returning_st2.rt_person VALUES (60, 'z60@x', 'Z two', 'TRZ1', 'F');
UPDATE returning_st1.rt_person SET name = 'Ann (fixed again)', tdm_release = 'TRZ1', tdm_feature = 'H' WHERE id = 1;
SELECT tdm.create_release('TRZ1', parent => 'TRD3'), tdm.add_feature('TRZ1', 'F', 1), tdm.add_feature('TRZ1', 'H', 5);
SELECT tdm.tag_release('TRZ1') IS NOT NULL AS tagged;
SET client_min_messages = error;
SELECT tdm.consolidate('TRZ1') AS rz1 \gset
SELECT tdm.resolve(conflict_id, 'keep', CASE WHEN members::text LIKE '%z60@x%' THEN 'st2' ELSE 'master' END,
                   rationale => 'as planned')
  FROM tdm.conflict WHERE run_id = :rz1 AND status IN ('pending', 'auto_resolved') ORDER BY conflict_id;
SELECT tdm.consolidate('TRZ1') = :rz1 AS same_run, tdm.promote('TRZ1') IS NOT NULL AS promoted;
RESET client_min_messages;
DELETE FROM returning_st2.rt_person WHERE id = 60;
INSERT INTO returning_st2.rt_person VALUES (60, 'w60@x', 'W', 'TRZ1', 'F');
INSERT INTO returning_st2.rt_booking VALUES (61, 60, 'for st2''s 60', 'TRZ2', 'F');
SELECT tdm.create_release('TRZ2', parent => 'TRZ1'), tdm.add_feature('TRZ2', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TRZ2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRZ2');
RESET client_min_messages;

-- An environment's copy of a row, merged into it, goes where that row
-- goes when a decision deletes it: a later release's reference to the copy
-- is a relationship conflict, not a reference to whatever row master holds
-- under the copy's key, nor a reset (decision 347). TRF1: st3's person 71
-- is an identical copy of st2's person 70 (merged into it by a rule);
-- the reviewer deletes both people of id 70 (st1's and st2's, one id),
-- st3's copy with them; st1's own person 71 goes to master. TRF2: st3
-- books for its person 71.
INSERT INTO returning_st1.rt_person VALUES (70, 'f70a@x', 'A70', 'TRF1', 'F'), (71, 'g71@x', 'G71', 'TRF1', 'F');
INSERT INTO returning_st2.rt_person VALUES (70, 'f70@x', 'F70', 'TRF1', 'F');
INSERT INTO returning_st3.rt_person VALUES (71, 'f70@x', 'F70', 'TRF1', 'F');
UPDATE returning_st1.rt_person SET name = 'Ann (fixed thrice)', tdm_release = 'TRF1', tdm_feature = 'H' WHERE id = 1;
SELECT tdm.create_release('TRF1', parent => 'TRZ1'), tdm.add_feature('TRF1', 'F', 1), tdm.add_feature('TRF1', 'H', 5);
SELECT tdm.tag_release('TRF1') IS NOT NULL AS tagged;
SET client_min_messages = error;
SELECT tdm.consolidate('TRF1') AS rf1 \gset
SELECT tdm.resolve(conflict_id, CASE WHEN members::text LIKE '%f70a@x%' THEN 'delete_all' ELSE 'keep' END::tdm.action,
                   CASE WHEN members::text LIKE '%f70a@x%' THEN NULL ELSE 'master' END, rationale => 'as planned')
  FROM tdm.conflict WHERE run_id = :rf1 AND (status = 'pending' OR members::text LIKE '%f70a@x%')
 ORDER BY conflict_id;
SELECT tdm.consolidate('TRF1') = :rf1 AS same_run, tdm.promote('TRF1') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT id, email FROM master.rt_person WHERE id IN (70, 71) ORDER BY id;
INSERT INTO returning_st3.rt_booking VALUES (72, 71, 'for st3''s 71', 'TRF2', 'F');
SELECT tdm.create_release('TRF2', parent => 'TRF1'), tdm.add_feature('TRF2', 'F', 1);
SELECT tdm.tag_release('TRF2') IS NOT NULL AS tagged;
SET client_min_messages = error;
SELECT tdm.consolidate('TRF2') AS rf2 \gset
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :rf2;
SELECT kind, rationale ~ ('^references staging\.rt_person \(71\) of st3 by person_id, merged into st2''s row \(70\),'
                         ' which decision C-[0-9a-f]+ deleted$') AS says
  FROM tdm.conflict WHERE run_id = :rf2;
SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'its person is gone') FROM tdm.conflict WHERE run_id = :rf2;
SET SESSION AUTHORIZATION tdm_returning_approver;
SELECT tdm.approve(conflict_id) FROM tdm.conflict WHERE run_id = :rf2;
RESET SESSION AUTHORIZATION;
SET client_min_messages = error;
SELECT tdm.consolidate('TRF2') = :rf2 AS same_run, tdm.promote('TRF2') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT count(*) AS bookings_for_71 FROM master.rt_booking WHERE person_id = 71;

-- A copy merged into a row that a decision on its relationship conflict
-- deletes later in the run goes with it too: its children, in the same
-- release or a later one, are relationship conflicts, not foreign key
-- violations (decision 347). TRG1: root differs between st1 and st2
-- (deleted by the reviewer); st1's mid (2) and mid2 (5) reference it, and
-- st3 holds identical copies of them, mid under its own id 3 (merged
-- into st1's 2, a key map entry), mid2 under st1's key 5 (no entry), with
-- a child kid of its mid2. TRG2: st3 adds a child of its mid (3), and a
-- note on it by its slug.
SELECT pg_temp.in_environments($$
  CREATE TABLE rt_cat (id int PRIMARY KEY, slug text NOT NULL UNIQUE, label text,
                       parent_id int REFERENCES rt_cat, tdm_release text, tdm_feature text);
  CREATE TABLE rt_note (id int PRIMARY KEY, cat_slug text REFERENCES rt_cat (slug), body text,
                        tdm_release text, tdm_feature text)$$);
CREATE SCHEMA returning_cat;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_cat) FROM SERVER st1 INTO returning_cat;
ALTER FOREIGN TABLE returning_cat.rt_cat RENAME TO st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_cat) FROM SERVER st2 INTO returning_cat;
ALTER FOREIGN TABLE returning_cat.rt_cat RENAME TO st2;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_cat) FROM SERVER st3 INTO returning_cat;
ALTER FOREIGN TABLE returning_cat.rt_cat RENAME TO st3;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_note) FROM SERVER st3 INTO returning_cat;
CREATE TABLE staging.rt_cat (id int PRIMARY KEY, slug text NOT NULL UNIQUE, label text,
                             parent_id int REFERENCES staging.rt_cat, tdm_release text, tdm_feature text);
CREATE TABLE staging.rt_note (id int PRIMARY KEY, cat_slug text REFERENCES staging.rt_cat (slug), body text,
                              tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.rt_cat', '{slug}', core_columns => '{label}'), tdm.manage_table('staging.rt_note');
INSERT INTO returning_cat.st1 VALUES (1, 'root', 'a', NULL, 'TRG1', 'F'), (2, 'mid', 'm', 1, 'TRG1', 'F'),
                                     (5, 'mid2', 'm', 1, 'TRG1', 'F');
INSERT INTO returning_cat.st2 VALUES (1, 'root', 'b', NULL, 'TRG1', 'F');
INSERT INTO returning_cat.st3 VALUES (1, 'root', 'a', NULL, 'TRG1', 'F'), (3, 'mid', 'm', 1, 'TRG1', 'F'),
                                     (5, 'mid2', 'm', 1, 'TRG1', 'F'), (6, 'kid', 'k', 5, 'TRG1', 'F');
SELECT tdm.create_release('TRG1', parent => 'TRF2'), tdm.add_feature('TRG1', 'F', 1);
SELECT tdm.tag_release('TRG1') IS NOT NULL AS tagged;
CREATE FUNCTION pg_temp.delete_reviewed(run bigint, why text) RETURNS SETOF text LANGUAGE sql AS $$
  SELECT tdm.resolve(conflict_id, 'delete_all', rationale => why)::text FROM tdm.review_queue WHERE run_id = run
$$;
CREATE FUNCTION pg_temp.approve_run(run bigint) RETURNS SETOF text LANGUAGE sql AS $$
  SELECT tdm.approve(conflict_id)::text FROM tdm.conflict c JOIN tdm.decision d USING (conflict_id)
   WHERE c.run_id = run AND c.status = 'decided' AND c.priority = 1 AND d.approved_by IS NULL
$$;
SET client_min_messages = error;
SELECT tdm.consolidate('TRG1') AS rg1 \gset
SELECT count(*) AS deleted FROM pg_temp.delete_reviewed(:rg1, 'root is wrong');
SET SESSION AUTHORIZATION tdm_returning_approver;
SELECT count(*) AS approved FROM pg_temp.approve_run(:rg1);
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TRG1') = :rg1 AS same_run;
RESET client_min_messages;
-- st1's mid and mid2 lost their parent.
SELECT c.rationale ~ '^references staging\.rt_cat \(1\) of st1 by parent_id' AS says, m.env, m."row" ->> 'slug' AS slug
  FROM tdm.review_queue c JOIN tdm.conflict_member m USING (run_id, conflict_id) WHERE c.run_id = :rg1
 ORDER BY slug;
SET client_min_messages = error;
SELECT count(*) AS deleted FROM pg_temp.delete_reviewed(:rg1, 'parent is gone');
SET SESSION AUTHORIZATION tdm_returning_approver;
SELECT count(*) AS approved FROM pg_temp.approve_run(:rg1);
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TRG1') = :rg1 AS same_run;
RESET client_min_messages;
-- st3's kid did too: its parent, st3's mid2, went with st1's mid2.
SELECT c.rationale ~ ('^references staging\.rt_cat \(5\) of st3 by parent_id, merged into st1''s row \(5\),'
                      ' which decision C-[0-9a-f]+ deleted$') AS says,
       m.env, m."row" ->> 'slug' AS slug
  FROM tdm.review_queue c JOIN tdm.conflict_member m USING (run_id, conflict_id) WHERE c.run_id = :rg1;
SET client_min_messages = error;
SELECT count(*) AS deleted FROM pg_temp.delete_reviewed(:rg1, 'parent is gone');
SET SESSION AUTHORIZATION tdm_returning_approver;
SELECT count(*) AS approved FROM pg_temp.approve_run(:rg1);
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TRG1') = :rg1 AS same_run;
RESET client_min_messages;
SELECT status, rows_collected, rows_merged, rows_deleted, tables -> 'staging.rt_cat' AS cats FROM tdm.run WHERE run_id = :rg1;
-- No key map entry sends st3's mid to the key of a row no longer there.
SELECT count(*) AS entries FROM tdm.key_map WHERE run_id = :rg1 AND rel = 'staging.rt_cat'::regclass;
SET client_min_messages = error;
SELECT tdm.promote('TRG1') IS NOT NULL AS promoted;
RESET client_min_messages;
INSERT INTO returning_cat.st3 VALUES (7, 'kid2', 'k', 3, 'TRG2', 'F');
INSERT INTO returning_cat.rt_note VALUES (1, 'mid', 'on st3''s mid, by its slug', 'TRG2', 'F');
SELECT tdm.create_release('TRG2', parent => 'TRG1'), tdm.add_feature('TRG2', 'F', 1);
SELECT tdm.tag_release('TRG2') IS NOT NULL AS tagged;
SET client_min_messages = error;
SELECT tdm.consolidate('TRG2') AS rg2 \gset
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :rg2;
SELECT rel, kind, rationale ~ ('^references staging\.rt_cat \(3\) of st3 by (parent_id|cat_slug),'
                              ' merged into st1''s row \(2\), which decision C-[0-9a-f]+ deleted$') AS says
  FROM tdm.conflict WHERE run_id = :rg2 ORDER BY rel::text;
SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'its category is gone') FROM tdm.review_queue WHERE run_id = :rg2;
SET SESSION AUTHORIZATION tdm_returning_approver;
SELECT count(*) AS approved FROM pg_temp.approve_run(:rg2);
RESET SESSION AUTHORIZATION;
SET client_min_messages = error;
SELECT tdm.consolidate('TRG2') = :rg2 AS same_run, tdm.promote('TRG2') IS NOT NULL AS promoted;
RESET client_min_messages;

-- A reference by another unique key that holds the primary key (a
-- transaction's (acct_id, region) to an account's (id, region)) is
-- checked against a reset or refresh of its environment as a reference
-- by the primary key is (guide 4.10), not translated through the earlier
-- release's map to another row: TRU1 loads st1's and st2's account 1, two
-- entities (st2's as 2); st2 is then refreshed from master, so its
-- account 1 is st1's A1, still tagged TRU1. TRU3: st2 books on its
-- account 1. Refused, naming the row; it went to B1 (2).
SELECT pg_temp.in_environments($$
  CREATE TABLE rt_acct (id int PRIMARY KEY, code text NOT NULL UNIQUE, region text NOT NULL,
                        tdm_release text, tdm_feature text, UNIQUE (id, region));
  CREATE TABLE rt_txn (id int PRIMARY KEY, acct_id int NOT NULL, region text NOT NULL, amount int,
                       tdm_release text, tdm_feature text,
                       FOREIGN KEY (acct_id, region) REFERENCES rt_acct (id, region));
  CREATE TABLE rt_anote (id int PRIMARY KEY, acct_code text NOT NULL REFERENCES rt_acct (code), body text,
                         tdm_release text, tdm_feature text)$$);
CREATE SCHEMA returning_acct;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_acct) FROM SERVER st1 INTO returning_acct;
ALTER FOREIGN TABLE returning_acct.rt_acct RENAME TO st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_acct, rt_txn, rt_anote) FROM SERVER st2 INTO returning_acct;
CREATE TABLE staging.rt_acct (id int PRIMARY KEY, code text NOT NULL UNIQUE, region text NOT NULL,
                              tdm_release text, tdm_feature text, UNIQUE (id, region));
CREATE TABLE staging.rt_txn (id int PRIMARY KEY, acct_id int NOT NULL, region text NOT NULL, amount int,
                             tdm_release text, tdm_feature text,
                             FOREIGN KEY (acct_id, region) REFERENCES staging.rt_acct (id, region));
CREATE TABLE staging.rt_anote (id int PRIMARY KEY, acct_code text NOT NULL REFERENCES staging.rt_acct (code),
                               body text, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.rt_acct', '{code}'), tdm.manage_table('staging.rt_txn'),
       tdm.manage_table('staging.rt_anote');
INSERT INTO returning_acct.st1 VALUES (1, 'A1', 'eu', 'TRU1', 'F');
INSERT INTO returning_acct.rt_acct VALUES (1, 'B1', 'eu', 'TRU1', 'F');
SELECT tdm.create_release('TRU1', parent => 'TRG2'), tdm.add_feature('TRU1', 'F', 1);
SELECT tdm.tag_release('TRU1') IS NOT NULL AS tagged;
SET client_min_messages = error;
SELECT tdm.consolidate('TRU1') IS NOT NULL AS consolidated, tdm.promote('TRU1') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT id, code FROM master.rt_acct ORDER BY id;
DELETE FROM returning_acct.rt_acct;
INSERT INTO returning_acct.rt_acct SELECT id, code, region, tdm_release, tdm_feature FROM master.rt_acct;
-- TRU2: st2 notes its account A1 by its code: A1 it stays (TRU1's map
-- entry for st2's 1 was made for B1, which had that key then).
INSERT INTO returning_acct.rt_anote VALUES (1, 'A1', 'on A1', 'TRU2', 'F');
SELECT tdm.create_release('TRU2', parent => 'TRU1'), tdm.add_feature('TRU2', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TRU2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRU2') IS NOT NULL AS consolidated, tdm.promote('TRU2') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT id, acct_code FROM master.rt_anote;
-- TRU3: st2 books on its account 1 by its key.
INSERT INTO returning_acct.rt_txn VALUES (1, 1, 'eu', 10, 'TRU3', 'F');
SELECT tdm.create_release('TRU3', parent => 'TRU2'), tdm.add_feature('TRU3', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TRU3') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRU3');
RESET client_min_messages;

-- A reference by another unique key that holds a foreign key of the
-- parent (a use's (acct_code, grp_id) to an account's UNIQUE (code,
-- grp_id)) follows the earlier release's map: the account's member holds
-- its group translated (st2's group 5 merged into st1's 1), the
-- environment its own 5, which is no sign of a refresh. TRV1: st2's
-- account C1 (re-keyed past st1's 1) in st2's group 5. TRV2: st2 uses C1
-- of its group 5: (C1, 1) in master.
SELECT pg_temp.in_environments($$
  CREATE TABLE rt_grp (id int PRIMARY KEY, name text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
  CREATE TABLE rt_gacct (id int PRIMARY KEY, code text NOT NULL UNIQUE, grp_id int NOT NULL REFERENCES rt_grp,
                         tdm_release text, tdm_feature text, UNIQUE (code, grp_id));
  CREATE TABLE rt_use (id int PRIMARY KEY, acct_code text NOT NULL, grp_id int NOT NULL, tdm_release text,
                       tdm_feature text, FOREIGN KEY (acct_code, grp_id) REFERENCES rt_gacct (code, grp_id))$$);
CREATE SCHEMA returning_grp;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_grp, rt_gacct) FROM SERVER st1 INTO returning_grp;
ALTER FOREIGN TABLE returning_grp.rt_grp RENAME TO st1_grp;
ALTER FOREIGN TABLE returning_grp.rt_gacct RENAME TO st1_gacct;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_grp, rt_gacct, rt_use) FROM SERVER st2 INTO returning_grp;
CREATE TABLE staging.rt_grp (id int PRIMARY KEY, name text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
CREATE TABLE staging.rt_gacct (id int PRIMARY KEY, code text NOT NULL UNIQUE, grp_id int NOT NULL
                               REFERENCES staging.rt_grp, tdm_release text, tdm_feature text, UNIQUE (code, grp_id));
CREATE TABLE staging.rt_use (id int PRIMARY KEY, acct_code text NOT NULL, grp_id int NOT NULL, tdm_release text,
                             tdm_feature text,
                             FOREIGN KEY (acct_code, grp_id) REFERENCES staging.rt_gacct (code, grp_id));
SELECT tdm.manage_table('staging.rt_grp', '{name}'), tdm.manage_table('staging.rt_gacct', '{code}'),
       tdm.manage_table('staging.rt_use');
INSERT INTO returning_grp.st1_grp VALUES (1, 'g', 'TRV1', 'F');
INSERT INTO returning_grp.st1_gacct VALUES (1, 'A9', 1, 'TRV1', 'F');
INSERT INTO returning_grp.rt_grp VALUES (5, 'g', 'TRV1', 'F');
INSERT INTO returning_grp.rt_gacct VALUES (1, 'C1', 5, 'TRV1', 'F');
SELECT tdm.create_release('TRV1', parent => 'TRU2'), tdm.add_feature('TRV1', 'F', 1);
SELECT tdm.tag_release('TRV1') IS NOT NULL AS tagged;
SET client_min_messages = error;
SELECT tdm.consolidate('TRV1') IS NOT NULL AS consolidated, tdm.promote('TRV1') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT id, code, grp_id FROM master.rt_gacct ORDER BY id;
INSERT INTO returning_grp.rt_use VALUES (1, 'C1', 5, 'TRV2', 'F');
SELECT tdm.create_release('TRV2', parent => 'TRV1'), tdm.add_feature('TRV2', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TRV2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRV2') AS rv2 \gset
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :rv2;
SELECT id, acct_code, grp_id FROM staging.rt_use;

-- A reset that re-creates a row of an earlier release under a new key,
-- still tagged with that release: a later release's reference to it has
-- no parent (the release loaded no row under that key), and the violation
-- says what to do. TRW1: st1's customer 1, w@x. Reset: w@x is 7 now, still
-- tagged TRW1; TRW2's order references 7. Tagged TRW2 as said, 7 is
-- master's 1 by its email.
SELECT pg_temp.in_environments($$
  CREATE TABLE rt_wcust (id int PRIMARY KEY, email text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
  CREATE TABLE rt_word (id int PRIMARY KEY, cust_id int NOT NULL REFERENCES rt_wcust, tdm_release text,
                        tdm_feature text)$$);
CREATE SCHEMA returning_reset;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_wcust, rt_word) FROM SERVER st1 INTO returning_reset;
CREATE TABLE staging.rt_wcust (id int PRIMARY KEY, email text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
CREATE TABLE staging.rt_word (id int PRIMARY KEY, cust_id int NOT NULL REFERENCES staging.rt_wcust,
                              tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.rt_wcust', '{email}'), tdm.manage_table('staging.rt_word');
INSERT INTO returning_reset.rt_wcust VALUES (1, 'w@x', 'TRW1', 'F');
SELECT tdm.create_release('TRW1', parent => 'TRV2'), tdm.add_feature('TRW1', 'F', 1);
SELECT tdm.tag_release('TRW1') IS NOT NULL AS tagged;
SET client_min_messages = error;
SELECT tdm.consolidate('TRW1') IS NOT NULL AS consolidated, tdm.promote('TRW1') IS NOT NULL AS promoted;
RESET client_min_messages;
DELETE FROM returning_reset.rt_wcust;
INSERT INTO returning_reset.rt_wcust VALUES (7, 'w@x', 'TRW1', 'F');
INSERT INTO returning_reset.rt_word VALUES (1, 7, 'TRW2', 'F');
SELECT tdm.create_release('TRW2', parent => 'TRW1'), tdm.add_feature('TRW2', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TRW2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRW2') AS rw2 \gset
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :rw2;
SELECT rel, row_key, detail ->> 'message' AS message FROM tdm.violation WHERE run_id = :rw2;
UPDATE returning_reset.rt_wcust SET tdm_release = 'TRW2';
SET client_min_messages = error;
SELECT tdm.tag_release('TRW2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRW2') = :rw2 AS same_run;
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :rw2;
SELECT o.id, c.id AS cust_id, c.email FROM staging.rt_word o JOIN staging.rt_wcust c ON c.id = o.cust_id;

-- After a refresh, a row tagged for a release as the refusal says (an
-- exact duplicate of master's row, merged into it by a rule under the same
-- key: no map entry) is that release's: a later release's reference to
-- it means master's row, not what the earliest release had under that key.
-- TRX1: st1's ann 1, st2's bob 1 (re-keyed). st2 refreshed from master;
-- TRX2 tags its ann 1 and a visit of her; TRX3 another visit.
SELECT pg_temp.in_environments($$
  CREATE TABLE rt_xperson (id int PRIMARY KEY, email text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
  CREATE TABLE rt_xvisit (id int PRIMARY KEY, person_id int NOT NULL REFERENCES rt_xperson, tdm_release text,
                          tdm_feature text)$$);
CREATE SCHEMA returning_refresh;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_xperson) FROM SERVER st1 INTO returning_refresh;
ALTER FOREIGN TABLE returning_refresh.rt_xperson RENAME TO st1_xperson;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_xperson, rt_xvisit) FROM SERVER st2 INTO returning_refresh;
CREATE TABLE staging.rt_xperson (id int PRIMARY KEY, email text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
CREATE TABLE staging.rt_xvisit (id int PRIMARY KEY, person_id int NOT NULL REFERENCES staging.rt_xperson,
                                tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.rt_xperson', '{email}'), tdm.manage_table('staging.rt_xvisit');
INSERT INTO returning_refresh.st1_xperson VALUES (1, 'ann@x', 'TRX1', 'F');
INSERT INTO returning_refresh.rt_xperson VALUES (1, 'bob@x', 'TRX1', 'F');
SELECT tdm.create_release('TRX1', parent => 'TRW2'), tdm.add_feature('TRX1', 'F', 1);
SELECT tdm.tag_release('TRX1') IS NOT NULL AS tagged;
SET client_min_messages = error;
SELECT tdm.consolidate('TRX1') IS NOT NULL AS consolidated, tdm.promote('TRX1') IS NOT NULL AS promoted;
RESET client_min_messages;
DELETE FROM returning_refresh.rt_xperson;
INSERT INTO returning_refresh.rt_xperson SELECT * FROM master.rt_xperson;
UPDATE returning_refresh.rt_xperson SET tdm_release = 'TRX2' WHERE id = 1;
INSERT INTO returning_refresh.rt_xvisit VALUES (10, 1, 'TRX2', 'F');
SELECT tdm.create_release('TRX2', parent => 'TRX1'), tdm.add_feature('TRX2', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TRX2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRX2') IS NOT NULL AS consolidated, tdm.promote('TRX2') IS NOT NULL AS promoted;
RESET client_min_messages;
INSERT INTO returning_refresh.rt_xvisit VALUES (11, 1, 'TRX3', 'F');
SELECT tdm.create_release('TRX3', parent => 'TRX2'), tdm.add_feature('TRX3', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TRX3') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRX3') AS rx3 \gset
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :rx3;
SELECT v.id, p.email FROM staging.rt_xvisit v JOIN staging.rt_xperson p ON p.id = v.person_id ORDER BY v.id;

-- After a refresh, the refusal names every row in its case at once. TRY1:
-- st1's ann 1 and cy 2, st2's bob 1 and dan 2 (re-keyed to 3 and 4). st2
-- refreshed from master; TRY2's visits reference its 1 (ann now) and 2
-- (cy now).
SELECT pg_temp.in_environments($$
  CREATE TABLE rt_yperson (id int PRIMARY KEY, email text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
  CREATE TABLE rt_yvisit (id int PRIMARY KEY, person_id int NOT NULL REFERENCES rt_yperson, tdm_release text,
                          tdm_feature text)$$);
CREATE SCHEMA returning_refresh2;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_yperson) FROM SERVER st1 INTO returning_refresh2;
ALTER FOREIGN TABLE returning_refresh2.rt_yperson RENAME TO st1_yperson;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_yperson, rt_yvisit) FROM SERVER st2 INTO returning_refresh2;
CREATE TABLE staging.rt_yperson (id int PRIMARY KEY, email text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
CREATE TABLE staging.rt_yvisit (id int PRIMARY KEY, person_id int NOT NULL REFERENCES staging.rt_yperson,
                                tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.rt_yperson', '{email}'), tdm.manage_table('staging.rt_yvisit');
INSERT INTO returning_refresh2.st1_yperson VALUES (1, 'ann@x', 'TRY1', 'F'), (2, 'cy@x', 'TRY1', 'F');
INSERT INTO returning_refresh2.rt_yperson VALUES (1, 'bob@x', 'TRY1', 'F'), (2, 'dan@x', 'TRY1', 'F');
SELECT tdm.create_release('TRY1', parent => 'TRX3'), tdm.add_feature('TRY1', 'F', 1);
SELECT tdm.tag_release('TRY1') IS NOT NULL AS tagged;
SET client_min_messages = error;
SELECT tdm.consolidate('TRY1') IS NOT NULL AS consolidated, tdm.promote('TRY1') IS NOT NULL AS promoted;
RESET client_min_messages;
DELETE FROM returning_refresh2.rt_yperson;
INSERT INTO returning_refresh2.rt_yperson SELECT * FROM master.rt_yperson;
INSERT INTO returning_refresh2.rt_yvisit VALUES (10, 1, 'TRY2', 'F'), (11, 2, 'TRY2', 'F');
SELECT tdm.create_release('TRY2', parent => 'TRY1'), tdm.add_feature('TRY2', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TRY2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRY2');
RESET client_min_messages;

-- A surrogate-key row and its child, both re-keyed by TRR1 (st2's invoice
-- 1 and its line 1, loaded as 2), whose ids st2 gives again after a
-- re-seed (TRR2's new invoice 1 and line 1) and a reviewer keeps apart
-- (keep_all, as the rationale offers): the new line follows the new
-- invoice to the key it gets, not master's invoice 2.
SELECT pg_temp.in_environments($$
  CREATE TABLE rt_zinv (id int PRIMARY KEY, note text NOT NULL, tdm_release text, tdm_feature text);
  CREATE TABLE rt_zline (id int PRIMARY KEY, inv_id int NOT NULL REFERENCES rt_zinv, item text NOT NULL,
                         tdm_release text, tdm_feature text)$$);
CREATE SCHEMA returning_reseed;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_zinv, rt_zline) FROM SERVER st1 INTO returning_reseed;
ALTER FOREIGN TABLE returning_reseed.rt_zinv RENAME TO st1_zinv;
ALTER FOREIGN TABLE returning_reseed.rt_zline RENAME TO st1_zline;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_zinv, rt_zline) FROM SERVER st2 INTO returning_reseed;
CREATE TABLE staging.rt_zinv (id int PRIMARY KEY, note text NOT NULL, tdm_release text, tdm_feature text);
CREATE TABLE staging.rt_zline (id int PRIMARY KEY, inv_id int NOT NULL REFERENCES staging.rt_zinv,
                               item text NOT NULL, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.rt_zinv', surrogate_key => true),
       tdm.manage_table('staging.rt_zline', surrogate_key => true);
INSERT INTO returning_reseed.st1_zinv VALUES (1, 'st1 invoice', 'TRR1', 'F');
INSERT INTO returning_reseed.st1_zline VALUES (1, 1, 'st1 line', 'TRR1', 'F');
INSERT INTO returning_reseed.rt_zinv VALUES (1, 'st2 invoice', 'TRR1', 'F');
INSERT INTO returning_reseed.rt_zline VALUES (1, 1, 'st2 line', 'TRR1', 'F');
SELECT tdm.create_release('TRR1', parent => 'TRY1'), tdm.add_feature('TRR1', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TRR1') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRR1') IS NOT NULL AS consolidated, tdm.promote('TRR1') IS NOT NULL AS promoted;
RESET client_min_messages;
DELETE FROM returning_reseed.rt_zline;
DELETE FROM returning_reseed.rt_zinv;
INSERT INTO returning_reseed.rt_zinv VALUES (1, 'st2 new invoice', 'TRR2', 'F');
INSERT INTO returning_reseed.rt_zline VALUES (1, 1, 'st2 new line', 'TRR2', 'F');
SELECT tdm.create_release('TRR2', parent => 'TRR1'), tdm.add_feature('TRR2', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TRR2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRR2') AS rr2 \gset
SELECT c.rel, c.rule, c.suggestion FROM tdm.conflict c WHERE c.run_id = :rr2 AND c.status = 'pending' ORDER BY c.rel;
SELECT count(*) AS kept_apart
  FROM (SELECT tdm.resolve(c.conflict_id, 'keep_all', rationale => 'st2 was re-seeded: new rows')
          FROM tdm.conflict c WHERE c.run_id = :rr2 AND c.status = 'pending') AS decided;
SELECT tdm.consolidate('TRR2') = :rr2 AS same_run;
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :rr2;
SELECT l.item, i.note FROM staging.rt_zline l JOIN staging.rt_zinv i ON i.id = l.inv_id ORDER BY l.item;
-- (decided, they keep the suggestion and rationale they were decided on)
SELECT c.rel, c.status, c.suggestion, c.rationale LIKE '%brought again%' AS brought_again
  FROM tdm.conflict c WHERE c.run_id = :rr2 ORDER BY c.rel;
SELECT env, rel, old_key, new_key FROM tdm.key_map WHERE run_id = :rr2 ORDER BY rel, env;

-- A foreign key sharing a column with another (a line's tenant, and its
-- tenant's invoice), whose parents TRQ1 re-keyed (st2's tenant 1 merged
-- into st1's B, 2; its invoice (1, 1) loaded as (2, 2)): in TRQ2, st2
-- brings them again with a new line on its invoice, which follows both,
-- matched by its values as collected, to (2, 2), not st1's (2, 1).
SELECT pg_temp.in_environments($$
  CREATE TABLE rt_qten (tenant_id int PRIMARY KEY, name text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
  CREATE TABLE rt_qinv (tenant_id int NOT NULL REFERENCES rt_qten, inv_no int GENERATED BY DEFAULT AS IDENTITY,
                        note text NOT NULL,
                        tdm_release text, tdm_feature text, PRIMARY KEY (tenant_id, inv_no));
  CREATE TABLE rt_qline (line_id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES rt_qten, inv_no int NOT NULL,
                         item text NOT NULL, tdm_release text, tdm_feature text,
                         FOREIGN KEY (tenant_id, inv_no) REFERENCES rt_qinv)$$);
CREATE SCHEMA returning_overlap;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_qten, rt_qinv, rt_qline) FROM SERVER st1 INTO returning_overlap;
ALTER FOREIGN TABLE returning_overlap.rt_qten RENAME TO st1_qten;
ALTER FOREIGN TABLE returning_overlap.rt_qinv RENAME TO st1_qinv;
ALTER FOREIGN TABLE returning_overlap.rt_qline RENAME TO st1_qline;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_qten, rt_qinv, rt_qline) FROM SERVER st2 INTO returning_overlap;
CREATE TABLE staging.rt_qten (tenant_id int PRIMARY KEY, name text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
CREATE TABLE staging.rt_qinv (tenant_id int NOT NULL REFERENCES staging.rt_qten,
                              inv_no int GENERATED BY DEFAULT AS IDENTITY, note text NOT NULL, tdm_release text, tdm_feature text, PRIMARY KEY (tenant_id, inv_no));
CREATE TABLE staging.rt_qline (line_id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES staging.rt_qten,
                               inv_no int NOT NULL, item text NOT NULL, tdm_release text, tdm_feature text,
                               FOREIGN KEY (tenant_id, inv_no) REFERENCES staging.rt_qinv);
SELECT tdm.manage_table('staging.rt_qten', '{name}'), tdm.manage_table('staging.rt_qinv', surrogate_key => true),
       tdm.manage_table('staging.rt_qline', surrogate_key => true);
INSERT INTO returning_overlap.st1_qten VALUES (1, 'A', 'TRQ1', 'F'), (2, 'B', 'TRQ1', 'F');
INSERT INTO returning_overlap.st1_qinv VALUES (2, 1, 'st1 invoice x', 'TRQ1', 'F');
INSERT INTO returning_overlap.st1_qline VALUES (1, 2, 1, 'st1 line', 'TRQ1', 'F');
INSERT INTO returning_overlap.rt_qten VALUES (1, 'B', 'TRQ1', 'F');
INSERT INTO returning_overlap.rt_qinv VALUES (1, 1, 'st2 invoice y', 'TRQ1', 'F');
INSERT INTO returning_overlap.rt_qline VALUES (1, 1, 1, 'st2 line', 'TRQ1', 'F');
SELECT tdm.create_release('TRQ1', parent => 'TRY1'), tdm.add_feature('TRQ1', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TRQ1') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRQ1') IS NOT NULL AS consolidated, tdm.promote('TRQ1') IS NOT NULL AS promoted;
RESET client_min_messages;
UPDATE returning_overlap.rt_qten SET tdm_release = 'TRQ2';
UPDATE returning_overlap.rt_qinv SET tdm_release = 'TRQ2';
DELETE FROM returning_overlap.rt_qline;
INSERT INTO returning_overlap.rt_qline VALUES (7, 1, 1, 'st2 new line', 'TRQ2', 'F');
SELECT tdm.create_release('TRQ2', parent => 'TRQ1'), tdm.add_feature('TRQ2', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TRQ2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRQ2') AS rq2 \gset
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :rq2;
SELECT l.item, l.tenant_id, l.inv_no, i.note FROM staging.rt_qline l JOIN staging.rt_qinv i USING (tenant_id, inv_no)
 ORDER BY l.line_id;

-- A row brought again whose primary key holds part of a reference (an
-- order's (tenant_id, order_id), its customer's (tenant_id, cust_id)):
-- TRP1 merged st2's tenant 5 into st1's beta (1) and re-keyed carl and
-- his order to (1, 2); TRP2 brings them again unchanged with a line. The
-- order's customer follows carl to (1, 2) (it kept st2's 1, bob in
-- master, shown as a difference to review), and the line follows it.
SELECT pg_temp.in_environments($$
  CREATE TABLE rt_pten (tenant_id int PRIMARY KEY, slug text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
  CREATE TABLE rt_pcust (tenant_id int NOT NULL REFERENCES rt_pten, cust_id int GENERATED BY DEFAULT AS IDENTITY,
                         email text NOT NULL, tdm_release text, tdm_feature text, PRIMARY KEY (tenant_id, cust_id),
                         UNIQUE (tenant_id, email));
  CREATE TABLE rt_pord (tenant_id int NOT NULL REFERENCES rt_pten, ord_id int GENERATED BY DEFAULT AS IDENTITY,
                        cust_id int NOT NULL, note text NOT NULL, tdm_release text, tdm_feature text,
                        PRIMARY KEY (tenant_id, ord_id), FOREIGN KEY (tenant_id, cust_id) REFERENCES rt_pcust);
  CREATE TABLE rt_pline (line_id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES rt_pten, ord_id int NOT NULL,
                         item text NOT NULL, tdm_release text, tdm_feature text,
                         FOREIGN KEY (tenant_id, ord_id) REFERENCES rt_pord)$$);
CREATE SCHEMA returning_part;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_pten, rt_pcust, rt_pord, rt_pline) FROM SERVER st1 INTO returning_part;
ALTER FOREIGN TABLE returning_part.rt_pten RENAME TO st1_pten;
ALTER FOREIGN TABLE returning_part.rt_pcust RENAME TO st1_pcust;
ALTER FOREIGN TABLE returning_part.rt_pord RENAME TO st1_pord;
ALTER FOREIGN TABLE returning_part.rt_pline RENAME TO st1_pline;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_pten, rt_pcust, rt_pord, rt_pline) FROM SERVER st2 INTO returning_part;
CREATE TABLE staging.rt_pten (tenant_id int PRIMARY KEY, slug text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
CREATE TABLE staging.rt_pcust (tenant_id int NOT NULL REFERENCES staging.rt_pten,
                               cust_id int GENERATED BY DEFAULT AS IDENTITY, email text NOT NULL, tdm_release text,
                               tdm_feature text, PRIMARY KEY (tenant_id, cust_id), UNIQUE (tenant_id, email));
CREATE TABLE staging.rt_pord (tenant_id int NOT NULL REFERENCES staging.rt_pten,
                              ord_id int GENERATED BY DEFAULT AS IDENTITY, cust_id int NOT NULL, note text NOT NULL,
                              tdm_release text, tdm_feature text, PRIMARY KEY (tenant_id, ord_id),
                              FOREIGN KEY (tenant_id, cust_id) REFERENCES staging.rt_pcust);
CREATE TABLE staging.rt_pline (line_id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES staging.rt_pten,
                               ord_id int NOT NULL, item text NOT NULL, tdm_release text, tdm_feature text,
                               FOREIGN KEY (tenant_id, ord_id) REFERENCES staging.rt_pord);
SELECT tdm.manage_table('staging.rt_pten', '{slug}'), tdm.manage_table('staging.rt_pcust', ARRAY['tenant_id,email']),
       tdm.manage_table('staging.rt_pord', surrogate_key => true),
       tdm.manage_table('staging.rt_pline', surrogate_key => true);
INSERT INTO returning_part.st1_pten VALUES (1, 'beta', 'TRP1', 'F');
INSERT INTO returning_part.st1_pcust VALUES (1, 1, 'bob@beta', 'TRP1', 'F');
INSERT INTO returning_part.st1_pord VALUES (1, 1, 1, 'bob order', 'TRP1', 'F');
INSERT INTO returning_part.rt_pten VALUES (5, 'beta', 'TRP1', 'F');
INSERT INTO returning_part.rt_pcust VALUES (5, 1, 'carl@beta', 'TRP1', 'F');
INSERT INTO returning_part.rt_pord VALUES (5, 1, 1, 'carl order', 'TRP1', 'F');
SELECT tdm.create_release('TRP1', parent => 'TRY1'), tdm.add_feature('TRP1', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TRP1') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRP1') IS NOT NULL AS consolidated, tdm.promote('TRP1') IS NOT NULL AS promoted;
RESET client_min_messages;
UPDATE returning_part.rt_pten SET tdm_release = 'TRP2';
UPDATE returning_part.rt_pcust SET tdm_release = 'TRP2';
UPDATE returning_part.rt_pord SET tdm_release = 'TRP2';
INSERT INTO returning_part.rt_pline VALUES (1, 5, 1, 'carl line', 'TRP2', 'F');
SELECT tdm.create_release('TRP2', parent => 'TRP1'), tdm.add_feature('TRP2', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TRP2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRP2') AS rp2 \gset
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :rp2;
SELECT rel, kind, status FROM tdm.conflict WHERE run_id = :rp2 AND status = 'pending';
SELECT o.note, c.email FROM staging.rt_pord o JOIN staging.rt_pcust c USING (tenant_id, cust_id) ORDER BY o.note;
SELECT l.item, o.note FROM staging.rt_pline l JOIN staging.rt_pord o USING (tenant_id, ord_id);
-- TRP3 brings the tenant again with a new order of carl's, carl not:
-- the order's customer, which follows no parent brought again, is
-- translated through TRP1's key map by its values as st2 has them, not
-- by the tenant the order just followed (that was bob, (1, 1)). TRP4
-- brings carl's order again, edited: its customer is no difference.
SET client_min_messages = error;
SELECT tdm.promote('TRP2') IS NOT NULL AS promoted;
RESET client_min_messages;
UPDATE returning_part.rt_pten SET tdm_release = 'TRP3';
INSERT INTO returning_part.rt_pord VALUES (5, 2, 1, 'carl order 2', 'TRP3', 'F');
SELECT tdm.create_release('TRP3', parent => 'TRP2'), tdm.add_feature('TRP3', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TRP3') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRP3') AS rp3 \gset
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :rp3;
SELECT o.note, c.email FROM staging.rt_pord o JOIN staging.rt_pcust c USING (tenant_id, cust_id)
 WHERE o.tdm_release = 'TRP3';
SET client_min_messages = error;
SELECT tdm.promote('TRP3') IS NOT NULL AS promoted;
RESET client_min_messages;
UPDATE returning_part.rt_pord SET note = 'carl order (edited)', tdm_release = 'TRP4' WHERE ord_id = 1;
SELECT tdm.create_release('TRP4', parent => 'TRP3'), tdm.add_feature('TRP4', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TRP4') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRP4') AS rp4 \gset
RESET client_min_messages;
SELECT rel, status, suggestion, differing ? 'cust_id' AS customer_differs FROM tdm.conflict WHERE run_id = :rp4;

-- Both at once: TRM2 brings st2's invoice again (TRM1 loaded it as 2)
-- with its note changed, and st1 adds an unrelated invoice under 2. Rule
-- 0 would re-key both, st2's becoming a copy of master's: the conflict
-- goes to review, its rationale naming both ways out. Undone in st2 and
-- tagged again, st1's invoice alone is re-keyed and st2's is master's.
SELECT pg_temp.in_environments($$
  CREATE TABLE rt_minv (id int PRIMARY KEY, note text NOT NULL, tdm_release text, tdm_feature text)$$);
CREATE SCHEMA returning_mixed;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_minv) FROM SERVER st1 INTO returning_mixed;
ALTER FOREIGN TABLE returning_mixed.rt_minv RENAME TO st1_minv;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_minv) FROM SERVER st2 INTO returning_mixed;
CREATE TABLE staging.rt_minv (id int PRIMARY KEY, note text NOT NULL, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.rt_minv', surrogate_key => true);
INSERT INTO returning_mixed.st1_minv VALUES (1, 'st1 invoice', 'TRM1', 'F');
INSERT INTO returning_mixed.rt_minv VALUES (1, 'st2 invoice', 'TRM1', 'F');
SELECT tdm.create_release('TRM1'), tdm.add_feature('TRM1', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TRM1') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRM1') IS NOT NULL AS consolidated, tdm.promote('TRM1') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT id, note FROM master.rt_minv ORDER BY id;
UPDATE returning_mixed.rt_minv SET note = 'st2 invoice (fixed)', tdm_release = 'TRM2';
INSERT INTO returning_mixed.st1_minv VALUES (2, 'st1 second invoice', 'TRM2', 'F');
SELECT tdm.create_release('TRM2', parent => 'TRM1'), tdm.add_feature('TRM2', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TRM2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRM2') AS rm2 \gset
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :rm2;
SELECT rule, status, priority, suggestion, rationale FROM tdm.conflict WHERE run_id = :rm2 AND rel = 'staging.rt_minv'::regclass;
-- (keep master would merge st1's invoice, another entity, away: refused)
\set VERBOSITY default
SELECT tdm.resolve(conflict_id, 'keep', keep_env => 'master', rationale => 'master''s stays')
  FROM tdm.conflict WHERE run_id = :rm2 AND rel = 'staging.rt_minv'::regclass;
UPDATE returning_mixed.rt_minv SET note = 'st2 invoice';
SET client_min_messages = error;
SELECT tdm.tag_release('TRM2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRM2') = :rm2 AS same_run;
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :rm2;
SELECT id, note, tdm_release FROM staging.rt_minv ORDER BY id;
SELECT env, old_key, new_key, reason FROM tdm.key_map WHERE run_id = :rm2 AND rel = 'staging.rt_minv'::regclass ORDER BY env;

-- A row brought again a second time: TRB1 merged st2's row 2 into st1's 5
-- (one code); TRB2 brought it again, and a reviewer kept it apart as
-- another entity (keep_all, code renamed c2: loaded as 6); TRB3 brings
-- it again. It meets master's 6, the row it became, not 5: the earlier
-- run's member of it is found under the key that run gave it (p308).
SELECT pg_temp.in_environments($$
  CREATE TABLE rt_btw (id int PRIMARY KEY, code text NOT NULL UNIQUE, val int, tdm_release text, tdm_feature text)$$);
CREATE SCHEMA returning_twice;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_btw) FROM SERVER st1 INTO returning_twice;
ALTER FOREIGN TABLE returning_twice.rt_btw RENAME TO st1_btw;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_btw) FROM SERVER st2 INTO returning_twice;
CREATE TABLE staging.rt_btw (id int PRIMARY KEY, code text NOT NULL UNIQUE, val int, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.rt_btw', '{code}');
INSERT INTO returning_twice.st1_btw VALUES (5, 'c', NULL, 'TRB1', 'F');
INSERT INTO returning_twice.rt_btw VALUES (2, 'c', NULL, 'TRB1', 'F');
SELECT tdm.create_release('TRB1'), tdm.add_feature('TRB1', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TRB1') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRB1') IS NOT NULL AS consolidated, tdm.promote('TRB1') IS NOT NULL AS promoted;
RESET client_min_messages;
UPDATE returning_twice.rt_btw SET val = 2, tdm_release = 'TRB2';
SELECT tdm.create_release('TRB2', parent => 'TRB1'), tdm.add_feature('TRB2', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TRB2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRB2') AS rb2 \gset
SELECT count(*) AS kept_apart
  FROM (SELECT tdm.resolve(c.conflict_id, 'keep_all', renames => '{"st2": {"code": "c2"}}',
                           rationale => 'st2''s row is another one now')
          FROM tdm.conflict c WHERE c.run_id = :rb2 AND c.status = 'pending') AS decided;
SELECT tdm.consolidate('TRB2') = :rb2 AS same_run, tdm.promote('TRB2') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT id, code, val, tdm_release FROM master.rt_btw ORDER BY id;
UPDATE returning_twice.rt_btw SET val = 3, tdm_release = 'TRB3';
SELECT tdm.create_release('TRB3', parent => 'TRB2'), tdm.add_feature('TRB3', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TRB3') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TRB3') AS rb3 \gset
RESET client_min_messages;
SELECT env, old_key, new_key FROM tdm.key_map WHERE run_id = :rb3 AND rel = 'staging.rt_btw'::regclass;
SELECT (SELECT array_agg(e.m -> 'row' ->> 'id' ORDER BY e.n) FROM jsonb_array_elements(c.members) WITH ORDINALITY AS e(m, n))
         AS member_ids
  FROM tdm.conflict c WHERE c.run_id = :rb3 AND c.rel = 'staging.rt_btw'::regclass;

-- A violation of a row brought again that a reviewer kept apart (keep_all,
-- a new key) names that decision, as every violation on a decided
-- member does (decision 276): the member holds the key the earlier
-- release gave the row, neither its environment's nor its new one (p309).
SELECT pg_temp.in_environments($$
  CREATE TABLE rt_bvq (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, val text, uq int UNIQUE, tdm_release text,
                       tdm_feature text)$$);
CREATE SCHEMA returning_violation;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_bvq) FROM SERVER st1 INTO returning_violation;
ALTER FOREIGN TABLE returning_violation.rt_bvq RENAME TO st1_bvq;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_bvq) FROM SERVER st2 INTO returning_violation;
CREATE TABLE staging.rt_bvq (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, val text, uq int UNIQUE,
                             tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.rt_bvq', surrogate_key => true);
INSERT INTO returning_violation.st1_bvq VALUES (1, 'a', 10, 'TBV1', 'F');
INSERT INTO returning_violation.rt_bvq VALUES (1, 'b', 20, 'TBV1', 'F');
SELECT tdm.create_release('TBV1'), tdm.add_feature('TBV1', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TBV1') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TBV1') IS NOT NULL AS consolidated, tdm.promote('TBV1') IS NOT NULL AS promoted;
RESET client_min_messages;
UPDATE returning_violation.rt_bvq SET val = 'b2', tdm_release = 'TBV2';
SELECT tdm.create_release('TBV2', parent => 'TBV1'), tdm.add_feature('TBV2', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TBV2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TBV2') AS rv2 \gset
SELECT conflict_id AS bvq FROM tdm.conflict WHERE run_id = :rv2 AND status = 'pending' \gset
SELECT tdm.resolve(:'bvq', 'keep_all', renames => '{"st2": {"id": 200}}', rationale => 'another entity') IS NULL AS decided;
SELECT tdm.consolidate('TBV2') = :rv2 AS same_run;
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :rv2;
SELECT kind, row_key, detail -> 'decision' ->> 'conflict_id' = :'bvq' AS names_decision, detail -> 'decision' ->> 'action' AS action
  FROM tdm.violation WHERE run_id = :rv2;
-- (renamed past master's row's uq too: loaded)
SET client_min_messages = error;
SELECT tdm.resolve(:'bvq', 'keep_all', renames => '{"st2": {"id": 200, "uq": 21}}', rationale => 'another entity')
         IS NULL AS decided;
SELECT tdm.consolidate('TBV2') = :rv2 AS same_run;
RESET client_min_messages;
SELECT id, val, uq, tdm_release FROM staging.rt_bvq ORDER BY id;

-- A row brought again a second time meets the master row it became, as
-- the first time did: TBN1 merged st2's C row (1,1) into st3's B row by a
-- reviewer's keep (master (2,1) holds B); TBN2 brought it again, to
-- (2,1); TBN3 brings it again, and took it for master's C row (4,1) by
-- its natural key, because TBN2 had collected it with master's values
-- (p315). It goes to (2,1) again.
SELECT pg_temp.in_environments($$
  CREATE TABLE rt_bn (id int, b int, code text NOT NULL UNIQUE, val text, tdm_release text, tdm_feature text,
                      PRIMARY KEY (id, b))$$);
CREATE SCHEMA returning_bn1;
CREATE SCHEMA returning_bn2;
CREATE SCHEMA returning_bn3;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_bn) FROM SERVER st1 INTO returning_bn1;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_bn) FROM SERVER st2 INTO returning_bn2;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_bn) FROM SERVER st3 INTO returning_bn3;
CREATE TABLE staging.rt_bn (id int, b int, code text NOT NULL UNIQUE, val text, tdm_release text, tdm_feature text,
                            PRIMARY KEY (id, b));
SELECT tdm.manage_table('staging.rt_bn', '{code}');
INSERT INTO returning_bn1.rt_bn VALUES (1, 1, 'A', 'a', 'TBN1', 'F'), (4, 1, 'C', 'c', 'TBN1', 'F'),
                                       (2, 1, 'B', 'b', 'TBN1', 'F');
INSERT INTO returning_bn2.rt_bn VALUES (1, 1, 'C', 'c', 'TBN1', 'F');
INSERT INTO returning_bn3.rt_bn VALUES (1, 1, 'B', 'b', 'TBN1', 'F');
SELECT tdm.create_release('TBN1'), tdm.add_feature('TBN1', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TBN1') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TBN1') AS rn1 \gset
SELECT tdm.resolve(conflict_id, 'keep', 'st3', rationale => 'B holds id 1') IS NULL AS decided
  FROM tdm.conflict WHERE run_id = :rn1 AND kind = 'duplicate_pk';
SELECT tdm.consolidate('TBN1') = :rn1 AS same_run, tdm.promote('TBN1') IS NOT NULL AS promoted;
UPDATE returning_bn2.rt_bn SET val = 'c changed', tdm_release = 'TBN2';
SELECT tdm.create_release('TBN2', parent => 'TBN1'), tdm.add_feature('TBN2', 'F', 1);
SELECT tdm.tag_release('TBN2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TBN2') AS rn2 \gset
SELECT tdm.promote('TBN2') IS NOT NULL AS promoted;
UPDATE returning_bn2.rt_bn SET val = 'c changed again', tdm_release = 'TBN3';
SELECT tdm.create_release('TBN3', parent => 'TBN2'), tdm.add_feature('TBN3', 'F', 1);
SELECT tdm.tag_release('TBN3') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TBN3') AS rn3 \gset
RESET client_min_messages;
SELECT r.run_id = :rn3 AS third, k.env, k.old_key, k.new_key, k.reason
  FROM tdm.key_map k JOIN tdm.run r USING (run_id)
 WHERE k.rel = 'staging.rt_bn'::regclass AND k.env = 'st2' AND r.run_id IN (:rn2, :rn3) ORDER BY r.run_id;
SELECT id, b, code, val FROM master.rt_bn ORDER BY id, b;

-- A keep_all that needs no key because another conflict's decision
-- merges its member away, where that decision goes stale (its member
-- changed, tagged again): the call waits for the reviewers with the stale
-- conflict in the queue, where it raised decision 411's refusal, undoing
-- the call, and the queue stayed empty (p315).
SELECT pg_temp.in_environments($$
  CREATE TABLE rt_sk (a int, b int, code text NOT NULL UNIQUE, val text, tdm_release text, tdm_feature text,
                      PRIMARY KEY (a, b))$$);
CREATE SCHEMA returning_sk1;
CREATE SCHEMA returning_sk2;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_sk) FROM SERVER st1 INTO returning_sk1;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_sk) FROM SERVER st2 INTO returning_sk2;
CREATE TABLE staging.rt_sk (a int, b int, code text NOT NULL UNIQUE, val text, tdm_release text, tdm_feature text,
                            PRIMARY KEY (a, b));
SELECT tdm.manage_table('staging.rt_sk', '{code}');
INSERT INTO returning_sk1.rt_sk VALUES (1, 7, 'X0', 'e1 seven', 'TSK', 'F'), (1, 2, 'X6', 'e1 two', 'TSK', 'F');
INSERT INTO returning_sk2.rt_sk VALUES (1, 7, 'X6', 'e2 seven', 'TSK', 'F');
SELECT tdm.create_release('TSK'), tdm.add_feature('TSK', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TSK') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TSK') AS rsk \gset
SELECT conflict_id AS sk_key FROM tdm.conflict WHERE run_id = :rsk AND kind = 'duplicate_pk' \gset
SELECT conflict_id AS sk_code FROM tdm.conflict WHERE run_id = :rsk AND kind <> 'duplicate_pk' \gset
SELECT tdm.resolve(:'sk_code', 'keep', 'st1', rationale => 'one X6, st1''s') IS NULL AS decided;
SELECT tdm.resolve(:'sk_key', 'keep_all', rationale => 'X0 and X6 are two items') IS NULL AS decided;
UPDATE returning_sk1.rt_sk SET val = 'e1 two, changed' WHERE b = 2;
SELECT tdm.tag_release('TSK') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TSK') = :rsk AS same_run;
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :rsk;
SELECT conflict_id = :'sk_code' AS the_code_conflict, status FROM tdm.review_queue WHERE release = 'TSK';

-- A row a keep_all renamed, re-keyed in the same run (rule 0 gave its
-- key to another environment's row), brought again by the next release:
-- it meets the row the keep_all made (U2x), and its new child follows it
-- there. The keep_all's entry (a rename under the key as collected) hid
-- the re-keying's, and the row was merged into master's U2, bob, its
-- child with it (p321).
SELECT pg_temp.in_environments($$
  CREATE TABLE rt_kr (id int PRIMARY KEY, code text NOT NULL UNIQUE, name text, tdm_release text, tdm_feature text);
  CREATE TABLE rt_kr_acct (id int PRIMARY KEY, kr_id int NOT NULL REFERENCES rt_kr, number text NOT NULL UNIQUE,
                           tdm_release text, tdm_feature text)$$);
CREATE SCHEMA returning_kr1;
CREATE SCHEMA returning_kr2;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_kr, rt_kr_acct) FROM SERVER st1 INTO returning_kr1;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_kr, rt_kr_acct) FROM SERVER st2 INTO returning_kr2;
CREATE TABLE staging.rt_kr (id int PRIMARY KEY, code text NOT NULL UNIQUE, name text, tdm_release text,
                            tdm_feature text);
CREATE TABLE staging.rt_kr_acct (id int PRIMARY KEY, kr_id int NOT NULL REFERENCES staging.rt_kr,
                                 number text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.rt_kr', '{code}', surrogate_key => true),
       tdm.manage_table('staging.rt_kr_acct', '{number}', surrogate_key => true);
INSERT INTO returning_kr1.rt_kr VALUES (1, 'U1', 'alice', 'TKR1', 'F'), (2, 'U2', 'bob', 'TKR1', 'F');
INSERT INTO returning_kr2.rt_kr VALUES (1, 'U2', 'bobby', 'TKR1', 'G');
SELECT tdm.create_release('TKR1'), tdm.add_feature('TKR1', 'F', 1), tdm.add_feature('TKR1', 'G', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TKR1') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TKR1') AS rk1 \gset
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"st2": {"code": "U2x"}}',
                   rationale => 'bobby is another person') IS NULL AS decided
  FROM tdm.review_queue WHERE release = 'TKR1';
SELECT tdm.consolidate('TKR1') = :rk1 AS same_run, tdm.promote('TKR1') IS NOT NULL AS promoted;
UPDATE returning_kr2.rt_kr SET tdm_release = 'TKR2', tdm_feature = 'F';
INSERT INTO returning_kr2.rt_kr_acct VALUES (1, 1, 'B1', 'TKR2', 'F');
SELECT tdm.create_release('TKR2', parent => 'TKR1'), tdm.add_feature('TKR2', 'F', 1);
SELECT tdm.tag_release('TKR2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TKR2') AS rk2 \gset
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :rk2;
SELECT r.run_id = :rk2 AS second, k.old_key, k.new_key, k.reason
  FROM tdm.key_map k JOIN tdm.run r USING (run_id)
 WHERE k.rel = 'staging.rt_kr'::regclass AND k.env = 'st2' ORDER BY r.run_id;
SELECT a.id, a.number, u.code, u.name FROM staging.rt_kr_acct a JOIN staging.rt_kr u ON u.id = a.kr_id;

-- A row an archived release loaded, tagged for the next release in its
-- environment: staging still holds the archived release's row, and the
-- run is invalid. Its HINT names the release to restore, not to promote,
-- which promote refuses for an archived release (p321). Restored, the
-- row meets master's as a conflict and the run completes.
SELECT pg_temp.in_environments($$
  CREATE TABLE rt_ax (id int PRIMARY KEY, code text NOT NULL UNIQUE, val text, tdm_release text, tdm_feature text)$$);
CREATE SCHEMA returning_ax1;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_ax) FROM SERVER st1 INTO returning_ax1;
CREATE TABLE staging.rt_ax (id int PRIMARY KEY, code text NOT NULL UNIQUE, val text, tdm_release text,
                            tdm_feature text);
SELECT tdm.manage_table('staging.rt_ax', '{code}');
INSERT INTO returning_ax1.rt_ax VALUES (1, 'A1', 'a', 'TAX1', 'F');
SELECT tdm.create_release('TAX1'), tdm.add_feature('TAX1', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TAX1') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TAX1') IS NOT NULL AS consolidated, tdm.promote('TAX1') IS NOT NULL AS promoted;
SELECT tdm.archive_release('TAX1');
UPDATE returning_ax1.rt_ax SET tdm_release = 'TAX2';
SELECT tdm.create_release('TAX2', parent => 'TAX1'), tdm.add_feature('TAX2', 'F', 1);
SELECT tdm.tag_release('TAX2') IS NOT NULL AS tagged;
SET client_min_messages = notice;
SELECT tdm.consolidate('TAX2') AS rax \gset
SET client_min_messages = error;
SELECT tdm.restore_release('TAX1');
SELECT tdm.consolidate('TAX2') = :rax AS same_run;
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :rax;
SELECT id, code, tdm_release FROM staging.rt_ax ORDER BY id, tdm_release;

-- Rows a decision changed under their own keys, brought again: Pat B,
-- kept apart by a keep_all that renamed her email, in a table whose first
-- release gave no key map entry (TKU1); Dave, whose email and name a
-- merge corrected; and st2's Sam, merged under the key it shares with
-- st1's Sam into the row the merge corrected (rt_dave). Each is master's
-- row of its key, changed, not a new entity of the email it still has in
-- its environment (re-keyed beside master's, or sent to a reviewer as
-- Pat A's) (p320, p323).
SELECT pg_temp.in_environments($$
  CREATE TABLE rt_pat (id uuid PRIMARY KEY, email text NOT NULL UNIQUE, name text NOT NULL, prefs jsonb,
                       tdm_release text, tdm_feature text);
  CREATE TABLE rt_dave (LIKE rt_pat INCLUDING ALL)$$);
CREATE SCHEMA returning_pat1;
CREATE SCHEMA returning_pat2;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_pat, rt_dave) FROM SERVER st1 INTO returning_pat1;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_pat, rt_dave) FROM SERVER st2 INTO returning_pat2;
CREATE TABLE staging.rt_pat (id uuid PRIMARY KEY, email text NOT NULL UNIQUE, name text NOT NULL, prefs jsonb,
                             tdm_release text, tdm_feature text);
CREATE TABLE staging.rt_dave (LIKE staging.rt_pat INCLUDING ALL);
SELECT tdm.manage_table('staging.rt_pat', '{email}', core_columns => '{name}'),
       tdm.manage_table('staging.rt_dave', '{email}', core_columns => '{name}');
INSERT INTO returning_pat1.rt_pat VALUES ('00000000-0000-0000-0000-000000000001', 'pat@x', 'Pat A', '{}', 'TKU1', 'F');
INSERT INTO returning_pat2.rt_pat VALUES ('00000000-0000-0000-0000-000000000002', 'pat@x', 'Pat B', '{}', 'TKU1', 'F');
INSERT INTO returning_pat1.rt_dave VALUES ('00000000-0000-0000-0000-000000000003', 'dave@x', 'Dave', '{}', 'TKU1', 'F'),
                                          ('00000000-0000-0000-0000-000000000005', 'sam@x', 'Sam', '{}', 'TKU1', 'F');
INSERT INTO returning_pat2.rt_dave VALUES ('00000000-0000-0000-0000-000000000004', 'dave@x', 'David', '{}', 'TKU1', 'F'),
                                          ('00000000-0000-0000-0000-000000000005', 'sam@x', 'Samuel', '{}', 'TKU1', 'F');
SELECT tdm.create_release('TKU1'), tdm.add_feature('TKU1', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TKU1') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TKU1') AS ku1 \gset
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"st2": {"email": "patb@x"}}', rationale => 'two people')
  FROM tdm.review_queue WHERE run_id = :ku1 AND differing -> 'name' ->> 'st1' = 'Pat A';
SELECT tdm.resolve(conflict_id, 'merge', merged => '{"email": "david@x", "name": "David"}', rationale => 'one person')
  FROM tdm.review_queue WHERE run_id = :ku1 AND differing -> 'name' ->> 'st1' = 'Dave';
SELECT tdm.resolve(conflict_id, 'merge', merged => '{"email": "samuel@x", "name": "Samuel"}', rationale => 'one person')
  FROM tdm.review_queue WHERE run_id = :ku1 AND differing -> 'name' ->> 'st1' = 'Sam';
SET SESSION AUTHORIZATION tdm_returning_approver;
SELECT count(*) AS approved FROM pg_temp.approve_run(:ku1);
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TKU1') = :ku1 AS same_run, tdm.promote('TKU1') IS NOT NULL AS promoted;
SELECT rel, count(*) AS key_map_entries FROM tdm.key_map
 WHERE rel IN ('staging.rt_pat'::regclass, 'staging.rt_dave'::regclass) GROUP BY rel ORDER BY rel::text;
UPDATE returning_pat2.rt_pat SET prefs = '{"vip": true}', tdm_release = 'TKU2' WHERE name = 'Pat B';
UPDATE returning_pat1.rt_dave SET prefs = '{"vip": true}', tdm_release = 'TKU2' WHERE name = 'Dave';
UPDATE returning_pat2.rt_dave SET prefs = '{"vip": true}', tdm_release = 'TKU2' WHERE name = 'Samuel';
SELECT tdm.create_release('TKU2', parent => 'TKU1'), tdm.add_feature('TKU2', 'F', 1);
SELECT tdm.tag_release('TKU2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TKU2') AS ku2 \gset
RESET client_min_messages;
SELECT rel, members -> 0 ->> 'env' AS holder, members -> 0 -> 'row' ->> 'id' AS master_row,
       members -> 0 -> 'row' ->> 'email' AS master_email, members -> 1 ->> 'env' AS env,
       members -> 1 -> 'row' ->> 'email' AS email, kind
  FROM tdm.conflict WHERE run_id = :ku2 ORDER BY 3;

-- A row kept apart twice by keep_all: renamed in TTW1 (u3@x to r2@x under
-- its key), brought again in TTW2 as master's r2@x and renamed again
-- (r3@x, re-keyed 5 to 6), brought again in TTW3 with a new note. Its
-- environment still says u3@x, which neither TTW2's row (r2@x) nor
-- master's (r3@x) has: TTW1's row tells it is the same entity, for TTW2
-- brought that row again. It meets master's row 6, its note follows; it
-- was taken for a reused key and merged into bob's row (p324).
SELECT pg_temp.in_environments($$
  CREATE TABLE rt_tw (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text, role text, tdm_release text,
                      tdm_feature text);
  CREATE TABLE rt_tw_note (id int PRIMARY KEY, tw_id int NOT NULL REFERENCES rt_tw, body text, tdm_release text,
                           tdm_feature text)$$);
CREATE SCHEMA returning_tw1;
CREATE SCHEMA returning_tw2;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_tw, rt_tw_note) FROM SERVER st1 INTO returning_tw1;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_tw, rt_tw_note) FROM SERVER st2 INTO returning_tw2;
CREATE TABLE staging.rt_tw (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text, role text, tdm_release text,
                            tdm_feature text);
CREATE TABLE staging.rt_tw_note (id int PRIMARY KEY, tw_id int NOT NULL REFERENCES staging.rt_tw, body text,
                                 tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.rt_tw', '{email}', core_columns => '{role}'),
       tdm.manage_table('staging.rt_tw_note');
INSERT INTO returning_tw1.rt_tw VALUES (4, 'u3@x', 'bob', 'a', 'TTW1', 'F');
INSERT INTO returning_tw2.rt_tw VALUES (5, 'u3@x', 'ann', 'b', 'TTW1', 'F');
SELECT tdm.create_release('TTW1'), tdm.add_feature('TTW1', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TTW1') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TTW1') AS tw1 \gset
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"st2": {"email": "r2@x"}}', rationale => 'ann is not bob')
  FROM tdm.review_queue WHERE run_id = :tw1;
SET SESSION AUTHORIZATION tdm_returning_approver;
SELECT count(*) AS approved FROM pg_temp.approve_run(:tw1);
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TTW1') = :tw1 AS same_run, tdm.promote('TTW1') IS NOT NULL AS promoted;
UPDATE returning_tw2.rt_tw SET role = 'a', tdm_release = 'TTW2';
SELECT tdm.create_release('TTW2', parent => 'TTW1'), tdm.add_feature('TTW2', 'F', 1);
SELECT tdm.tag_release('TTW2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TTW2') AS tw2 \gset
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"st2": {"email": "r3@x"}}', rationale => 'ann again')
  FROM tdm.review_queue WHERE run_id = :tw2;
SET SESSION AUTHORIZATION tdm_returning_approver;
SELECT count(*) AS approved FROM pg_temp.approve_run(:tw2);
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TTW2') = :tw2 AS same_run, tdm.promote('TTW2') IS NOT NULL AS promoted;
UPDATE returning_tw2.rt_tw SET name = 'annie', tdm_release = 'TTW3';
INSERT INTO returning_tw2.rt_tw_note VALUES (1, 5, 'annie''s note', 'TTW3', 'F');
SELECT tdm.create_release('TTW3', parent => 'TTW2'), tdm.add_feature('TTW3', 'F', 1);
SELECT tdm.tag_release('TTW3') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TTW3') AS tw3 \gset
RESET client_min_messages;
SELECT id, email, name, role, tdm_release FROM master.rt_tw ORDER BY id;
SELECT members -> 0 ->> 'env' AS holder, members -> 0 -> 'row' ->> 'id' AS master_row,
       members -> 0 -> 'row' ->> 'email' AS master_email, members -> 1 -> 'row' ->> 'email' AS email, rule
  FROM tdm.conflict WHERE run_id = :tw3 ORDER BY 2;
SELECT status FROM tdm.run WHERE run_id = :tw3;
SELECT n.body, u.id, u.email, u.name FROM staging.rt_tw_note n JOIN staging.rt_tw u ON u.id = n.tw_id;
-- TTW3 brought the row again with no decision (its key map entry has no
-- conflict); a third keep_all in TTW4 (r4@x, re-keyed 6 to 7); TTW5
-- brings it again, still u3@x in its environment: the walk passes over
-- TTW3's entry to TTW2's and TTW1's rows, and the row meets master's row
-- 7 (p326: it stopped at TTW3's, and the row went to bob's again).
SET client_min_messages = error;
SELECT tdm.promote('TTW3') IS NOT NULL AS promoted;
UPDATE returning_tw2.rt_tw SET role = 'c', tdm_release = 'TTW4';
SELECT tdm.create_release('TTW4', parent => 'TTW3'), tdm.add_feature('TTW4', 'F', 1);
SELECT tdm.tag_release('TTW4') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TTW4') AS tw4 \gset
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"st2": {"email": "r4@x"}}', rationale => 'ann a third time')
  FROM tdm.review_queue WHERE run_id = :tw4;
SET SESSION AUTHORIZATION tdm_returning_approver;
SELECT count(*) AS approved FROM pg_temp.approve_run(:tw4);
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TTW4') = :tw4 AS same_run, tdm.promote('TTW4') IS NOT NULL AS promoted;
UPDATE returning_tw2.rt_tw SET name = 'ann5', tdm_release = 'TTW5';
SELECT tdm.create_release('TTW5', parent => 'TTW4'), tdm.add_feature('TTW5', 'F', 1);
SELECT tdm.tag_release('TTW5') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TTW5') AS tw5 \gset
RESET client_min_messages;
SELECT id, email, name, role, tdm_release FROM master.rt_tw ORDER BY id;
SELECT members -> 0 ->> 'env' AS holder, members -> 0 -> 'row' ->> 'id' AS master_row,
       members -> 0 -> 'row' ->> 'email' AS master_email, members -> 1 -> 'row' ->> 'email' AS email, rule
  FROM tdm.conflict WHERE run_id = :tw5 ORDER BY 2;
SELECT old_key, new_key, reason FROM tdm.key_map WHERE run_id = :tw5 AND rel = 'staging.rt_tw'::regclass;

-- A row merged into another environment's row (TID1: st2's 4 into st1's
-- 2, one email), brought again changed and kept apart (TID2: renamed
-- b2@x, re-keyed: the next key, 4, its environment's own), brought again
-- (TID3): the latest entry of its key, 4 to 4, says it is master's row
-- 4; it was passed over as no change of key, and the row went to st1's
-- row 2 by TID1's entry (p327).
SELECT pg_temp.in_environments($$
  CREATE TABLE rt_id (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text, role text, tdm_release text,
                      tdm_feature text)$$);
CREATE SCHEMA returning_id1;
CREATE SCHEMA returning_id2;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_id) FROM SERVER st1 INTO returning_id1;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_id) FROM SERVER st2 INTO returning_id2;
CREATE TABLE staging.rt_id (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text, role text, tdm_release text,
                            tdm_feature text);
SELECT tdm.manage_table('staging.rt_id', '{email}', core_columns => '{role}');
INSERT INTO returning_id1.rt_id VALUES (1, 'a@x', 'al', 'a', 'TID1', 'F'), (2, 'b@x', 'bo', 'a', 'TID1', 'F'),
                                       (3, 'c@x', 'cy', 'a', 'TID1', 'F');
INSERT INTO returning_id2.rt_id VALUES (4, 'b@x', 'bo', 'a', 'TID1', 'F');
SELECT tdm.create_release('TID1'), tdm.add_feature('TID1', 'F', 1);
SET client_min_messages = error;
SELECT tdm.tag_release('TID1') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TID1') IS NOT NULL AS consolidated, tdm.promote('TID1') IS NOT NULL AS promoted;
UPDATE returning_id2.rt_id SET role = 'b', tdm_release = 'TID2';
SELECT tdm.create_release('TID2', parent => 'TID1'), tdm.add_feature('TID2', 'F', 1);
SELECT tdm.tag_release('TID2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TID2') AS id2 \gset
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"st2": {"email": "b2@x"}}', rationale => 'another bo')
  FROM tdm.review_queue WHERE run_id = :id2;
SET SESSION AUTHORIZATION tdm_returning_approver;
SELECT count(*) AS approved FROM pg_temp.approve_run(:id2);
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TID2') = :id2 AS same_run, tdm.promote('TID2') IS NOT NULL AS promoted;
UPDATE returning_id2.rt_id SET name = 'bo2', tdm_release = 'TID3';
SELECT tdm.create_release('TID3', parent => 'TID2'), tdm.add_feature('TID3', 'F', 1);
SELECT tdm.tag_release('TID3') IS NOT NULL AS tagged;
SELECT tdm.consolidate('TID3') AS id3 \gset
RESET client_min_messages;
SELECT r.release, k.old_key, k.new_key, k.reason FROM tdm.key_map k JOIN tdm.run r USING (run_id)
 WHERE k.rel = 'staging.rt_id'::regclass ORDER BY k.run_id;
SELECT id, email, name, role, tdm_release FROM master.rt_id ORDER BY id;
SELECT members -> 0 ->> 'env' AS holder, members -> 0 -> 'row' ->> 'id' AS master_row,
       members -> 0 -> 'row' ->> 'email' AS master_email, members -> 1 -> 'row' ->> 'email' AS email, rule
  FROM tdm.conflict WHERE run_id = :id3 ORDER BY 2;

-- A row kept apart by an earlier release (TDS1: st2's 2, one email with
-- st1's 2, renamed a2@x by a keep_all, re-keyed to 3) brought again
-- (TDS2) along with a new row of its environment under the key tdm gave
-- it (st2's own 3, with a note): the row brought again takes master's
-- key 3 and its rename, and st2's own row, another entity, a new key
-- (8, past st1's 7), its note following it. It was left under its
-- environment's key and met st1's row 2 again, by key and email: the run
-- waited for a reviewer to undo TDS1's decision (p327 seed 502). The run
-- waits for di's conflict and cy's (st1's 7 has cy's email: kept apart,
-- st2's renamed c2@x): the call that resumes it gives cy the same key.
-- TDS3 brings both again, and a note on each: each meets master's row it
-- became, 2 by key 3 and 3 by key 8 with its rename, in the same move
-- (cy was taken for another entity than TDS2's, p335).
SELECT pg_temp.people_with_notes('ds');
INSERT INTO returning_ds1.rt_ds VALUES (2, 'a@x', 'al', 'TDS1', 'F');
INSERT INTO returning_ds2.rt_ds VALUES (2, 'a@x', 'al b', 'TDS1', 'G');
SET client_min_messages = error;
SELECT pg_temp.tagged_release('TDS1') AS tagged;
SELECT tdm.consolidate('TDS1') AS ds1 \gset
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"st2": {"email": "a2@x"}}', rationale => 'another al')
  FROM tdm.review_queue WHERE run_id = :ds1;
SELECT tdm.consolidate('TDS1') = :ds1 AS same_run, tdm.promote('TDS1') IS NOT NULL AS promoted;
UPDATE returning_ds2.rt_ds SET tdm_release = 'TDS2';
INSERT INTO returning_ds2.rt_ds VALUES (3, 'c@x', 'cy', 'TDS2', 'G');
INSERT INTO returning_ds1.rt_ds VALUES (7, 'c@x', 'cy one', 'TDS2', 'F');
INSERT INTO returning_ds2.rt_ds_note VALUES (1, 3, 'cy''s', 'TDS2', 'F');
INSERT INTO returning_ds1.rt_ds VALUES (5, 'd@x', 'di', 'TDS2', 'F');
INSERT INTO returning_ds2.rt_ds VALUES (5, 'd@x', 'di b', 'TDS2', 'G');
SELECT pg_temp.tagged_release('TDS2', 'TDS1') AS tagged;
SELECT tdm.consolidate('TDS2') AS ds2 \gset
RESET client_min_messages;
SELECT status, (SELECT array_agg(c.members -> 0 -> 'row' ->> 'email') FROM tdm.conflict c
                  WHERE c.run_id = :ds2 AND c.status = 'pending') AS pending
  FROM tdm.run WHERE run_id = :ds2;
SELECT env, old_key, new_key, reason FROM tdm.key_map WHERE run_id = :ds2 ORDER BY old_key;
SELECT tdm.resolve(c.conflict_id, 'keep', 'st1', rationale => 'di as st1 spells her')
  FROM tdm.conflict c WHERE c.run_id = :ds2 AND c.status = 'pending' AND c.members -> 0 -> 'row' ->> 'email' = 'd@x';
SELECT tdm.resolve(c.conflict_id, 'keep_all', renames => '{"st2": {"email": "c2@x"}}', rationale => 'two cys')
  FROM tdm.conflict c WHERE c.run_id = :ds2 AND c.status = 'pending' AND c.members -> 0 -> 'row' ->> 'email' = 'c@x';
SET client_min_messages = error;
SELECT tdm.consolidate('TDS2') = :ds2 AS same_run;
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :ds2;
SELECT r.release, k.rel, k.env, k.old_key, k.new_key, k.reason FROM tdm.key_map k JOIN tdm.run r USING (run_id)
 WHERE k.rel IN ('staging.rt_ds'::regclass, 'staging.rt_ds_note'::regclass) ORDER BY k.run_id, k.rel::text, k.old_key;
SET client_min_messages = error;
SELECT tdm.promote('TDS2') IS NOT NULL AS promoted;
UPDATE returning_ds2.rt_ds SET tdm_release = 'TDS3' WHERE id IN (2, 3);
INSERT INTO returning_ds2.rt_ds_note VALUES (2, 2, 'al b''s', 'TDS3', 'F'), (3, 3, 'cy''s again', 'TDS3', 'F');
SELECT pg_temp.tagged_release('TDS3', 'TDS2') AS tagged;
SELECT tdm.consolidate('TDS3') AS ds3 \gset
SELECT tdm.promote('TDS3') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :ds3;
SELECT c.rel, c.kind, c.rule, c.status, c.members -> 0 ->> 'env' AS holder, c.members -> 0 -> 'row' ->> 'id' AS id,
       c.members -> 1 ->> 'env' AS env, c.members -> 1 -> 'row' ->> 'id' AS brought_id
  FROM tdm.conflict c WHERE c.run_id = :ds3 ORDER BY c.rel::text, 6;
SELECT id, email, name, tdm_release FROM master.rt_ds ORDER BY id;
SELECT n.id, n.ds_id, d.email, n.note FROM master.rt_ds_note n JOIN master.rt_ds d ON d.id = n.ds_id ORDER BY n.id;
-- TDS4 brings st2's 2 again and a new note of cy's, not cy: the row
-- brought again takes key 3, where st2's note names its own 3, which
-- the map sends to 8: the note goes there (p334). It was left under its
-- environment's key, and met st1's row 2 again.
SET client_min_messages = error;
UPDATE returning_ds2.rt_ds SET tdm_release = 'TDS4' WHERE id = 2;
INSERT INTO returning_ds2.rt_ds_note VALUES (4, 3, 'cy''s third', 'TDS4', 'F');
SELECT pg_temp.tagged_release('TDS4', 'TDS3') AS tagged;
SELECT tdm.consolidate('TDS4') AS ds4 \gset
SELECT tdm.promote('TDS4') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :ds4;
SELECT id, email, name, tdm_release FROM master.rt_ds ORDER BY id;
SELECT n.id, n.ds_id, d.email, n.note FROM master.rt_ds_note n JOIN master.rt_ds d ON d.id = n.ds_id ORDER BY n.id;

-- A row renamed under its own key by a keep_all (TKT1: st1's 2, k1@x),
-- brought again changed (TKT2: collected with that rename) and kept apart
-- from master's row again (re-keyed, k2@x); TKT3 brings a note of it, not
-- the row: the note goes to the row TKT2 made. It was refused as a reset:
-- TKT2's member holds k1@x, the environment k@x (p327 seeds 578, 587, 595).
SELECT pg_temp.people_with_notes('kt');
INSERT INTO returning_kt1.rt_kt VALUES (2, 'k@x', 'kay', 'TKT1', 'F');
INSERT INTO returning_kt2.rt_kt VALUES (2, 'k@x', 'kay b', 'TKT1', 'G');
SET client_min_messages = error;
SELECT pg_temp.tagged_release('TKT1') AS tagged;
SELECT tdm.consolidate('TKT1') AS kt1 \gset
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"st1": {"email": "k1@x"}}', rationale => 'two kays')
  FROM tdm.review_queue WHERE run_id = :kt1;
SELECT tdm.consolidate('TKT1') = :kt1 AS same_run, tdm.promote('TKT1') IS NOT NULL AS promoted;
UPDATE returning_kt1.rt_kt SET name = 'kay c', tdm_feature = 'G', tdm_release = 'TKT2';
SELECT pg_temp.tagged_release('TKT2', 'TKT1') AS tagged;
SELECT tdm.consolidate('TKT2') AS kt2 \gset
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"st1": {"email": "k2@x"}}', rationale => 'a third kay')
  FROM tdm.review_queue WHERE run_id = :kt2;
SELECT tdm.consolidate('TKT2') = :kt2 AS same_run, tdm.promote('TKT2') IS NOT NULL AS promoted;
INSERT INTO returning_kt1.rt_kt_note VALUES (1, 2, 'kay c''s', 'TKT3', 'F');
SELECT pg_temp.tagged_release('TKT3', 'TKT2') AS tagged;
SELECT tdm.consolidate('TKT3') AS kt3 \gset
SELECT tdm.promote('TKT3') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT r.release, k.env, k.old_key, k.new_key, k.reason FROM tdm.key_map k JOIN tdm.run r USING (run_id)
 WHERE k.rel = 'staging.rt_kt'::regclass ORDER BY k.run_id, k.env;
SELECT id, email, name, tdm_release FROM master.rt_kt ORDER BY id;
SELECT n.id, n.kt_id, k.email, k.name FROM master.rt_kt_note n JOIN master.rt_kt k ON k.id = n.kt_id;

-- A row brought again that a reviewer kept apart was taken, by a later
-- release, for its environment's row of the key it was collected under
-- (p336 seed 612): TMB1 merges st2's bob (1) into st1's (2, the same
-- values) and re-keys st2's cy (2, st1's key) to 3. TMB2 brings st2's
-- bob again, changed: collected under 2, master's bob, and kept apart
-- (renamed b2@x, re-keyed). TMB3 brings cy again, unchanged, and a note
-- of cy: cy was collected under 2 and renamed u1@x, TMB2's conflict
-- member under key 2 taken for st2's row 2, and merged into bob by the
-- rules. Now cy meets master's 3, and the note goes to it.
SELECT pg_temp.people_with_notes('mb');
INSERT INTO returning_mb1.rt_mb VALUES (2, 'u1@x', 'bob', 'TMB1', 'F');
INSERT INTO returning_mb2.rt_mb VALUES (1, 'u1@x', 'bob', 'TMB1', 'F'), (2, 'u3@x', 'cy', 'TMB1', 'F');
SET client_min_messages = error;
SELECT pg_temp.tagged_release('TMB1') AS tagged;
SELECT tdm.consolidate('TMB1') AS mb1 \gset
SELECT tdm.promote('TMB1') IS NOT NULL AS promoted;
UPDATE returning_mb2.rt_mb SET name = 'bob b', tdm_release = 'TMB2', tdm_feature = 'G' WHERE id = 1;
SELECT pg_temp.tagged_release('TMB2', 'TMB1') AS tagged;
SELECT tdm.consolidate('TMB2') AS mb2 \gset
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"st2": {"email": "b2@x"}}', rationale => 'another bob')
  FROM tdm.review_queue WHERE run_id = :mb2;
SELECT tdm.consolidate('TMB2') = :mb2 AS same_run, tdm.promote('TMB2') IS NOT NULL AS promoted;
UPDATE returning_mb2.rt_mb SET tdm_release = 'TMB3' WHERE id = 2;
INSERT INTO returning_mb2.rt_mb_note VALUES (1, 2, 'cy''s', 'TMB3', 'F');
SELECT pg_temp.tagged_release('TMB3', 'TMB2') AS tagged;
SELECT tdm.consolidate('TMB3') AS mb3 \gset
SELECT status FROM tdm.run WHERE run_id = :mb3;
SELECT tdm.promote('TMB3') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT r.release, k.env, k.old_key, k.new_key, k.reason FROM tdm.key_map k JOIN tdm.run r USING (run_id)
 WHERE k.rel = 'staging.rt_mb'::regclass ORDER BY k.run_id, k.env, k.old_key::text;
SELECT id, email, name, tdm_release FROM master.rt_mb ORDER BY id;
SELECT n.id, n.mb_id, m.email, m.name FROM master.rt_mb_note n JOIN master.rt_mb m ON m.id = n.mb_id;

-- A rename a keep_all gave a row under its own key holds when the same
-- decision re-keyed another row of its environment (p340): TMC1's one
-- conflict holds st1's 5 and st2's 5 (the same email) and 6 (the same
-- role); st2's 5 is re-keyed (u5b@x), st2's 6 keeps its key, renamed
-- r6b. TMC2 brings st2's 6 again, its name changed: it meets master's 6
-- as r6b, settled by the rules. It was collected with its environment's
-- r6, which is master's 5's too: the reviewer was asked again.
SELECT pg_temp.people_with_notes('mc', '{email,role}');
INSERT INTO returning_mc1.rt_mc VALUES (5, 'u5@x', 'five', 'TMC1', 'F', 'r6');
INSERT INTO returning_mc2.rt_mc VALUES (5, 'u5@x', 'a', 'TMC1', 'F', 'r5'), (6, 'u6@x', 'six', 'TMC1', 'F', 'r6');
SET client_min_messages = error;
SELECT pg_temp.tagged_release('TMC1') AS tagged;
SELECT tdm.consolidate('TMC1') AS mc1 \gset
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"st2:5": {"email": "u5b@x"}, "st2:6": {"role": "r6b"}}',
                   rationale => 'three people') FROM tdm.review_queue WHERE run_id = :mc1;
SELECT tdm.consolidate('TMC1') = :mc1 AS same_run, tdm.promote('TMC1') IS NOT NULL AS promoted;
UPDATE returning_mc2.rt_mc SET name = 'six b', tdm_release = 'TMC2' WHERE id = 6;
SELECT pg_temp.tagged_release('TMC2', 'TMC1') AS tagged;
SELECT tdm.consolidate('TMC2') AS mc2 \gset
RESET client_min_messages;
SELECT r.status, c.kind, c.rule, c.status AS conflict, jsonb_array_length(c.members) AS members,
       (SELECT m -> 'row' ->> 'role' FROM jsonb_array_elements(c.members) AS m WHERE m ->> 'env' = 'st2') AS st2_role
  FROM tdm.run r JOIN tdm.conflict c USING (run_id) WHERE r.run_id = :mc2;
SELECT id, email, name, role, tdm_release FROM staging.rt_mc ORDER BY id;
-- A keep_all rename of a natural key that holds a reference too (an
-- order's name beside its shop, (shop_id, name)), brought again (p346):
-- TKO1 keeps st2's SO1 apart from st1's, renamed SO1-b (and re-keyed, 2).
-- TKO2 brings it again, its state changed: it meets master's 2 as SO1-b.
-- It kept its environment's name: it met st1's order, master's 1, by the
-- pair the reviewer kept apart, and master's 2 as "name changed".
SELECT pg_temp.in_environments($$
  CREATE TABLE rt_shop (id int PRIMARY KEY, name text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
  CREATE TABLE rt_order (id int PRIMARY KEY, shop_id int NOT NULL REFERENCES rt_shop, name text NOT NULL,
                         state text, tdm_release text, tdm_feature text, UNIQUE (shop_id, name))$$);
CREATE SCHEMA returning_ko1;
CREATE SCHEMA returning_ko2;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_shop, rt_order) FROM SERVER st1 INTO returning_ko1;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_shop, rt_order) FROM SERVER st2 INTO returning_ko2;
CREATE TABLE staging.rt_shop (id int PRIMARY KEY, name text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
CREATE TABLE staging.rt_order (id int PRIMARY KEY, shop_id int NOT NULL REFERENCES staging.rt_shop,
                               name text NOT NULL, state text, tdm_release text, tdm_feature text,
                               UNIQUE (shop_id, name));
SELECT tdm.manage_table('staging.rt_shop', '{name}', surrogate_key => true),
       tdm.manage_table('staging.rt_order', '{"shop_id,name"}', surrogate_key => true);
INSERT INTO returning_ko1.rt_shop VALUES (1, 'acme', 'TKO1', 'F');
INSERT INTO returning_ko2.rt_shop VALUES (1, 'acme', 'TKO1', 'F');
INSERT INTO returning_ko1.rt_order VALUES (1, 1, 'SO1', 'draft', 'TKO1', 'F');
INSERT INTO returning_ko2.rt_order VALUES (1, 1, 'SO1', 'sale', 'TKO1', 'G');
SET client_min_messages = error;
SELECT pg_temp.tagged_release('TKO1') AS tagged;
SELECT tdm.consolidate('TKO1') AS ko1 \gset
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"st2": {"name": "SO1-b"}}', rationale => 'two orders')
  FROM tdm.review_queue WHERE run_id = :ko1;
SELECT tdm.consolidate('TKO1') = :ko1 AS same_run, tdm.promote('TKO1') IS NOT NULL AS promoted;
UPDATE returning_ko2.rt_order SET state = 'done', tdm_release = 'TKO2' WHERE id = 1;
SELECT pg_temp.tagged_release('TKO2', 'TKO1') AS tagged;
SELECT tdm.consolidate('TKO2') AS ko2 \gset
RESET client_min_messages;
SELECT c.kind, c.rule, c.status,
       (SELECT string_agg(format('%s %s %s', m ->> 'env', m -> 'row' ->> 'id', m -> 'row' ->> 'name'), ', '
                          ORDER BY m ->> 'env') FROM jsonb_array_elements(c.members) AS m) AS members
  FROM tdm.conflict c WHERE c.run_id = :ko2 ORDER BY 1, 4;
-- TKM1 merges st2's course into st1's (keep st1: their idnumbers differ
-- at one shortname). TKM2 brings st2's again, its shortname changed and
-- its idnumber as TKM1 collected it: one natural key as then is the
-- entity still, so it meets master's course 1 (a conflict), not loaded
-- as a second course under its environment's id (p354).
SELECT pg_temp.in_environments($$
  CREATE TABLE rt_course (id int PRIMARY KEY, shortname text NOT NULL UNIQUE, idnumber text UNIQUE,
                          tdm_release text, tdm_feature text)$$);
CREATE SCHEMA returning_km1;
CREATE SCHEMA returning_km2;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_course) FROM SERVER st1 INTO returning_km1;
IMPORT FOREIGN SCHEMA public LIMIT TO (rt_course) FROM SERVER st2 INTO returning_km2;
CREATE TABLE staging.rt_course (id int PRIMARY KEY, shortname text NOT NULL UNIQUE, idnumber text UNIQUE,
                                tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.rt_course', '{shortname,idnumber}', surrogate_key => true);
INSERT INTO returning_km1.rt_course VALUES (1, 'PHY101', 'C-1', 'TKM1', 'F');
INSERT INTO returning_km2.rt_course VALUES (2, 'PHY101', 'C-X', 'TKM1', 'F');
SET client_min_messages = error;
SELECT pg_temp.tagged_release('TKM1') AS tagged;
SELECT tdm.consolidate('TKM1') AS km1 \gset
SELECT tdm.resolve(conflict_id, 'keep', 'st1', rationale => 'one course') FROM tdm.review_queue WHERE run_id = :km1;
SELECT tdm.consolidate('TKM1') = :km1 AS same_run, tdm.promote('TKM1') IS NOT NULL AS promoted;
UPDATE returning_km2.rt_course SET shortname = 'PHY-101', tdm_release = 'TKM2' WHERE id = 2;
SELECT pg_temp.tagged_release('TKM2', 'TKM1') AS tagged;
SELECT tdm.consolidate('TKM2') AS km2 \gset
RESET client_min_messages;
SELECT c.rule, c.status,
       (SELECT string_agg(format('%s %s %s', m ->> 'env', m -> 'row' ->> 'id', m -> 'row' ->> 'shortname'), ', '
                          ORDER BY m ->> 'env') FROM jsonb_array_elements(c.members) AS m) AS members
  FROM tdm.conflict c WHERE c.run_id = :km2 ORDER BY 1, 3;
