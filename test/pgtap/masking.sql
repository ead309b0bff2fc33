-- Masking: a column masked with tdm.mask_column reaches nothing of the
-- consolidation database unmasked (the loaded rows, the conflicts'
-- members, a generated column computed from it), masks that keep equal
-- values equal still let detection find the same person in two
-- environments, and every mask that would break a key or cannot fit the
-- column is refused when it is declared. tdm.find_pii finds the columns.
BEGIN;
SELECT plan(80);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = error;

-- Two environments (schemas of this database, written by another
-- session). ann@corp.test is the same person in both (her phone differs);
-- bob and cy are in one each.
SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_mk_e1;
  CREATE SCHEMA tap_mk_e2;
  CREATE TABLE tap_mk_e1.person (id int PRIMARY KEY, email text NOT NULL UNIQUE,
                                 email_lower text GENERATED ALWAYS AS (lower(email)) STORED,
                                 full_name varchar(40), phone text, born date, code varchar(12) NOT NULL,
                                 nick text, wakes time, badge text UNIQUE, tdm_release text, tdm_feature text);
  CREATE TABLE tap_mk_e1.visit (id int PRIMARY KEY, person_id int NOT NULL REFERENCES tap_mk_e1.person,
                                tdm_release text, tdm_feature text);
  CREATE TABLE tap_mk_e2.person (LIKE tap_mk_e1.person INCLUDING ALL);
  CREATE TABLE tap_mk_e2.visit (id int PRIMARY KEY, person_id int NOT NULL REFERENCES tap_mk_e2.person,
                                tdm_release text, tdm_feature text);
  CREATE TABLE tap_mk_e1.contact (id int PRIMARY KEY, contact_name varchar(10) NOT NULL, tdm_release text, tdm_feature text);
  CREATE TABLE tap_mk_e2.contact (LIKE tap_mk_e1.contact INCLUDING ALL);
  INSERT INTO tap_mk_e1.person (id, email, full_name, phone, born, code, tdm_release, tdm_feature)
  VALUES (1, 'Ann@corp.test', 'Ann Archer', '+44 20 7946 0001', '1980-05-17', 'A1', 'MK1', 'F'),
         (2, 'bob@corp.test', 'Bob Baker', '+44 20 7946 0002', '1975-01-02', 'B2', 'MK1', 'F');
  INSERT INTO tap_mk_e2.person (id, email, full_name, phone, born, code, tdm_release, tdm_feature)
  VALUES (7, ' ann@CORP.test', 'Ann Archer', '+44 20 7946 9999', '1980-05-17', 'A1', 'MK1', 'F'),
         (8, 'cy@corp.test', NULL, NULL, NULL, 'C3', 'MK1', 'F');
  INSERT INTO tap_mk_e1.visit VALUES (1, 1, 'MK1', 'F'), (2, 2, 'MK1', 'F');
  INSERT INTO tap_mk_e2.visit VALUES (5, 7, 'MK1', 'F');
  -- (the next release's rows, read at the end)
  INSERT INTO tap_mk_e1.visit VALUES (3, 2, 'MK2', 'F');
  INSERT INTO tap_mk_e1.person (id, email, full_name, phone, code, tdm_release, tdm_feature)
  VALUES (20, 'dee@corp.test', 'Dee One', '+44 20 7946 0020', 'D1', 'MK2', 'F');
  INSERT INTO tap_mk_e2.person (id, email, full_name, phone, code, tdm_release, tdm_feature)
  VALUES (20, 'dee@corp.test', 'Dee Two', '+44 20 7946 0021', 'D1', 'MK2', 'G')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_self');
CREATE SCHEMA tap_mk;
CREATE TABLE tap_mk.person (id int PRIMARY KEY, email text NOT NULL UNIQUE,
                            email_lower text GENERATED ALWAYS AS (lower(email)) STORED,
                            full_name varchar(40), phone text, born date, code varchar(12) NOT NULL,
                            nick text, wakes time, badge text UNIQUE, tdm_release text, tdm_feature text);
CREATE UNIQUE INDEX ON tap_mk.person (lower(nick));
CREATE TABLE tap_mk.visit (id int PRIMARY KEY, person_id int NOT NULL REFERENCES tap_mk.person,
                           tdm_release text, tdm_feature text);
-- (a name too short for a default hash, and NOT NULL)
CREATE TABLE tap_mk.contact (id int PRIMARY KEY, contact_name varchar(10) NOT NULL, tdm_release text, tdm_feature text);
SELECT tdm.add_environment('mk1', 'tap_self', 10, 'tap_mk_e1'), tdm.add_environment('mk2', 'tap_self', 20, 'tap_mk_e2');
-- (Emails compared case- and blank-insensitively: Ann is spelt
-- differently in mk2.)
SELECT tdm.manage_table('tap_mk.person', '{email}', normalize_keys => true),
       tdm.manage_table('tap_mk.visit', surrogate_key => true), tdm.manage_table('tap_mk.contact');
SELECT tdm.create_release('MK1'), tdm.add_feature('MK1', 'F', 1);
SELECT tdm.create_release('MK2', parent => 'MK1'), tdm.add_feature('MK2', 'F', 1), tdm.add_feature('MK2', 'G', 1);
-- (MK1 made earlier, as it would be outside this transaction)
UPDATE tdm.release SET created_at = created_at - interval '1 day' WHERE release = 'MK1';

-- find_pii reads an environment: names and a sample of values.
SELECT results_eq(
  $$SELECT column_name, category, evidence, sampled::int, matched::int, masked_by, suggestion
      FROM tdm.find_pii('mk1') ORDER BY column_name$$,
  $$VALUES ('born', 'date_of_birth', 'name', NULL, NULL, NULL::text,
            'SELECT tdm.mask_column(''tap_mk.person'', ''born'', ''date_shift'');'),
           ('contact_name', 'person_name', 'name', 0, NULL, NULL,
            'SELECT tdm.mask_column(''tap_mk.contact'', ''contact_name'', ''hash'', ''{"length": 10}'');'),
           ('email', 'email', 'name and values', 3, 3, NULL,
            'SELECT tdm.mask_column(''tap_mk.person'', ''email'', ''email'');'),
           ('email_lower', 'email', 'name and values', 3, 3, NULL,
            '-- not maskable: email_lower is a generated column: mask the columns it is computed from'),
           ('full_name', 'person_name', 'name', 3, NULL, NULL,
            'SELECT tdm.mask_column(''tap_mk.person'', ''full_name'', ''hash'');'),
           ('phone', 'phone', 'name and values', 3, 3, NULL,
            'SELECT tdm.mask_column(''tap_mk.person'', ''phone'', ''partial'');')$$,
  'find_pii names the birth date, email, name and phone columns of an environment, with its evidence and a call that masks each (for a generated column, why none; a hash as long as a short column holds)');
SELECT throws_ok($$SELECT * FROM tdm.find_pii('mk9')$$, '42704',
  'find_pii: environment "mk9" does not exist', 'find_pii refuses an unknown environment');

-- Masks that would break a key, or cannot fit the column, are refused.
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'id', 'hash')$$,
  '%id is a column of a primary key%', 'the primary key is not masked');
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.visit', 'person_id', 'null')$$,
  '%person_id is a column of a foreign key%', 'a foreign key is not masked');
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'email', 'partial')$$,
  '%email is part of a natural key, and partial makes different values equal%',
  'a natural key takes only a mask that keeps different values apart');
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'email', 'hash', '{"length": 8}')$$,
  '%email is part of a natural key, and a hash of 8 characters makes different values equal too often%',
  'nor a hash too short to keep some ten thousand values apart');
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'nick', 'partial')$$,
  '%nick is part of a unique index tap_mk.person_lower_idx, and partial makes different values equal%',
  'a column a unique index reads through an expression takes only a mask that keeps values apart');
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'code', 'null')$$,
  '%code is NOT NULL%', 'a NOT NULL column is not masked with null');
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'born', 'hash')$$,
  '%method hash masks text, and born is date: use date_shift, null or constant', 'hash is refused on a date, naming date_shift');
