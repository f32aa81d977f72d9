#include "engine/kv_cache/prefix_cache.h"

#include "common/logging.h"
#include "engine/kv_cache/position_key.h"

namespace infusion::engine {

uint64_t PrefixCache::BlockHash(uint64_t parent_hash, absl::Span<const uint64_t> position_keys) {
  uint64_t hash = parent_hash;
  for (uint64_t key : position_keys) hash = HashCombine(hash, key);
  return hash;
}

std::vector<BlockId> PrefixCache::LongestPrefix(absl::Span<const uint64_t> block_hashes) const {
  std::vector<BlockId> blocks;
  for (uint64_t hash : block_hashes) {
    auto it = block_of_hash_.find(hash);
    if (it == block_of_hash_.end()) break;
    blocks.push_back(it->second);
  }
  return blocks;
}

void PrefixCache::RecordLookup(int num_queried, int num_hit) {
  CHECK(num_hit >= 0 && num_hit <= num_queried);
  num_queried_blocks_ += num_queried;
  num_hit_blocks_ += num_hit;
}

bool PrefixCache::Insert(uint64_t hash, BlockId block) {
  CHECK(!Contains(block)) << "block " << block << " is cached already";
  if (!block_of_hash_.emplace(hash, block).second) return false;
  hash_of_block_.emplace(block, hash);
  return true;
}

bool PrefixCache::Erase(BlockId block) {
  auto it = hash_of_block_.find(block);
  if (it == hash_of_block_.end()) return false;
  block_of_hash_.erase(it->second);
  hash_of_block_.erase(it);
  return true;
}

}  // namespace infusion::engine
