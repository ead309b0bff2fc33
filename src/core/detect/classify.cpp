#include "core/detect/classify.hpp"

#include <algorithm>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>

#include <boost/algorithm/string/join.hpp>
#include <boost/algorithm/string/replace.hpp>
#include <boost/pending/disjoint_sets.hpp>
#include <boost/uuid/detail/sha1.hpp>

#include "core/common/identifier.hpp"
#include "core/common/interrupt.hpp"
#include "core/detect/grouping.hpp"

namespace tdm::detect {

const char *to_string(Kind kind) {
  switch (kind) {
    case Kind::exact_duplicate:
      return "exact_duplicate";
    case Kind::duplicate_pk:
      return "duplicate_pk";
    case Kind::duplicate_natural_key:
      return "duplicate_natural_key";
    case Kind::attribute_conflict:
      return "attribute_conflict";
    case Kind::relationship:
      return "relationship";
  }
  return "?";
}

const char *to_string(Rule rule) {
  switch (rule) {
    case Rule::distinct_entities:
      return "distinct_entities";
    case Rule::exact_duplicate:
      return "exact_duplicate";
    case Rule::temporal_priority:
      return "temporal_priority";
    case Rule::non_conflicting_merge:
      return "non_conflicting_merge";
    case Rule::feature_priority:
      return "feature_priority";
    case Rule::environment_precedence:
      return "environment_precedence";
    case Rule::manual:
      return "manual";
  }
  return "?";
}

std::vector<std::size_t> TableModel::attributes() const {
  std::vector<std::size_t> result;
  for (std::size_t c = 0; c < columns.size(); ++c) {
    bool excluded = std::find(pk.begin(), pk.end(), c) != pk.end() || c == release_column ||
                    c == feature_column || (updated_at && *updated_at == c) ||
                    std::find(bookkeeping.begin(), bookkeeping.end(), c) != bookkeeping.end();
    if (!excluded) result.push_back(c);
  }
  return result;
}

std::optional<std::size_t> TableModel::compared_reference_of(std::size_t column) const {
  for (std::size_t i = 0; i < compared_references.size(); ++i) {
    const std::vector<std::size_t> &fk = compared_references[i];
    if (std::find(fk.begin(), fk.end(), column) != fk.end()) return i;
  }
  return std::nullopt;
}

bool same_referent(std::string_view a, std::string_view b) {
  while (true) {
    const std::size_t end_a = std::min(a.find(kReferentSeparator), a.size());
    const std::size_t end_b = std::min(b.find(kReferentSeparator), b.size());
    if (end_a > 0 && a.substr(0, end_a) == b.substr(0, end_b)) return true;
    if (end_a == a.size() || end_b == b.size()) return false;
    a.remove_prefix(end_a + 1);
    b.remove_prefix(end_b + 1);
  }
}

std::string conflict_id(const std::string &release, const std::string &table,
                        const std::string &scope, const std::string &key,
                        std::vector<std::string> sources) {
  std::sort(sources.begin(), sources.end());
  const std::string text = release + '\x1f' + table + '\x1f' + scope + '\x1f' + key + '\x1f' +
                           boost::algorithm::join(sources, "\x1e");
  boost::uuids::detail::sha1 sha;
  sha.process_bytes(text.data(), text.size());
  boost::uuids::detail::sha1::digest_type digest;
  sha.get_digest(digest);
  char hex[16];
  std::snprintf(hex, sizeof hex, "%08x%04x", digest[0], digest[1] >> 16);
  return std::string("C-") + hex;
}

namespace {

// Everything classification needs about one table and its inputs.
class Classifier {
 public:
  Classifier(const TableModel &table, const Context &context, const std::vector<SourceRow> &rows)
      : table_(table), context_(context), rows_(rows), attributes_(table.attributes()) {
    // (per key, not per row: whether any of its columns can stand for a row)
    for (const auto &nk : table_.natural_keys) key_names_rows_.push_back(names_rows(nk));
  }

  // Keys are compared over and over within a group: spell them once per
  // group (the cache holds the current group's rows only).
  void spell_keys(const std::vector<std::size_t> &group) {
    keys_.clear();
    for (std::size_t row : group) {
      RowKeys &keys = keys_[row];
      keys.pk = key_of(rows_[row], table_.pk, false, table_.key_forms);
      std::vector<std::string> parts;
      for (std::size_t c : table_.pk) {
        parts.push_back(std::string(rows_[row].values[c].value_or("NULL")));
      }
      keys.pk_text = boost::algorithm::join(parts, ",");
      for (std::size_t k = 0; k < table_.natural_keys.size(); ++k) {
        keys.nk.push_back(natural_key(row, table_.natural_keys[k], key_names_rows_[k]));
      }
    }
  }

  void classify_group(std::vector<std::size_t> group, std::vector<Conflict> &out);

 private:
  // A natural key of `row` (key_of), where a column that references the
  // table's own rows stands for the row it names: two environments' (1,
  // 'x') are two keys when 1 is a in one and b in the other. (Grouping
  // met them by their values; the entities are told apart here.) Only a
  // reference the key holds whole names a row: a tenant's (tenant, email)
  // shares the tenant with its (tenant, parent) but names no parent.
  bool holds_whole(const std::vector<std::size_t> &key, std::size_t fk) const {
    const std::vector<std::size_t> &fk_columns = table_.compared_references[fk];
    return std::all_of(fk_columns.begin(), fk_columns.end(), [&](std::size_t c) {
      return std::find(key.begin(), key.end(), c) != key.end();
    });
  }

  // Whether a column of `key` stands for the row its reference names.
  bool stands_for_row(const std::vector<std::size_t> &key, std::size_t column) const {
    const auto fk = table_.compared_reference_of(column);
    return fk && std::find(key.begin(), key.end(), column) != key.end() && holds_whole(key, *fk);
  }
  bool names_rows(const std::vector<std::size_t> &key) const {
    return std::any_of(key.begin(), key.end(),
                       [&](std::size_t c) { return stands_for_row(key, c); });
  }

  std::string natural_key(std::size_t row, const std::vector<std::size_t> &columns,
                          bool key_names_rows) const {
    std::string key = key_of(rows_[row], columns, table_.normalize_keys, table_.key_forms);
    if (key.empty() || !key_names_rows) return key;
    SourceRow named;
    bool substituted = false;
    // (a referent is no column's value: spelled as it is)
    std::vector<KeyForm> forms;
    named.values.reserve(table_.referent_index(0), 0);
    for (std::size_t c = 0; c < table_.columns.size(); ++c) {
      const ValueView r = stands_for_row(columns, c)
                              ? referent(row, *table_.compared_reference_of(c))
                              : std::nullopt;
      if (r && names_a_row(*r)) {
        named.values.push_back(*r);
        if (!substituted) forms = table_.key_forms;
        substituted = true;
        if (c < forms.size()) forms[c] = KeyForm::kText;
      } else {
        named.values.push_back(value(row, c));
      }
    }
    // (the borrowed keys, past the columns, as they are)
    for (std::size_t c = table_.columns.size(); c < table_.referent_index(0); ++c) {
      named.values.push_back(value(row, c));
    }
    return substituted ? "@" + key_of(named, columns, table_.normalize_keys, forms) : key;
  }
  // A referenced row's keys (same_referent) of which one is not NULL.
  static bool names_a_row(std::string_view referent) {
    return referent.find_first_not_of(kReferentSeparator) != std::string_view::npos;
  }

