// Unit tests of conflict detection (src/core/detect): grouping, kinds,
// every rule, manual priorities, tie-breaks and stable ids.
#include <gtest/gtest.h>

#include <algorithm>
#include <clocale>
#include <random>
#include <set>

#include <boost/algorithm/string/join.hpp>

#include "core/detect/classify.hpp"
#include "core/detect/grouping.hpp"

namespace tdm::detect {
namespace {

enum Col { kId, kEmail, kRole, kBalance, kUpdated, kRelease, kFeature };

TableModel users() {
  TableModel t;
  t.name = "staging.users";
  t.columns = {"user_id", "email", "role", "balance", "updated_at", "tdm_release", "tdm_feature"};
  t.pk = {kId};
  t.natural_keys = {{kEmail}};
  t.core = {kRole};
  t.updated_at = kUpdated;
  t.release_column = kRelease;
  t.feature_column = kFeature;
  return t;
}

Context context() {
  Context c;
  c.environments = {{"st1", 10}, {"st2", 20}, {"st3", 30}, {"st4", 40}};
  c.feature_priority = {
      {"FEAT-101", 3}, {"FEAT-102", 2}, {"FEAT-104", 2}, {"FEAT-105", 1}, {"FEAT-108", 2}};
  return c;
}

SourceRow row(std::size_t env, const char *id, const char *email, const char *role,
              const char *balance, std::int64_t ts, const char *feature = "FEAT-102") {
  SourceRow r;
  r.env = env;
  auto v = [](const char *s) { return s ? Value(s) : Value(); };
  r.values = {v(id),       v(email),  v(role), v(balance), Value("2024-01-" + std::to_string(ts)),
              Value("R2"), v(feature)};
  r.ts = ts;
  return r;
}

std::vector<Conflict> detect(const std::vector<SourceRow> &rows, TableModel t = users()) {
  return detect_conflicts(t, context(), rows);
}

TEST(RowValues, KeepNullApartFromEmptyAndEndEachValueWithNul) {
  RowValues values{Value("alice"), std::nullopt, Value(""), Value("b")};
  ASSERT_EQ(values.size(), 4u);
  EXPECT_EQ(*values[0], "alice");
  EXPECT_FALSE(values[1].has_value());
  ASSERT_TRUE(values[2].has_value());
  EXPECT_TRUE(values[2]->empty());
  EXPECT_EQ(*values[3], "b");
  EXPECT_EQ(values[0]->data()[5], '\0');
  EXPECT_EQ(values.to_vector(),
            (std::vector<Value>{Value("alice"), std::nullopt, Value(""), Value("b")}));
}

TEST(CanonicalDecimal, DropsOnlyTheZerosOfTheScale) {
  EXPECT_EQ(canonical_decimal("1.50"), "1.5");
  EXPECT_EQ(canonical_decimal("2.0"), "2");
  EXPECT_EQ(canonical_decimal("0.000"), "0");
  EXPECT_EQ(canonical_decimal("-10.10"), "-10.1");
  EXPECT_EQ(canonical_decimal("100"), "100");
  EXPECT_EQ(canonical_decimal("1000.01"), "1000.01");
  EXPECT_EQ(canonical_decimal("NaN"), "NaN");
  EXPECT_EQ(canonical_decimal("-Infinity"), "-Infinity");
}

TEST(CanonicalPadded, DropsTrailingBlanksOnly) {
  EXPECT_EQ(canonical_padded("ALFKI "), "ALFKI");
  EXPECT_EQ(canonical_padded("ab   "), "ab");
  EXPECT_EQ(canonical_padded("  ab"), "  ab");
  EXPECT_EQ(canonical_padded("a b\t"), "a b\t");  // bpchar ignores spaces only
  EXPECT_EQ(canonical_padded("   "), "");
  EXPECT_EQ(canonical_value("1.50", KeyForm::kPadded), "1.50");
  EXPECT_EQ(canonical_value("1.50", KeyForm::kDecimal), "1.5");
  EXPECT_EQ(canonical_value("ab ", KeyForm::kText), "ab ");
}

TEST(Grouping, PaddedKeysAreOneWhateverTheirTrailingBlanks) {
  std::vector<SourceRow> rows = {row(0, "1", "ann@x", "Customer", "1", 10),
                                 row(1, "2", "ann@x  ", "Customer", "1", 10)};
  TableModel t = users();
  EXPECT_TRUE(group_rows(t, rows).empty());
  t.key_forms.assign(t.columns.size(), KeyForm::kText);
  t.key_forms[kEmail] = KeyForm::kPadded;
  EXPECT_EQ(group_rows(t, rows), (std::vector<std::vector<std::size_t>>{{0, 1}}));
}

TEST(CanonicalInterval, SpellsTheSpanAsPostgreSQLComparesIt) {
  // A day is 24 hours, a month 30 days, a year 12 months.
  EXPECT_EQ(canonical_interval("1 day"), canonical_interval("24:00:00"));
  EXPECT_EQ(canonical_interval("1 mon"), canonical_interval("30 days"));
  EXPECT_EQ(canonical_interval("1 year"), canonical_interval("360 days"));
  EXPECT_EQ(canonical_interval("1 day"), "86400000000");
  EXPECT_EQ(canonical_interval("00:00:00"), "0");
  EXPECT_EQ(canonical_interval("-1 days +02:03:00.5"), "-79019500000");
  EXPECT_EQ(canonical_interval("1 year 2 mons 3 days 04:05:06.000789"),
            canonical_interval("14 mons 3 days 04:05:06.000789"));
  EXPECT_EQ(canonical_interval("-00:00:01"), "-1000000");
  EXPECT_NE(canonical_interval("1 day"), canonical_interval("1 day 00:00:01"));
  // 178000000 years, within interval's range, in 128 bits.
  EXPECT_EQ(canonical_interval("178000000 years"), "5536512000000000000000");
  // Not an interval's text: as it is.
  EXPECT_EQ(canonical_interval("@ 1 day ago"), "@ 1 day ago");
  EXPECT_EQ(canonical_interval("1 fortnight"), "1 fortnight");
}

TEST(Grouping, ChainsMergeIntoOneGroup) {
  // A~B by id, B~C by email.
  std::vector<SourceRow> rows = {
      row(0, "1", "a@x", "Customer", "1", 10), row(1, "1", "b@x", "Customer", "1", 10),
      row(2, "7", "b@x", "Customer", "1", 10), row(3, "9", "z@x", "Customer", "1", 10)};
  auto groups = group_rows(users(), rows);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0], (std::vector<std::size_t>{0, 1, 2}));
}

TEST(Grouping, NullNaturalKeysNeverMatch) {
  std::vector<SourceRow> rows = {row(0, "1", nullptr, "Customer", "1", 10),
                                 row(1, "2", nullptr, "Customer", "1", 10)};
  EXPECT_TRUE(group_rows(users(), rows).empty());
}

TEST(Grouping, CompositeNaturalKeyNeedsEveryColumn) {
  TableModel t = users();
  t.natural_keys = {{kEmail, kRole}};
  std::vector<SourceRow> rows = {
      row(0, "1", "a@x", "Customer", "1", 10), row(1, "2", "a@x", "Merchant", "1", 10),
      row(2, "3", "a@x", "Customer", "5", 10), row(3, "4", "a@x", nullptr, "1", 10)};
  auto groups = group_rows(t, rows);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0], (std::vector<std::size_t>{0, 2}));
}

TEST(Grouping, NormalisationOptionFoldsCaseAndSpaces) {
  std::vector<SourceRow> rows = {row(0, "1", "TestUser1@Company.com ", "Customer", "1", 10),
                                 row(1, "2", " testuser1@company.com", "Customer", "1", 10)};
  EXPECT_TRUE(group_rows(users(), rows).empty());
  TableModel t = users();
  t.normalize_keys = true;
  EXPECT_EQ(group_rows(t, rows).size(), 1u);
}

TEST(Grouping, KeysCompareAsTheirTypeDoes) {
  // Primary keys 1.5 and 1.50 of a numeric, -0 and 0 of a float, and
  // emails of a citext natural key that differ in case are one key each:
  // the target's unique keys would refuse the second row.
  std::vector<SourceRow> rows = {
      row(0, "1.5", "Carol@X", "Customer", "1", 10), row(1, "1.50", "x@y", "Customer", "1", 10),
      row(0, "-0", "a@b", "Customer", "1", 10), row(1, "0", "c@d", "Customer", "1", 10),
      row(2, "7", "carol@x", "Customer", "1", 10)};
  EXPECT_TRUE(group_rows(users(), rows).empty());
  TableModel t = users();
  t.key_forms.assign(t.columns.size(), KeyForm::kText);
  t.key_forms[kId] = KeyForm::kDecimal;
  EXPECT_EQ(group_rows(t, rows), (std::vector<std::vector<std::size_t>>{{0, 1}}));
  t.key_forms[kId] = KeyForm::kFloat;
  t.key_forms[kEmail] = KeyForm::kCaseless;
  EXPECT_EQ(group_rows(t, rows), (std::vector<std::vector<std::size_t>>{{0, 4}, {2, 3}}));
  // One conflict of the two rows, by their primary key.
  const std::vector<Conflict> found = detect({rows[2], rows[3]}, t);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].kind, Kind::duplicate_pk);
}

