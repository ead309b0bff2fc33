// Grouping rows that share a primary key or any natural key (union-find, so
// chains merge), in two forms: exact, on the values themselves, and coarse,
// on 64-bit key hashes for the first pass over a whole table.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
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
// component's label in the low 32 (see candidate_row, candidate_label).
// A component's label is the smallest high half of its rows' primary-key
// hashes: the same whatever order the rows were read in, so what is
// partitioned by it does not depend on that order. (Two components may
// share a label. A component none of whose rows has a primary key, NULL,
// is labelled by one of its rows instead.) Rows alone in their component
// are left out.
class HashGrouper {
 public:
  explicit HashGrouper(std::size_t rows);

  // Bytes the grouping needs at its peak for `rows` rows and `key_kinds`
  // hash arrays, its result included (one kind: group_single_key_kind,
  // whose result keeps the hashes' buffer; more: this class).
  static std::size_t bytes_needed(std::size_t rows, std::size_t key_kinds);

  // Links the rows whose hash is equal; reuses `hashes` as sort space and
  // frees it. For every key kind but the primary key's.
  void add_key_kind(std::vector<std::uint64_t> &hashes);

  // Links the rows whose primary-key hash is equal, then returns the rows
  // in shared components, as described above. Frees `primary_key_hashes`.
  std::vector<std::uint64_t> candidates(std::vector<std::uint64_t> &primary_key_hashes);

 private:
  std::uint32_t find(std::uint32_t row);
  void unite(std::uint32_t a, std::uint32_t b);
  void link_equal(const std::vector<std::uint64_t> &sorted);

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

// Where each row read in one pass is (its block and offset), in the order
// read: runs of consecutive offsets in one block, a few bytes a block for
// a table read in physical order, as its sequential scan reads it.
class RowLocations {
 public:
  void add(std::uint32_t block, std::uint16_t offset);
  std::size_t size() const { return rows_; }
  std::size_t bytes() const { return runs_.capacity() * sizeof(Run); }
  // Room for `runs` runs; full(): the next run may need more.
  void reserve(std::size_t runs) { runs_.reserve(runs); }
  bool full() const { return runs_.size() == runs_.capacity(); }
  static constexpr std::size_t run_bytes() { return sizeof(Run); }
  // Block and offset of the `row`th row added (row < size()).
  std::pair<std::uint32_t, std::uint16_t> at(std::size_t row) const;

 private:
  struct Run {
    std::uint32_t first_row;
    std::uint32_t block;
    std::uint16_t first_offset;
  };
  std::vector<Run> runs_;
  std::size_t rows_ = 0;
};

inline std::uint32_t candidate_row(std::uint64_t candidate) {
  return static_cast<std::uint32_t>(candidate >> 32);
}
inline std::uint32_t candidate_label(std::uint64_t candidate) {
  return static_cast<std::uint32_t>(candidate);
}

}  // namespace tdm::detect