-- A target's copy of a managed table (master's, say): sent to the managed one.
CREATE SCHEMA tap_mk_copy;
CREATE TABLE tap_mk_copy.person (id int PRIMARY KEY);
SELECT is((pg_temp.error_of($$SELECT tdm.mask_column('tap_mk_copy.person', 'phone', 'partial')$$)).hint,
  $$It is tap_mk.person's table in target tap_mk_copy: masks are declared on the managed table, SELECT tdm.mask_column('tap_mk.person', 'phone', 'partial');$$,
  'a mask on a target''s copy of a managed table is sent to the managed table');
SELECT is((pg_temp.error_of($$SELECT * FROM tdm.data_diff('tap_mk_copy.person', 'mk1', 'mk2')$$)).hint,
  $$It is tap_mk.person's table in target tap_mk_copy: give the managed table, which names the table in every environment: SELECT * FROM tdm.data_diff('tap_mk.person', 'mk1', 'mk2');$$,
  'so is a data_diff of it');
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'badge', 'partial')$$,
  '%badge is part of a unique index tap_mk.person_badge_key, and partial makes different values equal%, or null (a unique index keeps NULLs apart)',
  'a column of a UNIQUE constraint takes only a mask that keeps values apart');
-- (null does: NULLs are never equal in a unique index; a column too short
-- for a hash, an SSN's char(11), can still be masked)
SAVEPOINT null_badge;
SELECT lives_ok($$SELECT tdm.mask_column('tap_mk.person', 'badge', 'null')$$,
  'a nullable column of a UNIQUE constraint (not a key tdm matches by) takes null');
ROLLBACK TO SAVEPOINT null_badge;
-- (not where the index says NULLS NOT DISTINCT: NULLs are equal there)
SAVEPOINT nulls_equal;
CREATE UNIQUE INDEX tap_mk_badge_once ON tap_mk.person (badge) NULLS NOT DISTINCT;
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'badge', 'null')$$,
  '%badge is part of a unique index tap_mk.tap_mk_badge_once, and null makes different values equal%',
  'a column of a NULLS NOT DISTINCT unique index does not take null');
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'badge', 'partial')$$,
  '%and partial makes different values equal (two entities would become one): use hash or email, which keep different values apart',
  'nor is null offered for it when another method is refused');
