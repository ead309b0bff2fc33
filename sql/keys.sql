-- Keys over two releases (R41, R42), on shapes the scenario lacks: a
-- task keyed by its project and number that deliveries reference by
-- another unique key (project and sku), and staff that reference their
-- manager in the same table. Both environments number their rows from 1.
-- It runs in a consolidation database of its own, beside the release story
-- (Makefile): the scenario's environments, registered as setup does; qa, a
-- target no release here is consolidated into; and an approver of its own
-- (roles are the cluster's: not one another suite makes meanwhile).
\set SHOW_CONTEXT never
\o /dev/null
SELECT tdm.add_environment('st1', 'st1', 10), tdm.add_environment('st2', 'st2', 20),
       tdm.add_environment('st3', 'st3', 30);
\o
SELECT name, server, precedence FROM tdm.environment ORDER BY precedence;
CREATE EXTENSION IF NOT EXISTS dblink;
CREATE SCHEMA qa;
CREATE ROLE tdm_keys_approver IN ROLE tdm_reviewer;
CREATE SCHEMA keys_st1;
CREATE SCHEMA keys_st2;
IMPORT FOREIGN SCHEMA public LIMIT TO (projects, tasks, deliveries, staff) FROM SERVER st1 INTO keys_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (projects, tasks, deliveries, staff) FROM SERVER st2 INTO keys_st2;
SELECT tdm.manage_table('staging.projects', '{name}', surrogate_key => true);
SELECT tdm.manage_table('staging.tasks');
SELECT tdm.manage_table('staging.deliveries', surrogate_key => true);
SELECT tdm.manage_table('staging.staff', '{email}', surrogate_key => true);
SELECT tdm.create_release('R41', 'v41.0');
SELECT tdm.add_feature('R41', 'FEAT-4101', 1);
SELECT tdm.create_release('R42', 'v42.0', 'R41');
SELECT tdm.add_feature('R42', 'FEAT-4201', 1);

-- R41: project 1 is Apollo in st1 and Zeus in st2, and staff 1 is ann in
-- st1 and dan in st2: st2's are re-keyed. st2's delivery references its
-- task by project and sku: it follows the task to Zeus's new id.
INSERT INTO keys_st1.projects VALUES (1, 'Apollo', 'R41', 'FEAT-4101');
INSERT INTO keys_st2.projects VALUES (1, 'Zeus', 'R41', 'FEAT-4101');
INSERT INTO keys_st1.tasks VALUES (1, 1, 'apollo task', 'S3', 'R41', 'FEAT-4101');
INSERT INTO keys_st2.tasks VALUES (1, 5, 'zeus task', 'S3', 'R41', 'FEAT-4101');
INSERT INTO keys_st1.deliveries VALUES (1, 1, 'S3', 5, 'R41', 'FEAT-4101');
INSERT INTO keys_st2.deliveries VALUES (2, 1, 'S3', 8, 'R41', 'FEAT-4101');
INSERT INTO keys_st1.staff VALUES (1, 'ann@x', NULL, 'R41', 'FEAT-4101');
INSERT INTO keys_st2.staff VALUES (1, 'dan@x', NULL, 'R41', 'FEAT-4101');
SELECT tdm.tag_release('R41') IS NOT NULL AS tagged;
SET client_min_messages = warning;
SELECT tdm.consolidate('R41') AS run \gset
SELECT tdm.promote('R41') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :run;
SELECT rel, env, old_key, new_key, reason FROM tdm.key_map WHERE run_id = :run ORDER BY rel::text, env;
SELECT d.id, d.qty, p.name AS project, t.title FROM master.deliveries d
  JOIN master.tasks t USING (project_id, sku) JOIN master.projects p ON p.id = t.project_id ORDER BY d.id;

-- R42: st2 numbers its new project Hera 2, the id R41 gave Zeus, and adds
-- a task to each: Zeus's (1, 1) in st2 is (2, 1) in master, while Hera's
-- own (2, 1) goes to Hera's new id. Neither is taken for the other. A
-- delivery references Zeus's new task by sku. st2's new staff hal (2,
-- dan's id in master) and ivy both report to st2's dan (1): both get
-- dan's id, and hal's own new id is not taken for his manager's.
INSERT INTO keys_st2.projects VALUES (2, 'Hera', 'R42', 'FEAT-4201');
INSERT INTO keys_st2.tasks VALUES (2, 1, 'hera task', 'S1', 'R42', 'FEAT-4201'),
                                  (1, 1, 'zeus task 2', 'S4', 'R42', 'FEAT-4201');
INSERT INTO keys_st2.deliveries VALUES (3, 1, 'S4', 2, 'R42', 'FEAT-4201');
INSERT INTO keys_st2.staff VALUES (2, 'hal@x', 1, 'R42', 'FEAT-4201'), (3, 'ivy@x', 1, 'R42', 'FEAT-4201');
SELECT tdm.tag_release('R42') IS NOT NULL AS tagged;
SET client_min_messages = warning;
SELECT tdm.consolidate('R42') AS run \gset
RESET client_min_messages;
SELECT status, rows_collected, rows_loaded, rows_merged FROM tdm.run WHERE run_id = :run;
SELECT rel, env, old_key, new_key, reason FROM tdm.key_map WHERE run_id = :run ORDER BY rel::text, env, old_key::text;
SELECT p.name AS project, t.title, t.sku FROM staging.tasks t JOIN staging.projects p ON p.id = t.project_id
 WHERE t.tdm_release = 'R42' ORDER BY t.title;
SELECT d.id, d.qty, p.name AS project, t.title FROM staging.deliveries d
  JOIN staging.tasks t USING (project_id, sku) JOIN staging.projects p ON p.id = t.project_id
 WHERE d.tdm_release = 'R42';
SELECT s.email, m.email AS manager FROM staging.staff s LEFT JOIN staging.staff m ON m.id = s.manager_id
 WHERE s.tdm_release = 'R42' ORDER BY s.email;

-- Bad input: promoting R42 from a target it was not consolidated into.
SELECT tdm.promote('R42', 'qa');
-- Bad input: staging no longer holds what R42's run loaded (a row deleted
-- there; a rollback of staging does the same): promote refuses, and a
-- consolidation again puts the rows back.
DELETE FROM staging.deliveries WHERE tdm_release = 'R42';
SELECT tdm.promote('R42');
SET client_min_messages = warning;
SELECT tdm.consolidate('R42') = :run AS same_run;
SELECT tdm.promote('R42') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT count(*) AS deliveries FROM master.deliveries WHERE tdm_release = 'R42';

-- Bad input: two sessions promote R43 at once. The second waits for the
-- first, then is refused as a release already in master (not a raw
-- duplicate key error from the copy).

\ir sql/include/sessions.sql
\ir sql/include/second_waits.sql
SELECT tdm.create_release('R43', 'v43.0', 'R42');
SELECT tdm.add_feature('R43', 'FEAT-4301', 1);
INSERT INTO keys_st1.staff VALUES (43, 'kim@x', NULL, 'R43', 'FEAT-4301');
SET client_min_messages = warning;
SELECT tdm.tag_release('R43') IS NOT NULL AS tagged, tdm.consolidate('R43') IS NOT NULL AS consolidated;
RESET client_min_messages;
SELECT pg_temp.second_waits($$SELECT tdm.promote('R43')$$, $$SELECT tdm.promote('R43')$$);
SELECT status FROM tdm.release WHERE release = 'R43';

-- An environment gives a key again: R44 merges st2's project 100 into
-- st1's 200 (one name); st2 then deletes it and numbers its new project
-- Gaia 100 (R45, loaded as 100). R46's task of st2's project 100 is
-- Gaia's: the map of R44 speaks of the row st2 had then.
SELECT tdm.create_release('R44', 'v44.0', 'R43'), tdm.create_release('R45', 'v45.0', 'R44'),
       tdm.create_release('R46', 'v46.0', 'R45');
SELECT tdm.add_feature(r, 'FEAT-' || r, 1) FROM unnest('{R44,R45,R46}'::text[]) AS r;
INSERT INTO keys_st1.projects VALUES (200, 'Apollo 2', 'R44', 'FEAT-R44');
INSERT INTO keys_st2.projects VALUES (100, 'Apollo 2', 'R44', 'FEAT-R44');
SET client_min_messages = warning;
SELECT tdm.tag_release('R44') IS NOT NULL AS tagged, tdm.consolidate('R44') IS NOT NULL AS consolidated,
       tdm.promote('R44') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT env, old_key, new_key, reason FROM tdm.key_map k JOIN tdm.run r USING (run_id) WHERE r.release = 'R44';
DELETE FROM keys_st2.projects WHERE id = 100;
INSERT INTO keys_st2.projects VALUES (100, 'Gaia', 'R45', 'FEAT-R45');
SET client_min_messages = warning;
SELECT tdm.tag_release('R45') IS NOT NULL AS tagged, tdm.consolidate('R45') IS NOT NULL AS consolidated,
       tdm.promote('R45') IS NOT NULL AS promoted;
RESET client_min_messages;
INSERT INTO keys_st2.tasks VALUES (100, 7, 'gaia task', 'S7', 'R46', 'FEAT-R46');
-- Bad input first: with R45 archived, its row is out of master: refused,
-- naming it.
SELECT tdm.archive_release('R45');
-- (an archived release is not tagged: its rows are in tdm_archive)
SELECT tdm.tag_release('R45');
SET client_min_messages = warning;
SELECT tdm.tag_release('R46') IS NOT NULL AS tagged;
RESET client_min_messages;
SELECT tdm.consolidate('R46');
SELECT tdm.restore_release('R45');
SET client_min_messages = warning;
SELECT tdm.consolidate('R46') IS NOT NULL AS consolidated;
RESET client_min_messages;
SELECT t.title, p.name FROM staging.tasks t JOIN staging.projects p ON p.id = t.project_id
 WHERE t.tdm_release = 'R46';

-- A later release's delivery of st2 references st2's task of R41 by
-- (project 1, S3): that task was in no conflict, only re-pointed with its
-- project to (2, S3); the delivery follows it there (Zeus's task), not to
-- st1's task that has (1, S3).
SELECT tdm.create_release('R47', 'v47.0', 'R46');
SELECT tdm.add_feature('R47', 'FEAT-4701', 1);
INSERT INTO keys_st2.deliveries VALUES (47, 1, 'S3', 6, 'R47', 'FEAT-4701');
SET client_min_messages = warning;
SELECT tdm.tag_release('R47') IS NOT NULL AS tagged, tdm.consolidate('R47') IS NOT NULL AS consolidated;
RESET client_min_messages;
SELECT d.id, p.name AS project, t.title FROM staging.deliveries d
  JOIN staging.tasks t USING (project_id, sku) JOIN staging.projects p ON p.id = t.project_id
 WHERE d.tdm_release = 'R47';

-- A non-conflicting merge copies the values it fills in as the other
-- environment has them: 1.50 keeps its scale, a json text its spelling
-- (a key twice included), -0 its sign.
IMPORT FOREIGN SCHEMA public LIMIT TO (gauges) FROM SERVER st1 INTO keys_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (gauges) FROM SERVER st2 INTO keys_st2;
SELECT tdm.manage_table('staging.gauges');
SELECT tdm.create_release('R48', 'v48.0', 'R47');
SELECT tdm.add_feature('R48', 'FEAT-4801', 1);
INSERT INTO keys_st1.gauges VALUES (1, NULL, NULL, NULL, 'R48', 'FEAT-4801');
INSERT INTO keys_st2.gauges VALUES (1, 1.50, '{"a": 1,  "a": 2}', '-0', 'R48', 'FEAT-4801');
SET client_min_messages = warning;
SELECT tdm.tag_release('R48') IS NOT NULL AS tagged, tdm.consolidate('R48') IS NOT NULL AS consolidated;
RESET client_min_messages;
SELECT rule FROM tdm.conflict WHERE rel = 'staging.gauges'::regclass;
SELECT reading, spec, delta FROM staging.gauges WHERE tdm_release = 'R48';

-- st2 tags its dan (R41's, re-keyed 1 -> 2 then) for R47 after R47's
-- consolidation: R47 never loaded him, so R41's map still answers. A new
-- staff member of R49 who reports to st2's 1 reports to dan, not to st1's
-- ann (id 1).
UPDATE keys_st2.staff SET tdm_release = 'R47', tdm_feature = 'FEAT-4701' WHERE id = 1;
SELECT tdm.create_release('R49', 'v49.0', 'R48');
SELECT tdm.add_feature('R49', 'FEAT-4901', 1);
INSERT INTO keys_st2.staff VALUES (49, 'liv@x', 1, 'R49', 'FEAT-4901');
SET client_min_messages = warning;
SELECT tdm.tag_release('R49') IS NOT NULL AS tagged, tdm.consolidate('R49') IS NOT NULL AS consolidated;
RESET client_min_messages;
SELECT s.email, m.email AS manager FROM staging.staff s JOIN staging.staff m ON m.id = s.manager_id
 WHERE s.tdm_release = 'R49';

-- Join tables of two re-keyed parents (R50). st2's bob and its squad Blue
-- take the ids st1's ann and Red have; st2's ann (2) is st1's ann. A
-- seat's key (person, squad) changes with both parents, and its hours
-- follow both changes: (1, 1) is bob's Blue seat, (2, 1) ann's, not
-- someone else's (their person_id, translated first on its own, is not
-- taken for the seat's key then: ann's (2, 1) would read as bob's (1, 1)).
-- Role 7 is ann's in Red in st1 and in Blue in st2: st1's wins, so the
-- note on st2's ann-in-Blue role follows that role to the one kept, ann in
-- Red (its pair changed twice, then its row merged away).
IMPORT FOREIGN SCHEMA public LIMIT TO (people, squads, seats, seat_hours, squad_roles, role_notes)
  FROM SERVER st1 INTO keys_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (people, squads, seats, seat_hours, squad_roles, role_notes)
  FROM SERVER st2 INTO keys_st2;
SELECT tdm.manage_table('staging.people', '{email}', surrogate_key => true);
SELECT tdm.manage_table('staging.squads', '{name}', surrogate_key => true);
SELECT tdm.manage_table('staging.seats');
SELECT tdm.manage_table('staging.seat_hours', surrogate_key => true);
SELECT tdm.manage_table('staging.squad_roles');
SELECT tdm.manage_table('staging.role_notes', surrogate_key => true);
SELECT tdm.create_release('R50', 'v50.0', 'R49');
SELECT tdm.add_feature('R50', 'FEAT-5001', 1);
INSERT INTO keys_st1.people VALUES (1, 'ann@x', 'R50', 'FEAT-5001');
INSERT INTO keys_st1.squads VALUES (1, 'Red', 'R50', 'FEAT-5001');
INSERT INTO keys_st1.seats VALUES (1, 1, 'R50', 'FEAT-5001');
INSERT INTO keys_st1.seat_hours VALUES (1, 1, 1, 10, 'R50', 'FEAT-5001');
INSERT INTO keys_st1.squad_roles VALUES (7, 1, 1, 'lead', 'R50', 'FEAT-5001');
INSERT INTO keys_st1.role_notes VALUES (1, 1, 1, 'ann in Red', 'R50', 'FEAT-5001');
INSERT INTO keys_st2.people VALUES (1, 'bob@x', 'R50', 'FEAT-5001'), (2, 'ann@x', 'R50', 'FEAT-5001');
INSERT INTO keys_st2.squads VALUES (1, 'Blue', 'R50', 'FEAT-5001');
INSERT INTO keys_st2.seats VALUES (1, 1, 'R50', 'FEAT-5001'), (2, 1, 'R50', 'FEAT-5001');
INSERT INTO keys_st2.seat_hours VALUES (1, 1, 1, 20, 'R50', 'FEAT-5001'), (2, 2, 1, 30, 'R50', 'FEAT-5001');
INSERT INTO keys_st2.squad_roles VALUES (7, 2, 1, 'member', 'R50', 'FEAT-5001'),
                                        (8, 1, 1, 'lead', 'R50', 'FEAT-5001');
INSERT INTO keys_st2.role_notes VALUES (1, 2, 1, 'ann in Blue', 'R50', 'FEAT-5001'),
                                       (2, 1, 1, 'bob in Blue', 'R50', 'FEAT-5001');
SET client_min_messages = warning;
SELECT tdm.tag_release('R50') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R50') AS run \gset
RESET client_min_messages;
SELECT status, rows_collected, rows_loaded, rows_merged FROM tdm.run WHERE run_id = :run;
-- One key map entry per seat, from st2's key to the final one.
SELECT env, old_key, new_key, reason FROM tdm.key_map
 WHERE run_id = :run AND rel = 'staging.seats'::regclass ORDER BY old_key::text;
SELECT p.email, q.name, h.minutes FROM staging.seat_hours h
  JOIN staging.people p ON p.id = h.person_id JOIN staging.squads q ON q.id = h.squad_id
 ORDER BY h.minutes;
SELECT p.email, q.name, r.role, n.note FROM staging.role_notes n
  JOIN staging.squad_roles r USING (person_id, squad_id)
  JOIN staging.people p ON p.id = n.person_id JOIN staging.squads q ON q.id = n.squad_id
 ORDER BY n.note;

-- The review queue's related rows count the children of a member re-keyed
-- apart from another entity that had its key (R51): st2's eve (71) takes
-- st1's fay's id, so she gets a new one, and st2's gus, who reports to
-- her, is counted as hers. Her two copies differ (ann or dan manages her)
-- under features of equal priority: a reviewer decides.
SELECT tdm.create_release('R51', 'v51.0', 'R50');
SELECT tdm.add_feature('R51', 'FEAT-5101', 1), tdm.add_feature('R51', 'FEAT-5102', 1);
INSERT INTO keys_st1.staff VALUES (70, 'eve@x', 1, 'R51', 'FEAT-5101'), (71, 'fay@x', NULL, 'R51', 'FEAT-5101');
INSERT INTO keys_st2.staff VALUES (71, 'eve@x', 1, 'R51', 'FEAT-5102'), (72, 'gus@x', 71, 'R51', 'FEAT-5102');
SET client_min_messages = warning;
SELECT tdm.tag_release('R51') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R51') AS run \gset
RESET client_min_messages;
SELECT priority, members -> 1 ->> 'env' AS second, related FROM tdm.review_queue WHERE release = 'R51';
SELECT tdm.resolve(conflict_id, 'keep', keep_env => 'st2', rationale => 'st2 knows her manager')
  FROM tdm.review_queue WHERE release = 'R51';
SET client_min_messages = warning;
SELECT tdm.consolidate('R51') = :run AS same_run;
RESET client_min_messages;
SELECT s.email, m.email AS manager FROM staging.staff s JOIN staging.staff m ON m.id = s.manager_id
 WHERE s.tdm_release = 'R51' ORDER BY 1;

-- A reference cycle is entered at the table whose rows a natural key tells
-- apart (R52): crews by name, before captains, whose rows are alike in
-- both environments but for their crew (st1's Red and st2's Blue are both
-- crew 1 with captain 1). Each crew keeps its own captain. The captains'
-- natural key (crew, since) holds a reference into the cycle, still each
-- environment's own crew id: it does not make them the entry.
IMPORT FOREIGN SCHEMA public LIMIT TO (crews, captains) FROM SERVER st1 INTO keys_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (crews, captains) FROM SERVER st2 INTO keys_st2;
SELECT tdm.manage_table('staging.crews', '{name}', surrogate_key => true);
SELECT tdm.manage_table('staging.captains', '{"crew_id,since"}', surrogate_key => true);
SELECT tdm.create_release('R52', 'v52.0', 'R51');
SELECT tdm.add_feature('R52', 'FEAT-5201', 1);
INSERT INTO keys_st1.crews VALUES (1, 'Red', NULL, 'R52', 'FEAT-5201');
INSERT INTO keys_st2.crews VALUES (1, 'Blue', NULL, 'R52', 'FEAT-5201');
INSERT INTO keys_st1.captains VALUES (1, 1, 2020, 'R52', 'FEAT-5201');
INSERT INTO keys_st2.captains VALUES (1, 1, 2020, 'R52', 'FEAT-5201');
UPDATE keys_st1.crews SET captain_id = 1;
UPDATE keys_st2.crews SET captain_id = 1;
SET client_min_messages = warning;
SELECT tdm.tag_release('R52') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R52') AS run \gset
RESET client_min_messages;
SELECT status, rows_collected, rows_loaded, rows_merged FROM tdm.run WHERE run_id = :run;
SELECT c.name, k.since, (SELECT x.name FROM staging.crews x WHERE x.id = k.crew_id) AS captain_of
  FROM staging.crews c JOIN staging.captains k ON k.id = c.captain_id ORDER BY 1;

-- The environment's values, not the ones its parents gave a row (R53):
-- st2's eli (11) takes st1's cat's id and is re-keyed; st2's cat (12) is
-- st1's cat (11). st2's role 17, cat in Pink, now reads (11, Pink), which
-- is eli's pair in st2; it loses to st1's role 17 (cat in Green). eli's
-- note on (11, Pink) stays on eli's own role, and cat's follows hers to
-- Green. A log whose medal code is NULL references no medal: it keeps its
-- person, cat (medal 7 of st2's cat loses to st1's medal 7, dan's, both
-- without a code: the log does not follow it to dan).
IMPORT FOREIGN SCHEMA public LIMIT TO (medals, medal_logs) FROM SERVER st1 INTO keys_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (medals, medal_logs) FROM SERVER st2 INTO keys_st2;
SELECT tdm.manage_table('staging.medals');
SELECT tdm.manage_table('staging.medal_logs', surrogate_key => true);
SELECT tdm.create_release('R53', 'v53.0', 'R52');
SELECT tdm.add_feature('R53', 'FEAT-5301', 1);
INSERT INTO keys_st1.people VALUES (11, 'cat@x', 'R53', 'FEAT-5301'), (13, 'dan@y', 'R53', 'FEAT-5301');
INSERT INTO keys_st1.squads VALUES (11, 'Green', 'R53', 'FEAT-5301');
INSERT INTO keys_st1.squad_roles VALUES (17, 11, 11, 'lead', 'R53', 'FEAT-5301');
INSERT INTO keys_st1.medals VALUES (7, 13, NULL, 'R53', 'FEAT-5301');
INSERT INTO keys_st2.people VALUES (11, 'eli@x', 'R53', 'FEAT-5301'), (12, 'cat@x', 'R53', 'FEAT-5301');
INSERT INTO keys_st2.squads VALUES (15, 'Pink', 'R53', 'FEAT-5301');
INSERT INTO keys_st2.squad_roles VALUES (17, 12, 15, 'member', 'R53', 'FEAT-5301'),
                                        (18, 11, 15, 'lead', 'R53', 'FEAT-5301');
INSERT INTO keys_st2.role_notes VALUES (11, 12, 15, 'cat in Pink', 'R53', 'FEAT-5301'),
                                       (12, 11, 15, 'eli in Pink', 'R53', 'FEAT-5301');
INSERT INTO keys_st2.medals VALUES (7, 12, NULL, 'R53', 'FEAT-5301');
INSERT INTO keys_st2.medal_logs VALUES (1, 12, NULL, 'R53', 'FEAT-5301');
SET client_min_messages = warning;
SELECT tdm.tag_release('R53') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R53') AS run \gset
RESET client_min_messages;
SELECT status, rows_collected, rows_loaded, rows_merged FROM tdm.run WHERE run_id = :run;
SELECT n.note, p.email, q.name, r.role FROM staging.role_notes n
  JOIN staging.squad_roles r USING (person_id, squad_id)
  JOIN staging.people p ON p.id = n.person_id JOIN staging.squads q ON q.id = n.squad_id
 WHERE n.tdm_release = 'R53' ORDER BY 1;
SELECT l.id, p.email, l.code FROM staging.medal_logs l JOIN staging.people p ON p.id = l.person_id;

-- A unique key that is no natural key (a medal's (person, code)) and a row
-- of an earlier release in master that has it (R54): consolidation finds
-- the collision, which promote would otherwise meet with nothing to settle
-- it; the run is invalid and says how to make such rows meet as conflicts.
SET client_min_messages = warning;
SELECT tdm.promote('R53') IS NOT NULL AS promoted;
RESET client_min_messages;
INSERT INTO master.medals
SELECT 99, p.id, 'gold', 'R53', 'FEAT-5301' FROM master.people p WHERE p.email = 'dan@y';
SELECT tdm.create_release('R54', 'v54.0', 'R53');
SELECT tdm.add_feature('R54', 'FEAT-5401', 1);
INSERT INTO keys_st1.medals VALUES (8, 13, 'gold', 'R54', 'FEAT-5401');
SET client_min_messages = warning;
SELECT tdm.tag_release('R54') IS NOT NULL AS tagged;
RESET client_min_messages;
SELECT tdm.consolidate('R54') AS run \gset
SELECT rel, kind, detail ->> 'values' AS "values", detail ->> 'with' AS "with" FROM tdm.violation WHERE run_id = :run;
DELETE FROM master.medals WHERE id = 99;
SET client_min_messages = warning;
SELECT tdm.consolidate('R54') = :run AS same_run;
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :run;

-- A key collision that holds one entity twice, on a key tdm cannot
-- generate (R55): alice has (1, 1) in st1 and st3, bob has it in st2. The
-- reviewer's keep_all gives bob a new key; the two alices are one row (their
-- own conflict merges them), and each note keeps its person.
CREATE SCHEMA keys_st3;
IMPORT FOREIGN SCHEMA public LIMIT TO (tenant_users, tenant_notes) FROM SERVER st1 INTO keys_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (tenant_users, tenant_notes) FROM SERVER st2 INTO keys_st2;
IMPORT FOREIGN SCHEMA public LIMIT TO (tenant_users, tenant_notes) FROM SERVER st3 INTO keys_st3;
SELECT tdm.manage_table('staging.tenant_users', '{"tenant_id,email"}', surrogate_key => true);
SELECT tdm.manage_table('staging.tenant_notes');
SELECT tdm.create_release('R55', 'v55.0', 'R54');
SELECT tdm.add_feature('R55', 'FEAT-5501', 1);
INSERT INTO keys_st1.tenant_users VALUES (1, 1, 'alice@t', 'Alice', 'R55', 'FEAT-5501');
INSERT INTO keys_st2.tenant_users VALUES (1, 1, 'bob@t', 'Bob', 'R55', 'FEAT-5501');
INSERT INTO keys_st3.tenant_users VALUES (1, 1, 'alice@t', 'Alice', 'R55', 'FEAT-5501');
INSERT INTO keys_st1.tenant_notes VALUES (1, 1, 1, 'alice in st1', 'R55', 'FEAT-5501');
INSERT INTO keys_st2.tenant_notes VALUES (1, 2, 1, 'bob in st2', 'R55', 'FEAT-5501');
INSERT INTO keys_st3.tenant_notes VALUES (1, 3, 1, 'alice in st3', 'R55', 'FEAT-5501');
SET client_min_messages = warning;
SELECT tdm.tag_release('R55') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R55') AS run \gset
RESET client_min_messages;
SELECT conflict_id, rationale, suggestion FROM tdm.review_queue WHERE rel = 'staging.tenant_users'::regclass \gset
\echo :rationale
\echo :suggestion
SELECT tdm.resolve(:'conflict_id', 'keep_all', renames => '{"st2": {"id": 2001}}',
                   rationale => 'bob is another person');
SET client_min_messages = warning;
SELECT tdm.consolidate('R55') = :run AS same_run;
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :run;
SELECT n.id, n.note, u.id AS user_id, u.email FROM staging.tenant_notes n
  JOIN staging.tenant_users u ON u.tenant_id = n.tenant_id AND u.id = n.user_id ORDER BY n.id;

-- The same on a key whose other holder a rule merges elsewhere (R56): st3's
-- bob holds (2, 1), alice's key in st1 and st2, and is st1's bob (2, 2) by
-- email. keep_all needs no new key: st3's bob is merged into st1's, and
-- his note follows him there.
SELECT tdm.create_release('R56', 'v56.0', 'R55');
SELECT tdm.add_feature('R56', 'FEAT-5601', 1);
INSERT INTO keys_st1.tenant_users VALUES (2, 1, 'alice@t', 'Alice', 'R56', 'FEAT-5601'),
                                         (2, 2, 'bob@t', 'Bob', 'R56', 'FEAT-5601');
INSERT INTO keys_st2.tenant_users VALUES (2, 1, 'alice@t', 'Alice', 'R56', 'FEAT-5601');
INSERT INTO keys_st3.tenant_users VALUES (2, 1, 'bob@t', 'Bob', 'R56', 'FEAT-5601');
INSERT INTO keys_st3.tenant_notes VALUES (2, 7, 1, 'bob in st3', 'R56', 'FEAT-5601');
SET client_min_messages = warning;
SELECT tdm.tag_release('R56') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R56') AS run \gset
RESET client_min_messages;
SELECT conflict_id FROM tdm.review_queue WHERE release = 'R56' \gset
SELECT tdm.resolve(:'conflict_id', 'keep_all', rationale => 'alice and bob, each known elsewhere');
SET client_min_messages = warning;
SELECT tdm.consolidate('R56') = :run AS same_run;
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :run;
SELECT u.id, u.email, n.note FROM staging.tenant_users u
  LEFT JOIN staging.tenant_notes n ON n.tenant_id = u.tenant_id AND n.user_id = u.id
 WHERE u.tenant_id = 2 ORDER BY u.id;

-- And where the keeper's own entity keeps another row (R57): st3's alice
-- wins her own conflict by feature priority, so st1's is merged into hers,
-- and she keeps (3, 1): keep_all gives only bob his new key.
SELECT tdm.create_release('R57', 'v57.0', 'R56');
SELECT tdm.add_feature('R57', 'FEAT-5701', 1);
SELECT tdm.add_feature('R57', 'FEAT-5702', 2);
INSERT INTO keys_st1.tenant_users VALUES (3, 1, 'alice@t', 'Alice', 'R57', 'FEAT-5701');
INSERT INTO keys_st2.tenant_users VALUES (3, 1, 'bob@t', 'Bob', 'R57', 'FEAT-5701');
INSERT INTO keys_st3.tenant_users VALUES (3, 1, 'alice@t', 'Alice Smith', 'R57', 'FEAT-5702');
SET client_min_messages = warning;
SELECT tdm.tag_release('R57') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R57') AS run \gset
RESET client_min_messages;
SELECT rule, status FROM tdm.conflict WHERE run_id = :run ORDER BY rule;
SELECT conflict_id FROM tdm.review_queue WHERE release = 'R57' \gset
SELECT tdm.resolve(:'conflict_id', 'keep_all', renames => '{"st2": {"id": 2001}}',
                   rationale => 'bob is another person');
SET client_min_messages = warning;
SELECT tdm.consolidate('R57') = :run AS same_run;
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :run;
SELECT tenant_id, id, email, full_name FROM staging.tenant_users WHERE tdm_release = 'R57' ORDER BY id;

-- One row two decisions rename (R58): st3's bob sits on alice's key (4, 1)
-- and is another bob than st1's (a core column differs: his own conflict
-- waits for a reviewer too). The collision gives him a new id, his own
-- conflict a new email; written in one decision and again in the other,
-- they are no other row's, and both apply.
SELECT tdm.manage_table('staging.tenant_users', '{"tenant_id,email"}', core_columns => '{full_name}',
                        surrogate_key => true);
SELECT tdm.create_release('R58', 'v58.0', 'R57');
SELECT tdm.add_feature('R58', 'FEAT-5801', 1);
INSERT INTO keys_st1.tenant_users VALUES (4, 1, 'alice@t', 'Alice', 'R58', 'FEAT-5801'),
                                         (4, 2, 'bob@t', 'Bob', 'R58', 'FEAT-5801');
INSERT INTO keys_st3.tenant_users VALUES (4, 1, 'bob@t', 'Bob the admin', 'R58', 'FEAT-5801');
INSERT INTO keys_st3.tenant_notes VALUES (4, 8, 1, 'the admin''s note', 'R58', 'FEAT-5801');
SET client_min_messages = warning;
SELECT tdm.tag_release('R58') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R58') AS run \gset
RESET client_min_messages;
SELECT conflict_id AS collision FROM tdm.review_queue WHERE release = 'R58' AND kind = 'duplicate_pk' \gset
SELECT conflict_id AS own FROM tdm.review_queue WHERE release = 'R58' AND kind <> 'duplicate_pk' \gset
-- (A new key nobody gives, null, is refused at once.)
SELECT tdm.resolve(:'collision', 'keep_all', renames => '{"st3": {"id": null}}', rationale => 'no key');
SELECT tdm.resolve(:'collision', 'keep_all', renames => '{"st3": {"id": 3001, "email": "bob3@t"}}',
                   rationale => 'bob is not alice, nor st1''s bob');
-- (Another email for the same row than the collision's decision gives:
-- refused, which would hold being no reviewer's choice.)
SELECT tdm.resolve(:'own', 'keep_all', renames => '{"st3": {"email": "bob4@t"}}',
                   rationale => 'two bobs, another email');
-- (The same values, one written as a string: "3001" is 3001.)
SELECT tdm.resolve(:'own', 'keep_all', renames => '{"st3": {"email": "bob3@t", "id": "3001"}}',
                   rationale => 'two bobs');
SET SESSION AUTHORIZATION tdm_keys_approver;
SELECT tdm.approve(:'own');
RESET SESSION AUTHORIZATION;
SET client_min_messages = warning;
SELECT tdm.consolidate('R58') = :run AS same_run;
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :run;
SELECT u.id, u.email, u.full_name, n.note FROM staging.tenant_users u
  LEFT JOIN staging.tenant_notes n ON n.tenant_id = u.tenant_id AND n.user_id = u.id
 WHERE u.tenant_id = 4 ORDER BY u.id;

-- The keeper moves off the key instead (R59): alice (st1 and st3, one
-- row) takes a new id, and bob keeps (5, 1), which no row of alice's
-- keeps any more.
SELECT tdm.create_release('R59', 'v59.0', 'R58');
SELECT tdm.add_feature('R59', 'FEAT-5901', 1);
INSERT INTO keys_st1.tenant_users VALUES (5, 1, 'alice@t', 'Alice', 'R59', 'FEAT-5901');
INSERT INTO keys_st2.tenant_users VALUES (5, 1, 'bob@t', 'Bob', 'R59', 'FEAT-5901');
INSERT INTO keys_st3.tenant_users VALUES (5, 1, 'alice@t', 'Alice', 'R59', 'FEAT-5901');
INSERT INTO keys_st2.tenant_notes VALUES (5, 9, 1, 'bob''s note', 'R59', 'FEAT-5901');
INSERT INTO keys_st3.tenant_notes VALUES (5, 10, 1, 'alice''s note', 'R59', 'FEAT-5901');
SET client_min_messages = warning;
SELECT tdm.tag_release('R59') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R59') AS run \gset
RESET client_min_messages;
SELECT conflict_id FROM tdm.review_queue WHERE release = 'R59' \gset
SELECT tdm.resolve(:'conflict_id', 'keep_all', renames => '{"st1": {"id": 1001}}',
                   rationale => 'bob keeps his key');
SET client_min_messages = warning;
SELECT tdm.consolidate('R59') = :run AS same_run;
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :run;
SELECT u.id, u.email, n.note FROM staging.tenant_users u
  LEFT JOIN staging.tenant_notes n ON n.tenant_id = u.tenant_id AND n.user_id = u.id
 WHERE u.tenant_id = 5 ORDER BY u.id, n.note;

-- A reference to the table's own rows is compared by the row it names
-- (R60), with manager_id a core column. rob reports to the boss in both
-- environments, 100 in st1 and 110 in st2: no difference. kit reports to
-- 100 in both, the boss in st1 but amy in st2: a difference, for a human,
-- told by the rows named. sue reports to the boss in st1 and to zed in st2.
SELECT tdm.manage_table('staging.staff', '{email}', core_columns => '{manager_id}', surrogate_key => true);
SELECT tdm.create_release('R60', 'v60.0', 'R59');
SELECT tdm.add_feature('R60', 'FEAT-6001', 1);
INSERT INTO keys_st1.staff VALUES (100, 'boss60@x', NULL, 'R60', 'FEAT-6001'), (101, 'rob60@x', 100, 'R60', 'FEAT-6001'),
                                  (102, 'sue60@x', 100, 'R60', 'FEAT-6001'), (103, 'kit60@x', 100, 'R60', 'FEAT-6001');
INSERT INTO keys_st2.staff VALUES (100, 'amy60@x', NULL, 'R60', 'FEAT-6001'), (110, 'boss60@x', NULL, 'R60', 'FEAT-6001'),
                                  (113, 'zed60@x', NULL, 'R60', 'FEAT-6001'), (111, 'rob60@x', 110, 'R60', 'FEAT-6001'),
                                  (112, 'sue60@x', 113, 'R60', 'FEAT-6001'), (114, 'kit60@x', 100, 'R60', 'FEAT-6001');
SET client_min_messages = warning;
SELECT tdm.tag_release('R60') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R60') AS run \gset
RESET client_min_messages;
SELECT c.members -> 0 -> 'row' ->> 'email' AS email, c.kind, c.rule, c.priority, c.differing, c.rationale
  FROM tdm.conflict c WHERE c.run_id = :run ORDER BY 1, 2;
SELECT tdm.resolve(conflict_id, 'keep', keep_env => 'st2', rationale => 'st2 knows the manager')
  FROM tdm.review_queue WHERE release = 'R60';
SET SESSION AUTHORIZATION tdm_keys_approver;
SELECT tdm.approve(conflict_id) FROM tdm.decision JOIN tdm.conflict USING (conflict_id)
 WHERE run_id = :run AND priority = 1;
RESET SESSION AUTHORIZATION;
SET client_min_messages = warning;
SELECT tdm.consolidate('R60') = :run AS same_run;
RESET client_min_messages;
SELECT s.email, m.email AS manager FROM staging.staff s LEFT JOIN staging.staff m ON m.id = s.manager_id
 WHERE s.tdm_release = 'R60' ORDER BY 1;

-- A reference to an earlier release's row reads as master's key (R61).
-- st1 tags amy again (140), and ned reports to her there; st2's ned
-- reports to its 100, amy of R60, master's row since. One manager: ned
-- is no core difference.
SET client_min_messages = warning;
SELECT tdm.promote('R60') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT tdm.create_release('R61', 'v61.0', 'R60');
SELECT tdm.add_feature('R61', 'FEAT-6101', 1);
INSERT INTO keys_st1.staff VALUES (140, 'amy60@x', NULL, 'R61', 'FEAT-6101'), (141, 'ned61@x', 140, 'R61', 'FEAT-6101');
INSERT INTO keys_st2.staff VALUES (150, 'ned61@x', 100, 'R61', 'FEAT-6101');
SET client_min_messages = warning;
SELECT tdm.tag_release('R61') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R61') AS run \gset
RESET client_min_messages;
SELECT c.members -> 0 -> 'row' ->> 'email' AS email, c.kind, c.rule, c.priority, c.differing
  FROM tdm.conflict c WHERE c.run_id = :run ORDER BY 1, 2;
SELECT r.status, s.email, m.email AS manager FROM tdm.run r, staging.staff s
  LEFT JOIN staging.staff m ON m.id = s.manager_id
 WHERE r.run_id = :run AND s.tdm_release = 'R61' ORDER BY 2;

-- A translated reference is master's key even where the environment's new
-- rows use that number (R62): st2's lou reports to its 100 (amy, master's
-- 115 since R60), and st2's new max is its 115; st1's lou reports to its
-- 140, merged into master's 115 by R61. Both report to amy: no difference.
SET client_min_messages = warning;
SELECT tdm.promote('R61') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT tdm.create_release('R62', 'v62.0', 'R61');
SELECT tdm.add_feature('R62', 'FEAT-6201', 1);
INSERT INTO keys_st1.staff VALUES (160, 'lou62@x', 140, 'R62', 'FEAT-6201');
INSERT INTO keys_st2.staff VALUES (115, 'max62@x', NULL, 'R62', 'FEAT-6201'), (116, 'lou62@x', 100, 'R62', 'FEAT-6201');
SET client_min_messages = warning;
SELECT tdm.tag_release('R62') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R62') AS run \gset
RESET client_min_messages;
SELECT c.members -> 0 -> 'row' ->> 'email' AS email, c.kind, c.rule, c.priority, c.differing
  FROM tdm.conflict c WHERE c.run_id = :run ORDER BY 1, 2;
SELECT r.status, s.email, m.email AS manager FROM tdm.run r, staging.staff s
  LEFT JOIN staging.staff m ON m.id = s.manager_id
 WHERE r.run_id = :run AND s.tdm_release = 'R62' ORDER BY 2;

-- A row deleted by a decision takes with it, as relationship conflicts,
-- the rows that reference it by another unique key too (R63): st1's
-- delivery references the Hermes task by (project, sku).
SELECT tdm.create_release('R63', 'v63.0', 'R62');
SELECT tdm.add_feature('R63', 'FEAT-6301', 1), tdm.add_feature('R63', 'FEAT-6302', 1);
INSERT INTO keys_st1.projects VALUES (300, 'Hermes', 'R63', 'FEAT-6301');
INSERT INTO keys_st2.projects VALUES (300, 'Hermes', 'R63', 'FEAT-6301');
INSERT INTO keys_st1.tasks VALUES (300, 1, 'hermes task', 'S9', 'R63', 'FEAT-6301');
INSERT INTO keys_st2.tasks VALUES (300, 1, 'hermes task, again', 'S9', 'R63', 'FEAT-6302');
INSERT INTO keys_st1.deliveries VALUES (600, 300, 'S9', 5, 'R63', 'FEAT-6301');
SET client_min_messages = warning;
SELECT tdm.tag_release('R63') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R63') AS run \gset
RESET client_min_messages;
SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'no Hermes task this release')
  FROM tdm.review_queue WHERE release = 'R63' AND rel = 'staging.tasks'::regclass;
SET client_min_messages = warning;
SELECT tdm.consolidate('R63') = :run AS same_run;
RESET client_min_messages;
SELECT rel, kind, priority, rationale, members -> 0 -> 'row' ->> 'sku' AS sku
  FROM tdm.review_queue WHERE release = 'R63';
SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'its task is gone')
  FROM tdm.review_queue WHERE release = 'R63';
