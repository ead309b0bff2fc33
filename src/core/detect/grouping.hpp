// Grouping rows that share a primary key or any natural key (union-find, so
// chains merge), in two forms: exact, on the values themselves, and coarse,
// on 64-bit key hashes for the first pass over a whole table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/detect/model.hpp"

namespace tdm::detect {

// The key of `row` over `columns` as one string, or "" when any value is
// NULL (NULL keys never match). Natural keys may be normalised.
std::string key_of(const SourceRow &row, const std::vector<std::size_t> &columns, bool normalize);

// Case-folds (ASCII) and trims whitespace: the natural-key normalisation.
std::string normalize_key_value(const std::string &value);

// Exact groups of `rows`: each a list of row indices, of two rows or more,
// in ascending index order; groups ordered by their first index.
std::vector<std::vector<std::size_t>> group_rows(const TableModel &table,
                                                 const std::vector<SourceRow> &rows);

// Coarse grouping over key hashes, for the first pass over a whole table:
// rows are numbered 0..n-1; each key kind (primary key, each natural key)
// gives one 64-bit hash per row, 0 for a NULL key. Rows with equal hashes
// are linked. Only the high bits of a hash are compared (the low bits carry
// the row number while sorting), so a rare false link can occur: it only
// makes a component larger, and exact grouping splits it again.
class HashGrouper {
 public:
  explicit HashGrouper(std::size_t rows);

  // Bytes the grouping needs for `rows` rows and `key_kinds` hash arrays.
  static std::size_t bytes_needed(std::size_t rows, std::size_t key_kinds);

  // Links the rows whose hash is equal; reuses `hashes` as sort space.
  void add_key_kind(std::vector<std::uint64_t> &hashes);

  // For each row, the label of its component (its smallest row index), or
  // -1 for a row alone in its component.
  std::vector<std::int64_t> labels();

 private:
  std::uint32_t find(std::uint32_t row);
  void unite(std::uint32_t a, std::uint32_t b);

  std::size_t rows_;
  unsigned row_bits_;
  std::vector<std::uint32_t> parent_;
  std::vector<std::uint8_t> rank_;
};

}  // namespace tdm::detect
