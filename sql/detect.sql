-- Conflict detection on the seed's examples, planted in the environments
-- for release R3 (plant_stN schemas come from sql/tag_release.sql).
\set SHOW_CONTEXT never
SELECT tdm.create_release('R3', 'v3.0', parent => 'R2');
SELECT tdm.add_feature('R3', f, p)
  FROM (VALUES ('FEAT-101', 3), ('FEAT-102', 2), ('FEAT-104', 2), ('FEAT-105', 1),
               ('FEAT-108', 2)) AS plan(f, p);

-- users: (id, email, full_name, role, updated_at, feature) per environment.
INSERT INTO plant_st1.users (user_id, email, full_name, role, created_at, updated_at, tdm_release, tdm_feature) VALUES
  -- C-001: same email, different role, different features
  (9001, 'testuser1@company.com', 'Test User', 'Administrator', '2024-01-10', '2024-01-10', 'R3', 'FEAT-101'),
  -- exact duplicate
  (9002, 'dup@company.com', 'Dup Licate', 'Customer', '2024-01-10', '2024-01-10', 'R3', 'FEAT-102'),
  -- temporal priority: identical but the timestamps
  (9003, 'testuser2@company.com', 'Test Two', 'Customer', '2024-01-10', '2024-01-10', 'R3', 'FEAT-102'),
  -- non-conflicting merge: NULL against a value
  (9004, 'merge@company.com', NULL, 'Customer', '2024-01-10', '2024-01-10', 'R3', 'FEAT-102'),
  -- feature priority
  (9005, 'feature@company.com', 'Low Priority', 'Customer', '2024-01-10', '2024-01-10', 'R3', 'FEAT-105'),
  -- equal-priority features (the seed's C-015)
  (9007, 'testuser_merchant@company.com', 'Payments', 'Merchant', '2024-01-10', '2024-01-10', 'R3', 'FEAT-104'),
  -- core column conflict
  (9008, 'core@company.com', 'Core User', 'Administrator', '2024-01-10', '2024-01-10', 'R3', 'FEAT-102'),
  -- primary key collision between different people
  (9009, 'alice@company.com', 'Alice', 'Customer', '2024-01-10', '2024-01-10', 'R3', 'FEAT-102'),
  -- a chain over three environments: st1~st2 by id, st2~st3 by email
  (9011, 'chain@company.com', 'Chain', 'Customer', '2024-01-10', '2024-01-10', 'R3', 'FEAT-102');
INSERT INTO plant_st2.users (user_id, email, full_name, role, created_at, updated_at, tdm_release, tdm_feature) VALUES
  (9002, 'dup@company.com', 'Dup Licate', 'Customer', '2024-01-10', '2024-01-10', 'R3', 'FEAT-102'),
  (9003, 'testuser2@company.com', 'Test Two', 'Customer', '2024-01-10', '2024-01-12', 'R3', 'FEAT-102'),
  (9004, 'merge@company.com', 'Grace Hopper', 'Customer', '2024-01-10', '2024-01-11', 'R3', 'FEAT-102'),
  -- environment precedence: same feature, different names (st2 beats st3)
  (9006, 'precedence@company.com', 'From ST2', 'Customer', '2024-01-10', '2024-01-10', 'R3', 'FEAT-102'),
  (9008, 'core@company.com', 'Core User', 'Support', '2024-01-10', '2024-01-10', 'R3', 'FEAT-102'),
  (9009, 'bob@company.com', 'Bob', 'Customer', '2024-01-10', '2024-01-10', 'R3', 'FEAT-102'),
  (9011, 'chain@company.com', 'Chain', 'Customer', '2024-01-10', '2024-01-11', 'R3', 'FEAT-102');
INSERT INTO plant_st3.users (user_id, email, full_name, role, created_at, updated_at, tdm_release, tdm_feature) VALUES
  (9101, 'testuser1@company.com', 'Test User', 'Customer', '2024-01-12', '2024-01-12', 'R3', 'FEAT-105'),
  (9005, 'feature@company.com', 'High Priority', 'Customer', '2024-01-10', '2024-01-10', 'R3', 'FEAT-101'),
  (9006, 'precedence@company.com', 'From ST3', 'Customer', '2024-01-10', '2024-01-10', 'R3', 'FEAT-102'),
  (9007, 'testuser_merchant@company.com', 'Refunds', 'Merchant', '2024-01-10', '2024-01-10', 'R3', 'FEAT-108'),
  (9311, 'chain@company.com', 'Chain', 'Customer', '2024-01-10', '2024-01-12', 'R3', 'FEAT-102');
-- transactions (surrogate keys): the same txn_id for different accounts.
INSERT INTO plant_st1.accounts (account_id, user_id, account_number, balance, currency, created_at, updated_at, tdm_release, tdm_feature)
VALUES (9001, 9001, 'ACC-R3-ST1', 0, 'EUR', '2024-01-10', '2024-01-10', 'R3', 'FEAT-101');
INSERT INTO plant_st2.accounts (account_id, user_id, account_number, balance, currency, created_at, updated_at, tdm_release, tdm_feature)
VALUES (9002, 9002, 'ACC-R3-ST2', 10000, 'EUR', '2024-01-10', '2024-01-10', 'R3', 'FEAT-102');
INSERT INTO plant_st1.transactions (txn_id, account_id, amount, kind, created_at, updated_at, tdm_release, tdm_feature)
VALUES (9001, 9001, 10, 'deposit', '2024-01-10', '2024-01-10', 'R3', 'FEAT-101');
INSERT INTO plant_st2.transactions (txn_id, account_id, amount, kind, created_at, updated_at, tdm_release, tdm_feature)
VALUES (9001, 9002, 20, 'refund', '2024-01-10', '2024-01-10', 'R3', 'FEAT-102');

-- Before tagging, detection is a preview of unlocked data.
SELECT count(*) AS conflicts FROM tdm.detect_conflicts('R3');
SELECT tdm.tag_release('R3') IS NOT NULL AS tagged;
SELECT status FROM tdm.release WHERE release = 'R3';

-- Each planted case with its kind, class, priority and rule.
SELECT rel, kind, class, priority, rule,
       (SELECT string_agg(m->>'env' || ':' || coalesce(m->'row'->>'email', m->'row'->>'account_id'), ' ')
          FROM jsonb_array_elements(members) m) AS members,
       suggestion
  FROM tdm.detect_conflicts('R3')
 ORDER BY rel::text, members->0->'row'->>'email', members->0->'row'->>'txn_id';

-- The review view of C-001: who, which feature, and only what differs.
\x on
SELECT conflict_id ~ '^C-[0-9a-f]{12}$' AS id_format, kind, priority, rule, rationale,
       jsonb_pretty(differing) AS differing,
       (SELECT jsonb_agg(jsonb_build_object('env', m->'env', 'feature', m->'feature', 'ts', m->'ts'))
          FROM jsonb_array_elements(members) m) AS members
  FROM tdm.detect_conflicts('R3')
 WHERE members->0->'row'->>'email' = 'testuser1@company.com';
\x off

-- Dry run: the same rows (ids included) on every call, nothing durable
-- written.
CREATE TEMP TABLE first_run AS SELECT * FROM tdm.detect_conflicts('R3');
SELECT (SELECT count(*) FROM (SELECT * FROM first_run EXCEPT SELECT * FROM tdm.detect_conflicts('R3')) a) AS only_first,
       (SELECT count(*) FROM (SELECT * FROM tdm.detect_conflicts('R3') EXCEPT SELECT * FROM first_run) b) AS only_second;
SELECT count(*) AS temp_tables_left FROM pg_class WHERE relname LIKE 'tdm_collected_%';

-- tdm.work_mem bounds detection: with less of it, detection partitions
-- and runs key passes in SQL, and finds exactly the same conflicts.
CREATE TEMP TABLE roomy AS SELECT * FROM tdm.detect_conflicts('R2');
CREATE FUNCTION pg_temp.detect_within(mem text)
RETURNS TABLE (conflicts bigint, only_roomy bigint, only_here bigint) LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('tdm.work_mem', mem, true);
  PERFORM set_config('tdm.progress_notices', 'on', true);
  CREATE TEMP TABLE here ON COMMIT DROP AS SELECT * FROM tdm.detect_conflicts('R2');
  RETURN QUERY
  SELECT (SELECT count(*) FROM here),
         (SELECT count(*) FROM (SELECT * FROM roomy EXCEPT SELECT * FROM here) a),
         (SELECT count(*) FROM (SELECT * FROM here EXCEPT SELECT * FROM roomy) b);
END
$$;
-- 64kB: the key passes of users and accounts fit (in memory) and only
-- their second passes are partitioned; the 6000 transactions' hashes fit
-- (8 bytes a row), but not with their candidates' locations (every row
-- is one), so their key pass runs in SQL.
SELECT * FROM pg_temp.detect_within('64kB');
-- 128kB: every key pass fits.
SELECT * FROM pg_temp.detect_within('128kB');
SELECT rel, kind, class, priority, rule, count(*) FROM roomy GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5;