SET SESSION AUTHORIZATION tdm_keys_approver;
SELECT tdm.approve(conflict_id) FROM tdm.decision JOIN tdm.conflict USING (conflict_id)
 WHERE run_id = :run AND kind = 'relationship';
RESET SESSION AUTHORIZATION;
SET client_min_messages = warning;
SELECT tdm.consolidate('R63') = :run AS same_run;
RESET client_min_messages;
SELECT status, rows_collected, rows_loaded, rows_merged, rows_deleted FROM tdm.run WHERE run_id = :run;
SELECT (SELECT count(*) FROM staging.tasks WHERE tdm_release = 'R63') AS tasks,
       (SELECT count(*) FROM staging.deliveries WHERE tdm_release = 'R63') AS deliveries;

-- And a later release's row that references it so (R64): st1's new
-- delivery of the Hermes task R63 deleted is a relationship conflict too.
SET client_min_messages = warning;
SELECT tdm.promote('R63') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT tdm.create_release('R64', 'v64.0', 'R63');
SELECT tdm.add_feature('R64', 'FEAT-6401', 1);
INSERT INTO keys_st1.deliveries VALUES (601, 300, 'S9', 1, 'R64', 'FEAT-6401');
SET client_min_messages = warning;
SELECT tdm.tag_release('R64') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R64') AS run \gset
RESET client_min_messages;
SELECT r.status, q.rel, q.kind, q.priority, q.rationale
  FROM tdm.run r LEFT JOIN tdm.review_queue q ON q.release = r.release WHERE r.run_id = :run;

