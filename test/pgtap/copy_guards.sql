-- The snapshot's row copy (tdm._copy_rows) and the spare builder
-- (tdm._make_spare) write below the executor: an admin calling them
-- directly gets no more than an INSERT ... SELECT would give. Rows row
-- security hides are not copied; rows go only into a new, empty table of
-- tdm_snapshot with nothing that checks or indexes them, column by column
-- of one type, NOT NULL kept; a spare is built from a table of
-- tdm_snapshot only.
BEGIN;
SELECT plan(9);
SET client_min_messages = warning;

CREATE ROLE tap_cg_admin IN ROLE tdm_admin;
CREATE SCHEMA tap_cg;
GRANT USAGE ON SCHEMA tap_cg TO tap_cg_admin;
CREATE TABLE tap_cg.secret (id int PRIMARY KEY, v int, owner name);
INSERT INTO tap_cg.secret VALUES (1, 42, 'tap_cg_admin'), (2, 7, 'someone_else');
ALTER TABLE tap_cg.secret ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON tap_cg.secret USING (owner = current_user);
GRANT SELECT ON tap_cg.secret TO tap_cg_admin;
CREATE TABLE tap_cg.open (id int PRIMARY KEY, v int, owner name);
INSERT INTO tap_cg.open VALUES (1, 1, NULL);
GRANT SELECT, INSERT ON tap_cg.open TO tap_cg_admin;
CREATE TABLE tap_cg.ledger (id int PRIMARY KEY, v int CHECK (v > 0), owner name NOT NULL);
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON tap_cg.ledger TO tap_cg_admin;

SET LOCAL ROLE tap_cg_admin;
CREATE TABLE tdm_snapshot.tap_cg_copy (id int, v int, owner name);
SELECT throws_ok($$SELECT tdm._copy_rows('tap_cg.secret', 'tdm_snapshot.tap_cg_copy', '{}')$$, '42501',
                 'cannot copy the rows of "secret": row-level security applies to it',
                 'rows that row security hides are not copied');
SELECT throws_ok($$SELECT tdm._copy_rows('tap_cg.open', 'tap_cg.ledger', '{}')$$, '42809', NULL,
                 'rows go into no table outside tdm_snapshot (a CHECK and a primary key there)');
CREATE TABLE tdm_snapshot.tap_cg_indexed (id int PRIMARY KEY, v int, owner name);
SELECT throws_ok($$SELECT tdm._copy_rows('tap_cg.open', 'tdm_snapshot.tap_cg_indexed', '{}')$$, '42809', NULL,
                 'nor into a table of tdm_snapshot with an index');
CREATE TABLE tdm_snapshot.tap_cg_wide (id bigint, v int, owner name);
SELECT throws_ok($$SELECT tdm._copy_rows('tap_cg.open', 'tdm_snapshot.tap_cg_wide', '{}')$$, '42804',
                 'cannot copy the rows of open into tap_cg_wide: column id is integer there, bigint here',
                 'columns of another type are refused, not copied bit for bit');
CREATE TABLE tdm_snapshot.tap_cg_strict (id int, v int, owner name NOT NULL);
SELECT throws_ok($$SELECT tdm._copy_rows('tap_cg.open', 'tdm_snapshot.tap_cg_strict', '{}')$$, '23502',
                 'a row of open has no value in column owner, which tap_cg_strict requires',
                 'a NULL is not stored in a NOT NULL column');
SELECT is((SELECT row_count FROM tdm._copy_rows('tap_cg.open', 'tdm_snapshot.tap_cg_copy', '{1,2,3}')), 1::bigint,
          'a new empty copy of tdm_snapshot takes the rows');
SELECT throws_ok($$SELECT tdm._copy_rows('tap_cg.open', 'tdm_snapshot.tap_cg_copy', '{}')$$, '42809', NULL,
                 'once: a copy holding rows takes no more');
SELECT throws_ok($$SELECT tdm._make_spare('tap_cg.ledger', 'tap_cg.open', '{}', 'tap_cg_spare')$$, '42809',
                 'cannot build a spare of ledger from open: it is not a table of tdm_snapshot',
                 'a spare is built from a snapshot''s copy only');
RESET ROLE;
SELECT is((SELECT count(*) FROM tap_cg.ledger), 0::bigint, 'and the ledger holds nothing it refused');

SELECT * FROM finish();
ROLLBACK;