-- A table as real schemas have them: quoted names, a composite primary key,
-- a uuid natural key, an enum whose type lives in public in the
-- environments but in staging here, jsonb and arrays.
SELECT tdm.manage_table('staging."Order Lines"', '{sku}', 'happened', '{status}');
CREATE FOREIGN TABLE plant_st1."Order Lines" ("Order Id" int, line_no smallint, sku uuid,
  qty numeric(10, 2), meta jsonb, status staging."Line Status", tags text[], happened date,
  tdm_release text, tdm_feature text) SERVER st1 OPTIONS (schema_name 'public', table_name 'Order Lines');
CREATE FOREIGN TABLE plant_st2."Order Lines" ("Order Id" int, line_no smallint, sku uuid,
  qty numeric(10, 2), meta jsonb, status staging."Line Status", tags text[], happened date,
  tdm_release text, tdm_feature text) SERVER st2 OPTIONS (schema_name 'public', table_name 'Order Lines');
INSERT INTO plant_st1."Order Lines" VALUES
  (1, 1, '11111111-1111-1111-1111-111111111111', 2.5, '{"gift": true}', 'new', '{a,b}', '2024-01-01', 'R3', 'FEAT-101'),
  (1, 2, '22222222-2222-2222-2222-222222222222', 1, NULL, 'paid', NULL, '2024-01-02', 'R3', 'FEAT-101'),
  (2, 1, '33333333-3333-3333-3333-333333333333', 3, '[1, 2]', 'new', '{}', '2024-01-03', 'R3', 'FEAT-101');
