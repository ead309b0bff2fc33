-- Test data of one environment, deterministic by seed (psql variables:
-- env, rows, shared, differ, exact, id_overlap, with_children, release, seed).
--
-- Row g of an environment has user_id g, account_id g and transactions 2g-1
-- and 2g when it is shared or falls in the fraction `id_overlap` (default
-- 1: environment-local sequences all start at 1, so primary keys collide
-- between environments as they do in real system-test databases); other
-- rows get ids of their own environment's range.
-- A fraction `shared` of the g's are the same person everywhere (same
-- email, same account number); of those, a fraction `differ` carries
-- environment-specific attributes in each environment, and a fraction
-- `exact` is identical to the last column (timestamps included); the
-- others share created_at but carry their environment's updated_at.

-- A uniform number in [0, 1) from a key (PostgreSQL's own string hash:
-- fast, and the same on every run).
CREATE FUNCTION pg_temp.u(key text) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$
  SELECT (hashtextextended(key, 0) & 2147483647)::float8 / 2147483648.0
$$;

CREATE TEMP TABLE plan AS
SELECT g,
       pg_temp.u(:'seed' || ':' || 'shared' || ':' || g::text) < :shared AS shared,
       pg_temp.u(:'seed' || ':' || 'differ' || ':' || :'env' || ':' || g::text) < :differ AS differs,
       pg_temp.u(:'seed' || ':' || 'exact' || ':' || g::text) < :exact AS exact,
       pg_temp.u(:'seed' || ':' || 'id' || ':' || :'env' || ':' || g::text) < :id_overlap AS same_id
  FROM generate_series(1, :rows) AS g;

-- The key attributes are drawn from: the person (shared and not differing)
-- or the environment's own copy.
CREATE TEMP TABLE person AS
SELECT g, shared, exact,
       CASE WHEN shared OR same_id THEN g ELSE g + :'env'::bigint * :rows * 10 END AS id,
       CASE WHEN shared AND NOT differs THEN :'seed' ELSE :'seed' || ':' || :'env' END AS draw,
       CASE WHEN shared THEN 'user' || g || '@example.com'
            ELSE 'st' || :'env' || '.user' || g || '@example.com' END AS email,
       CASE WHEN shared THEN 'ACC-' || lpad(g::text, 8, '0')
            ELSE 'ACC-ST' || :'env' || '-' || lpad(g::text, 8, '0') END AS account_number,
       timestamptz '2024-01-10 09:00+00' + g * interval '1 minute' AS created_at,
       CASE WHEN shared AND exact THEN timestamptz '2024-01-10 09:00+00' + g * interval '1 minute'
            ELSE timestamptz '2024-01-10 09:00+00' + (:'env'::int - 1) * interval '1 day'
                 + g * interval '1 minute' END AS updated_at
  FROM plan;

INSERT INTO users (user_id, email, full_name, role, created_at, updated_at, tdm_release,
                   tdm_feature)
SELECT id, email,
       (ARRAY['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken'])
         [1 + floor(pg_temp.u(draw || ':' || 'first' || ':' || g::text) * 8)::int] || ' ' ||
       (ARRAY['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Thompson'])
         [1 + floor(pg_temp.u(draw || ':' || 'last' || ':' || g::text) * 8)::int],
       (ARRAY['Administrator', 'Customer', 'Customer', 'Customer', 'Merchant', 'Support'])
         [1 + floor(pg_temp.u(draw || ':' || 'role' || ':' || g::text) * 6)::int],
       created_at, updated_at,
       :'release',
       'FEAT-' || (101 + floor(pg_temp.u(draw || ':' || 'feature' || ':' || g::text) * 8)::int)
  FROM person;

-- Benchmarks may build the users table alone (with_children off).
\if :with_children
INSERT INTO accounts (account_id, user_id, account_number, balance, created_at, updated_at,
                      tdm_release, tdm_feature)
SELECT id, id, account_number,
       round((pg_temp.u(draw || ':' || 'balance' || ':' || g::text) * 20000)::numeric, 2),
       person.created_at, person.updated_at, u.tdm_release, u.tdm_feature
  FROM person JOIN users u ON u.user_id = person.id;

INSERT INTO transactions (txn_id, account_id, amount, kind, created_at, updated_at, tdm_release,
                          tdm_feature)
SELECT 2 * id - n, id,
       round((10 + pg_temp.u(draw || ':' || 'amount' || ':' || g::text || ':' || n::text) * 990)::numeric, 2),
       (ARRAY['deposit', 'withdrawal', 'transfer', 'refund'])
         [1 + floor(pg_temp.u(draw || ':' || 'kind' || ':' || g::text || ':' || n::text) * 4)::int],
       created_at + n * interval '1 second', updated_at + n * interval '1 second',
       :'release', 'FEAT-' || (101 + floor(pg_temp.u(draw || ':' || 'feature' || ':' || g::text) * 8)::int)
  FROM person CROSS JOIN (VALUES (0), (1)) AS t(n);

-- Teams and their members (a reference cycle), written in one statement:
-- team 1 is the same in every environment; team 2 and its members are the
-- environment's own, on ids that collide across environments, and so is
-- its room (the same in every environment but for the team).
WITH new_teams AS (
  INSERT INTO teams (team_id, name, lead_id, updated_at, tdm_release, tdm_feature)
  VALUES (1, 'Platform', 1, '2024-01-05', :'release', 'FEAT-101'),
         (2, 'Team st' || :env, 2, '2024-01-05', :'release', 'FEAT-101')),
     new_members AS (
  INSERT INTO team_members (member_id, team_id, email, updated_at, tdm_release, tdm_feature)
  VALUES (1, 1, 'lead@platform.test', '2024-01-05', :'release', 'FEAT-101'),
         (2, 2, 'lead@st' || :env || '.test', '2024-01-05', :'release', 'FEAT-101'),
         (3, 2, 'dev@st' || :env || '.test', '2024-01-05', :'release', 'FEAT-101')),
     new_rooms AS (
  INSERT INTO rooms (room_id, team_id, label, tdm_release, tdm_feature)
  VALUES (1, 2, 'window', :'release', 'FEAT-101'))
SELECT 1;
\endif

-- Later inserts (by testers, by tests) continue after the planted rows.
SELECT setval(pg_get_serial_sequence('users', 'user_id'), max(user_id)) FROM users;
\if :with_children
SELECT setval(pg_get_serial_sequence('accounts', 'account_id'), max(account_id)) FROM accounts;
SELECT setval(pg_get_serial_sequence('transactions', 'txn_id'), max(txn_id)) FROM transactions;
\endif
ANALYZE;
