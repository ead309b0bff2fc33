-- Validation leaves the target's constraints to the load only where the
-- target enforces every one of them as rows go in (decision 53); anything
-- that defers, disables or rewrites that makes it validate everything
-- first.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(24);

SELECT tdm.add_environment('st1', 'st1', 10);
SELECT tdm.manage_table('staging.users', '{email}', 'updated_at');
SELECT tdm.manage_table('staging.accounts', '{account_number}', 'updated_at');
SELECT ok(tdm._target_enforces('staging'),
  'tables with immediate constraints and no triggers of their own: the load checks them');

SET LOCAL session_replication_role = replica;
SELECT ok(NOT tdm._target_enforces('staging'),
  'session_replication_role = replica (foreign key triggers do not fire)');
SET LOCAL session_replication_role = origin;

SAVEPOINT plain;
ALTER TABLE staging.accounts DISABLE TRIGGER ALL;
SELECT ok(NOT tdm._target_enforces('staging'), 'a disabled foreign key trigger');
ROLLBACK TO plain;

ALTER TABLE staging.accounts ALTER CONSTRAINT accounts_user_id_fkey DEFERRABLE;
SELECT ok(NOT tdm._target_enforces('staging'), 'a deferrable foreign key');
ROLLBACK TO plain;

CREATE FUNCTION pg_temp.pass_row() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER pass_row BEFORE INSERT ON staging.users FOR EACH ROW EXECUTE FUNCTION pg_temp.pass_row();
SELECT ok(NOT tdm._target_enforces('staging'), 'a trigger of the table''s own');
ROLLBACK TO plain;

CREATE RULE also_notify AS ON INSERT TO staging.users DO ALSO NOTIFY tdm_validate_test;
SELECT ok(NOT tdm._target_enforces('staging'), 'a rule');
ROLLBACK TO plain;

ALTER TABLE staging.users ADD CONSTRAINT users_email_once UNIQUE (email) DEFERRABLE INITIALLY DEFERRED;
SELECT ok(NOT tdm._target_enforces('staging'), 'a deferred unique constraint');
ROLLBACK TO plain;

SELECT ok(tdm._target_enforces('staging'), 'each change rolled back: enforcing again');

-- A partitioned target table: its partitions count; a foreign one checks
-- nothing locally.
CREATE SCHEMA tdm_validate_target;
CREATE TABLE tdm_validate_target.users (LIKE staging.users) PARTITION BY RANGE (user_id);
CREATE TABLE tdm_validate_target.users_low PARTITION OF tdm_validate_target.users
  FOR VALUES FROM (MINVALUE) TO (1000000);
CREATE TABLE tdm_validate_target.accounts (LIKE staging.accounts);
SELECT ok(tdm._target_enforces('tdm_validate_target'), 'a partitioned table with a local partition');
CREATE FOREIGN TABLE tdm_validate_target.users_far PARTITION OF tdm_validate_target.users
  FOR VALUES FROM (1000000) TO (MAXVALUE) SERVER st1 OPTIONS (table_name 'users');
SELECT ok(NOT tdm._target_enforces('tdm_validate_target'), 'a foreign partition');

-- A key column holds a value as constraints see it: a composite value with
-- NULL fields is a value (IS NOT NULL would skip its row).
CREATE TYPE pg_temp.pair AS (a int, b int);
CREATE TEMP TABLE keyed (k pg_temp.pair, n int);
INSERT INTO keyed VALUES (ROW(1, NULL), 1), (NULL, 2), (ROW(1, 2), 3);
SELECT is(tdm._has_value('keyed', 't', 'n'), 't.n IS NOT NULL', 'a scalar column: IS NOT NULL');
SELECT is(tdm._has_value('keyed', 't', 'k'), 'num_nulls(t.k) = 0', 'a composite column: num_nulls');
SELECT results_eq(format('SELECT n FROM keyed t WHERE %s ORDER BY n', tdm._has_value('keyed', 't', 'k')),
  ARRAY[1, 3], 'only the NULL composite is without a value');