-- Bad input: two tasks of one project share a sku, a unique key that is
-- not a registered natural key (R65): no conflict meets them, the run is
-- invalid, and its HINT says to register the key.
SELECT tdm.create_release('R65', 'v65.0', 'R64');
SELECT tdm.add_feature('R65', 'FEAT-6501', 1);
INSERT INTO keys_st1.tasks VALUES (300, 5, 'task five', 'S7', 'R65', 'FEAT-6501');
INSERT INTO keys_st2.tasks VALUES (300, 6, 'task six', 'S7', 'R65', 'FEAT-6501');
SET client_min_messages = warning;
SELECT tdm.tag_release('R65') IS NOT NULL AS tagged;
RESET client_min_messages;
SELECT tdm.consolidate('R65') IS NOT NULL AS consolidated;

-- A translated reference to a release not promoted yet is read where that
-- release was loaded (R66, then R67): st2's zed collides with st1's boss
-- and is re-keyed; st2 then numbers its new hal with zed's new id. st2's
-- jon reports to its 200 (zed), st1's to its hal: a core difference,
-- told by the rows named (not hal and hal).
SELECT tdm.create_release('R66', 'v66.0', 'R65'), tdm.create_release('R67', 'v67.0', 'R66');
SELECT tdm.add_feature('R66', 'FEAT-6601', 1), tdm.add_feature('R67', 'FEAT-6701', 1);
DELETE FROM keys_st1.tasks WHERE tdm_release = 'R65';
DELETE FROM keys_st2.tasks WHERE tdm_release = 'R65';
INSERT INTO keys_st1.staff VALUES (200, 'boss66@x', NULL, 'R66', 'FEAT-6601');
INSERT INTO keys_st2.staff VALUES (200, 'zed66@x', NULL, 'R66', 'FEAT-6601');
SET client_min_messages = warning;
SELECT tdm.tag_release('R66') IS NOT NULL AS tagged, tdm.consolidate('R66') IS NOT NULL AS consolidated;
RESET client_min_messages;
SELECT (new_key ->> 'id')::int AS zed_id FROM tdm.key_map k JOIN tdm.run r USING (run_id)
 WHERE r.release = 'R66' AND k.env = 'st2' \gset