TEST(Grouping, NormalisationFoldsCaseBeyondAsciiAsLowerDoes) {
  // A backend runs in its database's LC_CTYPE; PostgreSQL's lower() folds
  // É to é there, and so must detection.
  const std::string previous = std::setlocale(LC_CTYPE, nullptr);
  ASSERT_NE(std::setlocale(LC_CTYPE, "C.UTF-8"), nullptr);
  std::vector<SourceRow> rows = {row(0, "1", "\xc3\x89LODIE@x", "Customer", "1", 10),
                                 row(1, "2", "\xc3\xa9lodie@x ", "Customer", "1", 10)};
  TableModel t = users();
  t.normalize_keys = true;
  EXPECT_EQ(group_rows(t, rows).size(), 1u);
  EXPECT_EQ(normalize_key_value("Zo\xc3\xab@X"), "zo\xc3\xab@x");
  // In the C locale, as lower() there: ASCII letters only.
  std::setlocale(LC_CTYPE, "C");
  EXPECT_EQ(normalize_key_value("\xc3\x89LODIE@x"), "\xc3\x89lodie@x");
  std::setlocale(LC_CTYPE, previous.c_str());
}

TEST(Grouping, HashGrouperLabelsComponentsByTheirSmallestPrimaryKeyHash) {
  HashGrouper grouper(5);
  std::vector<std::uint64_t> pk = {7ull << 40, 7ull << 40, 2ull << 40, 3ull << 40, 4ull << 40};
  std::vector<std::uint64_t> nk = {0, 9ull << 40, 9ull << 40, 0, 0};
  grouper.add_key_kind(nk);
  // Rows 0 and 1 share the primary key, 1 and 2 the natural key: one
  // component, labelled by row 2's primary-key hash (the smallest, high
  // half); rows 3 and 4 stand alone and are left out.
  const std::vector<std::uint64_t> shared = grouper.candidates(pk);
  ASSERT_EQ(shared.size(), 3u);
  for (std::uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(candidate_row(shared[i]), i);
    EXPECT_EQ(candidate_label(shared[i]), 2u << 8);
  }
  EXPECT_TRUE(pk.empty()) << "the primary key's hashes are freed";
}

TEST(Grouping, AComponentWithoutPrimaryKeysIsLabelledByOneOfItsRows) {
  // Rows 1 and 3 share a natural key and have no primary key (NULL); rows
  // 0 and 2 share a primary key.
  HashGrouper grouper(4);
  std::vector<std::uint64_t> pk = {5ull << 40, 0, 5ull << 40, 0};
  std::vector<std::uint64_t> nk = {0, 9ull << 40, 0, 9ull << 40};
  grouper.add_key_kind(nk);
  const std::vector<std::uint64_t> shared = grouper.candidates(pk);
  ASSERT_EQ(shared.size(), 4u);
  EXPECT_EQ(candidate_label(shared[0]), 5u << 8);
  EXPECT_EQ(candidate_label(shared[2]), 5u << 8);
  EXPECT_EQ(candidate_label(shared[1]), candidate_label(shared[3]));
  EXPECT_TRUE(candidate_label(shared[1]) == 1u || candidate_label(shared[1]) == 3u)
      << "one of its rows, not a label every such component would share";
}

TEST(Grouping, LabelsDoNotDependOnTheRowsOrder) {
  // The same rows read in two orders: each component keeps its label.
  std::vector<std::uint64_t> pk = {5ull << 40, 5ull << 40, 1ull << 40, 8ull << 40, 6ull << 40};
  std::vector<std::uint64_t> nk = {0, 3ull << 40, 3ull << 40, 4ull << 40, 4ull << 40};
  const std::vector<std::size_t> order = {4, 2, 0, 3, 1};  // new position -> old row
  std::vector<std::uint64_t> pk2, nk2;
  for (std::size_t old : order) {
    pk2.push_back(pk[old]);
    nk2.push_back(nk[old]);
  }
  auto labels = [](std::vector<std::uint64_t> pk, std::vector<std::uint64_t> nk) {
    HashGrouper grouper(pk.size());
    grouper.add_key_kind(nk);
    std::vector<std::uint32_t> by_row(pk.size(), 0);
    for (std::uint64_t c : grouper.candidates(pk)) by_row[candidate_row(c)] = candidate_label(c);
    return by_row;
  };
  const std::vector<std::uint32_t> first = labels(pk, nk), second = labels(pk2, nk2);
  for (std::size_t i = 0; i < order.size(); ++i) EXPECT_EQ(second[i], first[order[i]]) << i;
  EXPECT_EQ(first[0], 1u << 8);  // rows 0-2: row 2's hash
  EXPECT_EQ(first[3], 6u << 8);  // rows 3-4: row 4's
}

// (row, label) of each candidate, for comparing the two groupings.
std::vector<std::pair<std::uint32_t, std::uint32_t>> unpacked(
    const std::vector<std::uint64_t> &shared) {
  std::vector<std::pair<std::uint32_t, std::uint32_t>> out;
  for (std::uint64_t c : shared) out.emplace_back(candidate_row(c), candidate_label(c));
  return out;
}

TEST(Grouping, SingleKeyKindLabelsComponentsByTheirHashInRowOrder) {
  // Rows 1, 4 and 6 share one hash, rows 0 and 5 another; 2 is NULL, 3
  // alone.
  const std::uint64_t a = 3ull << 40, b = 7ull << 40;
  std::vector<std::uint64_t> hashes = {b, a, 0, 5ull << 40, a, b, a};
  EXPECT_EQ(unpacked(group_single_key_kind(hashes)),
            (std::vector<std::pair<std::uint32_t, std::uint32_t>>{
                {0, 7u << 8}, {1, 3u << 8}, {4, 3u << 8}, {5, 7u << 8}, {6, 3u << 8}}));
}

TEST(Grouping, SingleKeyKindMatchesTheUnionFindGrouping) {
  std::mt19937_64 random(11);
  for (std::size_t rows : {1u, 2u, 1000u, 70000u}) {
    std::vector<std::uint64_t> hashes(rows);
    for (auto &h : hashes) {
      const std::uint64_t draw = random() % (rows + 1);
      h = draw == 0 ? 0 : (draw * 0x9E3779B97F4A7C15ULL) | 1;
    }
    HashGrouper grouper(rows);
    std::vector<std::uint64_t> copy = hashes;
    EXPECT_EQ(unpacked(group_single_key_kind(hashes)), unpacked(grouper.candidates(copy)))
        << rows << " rows";
  }
}

TEST(Grouping, OneKeyKindNeedsEightBytesARow) {
  EXPECT_EQ(HashGrouper::bytes_needed(1000, 1), 8000u);
  EXPECT_EQ(HashGrouper::bytes_needed(1000, 2), 21000u);
}

TEST(Grouping, RowLocationsKeepRunsOfOffsets) {
  RowLocations at;
  // Block 0: offsets 1-3, then 5 (4 is gone); block 2: 1-2.
  for (std::uint16_t o : {1, 2, 3, 5}) at.add(0, o);
  for (std::uint16_t o : {1, 2}) at.add(2, o);
  ASSERT_EQ(at.size(), 6u);
  const std::vector<std::pair<std::uint32_t, std::uint16_t>> expected = {{0, 1}, {0, 2}, {0, 3},
                                                                         {0, 5}, {2, 1}, {2, 2}};
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(at.at(i), expected[i]) << i;
  // Offsets that go on across a block change, and a block met again, are
  // new runs.
  RowLocations jumps;
  const std::vector<std::pair<std::uint32_t, std::uint16_t>> read = {{0, 4}, {0, 5}, {1, 6}, {1, 7},
                                                                     {2, 1}, {0, 2}, {0, 3}};
  for (const auto &[block, offset] : read) jumps.add(block, offset);
  for (std::size_t i = 0; i < read.size(); ++i) EXPECT_EQ(jumps.at(i), read[i]) << i;
  // A table read in order: one run a block.
  RowLocations dense;
  for (std::uint32_t block = 0; block < 1000; ++block) {
    for (std::uint16_t o = 1; o <= 60; ++o) dense.add(block, o);
  }
  EXPECT_EQ(dense.at(59999), (std::pair<std::uint32_t, std::uint16_t>{999, 60}));
  EXPECT_LT(dense.bytes(), 60000u / 4) << "a few bytes a block, not six a row";
}

