#include "core/setup/table_spec.hpp"

#include <algorithm>
#include <set>

#include <boost/algorithm/string/join.hpp>
#include <boost/algorithm/string/predicate.hpp>
#include <boost/algorithm/string/split.hpp>
#include <boost/algorithm/string/trim.hpp>

#include "core/common/error.hpp"

namespace tdm::setup {

namespace {

const Column *find_column(const TableShape &table, const std::string &name) {
  auto it = std::find_if(table.columns.begin(), table.columns.end(),
                         [&](const Column &c) { return c.name == name; });
  return it == table.columns.end() ? nullptr : &*it;
}

// A column whose name differs from `name` in case only ("Name" for name):
// names are compared exactly, as PostgreSQL compares quoted ones.
const Column *find_column_in_other_case(const TableShape &table, const std::string &name) {
  auto it = std::find_if(table.columns.begin(), table.columns.end(), [&](const Column &c) {
    return c.name != name && boost::algorithm::iequals(c.name, name);
  });
  return it == table.columns.end() ? nullptr : &*it;
}

// "Did you mean ...? " for a name that a column has in other case, else "".
std::string other_case_hint(const TableShape &table, const std::string &name) {
  const Column *column = find_column_in_other_case(table, name);
  if (column == nullptr) return "";
  return "Names are compared exactly: did you mean " + table.sql_name(column->name) + "? ";
}

// For a name that looks like several columns joined by another separator
// ('artist_id;title'): how a composite key is written.
std::string separator_hint(const std::string &name) {
  if (name.find_first_of(";|+") == std::string::npos) return "";
  std::vector<std::string> parts;
  boost::algorithm::split(parts, name, boost::algorithm::is_any_of(";|+"));
  for (std::string &part : parts) boost::algorithm::trim(part);
  parts.erase(std::remove(parts.begin(), parts.end(), std::string()), parts.end());
  return "A composite key's columns are separated by commas: '" +
         boost::algorithm::join(parts, ",") + "'. ";
}

std::string column_list(const TableShape &table) {
  std::vector<std::string> names;
  for (const Column &c : table.columns) names.push_back(table.sql_name(c.name));
  return boost::algorithm::join(names, ", ");
}

// `role` says what the column is for, e.g. "natural key \"email\"".
const Column &require_column(const TableShape &table, const std::string &name,
                             const std::string &role) {
  const Column *column = find_column(table, name);
  if (column == nullptr) {
    throw Error(sqlstate::kUndefinedColumn,
                role + " names column \"" + name + "\", which table " + table.display_name +
                    " does not have",
                {},
                other_case_hint(table, name) + separator_hint(name) + "Columns of " +
                    table.display_name + ": " + column_list(table) + ".");
  }
  return *column;
}

void require_tag_column(const TableShape &table, const std::string &name, const char *tag,
                        const char *argument) {
  if (const Column *column = find_column(table, name)) {
    if (column->generated) {
      throw Error(sqlstate::kInvalidParameterValue,
                  std::string(tag) + " tag column \"" + name + "\" of table " + table.display_name +
                      " is a generated column",
                  std::string("PostgreSQL computes a generated column from the row: it cannot "
                              "hold the tag that says which ") +
                      tag + " a row belongs to.",
                  std::string("Pass ") + argument +
                      " => the name of the column that holds the tag, or add one (ALTER TABLE " +
                      table.display_name + " ADD COLUMN ... text).");
    }
    if (column->string_type) return;
    throw Error(sqlstate::kDatatypeMismatch,
                std::string(tag) + " tag column \"" + name + "\" of table " + table.display_name +
                    " is of type " + column->type,
                "Tags are release and feature names, compared as text.",
                "Make it text, varchar or char (ALTER TABLE " + table.display_name +
                    " ALTER COLUMN " + table.sql_name(name) + " TYPE text).");
  }
  throw Error(sqlstate::kUndefinedColumn,
              "table " + table.display_name + " has no " + tag + " tag column \"" + name + "\"",
              std::string("Every managed table carries a ") + tag +
                  " tag so that tdm can collect the rows of one release.",
              other_case_hint(table, name) + "Add the column (ALTER TABLE " + table.display_name +
                  " ADD COLUMN " + table.sql_name(name) + " text) or pass " + argument +
                  " => the name of the column that holds it.");
}

// format_type spellings: "date", "timestamp(3) with time zone", ...
bool is_temporal(const std::string &type) {
  return type == "date" || type.rfind("timestamp", 0) == 0;
}

}  // namespace

std::string format_key_group(const KeyGroup &group) {
  return boost::algorithm::join(group, ",");
}

std::vector<KeyGroup> parse_natural_keys(const std::vector<std::string> &specs) {
  std::vector<KeyGroup> groups;
  std::set<std::set<std::string>> seen;
  for (const std::string &spec : specs) {
    KeyGroup group;
    boost::algorithm::split(group, spec, [](char c) { return c == ','; });
    std::set<std::string> columns;
    for (std::string &column : group) {
      boost::algorithm::trim(column);
      if (column.empty()) {
        throw Error(sqlstate::kInvalidParameterValue,
                    "natural key \"" + spec + "\" has an empty column name", {},
                    "Write a natural key as 'email' or as 'first_name,last_name'.");
      }
      if (!columns.insert(column).second) {
        throw Error(sqlstate::kInvalidParameterValue,
                    "natural key \"" + spec + "\" names column \"" + column + "\" twice", {},
                    "Name each column of a natural key once.");
      }
    }
    if (!seen.insert(columns).second) {
      throw Error(sqlstate::kInvalidParameterValue, "natural key \"" + spec + "\" is given twice",
                  {}, "Give each natural key once (the order of its columns does not matter).");
    }
    groups.push_back(std::move(group));
  }
  return groups;
}

ManagedTable resolve_managed_table(const TableShape &table, const ManageRequest &request) {
  if (table.primary_key.empty()) {
    throw Error(sqlstate::kInvalidTableDefinition,
                "table " + table.display_name + " has no primary key",
                "tdm identifies rows across environments by primary key and natural keys.",
                "Add one (ALTER TABLE " + table.display_name +
                    " ADD PRIMARY KEY (...)) and call tdm.manage_table again.");
  }
  for (const char *reserved : kReservedColumns) {
    if (find_column(table, reserved) != nullptr) {
      throw Error(
          sqlstate::kInvalidTableDefinition,
          "table " + table.display_name + " has a column named \"" + reserved +
              "\", which tdm adds to the rows it collects",
          {},
          "Rename the column (ALTER TABLE ... RENAME COLUMN) in the table and the environments.");
    }
  }
  // (PostgreSQL's limit of 1600 columns a table, less the two above.)
  constexpr std::size_t kMostColumns = 1600 - std::size(kReservedColumns);
  if (table.columns.size() > kMostColumns) {
    throw Error(sqlstate::kProgramLimitExceeded,
                "table " + table.display_name + " has " + std::to_string(table.columns.size()) +
                    " columns; tdm manages tables of " + std::to_string(kMostColumns) +
                    " columns at most",
                "tdm copies a managed table's rows with two columns of its own (tdm_env, "
                "tdm_row_hash), and a table holds 1600 columns at most.",
                "Split the table, or drop columns it no longer uses.");
  }
  if (request.release_column == request.feature_column) {
    throw Error(sqlstate::kInvalidParameterValue,
                "release_column and feature_column are both \"" + request.release_column + "\"", {},
                "The release tag and the feature tag need a column each.");
  }
  require_tag_column(table, request.release_column, "release", "release_column");
  require_tag_column(table, request.feature_column, "feature", "feature_column");

  ManagedTable managed;
  managed.pk_columns = table.primary_key;
  managed.release_column = request.release_column;
  managed.feature_column = request.feature_column;

  managed.natural_keys = parse_natural_keys(request.natural_keys);
  for (const KeyGroup &group : managed.natural_keys) {
    // (As many as an index takes: a key longer than the target's unique
    // indexes can be is not one.)
    constexpr std::size_t kMostKeyColumns = 32;
    if (group.size() > kMostKeyColumns) {
      throw Error(sqlstate::kProgramLimitExceeded,
                  "natural key of table " + table.display_name + " has " +
                      std::to_string(group.size()) + " columns; " +
                      std::to_string(kMostKeyColumns) + " at most",
                  "PostgreSQL's indexes, and so unique keys, take 32 columns at most.",
                  "Name the columns that identify a row, 32 or fewer.");
    }
    for (const std::string &name : group) {
      const Column &column =
          require_column(table, name, "natural key \"" + format_key_group(group) + "\"");
      if (!column.comparable) {
        throw Error(sqlstate::kDatatypeMismatch,
                    "natural key \"" + format_key_group(group) + "\" of table " +
                        table.display_name + ": column \"" + name + "\" is of type " + column.type +
                        ", which has no equality to sort or index by",
                    "tdm groups rows by natural key as the column's type compares them (its "
                    "default btree operator class); this type has none.",
                    "Name another column as the natural key, or one of a type with an "
                    "ordering equality (text, a number, a date...).");
      }
    }
    // (Rows that share such a key share the primary key already: the key
    // finds no entity the primary key does not, and is likely a mistake.)
    const bool holds_primary_key =
        !table.primary_key.empty() &&
        std::all_of(table.primary_key.begin(), table.primary_key.end(), [&](const std::string &pk) {
          return std::find(group.begin(), group.end(), pk) != group.end();
        });
    if (holds_primary_key) {
      managed.advice.push_back(
          {"natural key \"" + format_key_group(group) + "\" of table " + table.display_name +
               " includes the whole primary key (" + format_key_group(table.primary_key) +
               "): rows that share it share the primary key already, so it finds no other "
               "entity",
           "A natural key names the columns that identify an entity apart from its primary key "
           "(email, say): register the table again without it, or with those columns."});
    }
  }

  if (request.updated_at_column) {
    const Column &column = require_column(table, *request.updated_at_column, "updated_at_column");
    if (!is_temporal(column.type)) {
      throw Error(sqlstate::kDatatypeMismatch,
                  "updated_at_column \"" + column.name + "\" of table " + table.display_name +
                      " is of type " + column.type,
                  "Temporal priority compares this column across environments.",
                  "Name a timestamp, timestamptz or date column.");
    }
    managed.updated_at_column = column.name;
  }

  const auto is_primary_key_column = [&](const std::string &name) {
    return std::find(table.primary_key.begin(), table.primary_key.end(), name) !=
           table.primary_key.end();
  };
  std::set<std::string> core_seen;
  for (const std::string &name : request.core_columns) {
    require_column(table, name, "core_columns");
    if (name == request.release_column || name == request.feature_column) {
      throw Error(
          sqlstate::kInvalidParameterValue,
          "core_columns names the tag column \"" + name + "\" of table " + table.display_name,
          "Core columns are attributes a human must reconcile; tag columns are not "
          "compared.");
    }
    // (Rows are matched by their primary key and ordered by updated_at:
    // neither is an attribute a conflict compares, so a core column there
    // would never send a conflict to review.)
    const bool in_primary_key = is_primary_key_column(name);
    if (in_primary_key || name == request.updated_at_column) {
      throw Error(sqlstate::kInvalidParameterValue,
                  "core_columns names the " +
                      std::string(in_primary_key ? "primary key column" : "updated_at_column") +
                      " \"" + name + "\" of table " + table.display_name,
                  "Core columns are attributes a human must reconcile. Rows are matched by their "
                  "primary key and ordered by their updated_at column; neither is compared as an "
                  "attribute, so a core column there would never send a conflict to review.",
                  "Leave \"" + name + "\" out of core_columns.");
    }
    if (core_seen.insert(name).second) managed.core_columns.push_back(name);
  }

  // Bookkeeping columns change with every write (a version, who updated
  // the row): left out of the comparison as the updated_at column is, so a
  // newer row differing only there is the same row, newer. A column that
  // identifies the row or that a human must reconcile is not one.
  std::set<std::string> bookkeeping_seen;
  for (const std::string &name : request.bookkeeping_columns) {
    require_column(table, name, "bookkeeping_columns");
    const bool in_primary_key = is_primary_key_column(name);
    const bool in_natural_key = std::any_of(
        managed.natural_keys.begin(), managed.natural_keys.end(), [&](const KeyGroup &group) {
          return std::find(group.begin(), group.end(), name) != group.end();
        });
    const char *role = in_primary_key                      ? "primary key column"
                       : in_natural_key                    ? "natural key column"
                       : name == request.release_column    ? "release tag column"
                       : name == request.feature_column    ? "feature tag column"
                       : name == managed.updated_at_column ? "updated_at_column"
                       : core_seen.count(name) > 0         ? "core column"
                                                           : nullptr;
    if (role != nullptr) {
      throw Error(
          sqlstate::kInvalidParameterValue,
          "bookkeeping_columns names the " + std::string(role) + " \"" + name + "\" of table " +
              table.display_name,
          "Bookkeeping columns are left out of the comparison (a version, who updated the "
          "row); keys, tags, the updated_at column and core columns have roles of their own.",
          "Leave \"" + name + "\" out of bookkeeping_columns.");
    }
    if (bookkeeping_seen.insert(name).second) managed.bookkeeping_columns.push_back(name);
  }
  return managed;
}

}  // namespace tdm::setup