-- Keys computed as an index computes them (tdm._check_computed_keys):
-- the release's rows against another release's rows of a table with a
-- unique index on an expression and a partial one, and an exclusion
-- constraint; among themselves too.
SELECT tdm.create_release('RV');
INSERT INTO tdm.run (release, target) VALUES ('RV', 'staging');
CREATE TABLE tdm_validate_target.people (LIKE staging.users);
CREATE UNIQUE INDEX people_email_folded ON tdm_validate_target.people (lower(email));
CREATE UNIQUE INDEX people_one_admin ON tdm_validate_target.people (role) WHERE role = 'Administrator';
INSERT INTO tdm_validate_target.people (user_id, email, role, created_at, updated_at, tdm_release, tdm_feature)
VALUES (1, 'Ann@x', 'Administrator', now(), now(), 'R0', 'F'),
       (2, 'rv@x', 'Customer', now(), now(), 'RV', 'F'),  -- (the release's own: not compared)
       (3, 'cal@x', 'Customer', now(), now(), 'R0', 'F');
CREATE TEMP TABLE rv_rows AS
  SELECT 'e1'::text AS tdm_env, 0::bigint AS tdm_row_hash, p.* FROM tdm_validate_target.people p LIMIT 0;
INSERT INTO rv_rows (tdm_env, tdm_row_hash, user_id, email, role, tdm_release)
VALUES ('e1', 1, 10, 'ANN@X', 'Customer', 'RV'), ('e1', 2, 11, 'RV@x', 'Administrator', 'RV'),
       ('e2', 3, 12, 'cy@x', 'Customer', 'RV'), ('e2', 4, 13, 'CY@x', 'Administrator', 'RV'),
       ('e2', 5, 14, 'cid@x', 'Customer', 'RV');
CREATE FUNCTION pg_temp.flagged(idx regclass, among_rows bool) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM tdm.violation;
  PERFORM tdm._check_computed_keys((SELECT max(run_id) FROM tdm.run), 'staging.users', 'RV', 'pg_temp.rv_rows',
                                   'jsonb_build_object(''env'', t.tdm_env, ''key'', t.user_id)', idx,
                                   'tdm_validate_target.people', among_rows);
  RETURN QUERY SELECT format('%s %s %s %s', v.kind, v.row_key ->> 'key', v.detail -> 'values', v.detail ->> 'with')
                 FROM tdm.violation v ORDER BY 1;
END
$$;
SELECT results_eq($$SELECT pg_temp.flagged('tdm_validate_target.people_email_folded', false)$$,
  ARRAY['unique 10 {"lower(email)": "ann@x"} rows of other releases in tdm_validate_target.people'],
  'an expression: ANN@X meets Ann@x of another release (not rv@x, the release''s own)');
SELECT is((SELECT v.detail -> 'other' FROM tdm.violation v),
  '{"release": "R0", "key": {"user_id": 1}}'::jsonb,
  'the violation names the row of the other release it meets: its release and key');
SELECT results_eq($$SELECT pg_temp.flagged('tdm_validate_target.people_email_folded', true)$$,
  ARRAY['unique 10 {"lower(email)": "ann@x"} rows of other releases in tdm_validate_target.people',
        'unique 12 {"lower(email)": "cy@x"} other collected rows',
        'unique 13 {"lower(email)": "cy@x"} other collected rows'],
  'and among the release''s rows: cy@x and CY@x');
SELECT results_eq($$SELECT pg_temp.flagged('tdm_validate_target.people_one_admin', true)$$,
  ARRAY['unique 11 {"role": "Administrator"} other collected rows',
        'unique 11 {"role": "Administrator"} rows of other releases in tdm_validate_target.people',
        'unique 13 {"role": "Administrator"} other collected rows',
        'unique 13 {"role": "Administrator"} rows of other releases in tdm_validate_target.people'],
  'a partial index: only the rows of its predicate (the customers pass)');
ALTER TABLE tdm_validate_target.people
  ADD CONSTRAINT people_initial EXCLUDE USING btree (left(lower(email), 1) WITH =) WHERE (role = 'Customer');
SELECT results_eq($$SELECT pg_temp.flagged((SELECT conindid::regclass FROM pg_constraint WHERE conname = 'people_initial'), true)$$,
  ARRAY['check 12 {"\"left\"(lower(email), 1)": "c"} other collected rows',
        'check 12 {"\"left\"(lower(email), 1)": "c"} rows of other releases in tdm_validate_target.people',
        'check 14 {"\"left\"(lower(email), 1)": "c"} other collected rows',
        'check 14 {"\"left\"(lower(email), 1)": "c"} rows of other releases in tdm_validate_target.people'],
  'an exclusion constraint: customers c.. meet each other and cal@x (13, no customer, passes)');
SELECT is((SELECT count(*)::int FROM pg_class WHERE relname = 'tdm_keyed'), 0, 'its scratch table dropped');
-- Keys grouped under the index's collation: a case-insensitive one makes
-- cy@x and CY@X one key.
CREATE COLLATION pg_temp.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE UNIQUE INDEX people_email_ci ON tdm_validate_target.people (email COLLATE pg_temp.ci)
  WHERE role = 'Customer';
INSERT INTO rv_rows (tdm_env, tdm_row_hash, user_id, email, role, tdm_release)
VALUES ('e2', 6, 15, 'CY@X', 'Customer', 'RV');
SELECT results_eq($$SELECT pg_temp.flagged('tdm_validate_target.people_email_ci', true)$$,
  ARRAY['unique 12 {"email": "cy@x"} other collected rows', 'unique 15 {"email": "CY@X"} other collected rows'],
  'a case-insensitive collation''s index: cy@x and CY@X are one key');
DELETE FROM rv_rows WHERE user_id = 15;

-- Keys compared by their index's own equality, schema-qualified: under
-- validation's search_path (pg_catalog first) a bare = on two citext
-- values compares them as text.
CREATE EXTENSION IF NOT EXISTS citext SCHEMA public;
CREATE TEMP TABLE ci_keys (e public.citext UNIQUE);
SELECT is(tdm._equality_operators((SELECT indexrelid FROM pg_index WHERE indrelid = 'ci_keys'::regclass)),
          ARRAY['OPERATOR(public.=)'], 'a citext key''s equality is citext''s');
CREATE FUNCTION pg_temp.ci_match() RETURNS bool LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  found bool;
BEGIN
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM (SELECT %L::public.citext AS e) x, (SELECT %L::public.citext AS e) t'
                 ' WHERE %s)', 'Z@T.TEST', 'z@t.test',
                 tdm._unique_match('{e}', '{""}', false,
                                   tdm._equality_operators((SELECT indexrelid FROM pg_index
                                                             WHERE indrelid = 'pg_temp.ci_keys'::regclass))))
    INTO found;
  RETURN found;
