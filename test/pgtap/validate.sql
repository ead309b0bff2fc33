-- Validation leaves the target's constraints to the load only where the
-- target enforces every one of them as rows go in (decision 53); anything
-- that defers, disables or rewrites that makes it validate everything
-- first.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(11);

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

-- A key column holds a value as constraints see it: a composite value with
-- NULL fields is a value (IS NOT NULL would skip its row).
CREATE TYPE pg_temp.pair AS (a int, b int);
CREATE TEMP TABLE keyed (k pg_temp.pair, n int);
INSERT INTO keyed VALUES (ROW(1, NULL), 1), (NULL, 2), (ROW(1, 2), 3);
SELECT is(tdm._has_value('keyed', 't', 'n'), 't.n IS NOT NULL', 'a scalar column: IS NOT NULL');
SELECT is(tdm._has_value('keyed', 't', 'k'), 'num_nulls(t.k) = 0', 'a composite column: num_nulls');
SELECT results_eq(format('SELECT n FROM keyed t WHERE %s ORDER BY n', tdm._has_value('keyed', 't', 'k')),
  ARRAY[1, 3], 'only the NULL composite is without a value');

SELECT * FROM finish();
ROLLBACK;