INSERT INTO keys_st1.staff VALUES (201, 'hal67@x', NULL, 'R67', 'FEAT-6701'), (202, 'jon67@x', 201, 'R67', 'FEAT-6701');
INSERT INTO keys_st2.staff VALUES (:zed_id, 'hal67@x', NULL, 'R67', 'FEAT-6701'), (203, 'jon67@x', 200, 'R67', 'FEAT-6701');
SET client_min_messages = warning;
SELECT tdm.tag_release('R67') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R67') AS run \gset
RESET client_min_messages;
SELECT c.members -> 0 -> 'row' ->> 'email' AS email, c.kind, c.priority, c.rationale
  FROM tdm.conflict c WHERE c.run_id = :run ORDER BY 1, 2;

-- An environment reset or refreshed from a copy holds under an earlier
-- release's key another row, still tagged that release (R68). st2's 200
-- was zed, whom R66 re-keyed; now it is una, tagged R66: R68's kay, who
-- reports to st2's 200, would be sent to zed by R66's map. st2's project
-- 100 was Gaia, which R45 loaded under that key; now it is Hestia, tagged
-- R45: a task of 100 would be Gaia's. Both refused, naming the rows.
-- With Hestia tagged R68 too, the task is Hestia's.
SELECT tdm.create_release('R68', 'v68.0', 'R67');
SELECT tdm.add_feature('R68', 'FEAT-6801', 1);
UPDATE keys_st2.staff SET email = 'una68@x' WHERE id = 200;
INSERT INTO keys_st2.staff VALUES (204, 'kay68@x', 200, 'R68', 'FEAT-6801');
SET client_min_messages = warning;
SELECT tdm.tag_release('R68') IS NOT NULL AS tagged;
RESET client_min_messages;
SELECT tdm.consolidate('R68');
DELETE FROM keys_st2.staff WHERE id = 204;
UPDATE keys_st2.staff SET email = 'zed66@x' WHERE id = 200;
UPDATE keys_st2.projects SET name = 'Hestia' WHERE id = 100;
INSERT INTO keys_st2.tasks VALUES (100, 8, 'hestia task', 'S8', 'R68', 'FEAT-6801');
SET client_min_messages = warning;
SELECT tdm.tag_release('R68') IS NOT NULL AS tagged;
RESET client_min_messages;
SELECT tdm.consolidate('R68');
UPDATE keys_st2.projects SET tdm_release = 'R68', tdm_feature = 'FEAT-6801' WHERE id = 100;
SET client_min_messages = warning;
SELECT tdm.tag_release('R68') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R68') AS run \gset
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :run;
SELECT t.title, p.name FROM staging.tasks t JOIN staging.projects p ON p.id = t.project_id
 WHERE t.tdm_release = 'R68';

