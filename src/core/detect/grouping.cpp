#include "core/detect/grouping.hpp"

#include <algorithm>
#include <cctype>
#include <unordered_map>

#include <boost/sort/spreadsort/integer_sort.hpp>
#include <boost/pending/disjoint_sets.hpp>

#include "core/common/interrupt.hpp"

namespace tdm::detect {

std::string normalize_key_value(const std::string &value) {
  std::size_t begin = 0;
  std::size_t end = value.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(value[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(value[end - 1]))) --end;
  std::string folded = value.substr(begin, end - begin);
  for (char &c : folded) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return folded;
}

std::string key_of(const SourceRow &row, const std::vector<std::size_t> &columns, bool normalize) {
  std::string key;
  for (std::size_t column : columns) {
    const ValueView value = row.values[column];
    if (!value) return {};
    const std::string part =
        normalize ? normalize_key_value(std::string(*value)) : std::string(*value);
    // Length-prefixed, so ("ab","c") and ("a","bc") stay apart.
    key += std::to_string(part.size());
    key.push_back(':');
    key += part;
  }
  return key;
}

std::vector<std::vector<std::size_t>> group_rows(const TableModel &table,
                                                 const std::vector<SourceRow> &rows) {
  boost::disjoint_sets_with_storage<> sets(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) sets.make_set(i);

  auto link_by = [&](const std::vector<std::size_t> &columns, bool normalize) {
    std::unordered_map<std::string, std::size_t> first_with_key;
    first_with_key.reserve(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      std::string key = key_of(rows[i], columns, normalize);
      if (key.empty()) continue;
      auto [it, inserted] = first_with_key.emplace(std::move(key), i);
      if (!inserted) sets.union_set(it->second, i);
    }
  };
  link_by(table.pk, false);
  for (const auto &natural_key : table.natural_keys) link_by(natural_key, table.normalize_keys);

  std::unordered_map<std::size_t, std::vector<std::size_t>> by_root;
  for (std::size_t i = 0; i < rows.size(); ++i) by_root[sets.find_set(i)].push_back(i);
  std::vector<std::vector<std::size_t>> groups;
  for (auto &entry : by_root) {
    if (entry.second.size() > 1) groups.push_back(std::move(entry.second));
  }
  std::sort(groups.begin(), groups.end());
  return groups;
}

HashGrouper::HashGrouper(std::size_t rows)
    : rows_(rows), row_bits_(1), parent_(rows), rank_(rows, 0) {
  while ((std::size_t{1} << row_bits_) < rows) ++row_bits_;
  for (std::size_t i = 0; i < rows; ++i) parent_[i] = static_cast<std::uint32_t>(i);
}

std::size_t HashGrouper::bytes_needed(std::size_t rows, std::size_t key_kinds) {
  // Parent and rank per row, one hash per row and key kind; labels() needs
  // two 8-byte words per row once the hashes are gone.
  std::size_t per_row = sizeof(std::uint32_t) + sizeof(std::uint8_t) +
                        std::max<std::size_t>(key_kinds * sizeof(std::uint64_t), 16);
  return rows * per_row;
}

// boost::disjoint_sets over plain arrays: 5 bytes a row.
std::uint32_t HashGrouper::find(std::uint32_t row) {
  return boost::disjoint_sets<std::uint8_t *, std::uint32_t *>(rank_.data(), parent_.data())
      .find_set(row);
}

void HashGrouper::unite(std::uint32_t a, std::uint32_t b) {
  boost::disjoint_sets<std::uint8_t *, std::uint32_t *>(rank_.data(), parent_.data())
      .union_set(a, b);
}

void HashGrouper::add_key_kind(std::vector<std::uint64_t> &hashes) {
  // Pack (high hash bits | row) into one word and sort in place.
  const std::uint64_t row_mask = (std::uint64_t{1} << row_bits_) - 1;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < rows_; ++i) {
    if (hashes[i] == 0) continue;
    hashes[kept++] = (hashes[i] & ~row_mask) | i;
  }
  hashes.resize(kept);
  // A radix sort: 64-bit words, millions of them, per key kind.
  boost::sort::spreadsort::integer_sort(hashes.begin(), hashes.end());
  for (std::size_t i = 1; i < kept; ++i) {
    if ((i & 0xFFFF) == 0) check_interrupts();
    if ((hashes[i] & ~row_mask) == (hashes[i - 1] & ~row_mask)) {
      unite(static_cast<std::uint32_t>(hashes[i - 1] & row_mask),
            static_cast<std::uint32_t>(hashes[i] & row_mask));
    }
  }
  std::vector<std::uint64_t>().swap(hashes);
}

std::vector<std::int64_t> HashGrouper::labels() {
  // First pass: the smallest row of each root, and whether the root has
  // more than one row (rank_ is reused as a saturating counter).
  std::vector<std::int64_t> smallest(rows_, -1);
  std::fill(rank_.begin(), rank_.end(), 0);
  for (std::size_t i = 0; i < rows_; ++i) {
    std::uint32_t root = find(static_cast<std::uint32_t>(i));
    if (smallest[root] < 0) smallest[root] = static_cast<std::int64_t>(i);
    if (rank_[root] < 2) ++rank_[root];
  }
  std::vector<std::int64_t> label(rows_, -1);
  for (std::size_t i = 0; i < rows_; ++i) {
    std::uint32_t root = find(static_cast<std::uint32_t>(i));
    if (rank_[root] > 1) label[i] = smallest[root];
  }
  return label;
}

}  // namespace tdm::detect
