-- Detection's key pass in SQL (tdm._spill_labels), used when the in-memory
-- one would not fit in tdm.work_mem: rows linked by any key kind, through
-- chains, end up with one label; rows alone get none.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(4);

CREATE TEMP TABLE spill_rows (id int, email text);
INSERT INTO spill_rows VALUES
  (1, 'a@x'), (1, 'b@x'),   -- same id
  (2, 'b@x'),               -- shares b@x with the second row: a chain
  (3, 'c@x'),               -- alone
  (4, NULL), (5, NULL),     -- NULL keys never link
  (6, 'd@x'), (7, 'd@x');   -- same email
SELECT is(tdm._spill_labels('spill_rows',
            ARRAY['hashint8extended(t.id::int8, 0)', 'hashtextextended(t.email, 1)']),
          5::bigint, 'five rows are in shared components');
SELECT is((SELECT count(DISTINCT l.label) FROM pg_temp.tdm_labels l), 2::bigint,
          'two components: the chain and the shared email');
SELECT is((SELECT count(DISTINCT l.label) FROM pg_temp.tdm_labels l
             JOIN spill_rows s ON s.ctid = l.row_ctid WHERE s.id IN (1, 2)), 1::bigint,
          'the chain through an id and an email has one label');
SELECT is((SELECT count(*) FROM pg_temp.tdm_labels l
             JOIN spill_rows s ON s.ctid = l.row_ctid WHERE s.id IN (3, 4, 5)), 0::bigint,
          'rows alone and NULL keys get no label');

SELECT * FROM finish();
ROLLBACK;
