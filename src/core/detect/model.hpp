// The conflict model of DESIGN.md section 4: what detection reads (rows of
// one managed table from several environments) and what it produces.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tdm::detect {

// A column value in its text form; SQL NULL is nullopt.
using Value = std::optional<std::string>;
using ValueView = std::optional<std::string_view>;

// A row's values in one buffer (each followed by a NUL, so a view's data()
// is a C string): a third of the memory of one string per value, and one
// allocation instead of many. Detection holds hundreds of thousands.
class RowValues {
 public:
  RowValues() = default;
  RowValues(std::initializer_list<Value> values) {
    for (const Value &v : values) push_back(v ? ValueView(*v) : std::nullopt);
  }

  void reserve(std::size_t columns, std::size_t bytes) {
    ends_.reserve(columns);
    data_.reserve(bytes);
  }
  void push_back(ValueView value) {
    if (value) data_.append(value->data(), value->size());
    data_.push_back('\0');
    ends_.push_back(static_cast<std::uint32_t>(data_.size() - 1) | (value ? 0 : kNull));
  }
  std::size_t size() const { return ends_.size(); }
  ValueView operator[](std::size_t i) const {
    if (ends_[i] & kNull) return std::nullopt;
    std::uint32_t begin = i == 0 ? 0 : (ends_[i - 1] & ~kNull) + 1;
    return std::string_view(data_.data() + begin, ends_[i] - begin);
  }
  std::vector<Value> to_vector() const {
    std::vector<Value> out;
    for (std::size_t i = 0; i < size(); ++i) {
      ValueView v = (*this)[i];
      out.push_back(v ? Value(std::string(*v)) : std::nullopt);
    }
    return out;
  }
  // Bytes held, for tdm.work_mem accounting.
  std::size_t bytes() const {
    return sizeof(*this) + data_.capacity() + ends_.capacity() * sizeof(std::uint32_t);
  }

 private:
  static constexpr std::uint32_t kNull = 0x80000000u;
  std::string data_;
  std::vector<std::uint32_t> ends_;  // end of each value (its NUL); kNull flags NULL
};

// A decimal number's text without the fractional zeros its scale adds
// ("1.50" -> "1.5", "2.0" -> "2"): numeric keeps the scale a value was
// written with, and 1.5 = 1.50 all the same. (Detection compares values as
// text; the SQL side spells the same with trim_scale.)
inline std::string_view canonical_decimal(std::string_view text) {
  if (text.find('.') == std::string_view::npos) return text;
  std::size_t end = text.find_last_not_of('0');
  if (text[end] == '.') --end;
  return text.substr(0, end + 1);
}

// How a key column's values compare where their type calls values equal
// that are spelled apart: as detection groups keys, and as the target's
// unique keys will compare them.
enum class KeyForm : std::uint8_t {
  kText,      // equal when spelled alike
  kDecimal,   // a numeric without a fixed scale: 1.5 = 1.50 (canonical_decimal)
  kFloat,     // a float: -0 = 0
  kCaseless,  // citext: 'Carol@X' = 'carol@x'
  kInterval,  // an interval: '1 day' = '24:00:00', '1 mon' = '30 days' (canonical_interval)
  kPadded,    // a bpchar (char(n)): 'ab' = 'ab  ', its trailing blanks insignificant
};

// A bpchar's text without its trailing blanks, which its equality ignores
// (as the SQL side's ::text cast drops them).
inline std::string_view canonical_padded(std::string_view text) {
  const std::size_t end = text.find_last_not_of(' ');
  return end == std::string_view::npos ? text.substr(0, 0) : text.substr(0, end + 1);
}

// A value's text in its key form where that is a plain rewrite of the text
// (kDecimal, kPadded); other forms' text unchanged.
inline std::string_view canonical_value(std::string_view text, KeyForm form) {
  switch (form) {
    case KeyForm::kDecimal:
      return canonical_decimal(text);
    case KeyForm::kPadded:
      return canonical_padded(text);
    default:
      return text;
  }
}

// The natural keys of a referenced row as SourceRow holds them: each
// key's text ("" when NULL; a key's columns separated by
// kReferentColumnSeparator, a NULL one as kReferentNull), the keys
// separated by kReferentSeparator.
// Two references name one entity when some key is equal and not empty.
inline constexpr char kReferentSeparator = '\x1e';
inline constexpr char kReferentColumnSeparator = '\x1f';
inline constexpr char kReferentNull = '\x02';  // a NULL column of a key not all NULL
bool same_referent(std::string_view a, std::string_view b);