TEST(Rules, ExactDuplicateCountsTheEnvironmentsOfItsRows) {
  // Two of st1's rows made one by a re-pointed reference, and st2's.
  auto c =
      detect({row(0, "5", "a@x", "Customer", "10", 10), row(0, "5", "a@x", "Customer", "10", 10),
              row(1, "5", "a@x", "Customer", "10", 10)});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::exact_duplicate);
  EXPECT_EQ(c[0].rationale, "3 identical rows in 2 environments");
  c = detect({row(0, "5", "a@x", "Customer", "10", 10), row(1, "5", "a@x", "Customer", "10", 10)});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rationale, "identical rows in 2 environments");
}

TEST(Rules, RationaleShowsACharKeyWithoutItsPadding) {
  TableModel t = users();
  t.key_forms.assign(t.columns.size(), KeyForm::kText);
  t.key_forms[kId] = KeyForm::kPadded;
  auto c = detect(
      {row(0, "AB   ", "a@x", "Customer", "10", 10), row(1, "AB   ", "b@x", "Customer", "10", 10)},
      t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rationale.rfind("same user_id AB but", 0), 0u) << c[0].rationale;
}

TEST(Rules, ExactDuplicateKeepsTheHighestPrecedence) {
  auto c =
      detect({row(2, "5", "a@x", "Customer", "10", 10), row(0, "5", "a@x", "Customer", "10", 10)});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].kind, Kind::exact_duplicate);
  EXPECT_EQ(c[0].rule, Rule::exact_duplicate);
  EXPECT_FALSE(c[0].complex);
  EXPECT_EQ(*c[0].survivor, 1u);  // st1
  EXPECT_TRUE(c[0].differing.empty());
  EXPECT_EQ(c[0].labels, (std::vector<std::string>{"st1", "st3"}));
}

TEST(Rules, ExactDuplicateSaysWhoseFeatureTheKeptRowCarries) {
  auto c = detect({row(2, "5", "a@x", "Customer", "10", 10, "FEAT-101"),
                   row(0, "5", "a@x", "Customer", "10", 10, "FEAT-105")});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::exact_duplicate);
  EXPECT_EQ(c[0].rationale,
            "identical rows in 2 environments; their features differ (FEAT-101, FEAT-105): the row "
            "kept carries FEAT-105, st1's");
  // One feature: nothing to say.
  c = detect({row(2, "5", "a@x", "Customer", "10", 10), row(0, "5", "a@x", "Customer", "10", 10)});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rationale, "identical rows in 2 environments");
}

TEST(Rules, TemporalPriorityKeepsTheNewest) {
  auto c = detect({row(0, "2", "testuser2@x", "Customer", "5", 10),
                   row(3, "2", "testuser2@x", "Customer", "5", 12)});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::temporal_priority);
  EXPECT_EQ(*c[0].survivor, 1u);  // st4, newer
  EXPECT_EQ(c[0].suggestion, "keep st4 (newest, 2024-01-12)");
  EXPECT_EQ(c[0].differing, (std::vector<std::size_t>{kUpdated}));
}

TEST(Rules, BookkeepingColumnsAreNotComparedSoTheNewerRowWins) {
  // The balance as a version column every write bumps: two rows that differ
  // there and in their timestamp are the same row, the newer one kept.
  TableModel t = users();
  t.bookkeeping = {kBalance};
  auto c = detect({row(0, "2", "testuser2@x", "Customer", "5", 10),
                   row(3, "2", "testuser2@x", "Customer", "6", 12)},
                  t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::temporal_priority);
  EXPECT_EQ(*c[0].survivor, 1u);  // st4, newer
  // Compared as an attribute, the same pair is an attribute conflict.
  c = detect({row(0, "2", "testuser2@x", "Customer", "5", 10),
              row(3, "2", "testuser2@x", "Customer", "6", 12)});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NE(c[0].rule, Rule::temporal_priority);
}

TEST(Rules, NonConflictingMergeFillsNulls) {
  auto c = detect(
      {row(0, "3", "m@x", "Customer", nullptr, 10), row(1, "3", "m@x", "Customer", "250", 11)});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].kind, Kind::attribute_conflict);
  EXPECT_EQ(c[0].rule, Rule::non_conflicting_merge);
  EXPECT_EQ(*c[0].merged[kBalance], "250");
  EXPECT_EQ(*c[0].survivor, 0u);
}

TEST(Rules, NonConflictingMergeLeavesAnotherEnvironmentsSelfReferenceToAHuman) {
  // balance standing for a reference to the table's own rows (a manager
  // id): st2's value is a key of st2, and the merged row is st1's.
  TableModel t = users();
  t.compared_references = {{kBalance}};
  auto c = detect(
      {row(0, "3", "m@x", "Customer", nullptr, 10), row(1, "3", "m@x", "Customer", "9", 11)}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::manual);
  EXPECT_TRUE(c[0].complex);
  EXPECT_TRUE(c[0].merged.empty());
  EXPECT_NE(c[0].rationale.find("balance would come from another environment's row"),
            std::string::npos)
      << c[0].rationale;
  // The survivor's own reference is kept as it is: merged as before.
  c = detect({row(0, "3", "m@x", "Customer", "9", 10), row(1, "3", "m@x", "Customer", nullptr, 11)},
             t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::non_conflicting_merge);
}

// A supertype's rows (no natural key of their own) identified by a key
// borrowed from their subtype rows: a virtual column past the columns.
TableModel supertype() {
  TableModel t = users();
  t.natural_keys = {{t.columns.size()}};
  t.borrowed_keys = {"staging.person (email)"};
  return t;
}

SourceRow entity(std::size_t env, const char *id, const char *role, const char *borrowed) {
  SourceRow r = row(env, id, nullptr, role, "0", 10);
  if (borrowed) {
    r.values.push_back(ValueView(borrowed));
  } else {
    r.values.push_back(std::nullopt);
  }
  return r;
}

TEST(BorrowedKeys, JoinRowsWhoseSubtypeRowsShareTheirNaturalKey) {
  // ken is 1 in st1 and 2 in st2; st2's 1 is terri.
  auto c = detect({entity(0, "1", "Customer", "ken"), entity(1, "2", "Customer", "ken"),
                   entity(1, "1", "Customer", "terri")},
                  supertype());
  const auto ken = std::find_if(
      c.begin(), c.end(), [](const Conflict &x) { return x.kind == Kind::duplicate_natural_key; });
  ASSERT_NE(ken, c.end());
  ASSERT_EQ(ken->members.size(), 2u);
  // (attributes alike, keys apart: st1's row survives, st2's merges into it)
  EXPECT_EQ(ken->rule, Rule::environment_precedence);
  ASSERT_TRUE(ken->survivor.has_value());
  EXPECT_EQ(*ken->survivor, 0u);
  // ids 1 collide: ken and terri are different entities, told by the borrowed key.
  const auto one = std::find_if(
      c.begin(), c.end(), [](const Conflict &x) { return x.rule == Rule::distinct_entities; });
  ASSERT_NE(one, c.end());
  EXPECT_EQ(one->members.size(), 2u);
}

TEST(BorrowedKeys, RowsWithoutASubtypeRowStayApart) {
  auto c = detect({entity(0, "1", "Customer", nullptr), entity(1, "2", "Customer", nullptr)},
                  supertype());
  EXPECT_TRUE(c.empty());
  // (and a row whose values stop before the borrowed key: NULL)
  SourceRow short_row = row(1, "2", nullptr, "Customer", "0", 10);
  c = detect({entity(0, "1", "Customer", "ken"), short_row}, supertype());
  EXPECT_TRUE(c.empty());
}

TEST(BorrowedKeys, NameTheEntityInTheRationale) {
  auto c = detect({entity(0, "1", "Customer", "ken"), entity(1, "2", "Admin", "ken")}, supertype());
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NE(c[0].rationale.find("; one entity by staging.person (email) ken"), std::string::npos)
      << c[0].rationale;
}

