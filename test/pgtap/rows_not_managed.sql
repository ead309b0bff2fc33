-- Rows of tables tdm does not manage, and constraints and triggers of the
-- target it does not own: never changed without a word.
-- - An inheritance parent is refused (a scan reads its children's rows,
--   a DELETE deletes them), when managed and when a child comes after.
-- - A MATCH FULL key partly NULL is a foreign_key violation, not the
--   load's bare error.
-- - A DELETE trigger that keeps rows (a soft delete) is named when a
--   release is loaded again, not met as duplicate keys.
-- - A rollback whose deletes an unmanaged table's ON DELETE CASCADE would
--   carry into its rows is refused, those rows untouched.
-- - A reviewer without USAGE on the target's schema decides a keep_all.
-- - A foreign key to a table tdm does not manage: the violation says its
--   rows are not collected; filled in the target, the parent serves.
BEGIN;
SELECT plan(22);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

SELECT dblink_exec(pg_temp.conninfo(current_database()), format($$
  CREATE SCHEMA tap_ou_e%1$s;
  SET search_path = tap_ou_e%1$s;
  CREATE TABLE ou_wh (region text, wh_no int, tdm_release text, tdm_feature text, PRIMARY KEY (region, wh_no));
  CREATE TABLE ou_order (id int PRIMARY KEY, region text, wh_no int, tdm_release text, tdm_feature text,
                         FOREIGN KEY (region, wh_no) REFERENCES ou_wh);
  CREATE TABLE ou_item (id int PRIMARY KEY, v text, deleted bool NOT NULL DEFAULT false, tdm_release text,
                        tdm_feature text);
  CREATE TABLE ou_customer (id int PRIMARY KEY, email text NOT NULL, tdm_release text, tdm_feature text);
  CREATE TABLE ou_coupon (id int PRIMARY KEY, code text NOT NULL, pct int NOT NULL, tdm_release text,
                          tdm_feature text);
  INSERT INTO ou_coupon VALUES (%1$s, 'SAVE', 10 * %1$s, 'TOU3', 'F')$$, e))
  FROM generate_series(1, 2) AS e \g /dev/null
SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  SET search_path = tap_ou_e1;
  INSERT INTO ou_wh VALUES ('US', 1, 'TOU1', 'F');
  INSERT INTO ou_order VALUES (1, 'US', 1, 'TOU1', 'F'), (2, 'US', NULL, 'TOU1', 'F');
  INSERT INTO ou_item SELECT n, 'v', false, 'TOU2', 'F' FROM generate_series(1, 3) AS n;
  INSERT INTO ou_customer SELECT n, 'c' || n || '@x', 'TOU2', 'F' FROM generate_series(1, 3) AS n$$) \g /dev/null
