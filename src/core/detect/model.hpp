// The conflict model of DESIGN.md section 4: what detection reads (rows of
// one managed table from several environments) and what it produces.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tdm::detect {

// A column value in its text form; SQL NULL is nullopt.
using Value = std::optional<std::string>;

// One managed table: column positions refer to `columns`.
struct TableModel {
  std::string name;  // "staging.users", used in conflict ids and messages
  std::vector<std::string> columns;
  std::vector<std::size_t> pk;
  std::vector<std::vector<std::size_t>> natural_keys;
  std::vector<std::size_t> core;
  std::optional<std::size_t> updated_at;
  std::size_t release_column = 0;
  std::size_t feature_column = 0;
  bool surrogate_key = false;
  bool normalize_keys = false;  // natural keys compared case- and space-insensitively

  // Columns minus the primary key, the tag columns and the timestamp column.
  std::vector<std::size_t> attributes() const;
};

struct Environment {
  std::string name;
  int precedence = 100;  // lower wins
};

// The inputs every table shares: environments and the release plan.
struct Context {
  std::vector<Environment> environments;
  std::map<std::string, int> feature_priority;  // higher wins
};

// One collected row.
struct SourceRow {
  std::size_t env = 0;  // index into Context::environments
  std::vector<Value> values;
  std::optional<std::int64_t> ts;  // the timestamp column, for ordering
};

// In order of severity: a group's kind is the most severe that applies.
enum class Kind {
  exact_duplicate,
  duplicate_pk,
  duplicate_natural_key,
  attribute_conflict,
  relationship
};

// In the order rules are tried.
enum class Rule {
  distinct_entities,
  exact_duplicate,
  temporal_priority,
  non_conflicting_merge,
  feature_priority,
  environment_precedence,
  manual
};

const char *to_string(Kind kind);
const char *to_string(Rule rule);

struct Conflict {
  std::string id;  // "C-" + 12 hex
  Kind kind = Kind::exact_duplicate;
  bool complex = false;
  int priority = 3;
  Rule rule = Rule::manual;
  std::string suggestion;
  std::string rationale;
  std::vector<std::size_t> members;     // row indices, in tie-break order
  std::optional<std::size_t> survivor;  // the row kept (or the merge's base)
  std::vector<std::size_t> rekeyed;     // distinct_entities: rows that get new keys
  std::vector<Value> merged;            // non_conflicting_merge: the merged values
  std::vector<std::string> labels;      // per member: its environment, or env:key when
                                        // the environment has several members
  std::vector<std::size_t> differing;   // columns whose values differ (all but the
                                        // release tag), in column order
};

}  // namespace tdm::detect
