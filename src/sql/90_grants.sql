-- Privileges. Setup and operations: tdm_admin. Reading the catalog:
-- tdm_admin and tdm_reviewer. Nothing for PUBLIC. The setup functions run
-- with the caller's rights, so tdm_admin holds the table privileges they use.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA tdm FROM PUBLIC;
GRANT USAGE ON SCHEMA tdm TO tdm_admin, tdm_reviewer;
GRANT USAGE, CREATE ON SCHEMA tdm_remote TO tdm_admin;

GRANT SELECT ON ALL TABLES IN SCHEMA tdm TO tdm_admin, tdm_reviewer;
GRANT INSERT, UPDATE ON tdm.environment, tdm.managed_table, tdm.release, tdm.feature, tdm.rule,
                        tdm.job, tdm.tag_finding TO tdm_admin;
GRANT DELETE ON tdm.managed_table, tdm.rule TO tdm_admin;  -- (tdm.unmanage_table)
GRANT INSERT, UPDATE, DELETE ON tdm.mask TO tdm_admin;
GRANT INSERT ON tdm.mask_key TO tdm_admin;  -- (made with the first mask)
-- (The masks' key: whoever reads it can reverse a hash mask by guessing.)
REVOKE SELECT ON tdm.mask_key FROM tdm_reviewer;
-- (A lock's checksum hashes the environments' rows unmasked, with no key:
-- a reviewer would check guesses of masked values against it.)
REVOKE SELECT ON tdm.release_lock FROM tdm_reviewer;
GRANT SELECT (release, env, rel, row_count, locked_at, shape, fills) ON tdm.release_lock TO tdm_reviewer;
GRANT DELETE ON tdm.environment TO tdm_admin;  -- (tdm.remove_environment)
GRANT INSERT, UPDATE, DELETE ON tdm.release_lock, tdm.run, tdm.conflict, tdm.key_map,
                                tdm.violation, tdm.decision, tdm.snapshot,
                                tdm.snapshot_table, tdm.snapshot_release, tdm.snapshot_spare,
                                tdm.deployment TO tdm_admin;
GRANT USAGE, CREATE ON SCHEMA tdm_snapshot, tdm_archive TO tdm_admin;
GRANT INSERT ON tdm.audit TO tdm_admin;
GRANT UPDATE ON tdm.audit_head TO tdm_admin;  -- (appending moves the head; tdm._audit_head_guard)
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA tdm TO tdm_admin;  -- (SELECT: pg_dump reads them)

-- tdm_admin runs every function (the public API and the helpers it calls
-- with the admin's rights) except the bridge diagnostics.
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA tdm TO tdm_admin;
REVOKE EXECUTE ON FUNCTION tdm._bridge_raise(text), tdm._bridge_sentinels(),
  tdm._bridge_spin(bigint) FROM tdm_admin;
-- (The owner's key lookups: a decision's check reaches them through
-- tdm._key_taken_for, on its conflict; decision 293.)
REVOKE EXECUTE ON FUNCTION tdm._key_in_release(regclass, text[], jsonb, text),
  tdm._key_holder(regclass, text[], jsonb, text) FROM tdm_admin;
GRANT EXECUTE ON FUNCTION
  tdm.verify_audit(),
  tdm._audit_genesis(),
  tdm._audit_hash(tdm.audit)
  TO tdm_reviewer;

-- Reviewers read the queue and write decisions (the checks the decision
-- trigger runs are theirs to execute); they start nothing. What a decision
-- changes besides itself (its conflict's status, the audit trail) is
-- written by tdm._decision_record, a definer's trigger: reviewers hold no
-- privilege on those tables, nor the functions that write them.
GRANT INSERT, UPDATE, DELETE ON tdm.decision TO tdm_reviewer;
GRANT EXECUTE ON FUNCTION
  tdm.resolve(text, tdm.action, text, jsonb, jsonb, text),
  tdm.resolve_all(text, tdm.action, text, regclass, int, tdm.conflict_kind, text),
  tdm._resolve_one(tdm.conflict, tdm.action, text, text),
  tdm.approve(text),
  tdm.report(bigint, text),
  tdm._report_data(bigint),
  tdm._run_decisions(bigint),
  tdm._duration(bigint),
  tdm._report_chart(jsonb),
  tdm._detail_text(jsonb),
  tdm._html_escape(text),
  tdm._latest_conflict(text),
  tdm._refuse_stale_approval(text),
  tdm._consolidating_backend(text),
  tdm._advisory_holder(text, text),
  tdm._key_taken_for(text, text[], jsonb, bool),
  tdm._decided_priority(text, int),
  tdm._presence(text),
  tdm._missing_release_hint(text),
  tdm._lookalike(text, text[]),
  tdm._name_as_read(text),
  tdm._rename_free(tdm.conflict, text, text, jsonb, text, text),
  tdm._member_source(text, jsonb, text[]),
  tdm._kept_as_one(tdm.conflict, jsonb, jsonb, jsonb, jsonb),
  tdm._resolved_away(tdm.conflict, jsonb, jsonb),
  tdm._key_shared(regclass, jsonb, jsonb),
  tdm._written_columns(regclass, text[]),
  tdm._resolution(tdm.conflict),
  tdm._decided_resolution(tdm.conflict),
  tdm._rule_merges(tdm.conflict, text),
  tdm._new_key_members(tdm.conflict, jsonb, bool),
  tdm._renamed_elsewhere(tdm.conflict, jsonb),
  tdm._key_renamed_elsewhere(tdm.conflict, jsonb, jsonb, jsonb),
  tdm._values_differ(regclass, text, text, text),
  tdm._decided_on(text, regclass, jsonb, jsonb),
  tdm._managed_references(regclass),
  tdm._table_order(),
  tdm._order_tables(oid[], oid[], oid[], oid[], int2[], oid[]),
  tdm._normalized_key(tdm.managed_table, text[]),
  tdm._same_key(regclass, text[], jsonb, jsonb, bool),
  tdm._member_key(regclass, text[], text, bool, bool),
  tdm._folded_sql(text),
  tdm._column_type(regclass, text),
  tdm._is_trusted_type(oid),
  tdm._target_table(text, regclass),
  tdm._check_values(regclass, jsonb, text, text),
  tdm._patched_row(regclass, jsonb, jsonb, text),
  tdm._generated_columns(regclass),
  tdm._rename_example(regclass, text[]),
  tdm._pinned_text(anyelement),
  tdm._columns(regclass),
  tdm._declared_typmod(oid, int),
  tdm._rekeyable(regclass),
  tdm._rekeyed_column(regclass),
  tdm._rekeyed_position(regclass),
  tdm._column_sequence(regclass, text),
  tdm._generated_column(regclass, text),
  tdm._settable_references(regclass),
  tdm._key_reference(regclass),
  tdm._key_parent(regclass),
  tdm._renamed_key_column(regclass),
  tdm._base_type(oid),
  tdm._key_form(oid, int),
  tdm._unscaled_numeric(oid, int),
  tdm._side_by_side(tdm.conflict),
  tdm._changed_members(tdm.conflict),
  tdm._common_prefix(text, text),
  tdm._printable(text, int),
  tdm._display_width(text),
  tdm._display_left(text, int),
  tdm._display_right(text, int),
  tdm._display_pad(text, int),
  tdm._did_you_mean(text, text),
  tdm._interval_key(interval),
  tdm._progress_rows(),
  tdm._job_wait(int),
  tdm._release_rows(text),
  tdm._require_given(text, text, bool),
  tdm._blank(text),
  tdm._first_ten(text[]),
  tdm._column_names(text[]),
  tdm._staging_target(),
  tdm._consolidate_call(text, text)
  TO tdm_reviewer;

-- Parity (tdm.schema_diff, tdm.data_diff, tdm.profile_diff) only reads,
-- but reads every environment through the caller's user mappings and may
-- (re)create tdm's foreign tables there, as tagging does: tdm_admin's
-- (given with every function above, and said here). Not tdm_reviewer's:
-- reviewers read the queue, and the rows it shows, not the environments.
GRANT EXECUTE ON FUNCTION
  tdm.schema_diff(text, text),
  tdm.data_diff(regclass, text, text),
  tdm.profile_diff(regclass, text, text)
  TO tdm_admin;

-- tdm_auditor reads what a reviewer reads (the queue, reports, progress,
-- the audit trail and its verification) and decides nothing: a reviewer's
-- functions but those that decide, and the owner's-rights lookups only
-- decisions make.
GRANT USAGE ON SCHEMA tdm TO tdm_auditor;
GRANT SELECT ON ALL TABLES IN SCHEMA tdm TO tdm_auditor;
REVOKE SELECT ON tdm.mask_key, tdm.release_lock FROM tdm_auditor;
GRANT SELECT (release, env, rel, row_count, locked_at, shape, fills) ON tdm.release_lock TO tdm_auditor;
DO $auditor$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
            WHERE p.pronamespace = 'tdm'::regnamespace
              AND pg_catalog.has_function_privilege('tdm_reviewer', p.oid, 'EXECUTE')
              AND p.proname NOT IN ('resolve', 'resolve_all', 'approve', '_key_taken_for') LOOP
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO tdm_auditor', f);
  END LOOP;
END
$auditor$;
