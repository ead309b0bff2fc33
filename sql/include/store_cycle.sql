-- A reference cycle for the pgTAP suites: a store's manager is a staff
-- member, a staff member works at a store (both NOT NULL). Environments
-- e1 and e2 are schemas <p>_e1 and <p>_e2 of this database, over server
-- <p>_self; the target is schema <p>. e1 holds ann at store A (ids 1) and
-- bob at store B (ids 2), neither with an email; e2 holds the rows given,
-- as VALUES lists in which %1$L stands for the release (a staff row's
-- email last, or left out).
\ir loopback.sql
CREATE FUNCTION pg_temp.store_cycle(p text, release text, e2_staff text, e2_store text) RETURNS void
LANGUAGE plpgsql AS $f$
DECLARE
  tables constant text := $t$
    CREATE TABLE %1$s.staff (staff_id int PRIMARY KEY, username text NOT NULL UNIQUE, store_id int NOT NULL,
                             tdm_release text, tdm_feature text, email text);
    CREATE TABLE %1$s.store (store_id int PRIMARY KEY, name text NOT NULL UNIQUE,
                             manager_staff_id int NOT NULL REFERENCES %1$s.staff, tdm_release text, tdm_feature text);
    ALTER TABLE %1$s.staff ADD FOREIGN KEY (store_id) REFERENCES %1$s.store;$t$;
BEGIN
  -- (committed by dblink, as an environment's data is: dropped at the end)
  PERFORM dblink_exec(pg_temp.conninfo(current_database()),
    format('SET session_replication_role = replica; CREATE SCHEMA %I; CREATE SCHEMA %I;', p || '_e1', p || '_e2')
    || format(tables, quote_ident(p || '_e1')) || format(tables, quote_ident(p || '_e2'))
    || format($q$INSERT INTO %1$I.staff VALUES (1, 'ann', 1, %3$L, 'F'), (2, 'bob', 2, %3$L, 'F');
                 INSERT INTO %1$I.store VALUES (1, 'A', 1, %3$L, 'F'), (2, 'B', 2, %3$L, 'F');
                 INSERT INTO %2$I.staff VALUES %4$s; INSERT INTO %2$I.store VALUES %5$s$q$,
              p || '_e1', p || '_e2', release, format(e2_staff, release), format(e2_store, release)));
  PERFORM pg_temp.loopback_server(p || '_self');
  EXECUTE format('CREATE SCHEMA %I', p) || ';' || format(tables, quote_ident(p));
END
$f$;