TEST(BorrowedKeys, AKeyOfSeveralColumnsIsNamedByItsValues) {
  TableModel t = supertype();
  t.borrowed_keys = {"staging.person (first_name, last_name)"};
  const std::string gail = std::string("Gail") + kReferentColumnSeparator + "Erickson";
  auto c =
      detect({entity(0, "1", "Customer", gail.c_str()), entity(1, "2", "Admin", gail.c_str())}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NE(
      c[0].rationale.find("one entity by staging.person (first_name, last_name) Gail, Erickson"),
      std::string::npos)
      << c[0].rationale;
}

TEST(BorrowedKeys, SubtypesThatDisagreeGoToAReviewer) {
  // One person (ken) in both environments, but two different stores
  // under the same businessentity: no rule merges them.
  TableModel t = supertype();
  t.natural_keys.push_back({t.columns.size() + 1});
  t.borrowed_keys.push_back("staging.store (name)");
  SourceRow a = entity(0, "7", "Customer", "ken");
  a.values.push_back(ValueView("Shop A"));
  SourceRow b = entity(1, "9", "Customer", "ken");
  b.values.push_back(ValueView("Shop B"));
  auto c = detect({a, b}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::manual);
  EXPECT_EQ(c[0].priority, 2);
  EXPECT_EQ(c[0].rationale,
            "staging.store (name) differs (st1 Shop A, st2 Shop B): one entity or two, a human "
            "decides (keep one, or keep_all); one entity by staging.person (email) ken");
  // A store on one side only tells nothing apart: rules settle it.
  SourceRow no_store = entity(1, "9", "Customer", "ken");
  no_store.values.push_back(std::nullopt);
  c = detect({a, no_store}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NE(c[0].rule, Rule::manual) << c[0].rationale;
}

TEST(KeyCollisions, ASubtypesKeyIsNeverMadeUp) {
  // The primary key is a reference to the supertype: a generated one
  // would name no supertype row.
  TableModel t = users();
  t.rekeyable = false;
  t.key_reference = "staging.be";
  auto c =
      detect({row(0, "7", "a@x", "Customer", "0", 10), row(1, "7", "b@x", "Customer", "0", 11)}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::manual);
  EXPECT_TRUE(c[0].complex);
  EXPECT_EQ(c[0].suggestion, "keep st1 (user_id 7 is staging.be's row)");
  EXPECT_NE(c[0].rationale.find("user_id references staging.be, so no new one can be made up"),
            std::string::npos)
      << c[0].rationale;
}

TEST(SelfReferences, NameTheSameEntityWhenSomeNaturalKeyIsEqual) {
  const std::string sep(1, kReferentSeparator);
  EXPECT_TRUE(same_referent("boss@x", "boss@x"));
  EXPECT_FALSE(same_referent("boss@x", "amy@x"));
  EXPECT_TRUE(same_referent("boss@x" + sep + "B1", "other@x" + sep + "B1"));
  // A NULL key ("") names nobody.
  EXPECT_FALSE(same_referent(sep + "B1", sep + "B2"));
  EXPECT_FALSE(same_referent("" + sep, "" + sep));
  EXPECT_TRUE(same_referent(sep + "B1", "x@x" + sep + "B1"));
}

// balance standing for a manager id, a core column referencing the
// table's own rows; `referent`: the natural key of the row it references.
SourceRow managed_by(std::size_t env, const char *id, const char *manager, const char *referent) {
  SourceRow r = row(env, id, "rob@x", "Customer", manager, 10);
  if (referent) r.values.push_back(ValueView(referent));
  return r;
}

// users() with balance as a core column referencing the table's own rows.
TableModel managed_users() {
  TableModel t = users();
  t.compared_references = {{kBalance}};
  t.core = {kBalance};
  return t;
}

TEST(SelfReferences, AreComparedByTheRowTheyReference) {
  const TableModel t = managed_users();
  // The boss is 100 in st1 and 110 in st2: the same manager.
  auto c = detect({managed_by(0, "1", "100", "boss@x"), managed_by(1, "2", "110", "boss@x")}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NE(c[0].rule, Rule::manual) << c[0].rationale;
  EXPECT_EQ(c[0].differing, (std::vector<std::size_t>{kId}));
  // 100 in both, but st2's 100 is amy: a core difference, told by the rows.
  c = detect({managed_by(0, "1", "100", "boss@x"), managed_by(1, "2", "100", "amy@x")}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::manual);
  EXPECT_EQ(c[0].priority, 1);
  EXPECT_EQ(c[0].differing, (std::vector<std::size_t>{kId, kBalance}));
  EXPECT_EQ(c[0].rationale,
            "core column balance differs (references boss@x in st1, amy@x in st2): a human "
            "decides");
  // A referenced row not found on one side: the values as they are.
  c = detect({managed_by(0, "1", "100", "boss@x"), managed_by(1, "2", "100", nullptr)}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NE(c[0].rule, Rule::manual) << c[0].rationale;
}

// A reference cycle's entry into a parent compared after it (a staff
// row's ward, compared before the wards' keys are settled) is compared
// the same way: by the natural key of the row it names.
TEST(CycleReferences, AreComparedByTheRowTheyReference) {
  TableModel t = users();
  t.compared_references = {{kBalance}};
  t.core.clear();
  // Ward W1 is 1 in st1 and 2 in st2, and only st2 has the role: the
  // references agree, so the rows merge (not a precedence that drops it).
  auto in_ward = [](std::size_t env, const char *id, const char *role, const char *ward,
                    const char *ward_code) {
    SourceRow r = row(env, id, "rob@x", role, ward, 10);
    r.values.push_back(ValueView(ward_code));
    return r;
  };
  auto c = detect({in_ward(0, "1", nullptr, "1", "W1"), in_ward(1, "2", "Customer", "2", "W1")}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::non_conflicting_merge) << c[0].rationale;
  // Ward 1 in both, W1 in st1 and W2 in st2, beside a core difference:
  // the rationale names both wards, which the values alone hide.
  t.core = {kRole};
  c = detect({in_ward(0, "1", "Customer", "1", "W1"), in_ward(1, "2", "Admin", "1", "W2")}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::manual);
  EXPECT_EQ(c[0].rationale,
            "core column role differs, and balance differs (references W1 in st1, W2 in st2): a "
            "human decides");
}

TEST(SelfReferences, AreTheSameEntityForASurrogateKey) {
  // Equal primary keys of a surrogate_key table are one entity only when
  // the attributes agree: the references by the rows they name.
  TableModel t = users();
  t.surrogate_key = true;
  t.natural_keys.clear();
  t.compared_references = {{kBalance}};
  auto c = detect({managed_by(0, "1", "100", "boss@x"), managed_by(1, "1", "110", "boss@x")}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NE(c[0].rule, Rule::distinct_entities);
  c = detect({managed_by(0, "1", "100", "boss@x"), managed_by(1, "1", "100", "amy@x")}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::distinct_entities);
}

TEST(SelfReferences, InANaturalKeyTellEntitiesApartByTheRowTheyName) {
  // A node named by (parent, name): (2, x) under a in st1 and (2, x)
  // under b in st2 are two nodes, whatever their ids.
  TableModel t = users();
  t.surrogate_key = true;
  t.natural_keys = {{kBalance, kEmail}};
  t.compared_references = {{kBalance}};
  auto node = [](std::size_t env, const char *parent_name) {
    SourceRow r = row(env, "4", "x", "Customer", "2", 10);
    r.values.push_back(ValueView(parent_name));
    return r;
  };
  auto c = detect({node(0, "a"), node(1, "b")}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::distinct_entities);
  EXPECT_EQ(c[0].rationale,
            "same user_id 4 but different balance (references a in st1, b in st2): different "
            "entities that collided on an environment-local key");
  c = detect({node(0, "a"), node(1, "a")}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NE(c[0].rule, Rule::distinct_entities);
  EXPECT_EQ(c[0].kind, Kind::exact_duplicate);
}

TEST(SelfReferences, ANaturalKeySharingAColumnWithTheReferenceIsNotSubstituted) {
  // A tenant's rows: a natural key (tenant, email) and a self-reference
  // (tenant, parent), role standing for the tenant and balance for the
  // parent. alice is a root in st1 and under zoe in st2: the key names no
  // parent (it holds only the tenant of the reference), so the two alices
  // are one natural key, not told apart by zoe.
  TableModel t = users();
  t.core.clear();
  t.natural_keys = {{kRole, kEmail}};
  t.compared_references = {{kRole, kBalance}};
  SourceRow root = row(0, "1", "alice", "1", nullptr, 10);
  root.values.push_back(std::nullopt);
  SourceRow child = row(1, "3", "alice", "1", "7", 10);
  child.values.push_back(ValueView("zoe"));
  const auto c = detect({root, child}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].kind, Kind::attribute_conflict);  // (their parents differ: a root and zoe's child)
  EXPECT_EQ(c[0].members.size(), 2u);
}

TEST(SelfReferences, ARootAmongTheMembersIsToldAsReferencingNoRow) {
  // Two nodes (parent, name) with id 4: x under a in st1, x a root in st2.
  TableModel t = users();
  t.surrogate_key = true;
  t.natural_keys = {{kBalance, kEmail}};
  t.compared_references = {{kBalance}};
  SourceRow child = row(0, "4", "x", "Customer", "2", 10);
  child.values.push_back(ValueView("a"));
  SourceRow root = row(1, "4", "x", "Customer", nullptr, 10);
  root.values.push_back(std::nullopt);
  const auto c = detect({child, root}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::distinct_entities);
  EXPECT_EQ(c[0].rationale,
            "same user_id 4 but different balance (references a in st1, no row in st2): "
            "different entities that collided on an environment-local key");
}

TEST(SelfReferences, AReferencedRowWithoutANaturalKeyNamesNoOne) {
  // The root's natural key is NULL: references to it compare as values.
  const TableModel t = managed_users();
  auto c = detect({managed_by(0, "1", "1", ""), managed_by(1, "2", "1", "")}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NE(c[0].rule, Rule::manual) << c[0].rationale;
  c = detect({managed_by(0, "1", "1", ""), managed_by(1, "2", "7", "")}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rationale, "core column balance differs: a human decides");
}

TEST(SelfReferences, ARootNamedByAKeyWithANullColumnIsStillNamed) {
  // Roots keyed (parent_id, name) are (NULL, music) and (NULL, books):
  // their children, each under its env's root 1, are under two roots.
  const TableModel t = managed_users();
  const std::string music = std::string(1, kReferentNull) + kReferentColumnSeparator + "music";
  const std::string books = std::string(1, kReferentNull) + kReferentColumnSeparator + "books";
  auto c =
      detect({managed_by(0, "1", "1", music.c_str()), managed_by(1, "2", "1", books.c_str())}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rationale,
            "core column balance differs (references NULL,music in st1, NULL,books in st2): a "
            "human decides");
  c = detect({managed_by(0, "1", "1", music.c_str()), managed_by(1, "2", "9", music.c_str())}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NE(c[0].rule, Rule::manual) << c[0].rationale;
}

TEST(Rules, NonConflictingMergeIntoARowHoldingEveryValueSaysSo) {
  auto c = detect(
      {row(0, "3", "m@x", "Customer", "250", 10), row(1, "3", "m@x", "Customer", nullptr, 11)});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::non_conflicting_merge);
  EXPECT_EQ(c[0].suggestion, "merge: st1's row, which already holds every value");
  EXPECT_EQ(*c[0].merged[kBalance], "250");
}

TEST(Rules, FeaturePriorityHighestWins) {
  auto c = detect({row(0, "4", "f@x", "Customer", "0", 10, "FEAT-105"),
                   row(2, "4", "f@x", "Customer", "10000", 12, "FEAT-101")});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::feature_priority);
  EXPECT_EQ(*c[0].survivor, 1u);
  EXPECT_EQ(c[0].suggestion, "keep st3 (FEAT-101, priority 3)");
}

TEST(Rules, FeaturePrioritySaysWhenPrecedenceChoseAmongItsRows) {
  // st1 and st2 both carry the winning feature and differ: precedence
  // chose between them, and the rationale says so.
  auto c = detect({row(0, "4", "f@x", "Customer", "0", 10, "FEAT-101"),
                   row(1, "4", "f@x", "Customer", "5", 10, "FEAT-101"),
                   row(2, "4", "f@x", "Customer", "0", 10, "FEAT-105")});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::feature_priority);
  EXPECT_EQ(*c[0].survivor, 0u);
  EXPECT_EQ(c[0].rationale,
            "attributes differ and FEAT-101 has the highest priority in the release plan among "
            "FEAT-101, FEAT-105; its rows differ too (st1, st2): the environment with the lowest "
            "precedence number wins");
  // Rows of the winning feature that agree: the feature alone chose.
  c = detect({row(0, "4", "f@x", "Customer", "0", 10, "FEAT-101"),
              row(1, "4", "f@x", "Customer", "0", 10, "FEAT-101"),
              row(2, "4", "f@x", "Customer", "5", 10, "FEAT-105")});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rationale,
            "attributes differ and FEAT-101 has the highest priority in the release plan among "
            "FEAT-101, FEAT-105");
}

TEST(Rules, EnvironmentPrecedenceForTheSameFeature) {
  auto c =
      detect({row(2, "6", "p@x", "Customer", "5", 10), row(1, "6", "p@x", "Customer", "7", 10)});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::environment_precedence);
  EXPECT_EQ(*c[0].survivor, 1u);  // st2 (20) beats st3 (30)
}

TEST(Manual, CoreColumnDifferenceIsPriorityOne) {
  // The seed's C-001: same email, different role and balance, different features.
  auto c = detect({row(0, "1", "testuser1@company.com", "Administrator", "0", 10, "FEAT-101"),
                   row(2, "8", "testuser1@company.com", "Customer", "10000", 12, "FEAT-105")});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].kind, Kind::attribute_conflict);
  EXPECT_EQ(c[0].rule, Rule::manual);
  EXPECT_TRUE(c[0].complex);
  EXPECT_EQ(c[0].priority, 1);
  EXPECT_EQ(c[0].rationale, "core column role differs: a human decides");
}

