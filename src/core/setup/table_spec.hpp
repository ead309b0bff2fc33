// Registration of a managed table: the user's request (tdm.manage_table's
// arguments) checked against the table's shape read from the catalog.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/common/identifier.hpp"

namespace tdm::setup {

struct Column {
  std::string name;
  std::string type;  // format_type() spelling, e.g. "timestamp with time zone"
  // Of a string type (text, varchar, char, or a domain over one): what a
  // tag column must be, since tags are compared with text.
  bool string_type = true;
  // Has an equality PostgreSQL sorts and indexes by (a default btree
  // operator class): what a natural key's columns need, since rows are
  // grouped, and the target's unique keys compare, by it (point, json,
  // xml and box have none).
  bool comparable = true;
  // A stored generated column: PostgreSQL computes it, nothing writes it
  // (so it can never hold a tag).
  bool generated = false;
};

// Columns tdm adds to its copies of a managed table's rows: a table may not
// have them itself.
inline const char *const kReservedColumns[] = {"tdm_env", "tdm_row_hash"};

// What the catalog says about a table.
struct TableShape {
  std::string display_name;  // schema-qualified, as shown in messages
  std::vector<Column> columns;
  std::vector<std::string> primary_key;
  // A column name as the statements of HINTs spell it (the adapter gives
  // PostgreSQL's quote_identifier, which also quotes keywords).
  std::function<std::string(const std::string &)> sql_name = [](const std::string &name) {
    return quoted_name(name);
  };
};

// tdm.manage_table's arguments.
struct ManageRequest {
  std::vector<std::string> natural_keys;  // each "email" or "first_name,last_name"
  std::optional<std::string> updated_at_column;
  std::vector<std::string> core_columns;
  std::string release_column = "tdm_release";
  std::string feature_column = "tdm_feature";
  // Columns every write changes (a version, who updated it): not compared.
  std::vector<std::string> bookkeeping_columns;
};

using KeyGroup = std::vector<std::string>;

// What a registration accepts but a DBA would want to hear of (a WARNING).
struct Advice {
  std::string message;
  std::string hint;
};

// A request that passed every check, in canonical form.
struct ManagedTable {
  std::vector<std::string> pk_columns;
  std::vector<KeyGroup> natural_keys;
  std::optional<std::string> updated_at_column;
  std::vector<std::string> core_columns;
  std::string release_column;
  std::string feature_column;
  std::vector<std::string> bookkeeping_columns;
  std::vector<Advice> advice;
};

// Parses natural-key groups: "a, b" -> {"a","b"}. Throws tdm::Error on an
// empty group, a column repeated in a group, or a group given twice.
std::vector<KeyGroup> parse_natural_keys(const std::vector<std::string> &specs);

// "a,b": the canonical spelling stored in tdm.managed_table.natural_keys.
std::string format_key_group(const KeyGroup &group);

// Checks the request against the table and returns it canonicalised.
// Throws tdm::Error naming the table and the offending column.
ManagedTable resolve_managed_table(const TableShape &table, const ManageRequest &request);

}  // namespace tdm::setup
