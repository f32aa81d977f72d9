// Hand-checked cases. Fresh managers hand out blocks in id order, so block ids are predictable.
#include "engine/kv_cache/kv_cache_manager.h"

#include <cstdint>
#include <memory>
#include <numeric>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace infusion::engine {
namespace {

using ::testing::ElementsAre;

std::unique_ptr<KvCacheManager> MakeManager(int num_blocks, int block_size,
                                            bool enable_prefix_cache = true) {
  KvCacheManagerOptions options;
  options.num_blocks = num_blocks;
  options.block_size = block_size;
  options.enable_prefix_cache = enable_prefix_cache;
  absl::StatusOr<std::unique_ptr<KvCacheManager>> manager = KvCacheManager::Create(options);
  EXPECT_TRUE(manager.ok()) << manager.status();
  return std::move(manager).value();
}

// Keys start, start + 1, ..., start + n - 1.
std::vector<uint64_t> Iota(int n, uint64_t start = 0) {
  std::vector<uint64_t> keys(n);
  std::iota(keys.begin(), keys.end(), start);
  return keys;
}

std::vector<BlockId> Table(const KvCacheManager& manager, SeqId seq_id) {
  absl::StatusOr<absl::Span<const BlockId>> table = manager.BlockTable(seq_id);
  EXPECT_TRUE(table.ok()) << table.status();
  return table.ok() ? std::vector<BlockId>(table->begin(), table->end()) : std::vector<BlockId>{};
}

TEST(KvCacheManagerOptionsTest, ValidateNamesTheField) {
  KvCacheManagerOptions options;
  EXPECT_EQ(options.block_size, 16);
  EXPECT_TRUE(options.enable_prefix_cache);
  absl::Status status = options.Validate();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), ::testing::HasSubstr("num_blocks"));

  options.num_blocks = 8;
  options.block_size = 0;
  EXPECT_THAT(KvCacheManager::Create(options).status().message(),
              ::testing::HasSubstr("block_size"));
  options.block_size = 16;
  EXPECT_TRUE(KvCacheManager::Create(options).ok());
}