-- A numeric primary key written 1.0 in st1 and 1.00 in st2 (R-NUM): one key
-- to the target, and to detection, which groups keys as their type
-- compares them (decision 162): the two rows are one, merged.
SELECT dblink_connect(e, pg_temp.env_conninfo(e)) FROM unnest('{st1,st2,st3}'::text[]) AS e;
SELECT dblink_exec(e, 'CREATE TABLE measures (amount numeric PRIMARY KEY, note text, tdm_release text, tdm_feature text)')
  FROM unnest('{st1,st2,st3}'::text[]) AS e;
IMPORT FOREIGN SCHEMA public LIMIT TO (measures) FROM SERVER st1 INTO keys_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (measures) FROM SERVER st2 INTO keys_st2;
CREATE TABLE staging.measures (amount numeric PRIMARY KEY, note text, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.measures');
SELECT tdm.create_release('R-NUM');
SELECT tdm.add_feature('R-NUM', 'FEAT-NUM', 1);
INSERT INTO keys_st1.measures VALUES (1.0, 'one', 'R-NUM', 'FEAT-NUM');
INSERT INTO keys_st2.measures VALUES (1.00, 'one', 'R-NUM', 'FEAT-NUM');
SET client_min_messages = warning;
SELECT tdm.tag_release('R-NUM') IS NOT NULL AS tagged;
RESET client_min_messages;
SELECT tdm.consolidate('R-NUM') AS run \gset
SELECT status FROM tdm.run WHERE run_id = :run;
SELECT amount, note FROM staging.measures;
SELECT kind, rule, status FROM tdm.conflict WHERE run_id = :run;
SELECT tdm.unmanage_table('staging.measures');
DROP TABLE staging.measures;
DROP FOREIGN TABLE keys_st1.measures, keys_st2.measures;
SELECT dblink_exec(e, 'DROP TABLE measures'), dblink_disconnect(e) FROM unnest('{st1,st2,st3}'::text[]) AS e;

-- A text primary key under a case-insensitive collation in the target,
-- 'A1' in st1 and 'a1' in st2 (R-CI): one key to the target, two to
-- detection, which compares such keys as they are spelled (only numeric,
-- float and citext keys as their types compare). The run is invalid, and
-- its HINT says why and what to do.
SELECT dblink_connect(e, pg_temp.env_conninfo(e)) FROM unnest('{st1,st2,st3}'::text[]) AS e;
SELECT dblink_exec(e, 'CREATE TABLE codes (code text PRIMARY KEY, note text, tdm_release text, tdm_feature text)')
  FROM unnest('{st1,st2,st3}'::text[]) AS e;
IMPORT FOREIGN SCHEMA public LIMIT TO (codes) FROM SERVER st1 INTO keys_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (codes) FROM SERVER st2 INTO keys_st2;
CREATE COLLATION keys_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE staging.codes (code text COLLATE keys_ci PRIMARY KEY, note text, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.codes');
SELECT tdm.create_release('R-CI');
SELECT tdm.add_feature('R-CI', 'FEAT-CI', 1);
INSERT INTO keys_st1.codes VALUES ('A1', 'one', 'R-CI', 'FEAT-CI');
INSERT INTO keys_st2.codes VALUES ('a1', 'one', 'R-CI', 'FEAT-CI');
SET client_min_messages = warning;
SELECT tdm.tag_release('R-CI') IS NOT NULL AS tagged;
RESET client_min_messages;
SELECT tdm.consolidate('R-CI') AS run \gset
SELECT status FROM tdm.run WHERE run_id = :run;
SELECT tdm.unmanage_table('staging.codes');
DROP TABLE staging.codes;
DROP COLLATION keys_ci;
DROP FOREIGN TABLE keys_st1.codes, keys_st2.codes;
SELECT dblink_exec(e, 'DROP TABLE codes'), dblink_disconnect(e) FROM unnest('{st1,st2,st3}'::text[]) AS e;

-- Two reviewers at once on R67's pending conflict: one decides it in an
-- open transaction while another runs resolve_all over the release. The
-- bulk call waits, then leaves the first reviewer's decision as it is.
SELECT c.conflict_id AS c67 FROM tdm.conflict c JOIN tdm.run r USING (run_id)
 WHERE r.release = 'R67' AND c.status = 'pending' ORDER BY 1 LIMIT 1 \gset
SELECT pg_temp.second_waits(format($$SELECT tdm.resolve(%L, 'keep', 'st2', rationale => 'st2 is right')$$, :'c67'),
                            $$SELECT tdm.resolve_all('R67', 'keep', 'bulk')$$) AS decided;
SELECT keep_env, rationale FROM tdm.decision WHERE conflict_id = :'c67';

-- Two reviewers at once rename rows of two conflicts to one email (R69):
-- the second waits for the first's decision, then is refused by it.
SELECT tdm.create_release('R69', 'v69.0', 'R68');
SELECT tdm.add_feature('R69', 'FEAT-6901', 1), tdm.add_feature('R69', 'FEAT-6902', 1);
INSERT INTO keys_st1.staff VALUES (690, 'ava69@x', NULL, 'R69', 'FEAT-6901'), (691, 'bo69@x', NULL, 'R69', 'FEAT-6901');
INSERT INTO keys_st2.staff VALUES (690, 'ava69@x', 1, 'R69', 'FEAT-6902'), (691, 'bo69@x', 1, 'R69', 'FEAT-6902');
SET client_min_messages = warning;
SELECT tdm.tag_release('R69') IS NOT NULL AS tagged, tdm.consolidate('R69') IS NOT NULL AS consolidated;
RESET client_min_messages;
SELECT min(c.conflict_id) AS c_ava, max(c.conflict_id) AS c_bo FROM tdm.conflict c JOIN tdm.run r USING (run_id)
 WHERE r.release = 'R69' AND c.status = 'pending' \gset
SELECT pg_temp.second_waits(
  format($$SELECT tdm.resolve(%L, 'keep_all', renames => '{"st2": {"email": "same69@x"}}', rationale => 'two')$$, :'c_ava'),
  format($$SELECT tdm.resolve(%L, 'keep_all', renames => '{"st2": {"email": "same69@x"}}', rationale => 'two')$$, :'c_bo'));
SELECT count(*) AS decided FROM tdm.decision WHERE conflict_id IN (:'c_ava', :'c_bo');

-- A row kept though a decision deleted its parent (R-ORPH2): the key it
-- holds was that parent's in its environment. A row of another release
-- with that key is its parent only when it is the same entity (by natural
-- key); else validation refuses the row, and detection does not match its
-- key with master's rows. st1's order X (key 1) is deleted, and order 1 of
-- staging and master is st2's S2-1 (R-ORPH1); st1's Y (key 7), in staging
-- since R-ORPH0 and tagged again, is deleted too: its line stays, under
-- staging's Y.
SELECT dblink_connect(e, pg_temp.env_conninfo(e)) FROM unnest('{st1,st2,st3}'::text[]) AS e;
SELECT dblink_exec(e, 'CREATE TABLE orph_orders (order_id int PRIMARY KEY, ref text NOT NULL UNIQUE, who text,'
                      '                          tdm_release text, tdm_feature text);'
                      ' CREATE TABLE orph_lines (order_id int REFERENCES orph_orders, line_no int, qty int,'
                      '                          tdm_release text, tdm_feature text, PRIMARY KEY (order_id, line_no))')
  FROM unnest('{st1,st2,st3}'::text[]) AS e;
SELECT dblink_disconnect(e) FROM unnest('{st1,st2,st3}'::text[]) AS e;
IMPORT FOREIGN SCHEMA public LIMIT TO (orph_orders, orph_lines) FROM SERVER st1 INTO keys_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (orph_orders, orph_lines) FROM SERVER st2 INTO keys_st2;
CREATE TABLE staging.orph_orders (order_id int PRIMARY KEY, ref text NOT NULL UNIQUE, who text,
                                  tdm_release text, tdm_feature text);
CREATE TABLE staging.orph_lines (order_id int REFERENCES staging.orph_orders, line_no int, qty int,
                                 tdm_release text, tdm_feature text, PRIMARY KEY (order_id, line_no));
SELECT tdm.manage_table('staging.orph_orders', '{ref}'), tdm.manage_table('staging.orph_lines');
SELECT tdm.create_release('R-ORPH0'), tdm.add_feature('R-ORPH0', 'FEAT-O0', 1);
SELECT tdm.create_release('R-ORPH1'), tdm.add_feature('R-ORPH1', 'FEAT-O1', 1);
INSERT INTO keys_st1.orph_orders VALUES (7, 'Y', 'yan', 'R-ORPH0', 'FEAT-O0');
INSERT INTO keys_st2.orph_orders VALUES (1, 'S2-1', 'bob', 'R-ORPH1', 'FEAT-O1');
INSERT INTO keys_st2.orph_lines VALUES (1, 1, 10, 'R-ORPH1', 'FEAT-O1');
SET client_min_messages = warning;
SELECT tdm.tag_release('R-ORPH0') IS NOT NULL AS tagged, tdm.consolidate('R-ORPH0') IS NOT NULL AS consolidated;
SELECT tdm.tag_release('R-ORPH1') IS NOT NULL AS tagged, tdm.consolidate('R-ORPH1') IS NOT NULL AS consolidated;
SELECT tdm.promote('R-ORPH1') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT tdm.create_release('R-ORPH2', parent => 'R-ORPH1');
SELECT tdm.add_feature('R-ORPH2', 'FEAT-O2A', 1), tdm.add_feature('R-ORPH2', 'FEAT-O2B', 1);
INSERT INTO keys_st1.orph_orders VALUES (1, 'X', 'alice', 'R-ORPH2', 'FEAT-O2A');
INSERT INTO keys_st1.orph_lines VALUES (1, 1, 5, 'R-ORPH2', 'FEAT-O2A'), (1, 2, 6, 'R-ORPH2', 'FEAT-O2A');
INSERT INTO keys_st2.orph_orders VALUES (4, 'X', 'carol', 'R-ORPH2', 'FEAT-O2B');
UPDATE keys_st1.orph_orders SET who = 'yana', tdm_release = 'R-ORPH2', tdm_feature = 'FEAT-O2A' WHERE order_id = 7;
INSERT INTO keys_st1.orph_lines VALUES (7, 1, 3, 'R-ORPH2', 'FEAT-O2A');
INSERT INTO keys_st2.orph_orders VALUES (9, 'Y', 'yves', 'R-ORPH2', 'FEAT-O2B');
SET client_min_messages = warning;
SELECT tdm.tag_release('R-ORPH2') IS NOT NULL AS tagged, tdm.consolidate('R-ORPH2') AS run \gset
RESET client_min_messages;
SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'neither order is right')
  FROM tdm.conflict WHERE run_id = :run AND rel = 'staging.orph_orders'::regclass AND status = 'pending';
SET client_min_messages = warning;
SELECT tdm.consolidate('R-ORPH2') IS NOT NULL AS consolidated;
RESET client_min_messages;
-- The lines of the deleted orders are relationship conflicts, and nothing
-- else: no line is matched with master's line of order 1.
SELECT kind, status, members -> 0 -> 'row' ->> 'order_id' AS order_id,
       members -> 0 -> 'row' ->> 'line_no' AS line_no, rationale ~ 'which decision C-[0-9a-f]+ deleted' AS says_why
  FROM tdm.conflict WHERE run_id = :run AND rel = 'staging.orph_lines'::regclass ORDER BY 3, 4;
-- All kept: the lines of X would go under S2-1, another entity: refused.
SELECT tdm.resolve(conflict_id, 'keep', 'st1', rationale => 'keep the line') IS NULL AS decided
  FROM tdm.conflict WHERE run_id = :run AND rel = 'staging.orph_lines'::regclass;
SET SESSION AUTHORIZATION tdm_keys_approver;
SELECT count(tdm.approve(conflict_id)) AS approved
  FROM tdm.conflict WHERE run_id = :run AND rel::text = 'staging.orph_lines';
RESET SESSION AUTHORIZATION;
SET client_min_messages = warning;
SELECT tdm.consolidate('R-ORPH2') IS NOT NULL AS consolidated;
RESET client_min_messages;
SELECT status, rows_loaded FROM tdm.run WHERE run_id = :run;
SELECT kind, row_key, detail ->> 'message' AS message FROM tdm.violation
 WHERE run_id = :run AND kind = 'foreign_key' ORDER BY row_key::text;
-- The lines of X deleted after all: Y's line goes under staging's Y.
SELECT tdm.resolve(conflict_id, 'delete_all', rationale => 'its order is gone') IS NULL AS decided
  FROM tdm.conflict WHERE run_id = :run AND rel = 'staging.orph_lines'::regclass
   AND members -> 0 -> 'row' ->> 'order_id' = '1' ORDER BY conflict_id;
SET SESSION AUTHORIZATION tdm_keys_approver;
SELECT count(tdm.approve(conflict_id)) AS approved
  FROM tdm.conflict WHERE run_id = :run AND rel::text = 'staging.orph_lines'
   AND members -> 0 -> 'row' ->> 'order_id' = '1';
RESET SESSION AUTHORIZATION;
SET client_min_messages = warning;
SELECT tdm.consolidate('R-ORPH2') IS NOT NULL AS consolidated;
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :run;
SELECT l.order_id, l.line_no, o.ref, o.tdm_release AS order_release
  FROM staging.orph_lines l JOIN staging.orph_orders o USING (order_id)
 WHERE l.tdm_release = 'R-ORPH2';

-- A reviewer's open transaction that wrote a decision on R69's pending
-- conflict holds it: a consolidation of R69 waits for it at its start,
-- and a lock_timeout of the caller's ends the wait saying why.
SELECT dblink_connect('reviewer', pg_temp.conninfo(current_database()));
SELECT dblink_exec('reviewer', 'BEGIN');
SELECT x AS decided FROM dblink('reviewer', format($$SELECT tdm.resolve(%L, 'keep', 'st1', rationale => 'held open')::text$$,
                                                   :'c_bo')) AS t(x text);
SET lock_timeout = '300ms';
\set VERBOSITY terse
SELECT tdm.consolidate('R69');
\set VERBOSITY default
RESET lock_timeout;
-- (A statement_timeout ends that wait too: said as well, as a cancel.)
SET statement_timeout = '2s';
\set VERBOSITY terse
SELECT tdm.consolidate('R69');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY default
RESET statement_timeout;
SELECT dblink_exec('reviewer', 'ROLLBACK'), dblink_disconnect('reviewer');
-- A session that locked the run's conflicts is no reviewer: the end
-- of that wait, by a lock_timeout or a cancel, does not say reviewers
-- held them.
SELECT dblink_connect('other', pg_temp.conninfo(current_database()));
SELECT dblink_exec('other', 'BEGIN');
SELECT n > 0 AS locked
  FROM dblink('other', $$SELECT count(*) FROM (SELECT 1 FROM tdm.conflict
                                                 WHERE run_id = (SELECT max(run_id) FROM tdm.run
                                                                  WHERE release = 'R69') FOR UPDATE) x$$)
       AS t(n bigint);
SET lock_timeout = '300ms';
\set VERBOSITY terse
SELECT tdm.consolidate('R69');
\set VERBOSITY default
RESET lock_timeout;
SET statement_timeout = '2s';
\set VERBOSITY terse
SELECT tdm.consolidate('R69');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY default
RESET statement_timeout;
SELECT dblink_exec('other', 'ROLLBACK'), dblink_disconnect('other');
-- A reviewer whose own open transaction the consolidation waits for
-- (a decision written, then another): told that the wait is for this
-- very transaction, not only that the release is being consolidated.
BEGIN;
SELECT tdm.resolve(:'c_bo', 'keep', 'st1', rationale => 'held open here');
SELECT dblink_connect('admin', pg_temp.conninfo(current_database()));
SELECT dblink_send_query('admin', $$SELECT tdm.consolidate('R69')$$);
SELECT pg_temp.wait_until('EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted AND pid <> pg_backend_pid()
                                  AND pg_backend_pid() = ANY (pg_blocking_pids(pid)))') AS consolidation_waits;
\set VERBOSITY terse
SELECT tdm.resolve(:'c_ava', 'keep', 'st1', rationale => 'second');
\set VERBOSITY default
ROLLBACK;
SELECT x IS NOT NULL AS consolidated FROM dblink_get_result('admin') AS t(x bigint);
SELECT dblink_disconnect('admin');

-- An environment reset between releases (R-RS3): st1's b@x, R-RS2's key 2,
-- is made again under key 1, still tagged R-RS2, which loaded no row under
-- that key; master's row of key 1 is R-RS1's a@x. A row of R-RS3 that
-- references key 1 means b@x: refused, not sent to a@x.
SELECT dblink_connect(e, pg_temp.env_conninfo(e)) FROM unnest('{st1,st2,st3}'::text[]) AS e;
SELECT dblink_exec(e, 'CREATE TABLE reset_customers (cust_id int PRIMARY KEY, email text NOT NULL UNIQUE,'
                      '  referred_by int REFERENCES reset_customers, tdm_release text, tdm_feature text)')
  FROM unnest('{st1,st2,st3}'::text[]) AS e;
SELECT dblink_disconnect(e) FROM unnest('{st1,st2,st3}'::text[]) AS e;
IMPORT FOREIGN SCHEMA public LIMIT TO (reset_customers) FROM SERVER st1 INTO keys_st1;
CREATE TABLE staging.reset_customers (cust_id int PRIMARY KEY, email text NOT NULL UNIQUE,
  referred_by int REFERENCES staging.reset_customers, tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.reset_customers', '{email}');
SELECT tdm.create_release('R-RS1'), tdm.add_feature('R-RS1', 'FEAT-RS', 1);
SELECT tdm.create_release('R-RS2', parent => 'R-RS1'), tdm.add_feature('R-RS2', 'FEAT-RS', 1);
SELECT tdm.create_release('R-RS3', parent => 'R-RS2'), tdm.add_feature('R-RS3', 'FEAT-RS', 1);
INSERT INTO keys_st1.reset_customers VALUES (1, 'a@x', NULL, 'R-RS1', 'FEAT-RS');
SET client_min_messages = warning;
SELECT tdm.tag_release('R-RS1') IS NOT NULL AS tagged, tdm.consolidate('R-RS1') IS NOT NULL AS consolidated,
       tdm.promote('R-RS1') IS NOT NULL AS promoted;
INSERT INTO keys_st1.reset_customers VALUES (2, 'b@x', NULL, 'R-RS2', 'FEAT-RS');
SELECT tdm.tag_release('R-RS2') IS NOT NULL AS tagged, tdm.consolidate('R-RS2') IS NOT NULL AS consolidated,
       tdm.promote('R-RS2') IS NOT NULL AS promoted;
DELETE FROM keys_st1.reset_customers;
INSERT INTO keys_st1.reset_customers VALUES (1, 'b@x', NULL, 'R-RS2', 'FEAT-RS'), (3, 'c@x', 1, 'R-RS3', 'FEAT-RS');
SELECT tdm.tag_release('R-RS3') IS NOT NULL AS tagged;
RESET client_min_messages;
\set SHOW_CONTEXT never
SELECT tdm.consolidate('R-RS3');
SELECT count(*) AS loaded FROM staging.reset_customers WHERE tdm_release = 'R-RS3';

-- A mask (kept by pg_dump with its key: test/dump_restore.sh checks it).
SELECT tdm.mask_column('staging.reset_customers', 'email', 'email');
SELECT rel, column_name, method, options FROM tdm.mask;
-- Declared again with its default options written out: the same mask,
-- nothing to warn about.
SELECT tdm.mask_column('staging.reset_customers', 'email', 'email', '{"domain": "example.com"}');
-- Removed and declared again: each warns about the rows loaded before.
SELECT tdm.unmask_column('staging.reset_customers', 'email');
SELECT tdm.mask_column('staging.reset_customers', 'email', 'email');

-- A rollback makes current again the run that consolidated the rows it
-- puts back (R-RB1). Its first run re-keys st2's b@x; promoted, then
-- rolled back out of master, the release is consolidated again in a new
-- run (the first one's rows are in snapshot rb_promoted), which awaits
-- review. A rollback to rb_promoted brings the first run's rows back: that
-- run is the release's completed one again, the new one failed (out of the
-- review queue), and R-RB2's order of st2's customer 1 goes to b@x by the
-- first run's key map.
\ir sql/include/in_environments.sql
SELECT pg_temp.in_environments(
  'CREATE TABLE rb_customers (id int PRIMARY KEY, email text NOT NULL UNIQUE, tier text,'
  '  tdm_release text, tdm_feature text);'
  'CREATE TABLE rb_orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES rb_customers,'
  '  tdm_release text, tdm_feature text)');
IMPORT FOREIGN SCHEMA public LIMIT TO (rb_customers, rb_orders) FROM SERVER st1 INTO keys_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (rb_customers, rb_orders) FROM SERVER st2 INTO keys_st2;
CREATE TABLE staging.rb_customers (id int PRIMARY KEY, email text NOT NULL UNIQUE, tier text,
  tdm_release text, tdm_feature text);
CREATE TABLE staging.rb_orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES staging.rb_customers,
  tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.rb_customers', '{email}', core_columns => '{tier}'),
       tdm.manage_table('staging.rb_orders');
SELECT tdm.create_release('R-RB0'), tdm.add_feature('R-RB0', 'FEAT-RB', 1);
SELECT tdm.create_release('R-RB1', parent => 'R-RB0'), tdm.add_feature('R-RB1', 'FEAT-RB', 1);
SELECT tdm.create_release('R-RB2', parent => 'R-RB1'), tdm.add_feature('R-RB2', 'FEAT-RB', 1);
INSERT INTO keys_st1.rb_customers VALUES (9, 'z@x', 'gold', 'R-RB0', 'FEAT-RB');
SET client_min_messages = warning;
SELECT tdm.tag_release('R-RB0') IS NOT NULL AS tagged, tdm.consolidate('R-RB0') IS NOT NULL AS consolidated,
       tdm.promote('R-RB0') IS NOT NULL AS promoted;
INSERT INTO keys_st1.rb_customers VALUES (1, 'a@x', 'gold', 'R-RB1', 'FEAT-RB');
INSERT INTO keys_st2.rb_customers VALUES (1, 'b@x', 'gold', 'R-RB1', 'FEAT-RB');
SELECT tdm.tag_release('R-RB1') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R-RB1') AS rb_first \gset
SELECT tdm.snapshot('rb_consolidated') AS rb_consolidated \gset
SELECT tdm.promote('R-RB1') IS NOT NULL AS promoted;
SELECT tdm.snapshot('rb_promoted') AS rb_promoted \gset
SELECT tdm.rollback(:rb_consolidated) IS NOT NULL AS rolled_back;
INSERT INTO keys_st1.rb_customers VALUES (2, 'c@x', 'gold', 'R-RB1', 'FEAT-RB');
INSERT INTO keys_st2.rb_customers VALUES (3, 'c@x', 'silver', 'R-RB1', 'FEAT-RB');
SELECT tdm.tag_release('R-RB1') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R-RB1') AS rb_second \gset
SELECT :rb_second > :rb_first AS new_run, status FROM tdm.run WHERE run_id = :rb_second;
SELECT count(*) AS queued FROM tdm.review_queue WHERE release = 'R-RB1';
SELECT tdm.rollback(:rb_promoted) AS rb_rollback \gset
RESET client_min_messages;
SELECT status FROM tdm.release WHERE release = 'R-RB1';
SELECT run_id = :rb_first AS first_run, status FROM tdm.run WHERE release = 'R-RB1' ORDER BY run_id;
SELECT (SELECT jsonb_object_keys(detail -> 'runs')) = :'rb_second' AS failed_run_named
  FROM tdm.job WHERE job_id = :rb_rollback;
-- Its report says which rollback failed it, and no longer that it waits
-- (the report's lines on rollbacks and what the run loaded).
CREATE FUNCTION pg_temp.rollback_lines(run bigint) RETURNS SETOF text LANGUAGE sql AS $$
  SELECT regexp_replace(regexp_replace(regexp_replace(line, '(job|run|Run) \d+', '\1 N', 'g'),
                                       '\d{4}-\d\d-\d\d [0-9:]+ UTC', 'T'), '\d+ loaded', 'N loaded')
    FROM regexp_split_to_table(tdm.report(run), E'\n') AS line
   WHERE line ~ '^(Run|Rollback|Final records|  Waiting)'
$$;
SELECT pg_temp.rollback_lines(:rb_second);
SELECT x ->> 'change' AS change, (x ->> 'job_id')::bigint = :rb_rollback AS by_the_rollback,
       (x ->> 'snapshot_id')::bigint = :rb_promoted AS to_the_snapshot
  FROM jsonb_array_elements(tdm._report_data(:rb_second) -> 'rollbacks') AS x;
SELECT count(*) AS queued FROM tdm.review_queue WHERE release = 'R-RB1';
INSERT INTO keys_st2.rb_orders VALUES (10, 1, 'R-RB2', 'FEAT-RB');
SET client_min_messages = warning;
SELECT tdm.tag_release('R-RB2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R-RB2') AS run \gset
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :run;
SELECT o.id, c.email, o.customer_id = (SELECT (k.new_key ->> 'id')::int FROM tdm.key_map k
                                        WHERE k.run_id = :rb_first AND k.env = 'st2') AS by_first_map
  FROM staging.rb_orders o JOIN master.rb_customers c ON c.id = o.customer_id;

-- A rule's merge that fills a NULL of a composite natural key from the
-- other member (R-NM1): st1's (NULL, 6) and st2's (10, NULL), one entity by
-- their id, merge into (10, 6), st2's other row's key. The run is invalid,
-- and the HINT names the conflict to decide, not a collation; keeping one
-- member settles it.
SELECT pg_temp.in_environments(
  'CREATE TABLE nm_pairs (id int PRIMARY KEY, a int, b int, UNIQUE (a, b), tdm_release text, tdm_feature text)');
IMPORT FOREIGN SCHEMA public LIMIT TO (nm_pairs) FROM SERVER st1 INTO keys_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (nm_pairs) FROM SERVER st2 INTO keys_st2;
CREATE TABLE staging.nm_pairs (id int PRIMARY KEY, a int, b int, UNIQUE (a, b), tdm_release text, tdm_feature text);
SELECT tdm.manage_table('staging.nm_pairs', '{"a,b"}');
SELECT tdm.create_release('R-NM1'), tdm.add_feature('R-NM1', 'FEAT-NM', 1);
INSERT INTO keys_st1.nm_pairs VALUES (3, NULL, 6, 'R-NM1', 'FEAT-NM');
INSERT INTO keys_st2.nm_pairs VALUES (3, 10, NULL, 'R-NM1', 'FEAT-NM'), (9, 10, 6, 'R-NM1', 'FEAT-NM');
SET client_min_messages = warning;
SELECT tdm.tag_release('R-NM1') IS NOT NULL AS tagged;
RESET client_min_messages;
SELECT tdm.consolidate('R-NM1') AS run \gset
SELECT c.rule, c.suggestion, m.conflict_id = c.conflict_id AS named, v.row_key
  FROM tdm.violation v JOIN tdm.conflict c ON c.run_id = v.run_id
  LEFT JOIN tdm._merge_made_violations(:run) m ON m.row_key = v.row_key
 WHERE v.run_id = :run ORDER BY v.row_key ->> 'env';
SELECT tdm.resolve(conflict_id, 'keep', 'st1', rationale => 'st1''s pair stands') IS NULL AS decided
  FROM tdm.conflict WHERE run_id = :run;
SET client_min_messages = warning;
SELECT tdm.consolidate('R-NM1') IS NOT NULL AS consolidated;
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :run;
SELECT id, a, b FROM staging.nm_pairs ORDER BY id;

-- R-RB2 was consolidated with R-RB1's first run current. R-RB1 is rolled
-- out of master again and consolidated again, without st2's c@x (a new
-- run, completed), and master rolled forward to rb_promoted: that run is
-- failed. R-RB2's promotion is refused (its run predates a rollback that
-- changed which run's rows of R-RB1, whose table R-RB2's references, master
-- holds) until it is consolidated again.
SET client_min_messages = warning;
SELECT tdm.rollback(:rb_consolidated) IS NOT NULL AS rolled_back;
DELETE FROM keys_st2.rb_customers WHERE id = 3;
DELETE FROM staging.rb_orders WHERE tdm_release = 'R-RB2';  -- (as consolidate's refusal says)
SELECT tdm.tag_release('R-RB1') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R-RB1') > :rb_second AS new_run;
SELECT status FROM tdm.run WHERE release = 'R-RB1' ORDER BY run_id DESC LIMIT 1;
SELECT tdm.rollback(:rb_promoted) IS NOT NULL AS rolled_back;
RESET client_min_messages;
SELECT tdm.promote('R-RB2');
SET client_min_messages = warning;
SELECT tdm.consolidate('R-RB2') IS NOT NULL AS consolidated, tdm.promote('R-RB2') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT o.id, c.email FROM master.rb_orders o JOIN master.rb_customers c ON c.id = o.customer_id;

-- A completed run failed by a rollback (R-RB2's last, promoted: master is
-- rolled back before it, the release consolidated again, then master
-- rolled forward): its report says what it loaded, which rollback failed
-- it and which run is the release's completed one again.
SET client_min_messages = warning;
SELECT tdm.snapshot('rb2_promoted') AS rb2_promoted \gset
SELECT tdm.rollback(:rb_promoted) IS NOT NULL AS rolled_back;
SELECT tdm.consolidate('R-RB2') AS rb2_again \gset
SELECT tdm.rollback(:rb2_promoted) IS NOT NULL AS rolled_back;
RESET client_min_messages;
SELECT pg_temp.rollback_lines(:rb2_again);
SELECT x ->> 'change' AS change, (x ->> 'completed_run')::bigint = r.run_id AS names_the_completed_run
  FROM jsonb_array_elements(tdm._report_data(:rb2_again) -> 'rollbacks') AS x
  CROSS JOIN (SELECT run_id FROM tdm.run WHERE release = 'R-RB2' AND status = 'completed') r;

-- The same merge making the key of an earlier release's row in master
-- (R-NM2, with R-NM1 promoted and staging emptied of it): validation
-- finds it against master, where the load into staging would not and
-- promote would refuse it; the HINT names the conflict as before.
SET client_min_messages = warning;
SELECT tdm.promote('R-NM1') IS NOT NULL AS promoted;
RESET client_min_messages;
DELETE FROM staging.nm_pairs;
SELECT tdm.create_release('R-NM2', parent => 'R-NM1'), tdm.add_feature('R-NM2', 'FEAT-NM2', 1);
INSERT INTO keys_st1.nm_pairs VALUES (4, NULL, 6, 'R-NM2', 'FEAT-NM2');
INSERT INTO keys_st2.nm_pairs VALUES (4, 10, NULL, 'R-NM2', 'FEAT-NM2');
SET client_min_messages = warning;
SELECT tdm.tag_release('R-NM2') IS NOT NULL AS tagged;
RESET client_min_messages;
SELECT tdm.consolidate('R-NM2') AS run \gset
SELECT r.status, v.row_key, v.detail ->> 'with' AS with, m.conflict_id = c.conflict_id AS named
  FROM tdm.run r JOIN tdm.violation v USING (run_id) JOIN tdm.conflict c USING (run_id)
  LEFT JOIN tdm._merge_made_violations(:run) m ON m.row_key = v.row_key
 WHERE r.run_id = :run;
SELECT tdm.resolve(conflict_id, 'keep', 'st1', rationale => 'st1''s pair stands') IS NULL AS decided
  FROM tdm.conflict WHERE run_id = :run;
SET client_min_messages = warning;
SELECT tdm.consolidate('R-NM2') IS NOT NULL AS consolidated, tdm.promote('R-NM2') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT id, a, b, tdm_release FROM master.nm_pairs ORDER BY id;

-- A decision's renames that give a row a key an earlier release's row
-- took in master since (R-DR2's keep_all renames st1's row to id 60;
-- R-DR3, promoted first, holds 60): validation finds it against master,
-- by the row's new key, and the HINT names the conflict to decide again.
-- (A customers table `name` in st1, st2 and staging, email its natural key,
-- compared case-insensitively when `normalized`.)
CREATE FUNCTION pg_temp.customers_table(name text, normalized bool DEFAULT false) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  ddl text := format('CREATE TABLE %I (id int PRIMARY KEY, email text NOT NULL UNIQUE, tier text,'
                     ' tdm_release text, tdm_feature text)', name);
BEGIN
  PERFORM pg_temp.in_environments(ddl);
  EXECUTE format('IMPORT FOREIGN SCHEMA public LIMIT TO (%I) FROM SERVER st1 INTO keys_st1', name);
  EXECUTE format('IMPORT FOREIGN SCHEMA public LIMIT TO (%I) FROM SERVER st2 INTO keys_st2', name);
  EXECUTE 'SET LOCAL search_path = staging';
  EXECUTE ddl;
  PERFORM tdm.manage_table(format('staging.%I', name)::regclass, '{email}', normalize_keys => normalized);
END
$$;
SELECT pg_temp.customers_table('dr_customers');
SELECT tdm.create_release('R-DR1'), tdm.add_feature('R-DR1', 'FEAT-DR1', 1);
SELECT tdm.create_release('R-DR2', parent => 'R-DR1'), tdm.add_feature('R-DR2', 'FEAT-DR2', 1);
SELECT tdm.create_release('R-DR3', parent => 'R-DR1'), tdm.add_feature('R-DR3', 'FEAT-DR3', 1);
INSERT INTO keys_st1.dr_customers VALUES (1, 'a@x', 'gold', 'R-DR1', 'FEAT-DR1');
SET client_min_messages = warning;
SELECT tdm.tag_release('R-DR1') IS NOT NULL AS tagged, tdm.consolidate('R-DR1') IS NOT NULL AS consolidated,
       tdm.promote('R-DR1') IS NOT NULL AS promoted;
UPDATE keys_st1.dr_customers SET tier = 'silver', tdm_release = 'R-DR2', tdm_feature = 'FEAT-DR2' WHERE id = 1;
SELECT tdm.tag_release('R-DR2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R-DR2') AS run \gset
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"st1": {"id": 60, "email": "n@x"}}',
                   rationale => 'a new customer') IS NULL AS decided
  FROM tdm.conflict WHERE run_id = :run;