// One managed table: column positions refer to `columns`.
struct TableModel {
  std::string name;  // "staging.users", used in conflict ids and messages
  std::vector<std::string> columns;
  std::vector<std::size_t> pk;
  std::vector<std::vector<std::size_t>> natural_keys;
  std::vector<std::size_t> core;
  std::optional<std::size_t> updated_at;
  std::vector<std::size_t> bookkeeping;  // not compared: a version, who updated the row
  std::size_t release_column = 0;
  std::size_t feature_column = 0;
  bool surrogate_key = false;
  bool normalize_keys = false;     // natural keys compared case- and space-insensitively
  std::vector<KeyForm> key_forms;  // per column (none: every column kText)
  bool rekeyable = true;           // tdm can give a row a new primary key (one integer or
                                   // uuid column, or such a column the table generates in a
                                   // key of several): else a key collision waits for a reviewer
  // The table the primary key references (a subtype's supertype), "" when
  // none: a new key would name no row of it, so none is made up.
  std::string key_reference;
  // The key column a reviewer renumbers then (the generated one); unset:
  // the key's last column.
  std::optional<std::size_t> renamed_key_column;
  // Foreign keys whose values are keys of their own row's environment when
  // the table is compared: to the table itself (translated only after its
  // conflicts are applied), and a reference cycle's entry into a parent
  // compared after it. So two rows' references are compared by the rows
  // they reference: a row's values may go on, past `columns`, with one
  // value per compared reference, the referenced row's natural keys
  // (referent_text), NULL when that row was not found.
  std::vector<std::vector<std::size_t>> compared_references;  // each: its columns
  // Columns of foreign keys to other tables that share columns with the
  // primary key or a natural key but are not all in it, and reference the
  // partition key of a partitioned parent, which PostgreSQL puts in its
  // primary key: an order line's (order_id, line_no) with its foreign key
  // (order_id, ordered_on) to orders partitioned by date. Two rows that
  // differ there (translated already; a NULL names no parent) reference
  // two orders, so they are two entities under one key. Also a reference
  // the primary key holds past a natural key: a boarding pass keyed by its
  // (ticket_no, flight_id), a foreign key, and known by (flight_id,
  // seat_no): two tickets' passes are two entities on one seat. (Not a
  // tenant's reference to a lookup row, (tenant_id, category_id), outside
  // the primary key: an attribute.)
  std::vector<std::size_t> parent_columns;
  // Natural keys borrowed from tables that share this one's primary key (a
  // subtype whose key is a foreign key to it: AdventureWorks' person of
  // businessentity), for a table without natural keys of its own: the
  // subtype's row says which entity the row is. Each is a natural-key
  // group of one virtual column, numbered from `columns.size()`, its value
  // the subtype row's key text (NULL without one), in a row's values right
  // after its columns (then the compared references' referents). The names
  // ("person.person (firstname, lastname)") are for rationales.
  std::vector<std::string> borrowed_keys;

  // A column's name, a borrowed key's for a virtual column.
  const std::string &column_name(std::size_t column) const {
    return column < columns.size() ? columns[column] : borrowed_keys.at(column - columns.size());
  }
  // Where compared reference `i`'s referent is among a row's values.
  std::size_t referent_index(std::size_t i) const {
    return columns.size() + borrowed_keys.size() + i;
  }

  // The compared reference that `column` belongs to, if any.
  std::optional<std::size_t> compared_reference_of(std::size_t column) const;

  // Columns minus the primary key, the tag columns and the timestamp column.
  std::vector<std::size_t> attributes() const;
};

struct Environment {
  std::string name;
  int precedence = 100;  // lower wins
  // Rows of earlier releases already in master: they come first, and no
  // rule drops, merges into or re-keys them (a later release does not
  // change what an earlier one shipped).
  bool fixed = false;
};

// The inputs every table shares: environments and the release plan.
struct Context {
  std::string release;
  std::vector<Environment> environments;
  std::map<std::string, int> feature_priority;  // higher wins
};

// One collected row.
struct SourceRow {
  std::size_t env = 0;  // index into Context::environments
  RowValues values;
  std::optional<std::int64_t> ts;  // the timestamp column, for ordering
  std::uint64_t location = 0;      // where the adapter read it (opaque here)
  std::int64_t source = 0;         // the row as collected, before any key translation (opaque)
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
