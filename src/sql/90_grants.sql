-- Privileges. Setup and operations: tdm_admin. Reading the catalog:
-- tdm_admin and tdm_reviewer. Nothing for PUBLIC. The setup functions run
-- with the caller's rights, so tdm_admin holds the table privileges they use.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA tdm FROM PUBLIC;
GRANT USAGE ON SCHEMA tdm TO tdm_admin, tdm_reviewer;
GRANT USAGE, CREATE ON SCHEMA tdm_remote TO tdm_admin;

GRANT SELECT ON ALL TABLES IN SCHEMA tdm TO tdm_admin, tdm_reviewer;
GRANT INSERT, UPDATE ON tdm.environment, tdm.managed_table, tdm.release, tdm.feature, tdm.rule,
                        tdm.job TO tdm_admin;
GRANT INSERT ON tdm.audit TO tdm_admin;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA tdm TO tdm_admin;

GRANT EXECUTE ON FUNCTION
  tdm.add_environment(text, name, int, text),
  tdm.manage_table(regclass, text[], text, text[], text, text, bool),
  tdm.create_release(text, text, text),
  tdm.add_feature(text, text, int),
  tdm.add_rule(text, regclass, text, text),
  tdm._check_rule_target(text, regclass, text),
  tdm._foreign_keys(regclass),
  tdm._audit(text, text, jsonb),
  tdm._audit_genesis(),
  tdm._audit_hash(tdm.audit)
  TO tdm_admin;
GRANT EXECUTE ON FUNCTION
  tdm.verify_audit(),
  tdm._audit_genesis(),
  tdm._audit_hash(tdm.audit)
  TO tdm_admin, tdm_reviewer;