INSERT INTO plant_st2."Order Lines" VALUES
  (1, 1, '11111111-1111-1111-1111-111111111111', 2.5, '{"gift": true}', 'new', '{a,b}', '2024-01-05', 'R3', 'FEAT-101'),
  (1, 2, '44444444-4444-4444-4444-444444444444', 1, '{"b": 1}', 'paid', NULL, '2024-01-02', 'R3', 'FEAT-102'),
  (5, 1, '33333333-3333-3333-3333-333333333333', 9, NULL, 'refunded', '{z}', '2024-01-03', 'R3', 'FEAT-101');
SELECT tdm.tag_release('R3') IS NOT NULL AS tagged;
SELECT status FROM tdm.release WHERE release = 'R3';
SELECT kind, class, priority, rule, suggestion, differing
  FROM tdm.detect_conflicts('R3') WHERE rel = 'staging."Order Lines"'::regclass
 ORDER BY members->0->'row'->>'sku';
SELECT jsonb_pretty(members->0->'row') AS typed_row
  FROM tdm.detect_conflicts('R3') WHERE rel = 'staging."Order Lines"'::regclass
   AND members->0->'row'->>'sku' LIKE '1111%';

-- Rows whose values take far more room than their table's pages (TOAST
-- compressed, or stored out of line): detection sizes its partitions by
-- the values' text, so two such rows do not fit 64kB together. (Rolled
-- back: the planted rows too.)
BEGIN;
SELECT tdm.create_release('R-WIDE');
SELECT tdm.add_feature('R-WIDE', 'FEAT-101', 1);
INSERT INTO plant_st1."Order Lines" (sku, "Order Id", line_no, meta, status, tdm_release, tdm_feature)
VALUES ('77777777-7777-7777-7777-777777777777', 70, 1, jsonb_build_object('note', repeat('a', 300000)), 'new',
        'R-WIDE', 'FEAT-101');
INSERT INTO plant_st2."Order Lines" (sku, "Order Id", line_no, meta, status, tdm_release, tdm_feature)
VALUES ('77777777-7777-7777-7777-777777777777', 70, 1, jsonb_build_object('note', repeat('b', 300000)), 'new',
        'R-WIDE', 'FEAT-101');
SELECT tdm.tag_release('R-WIDE') IS NOT NULL AS tagged;
SET LOCAL tdm.work_mem = '64kB';
SET LOCAL tdm.progress_notices = on;
SELECT rel, kind FROM tdm.detect_conflicts('R-WIDE');
ROLLBACK;
