// tdm.manage_table: registers a target table. The checks live in the core
// (setup::resolve_managed_table); this file reads the catalog and writes
// tdm.managed_table and the audit row.
#include "core/setup/table_spec.hpp"
#include "pg/common/args.hpp"
#include "pg/common/bridge.hpp"
#include "pg/common/spi.hpp"
#include "pg/setup/catalog_reader.hpp"

extern "C" {
#include "catalog/pg_type.h"
}

namespace tdm::pg {
namespace {

std::vector<std::string> canonical_natural_keys(const setup::ManagedTable &managed) {
  std::vector<std::string> specs;
  for (const setup::KeyGroup &group : managed.natural_keys) {
    specs.push_back(setup::format_key_group(group));
  }
  return specs;
}

}  // namespace
}  // namespace tdm::pg

TDM_FUNCTION(tdm_manage_table) {
  using namespace tdm::pg;
  const Oid rel = oid_arg(fcinfo, 0, "rel");
  tdm::setup::ManageRequest request;
  request.natural_keys = text_array_arg(fcinfo, 1, "natural_keys");
  request.updated_at_column = optional_text_arg(fcinfo, 2);
  request.core_columns = text_array_arg(fcinfo, 3, "core_columns");
  request.release_column = text_arg(fcinfo, 4, "release_column");
  request.feature_column = text_arg(fcinfo, 5, "feature_column");
  const bool surrogate_key = bool_arg(fcinfo, 6, "surrogate_key");
  const bool normalize_keys = bool_arg(fcinfo, 7, "normalize_keys");
  request.bookkeeping_columns = text_array_arg(fcinfo, 8, "bookkeeping_columns");

  Spi spi;
  spi.query("SELECT tdm._change_managed_tables('manage_table')");
  spi.query("SELECT tdm._check_manageable($1)", {oid_param(REGCLASSOID, rel)});
  const tdm::setup::ManagedTable managed =
      tdm::setup::resolve_managed_table(read_table_shape(spi, rel), request);
  // The registration as it was, if any: a call replaces all of it, and
  // what it changes is said (tdm._registration_changes).
  const std::optional<std::string> before =
      spi.value("SELECT to_jsonb(m)::text FROM tdm.managed_table m WHERE m.rel = $1",
                {oid_param(REGCLASSOID, rel)});

  spi.query("SELECT tdm._check_managed_name($1)", {oid_param(REGCLASSOID, rel)});
  // Foreign keys come from the catalog (tdm._foreign_keys), so they are
  // always the table's real ones.
  spi.query(
      "INSERT INTO tdm.managed_table AS m (rel, pk_columns, natural_keys, updated_at_column,"
      "       core_columns, release_column, feature_column, surrogate_key, normalize_keys,"
      "       bookkeeping_columns, foreign_keys)"
      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, tdm._foreign_keys($1))"
      " ON CONFLICT (rel) DO UPDATE SET pk_columns = excluded.pk_columns,"
      "       natural_keys = excluded.natural_keys,"
      "       updated_at_column = excluded.updated_at_column,"
      "       core_columns = excluded.core_columns, release_column = excluded.release_column,"
      "       feature_column = excluded.feature_column, surrogate_key = excluded.surrogate_key,"
      "       normalize_keys = excluded.normalize_keys,"
      "       bookkeeping_columns = excluded.bookkeeping_columns, foreign_keys = "
      "excluded.foreign_keys, "
      "managed_at = now(), managed_by = current_user",
      {oid_param(REGCLASSOID, rel), text_array_param(managed.pk_columns),
       text_array_param(canonical_natural_keys(managed)), text_param(managed.updated_at_column),
       text_array_param(managed.core_columns), text_param(managed.release_column),
       text_param(managed.feature_column), bool_param(surrogate_key), bool_param(normalize_keys),
       text_array_param(managed.bookkeeping_columns)});
  // (A mask declared on the table must still fit it: a hash too short for
  // a column now part of a natural key, say.)
  spi.query("SELECT tdm._require_masks_apply('manage_table', $1)", {oid_param(REGCLASSOID, rel)});
  if (before) {
    spi.query("SELECT tdm._registration_changes($1, $2::jsonb)",
              {oid_param(REGCLASSOID, rel), text_param(*before)});
  }
  // (The OID names the table once it is dropped: tdm._managed_name.)
  spi.query(
      "SELECT tdm._audit('manage_table', m.rel::text,"
      "                  to_jsonb(m) - 'rel' - 'managed_at' - 'managed_by'"
      "                  || jsonb_build_object('rel_oid', m.rel::oid))"
      "  FROM tdm.managed_table m WHERE m.rel = $1",
      {oid_param(REGCLASSOID, rel)});
  spi.query("SELECT tdm._adopt_dropped($1)", {oid_param(REGCLASSOID, rel)});
  spi.query(
      "SELECT tdm._warn_local_natural_keys($1), tdm._warn_generic_references($1),"
      " tdm._warn_key_default($1)",
      {oid_param(REGCLASSOID, rel)});
  for (const tdm::setup::Advice &advice : managed.advice) {
    const char *message = advice.message.c_str();
    const char *hint = advice.hint.c_str();
    pg_call([=] { ereport(WARNING, (errmsg("%s", message), errhint("%s", hint))); });
  }
  PG_RETURN_VOID();
}