-- (TOU4: a shop in a region, a table staging has but tdm does not manage)
SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE TABLE tap_ou_e1.ou_region (code text PRIMARY KEY);
  INSERT INTO tap_ou_e1.ou_region VALUES ('EU');
  CREATE TABLE tap_ou_e1.ou_shop (id int PRIMARY KEY, region text REFERENCES tap_ou_e1.ou_region, tdm_release text,
                                  tdm_feature text);
  CREATE TABLE tap_ou_e2.ou_shop (LIKE tap_ou_e1.ou_shop INCLUDING ALL);
  INSERT INTO tap_ou_e1.ou_shop VALUES (1, 'EU', 'TOU4', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_ou_self');

CREATE TABLE staging.ou_wh (region text, wh_no int, tdm_release text, tdm_feature text, PRIMARY KEY (region, wh_no));
CREATE TABLE staging.ou_order (id int PRIMARY KEY, region text, wh_no int, tdm_release text, tdm_feature text,
                               FOREIGN KEY (region, wh_no) REFERENCES staging.ou_wh MATCH FULL);
CREATE TABLE staging.ou_item (id int PRIMARY KEY, v text, deleted bool NOT NULL DEFAULT false, tdm_release text,
                              tdm_feature text);
CREATE TABLE staging.ou_customer (id int PRIMARY KEY, email text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
CREATE TABLE staging.ou_coupon (id int PRIMARY KEY, code text NOT NULL UNIQUE, pct int NOT NULL, tdm_release text,
                                tdm_feature text);
-- Not managed: a note on a customer, gone with it.
CREATE TABLE staging.ou_note (id int PRIMARY KEY, customer_id int REFERENCES staging.ou_customer ON DELETE CASCADE);
SELECT tdm.add_environment('ou' || e, 'tap_ou_self', 10 * e, 'tap_ou_e' || e) FROM generate_series(1, 2) AS e;
SELECT tdm.manage_table('staging.ou_wh'), tdm.manage_table('staging.ou_order'), tdm.manage_table('staging.ou_item'),
       tdm.manage_table('staging.ou_customer', '{email}'),
       tdm.manage_table('staging.ou_coupon', '{code}', core_columns => '{pct}');
SELECT tdm.create_release(r), tdm.add_feature(r, 'F', 1) FROM unnest('{TOU1,TOU2,TOU3}'::text[]) AS r;

-- MATCH FULL: order 2's key is half NULL (its environment's key is MATCH
-- SIMPLE).
SELECT tdm.tag_release('TOU1'), tdm.consolidate('TOU1') AS run1 \gset
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run1), 'invalid', 'a MATCH FULL key partly NULL: the run is invalid');
SELECT results_eq(
  format($$SELECT kind::text, row_key, detail ->> 'constraint', detail ->> 'message' FROM tdm.violation
            WHERE run_id = %s$$, :run1),
  $$VALUES ('foreign_key', '{"env": "ou1", "key": {"id": 2}}'::jsonb, 'ou_order_region_wh_no_fkey',
            'MATCH FULL: region, wh_no must be all NULL or none NULL')$$,
  'recorded as a foreign_key violation of that row, naming the key');
SELECT is((SELECT count(*) FROM staging.ou_order), 0::bigint, 'and nothing is loaded');

-- A soft delete: the target's trigger marks the row and skips the DELETE.
SELECT tdm.tag_release('TOU2'), tdm.consolidate('TOU2');
-- (A row changed in staging by hand, for the call again to load the
-- release again: on rows as approved it loads nothing, decision 425.)
UPDATE staging.ou_item SET v = 'changed by hand' WHERE id = 1;
CREATE FUNCTION pg_temp.ou_soft_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE staging.ou_item SET deleted = true WHERE id = OLD.id;
  RETURN NULL;
END
$$;
CREATE TRIGGER ou_soft_delete BEFORE DELETE ON staging.ou_item FOR EACH ROW WHEN (pg_trigger_depth() = 0)
  EXECUTE FUNCTION pg_temp.ou_soft_delete();
SELECT throws_like($$SELECT tdm.consolidate('TOU2')$$,
                   'consolidate: staging.ou_item kept 3 of release TOU2''s rows, which the load deletes%',
                   'loading a release again where a DELETE trigger keeps its rows: refused, naming the table');
SELECT throws_ok($$SELECT tdm.consolidate('TOU2')$$, '27000', NULL, '(triggered_data_change_violation)');
SELECT is((SELECT count(*) FROM staging.ou_item WHERE NOT deleted), 3::bigint, 'the rows stay as they were');
DROP TRIGGER ou_soft_delete ON staging.ou_item;
UPDATE staging.ou_item SET v = 'v' WHERE id = 1;  -- (as loaded)
-- A rule PostgreSQL does not apply to data-modifying WITH statements (an
-- audit rule DO ALSO): refused before anything is read, naming it.
CREATE TABLE staging.ou_item_log (id int);
CREATE RULE ou_item_logged AS ON DELETE TO staging.ou_item DO ALSO INSERT INTO staging.ou_item_log VALUES (OLD.id);
SELECT throws_ok($$SELECT tdm.consolidate('TOU2')$$, '0A000',
                 'consolidate: staging.ou_item has a rule PostgreSQL does not apply to the statements tdm writes with: DO ALSO rules are not supported for data-modifying statements in WITH',
                 'a DO ALSO rule on a target table: refused, naming the table (before: PostgreSQL''s bare error)');
