#include "engine/kv_cache/prefix_cache.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace infusion::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(PrefixCacheTest, BlockHashChainsTheParent) {
  const uint64_t first = PrefixCache::BlockHash(PrefixCache::kRootHash, {1, 2});
  EXPECT_EQ(PrefixCache::BlockHash(PrefixCache::kRootHash, {1, 2}), first);
  EXPECT_NE(PrefixCache::BlockHash(PrefixCache::kRootHash, {2, 1}), first);
  // The same block content after a different prefix is different content for attention.
  EXPECT_NE(PrefixCache::BlockHash(first, {3, 4}),
            PrefixCache::BlockHash(PrefixCache::kRootHash, {3, 4}));
}

TEST(PrefixCacheTest, LongestPrefixStopsAtTheFirstMiss) {
  PrefixCache cache;
  EXPECT_TRUE(cache.Insert(/*hash=*/100, /*block=*/5));
  EXPECT_TRUE(cache.Insert(/*hash=*/300, /*block=*/7));
  EXPECT_THAT(cache.LongestPrefix({100, 200, 300}), ElementsAre(5));
  EXPECT_THAT(cache.LongestPrefix({100, 300}), ElementsAre(5, 7));
  EXPECT_THAT(cache.LongestPrefix({200, 300}), IsEmpty());
}

TEST(PrefixCacheTest, InsertKeepsTheFirstBlockForAHash) {
  PrefixCache cache;
  EXPECT_TRUE(cache.Insert(/*hash=*/100, /*block=*/1));
  EXPECT_FALSE(cache.Insert(/*hash=*/100, /*block=*/2));
  EXPECT_THAT(cache.LongestPrefix({100}), ElementsAre(1));
  EXPECT_FALSE(cache.Contains(2));
  EXPECT_EQ(cache.size(), 1);
}

TEST(PrefixCacheTest, EraseForgetsTheBlock) {
  PrefixCache cache;
  cache.Insert(/*hash=*/100, /*block=*/1);
  EXPECT_TRUE(cache.Erase(1));
  EXPECT_FALSE(cache.Erase(1));
  EXPECT_THAT(cache.LongestPrefix({100}), IsEmpty());
  EXPECT_EQ(cache.size(), 0);
  EXPECT_TRUE(cache.Insert(/*hash=*/100, /*block=*/2));  // The hash is free for another block.
}

TEST(PrefixCacheTest, RecordLookupAccumulates) {
  PrefixCache cache;
  cache.RecordLookup(/*num_queried=*/3, /*num_hit=*/2);
  cache.RecordLookup(/*num_queried=*/4, /*num_hit=*/0);
  EXPECT_EQ(cache.num_queried_blocks(), 7);
  EXPECT_EQ(cache.num_hit_blocks(), 2);
}

}  // namespace
}  // namespace infusion::engine