TEST(Manual, SuggestionKeepsWhatFeaturePriorityWould) {
  // A core difference goes to a human, but the suggestion is what the
  // rules would keep: st3's row, of the feature of higher priority, not
  // st1's by precedence (p316); resolve_all keeps the survivor suggested.
  auto c = detect({row(0, "1", "testuser1@company.com", "Administrator", "0", 10, "FEAT-105"),
                   row(2, "8", "testuser1@company.com", "Customer", "10000", 12, "FEAT-101")});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::manual);
  EXPECT_EQ(c[0].suggestion,
            "review; by feature priority it would be: keep st3 (FEAT-101, priority 3)");
  EXPECT_EQ(*c[0].survivor, 1u);
  // One feature for both: precedence, as before.
  c = detect({row(0, "1", "testuser1@company.com", "Administrator", "0", 10, "FEAT-101"),
              row(2, "8", "testuser1@company.com", "Customer", "10000", 12, "FEAT-101")});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].suggestion, "review; by environment precedence it would be: keep st1");
  EXPECT_EQ(*c[0].survivor, 0u);
}

TEST(Manual, EqualPriorityFeaturesArePriorityTwo) {
  auto c = detect({row(1, "5", "merchant@x", "Merchant", "50000", 10, "FEAT-104"),
                   row(3, "5", "merchant@x", "Merchant", "25000", 11, "FEAT-108")});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::manual);
  EXPECT_EQ(c[0].priority, 2);
  // One column differs; two or more differ.
  EXPECT_EQ(c[0].rationale,
            "features FEAT-104, FEAT-108 have equal priority 2 and balance differs");
  TableModel no_core = users();
  no_core.core = {};
  auto two = detect({row(1, "5", "merchant@x", "Merchant", "50000", 10, "FEAT-104"),
                     row(3, "5", "merchant@x", "Customer", "25000", 11, "FEAT-108")},
                    no_core);
  ASSERT_EQ(two.size(), 1u);
  EXPECT_EQ(two[0].rationale,
            "features FEAT-104, FEAT-108 have equal priority 2 and role, balance differ");
}

TEST(Manual, FeaturesOutsideThePlanArePriorityThree) {
  auto c = detect({row(0, "5", "q@x", "Customer", "1", 10, "FEAT-900"),
                   row(1, "5", "q@x", "Customer", "2", 11, "FEAT-901")});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::manual);
  EXPECT_EQ(c[0].priority, 3);
}

TEST(DistinctEntities, SameIdDifferentEmailIsRekeyedNotQueued) {
  auto c = detect(
      {row(0, "110", "alice@x", "Customer", "1", 10), row(1, "110", "bob@x", "Customer", "1", 10)});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].kind, Kind::duplicate_pk);
  EXPECT_EQ(c[0].rule, Rule::distinct_entities);
  EXPECT_FALSE(c[0].complex);
  EXPECT_EQ(c[0].rekeyed, (std::vector<std::size_t>{1}));
}

TEST(DistinctEntities, KeyTdmCannotGenerateWaitsForAReviewer) {
  TableModel t = users();
  t.rekeyable = false;  // e.g. a text or composite primary key
  auto c = detect(
      {row(0, "110", "alice@x", "Customer", "1", 10), row(1, "110", "bob@x", "Customer", "1", 10)},
      t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].kind, Kind::duplicate_pk);
  EXPECT_EQ(c[0].rule, Rule::manual);
  EXPECT_TRUE(c[0].complex);
  EXPECT_EQ(c[0].priority, 3);
  EXPECT_NE(c[0].suggestion.find("a new user_id in renames => '{\"st2\": {\"user_id\": ...}}'"),
            std::string::npos)
      << c[0].suggestion;
  EXPECT_NE(c[0].rationale.find("tdm cannot generate a new user_id"), std::string::npos);
}

