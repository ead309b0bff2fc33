-- Diagnostics of the C++/PostgreSQL error bridge, used by the test suites.
-- Superuser only (revoked from PUBLIC in 90_grants.sql).

CREATE FUNCTION tdm._bridge_raise(kind text) RETURNS void
AS 'MODULE_PATHNAME', 'tdm_bridge_raise' LANGUAGE C STRICT;

CREATE FUNCTION tdm._bridge_sentinels() RETURNS bigint
AS 'MODULE_PATHNAME', 'tdm_bridge_sentinels' LANGUAGE C STRICT;

CREATE FUNCTION tdm._bridge_spin(iterations bigint) RETURNS bigint
AS 'MODULE_PATHNAME', 'tdm_bridge_spin' LANGUAGE C STRICT;