  // Tie-break order: precedence, environment name, then primary key.
  void order(std::vector<std::size_t> &members) const {
    std::stable_sort(members.begin(), members.end(), [&](std::size_t a, std::size_t b) {
      const Environment &ea = env(a);
      const Environment &eb = env(b);
      if (ea.fixed != eb.fixed) return ea.fixed;
      if (ea.precedence != eb.precedence) return ea.precedence < eb.precedence;
      if (ea.name != eb.name) return ea.name < eb.name;
      return pk_text(a) < pk_text(b);
    });
  }

  const Environment &env(std::size_t row) const { return context_.environments[rows_[row].env]; }
  // (NULL past the row's values: a borrowed key the adapter did not add)
  ValueView value(std::size_t row, std::size_t column) const {
    const RowValues &values = rows_[row].values;
    return column < values.size() ? values[column] : std::nullopt;
  }
  const std::string &pk_key(std::size_t row) const { return keys_.at(row).pk; }
  const std::string &pk_text(std::size_t row) const { return keys_.at(row).pk_text; }
  // The natural key `i` of `row`, "" when any of its values is NULL.
  const std::string &nk_key(std::size_t row, std::size_t i) const { return keys_.at(row).nk[i]; }
  std::string pk_label(std::size_t row) const {
    std::vector<std::string> parts;
    for (std::size_t c : table_.pk) {
      // (a char(n) key without the blanks that pad it)
      const KeyForm form = c < table_.key_forms.size() ? table_.key_forms[c] : KeyForm::kText;
      const ValueView v = value(row, c);
      parts.push_back(quoted_name(table_.columns[c]) + " " +
                      (v ? std::string(form == KeyForm::kPadded ? canonical_padded(*v) : *v)
                         : std::string("NULL")));
    }
    return boost::algorithm::join(parts, ", ");
  }
  std::string source(std::size_t row) const { return env(row).name + ":" + pk_text(row); }
  ValueView feature(std::size_t row) const { return value(row, table_.feature_column); }
  // "release R1's row in master", for a fixed row's rationales.
  std::string fixed_row(std::size_t row) const {
    return "release " + std::string(value(row, table_.release_column).value_or("NULL")) +
           "'s row in " + env(row).name;
  }
  std::optional<int> feature_priority(std::size_t row) const {
    const ValueView f = feature(row);
    if (!f) return std::nullopt;
    auto it = context_.feature_priority.find(std::string(*f));
    if (it == context_.feature_priority.end()) return std::nullopt;
    return it->second;
  }
  std::string timestamp_text(std::size_t row) const {
    return table_.updated_at ? std::string(value(row, *table_.updated_at).value_or("NULL"))
                             : "unknown";
  }

  // True when some natural key is non-NULL in both rows and differs.
  bool natural_keys_differ(std::size_t a, std::size_t b) const {
    for (std::size_t i = 0; i < table_.natural_keys.size(); ++i) {
      const std::string &ka = nk_key(a, i);
      const std::string &kb = nk_key(b, i);
      if (!ka.empty() && !kb.empty() && ka != kb) return true;
    }
    return false;
  }
  // The natural keys of the row that `row` references by compared reference
  // `i`, when the adapter found that row.
  ValueView referent(std::size_t row, std::size_t i) const {
    const RowValues &values = rows_[row].values;
    const std::size_t at = table_.referent_index(i);
    return at < values.size() ? values[at] : std::nullopt;
  }
  // Rows `a` and `b` hold the same value in `column`. A reference to the
  // table's own rows is a key of its row's environment: two such are the
  // same when they reference one entity (1 in st1 and 2 in st2 may both be
  // alice; 1 in both may be alice and carol).
  bool same_value(std::size_t a, std::size_t b, std::size_t column) const {
    if (const auto fk = table_.compared_reference_of(column)) {
      const ValueView ra = referent(a, *fk);
      const ValueView rb = referent(b, *fk);
      if (ra && rb && names_a_row(*ra) && names_a_row(*rb)) return same_referent(*ra, *rb);
    }
    return value(a, column) == value(b, column);
  }
  bool same_values(std::size_t a, std::size_t b, const std::vector<std::size_t> &columns) const {
    for (std::size_t c : columns) {
      if (!same_value(a, b, c)) return false;
    }
    return true;
  }
  bool identical(std::size_t a, std::size_t b) const {
    for (std::size_t c = 0; c < table_.columns.size(); ++c) {
      if (c == table_.release_column || c == table_.feature_column) continue;
      if (!same_value(a, b, c)) return false;
    }
    return true;
  }
  // Rule 0, per pair: rows sharing the primary key that are different
  // entities. Two rows of one environment with different primary keys are
  // two of its rows: a row of another environment that meets one by key and
  // the other by a natural key must not make them one entity (one would be
  // merged away). (Master's rows stay together: a row joining two of them
  // goes to a reviewer, see classify_entity.)
  bool distinct_entities(std::size_t a, std::size_t b) const {
    if (rows_[a].env == rows_[b].env && !env(a).fixed && pk_key(a) != pk_key(b)) return true;
    if (natural_keys_differ(a, b)) return true;
    if (parents_differ(a, b)) return true;
    return table_.surrogate_key && !same_values(a, b, attributes_);
  }

  // Rows of two environments whose references past their key name two
  // parent rows (TableModel::parent_columns); a NULL there names none.
  // (Compared as the key's type compares them: a primary key's columns
  // keep their spelling, `1.0` and `1.00`.)
  bool parents_differ(std::size_t a, std::size_t b) const {
    if (rows_[a].env == rows_[b].env) return false;
    for (std::size_t column : table_.parent_columns) {
      const ValueView va = value(a, column);
      const ValueView vb = value(b, column);
      const KeyForm form = table_.key_forms.empty() ? KeyForm::kText : table_.key_forms[column];
      if (va && vb && canonical_value(*va, form) != canonical_value(*vb, form)) return true;
    }
    return false;
  }

  // Rows `a` and `b` of one environment (not master) that share a natural
  // key under different primary keys: the environment holds the key twice.
  bool held_twice(std::size_t a, std::size_t b) const {
    if (rows_[a].env != rows_[b].env || env(a).fixed || pk_key(a) == pk_key(b)) return false;
    for (std::size_t k = 0; k < table_.natural_keys.size(); ++k) {
      const std::string &ka = nk_key(a, k);
      if (!ka.empty() && ka == nk_key(b, k)) return true;
    }
    return false;
  }
  // A pair of the group that is held twice (held_twice); empty when none.
  std::vector<std::size_t> duplicated_in_environment(const std::vector<std::size_t> &group) const;
  std::vector<std::string> natural_key_buckets(std::size_t row, const std::string &prefix) const;
  // `met_through`: set when a natural key could not join two entities, as
  // that would put two of an environment's rows in one.
  std::vector<std::vector<std::size_t>> split_entities(const std::vector<std::size_t> &group,
                                                       bool &met_through) const;
  std::vector<std::vector<std::size_t>> join_held_twice(
      std::vector<std::vector<std::size_t>> entities, bool met_through) const;
  void key_collisions(const std::vector<std::size_t> &group,
                      const std::vector<std::vector<std::size_t>> &entities,
                      std::vector<Conflict> &out) const;
  // `duplicated`: two rows of one environment with one natural key
  // (duplicated_in_environment), which no rule settles.
  Conflict classify_entity(std::vector<std::size_t> members,
                           const std::vector<std::size_t> &duplicated = {}) const;

