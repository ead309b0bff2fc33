-- User code that runs inside the load's foreign key check (here, the
-- equality operator of the referenced key) cannot start a direct load or
-- another check there (55000): the check would otherwise mark rows it did
-- not read as checked.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(5);

CREATE SCHEMA tdm_reentry;
-- An integer b-tree operator class whose equality runs what the test asks.
CREATE FUNCTION tdm_reentry.eq(a int, b int) RETURNS bool LANGUAGE plpgsql AS $$
BEGIN
  CASE current_setting('tdm_reentry.inside', true)
    WHEN 'load' THEN PERFORM tdm._load_rows('pg_temp.reentry_rows', 'tdm_reentry.child');
    WHEN 'check' THEN PERFORM tdm._check_loaded_references();
    ELSE NULL;
  END CASE;
  RETURN a = b;
END
$$;
CREATE FUNCTION tdm_reentry.lt(int, int) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT $1 < $2';
CREATE FUNCTION tdm_reentry.le(int, int) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT $1 <= $2';
CREATE FUNCTION tdm_reentry.ge(int, int) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT $1 >= $2';
CREATE FUNCTION tdm_reentry.gt(int, int) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT $1 > $2';
CREATE FUNCTION tdm_reentry.cmp(int, int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT btint4cmp($1, $2)';
CREATE OPERATOR tdm_reentry.< (LEFTARG = int, RIGHTARG = int, FUNCTION = tdm_reentry.lt);
CREATE OPERATOR tdm_reentry.<= (LEFTARG = int, RIGHTARG = int, FUNCTION = tdm_reentry.le);
CREATE OPERATOR tdm_reentry.= (LEFTARG = int, RIGHTARG = int, FUNCTION = tdm_reentry.eq);
CREATE OPERATOR tdm_reentry.>= (LEFTARG = int, RIGHTARG = int, FUNCTION = tdm_reentry.ge);
CREATE OPERATOR tdm_reentry.> (LEFTARG = int, RIGHTARG = int, FUNCTION = tdm_reentry.gt);
CREATE OPERATOR CLASS tdm_reentry.int_ops FOR TYPE int USING btree AS
  OPERATOR 1 tdm_reentry.<, OPERATOR 2 tdm_reentry.<=, OPERATOR 3 tdm_reentry.=,
  OPERATOR 4 tdm_reentry.>=, OPERATOR 5 tdm_reentry.>, FUNCTION 1 tdm_reentry.cmp(int, int);

CREATE TABLE tdm_reentry.parent (id int NOT NULL);
CREATE UNIQUE INDEX ON tdm_reentry.parent (id tdm_reentry.int_ops);
INSERT INTO tdm_reentry.parent VALUES (1);
CREATE TABLE tdm_reentry.child (id int PRIMARY KEY,
                                parent_id int REFERENCES tdm_reentry.parent (id));
SELECT is((SELECT o.oprnamespace::regnamespace::text FROM pg_constraint c
             JOIN pg_operator o ON o.oid = c.conpfeqop[1]
            WHERE c.conrelid = 'tdm_reentry.child'::regclass AND c.contype = 'f'),
          'tdm_reentry', 'the foreign key compares with the test''s equality');

CREATE TEMP TABLE reentry_rows (id int, parent_id int);
INSERT INTO reentry_rows VALUES (1, 1);
SELECT is(tdm._load_rows('pg_temp.reentry_rows', 'tdm_reentry.child'), 1::bigint,
          'one row loaded directly, its foreign key not yet checked');

SET LOCAL tdm_reentry.inside = 'load';
SELECT throws_ok($$SELECT tdm._check_loaded_references()$$, '55000',
  'load: no load while foreign keys are being checked',
  'a load started inside the check is refused');
SET LOCAL tdm_reentry.inside = 'check';
SELECT throws_ok($$SELECT tdm._check_loaded_references()$$, '55000',
  'load: a foreign key check is already running',
  'a check started inside the check is refused');
-- The refusals left no check running: the load can now be checked.
SET LOCAL tdm_reentry.inside = 'none';
SELECT lives_ok($$SELECT tdm._check_loaded_references()$$,
  'after the refusals, the check runs and passes');

SELECT * FROM finish();
ROLLBACK;
