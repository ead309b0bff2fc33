-- Detection's key pass in SQL (tdm._spill_labels), used when the in-memory
-- one would not fit in tdm.work_mem: rows linked by any key kind, through
-- chains, end up with one label; rows alone get none.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(7);

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

-- Chains of rows linked by alternating keys, as ids shifted by one
-- between two environments make them (id g with email u<g> in one, with
-- u<g-1> in the other): every row of a chain gets one label, the smallest
-- key hash of the chain, in a few rounds rather than one per link.
CREATE TEMP TABLE chain_rows (chain int, id int, email text);
INSERT INTO chain_rows
SELECT c, c * 100000 + g, 'u' || (c * 100000 + g) FROM generate_series(1, 2) c, generate_series(1, 3000) g
UNION ALL
SELECT c, c * 100000 + g, 'u' || (c * 100000 + g - 1) FROM generate_series(1, 2) c, generate_series(2, 3001) g;
SELECT is(tdm._spill_labels('chain_rows',
            ARRAY['hashint8extended(t.id::int8, 0)', 'hashtextextended(t.email, 1)']),
          12000::bigint, 'every row of two long chains is in a shared component');
SELECT is((SELECT count(DISTINCT l.label) FROM pg_temp.tdm_labels l), 2::bigint,
          'each chain has one label');
SELECT is((SELECT count(*) FROM pg_temp.tdm_labels l JOIN chain_rows r ON r.ctid = l.row_ctid
            WHERE l.label <> (SELECT min(k.h) FROM pg_temp.tdm_shared_keys k
                                JOIN chain_rows x ON x.ctid = k.row_ctid WHERE x.chain = r.chain)),
          0::bigint, 'the label is the smallest key hash of the chain');

SELECT * FROM finish();
ROLLBACK;