ROLLBACK TO SAVEPOINT nulls_equal;
-- A unique index on an expression of the column, lower(email): hash and
-- email mask the value as written, and Ann@ and ann@ would mask apart and
-- both load. Refused, unless the column is masked lower-cased (a natural
-- key registered with normalize_keys).
-- (nick has one: tap_mk.person's lower(nick) index)
SAVEPOINT lower_unique;
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'nick', 'hash', '{"length": 16}')$$,
  '%nick is read by an expression of unique index tap_mk.% (lower(nick)): hash masks the value as written%register the column as a natural key with normalize_keys%',
  'a column a unique index reads lower-cased is not hashed as written');
CREATE UNIQUE INDEX tap_mk_email_ci ON tap_mk.person (lower(email));
SELECT lives_ok($$SELECT tdm.mask_column('tap_mk.person', 'email', 'hash', '{"length": 16}')$$,
  'email, a natural key compared with normalize_keys, is masked lower-cased: the same index takes its hash');
-- (not a function whose name ends in lower: another folding)
CREATE FUNCTION tap_mk.unaccent_lower(text) RETURNS text IMMUTABLE LANGUAGE sql AS 'SELECT lower($1)';
CREATE UNIQUE INDEX tap_mk_email_ua ON tap_mk.person (tap_mk.unaccent_lower(email));
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'email', 'hash', '{"length": 16}')$$,
  '%email is read by an expression of unique index tap_mk.tap_mk_email_ua%',
  'a unique index on another function of the column is no lower()');
ROLLBACK TO SAVEPOINT lower_unique;
-- A column a partial unique index's WHERE clause reads: no mask, whatever
-- the method (null made every soft-deleted login live, and two rows
-- collide); a column of the key of such an index as before. And a date in
-- a unique key is told what is left for it: hash and email mask text only.
SAVEPOINT partial_unique;
CREATE UNIQUE INDEX tap_mk_live_code ON tap_mk.person (code) WHERE born IS NULL;
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'born', 'null')$$,
  '%born is read by the WHERE clause of unique index tap_mk.tap_mk_live_code (WHERE (born IS NULL)): a mask would change which rows the index covers%leave it unmasked',
  'a column a partial unique index''s WHERE clause reads is not masked with null');
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'born', 'date_shift')$$,
  '%born is read by the WHERE clause of unique index%', 'nor with date_shift');