TEST(DistinctEntities, SuggestionRenumbersTheGeneratedKeyColumn) {
  // A key of two columns, the generated one first (a partitioned table's
  // key holds its partition key): the suggestion renumbers the generated
  // column, not the key's last.
  TableModel t = users();
  t.pk = {kId, kRole};
  t.rekeyable = false;
  t.renamed_key_column = kId;
  auto c = detect(
      {row(0, "110", "alice@x", "Customer", "1", 10), row(1, "110", "bob@x", "Customer", "1", 10)},
      t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NE(c[0].suggestion.find("renames => '{\"st2\": {\"user_id\": ...}}'"), std::string::npos)
      << c[0].suggestion;
  t.renamed_key_column.reset();
  c = detect(
      {row(0, "110", "alice@x", "Customer", "1", 10), row(1, "110", "bob@x", "Customer", "1", 10)},
      t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NE(c[0].suggestion.find("renames => '{\"st2\": {\"role\": ...}}'"), std::string::npos)
      << c[0].suggestion;
}

TEST(DistinctEntities, RationaleNamesTheNaturalKeyColumnsThatDiffer) {
  // A natural key (role, email), as a tenant's email is: the role the two
  // rows share does not tell them apart.
  TableModel t = users();
  t.natural_keys = {{kRole, kEmail}};
  t.core = {};
  auto c = detect(
      {row(0, "110", "alice@x", "Customer", "1", 10), row(1, "110", "bob@x", "Customer", "1", 10)},
      t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NE(c[0].rationale.find("but different email:"), std::string::npos) << c[0].rationale;
}

TEST(DistinctEntities, GroupSplitsIntoEntitiesResolvedOnTheirOwn) {
  // st1 110 alice, st2 110 bob, st3 330 alice: bob is re-keyed, the alices
  // resolve as one entity.
  auto c = detect({row(0, "110", "alice@x", "Customer", "1", 10),
                   row(1, "110", "bob@x", "Customer", "1", 10),
                   row(2, "330", "alice@x", "Customer", "1", 11)});
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].rule, Rule::distinct_entities);
  EXPECT_EQ(c[0].rekeyed, (std::vector<std::size_t>{1}));
  EXPECT_EQ(c[1].kind, Kind::duplicate_natural_key);
  EXPECT_EQ(c[1].members, (std::vector<std::size_t>{0, 2}));
  EXPECT_EQ(c[1].rule, Rule::temporal_priority);
}

TEST(DistinctEntities, TwoRowsOfOneEnvironmentStayTwoEntities) {
  // st1 47 (nick x) and st1 1986 (email m) are two of st1's rows; st2 1986
  // meets the first by nick and the second by id. Neither of st1's rows
  // may be merged away into the other: st2's row joins 47 by nick, and its
  // id collides with st1's 1986.
  TableModel t = users();
  t.natural_keys = {{kEmail}, {kBalance}};
  t.core = {};
  auto c = detect(
      {row(0, "47", nullptr, "Customer", "x", 10), row(0, "1986", "m@x", "Customer", nullptr, 10),
       row(1, "1986", nullptr, "Customer", "x", 10)},
      t);
  ASSERT_EQ(c.size(), 2u);
  for (const Conflict &conflict : c) {
    const auto &m = conflict.members;
    EXPECT_FALSE(std::count(m.begin(), m.end(), 0u) && std::count(m.begin(), m.end(), 1u))
        << "st1's two rows in one conflict";
  }
  EXPECT_EQ(c[0].rule, Rule::distinct_entities);
  EXPECT_EQ(c[0].rekeyed, (std::vector<std::size_t>{2}));
  EXPECT_EQ(c[1].members, (std::vector<std::size_t>{0, 2}));
}

TEST(DistinctEntities, TwoRowsOfOneEnvironmentMetThroughAThirdGoToReview) {
  // st2's row has st1 row 1's email and st1 row 2's nick: no rule merges
  // either of st1's rows into the other, nor merges st2's into one of them
  // while the other keeps the nick (loaded twice): a human decides.
  TableModel t = users();
  t.natural_keys = {{kEmail}, {kBalance}};
  t.core = {};
  auto c =
      detect({row(0, "1", "a@x", "Customer", nullptr, 10),
              row(0, "2", nullptr, "Customer", "x", 10), row(1, "3", "a@x", "Customer", "x", 10)},
             t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].members, (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(c[0].rule, Rule::manual);
  EXPECT_EQ(c[0].rationale,
            "two rows of st1 (user_id 1 and 2) share natural keys with one row of another "
            "environment: one entity or more, a human decides (keep one, keep_all with renames, "
            "or merge)");
}

TEST(DistinctEntities, RowsOneNaturalKeyJoinsAndAnotherTellsApartGoToReview) {
  // A track known by its gid (email here) and by its place (balance, as
  // (medium, position)): st1's and st2's rows hold one place under two
  // gids. No rule keeps one and drops the other; the same rows under one
  // gid are one entity, settled by a rule as before.
  TableModel t = users();
  t.natural_keys = {{kEmail}, {kBalance}};
  t.core = {};
  auto c =
      detect({row(0, "1", "a@x", "Customer", "7", 10), row(1, "2", "b@x", "Customer", "7", 10)}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].members, (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(c[0].rule, Rule::manual);
  EXPECT_TRUE(c[0].complex);
  EXPECT_EQ(c[0].priority, 3);
  EXPECT_EQ(c[0].rationale,
            "email differs between rows that share balance: one entity under two keys or two "
            "entities, a human decides (keep one, merge, or keep_all with renames of balance)");
  // A key of two columns tells them apart by the one that differs.
  t.natural_keys = {{kEmail, kRole}, {kBalance}};
  c = detect({row(0, "1", "a@x", "Customer", "7", 10), row(1, "2", "b@x", "Customer", "7", 10)}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rationale.rfind("email differs between rows that share balance", 0), 0u)
      << c[0].rationale;
  t.natural_keys = {{kEmail}, {kBalance}};
  auto same =
      detect({row(0, "1", "a@x", "Customer", "7", 10), row(1, "2", "a@x", "Support", "7", 12)}, t);
  ASSERT_EQ(same.size(), 1u);
  EXPECT_NE(same[0].rule, Rule::manual);
}

TEST(DistinctEntities, ATreesKeyNamingOneParentUnderTwoIdsTellsNothingApart) {
  // A node known by its code (role) and by (parent, name) (balance,
  // email): its parent is C in both environments under ids 2 and 8, whose
  // own (parent, name) keys hold their environments' ids. One node:
  // settled by a rule, not sent to review as two keys that disagree.
  TableModel t = users();
  t.natural_keys = {{kRole}, {kBalance, kEmail}};
  t.compared_references = {{kBalance}};
  t.core = {};
  auto node = [](std::size_t env, const char *id, const char *parent, const char *referent) {
    SourceRow r = row(env, id, "g", "G", parent, 10);
    r.values.push_back(ValueView(referent));
    return r;
  };
  // (A referent: the parent's code, then its own (parent, name) key.)
  const std::string c_of_st1 = std::string("C") + kReferentSeparator + "1,c";
  const std::string c_of_st2 = std::string("C") + kReferentSeparator + "7,c";
  const std::string d_of_st2 = std::string("D") + kReferentSeparator + "7,d";
  auto c = detect({node(0, "4", "2", c_of_st1.c_str()), node(1, "9", "8", c_of_st2.c_str())}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NE(c[0].rule, Rule::manual) << c[0].rationale;
  // Under two parents (C and D), the same code: two keys that disagree.
  c = detect({node(0, "4", "2", c_of_st1.c_str()), node(1, "9", "8", d_of_st2.c_str())}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::manual);
  EXPECT_EQ(
      c[0].rationale.rfind("balance differs (references C in st1, D in st2) between rows that "
                           "share role",
                           0),
      0u)
      << c[0].rationale;
}

TEST(DistinctEntities, RowsMetThroughOthersJoinAConflictOfBoundedSize) {
  // st2's keys shifted by one row: st2's row i has st1 row i's email and
  // st1 row i+1's nick, a chain through the whole table. No conflict takes
  // it all (its checks are pairwise); each stays one a reviewer can read.
  TableModel t = users();
  t.natural_keys = {{kEmail}, {kBalance}};
  t.core = {};
  std::vector<std::string> text;
  for (int i = 0; i < 200; ++i) {
    text.push_back(std::to_string(i));
    text.push_back("e" + std::to_string(i) + "@x");
    text.push_back("n" + std::to_string(i));
    text.push_back("n" + std::to_string(i + 1));
  }
  std::vector<SourceRow> rows;
  for (int i = 0; i < 200; ++i) {
    const std::string *v = &text[4 * i];
    rows.push_back(row(0, v[0].c_str(), v[1].c_str(), "Customer", v[2].c_str(), 10));
    rows.push_back(row(1, v[0].c_str(), v[1].c_str(), "Customer", v[3].c_str(), 10));
  }
  const auto c = detect(rows, t);
  ASSERT_FALSE(c.empty());
  for (const Conflict &conflict : c) EXPECT_LE(conflict.members.size(), 32u);
}

TEST(Rules, EqualPrecedenceSaysTheNameDecided) {
  Context ctx = context();
  ctx.environments = {{"zz", 10}, {"aa", 10}};
  auto c = detect_conflicts(
      users(), ctx,
      {row(0, "1", "a@x", "Customer", "1", 10), row(1, "1", "a@x", "Customer", "2", 10)});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::environment_precedence);
  EXPECT_EQ(c[0].survivor, std::optional<std::size_t>(1));
  EXPECT_NE(c[0].rationale.find("precedence is equal, the first by name wins"), std::string::npos)
      << c[0].rationale;
}

TEST(Labels, TwoRowsOfOneEnvironmentUnderOneKeyAreToldApart) {
  // st2's rob and ken both under key 1 (ken re-pointed there by his
  // parent's new key), st1's ken too: each member has a label of its own.
  auto c =
      detect({row(0, "1", "ken@x", "Customer", "1", 10), row(1, "1", "rob@x", "Customer", "1", 11),
              row(1, "1", "ken@x", "Customer", "1", 11)});
  ASSERT_FALSE(c.empty());
  for (const Conflict &x : c) {
    std::set<std::string> distinct(x.labels.begin(), x.labels.end());
    EXPECT_EQ(distinct.size(), x.labels.size()) << boost::algorithm::join(x.labels, " ");
  }
}

TEST(DistinctEntities, OneEnvironmentHoldingANaturalKeyTwiceGoesToAReviewer) {
  // st1 20 and 21 both hold d@x, st2 22 too: no rule may merge st1's rows
  // into one, nor load d@x twice. One conflict of all three, for a human.
  auto c =
      detect({row(0, "20", "d@x", "Customer", "1", 10), row(0, "21", "d@x", "Customer", "2", 10),
              row(1, "22", "d@x", "Customer", "1", 10)});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].members, (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(c[0].kind, Kind::attribute_conflict);
  EXPECT_EQ(c[0].rule, Rule::manual);
  EXPECT_TRUE(c[0].complex);
  EXPECT_EQ(c[0].priority, 3);
  EXPECT_EQ(c[0].labels, (std::vector<std::string>{"st1:20", "st1:21", "st2"}));
  EXPECT_NE(c[0].rationale.find("st1 holds email d@x twice (user_id 20 and 21)"), std::string::npos)
      << c[0].rationale;
}

TEST(DistinctEntities, AKeyHeldTwiceLeavesAnotherEntityOfTheSameIdAlone) {
  // st1 holds d@x twice (20 and 21); st2's 20 is zed, another person who
  // only shares the id: re-keyed by rule 0, not put to the reviewer with
  // the two d@x rows (a keep there would merge zed away).
  auto c =
      detect({row(0, "20", "d@x", "Customer", "1", 10), row(0, "21", "d@x", "Customer", "1", 10),
              row(1, "20", "z@x", "Customer", "1", 10)});
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].rule, Rule::distinct_entities);
  EXPECT_EQ(c[0].rekeyed, (std::vector<std::size_t>{2}));
  EXPECT_EQ(c[1].rule, Rule::manual);
  EXPECT_EQ(c[1].members, (std::vector<std::size_t>{0, 1}));
}

TEST(DistinctEntities, AKeyHeldTwiceIsNamedByTheNaturalKeyBothHold) {
  // Two natural keys, the second NULL in both rows: the rationale names
  // the one they share, and reads no NULL.
  TableModel t = users();
  t.natural_keys = {{kEmail}, {kBalance}};
  t.core = {};
  auto c = detect(
      {row(0, "20", "d@x", "Customer", nullptr, 10), row(0, "21", "d@x", "Customer", nullptr, 10)},
      t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::manual);
  EXPECT_NE(c[0].rationale.find("st1 holds email d@x twice"), std::string::npos) << c[0].rationale;
}

TEST(DistinctEntities, ARowWithANullNaturalKeyDoesNotBridgeTwoPeople) {
  // st1 110 alice, st2 110 bob, st3 110 (no email): alice and bob stay
  // apart; the row without an email joins the highest-precedence side.
  auto c = detect({row(0, "110", "alice@x", "Customer", "1", 10),
                   row(1, "110", "bob@x", "Customer", "1", 10),
                   row(2, "110", nullptr, "Customer", "1", 10)});
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].rule, Rule::distinct_entities);
  EXPECT_EQ(c[0].rekeyed, (std::vector<std::size_t>{1}));
  EXPECT_EQ(c[1].members, (std::vector<std::size_t>{0, 2}));
}