TEST(KvCacheManagerTest, NumBlocksForBudgetCountsKAndVOfEveryLayer) {
  // 2 (K, V) * 2 layers * 16 positions * 4 heads * 8 dims * 2 bytes = 4096 bytes per block.
  EXPECT_EQ(KvCacheManager::NumBlocksForBudget(/*bytes=*/100000, /*num_layers=*/2,
                                               /*num_kv_heads=*/4, /*head_dim=*/8,
                                               /*block_size=*/16, /*bytes_per_element=*/2)
                .value(),
            24);
  EXPECT_EQ(KvCacheManager::NumBlocksForBudget(4095, 2, 4, 8, 16, 2).value(), 0);
  EXPECT_EQ(KvCacheManager::NumBlocksForBudget(4096, 2, 4, 8, 16, 2).value(), 1);
  EXPECT_EQ(KvCacheManager::NumBlocksForBudget(1000, 0, 4, 8, 16, 2).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KvCacheManagerTest, AllocateAndFreeCountBlocks) {
  auto manager = MakeManager(/*num_blocks=*/8, /*block_size=*/4);
  EXPECT_EQ(manager->Allocate(/*seq_id=*/1, Iota(10)).value(), 0);
  EXPECT_THAT(Table(*manager, 1), ElementsAre(0, 1, 2));
  EXPECT_EQ(manager->NumPositions(1).value(), 10);
  EXPECT_EQ(manager->num_used_blocks(), 3);
  EXPECT_EQ(manager->num_free_blocks(), 5);
  EXPECT_DOUBLE_EQ(manager->usage(), 3.0 / 8.0);
  EXPECT_EQ(manager->Slot(1, /*position=*/9).value(), 2 * 4 + 1);
  EXPECT_THAT(manager->SlotMapping(1, /*begin=*/3, /*end=*/6).value(), ElementsAre(3, 4, 5));

  ASSERT_TRUE(manager->Free(1).ok());
  EXPECT_EQ(manager->num_free_blocks(), 8);
  EXPECT_DOUBLE_EQ(manager->usage(), 0.0);
  EXPECT_EQ(manager->Free(1).code(), absl::StatusCode::kNotFound);
}

TEST(KvCacheManagerTest, ErrorsAreStatusesAndChangeNothing) {
  auto manager = MakeManager(/*num_blocks=*/2, /*block_size=*/2);
  EXPECT_EQ(manager->Allocate(1, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(manager->Allocate(1, Iota(5)).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(manager->NumPositions(1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(manager->num_free_blocks(), 2);

  ASSERT_TRUE(manager->Allocate(1, Iota(3)).ok());
  EXPECT_EQ(manager->Allocate(1, Iota(1)).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(manager->Fork(1, 1).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(manager->Fork(7, 8).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(manager->Append(7, Iota(1)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(manager->Slot(1, 3).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(manager->SlotMapping(1, 2, 4).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(manager->Truncate(1, 4).code(), absl::StatusCode::kInvalidArgument);

  // Position 3 fits the partial block 1; positions 4 and 5 would need a third block.
  EXPECT_TRUE(manager->CanAppend(1, 1));
  EXPECT_FALSE(manager->CanAppend(1, 2));
  EXPECT_FALSE(manager->CanAppend(7, 1));
  EXPECT_EQ(manager->Append(1, Iota(2)).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(manager->NumPositions(1).value(), 3);
  EXPECT_THAT(Table(*manager, 1), ElementsAre(0, 1));
}

TEST(KvCacheManagerTest, SamePromptSharesItsFullBlocks) {
  auto manager = MakeManager(/*num_blocks=*/10, /*block_size=*/16);
  const std::vector<uint64_t> prompt = Iota(40);
  EXPECT_EQ(manager->Allocate(1, prompt).value(), 0);
  EXPECT_THAT(Table(*manager, 1), ElementsAre(0, 1, 2));

  const AdmissionCost cost = manager->CostToAllocate(prompt);
  EXPECT_EQ(cost.num_cached_positions, 32);
  EXPECT_EQ(cost.num_free_blocks_needed, 1);
  EXPECT_EQ(manager->num_used_blocks(), 3);  // The query changed nothing.

  EXPECT_EQ(manager->Allocate(2, prompt).value(), 32);
  EXPECT_THAT(Table(*manager, 2), ElementsAre(0, 1, 3));
  EXPECT_EQ(manager->num_used_blocks(), 4);
  EXPECT_THAT(manager->SlotMapping(2, 32, 40).value(), ElementsAre(48, 49, 50, 51, 52, 53, 54, 55));
  EXPECT_EQ(manager->prefix_cache_queried_blocks(), 4);
  EXPECT_EQ(manager->prefix_cache_hit_blocks(), 2);
}

TEST(KvCacheManagerTest, LastPositionOfAPromptIsNeverAHit) {
  auto manager = MakeManager(/*num_blocks=*/10, /*block_size=*/16);
  ASSERT_TRUE(manager->Allocate(1, Iota(32)).ok());
  // Block 1 is cached too, but holds position 31, which prefill must compute.
  EXPECT_EQ(manager->Allocate(2, Iota(32)).value(), 16);
  EXPECT_THAT(Table(*manager, 2), ElementsAre(0, 2));
}

TEST(KvCacheManagerTest, DisabledPrefixCacheSharesNothing) {
  auto manager = MakeManager(/*num_blocks=*/10, /*block_size=*/16, /*enable_prefix_cache=*/false);
  ASSERT_TRUE(manager->Allocate(1, Iota(40)).ok());
  EXPECT_EQ(manager->CostToAllocate(Iota(40)).num_cached_positions, 0);
  EXPECT_EQ(manager->Allocate(2, Iota(40)).value(), 0);
  EXPECT_EQ(manager->num_used_blocks(), 6);
  EXPECT_EQ(manager->prefix_cache_queried_blocks(), 0);
}

TEST(KvCacheManagerTest, HitOnAFreeCachedBlockTakesItFromTheFreePool) {
  auto manager = MakeManager(/*num_blocks=*/4, /*block_size=*/4);
  ASSERT_TRUE(manager->Allocate(1, {1, 2, 3, 4, 5}).ok());  // Blocks 0 (cached) and 1.
  ASSERT_TRUE(manager->Free(1).ok());
  EXPECT_EQ(manager->num_free_blocks(), 4);

  const AdmissionCost cost = manager->CostToAllocate({1, 2, 3, 4, 9});
  EXPECT_EQ(cost.num_cached_positions, 4);
  EXPECT_EQ(cost.num_free_blocks_needed, 2);  // Block 0 leaves the free list, plus one new block.
  EXPECT_EQ(manager->Allocate(2, {1, 2, 3, 4, 9}).value(), 4);
  EXPECT_THAT(Table(*manager, 2), ElementsAre(0, 2));  // Free list was 2, 3, 1, 0.
  EXPECT_EQ(manager->num_free_blocks(), 2);
}

TEST(KvCacheManagerTest, UnreferencedCachedBlocksAreEvictedLeastRecentlyUsedFirst) {
  auto manager = MakeManager(/*num_blocks=*/3, /*block_size=*/2);
  ASSERT_TRUE(manager->Allocate(1, {1, 2, 3}).ok());  // Blocks 0 ({1, 2} cached), 1.
  ASSERT_TRUE(manager->Free(1).ok());                 // Free list: 2, 1, 0.
  ASSERT_TRUE(manager->Allocate(2, {5, 6, 7}).ok());  // Blocks 2 ({5, 6} cached), 1.
  ASSERT_TRUE(manager->Free(2).ok());                 // Free list: 0, 1, 2.
  EXPECT_EQ(manager->CostToAllocate({1, 2, 3}).num_cached_positions, 2);
  EXPECT_EQ(manager->CostToAllocate({5, 6, 7}).num_cached_positions, 2);

  // Two new blocks: block 0, released longest ago, loses {1, 2}; block 2 keeps {5, 6}.
  EXPECT_EQ(manager->Allocate(3, {9, 9, 9}).value(), 0);
  EXPECT_THAT(Table(*manager, 3), ElementsAre(0, 1));
  EXPECT_EQ(manager->CostToAllocate({1, 2, 3}).num_cached_positions, 0);
  EXPECT_EQ(manager->CostToAllocate({5, 6, 7}).num_cached_positions, 2);
}

TEST(KvCacheManagerTest, AHitMakesACachedBlockRecentlyUsed) {
  auto manager = MakeManager(/*num_blocks=*/3, /*block_size=*/2);
  ASSERT_TRUE(manager->Allocate(1, {1, 2, 3}).ok());  // Blocks 0 ({1, 2} cached), 1.
  ASSERT_TRUE(manager->Free(1).ok());
  ASSERT_TRUE(manager->Allocate(2, {5, 6, 7}).ok());      // Blocks 2 ({5, 6} cached), 1.
  ASSERT_TRUE(manager->Free(2).ok());                     // Free list: 0, 1, 2.
  EXPECT_EQ(manager->Allocate(3, {1, 2, 4}).value(), 2);  // Hits block 0; takes block 1.
  ASSERT_TRUE(manager->Free(3).ok());                     // Free list: 2, 1, 0.

  ASSERT_TRUE(manager->Allocate(4, {9, 9, 9}).ok());
  EXPECT_THAT(Table(*manager, 4), ElementsAre(2, 1));
  EXPECT_EQ(manager->CostToAllocate({1, 2, 3}).num_cached_positions, 2);
  EXPECT_EQ(manager->CostToAllocate({5, 6, 7}).num_cached_positions, 0);
}

TEST(KvCacheManagerTest, ForkSharesBlocksAndCopiesThePartialBlockOnWrite) {
  auto manager = MakeManager(/*num_blocks=*/8, /*block_size=*/4);
  ASSERT_TRUE(manager->Allocate(1, Iota(6, /*start=*/10)).ok());  // Blocks 0, 1 (2 positions).
  ASSERT_TRUE(manager->Fork(/*parent=*/1, /*child=*/2).ok());
  EXPECT_THAT(Table(*manager, 2), ElementsAre(0, 1));
  EXPECT_EQ(manager->num_used_blocks(), 2);
  EXPECT_EQ(manager->FreeBlocksNeededToAppend(2, 1).value(), 1);

  // The first writer gets a private copy of block 1.
  AppendResult child = manager->Append(2, {20}).value();
  ASSERT_TRUE(child.copy.has_value());
  EXPECT_EQ(child.copy->src, 1);
  EXPECT_EQ(child.copy->dst, 2);
  EXPECT_THAT(child.slots, ElementsAre(2 * 4 + 2));
  EXPECT_THAT(Table(*manager, 2), ElementsAre(0, 2));

  // The parent now owns block 1 alone and writes in place.
  EXPECT_EQ(manager->FreeBlocksNeededToAppend(1, 1).value(), 0);
  AppendResult parent = manager->Append(1, {30, 31, 32}).value();
  EXPECT_FALSE(parent.copy.has_value());
  EXPECT_THAT(parent.slots, ElementsAre(1 * 4 + 2, 1 * 4 + 3, 3 * 4 + 0));
  EXPECT_THAT(Table(*manager, 1), ElementsAre(0, 1, 3));

  ASSERT_TRUE(manager->Free(1).ok());
  ASSERT_TRUE(manager->Free(2).ok());
  EXPECT_EQ(manager->num_free_blocks(), 8);
}

TEST(KvCacheManagerTest, ForkAtABlockBoundaryCopiesNothing) {
  auto manager = MakeManager(/*num_blocks=*/8, /*block_size=*/4);
  ASSERT_TRUE(manager->Allocate(1, Iota(8)).ok());
  ASSERT_TRUE(manager->Fork(1, 2).ok());
  AppendResult child = manager->Append(2, {20}).value();
  EXPECT_FALSE(child.copy.has_value());
  EXPECT_THAT(child.slots, ElementsAre(2 * 4));
  EXPECT_THAT(Table(*manager, 2), ElementsAre(0, 1, 2));
}

TEST(KvCacheManagerTest, FullBlocksWrittenByAppendBecomeHits) {
  auto manager = MakeManager(/*num_blocks=*/8, /*block_size=*/4);
  ASSERT_TRUE(manager->Allocate(1, {1, 2}).ok());
  ASSERT_TRUE(manager->Append(1, {3, 4, 5}).ok());
  EXPECT_EQ(manager->CostToAllocate({1, 2, 3, 4, 6}).num_cached_positions, 4);
}

TEST(KvCacheManagerTest, AppendAfterTruncateUnpublishesTheOverwrittenBlock) {
  auto manager = MakeManager(/*num_blocks=*/8, /*block_size=*/4);
  ASSERT_TRUE(manager->Allocate(1, {1, 2, 3, 4, 5}).ok());  // Block 0 cached as {1, 2, 3, 4}.
  ASSERT_TRUE(manager->Truncate(1, 2).ok());
  EXPECT_THAT(Table(*manager, 1), ElementsAre(0));
  EXPECT_EQ(manager->num_used_blocks(), 1);

  AppendResult result = manager->Append(1, {7, 7}).value();
  EXPECT_FALSE(result.copy.has_value());  // Sole owner: written in place.
  EXPECT_THAT(result.slots, ElementsAre(2, 3));
  EXPECT_EQ(manager->CostToAllocate({1, 2, 3, 4, 5}).num_cached_positions, 0);
  EXPECT_EQ(manager->CostToAllocate({1, 2, 7, 7, 5}).num_cached_positions, 4);
}

TEST(KvCacheManagerTest, AppendAfterTruncateIntoASharedBlockCopiesIt) {
  auto manager = MakeManager(/*num_blocks=*/8, /*block_size=*/4);
  ASSERT_TRUE(manager->Allocate(1, {1, 2, 3, 4, 5}).ok());      // Blocks 0, 1.
  EXPECT_EQ(manager->Allocate(2, {1, 2, 3, 4, 6}).value(), 4);  // Blocks 0, 2.
  ASSERT_TRUE(manager->Truncate(1, 2).ok());
  AppendResult result = manager->Append(1, {7}).value();
  ASSERT_TRUE(result.copy.has_value());
  EXPECT_EQ(result.copy->src, 0);
  EXPECT_EQ(result.copy->dst, 3);  // Front of the free list; block 1, just released, is last.
  EXPECT_THAT(result.slots, ElementsAre(3 * 4 + 2));
  EXPECT_THAT(Table(*manager, 2), ElementsAre(0, 2));
  EXPECT_EQ(manager->CostToAllocate({1, 2, 3, 4, 5}).num_cached_positions, 4);  // Block 0 intact.
}

}  // namespace
}  // namespace infusion::engine