  std::string env_label(std::size_t row, const std::vector<std::size_t> &members) const;
  void describe_members(Conflict &c) const;
  std::string column_list(const std::vector<std::size_t> &columns) const;
  // "balance differs", "balance, currency differ".
  // A reference to the table's own rows is told by the rows it
  // references: "manager_id differs (references a@x in st1, c@x in st2)".
  std::string columns_differ(const std::vector<std::size_t> &columns,
                             const std::vector<std::size_t> &members) const;
  // " (references a in st1, b in st2)" for the compared references among
  // `columns` whose rows are named, else "".
  std::string rows_referenced(const std::vector<std::size_t> &columns,
                              const std::vector<std::size_t> &members) const;
  std::string entity_key(const std::vector<std::size_t> &members) const;
  // The borrowed keys that members share ("staging.person (name) Gail"),
  // "" when none: who a supertype's rows are.
  std::string borrowed_match(const std::vector<std::size_t> &members) const;

  const TableModel &table_;
  const Context &context_;
  const std::vector<SourceRow> &rows_;
  std::vector<std::size_t> attributes_;
  std::vector<bool> key_names_rows_;  // per natural key (names_rows)
  struct RowKeys {
    std::string pk;       // length-prefixed, for comparison
    std::string pk_text;  // "1" or "1,2", for people
    std::vector<std::string> nk;
  };
  std::unordered_map<std::size_t, RowKeys> keys_;
};

// Rows of `group` (positions) bucketed by a key: for each position, the
// later positions that share one of its keys, ascending. A key is shared by
// a few rows (one per environment, or master's), so this is linear in the
// group where comparing every pair was quadratic: a chain of rows linked by
// alternating keys (ids shifted by one between environments) makes one
// group of every row.
namespace {
template <typename KeysOf>
std::vector<std::vector<std::size_t>> later_partners(std::size_t n, KeysOf keys_of) {
  std::unordered_map<std::string, std::vector<std::size_t>> holders;
  std::vector<std::vector<std::string>> keys(n);
  for (std::size_t i = 0; i < n; ++i) {
    keys[i] = keys_of(i);
    for (const std::string &key : keys[i]) holders[key].push_back(i);
  }
  std::vector<std::vector<std::size_t>> partners(n);
  for (std::size_t i = 0; i < n; ++i) {
    for (const std::string &key : keys[i]) {
      for (std::size_t j : holders[key]) {
        if (j > i) partners[i].push_back(j);
      }
    }
    std::sort(partners[i].begin(), partners[i].end());
    partners[i].erase(std::unique(partners[i].begin(), partners[i].end()), partners[i].end());
  }
  return partners;
}
}  // namespace

// The bucket keys of a row: its natural keys, each tagged with its group's
// number (and `prefix`, e.g. the environment), empty keys left out.
std::vector<std::string> Classifier::natural_key_buckets(std::size_t row,
                                                         const std::string &prefix) const {
  std::vector<std::string> keys;
  for (std::size_t k = 0; k < table_.natural_keys.size(); ++k) {
    const std::string &key = nk_key(row, k);
    if (!key.empty()) keys.push_back(prefix + std::to_string(k) + '\x1f' + key);
  }
  return keys;
}

std::vector<std::size_t> Classifier::duplicated_in_environment(
    const std::vector<std::size_t> &group) const {
  const auto partners = later_partners(group.size(), [&](std::size_t i) {
    if (env(group[i]).fixed) return std::vector<std::string>{};
    return natural_key_buckets(group[i], std::to_string(rows_[group[i]].env) + '\x1f');
  });
  for (std::size_t i = 0; i < group.size(); ++i) {
    for (std::size_t j : partners[i]) {
      if (held_twice(group[i], group[j])) return {group[i], group[j]};
    }
  }
  return {};
}

std::vector<std::vector<std::size_t>> Classifier::split_entities(
    const std::vector<std::size_t> &group, bool &met_through) const {
  const std::size_t n = group.size();
  boost::disjoint_sets_with_storage<> sets(n);
  for (std::size_t i = 0; i < n; ++i) sets.make_set(i);
  // Shared natural keys make one entity, unless it would then hold two
  // rows of one environment (two of its rows, as distinct_entities says):
  // each entity's primary key per environment, merged as entities join.
  std::vector<std::map<std::size_t, std::string>> keys_by_env(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (!env(group[i]).fixed) keys_by_env[i][rows_[group[i]].env] = pk_key(group[i]);
  }
  auto join = [&](std::size_t i, std::size_t j) {
    std::size_t ri = sets.find_set(i);
    std::size_t rj = sets.find_set(j);
    if (ri == rj) return;
    for (const auto &[e, key] : keys_by_env[rj]) {
      auto it = keys_by_env[ri].find(e);
      if (it != keys_by_env[ri].end() && it->second != key) {
        met_through = true;
        return;
      }
    }
    sets.link(ri, rj);
    const std::size_t root = sets.find_set(ri);
    auto &kept = keys_by_env[root];
    for (auto &[e, key] : keys_by_env[root == ri ? rj : ri]) kept.emplace(e, key);
  };
  // Pairs in (i, j) order, as the tie-break orders the group.
  const auto by_natural_key =
      later_partners(n, [&](std::size_t i) { return natural_key_buckets(group[i], ""); });
  for (std::size_t i = 0; i < n; ++i) {
    if ((i & 0xFF) == 0) check_interrupts();
    for (std::size_t j : by_natural_key[i]) join(i, j);
  }
  // A shared primary key joins two entities unless some pair across them
  // is distinct: a row with a NULL natural key must not bridge alice and
  // bob. Pairs are taken in tie-break order, so such a row joins the
  // highest-precedence side. (Each entity's rows, by its root.)
  std::vector<std::vector<std::size_t>> rows_of(n);
  for (std::size_t x = 0; x < n; ++x) rows_of[sets.find_set(x)].push_back(x);
  auto separated = [&](std::size_t ri, std::size_t rj) {
    for (std::size_t x : rows_of[ri]) {
      for (std::size_t y : rows_of[rj]) {
        if (distinct_entities(group[x], group[y])) return true;
      }
    }
    return false;
  };
  const auto by_primary_key = later_partners(n, [&](std::size_t i) {
    const std::string &key = pk_key(group[i]);
    return key.empty() ? std::vector<std::string>{} : std::vector<std::string>{key};
  });
  for (std::size_t i = 0; i < n; ++i) {
    if ((i & 0xFF) == 0) check_interrupts();
    for (std::size_t j : by_primary_key[i]) {
      const std::size_t ri = sets.find_set(i);
      const std::size_t rj = sets.find_set(j);
      if (ri == rj || separated(ri, rj)) continue;
      sets.link(ri, rj);
      const std::size_t root = sets.find_set(ri);
      auto &kept = rows_of[root];
      auto &gone = rows_of[root == ri ? rj : ri];
      kept.insert(kept.end(), gone.begin(), gone.end());
      gone.clear();
    }
  }
  std::map<std::size_t, std::vector<std::size_t>> by_root;
  for (std::size_t i = 0; i < n; ++i) by_root[sets.find_set(i)].push_back(group[i]);
  std::vector<std::vector<std::size_t>> entities;
  for (auto &entry : by_root) {
    order(entry.second);
    entities.push_back(std::move(entry.second));
  }
  // The entity holding the highest-precedence row comes first.
  std::sort(entities.begin(), entities.end(), [&](const auto &x, const auto &y) {
    std::vector<std::size_t> firsts = {x.front(), y.front()};
    order(firsts);
    return firsts.front() == x.front() && x.front() != y.front();
  });
  return entities;
}

// Rule 0: one conflict per primary key held by rows of different entities.
void Classifier::key_collisions(const std::vector<std::size_t> &group,
                                const std::vector<std::vector<std::size_t>> &entities,
                                std::vector<Conflict> &out) const {
  std::map<std::size_t, std::size_t> entity_of;
  for (std::size_t e = 0; e < entities.size(); ++e) {
    for (std::size_t row : entities[e]) entity_of[row] = e;
  }
  std::map<std::string, std::vector<std::size_t>> by_key;
  for (std::size_t row : group) {
    const std::string &key = pk_key(row);
    if (!key.empty()) by_key[key].push_back(row);
  }
  for (auto &[key, holders] : by_key) {
    std::set<std::size_t> holder_entities;
    for (std::size_t row : holders) holder_entities.insert(entity_of[row]);
    if (holder_entities.size() < 2) continue;
    order(holders);
    Conflict c;
    c.kind = Kind::duplicate_pk;
    c.rule = Rule::distinct_entities;
    c.complex = false;
    c.priority = 3;
    c.members = holders;
    c.survivor = holders.front();
    const std::size_t keeper_entity = entity_of[holders.front()];
    std::vector<std::string> rekeyed;
    for (std::size_t row : holders) {
      if (entity_of[row] == keeper_entity) continue;
      c.rekeyed.push_back(row);
      rekeyed.push_back(env(row).name);
    }
    describe_members(c);
    c.suggestion = "keep all; re-key the row" + std::string(rekeyed.size() > 1 ? "s" : "") +
                   " of " + boost::algorithm::join(rekeyed, ", ") + " (" +
                   pk_label(holders.front()) + " stays with " + env(holders.front()).name + ")";
    // The natural keys' columns that tell the entities apart (a tenant
    // they share is not one of them), and the references to their parents.
    std::vector<std::size_t> telling;
    std::vector<std::vector<std::size_t>> telling_sets = table_.natural_keys;
    telling_sets.push_back(table_.parent_columns);
    for (const auto &group_columns : telling_sets) {
      for (std::size_t column : group_columns) {
        if (std::find(c.differing.begin(), c.differing.end(), column) != c.differing.end() &&
            std::find(telling.begin(), telling.end(), column) == telling.end()) {
          telling.push_back(column);
        }
      }
    }
    c.rationale = "same " + pk_label(holders.front()) + " but " +
                  (telling.empty()
                       ? std::string("different attributes")
                       : "different " + column_list(telling) + rows_referenced(telling, holders)) +
                  ": different entities that collided on an environment-local key";
    if (!table_.rekeyable && !table_.key_reference.empty()) {
      // The key is the supertype row's: two subtype rows of one supertype
      // row (its entities merged) are one to keep, or a split up there.
      c.rule = Rule::manual;
      c.complex = true;
      c.suggestion = "keep " + env(holders.front()).name + " (" + pk_label(holders.front()) +
                     " is " + table_.key_reference + "'s row)";
      c.rationale += "; " + column_list(table_.pk) + " references " + table_.key_reference +
                     ", so no new one can be made up: keep one row, or decide keep_all on the " +
                     table_.key_reference + " conflict that made them meet";
    } else if (!table_.rekeyable) {
      // Rule 0 still tells what happened; a reviewer gives the new keys.
      c.rule = Rule::manual;
      c.complex = true;
      // What to write, with the column to renumber for each row.
      const std::string &renamed =
          table_.columns[table_.renamed_key_column.value_or(table_.pk.back())];
      std::vector<std::string> example;
      for (const std::string &name : rekeyed) {
        example.push_back("\"" + name + "\": {\"" + renamed + "\": ...}");
      }
      c.suggestion = "keep all; give the row" + std::string(rekeyed.size() > 1 ? "s" : "") +
                     " of " + boost::algorithm::join(rekeyed, ", ") + " a new " + renamed +
                     " in renames => '{" + boost::algorithm::join(example, ", ") + "}' (" +
                     pk_label(holders.front()) + " stays with " + env(holders.front()).name + ")";
      c.rationale += "; tdm cannot generate a new " + column_list(table_.pk) +
                     ": decide keep_all with the new key in renames";
    }
    std::vector<std::string> sources;
    for (std::size_t row : holders) sources.push_back(source(row));
    c.id = conflict_id(context_.release, table_.name, "key", pk_text(holders.front()), sources);
    out.push_back(std::move(c));
  }
}

Conflict Classifier::classify_entity(std::vector<std::size_t> members,
                                     const std::vector<std::size_t> &duplicated) const {
  order(members);
  Conflict c;
  c.members = members;
  describe_members(c);
  const std::vector<std::size_t> &differing = c.differing;
  std::vector<std::string> sources;
  for (std::size_t row : members) sources.push_back(source(row));
  c.id = conflict_id(context_.release, table_.name, "entity", entity_key(members), sources);
  const std::size_t first = members.front();

  // Kinds: every one that applies; `kind` is the most severe.
  bool all_identical = true;
  bool shares_pk = false;
  bool shares_nk_other_pk = false;
  for (std::size_t i = 0; i < members.size(); ++i) {
    for (std::size_t j = i + 1; j < members.size(); ++j) {
      std::size_t a = members[i];
      std::size_t b = members[j];
      if (!identical(a, b)) all_identical = false;
      bool same_pk = !pk_key(a).empty() && pk_key(a) == pk_key(b);
      if (same_pk) shares_pk = true;
      if (!same_pk) {
        for (std::size_t k = 0; k < table_.natural_keys.size(); ++k) {
          const std::string &ka = nk_key(a, k);
          if (!ka.empty() && ka == nk_key(b, k)) shares_nk_other_pk = true;
        }
      }
    }
  }
  std::vector<std::size_t> differing_attributes;
  for (std::size_t column : differing) {
    if (std::find(attributes_.begin(), attributes_.end(), column) != attributes_.end()) {
      differing_attributes.push_back(column);
    }
  }
  c.kind = Kind::exact_duplicate;
  if (shares_pk) c.kind = Kind::duplicate_pk;
  if (shares_nk_other_pk) c.kind = Kind::duplicate_natural_key;
  if (!differing_attributes.empty()) c.kind = Kind::attribute_conflict;
  if (all_identical) c.kind = Kind::exact_duplicate;

  auto resolved = [&](Rule rule, std::size_t survivor, std::string suggestion,
                      std::string rationale) {
    c.rule = rule;
    c.complex = false;
    c.priority = 3;
    c.survivor = survivor;
    c.suggestion = std::move(suggestion);
    c.rationale = std::move(rationale);
  };
  // The highest priority the members' features have in the release plan,
  // the features that have it, and the first member of one of them
  // (members are in tie-break order): rule 4's winner where one feature
  // has it.
  struct TopFeatures {
    std::optional<int> priority;
    std::set<std::string> features;
    std::size_t first_holder;
  };
  auto top_features_of = [&] {
    TopFeatures top{std::nullopt, {}, first};
    for (std::size_t row : members) {
      const auto p = feature_priority(row);
      if (p && (!top.priority || *p > *top.priority)) top.priority = p;
    }
    bool held = false;
    for (std::size_t row : members) {
      if (feature_priority(row) != top.priority) continue;
      top.features.insert(std::string(feature(row).value_or("")));
      if (!held) top.first_holder = row;
      held = true;
    }
    return top;
  };
  // The member the rules would keep were they allowed to: the one whose
  // feature has the highest priority in the release plan, where one
  // feature does (rule 4), else the first by precedence (rule 5); master's
  // row, which stays, first. The suggestion, and what resolve_all keeps.
  auto manual = [&](int priority, std::string rationale) {
    c.rule = Rule::manual;
    c.complex = true;
    c.priority = priority;
    c.survivor = first;
    c.suggestion =
        "review; by environment precedence it would be: keep " + env_label(first, members);
    const TopFeatures top = top_features_of();
    if (!env(first).fixed && top.priority && top.features.size() == 1 &&
        top.first_holder != first) {
      const std::size_t winner = top.first_holder;
      c.survivor = winner;
      c.suggestion = "review; by feature priority it would be: keep " + env_label(winner, members) +
                     " (" + std::string(*feature(winner)) + ", priority " +
                     std::to_string(*top.priority) + ")";
    }
    c.rationale = std::move(rationale);
  };

  // An earlier release's row in master comes first and stays as it is: a
  // rule may keep it, never drop or change it (a human decides otherwise).
  const bool fixed = env(first).fixed;
  auto fixed_stays = [&](const std::string &would) {
    manual(3, would + ", but " + fixed_row(first) +
                  " stays as it is: a human decides (keep it, or keep_all with new keys or "
                  "renames for the release's rows)");
  };
  // Why precedence chose the first member over `among` others, `tied` of
  // them of its own precedence (the name then decided).
  auto by_precedence = [&](std::size_t tied, std::size_t among) -> std::string {
    if (fixed) return fixed_row(first) + " comes first";
    if (tied == 0) return "the environment with the lowest precedence number wins";
    if (tied == among) return "the environments' precedence is equal, the first by name wins";
    return "the environment with the lowest precedence number wins, then the first by name";
  };
  // A release's row that joins several of master's rows (one by one key,
  // another by another): no rule picks among rows that all stay.
  const auto fixed_count = std::count_if(members.begin(), members.end(),
                                         [&](std::size_t row) { return env(row).fixed; });
  if (fixed_count > 1) {
    manual(3, "the release's row" +
                  std::string(members.size() - fixed_count > 1 ? "s join " : " joins ") +
                  std::to_string(fixed_count) + " rows of " + env(first).name +
                  ", which stay as they are: a human decides which one it is (keep it), or "
                  "keep_all with renames for the release's rows");
    return c;
  }

  // (Which priority a human's review of two rows of one environment takes.)
  const bool core_differs =
      std::any_of(differing.begin(), differing.end(), [&](std::size_t column) {
        return std::find(table_.core.begin(), table_.core.end(), column) != table_.core.end();
      });
  // An environment holding one natural key twice: one entity or two is the
  // environment's data to say, not a rule's (merging would drop one of its
  // rows; splitting would load the key twice).
  if (!duplicated.empty()) {
    const std::size_t a = duplicated[0];
    const std::size_t b = duplicated[1];
    std::vector<std::size_t> shared;  // (the natural keys both hold, none NULL)
    for (std::size_t k = 0; k < table_.natural_keys.size(); ++k) {
      const auto &group = table_.natural_keys[k];
      if (!nk_key(a, k).empty() && nk_key(a, k) == nk_key(b, k)) {
        shared.insert(shared.end(), group.begin(), group.end());
      }
    }
    std::vector<std::string> values;
    for (std::size_t column : shared) values.emplace_back(*value(a, column));
    manual(core_differs ? 1 : 3,
           env(a).name + " holds " + column_list(shared) + " " +
               boost::algorithm::join(values, ", ") + " twice (" + pk_label(a) + " and " +
               pk_text(b) +
               "): one entity or two, a human decides (keep one, keep_all with renames, or "
               "merge)");
    return c;
  }
  // Two rows of one environment met through a third (join_held_twice):
  // merging would drop one of the environment's rows, keeping them apart
  // would load the third's natural keys twice.
  for (std::size_t i = 0; i < members.size(); ++i) {
    for (std::size_t j = i + 1; j < members.size(); ++j) {
      const std::size_t a = members[i];
      const std::size_t b = members[j];
      if (rows_[a].env != rows_[b].env || env(a).fixed || pk_key(a) == pk_key(b)) continue;
      manual(core_differs ? 1 : 3,
             "two rows of " + env(a).name + " (" + pk_label(a) + " and " + pk_text(b) +
                 ") share natural keys with one row of another environment: one entity or "
                 "more, a human decides (keep one, keep_all with renames, or merge)");
      return c;
    }
  }

  // Rows joined by a natural key that reference two parents past it (two
  // orders' lines under one (order_id, line_no)): one row or two is not a
  // rule's to say; merging would drop a parent's row.
  for (std::size_t i = 0; i < members.size(); ++i) {
    for (std::size_t j = i + 1; j < members.size(); ++j) {
      const std::size_t a = members[i];
      const std::size_t b = members[j];
      if (!parents_differ(a, b)) continue;
      manual(3, env(a).name + " and " + env(b).name + " reference two rows by " +
                    column_list(table_.parent_columns) +
                    rows_referenced(table_.parent_columns, members) +
                    " under one key: one row or two, a human decides (keep one, or keep_all with "
                    "renames)");
      return c;
    }
  }

  // A subtype's key that the members hold differently (one person, two
  // stores under one businessentity): the rows are one entity by one
  // subtype and two by another, which no rule settles; merging them would
  // put two stores under one key.
  for (std::size_t k = 0; k < table_.borrowed_keys.size(); ++k) {
    const std::size_t group = table_.natural_keys.size() - table_.borrowed_keys.size() + k;
    const std::size_t column = table_.columns.size() + k;
    std::set<std::string> keys;
    for (std::size_t row : members) {
      if (!nk_key(row, group).empty()) keys.insert(nk_key(row, group));
    }
    if (keys.size() < 2) continue;
    std::vector<std::string> held;
    for (std::size_t row : members) {
      if (value(row, column)) {
        held.push_back(env_label(row, members) + " " + std::string(*value(row, column)));
      }
    }
    manual(2, table_.borrowed_keys[k] + " differs (" + boost::algorithm::join(held, ", ") +
                  "): one entity or two, a human decides (keep one, or keep_all)");
    return c;
  }

  // Rows that one natural key joins and another tells apart (a track's gid
  // differs at one (medium, position)): one entity under two keys or two
  // at one place, which no rule settles; a rule would drop one of them.
  const std::size_t own_keys = table_.natural_keys.size() - table_.borrowed_keys.size();
  for (std::size_t i = 0; i < members.size(); ++i) {
    for (std::size_t j = i + 1; j < members.size(); ++j) {
      const std::size_t a = members[i];
      const std::size_t b = members[j];
      std::vector<std::size_t> shared, told_apart;
      for (std::size_t k = 0; k < own_keys; ++k) {
        const std::string &ka = nk_key(a, k);
        const std::string &kb = nk_key(b, k);
        if (ka.empty() || kb.empty()) continue;
        if (ka == kb) {
          shared.insert(shared.end(), table_.natural_keys[k].begin(), table_.natural_keys[k].end());
          continue;
        }
        // The columns that differ, a reference to the table's own rows by
        // the row it names (a tree's parent_id: 1 and 7 may be one node).
        for (std::size_t column : table_.natural_keys[k]) {
          if (!same_value(a, b, column)) told_apart.push_back(column);
        }
      }
      if (shared.empty() || told_apart.empty()) continue;
      const std::string place =
          shared.size() > 1 ? "(" + column_list(shared) + ")" : column_list(shared);
      // (An earlier release's row in master stays as it is: no merge.)
      manual(core_differs ? 1 : 3,
             columns_differ(told_apart, members) + " between rows that share " + place +
                 ": one entity under two keys or two entities, a human decides (" +
                 (fixed ? "keep " + fixed_row(first) + ", or keep_all with renames of " + place +
                              " for the release's rows)"
                        : "keep one, merge, or keep_all with renames of " + place + ")"));
      return c;
    }
  }

  // Rule 1: identical rows.
  if (all_identical) {
    // (An environment may hold two of them, under two primary keys.)
    std::set<std::size_t> environments;
    for (std::size_t row : members) environments.insert(rows_[row].env);
    const std::string copies =
        environments.size() == members.size()
            ? "identical rows in " + std::to_string(members.size()) + " environments"
            : std::to_string(members.size()) + " identical rows in " +
                  std::to_string(environments.size()) + " environments";
    // (Identical but for their tags: the kept row's feature is the first
    // member's, by precedence, whatever the plan ranks; said so.)
    std::set<std::string> tagged;
    for (std::size_t row : members) tagged.insert(std::string(feature(row).value_or("none")));
    const std::string features =
        tagged.size() > 1
            ? "; their features differ (" + boost::algorithm::join(tagged, ", ") +
                  "): the row kept carries " + std::string(feature(first).value_or("none")) + ", " +
                  env(first).name + "'s"
            : std::string();
    resolved(Rule::exact_duplicate, first, "keep " + env(first).name + "; drop the copies",
             copies + (fixed ? " (" + fixed_row(first) + " among them)" : "") + features);
    return c;
  }
  // Rule 2: attributes identical, newest wins; master's row stays.
  if (differing_attributes.empty() && fixed) {
    resolved(Rule::environment_precedence, first, "keep " + env(first).name,
             "attributes identical to " + fixed_row(first) +
                 ", which comes first: later releases do not change it");
    return c;
  }
  if (differing_attributes.empty()) {
    // Members are in tie-break order, so the first newest one wins a tie.
    std::size_t newest = first;
    bool all_equal = true;
    for (std::size_t row : members) {
      if (rows_[row].ts != rows_[first].ts) all_equal = false;
      if (rows_[row].ts && (!rows_[newest].ts || *rows_[row].ts > *rows_[newest].ts)) newest = row;
    }
    if (all_equal) {
      // No timestamp to go by: no clear priority, environment precedence.
      resolved(
          Rule::environment_precedence, first,
          "keep " + env(first).name + " (precedence " + std::to_string(env(first).precedence) + ")",
          "attributes identical and no newer record: the environment with the lowest "
          "precedence number wins");
    } else {
      resolved(Rule::temporal_priority, newest,
               "keep " + env(newest).name + " (newest, " + timestamp_text(newest) + ")",
               "attributes identical, timestamps differ: the newest record wins");
    }
    return c;
  }
  // Rules 3-5 never settle a core column: a human does.
  std::vector<std::size_t> core_differences;
  for (std::size_t column : differing_attributes) {
    if (std::find(table_.core.begin(), table_.core.end(), column) != table_.core.end()) {
      core_differences.push_back(column);
    }
  }
  if (!core_differences.empty()) {
    // (and the references that name other rows, though their values may
    // be equal: keys of each environment, which the reviewer cannot tell)
    std::vector<std::size_t> references;
    std::copy_if(differing_attributes.begin(), differing_attributes.end(),
                 std::back_inserter(references), [&](std::size_t column) {
                   return table_.compared_reference_of(column) &&
                          std::find(core_differences.begin(), core_differences.end(), column) ==
                              core_differences.end();
                 });
    manual(1, "core column" + std::string(core_differences.size() > 1 ? "s " : " ") +
                  columns_differ(core_differences, members) +
                  (references.empty() ? "" : ", and " + columns_differ(references, members)) +
                  ": a human decides");
    return c;
  }
  // Rows of two environments that share only their primary key, which
  // each environment gives on its own (an integer or uuid key tdm can
  // renumber), with no natural key both hold (NULL in one), and that
  // disagree where both hold a value: nothing says they are one entity
  // (two customers without an email, both id 1). A rule would keep one and
  // drop the other; a human decides.
  if (!table_.natural_keys.empty() && table_.rekeyable) {
    for (std::size_t i = 0; i < members.size(); ++i) {
      for (std::size_t j = i + 1; j < members.size(); ++j) {
        const std::size_t a = members[i];
        const std::size_t b = members[j];
        if (env(a).fixed || env(b).fixed || pk_key(a).empty() || pk_key(a) != pk_key(b)) continue;
        bool both_hold_a_natural_key = false;
        std::vector<std::size_t> missing;  // the natural keys' columns NULL in either row
        for (std::size_t k = 0; k < table_.natural_keys.size(); ++k) {
          both_hold_a_natural_key |= !nk_key(a, k).empty() && !nk_key(b, k).empty();
          for (std::size_t column : table_.natural_keys[k]) {
            if ((!value(a, column) || !value(b, column)) &&
                std::find(missing.begin(), missing.end(), column) == missing.end()) {
              missing.push_back(column);
            }
          }
        }
        if (both_hold_a_natural_key || missing.empty()) continue;
        std::vector<std::size_t> disagreeing;
        for (std::size_t column : differing_attributes) {
          if (value(a, column) && value(b, column) && !same_value(a, b, column)) {
            disagreeing.push_back(column);
          }
        }
        if (disagreeing.empty()) continue;
        manual(3, env(a).name + " and " + env(b).name + " share only " + pk_label(a) +
                      ", which each environment gives on its own, with no " + column_list(missing) +
                      " to tell (NULL), and " + columns_differ(disagreeing, members) +
                      ": one entity or two, a human decides (keep one, merge, or keep_all)");
        return c;
      }
    }
  }
  // Rule 3: differences only where one side is NULL.
  bool conflicting = false;
  for (std::size_t column : differing_attributes) {
    std::optional<std::size_t> seen;  // a member holding a value
    for (std::size_t row : members) {
      if (!value(row, column)) continue;
      if (seen && !same_value(*seen, row, column)) conflicting = true;
      seen = row;
    }
  }
  if (!conflicting) {
    c.merged = rows_[first].values.to_vector();
    std::vector<std::string> filled;
    std::vector<std::size_t>
        foreign_references;  // compared references another environment would fill
    for (std::size_t column : differing_attributes) {
      if (c.merged[column]) continue;
      for (std::size_t row : members) {
        if (value(row, column)) {
          c.merged[column] = std::string(*value(row, column));
          filled.push_back(quoted_name(table_.columns[column]) + " from " + env(row).name);
          if (table_.compared_reference_of(column) && rows_[row].env != rows_[first].env) {
            foreign_references.push_back(column);
          }
          break;
        }
      }
    }
    if (fixed && !filled.empty()) {
      fixed_stays("merging would fill " + boost::algorithm::join(filled, ", "));
      return c;
    }
    // A reference to this table's own rows is a key of its environment,
    // and the merged row is translated as the survivor's: another
    // environment's key would point at another row. A human gives the key.
    if (!foreign_references.empty()) {
      c.merged.clear();
      manual(2, column_list(foreign_references) +
                    " would come from another environment's row, whose keys of this table are "
                    "not the survivor's: a human gives the reference");
      return c;
    }
    resolved(Rule::non_conflicting_merge, first,
             "merge: " + env(first).name + "'s row" +
                 (filled.empty() ? ", which already holds every value"
                                 : " with " + boost::algorithm::join(filled, ", ")),
             "attributes differ only where one side is NULL: complementary data merged");
    return c;
  }
  // Rule 4: features of different priority in the release plan.
  std::set<std::string> features;
  for (std::size_t row : members) features.insert(std::string(feature(row).value_or("")));
  if (features.size() > 1) {
    const TopFeatures top_features_held = top_features_of();
    const std::optional<int> top = top_features_held.priority;
    const std::set<std::string> &top_features = top_features_held.features;
    if (top && top_features.size() == 1) {
      const std::size_t winner = top_features_held.first_holder;
      if (fixed && winner != first) {
        fixed_stays(std::string(*feature(winner)) +
                    " has the highest priority of the members' features in the release plan");
        return c;
      }
      // Rows of that feature that differ from the winner: precedence chose
      // among them, and the rationale says so.
      std::vector<std::string> outranked;
      std::size_t tied = 0;  // (members are in tie-break order: the winner's precedence is lowest)
      for (std::size_t row : members) {
        if (row != winner && feature_priority(row) == top &&
            !same_values(winner, row, differing_attributes)) {
          outranked.push_back(env(row).name);
          if (env(row).precedence == env(winner).precedence) ++tied;
        }
      }
      resolved(Rule::feature_priority, winner,
               "keep " + env(winner).name + " (" + std::string(*feature(winner)) + ", priority " +
                   std::to_string(*top) + ")",
               "attributes differ and " + std::string(*feature(winner)) +
                   " has the highest priority in the release plan among " +
                   boost::algorithm::join(features, ", ") +
                   (outranked.empty() ? std::string()
                                      : "; its rows differ too (" + env(winner).name + ", " +
                                            boost::algorithm::join(outranked, ", ") +
                                            "): " + by_precedence(tied, outranked.size())));
      return c;
    }
    if (top) {
      manual(2, "features " + boost::algorithm::join(top_features, ", ") + " have equal priority " +
                    std::to_string(*top) + " and " + columns_differ(differing_attributes, members));
    } else {
      manual(3, "features " + boost::algorithm::join(features, ", ") +
                    " are not in the release plan and " +
                    columns_differ(differing_attributes, members));
    }
    return c;
  }
  // Rule 5: same feature (or none): environment precedence, then name.
  // (Master's row comes first by being master's, not by a precedence.)
  const bool tied = env(members[1]).precedence == env(first).precedence;
  resolved(
      Rule::environment_precedence, first,
      "keep " + env(first).name +
          (fixed ? std::string() : " (precedence " + std::to_string(env(first).precedence) + ")"),
      columns_differ(differing_attributes, members) +
          " between rows of the same feature: " + by_precedence(tied ? 1 : 0, 1));
  return c;
}

std::string Classifier::borrowed_match(const std::vector<std::size_t> &members) const {
  std::vector<std::string> matched;
  for (std::size_t k = 0; k < table_.borrowed_keys.size(); ++k) {
    const std::size_t group = table_.natural_keys.size() - table_.borrowed_keys.size() + k;
    std::map<std::string, std::size_t> holders;  // key -> members holding it
    for (std::size_t row : members) {
      if (!nk_key(row, group).empty()) ++holders[nk_key(row, group)];
    }
    for (std::size_t row : members) {
      const ValueView v = value(row, table_.columns.size() + k);
      if (v && holders[nk_key(row, group)] > 1) {
        // (a key of several columns as its values, comma-separated)
        matched.push_back(table_.borrowed_keys[k] + " " +
                          boost::algorithm::replace_all_copy(
                              std::string(*v), std::string(1, kReferentColumnSeparator), ", "));
        break;
      }
    }
  }
  return boost::algorithm::join(matched, ", ");
}

void Classifier::classify_group(std::vector<std::size_t> group, std::vector<Conflict> &out) {
  // Master's rows among themselves are no release's conflict: an earlier
  // release loaded them as they are (two of them under a natural key
  // registered since, met through a subtype's borrowed key, say).
  const auto only_master = [&](const std::vector<std::size_t> &rows) {
    return std::all_of(rows.begin(), rows.end(), [&](std::size_t row) { return env(row).fixed; });
  };
  if (only_master(group)) return;
  spell_keys(group);
  order(group);
  bool met_through = false;
  std::vector<std::vector<std::size_t>> entities = split_entities(group, met_through);
  entities = join_held_twice(std::move(entities), met_through);
  if (entities.size() > 1) key_collisions(group, entities, out);
  for (auto &entity : entities) {
    if (entity.size() < 2 || only_master(entity)) continue;
    const std::vector<std::size_t> duplicated = duplicated_in_environment(entity);
    out.push_back(classify_entity(std::move(entity), duplicated));
    // (who the rows are, when a subtype's key said they are one)
    const std::string matched = borrowed_match(out.back().members);
    if (!matched.empty()) out.back().rationale += "; one entity by " + matched;
  }
}

// Entities the split kept apart because one environment holds a natural
// key twice (two of its rows share it, decision 68) are one conflict again,
// for a reviewer (duplicated_in_environment). So are entities kept apart
// though a row of one shares a natural key with a row of the other: two of
// an environment's rows met through a third (st1's row shares its badge
// with st2's 1 and its email with st2's 2). Apart, the third was merged
// with one and loaded beside the other, its natural key twice. Entities
// apart for another reason (different natural keys under one primary key)
// stay apart.
std::vector<std::vector<std::size_t>> Classifier::join_held_twice(
    std::vector<std::vector<std::size_t>> entities, bool met_through) const {
  // (Either way the split refused a natural key's join: the common case,
  // entities apart by rule 0 alone, has nothing to join.)
  if (entities.size() < 2 || !met_through) return entities;
  // The rows of every entity, with the entity they are in: rows held twice
  // share a bucket (environment and natural key).
  std::vector<std::size_t> rows;
  std::vector<std::size_t> entity_of;
  for (std::size_t e = 0; e < entities.size(); ++e) {
    for (std::size_t row : entities[e]) {
      rows.push_back(row);
      entity_of.push_back(e);
    }
  }
  const auto partners = later_partners(rows.size(), [&](std::size_t i) {
    if (env(rows[i]).fixed) return std::vector<std::string>{};
    return natural_key_buckets(rows[i], std::to_string(rows_[rows[i]].env) + '\x1f');
  });
  const auto sharing =
      later_partners(rows.size(), [&](std::size_t i) { return natural_key_buckets(rows[i], ""); });
  boost::disjoint_sets_with_storage<> sets(entities.size());
  std::vector<std::size_t> rows_in(entities.size());  // per root: its joined entities' rows
  for (std::size_t e = 0; e < entities.size(); ++e) {
    sets.make_set(e);
    rows_in[e] = entities[e].size();
  }
  bool joined = false;
  auto join = [&](std::size_t a, std::size_t b, std::size_t most) {
    const std::size_t ra = sets.find_set(a);
    const std::size_t rb = sets.find_set(b);
    if (ra == rb || rows_in[ra] + rows_in[rb] > most) return;
    sets.link(ra, rb);
    rows_in[sets.find_set(ra)] = rows_in[ra] + rows_in[rb];
    joined = true;
  };
  // (Rows met through others join a conflict a reviewer can read: a chain
  // of environments whose keys are shifted by one row would make the
  // whole table one, and its pairwise checks quadratic. Past that, they
  // stay apart, and validation reports the key held twice.)
  constexpr std::size_t kMostMetThrough = 32;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if ((i & 0xFF) == 0) check_interrupts();
    for (std::size_t j : partners[i]) {
      if (entity_of[i] == entity_of[j] || !held_twice(rows[i], rows[j])) continue;
      join(entity_of[i], entity_of[j], std::numeric_limits<std::size_t>::max());
    }
    for (std::size_t j : sharing[i]) {
      if (entity_of[i] == entity_of[j] || rows_[rows[i]].env == rows_[rows[j]].env) continue;
      join(entity_of[i], entity_of[j], kMostMetThrough);
    }
  }
  if (!joined) return entities;
  // Joined entities in the place of the first of them, their rows in
  // tie-break order.
  std::map<std::size_t, std::size_t> place_of_root;
  std::vector<std::vector<std::size_t>> result;
  for (std::size_t e = 0; e < entities.size(); ++e) {
    auto [it, first] = place_of_root.emplace(sets.find_set(e), result.size());
    if (first) result.emplace_back();
    auto &into = result[it->second];
    into.insert(into.end(), entities[e].begin(), entities[e].end());
  }
  for (auto &entity : result) order(entity);
  return result;
}

std::string Classifier::env_label(std::size_t row, const std::vector<std::size_t> &members) const {
  std::size_t same_env = 0;
  for (std::size_t other : members) same_env += rows_[other].env == rows_[row].env;
  return same_env > 1 ? env(row).name + ":" + pk_text(row) : env(row).name;
}

void Classifier::describe_members(Conflict &c) const {
  for (std::size_t row : c.members) c.labels.push_back(env_label(row, c.members));
  // Two rows of one environment under one key (one re-pointed onto the
  // other's by its parent's new key): told apart by their order.
  std::map<std::string, int> seen;
  for (std::string &label : c.labels) {
    if (const int n = ++seen[label]; n > 1) label += "#" + std::to_string(n);
  }
  for (std::size_t column = 0; column < table_.columns.size(); ++column) {
    if (column == table_.release_column) continue;
    for (std::size_t row : c.members) {
      if (!same_value(row, c.members.front(), column)) {
        c.differing.push_back(column);
        break;
      }
    }
  }
}

std::string Classifier::column_list(const std::vector<std::size_t> &columns) const {
  std::vector<std::string> names;
  for (std::size_t c : columns) {
    names.push_back(c < table_.columns.size() ? quoted_name(table_.columns[c])
                                              : table_.column_name(c));
  }
  return boost::algorithm::join(names, ", ");
}

std::string Classifier::columns_differ(const std::vector<std::size_t> &columns,
                                       const std::vector<std::size_t> &members) const {
  return column_list(columns) + (columns.size() > 1 ? " differ" : " differs") +
         rows_referenced(columns, members);
}

std::string Classifier::rows_referenced(const std::vector<std::size_t> &columns,
                                        const std::vector<std::size_t> &members) const {
  std::vector<std::string> references;
  std::set<std::size_t> told;  // compared references, each told once
  for (std::size_t column : columns) {
    const auto fk = table_.compared_reference_of(column);
    if (!fk || !told.insert(*fk).second) continue;
    const std::vector<std::size_t> &fk_columns = table_.compared_references[*fk];
    std::vector<std::string> referenced;
    bool names_any = false;  // (roots alone tell nothing)
    for (std::size_t row : members) {
      // (a NULL in the reference's columns: a root, which references none)
      if (std::any_of(fk_columns.begin(), fk_columns.end(),
                      [&](std::size_t c) { return !value(row, c); })) {
        referenced.push_back("no row in " + env_label(row, members));
        continue;
      }
      const ValueView r = referent(row, *fk);
      if (!r || !names_a_row(*r)) continue;
      // The first natural key that is not NULL names the row.
      std::string_view name = *r;
      while (!name.empty() && name.front() == kReferentSeparator) name.remove_prefix(1);
      std::string shown(name.substr(0, name.find(kReferentSeparator)));
      std::replace(shown.begin(), shown.end(), kReferentColumnSeparator, ',');
      for (std::size_t at; (at = shown.find(kReferentNull)) != std::string::npos;) {
        shown.replace(at, 1, "NULL");
      }
      referenced.push_back(shown + " in " + env_label(row, members));
      names_any = true;
    }
    if (names_any) {
      // (the reference's columns named when others are listed too)
      const std::string named =
          fk_columns.size() < columns.size() ? column_list(fk_columns) + " " : "";
      references.push_back(named + "references " + boost::algorithm::join(referenced, ", "));
    }
  }
  return references.empty() ? "" : " (" + boost::algorithm::join(references, "; ") + ")";
}

// The entity's identity for its conflict id: its first non-NULL natural key
// (normalised as compared), else its first member's primary key.
std::string Classifier::entity_key(const std::vector<std::size_t> &members) const {
  for (std::size_t k = 0; k < table_.natural_keys.size(); ++k) {
    for (std::size_t row : members) {
      if (!nk_key(row, k).empty()) return nk_key(row, k);
    }
  }
  return pk_key(members.front());
}

}  // namespace

std::vector<Conflict> detect_conflicts(const TableModel &table, const Context &context,
                                       const std::vector<SourceRow> &rows) {
  Classifier classifier(table, context, rows);
  std::vector<Conflict> conflicts;
  std::size_t done = 0;
  for (auto &group : group_rows(table, rows)) {
    if ((++done & 0x3FF) == 0) check_interrupts();
    classifier.classify_group(std::move(group), conflicts);
  }
  return conflicts;
}

}  // namespace tdm::detect
