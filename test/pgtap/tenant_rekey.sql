-- A multi-tenant table keyed (tenant_id, id), tenant_id referencing the
-- tenants and id from a sequence: tk2's tenant 5 is tk1's tenant 1
-- (acme), so its customers move there, and its carol collides with tk1's
-- alice on (1, 100). tdm re-keys carol by her id from the table's
-- sequence, within her tenant, and her invoice follows (before, every
-- such collision waited for a reviewer to give the id).
BEGIN;
SELECT plan(5);
\ir ../../sql/include/loopback.sql
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.tk_tables(s text) RETURNS text LANGUAGE sql AS $$
  SELECT format($ddl$
    CREATE SEQUENCE %1$I.tk_id START 1000;
    CREATE TABLE %1$I.tk_tenant (tenant_id int PRIMARY KEY, slug text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
    CREATE TABLE %1$I.tk_customer (tenant_id int NOT NULL REFERENCES %1$I.tk_tenant,
                                   id bigint NOT NULL DEFAULT nextval(%2$L), email text NOT NULL,
                                   tdm_release text, tdm_feature text,
                                   PRIMARY KEY (tenant_id, id), UNIQUE (tenant_id, email));
    CREATE TABLE %1$I.tk_invoice (tenant_id int NOT NULL, id bigint NOT NULL DEFAULT nextval(%2$L),
                                  customer_id bigint NOT NULL, number text NOT NULL, tdm_release text, tdm_feature text,
                                  PRIMARY KEY (tenant_id, id), UNIQUE (tenant_id, number),
                                  FOREIGN KEY (tenant_id, customer_id) REFERENCES %1$I.tk_customer (tenant_id, id));$ddl$,
    s, s || '.tk_id')
$$;
SELECT dblink_exec(pg_temp.conninfo(current_database()), format($$
  CREATE SCHEMA tap_tk_e1;
  CREATE SCHEMA tap_tk_e2;
  %1$s
  %2$s
  INSERT INTO tap_tk_e1.tk_tenant VALUES (1, 'acme', 'TTK', 'F');
  INSERT INTO tap_tk_e1.tk_customer VALUES (1, 100, 'alice@acme', 'TTK', 'F');
  INSERT INTO tap_tk_e1.tk_invoice VALUES (1, 500, 100, 'A-1', 'TTK', 'F');
  INSERT INTO tap_tk_e2.tk_tenant VALUES (5, 'acme', 'TTK', 'F');
  INSERT INTO tap_tk_e2.tk_customer VALUES (5, 100, 'carol@acme', 'TTK', 'F'), (5, 101, 'alice@acme', 'TTK', 'F');
  INSERT INTO tap_tk_e2.tk_invoice VALUES (5, 500, 100, 'C-1', 'TTK', 'F'), (5, 501, 101, 'A-2', 'TTK', 'F');$$,
  pg_temp.tk_tables('tap_tk_e1'), pg_temp.tk_tables('tap_tk_e2'))) \g /dev/null
SELECT pg_temp.loopback_server('tap_tk_self');
CREATE SCHEMA tap_tk;
SELECT format('%s', pg_temp.tk_tables('tap_tk')) \gexec
SELECT tdm.add_environment('tk1', 'tap_tk_self', 10, 'tap_tk_e1'), tdm.add_environment('tk2', 'tap_tk_self', 20, 'tap_tk_e2');
SELECT tdm.manage_table('tap_tk.tk_tenant', '{slug}'), tdm.manage_table('tap_tk.tk_customer', '{"tenant_id,email"}'),
       tdm.manage_table('tap_tk.tk_invoice', '{"tenant_id,number"}');
SELECT tdm.create_release('TTK'), tdm.add_feature('TTK', 'F', 1);
SELECT tdm.tag_release('TTK');
SELECT tdm.consolidate('TTK', 'tap_tk') AS run \gset

SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'no collision waits for a reviewer');
SELECT results_eq($$SELECT rule FROM tdm.conflict WHERE rel = 'tap_tk.tk_customer'::regclass AND kind = 'duplicate_pk'$$,
  $$VALUES ('distinct_entities')$$, 'carol and alice on (1, 100) are two entities, settled by rule 0');
SELECT results_eq($$SELECT tenant_id, id, email FROM tap_tk.tk_customer ORDER BY id$$,
  $$VALUES (1, 100::bigint, 'alice@acme'), (1, 1000::bigint, 'carol@acme')$$,
  'carol keeps her tenant (tk2''s acme is tk1''s) and takes a new id from the sequence; tk2''s alice is tk1''s');
SELECT results_eq($$SELECT i.number, c.email FROM tap_tk.tk_invoice i
                      JOIN tap_tk.tk_customer c ON c.tenant_id = i.tenant_id AND c.id = i.customer_id ORDER BY 1$$,
  $$VALUES ('A-1', 'alice@acme'), ('A-2', 'alice@acme'), ('C-1', 'carol@acme')$$,
  'each invoice follows its customer through the composite reference');
SELECT results_eq($$SELECT old_key, new_key FROM tdm.key_map
                     WHERE run_id = $$ || :run || $$ AND rel = 'tap_tk.tk_customer'::regclass AND env = 'tk2' ORDER BY old_key::text$$,
  $$VALUES ('{"id": 100, "tenant_id": 5}'::jsonb, '{"id": 1000, "tenant_id": 1}'::jsonb),
           ('{"id": 101, "tenant_id": 5}'::jsonb, '{"id": 100, "tenant_id": 1}'::jsonb)$$,
  'the key map says where each of tk2''s customers went');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_tk_e1, tap_tk_e2 CASCADE;
