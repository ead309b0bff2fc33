-- A release's or feature's name with a character that does not show (a
-- zero-width space, a soft hyphen, a direction mark, a control
-- character) is refused: "R<zero-width space>1" reads as R1 to whoever
-- types a tag, and the lookalike check, which folds case and Unicode
-- forms, does not see it.
BEGIN;
SELECT plan(5);
SET client_min_messages = warning;

SELECT tdm.create_release('TRN1');
SELECT throws_ok(format('SELECT tdm.create_release(%L)', 'TRN' || chr(8203) || '1'), '22023',
                 format('release name %L holds U+200B, a character that does not show (a control, zero-width or'
                        ' direction character)', 'TRN' || chr(8203) || '1'),
                 'a zero-width space is refused, named by its code point');
SELECT throws_ok(format('SELECT tdm.create_release(%L)', 'TRN1' || chr(173)), '22023', NULL,
                 'a soft hyphen is refused');
SELECT throws_ok(format('SELECT tdm.create_release(%L)', chr(8234) || 'TRN1'), '22023', NULL,
                 'a direction mark is refused');
SELECT throws_ok(format('SELECT tdm.create_release(%L)', 'TRN' || chr(7) || '1'), '22023', NULL,
                 'a control character is refused');
SELECT throws_ok(format('SELECT tdm.add_feature(%L, %L, 1)', 'TRN1', 'F' || chr(8204) || '1'), '22023', NULL,
                 'and so are they in a feature''s name');

SELECT * FROM finish();
ROLLBACK;