TEST(DistinctEntities, TwoRowsWithoutANaturalKeySharingAnIdAndDisagreeingGoToReview) {
  // st1 and st2 both give id 1 to someone without an email, balances 1 and
  // 2: nothing says they are one person; no rule keeps one and drops the
  // other. The same two rows differing only where one is NULL still merge.
  TableModel t = users();
  t.core = {};
  auto c = detect(
      {row(0, "1", nullptr, "Customer", "1", 10), row(1, "1", nullptr, "Customer", "2", 11)}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::manual);
  EXPECT_EQ(c[0].priority, 3);
  EXPECT_NE(
      c[0].rationale.find("st1 and st2 share only user_id 1, which each environment gives on its "
                          "own, with no email to tell (NULL), and balance differs"),
      std::string::npos)
      << c[0].rationale;
  c = detect(
      {row(0, "1", nullptr, "Customer", "1", 10), row(1, "1", "b@x", "Customer", nullptr, 10)}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::non_conflicting_merge);
  // With an email both hold, the same email makes them one: a rule settles.
  c = detect({row(0, "1", "a@x", "Customer", "1", 10), row(1, "1", "a@x", "Customer", "2", 11)}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NE(c[0].rule, Rule::manual);
  // A natural key of two columns, one NULL in both rows: the other one
  // differing is a difference too.
  t.natural_keys = {{kEmail, kRole}};
  c = detect({row(0, "1", nullptr, "Customer", "1", 10), row(1, "1", nullptr, "Staff", "1", 10)},
             t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::manual);
  EXPECT_NE(c[0].rationale.find("with no email to tell (NULL), and role differs"),
            std::string::npos)
      << c[0].rationale;
  // A key each environment does not give on its own (a code tdm cannot
  // renumber): the same key is the same entity, and a rule settles.
  t.natural_keys = {{kEmail}};
  t.rekeyable = false;
  c = detect({row(0, "1", nullptr, "Customer", "1", 10), row(1, "1", nullptr, "Customer", "2", 11)},
             t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NE(c[0].rule, Rule::manual);
}

TEST(DistinctEntities, AChainOfShiftedIdsSplitsIntoPeopleAndIdCollisions) {
  // st{1,2,3} hold person g as id g with the email of person g + env: one
  // group of every row. People are the rows of one email (2 or 3 of them);
  // each id is held by three people: re-keyed.
  std::vector<SourceRow> rows;
  for (std::size_t env = 0; env < 3; ++env) {
    for (int g = 1; g <= 4; ++g) {
      const std::string id = std::to_string(g);
      const std::string email = "e" + std::to_string(g + static_cast<int>(env)) + "@x";
      rows.push_back(row(env, id.c_str(), email.c_str(), "Customer", "1", 10));
    }
  }
  TableModel t = users();
  t.surrogate_key = true;
  const auto c = detect(rows, t);
  std::vector<std::size_t> collisions;
  std::vector<std::size_t> people;
  for (const auto &x : c) {
    if (x.rule == Rule::distinct_entities) {
      collisions.push_back(x.members.size());
      EXPECT_EQ(x.rekeyed.size(), 2u);
    } else {
      people.push_back(x.members.size());
      EXPECT_EQ(x.kind, Kind::duplicate_natural_key);
    }
  }
  EXPECT_EQ(collisions, (std::vector<std::size_t>{3, 3, 3, 3}));
  std::sort(people.begin(), people.end());
  EXPECT_EQ(people, (std::vector<std::size_t>{2, 2, 3, 3}));
}

TEST(Rules, IdenticalAttributesWithoutANewerRecordGoByPrecedence) {
  auto c = detect(
      {row(2, "7", "same@x", "Customer", "5", 10), row(1, "8", "same@x", "Customer", "5", 10)});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::environment_precedence);
  EXPECT_EQ(*c[0].survivor, 1u);
}

TEST(DistinctEntities, SurrogateKeyTableSplitsOnDifferentAttributes) {
  TableModel t = users();
  t.natural_keys.clear();
  t.surrogate_key = true;
  auto c =
      detect({row(0, "1", "a@x", "Customer", "1", 10), row(1, "1", "b@x", "Customer", "2", 10)}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::distinct_entities);
  // Without surrogate_key, the same id means the same entity.
  t.surrogate_key = false;
  c = detect({row(0, "1", "a@x", "Customer", "1", 10), row(1, "1", "b@x", "Customer", "2", 10)}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::environment_precedence);
}

TEST(TieBreak, PrecedenceThenEnvironmentName) {
  Context ctx = context();
  ctx.environments[1].precedence = 10;  // st1 and st2 tie on precedence
  auto c = detect_conflicts(
      users(), ctx,
      {row(1, "6", "p@x", "Customer", "5", 10), row(0, "6", "p@x", "Customer", "7", 10)});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(*c[0].survivor, 1u);  // st1 < st2 by name
  EXPECT_EQ(c[0].members, (std::vector<std::size_t>{1, 0}));
}

// Rows of earlier releases already in master: environment index 4, fixed.
Context with_master() {
  Context c = context();
  Environment master;
  master.name = "master";
  master.precedence = 1000;  // fixed comes first whatever the number
  master.fixed = true;
  c.environments.push_back(master);
  return c;
}

SourceRow master_row(const char *id, const char *email, const char *role, const char *balance,
                     std::int64_t ts, const char *feature = "FEAT-001") {
  SourceRow r = row(4, id, email, role, balance, ts, feature);
  r.values = {Value(id),
              email ? Value(email) : Value(),
              Value(role),
              balance ? Value(balance) : Value(),
              Value("2024-01-" + std::to_string(ts)),
              Value("R1"),
              Value(feature)};
  return r;
}

std::vector<Conflict> detect_with_master(const std::vector<SourceRow> &rows) {
  return detect_conflicts(users(), with_master(), rows);
}

TEST(Master, ACollidingIdIsRekeyedOnTheReleasesSideOnly) {
  auto c = detect_with_master(
      {row(0, "1", "new@x", "Customer", "1", 10), master_row("1", "old@x", "Customer", "1", 5)});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::distinct_entities);
  EXPECT_EQ(*c[0].survivor, 1u);  // master keeps id 1
  EXPECT_EQ(c[0].rekeyed, (std::vector<std::size_t>{0}));
  EXPECT_EQ(c[0].labels, (std::vector<std::string>{"master", "st1"}));
}

