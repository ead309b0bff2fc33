#include "core/detect/grouping.hpp"

#include <algorithm>
#include <charconv>
#include <cctype>
#include <climits>
#include <cwchar>
#include <cwctype>
#include <limits>

#include <boost/sort/spreadsort/integer_sort.hpp>
#include <boost/pending/disjoint_sets.hpp>

#include "core/common/interrupt.hpp"

namespace tdm::detect {

namespace {

// Lower case as PostgreSQL's lower() gives it under the database's default
// collation (libc): character by character in the process's LC_CTYPE, which
// a backend sets to the database's. Where the text does not decode there
// (a C locale and bytes past ASCII), ASCII letters only, as lower() does.
std::string lower_text(const std::string &text) {
  const bool ascii = std::all_of(text.begin(), text.end(),
                                 [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  std::string ascii_lowered = text;
  for (char &c : ascii_lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ascii) return ascii_lowered;
  std::string lowered;
  lowered.reserve(text.size());
  std::mbstate_t in{};
  std::mbstate_t out{};
  const char *p = text.data();
  const char *end = p + text.size();
  char buffer[MB_LEN_MAX];
  while (p < end) {
    wchar_t wide;
    std::size_t n = std::mbrtowc(&wide, p, static_cast<std::size_t>(end - p), &in);
    if (n == static_cast<std::size_t>(-1) || n == static_cast<std::size_t>(-2))
      return ascii_lowered;
    if (n == 0) n = 1;  // (an embedded NUL)
    const std::size_t m = std::wcrtomb(buffer, static_cast<wchar_t>(std::towlower(wide)), &out);
    if (m == static_cast<std::size_t>(-1)) return ascii_lowered;
    lowered.append(buffer, m);
    p += n;
  }
  return lowered;
}

// A decimal integer of `text` into `value`; false when there is none or
// it overflows.
bool read_integer(std::string_view text, __int128 &value) {
  bool negative = false;
  std::size_t i = 0;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) negative = text[i++] == '-';
  if (i == text.size()) return false;
  value = 0;
  for (; i < text.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
    if (value > (std::numeric_limits<std::int64_t>::max() / 10)) return false;
    value = value * 10 + (text[i] - '0');
  }
  if (negative) value = -value;
  return true;
}

// "[+-]H:MM:SS[.ffffff]" as microseconds.
bool read_time(std::string_view text, __int128 &micros) {
  bool negative = false;
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    negative = text[0] == '-';
    text.remove_prefix(1);
  }
  const std::size_t first = text.find(':');
  const std::size_t second = text.find(':', first + 1);
  if (first == std::string_view::npos || second == std::string_view::npos) return false;
  __int128 hours = 0;
  __int128 minutes = 0;
  __int128 seconds = 0;
  std::string_view rest = text.substr(second + 1);
  std::string_view fraction;
  if (const std::size_t dot = rest.find('.'); dot != std::string_view::npos) {
    fraction = rest.substr(dot + 1);
    rest = rest.substr(0, dot);
  }
  if (!read_integer(text.substr(0, first), hours) ||
      !read_integer(text.substr(first + 1, second - first - 1), minutes) ||
      !read_integer(rest, seconds) || fraction.size() > 6) {
    return false;
  }
  __int128 fraction_micros = 0;
  for (std::size_t i = 0; i < 6; ++i) {
    const char digit = i < fraction.size() ? fraction[i] : '0';
    if (!std::isdigit(static_cast<unsigned char>(digit))) return false;
    fraction_micros = fraction_micros * 10 + (digit - '0');
  }
  micros = ((hours * 60 + minutes) * 60 + seconds) * 1000000 + fraction_micros;
  if (negative) micros = -micros;
  return true;
}

std::string int128_text(__int128 value) {
  if (value == 0) return "0";
  const bool negative = value < 0;
  std::string digits;
  for (; value != 0; value /= 10) {
    const int digit = static_cast<int>(value % 10);
    digits.push_back(static_cast<char>('0' + (digit < 0 ? -digit : digit)));
  }
  if (negative) digits.push_back('-');
  return std::string(digits.rbegin(), digits.rend());
}

}  // namespace

std::string canonical_interval(std::string_view text) {
  constexpr __int128 kMicrosPerDay = static_cast<__int128>(86400) * 1000000;
  __int128 total = 0;
  std::size_t at = 0;
  auto next_token = [&]() -> std::string_view {
    while (at < text.size() && text[at] == ' ') ++at;
    const std::size_t start = at;
    while (at < text.size() && text[at] != ' ') ++at;
    return text.substr(start, at - start);
  };
  for (std::string_view token = next_token(); !token.empty(); token = next_token()) {
    __int128 amount = 0;
    if (token.find(':') != std::string_view::npos) {
      if (!read_time(token, amount)) return std::string(text);
      total += amount;
      continue;
    }
    const std::string_view unit = next_token();
    if (!read_integer(token, amount)) return std::string(text);
    if (unit == "year" || unit == "years") {
      total += amount * 12 * 30 * kMicrosPerDay;
    } else if (unit == "mon" || unit == "mons") {
      total += amount * 30 * kMicrosPerDay;
    } else if (unit == "day" || unit == "days") {
      total += amount * kMicrosPerDay;
    } else {
      return std::string(text);
    }
  }
  return int128_text(total);
}

std::string normalize_key_value(const std::string &value) {
  std::size_t begin = 0;
  std::size_t end = value.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(value[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(value[end - 1]))) --end;
  return lower_text(value.substr(begin, end - begin));
}

bool append_key(std::string &key, const SourceRow &row, const std::vector<std::size_t> &columns,
                bool normalize, const std::vector<KeyForm> &forms) {
  std::string part;
  for (std::size_t column : columns) {
    // (a borrowed key past the row's values: NULL)
    const ValueView value = column < row.values.size() ? row.values[column] : std::nullopt;
    if (!value) return false;
    const KeyForm form = column < forms.size() ? forms[column] : KeyForm::kText;
    std::string_view text = *value;
    // (As spelled, the usual case: appended without a copy.)
    if (form != KeyForm::kText || normalize) {
      part = std::string(text);
      switch (form) {
        case KeyForm::kDecimal:
          part = std::string(canonical_decimal(part));
          break;
        case KeyForm::kFloat:
          if (part == "-0") part = "0";
          break;
        case KeyForm::kCaseless:
          part = lower_text(part);
          break;
        case KeyForm::kInterval:
          part = canonical_interval(part);
          break;
        case KeyForm::kPadded:
          part = std::string(canonical_padded(part));
          break;
        case KeyForm::kText:
          break;
      }
      if (normalize) part = normalize_key_value(part);
      text = part;
    }
    // Length-prefixed, so ("ab","c") and ("a","bc") stay apart.
    char length[24];
    const auto written = std::to_chars(length, length + sizeof(length), text.size());
    key.append(length, written.ptr);
    key.push_back(':');
    key.append(text);
  }
  return true;
}

std::string key_of(const SourceRow &row, const std::vector<std::size_t> &columns, bool normalize,
                   const std::vector<KeyForm> &forms) {
  std::string key;
  if (!append_key(key, row, columns, normalize, forms)) return {};
  return key;
}

namespace {

unsigned bits_for(std::size_t rows) {
  unsigned bits = 1;
  while ((std::size_t{1} << bits) < rows) ++bits;
  return bits;
}

// Packs (high hash bits | row) into each word, drops NULL keys and sorts:
// rows with equal hashes end up adjacent, in ascending row order.
void sort_packed(std::vector<std::uint64_t> &hashes, unsigned row_bits) {
  const std::uint64_t row_mask = (std::uint64_t{1} << row_bits) - 1;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < hashes.size(); ++i) {
    if (hashes[i] == 0) continue;
    hashes[kept++] = (hashes[i] & ~row_mask) | i;
  }
  hashes.resize(kept);
  // A radix sort: 64-bit words, millions of them, per key kind.
  boost::sort::spreadsort::integer_sort(hashes.begin(), hashes.end());
}

std::uint64_t candidate(std::uint64_t row, std::uint64_t component) {
  return (row << 32) | component;
}

constexpr std::uint32_t kNoComponent = std::numeric_limits<std::uint32_t>::max();

}  // namespace

