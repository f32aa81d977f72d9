#include "engine/kv_cache/block_allocator.h"

#include <optional>

#include "gtest/gtest.h"

namespace infusion::engine {
namespace {

TEST(BlockAllocatorTest, HandsOutBlocksInIdOrderUntilNoneIsFree) {
  BlockAllocator allocator(3);
  EXPECT_EQ(allocator.num_total(), 3);
  EXPECT_EQ(allocator.Allocate(), std::optional<BlockId>(0));
  EXPECT_EQ(allocator.Allocate(), std::optional<BlockId>(1));
  EXPECT_EQ(allocator.Allocate(), std::optional<BlockId>(2));
  EXPECT_EQ(allocator.num_free(), 0);
  EXPECT_EQ(allocator.Allocate(), std::nullopt);
  EXPECT_EQ(allocator.ref_count(1), 1);
}

TEST(BlockAllocatorTest, BlockIsFreeAfterItsLastOwnerReleasesIt) {
  BlockAllocator allocator(2);
  const BlockId block = *allocator.Allocate();
  allocator.AddRef(block);
  EXPECT_EQ(allocator.ref_count(block), 2);
  EXPECT_FALSE(allocator.Release(block));
  EXPECT_EQ(allocator.num_free(), 1);
  EXPECT_TRUE(allocator.Release(block));
  EXPECT_EQ(allocator.ref_count(block), 0);
  EXPECT_EQ(allocator.num_free(), 2);
}

TEST(BlockAllocatorTest, ReleasedBlocksAreHandedOutLeastRecentlyReleasedFirst) {
  BlockAllocator allocator(4);
  for (int i = 0; i < 4; ++i) allocator.Allocate();
  allocator.Release(2);
  allocator.Release(0);
  allocator.Release(3);
  EXPECT_EQ(allocator.Allocate(), std::optional<BlockId>(2));
  EXPECT_EQ(allocator.Allocate(), std::optional<BlockId>(0));
  EXPECT_EQ(allocator.Allocate(), std::optional<BlockId>(3));
  EXPECT_EQ(allocator.Allocate(), std::nullopt);
}

TEST(BlockAllocatorTest, AddRefRevivesAFreeBlockAndTakesItOffTheFreeList) {
  BlockAllocator allocator(3);
  const BlockId block = *allocator.Allocate();  // Free list: 1, 2.
  allocator.Release(block);                     // Free list: 1, 2, 0.
  allocator.AddRef(block);                      // Free list: 1, 2.
  EXPECT_EQ(allocator.ref_count(block), 1);
  EXPECT_EQ(allocator.num_free(), 2);
  EXPECT_EQ(allocator.Allocate(), std::optional<BlockId>(1));
  EXPECT_EQ(allocator.Allocate(), std::optional<BlockId>(2));
  EXPECT_EQ(allocator.Allocate(), std::nullopt);
}

}  // namespace
}  // namespace infusion::engine
