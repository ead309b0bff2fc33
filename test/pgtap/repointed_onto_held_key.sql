-- A merge re-points a child's composite key onto a key its environment's
-- own child holds: tk2's customer 2 is tk1's customer 1 (same email) and
-- merges into it, while tk2's customer 1 is another person, re-keyed.
-- tk2's membership (2, gold) becomes (1, gold), the key tk2's other
-- membership had before it followed its customer to the new key. The
-- reviewer's "keep tk2" on the (1, gold) conflict must take the
-- re-pointed row, and each visit must follow its own membership.
BEGIN;
SELECT plan(5);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.tk_tables(s text) RETURNS text LANGUAGE sql AS $$
  SELECT format($ddl$
    CREATE TABLE %1$I.tk_customer (customer_id serial PRIMARY KEY, email text NOT NULL UNIQUE, name text NOT NULL,
                                   tdm_release text, tdm_feature text);
    CREATE TABLE %1$I.tk_member (customer_id int NOT NULL REFERENCES %1$I.tk_customer, club text NOT NULL,
                                 since int NOT NULL, tdm_release text, tdm_feature text, PRIMARY KEY (customer_id, club));
    CREATE TABLE %1$I.tk_visit (customer_id int NOT NULL, club text NOT NULL, visit_no int NOT NULL, note text,
                                tdm_release text, tdm_feature text, PRIMARY KEY (customer_id, club, visit_no),
                                FOREIGN KEY (customer_id, club) REFERENCES %1$I.tk_member);$ddl$, s)
$$;
SELECT dblink_exec(pg_temp.conninfo(current_database()), format($$
  CREATE SCHEMA tap_tk_e1;
  CREATE SCHEMA tap_tk_e2;
  %1$s
  %2$s
  INSERT INTO tap_tk_e1.tk_customer VALUES (1, 'a@x', 'A', 'TTK', 'F1');
  INSERT INTO tap_tk_e1.tk_member VALUES (1, 'gold', 2001, 'TTK', 'F1');
  INSERT INTO tap_tk_e1.tk_visit VALUES (1, 'gold', 1, 'A, first', 'TTK', 'F1');
  INSERT INTO tap_tk_e2.tk_customer VALUES (1, 'b@x', 'B', 'TTK', 'F1'), (2, 'a@x', 'A', 'TTK', 'F1');
  INSERT INTO tap_tk_e2.tk_member VALUES (1, 'gold', 1999, 'TTK', 'F1'), (2, 'gold', 2000, 'TTK', 'F1');
  INSERT INTO tap_tk_e2.tk_visit VALUES (1, 'gold', 1, 'B, first', 'TTK', 'F1'),
                                        (2, 'gold', 1, 'A, first, corrected', 'TTK', 'F1'),
                                        (2, 'gold', 2, 'A, second', 'TTK', 'F1');$$,
  pg_temp.tk_tables('tap_tk_e1'), pg_temp.tk_tables('tap_tk_e2'))) \g /dev/null
SELECT pg_temp.loopback_server('tap_tk_self');
CREATE SCHEMA tap_tk;
SELECT format('%s', pg_temp.tk_tables('tap_tk')) \gexec
SELECT tdm.add_environment('tk1', 'tap_tk_self', 10, 'tap_tk_e1'), tdm.add_environment('tk2', 'tap_tk_self', 10, 'tap_tk_e2');
SELECT tdm.manage_table('tap_tk.tk_customer', '{email}'),
       tdm.manage_table('tap_tk.tk_member', core_columns => '{since}'),
       tdm.manage_table('tap_tk.tk_visit', core_columns => '{note}');
SELECT tdm.create_release('TTK'), tdm.add_feature('TTK', 'F1', 1);
CREATE ROLE tap_tk_approver IN ROLE tdm_reviewer;
SELECT tdm.tag_release('TTK');
-- (each round: keep tk2 wherever a reviewer is asked, approved)
CREATE FUNCTION pg_temp.keep_tk2() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tdm.resolve(q.conflict_id, 'keep', keep_env => 'tk2', rationale => 'tk2 has the corrected data')
     FROM tdm.review_queue q WHERE q.release = 'TTK';
  EXECUTE 'SET SESSION AUTHORIZATION tap_tk_approver';
  PERFORM tdm.approve(d.conflict_id) FROM tdm.decision d JOIN tdm.conflict c USING (conflict_id)
    WHERE c.priority = 1 AND d.approved_by IS NULL;
  EXECUTE 'RESET SESSION AUTHORIZATION';
END
$$;
SELECT tdm.consolidate('TTK', 'tap_tk') AS run \gset
SELECT pg_temp.keep_tk2(), tdm.consolidate('TTK', 'tap_tk');
SELECT pg_temp.keep_tk2(), tdm.consolidate('TTK', 'tap_tk');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'the run completes');
SELECT results_eq($$SELECT c.email, m.since FROM tap_tk.tk_member m JOIN tap_tk.tk_customer c USING (customer_id)
                     ORDER BY 1$$,
  $$VALUES ('a@x', 2000), ('b@x', 1999)$$,
  'keep tk2 takes the membership re-pointed onto (1, gold), not the one that held it');
SELECT results_eq($$SELECT c.email, v.visit_no, v.note FROM tap_tk.tk_visit v JOIN tap_tk.tk_customer c USING (customer_id)
                     ORDER BY 1, 2$$,
  $$VALUES ('a@x', 1, 'A, first, corrected'), ('a@x', 2, 'A, second'), ('b@x', 1, 'B, first')$$,
  'each visit follows its own membership');
SELECT results_eq(format($$SELECT old_key ->> 'customer_id', new_key ->> 'customer_id' FROM tdm.key_map
                            WHERE run_id = %s AND env = 'tk2' AND rel = 'tap_tk.tk_member'::regclass ORDER BY 1$$, :run),
  $$VALUES ('1', '3'), ('2', '1')$$, 'the key map tells the two memberships apart by their keys in tk2');
SELECT results_eq(format($$SELECT rows_loaded, rows_merged, rows_deleted FROM tdm.run WHERE run_id = %s$$, :run),
  $$VALUES (7::bigint, 3::bigint, 0::bigint)$$, 'the accounting: 10 collected = 7 loaded + 3 merged');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_tk_e1, tap_tk_e2 CASCADE;
