-- Functions of the target's own that find other objects through
-- search_path (a CHECK's, an index expression's): tdm writes with
-- search_path pg_catalog, pg_temp, so they fail there. Every writing
-- operation says so, names the function and how to fix it, and writes
-- nothing; fixed, the same operations succeed.
BEGIN;
SELECT plan(17);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

-- One environment: a schema of this database, written by another
-- session (an environment reads committed rows), dropped at the end.
SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_sp_e1;
  CREATE TABLE tap_sp_e1.item (id int PRIMARY KEY, code text NOT NULL, tdm_release text, tdm_feature text);
  INSERT INTO tap_sp_e1.item VALUES (1, 'A', 'TSP1', 'F'), (2, 'B', 'TSP1', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_sp_self');
-- The target: valid_code and code_key call norm without its schema.
CREATE SCHEMA tap_sp;
CREATE FUNCTION tap_sp.norm(t text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN lower(t); END $$;
CREATE FUNCTION tap_sp.valid_code(t text) RETURNS bool LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN norm(t) <> ''; END $$;
CREATE FUNCTION tap_sp.code_key(t text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN norm(t); END $$;
CREATE TABLE staging.item (id int PRIMARY KEY, code text NOT NULL CHECK (tap_sp.valid_code(code)),
                           tdm_release text, tdm_feature text);
CREATE UNIQUE INDEX ON staging.item (tap_sp.code_key(code));
SELECT tdm.add_environment('sp1', 'tap_sp_self', 10, 'tap_sp_e1');
SELECT tdm.manage_table('staging.item');
SELECT tdm.create_release('TSP1'), tdm.add_feature('TSP1', 'F', 1);
SELECT tdm.tag_release('TSP1');

-- The load (the target enforces its constraints: validated by the load).
SELECT throws_ok($$SELECT tdm.consolidate('TSP1')$$, '42883',
  'consolidate: the load into staging failed in the target''s own code: function norm(text) does not exist',
  'the load says the target''s code failed, and why');
SELECT matches(pg_temp.hint_of($$SELECT tdm.consolidate('TSP1')$$),
  '^Nothing was loaded\. tdm runs with search_path = pg_catalog, pg_temp.*ALTER FUNCTION tap_sp\.valid_code\(text\) SET search_path',
  'the hint names the function and how to give it a search_path');
-- Validation (a trigger of the target's own: everything validated first).
CREATE FUNCTION tap_sp.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER item_touch BEFORE INSERT ON staging.item FOR EACH ROW EXECUTE FUNCTION tap_sp.touch();
SELECT throws_ok($$SELECT tdm.consolidate('TSP1')$$, '42883',
  'consolidate: the validation of release TSP1''s rows failed in the target''s own code: function norm(text) does not exist',
  'validation says so too');
DROP TRIGGER item_touch ON staging.item;
CREATE TRIGGER item_touch BEFORE INSERT ON staging.item FOR EACH ROW EXECUTE FUNCTION tap_sp.touch();
SELECT is((pg_temp.error_of($$SELECT tdm.consolidate('TSP1')$$)).detail,
  'Raised in: PL/pgSQL function tap_sp.valid_code(text) line 1 at RETURN',
  'the DETAIL names the function the name was not found in');
DROP TRIGGER item_touch ON staging.item;
-- A business rule calling it: the rule's message, with the same advice.
SELECT tdm.add_rule('tap_sp_valid', 'staging.item', 'tap_sp.valid_code(code)');
SELECT matches(pg_temp.hint_of($$SELECT tdm.consolidate('TSP1')$$),
  '^tdm runs with search_path = pg_catalog, pg_temp.*function tap_sp\.valid_code\(text\) finds',
  'a rule''s function gets the advice too');
SELECT tdm.drop_rule('tap_sp_valid');
-- A rule's function that raises: the rule's message, said once.
CREATE FUNCTION tap_sp.boom(t text) RETURNS bool LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'boom on %', t; END $$;
SELECT tdm.add_rule('tap_sp_boom', 'staging.item', 'tap_sp.boom(code)');
SELECT throws_like($$SELECT tdm.consolidate('TSP1')$$,
  'consolidate: rule "tap_sp_boom" on staging.item failed on the release''s rows: boom on %',
  'a raising rule is reported as the rule''s failure, not wrapped again');
SELECT tdm.drop_rule('tap_sp_boom');
-- A domain's CHECK on a column's type runs on the values read from the
-- environments: tagging names the function too.
CREATE DOMAIN tap_sp.code_text AS text CHECK (tap_sp.valid_code(VALUE));
ALTER TABLE staging.item ALTER COLUMN code TYPE tap_sp.code_text;
SELECT throws_ok($$SELECT tdm.tag_release('TSP1')$$, '42883',
  'tag_release: reading the environments failed in the target''s own code: function norm(text) does not exist',
  'a domain''s function, reading the environments');
ALTER TABLE staging.item ALTER COLUMN code TYPE text;

ALTER FUNCTION tap_sp.valid_code(text) SET search_path = tap_sp;
ALTER FUNCTION tap_sp.code_key(text) SET search_path = tap_sp;
SELECT tdm.consolidate('TSP1');
SELECT results_eq($$SELECT status FROM tdm.run$$, $$VALUES ('completed')$$, 'given a search_path, they load');

-- Promote, then a rollback of master (its spare's index calls code_key).
ALTER FUNCTION tap_sp.valid_code(text) RESET search_path;
SELECT throws_ok($$SELECT tdm.promote('TSP1')$$, '42883',
  'promote: the copy of release TSP1 into master failed in the target''s own code: function norm(text) does not exist',
  'promote says so');
ALTER FUNCTION tap_sp.valid_code(text) SET search_path = tap_sp;
SELECT tdm.promote('TSP1');
SELECT tdm.snapshot('tap_sp') AS snapshot \gset
DELETE FROM master.item WHERE id = 2;
ALTER FUNCTION tap_sp.code_key(text) RESET search_path;
SELECT throws_ok(format('SELECT tdm.rollback(%s)', :snapshot), '42883',
  format('rollback: restoring snapshot %s failed in the target''s own code: function norm(text) does not exist', :snapshot),
  'rollback says so');
SELECT is((SELECT count(*) FROM master.item), 1::bigint, 'nothing was rolled back');
ALTER FUNCTION tap_sp.code_key(text) SET search_path = tap_sp;
SELECT lives_ok(format('SELECT tdm.rollback(%s)', :snapshot), 'given a search_path, the rollback restores');
SELECT is((SELECT count(*) FROM master.item), 2::bigint, 'both rows are back');

-- A name lookup that fails in tdm's own statement is raised as it was.
SELECT throws_ok($$SELECT tdm._raise_own_code('consolidate', 'x', 'staging', 'Nothing', '', 0, 'no such thing',
                                              NULL, NULL, 'PL/pgSQL function tdm._load(bigint,text,text) line 1', '42P01')$$,
  '42P01', 'no such thing', 'an error of tdm''s own statement keeps its message');


-- tdm's own queries never reach objects of another user's on the
-- caller's search_path: an operator = for regclass in public, which an
-- unpinned function's `rel = $1` would call with the caller's rights.
CREATE TABLE public.tap_sp_shadow_log (called_by name);
CREATE FUNCTION public.tap_sp_shadow_eq(a regclass, b regclass) RETURNS bool LANGUAGE sql AS $$
  INSERT INTO public.tap_sp_shadow_log VALUES (current_user) RETURNING a::oid = b::oid
$$;
CREATE OPERATOR public.= (LEFTARG = regclass, RIGHTARG = regclass, FUNCTION = public.tap_sp_shadow_eq);
SET LOCAL search_path = "$user", public;
SELECT tdm.manage_table('staging.item');
RESET search_path;
SELECT is((SELECT count(*) FROM public.tap_sp_shadow_log), 0::bigint,
          'manage_table does not call an operator of public''s');
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.pronamespace = 'tdm'::regnamespace AND p.proname !~ '^_' AND p.prokind = 'f'
                   AND NOT coalesce(p.proconfig, '{}') @> '{"search_path=pg_catalog, pg_temp"}'
                 ORDER BY 1), '{}'::text[],
          'every function of the API pins its search_path');
-- (JIT compiled tdm's catalog queries, whose costs are inflated by
-- functions' row estimates, at 100-300 ms apiece for queries of a few
-- milliseconds: decision 333.)
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.pronamespace = 'tdm'::regnamespace AND p.prokind = 'f'
                   AND (p.proname !~ '^_' OR p.proname ~ '_job$' OR p.prorettype = 'trigger'::regtype)
                   AND p.proname NOT IN ('_launch_job', '_audit_refuse_change')
                   AND NOT coalesce(p.proconfig, '{}') @> '{"jit=off"}'
                 ORDER BY 1), '{}'::text[],
          'every function of the API, every job''s and every trigger''s runs without JIT');

SELECT * FROM finish();
ROLLBACK;
-- (After the transaction: until then, its foreign scans' remote
-- transaction holds the tables.)
SET client_min_messages = warning;
DROP SCHEMA tap_sp_e1 CASCADE;