INSERT INTO keys_st2.dr_customers VALUES (60, 'r3@x', 'gold', 'R-DR3', 'FEAT-DR3');
SELECT tdm.tag_release('R-DR3') IS NOT NULL AS tagged, tdm.consolidate('R-DR3') IS NOT NULL AS consolidated,
       tdm.promote('R-DR3') IS NOT NULL AS promoted;
DELETE FROM staging.dr_customers WHERE tdm_release = 'R-DR3';
RESET client_min_messages;
SELECT tdm.consolidate('R-DR2') = :run AS same_run;
SELECT r.status, v.row_key, v.detail ->> 'with' AS with
  FROM tdm.run r JOIN tdm.violation v USING (run_id) WHERE r.run_id = :run;
-- promote sends to the report and the decision, not to consolidate alone.
SELECT tdm.promote('R-DR2');

-- The same when another conflict of the row re-keyed it (R-MK2): st1's
-- (5, m@x) collides with master's 5 and is re-keyed; the m@x conflict
-- with st2's 7 is overruled, while st1's change to master's row 1 waits
-- for review, by a merge that sets email n@x, which R-MK3 takes in master
-- first. The row is checked by its new key.
SELECT pg_temp.customers_table('mk_customers');
SELECT tdm.create_release('R-MK1'), tdm.add_feature('R-MK1', 'FEAT-MK1', 1);
SELECT tdm.create_release('R-MK2', parent => 'R-MK1'), tdm.add_feature('R-MK2', 'FEAT-MK2', 1);
SELECT tdm.create_release('R-MK3', parent => 'R-MK1'), tdm.add_feature('R-MK3', 'FEAT-MK3', 1);
INSERT INTO keys_st1.mk_customers VALUES (1, 'a@x', 'gold', 'R-MK1', 'FEAT-MK1');
INSERT INTO keys_st2.mk_customers VALUES (5, 'z@x', 'gold', 'R-MK1', 'FEAT-MK1');
SET client_min_messages = warning;
SELECT tdm.tag_release('R-MK1') IS NOT NULL AS tagged, tdm.consolidate('R-MK1') IS NOT NULL AS consolidated,
       tdm.promote('R-MK1') IS NOT NULL AS promoted;
