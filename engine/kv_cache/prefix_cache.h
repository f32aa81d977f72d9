// Automatic prefix caching: full blocks indexed by the hash of their content and of all that
// precedes them, so that sequences with a common prefix share its blocks (as in vLLM).
#ifndef INFUSION_ENGINE_KV_CACHE_PREFIX_CACHE_H_
#define INFUSION_ENGINE_KV_CACHE_PREFIX_CACHE_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"
#include "engine/kv_cache/block_allocator.h"

namespace infusion::engine {

// Maps block hashes to the blocks that hold that content. The cache holds no references: a cached
// block whose last owner releases it returns to the allocator's free list with its K/V intact and
// stays findable here until the allocator hands it out again, least recently released first; the
// owner of the allocator then calls Erase(). So unreferenced cached blocks cost no capacity and
// are evicted in LRU order.
//
// Hashes are 64 bits and not verified against content: two prefixes colliding (probability about
// 2^-64 per pair) would share K/V.
class PrefixCache {
 public:
  // The parent hash of a sequence's first block.
  static constexpr uint64_t kRootHash = 0;

  // Hash of a full block holding `position_keys` (block_size of them), chained to the hash of the
  // block before it, so that equal hashes mean equal prefixes.
  static uint64_t BlockHash(uint64_t parent_hash, absl::Span<const uint64_t> position_keys);

  PrefixCache() = default;
  PrefixCache(const PrefixCache&) = delete;
  PrefixCache& operator=(const PrefixCache&) = delete;

  // Blocks that hold the longest cached prefix of `block_hashes` (a sequence's chained hashes, in
  // order). Const, so that a plan can ask without acting; see RecordLookup().
  std::vector<BlockId> LongestPrefix(absl::Span<const uint64_t> block_hashes) const;

  // Counts one admitted sequence in the hit-rate metrics: `num_queried` of its blocks were looked
  // up and the first `num_hit` found.
  void RecordLookup(int num_queried, int num_hit);

  // Records that `block` now holds the content hashed as `hash`. Returns false, leaving the cache
  // unchanged, when another block already holds it (two sequences computed the same prefix).
  // `block` must not be cached already.
  bool Insert(uint64_t hash, BlockId block);

  // Forgets what `block` holds, because it is about to be overwritten. Returns whether it was
  // cached.
  bool Erase(BlockId block);

  bool Contains(BlockId block) const { return hash_of_block_.contains(block); }
  int size() const { return static_cast<int>(block_of_hash_.size()); }
  int64_t num_queried_blocks() const { return num_queried_blocks_; }
  int64_t num_hit_blocks() const { return num_hit_blocks_; }

 private:
  absl::flat_hash_map<uint64_t, BlockId> block_of_hash_;
  absl::flat_hash_map<BlockId, uint64_t> hash_of_block_;
  int64_t num_queried_blocks_ = 0;
  int64_t num_hit_blocks_ = 0;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_KV_CACHE_PREFIX_CACHE_H_