DROP RULE ou_item_logged ON staging.ou_item;
-- (A rule the WITH statements apply, on a table whose columns take no
-- value but their default, an identity's and a generated one: no
-- refusal. The check plans its statements with default values.)
CREATE TABLE staging.ou_stamp (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text,
                               upper_v text GENERATED ALWAYS AS (upper(v)) STORED);
CREATE RULE ou_stamp_ins AS ON INSERT TO staging.ou_stamp DO INSTEAD INSERT INTO staging.ou_item_log VALUES (NEW.id);
CREATE RULE ou_stamp_upd AS ON UPDATE TO staging.ou_stamp
  DO INSTEAD UPDATE staging.ou_item_log SET id = NEW.id WHERE id = OLD.id;
SELECT lives_ok($$SELECT tdm._refuse_rules_in_with('test', ARRAY['staging.ou_stamp'::regclass])$$,
                'an INSTEAD rule of one statement on a table of an identity and a generated column: not refused');

-- A rollback that deletes a customer an unmanaged note references ON
-- DELETE CASCADE.
SELECT tdm.snapshot('before the hand-made customer', 'staging') AS snap \gset
INSERT INTO staging.ou_customer VALUES (50, 'c50@x', NULL, NULL);
INSERT INTO staging.ou_note VALUES (1, 50), (2, 1);
SELECT throws_ok(format('SELECT tdm.rollback(%s)', :snap), '2BP01',
                 format('rollback: 1 row(s) of staging.ou_note reference rows of staging.ou_customer that rolling'
                        ' back to snapshot %s deletes or changes', :snap),
                 'a rollback that would delete an unmanaged table''s rows by its ON DELETE CASCADE: refused');
SELECT is((SELECT count(*) FROM staging.ou_note), 2::bigint, 'the unmanaged table''s rows are all there');
DELETE FROM staging.ou_note WHERE customer_id = 50;
-- A deferrable key with no action: PostgreSQL would refuse at commit.
CREATE TABLE staging.ou_memo (id int PRIMARY KEY,
                              customer_id int REFERENCES staging.ou_customer DEFERRABLE INITIALLY DEFERRED);
INSERT INTO staging.ou_memo VALUES (1, 50);
SELECT ok((SELECT e.detail LIKE '%foreign key ou_memo_customer_id_fkey is deferrable: PostgreSQL would refuse the rollback at commit.'
             FROM pg_temp.error_of(format('SELECT tdm.rollback(%s)', :snap)) e),
          'so is one a deferrable key would refuse at commit');
SET CONSTRAINTS ALL IMMEDIATE;
DROP TABLE staging.ou_memo;
SELECT lives_ok(format('SELECT tdm.rollback(%s)', :snap), 'once they no longer reference it, the rollback runs');
SELECT is(ARRAY(SELECT id FROM staging.ou_customer ORDER BY id), '{1,2,3}', 'and takes the customer out');