DROP INDEX tap_mk.tap_mk_live_code;
-- (The index's own key column read by its predicate, `UNIQUE (badge) WHERE
-- badge IS NOT NULL`: hash keeps NULLs NULL and the rows covered alike; a
-- name in a string literal of the predicate is no column it reads.)
CREATE UNIQUE INDEX tap_mk_badge_set ON tap_mk.person (badge) WHERE badge IS NOT NULL AND code <> 'born';
SELECT lives_ok($$SELECT tdm.mask_column('tap_mk.person', 'badge', 'hash')$$,
  'a key column its partial index''s predicate reads takes hash, as a key column does');
SELECT lives_ok($$SELECT tdm.mask_column('tap_mk.person', 'born', 'null')$$,
  'a column named only in a string literal of the predicate is masked');
DROP INDEX tap_mk.tap_mk_badge_set;
CREATE UNIQUE INDEX tap_mk_born_once ON tap_mk.person (born);
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'born', 'date_shift')$$,
  '%born is part of a unique index tap_mk.tap_mk_born_once, and date_shift makes different values equal (two entities would become one): use null (a unique index keeps NULLs apart), or leave it unmasked',
  'a date of a unique index is not sent to hash or email, which mask text only');
ROLLBACK TO SAVEPOINT partial_unique;
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'email', 'email', '{"domain": "Masked.Test"}')$$,
  '%option domain of method email is a domain name in lower case%',
  'an email domain in capitals is refused (a folded key is masked lower-cased)');
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'wakes', 'date_shift')$$,
  '%method date_shift masks dates and timestamps, and wakes is time without time zone%',
  'date_shift is refused on a time of day (moved by days, it would not change)');
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'code', 'hash')$$,
  '%code is character varying(12) and a value masked by hash is 16 characters long%',
  'a hash longer than the column would hold is refused, not cut');
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'email_lower', 'hash')$$,
  '%email_lower is a generated column: mask the columns it is computed from%', 'a generated column is not masked');
-- Nor a column a generated key is computed from: the mask would change
-- the key (two logins, Ann and Bob, masked alike by partial).
CREATE TABLE tap_mk.login (id int PRIMARY KEY, name text NOT NULL,
                           name_key text GENERATED ALWAYS AS (lower(name)) STORED UNIQUE,
                           tdm_release text, tdm_feature text);
SELECT tdm.manage_table('tap_mk.login');
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.login', 'name', 'partial')$$,
  '%name is read by generated column name_key, a column of a unique index tap_mk.login_name_key_key: a mask of name changes that key%',
  'a column a generated unique key is computed from is not masked');
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.login', 'name', 'hash')$$,
  '%name is read by generated column name_key%', 'whatever the method');
SELECT tdm.unmanage_table('tap_mk.login');
-- An exclusion constraint's column is a key's too: a mask that makes
-- values equal is refused; null, which it keeps apart, is not.
SAVEPOINT booking;
CREATE TABLE tap_mk.booking (id int PRIMARY KEY, room text, EXCLUDE USING btree (room WITH =),
                             tdm_release text, tdm_feature text);
SELECT tdm.manage_table('tap_mk.booking');
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.booking', 'room', 'partial')$$,
  '%room is part of an exclusion constraint tap_mk.booking_room_excl, and partial makes different values equal%',
  'a column of an exclusion constraint takes no mask that makes values equal');
SELECT lives_ok($$SELECT tdm.mask_column('tap_mk.booking', 'room', 'null')$$, 'null, which it keeps apart, it takes');
ROLLBACK TO SAVEPOINT booking;
-- find_pii reads a column of a nondeterministic collation (which refuses
-- regular expressions) as its text in the C collation.
CREATE COLLATION tap_mk.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE tap_mk.ci_login (id int PRIMARY KEY, email text COLLATE tap_mk.ci, tdm_release text, tdm_feature text);
INSERT INTO tap_mk.ci_login VALUES (1, 'Ann@corp.test'), (2, 'bob@corp.test');
SELECT tdm.manage_table('tap_mk.ci_login');
SELECT results_eq($$SELECT column_name::text, category::text FROM tdm.find_pii() WHERE rel = 'tap_mk.ci_login'::regclass$$,
  $$VALUES ('email', 'email')$$, 'find_pii reads a column of a case-insensitive collation');
SELECT tdm.unmanage_table('tap_mk.ci_login');
SELECT throws_ok($$SELECT tdm.mask_column('tap_mk.person', 'phone', 'scramble')$$, '22023',
  'mask_column: unknown method "scramble" for tap_mk.person.phone', 'an unknown method is refused');
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'phone', 'partial', '{"keep_lats": 2}')$$,
  '%method partial takes no option keep_lats (its options: keep_first, keep_last, mask_char)%',
  'a misspelt option is refused');
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'full_name', 'constant')$$,
  '%method constant needs option value%', 'constant needs its value');
SELECT throws_ok($$SELECT tdm.mask_column('pg_catalog.pg_class', 'relname', 'hash')$$, '42704',
  'mask_column: table pg_class is not managed by tdm', 'an unmanaged table is refused');
SELECT throws_ok($$SELECT tdm.mask_column('tap_mk.person', NULL, 'hash')$$, '22004',
  'mask_column: col must not be NULL', 'a column must be given');
SELECT throws_ok($$SELECT tdm.mask_column('tap_mk.person', 'phone', 'partial', '[1]')$$, '22023',
  'mask_column: options must be a JSON object, not [1]', 'options that are not an object are refused');
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'full_name', 'hash', '{"length": 4}')$$,
  '%option length of method hash is a whole number from 8 to 64%', 'an option out of range is refused');
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'born', 'constant', '{"value": "soon"}')$$,
  '%option value "soon" is not a date%', 'a constant the column''s type refuses is refused');
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.contact', 'contact_name', 'constant', '{"value": "REDACTED-BY-POLICY"}')$$,
  '%option value "REDACTED-BY-POLICY" does not fit character varying(10), which would hold it as "REDACTED-B"%',
  'a constant longer than the column is refused, not cut');
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'born', 'constant', '{"value": {"a": 1}}')$$,
  '%option value {"a": 1} is not a date%',
  'a JSON object as the constant is a json value''s text, refused by a date column as such');
SELECT throws_like($$SELECT tdm.mask_column('tap_mk.person', 'tdm_release', 'hash')$$,
  '%tdm_release is the table''s release column%', 'the release tag column is not masked');
SELECT throws_ok($$SELECT * FROM tdm.find_pii(NULL)$$, '22004', 'find_pii: env must not be NULL',
  'find_pii needs a side');
SELECT is((SELECT count(*)::int FROM tdm.mask), 0, 'no refused mask was recorded');

SELECT tdm.mask_column('tap_mk.person', 'email', 'email', '{"domain": "masked.test"}');
SELECT tdm.mask_column('tap_mk.person', 'full_name', 'hash', '{"length": 10}');
SELECT tdm.mask_column('tap_mk.person', 'phone', 'partial', '{"keep_last": 2, "mask_char": "#"}');
SELECT tdm.mask_column('tap_mk.person', 'born', 'date_shift', '{"days": 15}');
SELECT tdm.mask_column('tap_mk.person', 'code', 'constant', '{"value": "X"}');
SELECT is((SELECT count(*)::int FROM tdm.audit WHERE action = 'mask_column'), 5, 'each mask is in the audit trail');

-- Consolidation: the lock (taken over the rows as the environments hold
-- them) still matches, and Ann is found in both environments by her
-- masked email.
SELECT tdm.tag_release('MK1');
SELECT tdm.consolidate('MK1', 'tap_mk') AS run \gset
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run), 'completed', 'the masked release consolidates');
SELECT is((SELECT count(*)::int FROM tdm.conflict WHERE run_id = :run AND rel = 'tap_mk.person'::regclass
            AND members @> '[{"env": "mk1"}, {"env": "mk2"}]'), 1, 'the same email in two environments, spelt differently, masked, is one conflict (masked as detection compares it)');
SELECT is((SELECT count(*)::int FROM tap_mk.person), 3, 'three people loaded');
SELECT is((SELECT count(*)::int FROM tap_mk.person p
            WHERE p.email ILIKE '%corp.test%' OR p.email_lower ILIKE '%corp.test%'
               OR p.full_name LIKE '%Archer%' OR p.full_name LIKE '%Baker%' OR p.phone LIKE '%7946%'
               OR p.code <> 'X'), 0, 'no loaded row holds a value unmasked');
SELECT is((SELECT count(*)::int FROM tdm.conflict WHERE run_id = :run
            AND (members::text ILIKE '%corp.test%' OR members::text LIKE '%Archer%'
                 OR differing::text LIKE '%7946%')), 0,
  'no conflict member holds a value unmasked (the generated email_lower included)');
-- The conflict's members checksum hashes the rows as collected, unmasked,
-- and reviewers read it: keyed with the masks' secret, it cannot be used to
-- check guesses of a masked value.
SELECT tdm._mask_signature('tap_mk.person') AS keyed_signature \gset
SAVEPOINT other_key;
UPDATE tdm.mask_key SET secret = sha256('another key'::bytea);
SELECT isnt(tdm._mask_signature('tap_mk.person'), :'keyed_signature',
  'a masked table''s members checksum is keyed with the masks'' secret');
ROLLBACK TO SAVEPOINT other_key;
SELECT ok((SELECT bool_and(email ~ '^u[0-9a-f]{16}@masked\.test$' AND email_lower = lower(email)
                           AND char_length(full_name) = 10)
             FROM tap_mk.person), 'emails and names are replaced by keyed hashes of the lengths asked');
SELECT results_eq($$SELECT phone FROM tap_mk.person WHERE phone IS NOT NULL ORDER BY phone$$,
  $$VALUES ('##############01'::text), ('##############02')$$,
  'partial keeps the last two characters, the rest replaced with the character asked');
SELECT ok((SELECT bool_and(born <> date '1980-05-17' AND abs(born - date '1980-05-17') <= 15)
             FROM tap_mk.person WHERE born IS NOT NULL AND born < date '1980-12-31' AND born > date '1979-12-31'),
  'date_shift moves a date by at most the days asked, never by none');
SELECT is((SELECT count(*)::int FROM tap_mk.person WHERE full_name IS NULL AND phone IS NULL AND born IS NULL), 1,
  'NULL stays NULL');
-- (each its own: the phones' last two digits, which partial keeps, tell
-- Ann (01, mk2's copy merged into mk1's) from Bob (02))
SELECT results_eq($$SELECT v.id, right(p.phone, 2) FROM tap_mk.visit v JOIN tap_mk.person p ON p.id = v.person_id
                     ORDER BY v.id$$,
  $$VALUES (1, '01'), (2, '02'), (5, '01')$$,
  'the visits still reference their own people (keys are not masked)');

-- A value already masked stays as it is (rows refreshed from master into
-- an environment come back masked; masking them again would make them
-- differ from master's).
SELECT results_eq(
  $$SELECT tdm._mask_text(tdm._mask_text(v, spec, k), spec, k) = tdm._mask_text(v, spec, k)
      FROM (SELECT secret AS k FROM tdm.mask_key) x,
           (VALUES ('Ann@corp.test', '{"method": "email", "options": {"domain": "masked.test"}}'::jsonb),
                   ('Ann Archer', '{"method": "hash", "options": {"length": 10}}'),
                   ('+44 20 7946 0001', '{"method": "partial", "options": {"keep_first": 0, "keep_last": 2, "mask_char": "#"}}'))
           AS y(v, spec)$$,
  $$VALUES (true), (true), (true)$$,
  'masking a masked value again leaves it as it is (email, hash, partial)');
SELECT isnt(tdm._mask_text('4111111111111111', '{"method": "hash", "options": {"length": 16}}',
                           (SELECT secret FROM tdm.mask_key)),
            '4111111111111111', 'a number of the hash''s length is masked, not taken for a masked value');
-- date_shift picks its shift by the value, whatever the session's
-- DateStyle and TimeZone.
CREATE FUNCTION pg_temp.shifted(v date) RETURNS date LANGUAGE plpgsql AS $f$
DECLARE r date;
BEGIN
  EXECUTE format('SELECT %s FROM (SELECT $3::date AS born) t',
                 tdm._masked_value_sql('tap_mk.person', 'born', 't', 1, 2))
    INTO r USING (SELECT secret FROM tdm.mask_key), tdm._mask_specs('tap_mk.person'), v;
  RETURN r;
END $f$;
SELECT pg_temp.shifted('1980-05-17') AS iso_utc \gset
SET LOCAL DateStyle = 'SQL, DMY';
SET LOCAL TimeZone = 'Asia/Tokyo';
SELECT is(pg_temp.shifted('1980-05-17'), :'iso_utc'::date, 'date_shift gives the same date under other settings');
RESET DateStyle;
RESET TimeZone;

-- find_pii on this database: the columns found are masked.
SELECT results_eq($$SELECT column_name, masked_by FROM tdm.find_pii() WHERE masked_by IS NOT NULL ORDER BY 1$$,
  $$VALUES ('born', 'date_shift'), ('email', 'email'), ('email_lower', 'email'), ('full_name', 'hash'),
           ('phone', 'partial')$$,
  'find_pii says which columns found are masked, and by what (a generated column by the mask of what it reads)');

-- data_diff between an environment and this database leaves the masked
-- columns out (and email_lower, computed from one): only cy, and Dee of
-- the next release, differ.
SELECT results_eq($$SELECT key, kind FROM tdm.data_diff('tap_mk.person', 'mk1', 'local')$$,
  $$VALUES ('{"id": 8}'::jsonb, 'only_in_b'::text), ('{"id": 20}', 'only_in_a')$$,
  'data_diff against this database compares the columns that are not masked');

-- The lookup a rename's check makes in the environments (a definer's,
-- which reviewers call) does not look for a masked key: it would tell
-- which unmasked emails the environments hold.
SELECT is(tdm._key_in_release('tap_mk.person', '{id}', '{"id": 2}', 'MK1'), 'mk1',
  'the environments'' lookup finds an unmasked key');
SELECT is(tdm._key_in_release('tap_mk.person', '{email}', '{"email": "bob@corp.test"}', 'MK1'), NULL,
  'the environments'' lookup does not look for a masked key''s unmasked value');

SELECT tdm.unmask_column('tap_mk.person', 'code');
SELECT throws_ok($$SELECT tdm.unmask_column('tap_mk.person', 'code')$$, '42704',
  'unmask_column: tap_mk.person.code is not masked', 'a column that is not masked cannot be unmasked');

-- The next release, MK1 promoted into master: mk1 adds a visit to Bob,
-- still tagged MK1 there (his email masked in master, not in mk1), and
-- both environments add Dee under two features of equal priority, for a
-- reviewer to merge with a name typed in.
SELECT tdm.promote('MK1', 'tap_mk');
SELECT tdm.tag_release('MK2');
SELECT tdm.consolidate('MK2', 'tap_mk') AS run2 \gset
SELECT is((SELECT count(*)::int FROM tdm.review_queue WHERE release = 'MK2'), 1,
  'the reference to Bob of MK1 is not taken for another entity (his email compared masked); Dee waits for review');
SELECT tdm.resolve((SELECT conflict_id FROM tdm.review_queue WHERE release = 'MK2'), 'merge',
                   merged => '{"full_name": "Dee Real", "born": "1990-02-14"}', rationale => 'her real name and birthday');
SELECT tdm.consolidate('MK2', 'tap_mk');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run2), 'completed', 'MK2 consolidates after the merge');
SELECT ok((SELECT full_name ~ '^h[0-9a-f]{9}$' FROM tap_mk.person WHERE id = 20),
  'a value a reviewer typed into a masked column is loaded masked');
SELECT is((SELECT born FROM tap_mk.person WHERE id = 20), pg_temp.shifted('1990-02-14'),
  'a date a reviewer typed into a date_shift column is loaded shifted, as collected dates are');
SELECT is(tdm._shift_typed('tap_mk.person', '{"born": "2001-01-01", "full_name": "x"}',
                           '[{"env": "mk1", "row": {"born": "2001-01-01"}}, {"env": "mk2", "row": {"born": null}}]'),
  '{"born": "2001-01-01", "full_name": "x"}'::jsonb,
  'a date one of the members has (shown shifted) is not shifted again');

-- MK2 promoted, a mask changed since makes its decided conflict stale:
-- consolidating it again is refused (a promoted release takes no
-- decision), and its run stays completed.
SELECT tdm.promote('MK2', 'tap_mk');
SELECT tdm.mask_column('tap_mk.person', 'phone', 'partial', '{"keep_last": 2}');
SELECT throws_like($$SELECT tdm.consolidate('MK2', 'tap_mk')$$,
  'consolidate: release MK2 is promoted, and collected again its rows give 1 conflict(s) to review (1 stale%',
  'a promoted release whose conflicts would wait for review is not consolidated again');
SELECT matches(pg_temp.hint_of($$SELECT tdm.consolidate('MK2', 'tap_mk')$$),
  '^Since the release was consolidated \(see tdm\.audit\): a mask declared on tap_mk\.person\.phone\. Undo that',
  'its HINT names the mask declared since');
SELECT is((SELECT status FROM tdm.run WHERE run_id = :run2), 'completed', 'and its run stays completed');

-- A registration the table's masks would no longer fit (phone, masked
-- partially, made a natural key) is refused by manage_table itself, not
-- at the next collection, and leaves the registration as it was.
SELECT throws_like($$SELECT tdm.manage_table('tap_mk.person', '{email,phone}', normalize_keys => true)$$,
  'manage_table: the mask of tap_mk.person.phone (partial) no longer applies: %',
  'a natural key its column''s mask does not fit is refused when it is registered');
SELECT is((SELECT natural_keys FROM tdm.managed_table WHERE rel = 'tap_mk.person'::regclass), '{email}',
  'and the registration stays as it was');

-- A mask the table no longer allows (phone made unique since) stops the
-- collection, naming it.
CREATE UNIQUE INDEX ON tap_mk.person (phone);
CREATE TEMP TABLE collected_again AS SELECT * FROM tap_mk.person;
SELECT throws_like($$SELECT tdm._apply_masks('tap_mk.person', 'pg_temp.collected_again')$$,
  '%the mask of tap_mk.person.phone (partial) no longer applies: phone is part of a unique index%',
  'a mask that no longer fits its table stops the collection');

-- The categories' patterns (p305): a name about email that holds none is
-- not an email column; an IBAN as printed, and an IPv6 address, are
-- values of their kind.
SELECT results_eq(
  $$SELECT n, n ~* c.name_pattern FROM tdm._pii_categories() c,
           unnest('{email,e_mail,work_email,email_address,email2,email_lower,email_count,emailed_at,email_sent_on,email_verified}'::text[]) WITH ORDINALITY AS u(n, o)
     WHERE c.category = 'email' ORDER BY o$$,
  $$VALUES ('email', true), ('e_mail', true), ('work_email', true), ('email_address', true), ('email2', true),
           ('email_lower', true), ('email_count', false), ('emailed_at', false), ('email_sent_on', false),
           ('email_verified', false)$$,
  'email names: an address''s, not a count''s, a time''s or a flag''s');
SELECT results_eq(
  $$SELECT v, v ~ c.value_pattern FROM tdm._pii_categories() c,
           unnest('{GB82WEST12345698765432,"GB82 WEST 1234 5698 7654 32",gb82west12345698765432,GB82}'::text[]) WITH ORDINALITY AS u(v, o)
     WHERE c.category = 'iban' ORDER BY o$$,
  $$VALUES ('GB82WEST12345698765432', true), ('GB82 WEST 1234 5698 7654 32', true),
           ('gb82west12345698765432', true), ('GB82', false)$$,
  'IBANs compact, as printed and lower-cased');
SELECT results_eq(
  $$SELECT v, tdm._iban_valid(v) FROM unnest('{GB82WEST12345698765432,"GB82 WEST 1234 5698 7654 32","DE89 3704 0044 0532 0130 00","AB12 3456 7890 0001",PO2000000000001}'::text[]) WITH ORDINALITY AS u(v, o) ORDER BY o$$,
  $$VALUES ('GB82WEST12345698765432', true), ('GB82 WEST 1234 5698 7654 32', true),
           ('DE89 3704 0044 0532 0130 00', true), ('AB12 3456 7890 0001', false), ('PO2000000000001', false)$$,
  'the IBAN check (modulo 97) tells IBANs from codes of their shape');
SELECT results_eq(
  $$SELECT v, v ~ c.value_pattern FROM tdm._pii_categories() c,
           unnest('{10.0.0.1,2001:db8::1,fe80:0:0:0:202:b3ff:fe1e:8329,12:30:00,::1}'::text[]) WITH ORDINALITY AS u(v, o)
     WHERE c.category = 'ip_address' ORDER BY o$$,
  $$VALUES ('10.0.0.1', true), ('2001:db8::1', true), ('fe80:0:0:0:202:b3ff:fe1e:8329', true), ('12:30:00', false),
           ('::1', true)$$,
  'IPv4 and IPv6 addresses, not a time of day');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_mk_e1, tap_mk_e2 CASCADE;