UPDATE keys_st1.mk_customers SET tier = 'silver', tdm_release = 'R-MK2', tdm_feature = 'FEAT-MK2';
INSERT INTO keys_st1.mk_customers VALUES (5, 'm@x', 'gold', 'R-MK2', 'FEAT-MK2');
INSERT INTO keys_st2.mk_customers VALUES (7, 'm@x', 'silver', 'R-MK2', 'FEAT-MK2');
SELECT tdm.tag_release('R-MK2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R-MK2') AS run \gset
SELECT kind, rule, status, members::text LIKE '%"master"%' AS with_master
  FROM tdm.conflict WHERE run_id = :run ORDER BY kind, rule;
SELECT tdm.resolve(conflict_id, 'keep', 'master', rationale => 'row 1 stays') IS NULL AS decided
  FROM tdm.conflict WHERE run_id = :run AND status = 'pending';
SELECT tdm.resolve(conflict_id, 'merge', merged => '{"email": "n@x", "tier": "bronze"}',
                   rationale => 'one customer, new address') IS NULL AS decided
  FROM tdm.conflict WHERE run_id = :run AND kind <> 'duplicate_pk' AND members::text NOT LIKE '%"master"%';
INSERT INTO keys_st2.mk_customers VALUES (61, 'n@x', 'gold', 'R-MK3', 'FEAT-MK3');
SELECT tdm.tag_release('R-MK3') IS NOT NULL AS tagged, tdm.consolidate('R-MK3') IS NOT NULL AS consolidated,
       tdm.promote('R-MK3') IS NOT NULL AS promoted;