-- A reviewer who may not use the target's schema keeps both coupons
-- (the keep_all looks up the key's sequence).
SELECT tdm.tag_release('TOU3'), tdm.consolidate('TOU3') AS run3 \gset
CREATE ROLE tap_ou_reviewer IN ROLE tdm_reviewer;
REVOKE USAGE ON SCHEMA staging FROM PUBLIC;
SELECT ok(NOT has_schema_privilege('tap_ou_reviewer', 'staging', 'USAGE'), 'the reviewer has no USAGE on staging');
SELECT conflict_id AS coupons FROM tdm.conflict WHERE run_id = :run3 AND rel = 'staging.ou_coupon'::regclass \gset
SET ROLE tap_ou_reviewer;
SELECT lives_ok(format($$SELECT tdm.resolve(%L, 'keep_all', renames => '{"ou2": {"code": "SAVE2"}}',
                                        rationale => 'two coupons')$$, :'coupons'),
                'a reviewer without USAGE on the schema decides a keep_all');
RESET ROLE;

-- Archiving a release master keeps rows of (a soft delete on master):
-- refused, the release left promoted.
SELECT tdm.promote('TOU2');
CREATE FUNCTION pg_temp.ou_master_soft_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RETURN NULL;
END
$$;
CREATE TRIGGER ou_master_keeps BEFORE DELETE ON master.ou_item FOR EACH ROW EXECUTE FUNCTION pg_temp.ou_master_soft_delete();
SELECT throws_ok($$SELECT tdm.archive_release('TOU2')$$, '27000',
                 'archive_release: master.ou_item kept 3 of release TOU2''s rows, which archiving deletes',
                 'archiving a release a DELETE trigger keeps the rows of: refused');
SELECT is((SELECT status FROM tdm.release WHERE release = 'TOU2'), 'promoted', 'the release stays promoted');
DROP TRIGGER ou_master_keeps ON master.ou_item;

-- A managed table whose parent tdm does not manage: no environment's row
-- of the parent is collected, whatever the environments hold. The
-- violation says so; the parent filled in the target serves.
CREATE TABLE staging.ou_region (code text PRIMARY KEY);
CREATE TABLE staging.ou_shop (id int PRIMARY KEY, region text REFERENCES staging.ou_region, tdm_release text,
                              tdm_feature text);
SELECT tdm.manage_table('staging.ou_shop'), tdm.create_release('TOU4'), tdm.add_feature('TOU4', 'F', 1);
SELECT tdm.tag_release('TOU4'), tdm.consolidate('TOU4') AS run4 \gset
SELECT results_eq(
  format($$SELECT r.status, v.detail ->> 'message' FROM tdm.run r JOIN tdm.violation v USING (run_id)
            WHERE r.run_id = %s$$, :run4),
  $$VALUES ('invalid', 'no such parent row: staging.ou_region is not a managed table, so no environment''s rows of it'
                       ' are collected; manage it (tdm.manage_table) and tag its rows for the release, or fill it in'
                       ' the target before consolidating')$$,
  'a reference to a table tdm does not manage: the violation says the parent is not collected');
INSERT INTO staging.ou_region VALUES ('EU');
SELECT tdm.consolidate('TOU4') \g /dev/null
SELECT results_eq(format('SELECT r.status, (SELECT count(*) FROM staging.ou_shop) FROM tdm.run r WHERE r.run_id = %s',
                         :run4),
                  $$VALUES ('completed', 1::bigint)$$, 'filled in the target, the parent serves');

-- Inheritance: a managed table's child, attached since; a new parent.
CREATE TABLE staging.ou_special_item (extra text) INHERITS (staging.ou_item);
SELECT throws_ok($$SELECT tdm.consolidate('TOU2')$$, '42P16',
                 'consolidate: staging.ou_item has inheritance children: staging.ou_special_item',
                 'a managed table with an inheritance child: consolidation refused');
SELECT throws_ok(format('SELECT tdm.rollback(%s)', :snap), '42P16',
                 'rollback: staging.ou_item has inheritance children: staging.ou_special_item',
                 'and a rollback of it');
CREATE TABLE staging.ou_event (id int PRIMARY KEY, tdm_release text, tdm_feature text);
CREATE TABLE staging.ou_big_event () INHERITS (staging.ou_event);
SELECT throws_ok($$SELECT tdm.manage_table('staging.ou_event')$$, '42P16',
                 'manage_table: staging.ou_event has inheritance children: staging.ou_big_event',
                 'manage_table refuses an inheritance parent');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_ou_e1, tap_ou_e2 CASCADE;
