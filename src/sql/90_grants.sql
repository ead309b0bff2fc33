-- Privileges. Setup and operations: tdm_admin. Reading the catalog:
-- tdm_admin and tdm_reviewer. Nothing for PUBLIC. The setup functions run
-- with the caller's rights, so tdm_admin holds the table privileges they use.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA tdm FROM PUBLIC;
GRANT USAGE ON SCHEMA tdm TO tdm_admin, tdm_reviewer;
GRANT USAGE, CREATE ON SCHEMA tdm_remote TO tdm_admin;

GRANT SELECT ON ALL TABLES IN SCHEMA tdm TO tdm_admin, tdm_reviewer;
GRANT INSERT, UPDATE ON tdm.environment, tdm.managed_table, tdm.release, tdm.feature, tdm.rule,
                        tdm.job, tdm.tag_finding TO tdm_admin;
GRANT INSERT, UPDATE, DELETE ON tdm.release_lock TO tdm_admin;
GRANT INSERT ON tdm.audit TO tdm_admin;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA tdm TO tdm_admin;

-- tdm_admin runs every function (the public API and the helpers it calls
-- with the admin's rights) except the bridge diagnostics.
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA tdm TO tdm_admin;
REVOKE EXECUTE ON FUNCTION tdm._bridge_raise(text), tdm._bridge_sentinels(),
  tdm._bridge_spin(bigint) FROM tdm_admin;
GRANT EXECUTE ON FUNCTION
  tdm.verify_audit(),
  tdm._audit_genesis(),
  tdm._audit_hash(tdm.audit)
  TO tdm_reviewer;