DELETE FROM staging.mk_customers WHERE tdm_release = 'R-MK3';
RESET client_min_messages;
SELECT tdm.consolidate('R-MK2') = :run AS same_run;
SELECT r.status, v.row_key ->> 'env' AS env, v.detail ->> 'with' AS with, v.detail -> 'values' AS key_values
  FROM tdm.run r JOIN tdm.violation v USING (run_id) WHERE r.run_id = :run;

-- A normalize_keys natural key is one entity's whatever its case: R-NK2's
-- keep_all renames st1's row to 'N@x', and R-NK3 promotes 'n@x' first
-- (its row stays in staging, whose plain unique index takes both).
-- Validation flags the renamed row against master's, as detection would
-- have grouped them; deciding again with another address completes.
SELECT pg_temp.customers_table('nk_customers', normalized => true);
SELECT tdm.create_release('R-NK1'), tdm.add_feature('R-NK1', 'FEAT-NK1', 1);
SELECT tdm.create_release('R-NK2', parent => 'R-NK1'), tdm.add_feature('R-NK2', 'FEAT-NK2', 1);
SELECT tdm.create_release('R-NK3', parent => 'R-NK1'), tdm.add_feature('R-NK3', 'FEAT-NK3', 1);
INSERT INTO keys_st1.nk_customers VALUES (1, 'a@x', 'gold', 'R-NK1', 'FEAT-NK1');
SET client_min_messages = warning;
SELECT tdm.tag_release('R-NK1') IS NOT NULL AS tagged, tdm.consolidate('R-NK1') IS NOT NULL AS consolidated,
       tdm.promote('R-NK1') IS NOT NULL AS promoted;
UPDATE keys_st1.nk_customers SET tier = 'silver', tdm_release = 'R-NK2', tdm_feature = 'FEAT-NK2' WHERE id = 1;
SELECT tdm.tag_release('R-NK2') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R-NK2') AS run \gset
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"st1": {"id": 60, "email": "N@x"}}',
                   rationale => 'a new customer') IS NULL AS decided
  FROM tdm.conflict WHERE run_id = :run;
INSERT INTO keys_st2.nk_customers VALUES (61, 'n@x', 'gold', 'R-NK3', 'FEAT-NK3');
SELECT tdm.tag_release('R-NK3') IS NOT NULL AS tagged, tdm.consolidate('R-NK3') IS NOT NULL AS consolidated,
       tdm.promote('R-NK3') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT tdm.consolidate('R-NK2') = :run AS same_run;
SELECT r.status, v.row_key, v.detail ->> 'with' AS with, v.detail -> 'values' AS key_values
  FROM tdm.run r JOIN tdm.violation v USING (run_id) WHERE r.run_id = :run;
SELECT count(*) AS loaded FROM staging.nk_customers WHERE tdm_release = 'R-NK2';
SET client_min_messages = warning;
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"st1": {"id": 60, "email": "o@x"}}',
                   rationale => 'a new customer, another address') IS NULL AS decided
  FROM tdm.conflict WHERE run_id = :run;
SELECT tdm.consolidate('R-NK2') = :run AS same_run, tdm.promote('R-NK2') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT id, email, tdm_release FROM master.nk_customers ORDER BY id;

-- A keep_all rename that gives a row the primary key of another row of
-- the release that no conflict met (st1's acme 2): the key includes a
-- foreign key (a tenant), whose parents' resolution may change it, so
-- the decision is taken; validation finds the collision, and its HINT
-- names the decision that made it. (A rename of the tenant itself, a
-- column of the foreign key, is refused: the row would be another
-- tenant's.)
SELECT pg_temp.in_environments(
  'CREATE TABLE rn_tenants (slug text PRIMARY KEY, tdm_release text, tdm_feature text);'
  'CREATE TABLE rn_users (tenant text REFERENCES rn_tenants, id int, email text NOT NULL,'
  '  tdm_release text, tdm_feature text, PRIMARY KEY (tenant, id), UNIQUE (tenant, email))');
IMPORT FOREIGN SCHEMA public LIMIT TO (rn_tenants, rn_users) FROM SERVER st1 INTO keys_st1;
IMPORT FOREIGN SCHEMA public LIMIT TO (rn_tenants, rn_users) FROM SERVER st2 INTO keys_st2;
CREATE TABLE staging.rn_tenants (slug text PRIMARY KEY, tdm_release text, tdm_feature text);
CREATE TABLE staging.rn_users (tenant text REFERENCES staging.rn_tenants, id int, email text NOT NULL,
  tdm_release text, tdm_feature text, PRIMARY KEY (tenant, id), UNIQUE (tenant, email));
SELECT tdm.manage_table('staging.rn_tenants'), tdm.manage_table('staging.rn_users', '{"tenant,email"}');
SELECT tdm.create_release('R-RN1'), tdm.add_feature('R-RN1', 'FEAT-RN1', 1);
INSERT INTO keys_st1.rn_tenants VALUES ('acme', 'R-RN1', 'FEAT-RN1');
INSERT INTO keys_st1.rn_users VALUES ('acme', 1, 'a@x', 'R-RN1', 'FEAT-RN1'), ('acme', 2, 'd@x', 'R-RN1', 'FEAT-RN1');
INSERT INTO keys_st2.rn_tenants VALUES ('acme', 'R-RN1', 'FEAT-RN1'), ('globex', 'R-RN1', 'FEAT-RN1');
INSERT INTO keys_st2.rn_users VALUES ('acme', 1, 'b@x', 'R-RN1', 'FEAT-RN1'), ('globex', 1, 'c@x', 'R-RN1', 'FEAT-RN1');
SET client_min_messages = warning;
SELECT tdm.tag_release('R-RN1') IS NOT NULL AS tagged;
SELECT tdm.consolidate('R-RN1') AS run \gset
SELECT conflict_id AS rn_conflict FROM tdm.conflict WHERE run_id = :run AND status = 'pending' \gset
SELECT tdm.resolve(:'rn_conflict', 'keep_all', renames => '{"st2": {"tenant": "globex"}}',
                   rationale => 'bob is globex''s') IS NULL AS decided;
SELECT tdm.resolve(:'rn_conflict', 'keep_all', renames => '{"st2": {"id": 2}}',
                   rationale => 'bob is acme''s second user') IS NULL AS decided;
RESET client_min_messages;
SELECT tdm.consolidate('R-RN1') = :run AS same_run;
SET client_min_messages = warning;
SELECT tdm.resolve(conflict_id, 'keep_all', renames => '{"st2": {"id": 3}}',
                   rationale => 'bob is acme''s third user') IS NULL AS decided
  FROM tdm.conflict WHERE run_id = :run AND status = 'decided' AND rel = 'staging.rn_users'::regclass;
SELECT tdm.consolidate('R-RN1') = :run AS same_run;
RESET client_min_messages;
SELECT status FROM tdm.run WHERE run_id = :run;
SELECT tenant, id, email FROM staging.rn_users ORDER BY 1, 2;

-- Calls made at once take turns, and the second says what it would say
-- made afterwards. A deploy run twice (a retried CI step) is one
-- deployment (before: two of one code version, and rollback_release told
-- the tooling to return to the version it rolled back). Two rules of one
-- name: the second is told the rule exists (before: rule_pkey's error).
-- Two registrations of managed tables: the second waits (before: refused,
-- as if a tagging or a consolidation held them).
SET client_min_messages = warning;
SELECT tdm.promote('R-RN1') IS NOT NULL AS promoted;
RESET client_min_messages;
SELECT pg_temp.second_waits($$SELECT tdm.deploy('R-RN1', 'v-rn1')$$, $$SELECT tdm.deploy('R-RN1', 'v-rn1')$$)
       AS second_deployment \gset
SELECT count(*) AS deployments, min(deployment_id) = :second_deployment AS same_deployment
  FROM tdm.deployment WHERE release = 'R-RN1';
SELECT pg_temp.second_waits($$SELECT tdm.add_rule('rn_twice', 'staging.rn_users', 'id > 0')$$,
                            $$SELECT tdm.add_rule('rn_twice', 'staging.rn_users', 'id > 0')$$);
SELECT pg_temp.second_waits($$SELECT tdm.manage_table('staging.rn_users', '{"tenant,email"}', core_columns => '{email}')$$,
                            $$SELECT tdm.manage_table('staging.rn_tenants')$$) = '' AS registered;
SELECT rel, core_columns FROM tdm.managed_table WHERE rel::text LIKE 'staging.rn_%' ORDER BY 1;
-- Two calls reading a new environment for the first time: the second's
-- CREATE SCHEMA waits for the first's, then finds it made (before:
-- pg_namespace's unique-index error).
SELECT dblink_exec(pg_temp.env_conninfo('st1'), 'CREATE SCHEMA race');
SELECT tdm.add_environment('st_race', 'st1', 99, 'race');
SELECT pg_temp.second_waits($$SELECT tdm._refresh_environment('st_race')$$,
                            $$SELECT tdm._refresh_environment('st_race')$$) = '' AS refreshed;
SELECT count(*) = (SELECT count(*) FROM tdm.managed_table) AS one_foreign_table_each
  FROM pg_class c WHERE c.relnamespace = 'tdm_env_st_race'::regnamespace AND c.relkind = 'f'
   AND c.relname NOT LIKE 'tdm\_remote\_%';
SELECT tdm.remove_environment('st_race');
SELECT dblink_exec(pg_temp.env_conninfo('st1'), 'DROP SCHEMA race');
SELECT tdm.drop_rule('rn_twice');
DROP ROLE tdm_keys_approver;