std::vector<std::vector<std::size_t>> group_rows(const TableModel &table,
                                                 const std::vector<SourceRow> &rows) {
  boost::disjoint_sets_with_storage<> sets(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) sets.make_set(i);

  // Every row's key in one buffer, and the rows sorted by their key's hash
  // (high bits, packed with the row as HashGrouper does): rows of one key
  // end up adjacent. (A map of strings allocated a node and a string per
  // row: most of the grouping's time.)
  const unsigned row_bits = bits_for(rows.size());
  const std::uint64_t row_mask = (std::uint64_t{1} << row_bits) - 1;
  std::string keys;
  std::vector<std::size_t> offsets(rows.size());
  std::vector<std::size_t> lengths(rows.size());
  std::vector<std::uint64_t> hashes;
  auto key = [&](std::size_t row) {
    return std::string_view(keys.data() + offsets[row], lengths[row]);
  };
  auto link_by = [&](const std::vector<std::size_t> &columns, bool normalize) {
    keys.clear();
    hashes.assign(rows.size(), 0);  // (0: NULL, no key)
    for (std::size_t i = 0; i < rows.size(); ++i) {
      offsets[i] = keys.size();
      if (!append_key(keys, rows[i], columns, normalize, table.key_forms)) {
        keys.resize(offsets[i]);
        continue;
      }
      lengths[i] = keys.size() - offsets[i];
      const std::uint64_t hash = std::hash<std::string_view>{}(key(i)) | (row_mask + 1);
      hashes[i] = hash;
    }
    sort_packed(hashes, row_bits);
    // Within a run of one hash, each row joins the first with its key (the
    // run's first, but for a collision of two keys' hashes).
    for (std::size_t begin = 0; begin < hashes.size();) {
      std::size_t end = begin + 1;
      while (end < hashes.size() && (hashes[end] & ~row_mask) == (hashes[begin] & ~row_mask)) ++end;
      for (std::size_t i = begin + 1; i < end; ++i) {
        for (std::size_t j = begin; j < i; ++j) {
          if (key(hashes[j] & row_mask) == key(hashes[i] & row_mask)) {
            sets.union_set(hashes[j] & row_mask, hashes[i] & row_mask);
            break;
          }
        }
      }
      begin = end;
    }
  };
  link_by(table.pk, false);
  for (const auto &natural_key : table.natural_keys) link_by(natural_key, table.normalize_keys);

  // (root, row), sorted: each group's rows adjacent, in ascending order.
  std::vector<std::pair<std::size_t, std::size_t>> by_root(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) by_root[i] = {sets.find_set(i), i};
  std::sort(by_root.begin(), by_root.end());
  std::vector<std::vector<std::size_t>> groups;
  for (std::size_t begin = 0; begin < by_root.size();) {
    std::size_t end = begin + 1;
    while (end < by_root.size() && by_root[end].first == by_root[begin].first) ++end;
    if (end - begin > 1) {
      std::vector<std::size_t> &group = groups.emplace_back();
      group.reserve(end - begin);
      for (std::size_t i = begin; i < end; ++i) group.push_back(by_root[i].second);
    }
    begin = end;
  }
  std::sort(groups.begin(), groups.end());
  return groups;
}

