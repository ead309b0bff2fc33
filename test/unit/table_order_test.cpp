// Unit tests of the order managed tables are worked in (src/core/setup).
#include <gtest/gtest.h>

#include "core/common/error.hpp"
#include "core/setup/table_order.hpp"

namespace tdm::setup {
namespace {

using Order = std::vector<std::size_t>;

// A table with natural-key groups whose references lead to `parents`
// (one group per list).
OrderedTable keyed(std::vector<std::vector<std::size_t>> parents = {{}}) {
  return OrderedTable{std::move(parents)};
}
OrderedTable unkeyed() {
  return OrderedTable{};
}

TEST(TableOrder, ParentsComeFirstAndTiesGoByPosition) {
  // 0 references 2; 1 stands alone.
  EXPECT_EQ(order_tables({keyed(), keyed(), keyed()}, {{0, 2}}), Order({1, 2, 0}));
  EXPECT_EQ(order_tables({keyed(), keyed()}, {}), Order({0, 1}));
}

TEST(TableOrder, TableFreedByAPlacementGoesBeforeLaterOnes) {
  // 1 references 0: once 0 is placed, 1 precedes 2 by position.
  EXPECT_EQ(order_tables({keyed(), keyed(), keyed()}, {{1, 0}}), Order({0, 1, 2}));
  // Two references to one parent wait for it once.
  EXPECT_EQ(order_tables({keyed(), keyed()}, {{0, 1}, {0, 1}}), Order({1, 0}));
}

TEST(TableOrder, ReferenceToItselfDoesNotOrder) {
  EXPECT_EQ(order_tables({keyed(), keyed()}, {{0, 0}, {0, 1}}), Order({1, 0}));
}

TEST(TableOrder, CycleIsEnteredAtTheTableWhoseNaturalKeyTellsRowsApart) {
  // 0 and 1 reference each other; only 1 has a natural key.
  EXPECT_EQ(order_tables({unkeyed(), keyed()}, {{0, 1}, {1, 0}}), Order({1, 0}));
  // Neither has one: the first by position.
  EXPECT_EQ(order_tables({unkeyed(), unkeyed()}, {{0, 1}, {1, 0}}), Order({0, 1}));
}

TEST(TableOrder, NaturalKeyHoldingAReferenceIntoTheCycleRanksAfterAFreeOne) {
  // 0's key holds its reference to 1 (an album's (artist_id, title)): it
  // still holds each environment's own ids, so 1, whose key is free, is
  // entered first; a table with a natural key, even one that is not free,
  // goes before one without.
  EXPECT_EQ(order_tables({keyed({{1}}), keyed()}, {{0, 1}, {1, 0}}), Order({1, 0}));
  EXPECT_EQ(order_tables({unkeyed(), keyed({{0}})}, {{0, 1}, {1, 0}}), Order({1, 0}));
  // A key group holding a reference to the table itself is not free.
  EXPECT_EQ(order_tables({keyed({{0}}), keyed()}, {{0, 1}, {1, 0}, {0, 0}}), Order({1, 0}));
  // Any free group of several will do.
  EXPECT_EQ(order_tables({keyed({{1}, {}}), keyed({{0}})}, {{0, 1}, {1, 0}}), Order({0, 1}));
}

TEST(TableOrder, TableBelowACycleIsNotTakenForItsEntry) {
  // 1 and 2 (staff, store) reference each other; 0 (inventory) references
  // both and has a natural key, but hangs below the cycle.
  EXPECT_EQ(order_tables({keyed(), unkeyed(), unkeyed()}, {{0, 1}, {0, 2}, {1, 2}, {2, 1}}),
            Order({1, 2, 0}));
}

TEST(TableOrder, CycleBelowAnotherIsEnteredAfterIt) {
  // 2 <-> 3 reference 0 <-> 1: the upper cycle first, each at its first.
  const std::vector<TableReference> references{{0, 1}, {1, 0}, {2, 3}, {3, 2}, {2, 0}};
  EXPECT_EQ(order_tables({unkeyed(), unkeyed(), unkeyed(), keyed()}, references),
            Order({0, 1, 3, 2}));
}

TEST(TableOrder, ManyTablesInAChainComeParentsFirst) {
  // Table i references i + 1: the last one first.
  const std::size_t count = 2000;
  std::vector<OrderedTable> tables(count);
  std::vector<TableReference> references;
  for (std::size_t i = 0; i + 1 < count; ++i) references.push_back({i, i + 1});
  const Order order = order_tables(tables, references);
  ASSERT_EQ(order.size(), count);
  for (std::size_t i = 0; i < count; ++i) EXPECT_EQ(order[i], count - 1 - i);
}

TEST(TableOrder, UnknownTableIsRefused) {
  EXPECT_THROW(order_tables({keyed()}, {{0, 1}}), Error);
  EXPECT_THROW(order_tables({keyed({{3}})}, {}), Error);
}

}  // namespace
}  // namespace tdm::setup
