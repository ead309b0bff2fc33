#include "core/common/memory_budget.hpp"

#include <gtest/gtest.h>

namespace {

TEST(MemoryBudget, PartitionsShareTheWholeBudgetWhenNothingIsHeld) {
  const tdm::MemoryBudget budget(1000);
  EXPECT_EQ(budget.partitions_for(0), 1u);
  EXPECT_EQ(budget.partitions_for(1000), 1u);
  EXPECT_EQ(budget.partitions_for(1001), 2u);
  EXPECT_EQ(budget.partitions_for(2500), 3u);
}

TEST(MemoryBudget, BytesHeldThroughEveryPartitionLeaveLessRoomForEach) {
  const tdm::MemoryBudget budget(1000);
  // 600 held: 400 left per partition.
  EXPECT_EQ(budget.partitions_for(1000, 600), 3u);
  EXPECT_EQ(budget.partitions_for(400, 600), 1u);
  EXPECT_EQ(budget.partitions_for(401, 600), 2u);
}

TEST(MemoryBudget, APartitionGetsAtLeastAQuarterOfTheBudget) {
  const tdm::MemoryBudget budget(1000);
  // Nearly all held (or more than all): a quarter each, not one row each.
  EXPECT_EQ(budget.partitions_for(1000, 990), 4u);
  EXPECT_EQ(budget.partitions_for(1000, 5000), 4u);
}

TEST(MemoryBudget, NoLimitMeansOnePartition) {
  const tdm::MemoryBudget budget(0);
  EXPECT_EQ(budget.partitions_for(1u << 30, 1u << 20), 1u);
}

}  // namespace
