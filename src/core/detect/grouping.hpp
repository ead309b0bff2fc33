// Grouping rows that share a primary key or any natural key (union-find, so
// chains merge), in two forms: exact, on the values themselves, and coarse,
// on 64-bit key hashes for the first pass over a whole table.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/detect/model.hpp"

namespace tdm::detect {

// The key of `row` over `columns` as one string, or "" when any value is
// NULL (NULL keys never match): each value in its column's form of
// `forms` (none: as spelled), then, for natural keys, maybe normalised.
std::string key_of(const SourceRow &row, const std::vector<std::size_t> &columns, bool normalize,
                   const std::vector<KeyForm> &forms = {});

// The same, appended to `key`; false, with part of it appended, when a
// value is NULL.
bool append_key(std::string &key, const SourceRow &row, const std::vector<std::size_t> &columns,
                bool normalize, const std::vector<KeyForm> &forms = {});

// An interval's text (IntervalStyle postgres: "1 year 2 mons -3 days
// +04:05:06.5") as the microseconds it spans the way PostgreSQL compares
// intervals (a month 30 days, a day 24 hours), in decimal: '1 day' and
// '24:00:00' alike. Text it cannot read is returned as it is. (The SQL
// side computes the same from the interval's fields.)
std::string canonical_interval(std::string_view text);

// Case-folds (ASCII) and trims whitespace: the natural-key normalisation.
std::string normalize_key_value(const std::string &value);

// Exact groups of `rows`: each a list of row indices, of two rows or more,
// in ascending index order; groups ordered by their first index.
std::vector<std::vector<std::size_t>> group_rows(const TableModel &table,
                                                 const std::vector<SourceRow> &rows);

// Coarse grouping over key hashes, for the first pass over a whole table:
// rows are numbered 0..n-1 (fewer than 2^32); each key kind (primary key,
// each natural key) gives one 64-bit hash per row, 0 for a NULL key. Rows
// with equal hashes are linked. Only the high bits of a hash are compared
// (the low bits carry the row number while sorting), so a rare false link
// can occur: it only makes a component larger, and exact grouping splits
// it again.
//
// The result names the rows that share a component with another row, in
// ascending row order, each as one word: the row in the high 32 bits, the
// component's number in the low 32 (see candidate_row, candidate_label).
// Components are numbered 0, 1, ... in the order of their smallest rows.
// Rows alone in their component are left out.
class HashGrouper {
 public:
  explicit HashGrouper(std::size_t rows);

  // Bytes the grouping needs at its peak for `rows` rows and `key_kinds`
  // hash arrays, its result included (one kind: group_single_key_kind,
  // whose result keeps the hashes' buffer: capacity() words; more: this
  // class).
  static std::size_t bytes_needed(std::size_t rows, std::size_t key_kinds);

  // Links the rows whose hash is equal; reuses `hashes` as sort space.
  void add_key_kind(std::vector<std::uint64_t> &hashes);

  // The rows in shared components, as described above.
  std::vector<std::uint64_t> candidates();

 private:
  std::uint32_t find(std::uint32_t row);
  void unite(std::uint32_t a, std::uint32_t b);

  std::size_t rows_;
  unsigned row_bits_;
  std::vector<std::uint32_t> parent_;
  std::vector<std::uint8_t> rank_;
};

// The same result for a table with one key kind (a primary key and no
// natural key): rows sharing a hash form a component by themselves, so the
// sorted hashes are rewritten in place into the result, 8 bytes a row and
// no union-find. `hashes` has one entry per row.
std::vector<std::uint64_t> group_single_key_kind(std::vector<std::uint64_t> hashes);

inline std::uint32_t candidate_row(std::uint64_t candidate) {
  return static_cast<std::uint32_t>(candidate >> 32);
}
inline std::uint32_t candidate_label(std::uint64_t candidate) {
  return static_cast<std::uint32_t>(candidate);
}

}  // namespace tdm::detect