END
$$;
SELECT ok(pg_temp.ci_match(), 'Z@T.TEST and z@t.test are one citext key under validation''s search_path');
-- A foreign key matches as PostgreSQL matches it: citext's equality.
CREATE TEMP TABLE ci_parent (e public.citext PRIMARY KEY);
CREATE TEMP TABLE ci_child (e public.citext REFERENCES ci_parent);
CREATE FUNCTION pg_temp.fk_match() RETURNS bool LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  found bool;
BEGIN
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM (SELECT %L::public.citext AS e) x, (SELECT %L::public.citext AS e) t'
                 ' WHERE %s)', 'bob@x', 'BOB@X',
                 tdm._fk_match('pg_temp.ci_child'::regclass, 'ci_child_e_fkey', 'x', 't'))
    INTO found;
  RETURN found;
END
$$;
SELECT ok(pg_temp.fk_match(), 'a citext foreign key''s BOB@X finds its parent bob@x under validation''s search_path');

-- A member's key (from its JSON) is spelled as the stored row's key, so
-- the apply plan finds the row: a char(n) value keeps its padding in
-- JSON, not in its text.
CREATE TEMP TABLE padded (code char(5) PRIMARY KEY);
INSERT INTO padded VALUES ('ab');
CREATE FUNCTION pg_temp.key_of(spelling text, input anyelement) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
  k text[];
BEGIN
  EXECUTE format('SELECT %s FROM (SELECT $1 AS m, $1 AS dummy) e, padded t', spelling) INTO k USING input;
  RETURN k;
END
$$;
SELECT is(pg_temp.key_of(tdm._member_key('padded', '{code}'),
                         (SELECT jsonb_build_object('row', to_jsonb(t)) FROM padded t)),
          pg_temp.key_of(tdm._key_text('{code}', 't'), NULL::jsonb),
          'a char(n) key spelled from the member''s JSON as from the stored row');

SELECT * FROM finish();
ROLLBACK;