HashGrouper::HashGrouper(std::size_t rows)
    : rows_(rows), row_bits_(bits_for(rows)), parent_(rows), rank_(rows, 0) {
  for (std::size_t i = 0; i < rows; ++i) parent_[i] = static_cast<std::uint32_t>(i);
}

std::size_t HashGrouper::bytes_needed(std::size_t rows, std::size_t key_kinds) {
  // One kind: the hashes, sorted and rewritten in place (the result keeps
  // their buffer).
  if (key_kinds <= 1) return rows * sizeof(std::uint64_t);
  // Parent and rank per row, one hash per row and key kind; candidates()
  // needs a label per root while the primary key's hashes are held, then
  // one word per candidate once they are gone.
  std::size_t per_row = sizeof(std::uint32_t) + sizeof(std::uint8_t) +
                        std::max<std::size_t>(key_kinds * sizeof(std::uint64_t),
                                              sizeof(std::uint32_t) + sizeof(std::uint64_t));
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

void HashGrouper::link_equal(const std::vector<std::uint64_t> &sorted) {
  const std::uint64_t row_mask = (std::uint64_t{1} << row_bits_) - 1;
  for (std::size_t i = 1; i < sorted.size(); ++i) {
    if ((i & 0xFFFF) == 0) check_interrupts();
    if ((sorted[i] & ~row_mask) == (sorted[i - 1] & ~row_mask)) {
      unite(static_cast<std::uint32_t>(sorted[i - 1] & row_mask),
            static_cast<std::uint32_t>(sorted[i] & row_mask));
    }
  }
}

void HashGrouper::add_key_kind(std::vector<std::uint64_t> &hashes) {
  sort_packed(hashes, row_bits_);
  link_equal(hashes);
  std::vector<std::uint64_t>().swap(hashes);
}

std::vector<std::uint64_t> HashGrouper::candidates(std::vector<std::uint64_t> &primary_key_hashes) {
  sort_packed(primary_key_hashes, row_bits_);
  link_equal(primary_key_hashes);
  // Which roots have more than one row (rank_ is reused as a saturating
  // counter), then each shared root's label, from the primary-key hashes
  // still held (a root whose rows all lack one keeps kNoComponent).
  std::fill(rank_.begin(), rank_.end(), 0);
  std::size_t shared_rows = 0;
  for (std::size_t i = 0; i < rows_; ++i) {
    std::uint32_t root = find(static_cast<std::uint32_t>(i));
    if (rank_[root] < 2) ++rank_[root];
  }
  std::vector<std::uint32_t> label(rows_, kNoComponent);
  const std::uint64_t row_mask = (std::uint64_t{1} << row_bits_) - 1;
  for (std::uint64_t word : primary_key_hashes) {
    std::uint32_t root = find(static_cast<std::uint32_t>(word & row_mask));
    if (rank_[root] > 1)
      label[root] = std::min(label[root], static_cast<std::uint32_t>(word >> 32));
  }
  std::vector<std::uint64_t>().swap(primary_key_hashes);
  for (std::size_t i = 0; i < rows_; ++i) {
    std::uint32_t root = find(static_cast<std::uint32_t>(i));
    if (rank_[root] < 2) continue;
    ++shared_rows;
    // (No primary key in the component: its root's row, so that such
    // components spread over partitions too.)
    if (label[root] == kNoComponent) label[root] = root;
  }
  std::vector<std::uint64_t> out;
  out.reserve(shared_rows);
  for (std::size_t i = 0; i < rows_; ++i) {
    std::uint32_t root = find(static_cast<std::uint32_t>(i));
    if (rank_[root] > 1) out.push_back(candidate(i, label[root]));
  }
  return out;
}

std::vector<std::uint64_t> group_single_key_kind(std::vector<std::uint64_t> hashes) {
  const unsigned row_bits = bits_for(hashes.size());
  const std::uint64_t row_mask = (std::uint64_t{1} << row_bits) - 1;
  sort_packed(hashes, row_bits);
  // Each run of equal hashes is a component, labelled by the high half of
  // its hash; its words are rewritten in place (the write position never
  // passes the run being read), then sorted back into row order.
  std::size_t out = 0;
  std::size_t runs = 0;
  for (std::size_t begin = 0; begin < hashes.size();) {
    if ((++runs & 0xFFFF) == 0) check_interrupts();
    const std::uint64_t hash = hashes[begin] & ~row_mask;
    std::size_t end = begin + 1;
    while (end < hashes.size() && (hashes[end] & ~row_mask) == hash) ++end;
    if (end - begin > 1) {
      for (std::size_t i = begin; i < end; ++i)
        hashes[out++] = candidate(hashes[i] & row_mask, hash >> 32);
    }
    begin = end;
  }
  hashes.resize(out);
  boost::sort::spreadsort::integer_sort(hashes.begin(), hashes.end());
  return hashes;
}

void RowLocations::add(std::uint32_t block, std::uint16_t offset) {
  if (!runs_.empty()) {
    const Run &last = runs_.back();
    if (last.block == block && last.first_offset + (rows_ - last.first_row) == offset) {
      ++rows_;
      return;
    }
  }
  runs_.push_back({static_cast<std::uint32_t>(rows_), block, offset});
  ++rows_;
}

std::pair<std::uint32_t, std::uint16_t> RowLocations::at(std::size_t row) const {
  auto run = std::upper_bound(runs_.begin(), runs_.end(), row,
                              [](std::size_t r, const Run &x) { return r < x.first_row; });
  --run;
  return {run->block, static_cast<std::uint16_t>(run->first_offset + (row - run->first_row))};
}

}  // namespace tdm::detect