TEST(Master, ARowOneNaturalKeyJoinsAndAnotherTellsApartIsNotMergedIntoIt) {
  TableModel t = users();
  t.natural_keys = {{kEmail}, {kBalance}};
  t.core = {};
  auto c = detect_conflicts(
      t, with_master(),
      {row(0, "9", "b@x", "Customer", "7", 20), master_row("3", "a@x", "Customer", "7", 5)});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::manual);
  EXPECT_EQ(c[0].rationale,
            "email differs between rows that share balance: one entity under two keys or two "
            "entities, a human decides (keep release R1's row in master, or keep_all with renames "
            "of balance for the release's rows)");
}

TEST(Master, IdenticalOrOnlyNewerKeepsTheMasterRow) {
  auto c = detect_with_master(
      {row(0, "9", "same@x", "Customer", "5", 20), master_row("3", "same@x", "Customer", "5", 5)});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].kind, Kind::duplicate_natural_key);
  // Newer in st1, but the earlier release's row stays.
  EXPECT_EQ(c[0].rule, Rule::environment_precedence);
  EXPECT_EQ(*c[0].survivor, 1u);
  EXPECT_NE(c[0].rationale.find("release R1's row in master"), std::string::npos);
}

TEST(Master, AMergeThatWouldFillTheMasterRowGoesToReview) {
  auto c = detect_with_master({row(0, "3", "m@x", "Customer", "250", 10, "FEAT-001"),
                               master_row("3", "m@x", "Customer", nullptr, 5)});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::manual);
  EXPECT_EQ(c[0].priority, 3);
  EXPECT_EQ(*c[0].survivor, 1u);
  // The other way round (master has the value): nothing in master changes.
  c = detect_with_master({row(0, "3", "m@x", "Customer", nullptr, 10, "FEAT-001"),
                          master_row("3", "m@x", "Customer", "250", 5)});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::non_conflicting_merge);
  EXPECT_EQ(*c[0].merged[kBalance], "250");
}

TEST(Master, AHigherPriorityFeatureDoesNotReplaceTheMasterRow) {
  auto c = detect_with_master({row(0, "4", "f@x", "Customer", "10", 10, "FEAT-101"),
                               master_row("4", "f@x", "Customer", "0", 5, "FEAT-105")});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::manual);
  EXPECT_TRUE(c[0].complex);
  EXPECT_EQ(c[0].suggestion, "review; by environment precedence it would be: keep master");
  // A core column difference stays priority 1.
  c = detect_with_master({row(0, "4", "f@x", "Admin", "0", 10, "FEAT-001"),
                          master_row("4", "f@x", "Customer", "0", 5)});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].priority, 1);
}

TEST(Master, MastersRowsAmongThemselvesAreNoConflict) {
  // Two of master's rows under one email (the key registered after they
  // were loaded): alone, and beside a release row that takes one's id.
  auto c = detect_with_master({master_row("10", "dup@x", "Customer", "1", 5),
                               master_row("11", "dup@x", "Customer", "2", 5)});
  EXPECT_TRUE(c.empty());
  c = detect_with_master({row(0, "10", "new@x", "Customer", "1", 10),
                          master_row("10", "dup@x", "Customer", "1", 5),
                          master_row("11", "dup@x", "Customer", "2", 5)});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].kind, Kind::duplicate_pk);
  EXPECT_EQ(c[0].rekeyed, (std::vector<std::size_t>{0}));
}

TEST(Master, ARowJoiningTwoMasterRowsGoesToReview) {
  // st1's row has master row 10's email and master row 11's id.
  auto c = detect_with_master({row(0, "11", "bob@x", "Customer", "1", 10),
                               master_row("10", "bob@x", "Customer", "1", 5),
                               master_row("11", nullptr, "Customer", "1", 5)});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::manual);
  EXPECT_EQ(c[0].priority, 3);
  EXPECT_NE(c[0].rationale.find("joins 2 rows of master"), std::string::npos);
}

TEST(Master, TheSameFeatureGoesByPrecedenceAndMasterComesFirst) {
  auto c = detect_with_master({row(0, "6", "p@x", "Customer", "7", 10, "FEAT-001"),
                               master_row("6", "p@x", "Customer", "5", 5, "FEAT-001")});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::environment_precedence);
  EXPECT_EQ(*c[0].survivor, 1u);
}

TEST(Ids, StableAndIndependentOfRowOrder) {
  std::vector<SourceRow> rows = {row(0, "1", "a@x", "Customer", "1", 10),
                                 row(1, "1", "a@x", "Customer", "2", 10)};
  auto first = detect(rows);
  std::swap(rows[0], rows[1]);
  auto second = detect(rows);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(first[0].id, second[0].id);
  EXPECT_EQ(first[0].id.size(), 14u);
  EXPECT_EQ(first[0].id.substr(0, 2), "C-");
  EXPECT_NE(conflict_id("R2", "t", "entity", "k", {"st1:1"}),
            conflict_id("R2", "t", "entity", "k", {"st2:1"}));
  EXPECT_NE(conflict_id("R2", "t", "entity", "k", {"st1:1"}),
            conflict_id("R3", "t", "entity", "k", {"st1:1"}));
}

TEST(ParentColumns, RowsOfTwoParentsUnderOneKeyAreTwoEntities) {
  // An order line's (order_id, line_no) whose foreign key (order_id,
  // order_date) names two orders of one id in two environments: two lines
  // under one key, not two versions of one line (balance stands for the
  // order's date here). The key is not tdm's to renumber: a reviewer does.
  TableModel t = users();
  t.natural_keys.clear();
  t.parent_columns = {kBalance};
  t.rekeyable = false;
  auto c = detect(
      {row(0, "1", "a@x", "Customer", "100", 10), row(1, "1", "a@x", "Customer", "110", 10)}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].kind, Kind::duplicate_pk);
  EXPECT_EQ(c[0].rule, Rule::manual);
  EXPECT_NE(c[0].rationale.find("same user_id 1 but different balance"), std::string::npos)
      << c[0].rationale;
  // One parent: one line, whose other values differ.
  c = detect({row(0, "1", "a@x", "Customer", "100", 10), row(1, "1", "b@x", "Customer", "100", 10)},
             t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].kind, Kind::attribute_conflict);
  // A NULL there names no parent (MATCH SIMPLE): one line too.
  c = detect(
      {row(0, "1", "a@x", "Customer", "100", 10), row(1, "1", "a@x", "Customer", nullptr, 10)}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].kind, Kind::attribute_conflict);
}

TEST(ParentColumns, RowsOfTwoParentsUnderOneNaturalKeyGoToReview) {
  // Lines with ids of their own (1 and 7) and the natural key (order_id,
  // line_no), here the email, under two orders: not merged by a rule.
  TableModel t = users();
  t.parent_columns = {kBalance};
  auto c = detect(
      {row(0, "1", "a@x", "Customer", "100", 10), row(1, "7", "a@x", "Customer", "110", 10)}, t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].rule, Rule::manual);
  EXPECT_EQ(c[0].rationale.find("st1 and st2 reference two rows by balance under one key"), 0u)
      << c[0].rationale;
  // One parent spelled two ways, as a numeric key may be: one line.
  t.key_forms.assign(t.columns.size(), KeyForm::kText);
  t.key_forms[kBalance] = KeyForm::kDecimal;
  c = detect(
      {row(0, "1", "a@x", "Customer", "100.0", 10), row(1, "7", "a@x", "Customer", "100.00", 10)},
      t);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NE(c[0].rule, Rule::manual) << c[0].rationale;
}

}  // namespace
}  // namespace tdm::detect
