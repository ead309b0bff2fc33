-- Promoting after master changed under a consolidated release. A rollback
-- that changed which runs of another release master holds refuses it,
-- even a release created before that one (its rows may have been matched
-- with master's rows of any release); consolidated again, it is
-- promoted. Rows a release references, of a release
-- promoted into master and deleted from master by hand since, are named
-- as such, with what to do (not "promote it first", which is refused).
-- A snapshot whose copy was dropped from tdm_snapshot is refused at the
-- call, naming the snapshot and the copy; nothing changes.
BEGIN;
SELECT plan(12);
\ir ../../sql/include/loopback.sql
\ir ../../sql/include/errors.sql
SET client_min_messages = warning;

-- Release PAR_A's part 1; PAR_B's line references it; PAR_C's part 3 and
-- PAR_D's line 5 (references part 1 too).
SELECT dblink_exec(pg_temp.conninfo(current_database()), $$
  CREATE SCHEMA tap_par_e1;
  CREATE TABLE tap_par_e1.par_part (id int PRIMARY KEY, code text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
  CREATE TABLE tap_par_e1.par_line (id int PRIMARY KEY, part_id int NOT NULL REFERENCES tap_par_e1.par_part,
                                    tdm_release text, tdm_feature text);
  INSERT INTO tap_par_e1.par_part VALUES (1, 'P1', 'PAR_A', 'F'), (3, 'P3', 'PAR_C', 'F');
  INSERT INTO tap_par_e1.par_line VALUES (2, 1, 'PAR_B', 'F'), (5, 1, 'PAR_D', 'F')$$) \g /dev/null
SELECT pg_temp.loopback_server('tap_par_self');
CREATE TABLE staging.par_part (id int PRIMARY KEY, code text NOT NULL UNIQUE, tdm_release text, tdm_feature text);
CREATE TABLE staging.par_line (id int PRIMARY KEY, part_id int NOT NULL REFERENCES staging.par_part,
                               tdm_release text, tdm_feature text);
SELECT tdm.add_environment('par1', 'tap_par_self', 10, 'tap_par_e1');
SELECT tdm.manage_table('staging.par_part', '{code}'), tdm.manage_table('staging.par_line');
SELECT tdm.create_release('PAR_A'), tdm.create_release('PAR_B', parent => 'PAR_A'),
       tdm.create_release('PAR_C', parent => 'PAR_B'), tdm.create_release('PAR_D', parent => 'PAR_C');
SELECT tdm.add_feature(r, 'F', 1) FROM unnest('{PAR_A,PAR_B,PAR_C,PAR_D}'::text[]) AS r;
UPDATE tdm.release SET created_at = created_at - (4 - n) * interval '1 hour'
  FROM unnest('{PAR_A,PAR_B,PAR_C,PAR_D}'::text[]) WITH ORDINALITY AS x(r, n) WHERE release = x.r;

SELECT tdm.tag_release('PAR_A'), tdm.consolidate('PAR_A'), tdm.promote('PAR_A');
SELECT tdm.tag_release('PAR_B'), tdm.consolidate('PAR_B');
SELECT tdm.tag_release('PAR_C'), tdm.consolidate('PAR_C');
-- PAR_C in and out of master twice, the second time with a new run: the
-- last rollback puts PAR_C's first run back, failing its second.
SELECT tdm.snapshot('par before C') AS before_c \gset
SELECT tdm.promote('PAR_C');
SELECT tdm.snapshot('par C in master') AS c_in \gset
SELECT tdm.rollback(:before_c);
SELECT tdm.consolidate('PAR_C');
SELECT tdm.promote('PAR_C');
SELECT tdm.rollback(:c_in);
SELECT ok((SELECT j.detail -> 'runs' FROM tdm.job j WHERE j.kind = 'rollback' ORDER BY j.job_id DESC LIMIT 1)
            IS NOT NULL,
          'the last rollback changed which of PAR_C''s runs master holds');
SELECT throws_ok($$SELECT tdm.promote('PAR_B')$$, '55000', NULL,
                 'PAR_B, created before PAR_C, is refused still: its rows may reference master''s rows of any release');
SELECT tdm.consolidate('PAR_B');
SELECT lives_ok($$SELECT tdm.promote('PAR_B')$$, 'consolidated again, it is promoted');
SELECT is((SELECT p.code FROM master.par_line l JOIN master.par_part p ON p.id = l.part_id WHERE l.id = 2), 'P1',
          'its line references PAR_A''s part in master');

-- PAR_D's line references PAR_A's part, which is then deleted from
-- master by hand (its line of PAR_B first).
SELECT tdm.tag_release('PAR_D'), tdm.consolidate('PAR_D');
DELETE FROM master.par_line WHERE part_id = 1;
DELETE FROM master.par_part WHERE id = 1;
SELECT throws_ok($$SELECT tdm.promote('PAR_D')$$, '23503', NULL,
                 'a release referencing a row deleted from master is refused');
SELECT is(pg_temp.hint_of($$SELECT tdm.promote('PAR_D')$$),
          'The rows it references are in staging, of release PAR_A, promoted into master, which no longer holds'
          ' them: they were deleted from master since. Put them back into master (copy them from staging, or'
          ' roll master back to a snapshot that holds them: tdm.snapshot), then promote PAR_D again.',
          'the HINT says the rows were deleted from master, and how to put them back');
INSERT INTO master.par_part SELECT * FROM staging.par_part WHERE id = 1;
SELECT lives_ok($$SELECT tdm.promote('PAR_D')$$, 'as the HINT says, the row copied back: PAR_D is promoted');
SELECT results_eq($$SELECT l.id, l.tdm_release, p.code FROM master.par_line l JOIN master.par_part p ON p.id = l.part_id
                     ORDER BY l.id$$,
                  $$VALUES (5, 'PAR_D', 'P1')$$,
                  'master holds PAR_D''s line, referencing the part copied back (PAR_B''s line stays deleted)');

-- A snapshot's copy dropped from tdm_snapshot by hand.
SELECT tdm.snapshot('par copy dropped') AS dropped \gset
SELECT format('DROP TABLE %s', x.storage) FROM tdm.snapshot_table x
 WHERE x.snapshot_id = :dropped AND x.rel = 'master.par_part'::regclass \gexec
SELECT count(*) AS jobs FROM tdm.job \gset
UPDATE master.par_part SET code = 'P3x' WHERE id = 3;
SELECT throws_ok(format('SELECT tdm.rollback(%s)', :dropped), '42P01',
                 format('rollback: snapshot %s (''par copy dropped'') cannot be restored: its copies'
                        ' tdm_snapshot.s%s_par_part (of master.par_part) were dropped', :dropped, :dropped),
                 'a rollback to a snapshot whose copy was dropped is refused, naming the snapshot and the copy');
SELECT throws_ok(format('SELECT tdm.rollback(%s, wait => false)', :dropped), '42P01', NULL,
                 'in the call, in the background too');
SELECT is((SELECT count(*) FROM tdm.job), :jobs::bigint, 'no job was started');
SELECT is((SELECT code FROM master.par_part WHERE id = 3), 'P3x', 'and master is as it was');

SELECT * FROM finish();
ROLLBACK;
SET client_min_messages = warning;
DROP SCHEMA tap_par_e1 CASCADE;
