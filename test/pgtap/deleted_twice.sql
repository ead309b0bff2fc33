-- A row two decisions delete (its key collision's delete_all and its
-- entity's) is one deleted row in its table's figures: st1's customer 1
-- collides on id with st2's, and shares its email with st3's 2; the
-- reviewer deletes both conflicts' rows. The table counted st1's row twice
-- (deleted 4 of 3 rows), the run once.
BEGIN;
SELECT plan(2);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.dt_tables(s text) RETURNS text LANGUAGE sql AS $$
  SELECT format($ddl$
    CREATE TABLE %1$I.dt_customer (id int PRIMARY KEY, email text NOT NULL UNIQUE, tier text,
                                   tdm_release text, tdm_feature text);$ddl$, s)
$$;
SELECT dblink_exec(pg_temp.conninfo(current_database()), format($$
  CREATE SCHEMA tap_dt_e1;
  CREATE SCHEMA tap_dt_e2;
  CREATE SCHEMA tap_dt_e3;
  %1$s
  %2$s
  %3$s
  INSERT INTO tap_dt_e1.dt_customer VALUES (1, 'a@x', 'gold', 'TDT', 'F1');
  INSERT INTO tap_dt_e2.dt_customer VALUES (1, 'b@x', 'gold', 'TDT', 'F1');
  INSERT INTO tap_dt_e3.dt_customer VALUES (2, 'a@x', 'silver', 'TDT', 'F1');$$,
  pg_temp.dt_tables('tap_dt_e1'), pg_temp.dt_tables('tap_dt_e2'), pg_temp.dt_tables('tap_dt_e3'))) \g /dev/null
SELECT pg_temp.loopback_server('tap_dt_self');
CREATE SCHEMA tap_dt;
SELECT format('%s', pg_temp.dt_tables('tap_dt')) \gexec
SELECT tdm.add_environment('dt1', 'tap_dt_self', 10, 'tap_dt_e1'), tdm.add_environment('dt2', 'tap_dt_self', 20, 'tap_dt_e2'),
       tdm.add_environment('dt3', 'tap_dt_self', 30, 'tap_dt_e3');
SELECT tdm.manage_table('tap_dt.dt_customer', '{email}', core_columns => '{tier}');
SELECT tdm.create_release('TDT'), tdm.add_feature('TDT', 'F1', 1);
SELECT tdm.tag_release('TDT');
SELECT tdm.consolidate('TDT', 'tap_dt') AS run \gset
SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'test garbage')
  FROM tdm.conflict WHERE run_id = :run ORDER BY conflict_id;
CREATE ROLE tap_dt_approver;
GRANT tdm_reviewer TO tap_dt_approver;
SET SESSION AUTHORIZATION tap_dt_approver;
SELECT tdm.approve(conflict_id) FROM tdm.decision WHERE approved_by IS NULL AND decided_priority = 1;
RESET SESSION AUTHORIZATION;
SELECT tdm.consolidate('TDT', 'tap_dt');

SELECT results_eq(format($$SELECT status, rows_collected::int, rows_deleted::int FROM tdm.run WHERE run_id = %s$$, :run),
  $$VALUES ('completed', 3, 3)$$, 'the run deletes the three rows');
SELECT results_eq(format($$SELECT (tables -> 'tap_dt.dt_customer' ->> 'collected')::int,
                                  (tables -> 'tap_dt.dt_customer' ->> 'deleted')::int
                             FROM tdm.run WHERE run_id = %s$$, :run),
  $$VALUES (3, 3)$$, 'and so does its table: st1''s row counts once');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_dt_e1, tap_dt_e2, tap_dt_e3 CASCADE;
