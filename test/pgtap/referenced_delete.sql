-- The check before a release's rows are deleted from a target (loading
-- the release again, archiving it): rows of other releases that reference
-- them refuse it; the release's own rows do not, also when the
-- referencing table is partitioned (its foreign key has a copy on each
-- partition, whose rows are no managed table's). Each reference is named
-- by its foreign key.
BEGIN;
SELECT plan(7);
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;
SELECT tdm.manage_table('staging.users', '{email}'), tdm.manage_table('staging.accounts', '{account_number}');
RESET client_min_messages;
CREATE SCHEMA tap_part;
CREATE TABLE tap_part.users (LIKE staging.users INCLUDING ALL);
CREATE TABLE tap_part.accounts (LIKE staging.accounts INCLUDING DEFAULTS) PARTITION BY RANGE (account_id);
ALTER TABLE tap_part.accounts ADD PRIMARY KEY (account_id),
  ADD FOREIGN KEY (user_id) REFERENCES tap_part.users (user_id);
CREATE TABLE tap_part.accounts_low PARTITION OF tap_part.accounts FOR VALUES FROM (MINVALUE) TO (100);
CREATE TABLE tap_part.accounts_high PARTITION OF tap_part.accounts FOR VALUES FROM (100) TO (MAXVALUE);
INSERT INTO tap_part.users (user_id, email, full_name, role, tdm_release)
VALUES (1, 'one@example.com', 'One', 'Customer', 'R1');
INSERT INTO tap_part.accounts (account_id, user_id, account_number, balance, currency, tdm_release)
VALUES (1, 1, 'ACC-1', 10, 'EUR', 'R1'), (150, 1, 'ACC-150', 10, 'EUR', 'R1');

SELECT lives_ok($$SELECT tdm._refuse_referenced_delete('consolidate', 'tap_part', 'R1',
                                                        'loading the release again', 'hint', true)$$,
  'the release''s own rows in a partitioned table do not refuse loading it again');
INSERT INTO tap_part.accounts (account_id, user_id, account_number, balance, currency, tdm_release)
VALUES (151, 1, 'ACC-151', 10, 'EUR', 'R2');
SELECT throws_ok($$SELECT tdm._refuse_referenced_delete('consolidate', 'tap_part', 'R1',
                                                         'loading the release again', 'hint', true)$$,
  '23503', 'consolidate: 1 row(s) of other releases in tap_part.accounts reference release R1''s rows in tap_part.users',
  'another release''s row in a partition does');
SELECT throws_like($$SELECT tdm._refuse_referenced_delete('archive_release', 'tap_part', 'R1',
                                                           'archiving', 'hint', true)$$,
  '%1 row(s) of other releases in tap_part.accounts%', 'named once, by the partitioned table');

-- A table tdm does not manage: its rows are no release's, and the HINT
-- says what to do with them.
DELETE FROM tap_part.accounts WHERE tdm_release = 'R2';
CREATE TABLE tap_part.shipment (id int PRIMARY KEY, user_id int REFERENCES tap_part.users,
                                waived_by int REFERENCES tap_part.users);
INSERT INTO tap_part.shipment VALUES (1, 1, 1);
SELECT results_eq($$SELECT e.message, e.hint FROM pg_temp.error_of($q$SELECT tdm._refuse_referenced_delete('consolidate',
                      'tap_part', 'R1', 'loading the release again', 'hint', true)$q$) e$$,
  $$VALUES ('consolidate: 1 row(s) of unmanaged table tap_part.shipment reference release R1''s rows in tap_part.users',
            'tap_part.shipment is not managed by tdm: delete or change its rows that reference them, or drop its foreign key shipment_user_id_fkey, then call again.'
            ' Tables tdm does not manage among the others: tap_part.shipment (foreign key shipment_waived_by_fkey): delete or change their rows that reference them, or drop those foreign keys.')$$,
  'an unmanaged table''s rows are named as such, with what to do');
-- (Its second reference to the same table: the DETAIL's others name their
-- foreign key, so that two of one table are told apart.)
SELECT matches((pg_temp.error_of($q$SELECT tdm._refuse_referenced_delete('consolidate', 'tap_part', 'R1',
                                    'loading the release again', 'hint', true)$q$)).detail,
  'Also: 1 row\(s\) of tap_part\.shipment \(to tap_part\.users, foreign key shipment_waived_by_fkey\)\.',
  'the other references are named by their foreign keys');

-- Rows written by hand, of no release (a NULL tag): no release to archive
-- first; the HINT says what to do with them.
DROP TABLE tap_part.shipment;
INSERT INTO tap_part.accounts (account_id, user_id, account_number, balance, currency, tdm_release)
VALUES (152, 1, 'ACC-152', 10, 'EUR', NULL);
SELECT is(pg_temp.hint_of($$SELECT tdm._refuse_referenced_delete('archive_release', 'tap_part', 'R1', 'archiving',
                                                               'Archive the releases that reference it first.', true)$$),
          'Those rows of tap_part.accounts are of no release (their tdm_release is NULL or names no release: written'
          ' there by hand?): delete them, or change them to reference other rows, then call again.',
          'rows of no release are named as such, not sent to archive a release first');

-- Some of them of a release, some of none: the HINT sends to archive that
-- release first, and counts the others.
SET client_min_messages = warning;
SELECT tdm.create_release('TAP_REF2', 'v-ref2');
RESET client_min_messages;
INSERT INTO tap_part.accounts (account_id, user_id, account_number, balance, currency, tdm_release)
VALUES (153, 1, 'ACC-153', 10, 'EUR', 'TAP_REF2');
SELECT results_eq($$SELECT e.message, e.detail, e.hint FROM pg_temp.error_of($q$SELECT tdm._refuse_referenced_delete(
                      'archive_release', 'tap_part', 'R1', 'archiving',
                      'Archive the releases that reference it first.', true)$q$) e$$,
  $$VALUES ('archive_release: 2 row(s) of other releases in tap_part.accounts reference release R1''s rows in tap_part.users',
            'Releases referencing them: TAP_REF2. Foreign key accounts_user_id_fkey refuses archiving.',
            'Archive the releases that reference it first. 1 of those rows of tap_part.accounts are of no release'
            ' (their tdm_release is NULL or names no release): delete or change them.')$$,
  'rows of a release and of none: that release named, the others counted');

SELECT * FROM finish();
ROLLBACK;
