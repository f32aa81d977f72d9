// Reference-counted pool of KV-cache blocks.
#ifndef INFUSION_ENGINE_KV_CACHE_BLOCK_ALLOCATOR_H_
#define INFUSION_ENGINE_KV_CACHE_BLOCK_ALLOCATOR_H_

#include <cstdint>
#include <optional>
#include <vector>

namespace infusion::engine {

// Index of a block in the paged cache tensors [num_blocks, block_size, num_kv_heads, head_dim].
using BlockId = int32_t;

// Hands out block ids from a fixed pool and counts the owners of each (sequences sharing a prefix
// or forked from one another hold the same block).
//
// The free list is ordered by release time: Allocate() takes the block released longest ago. A
// freed block keeps its K/V, so when the prefix cache still maps it, that order is the cache's
// LRU eviction order, and AddRef() can revive the block before anyone overwrites it.
class BlockAllocator {
 public:
  // All blocks start free, handed out in id order.
  explicit BlockAllocator(int num_blocks);

  BlockAllocator(const BlockAllocator&) = delete;
  BlockAllocator& operator=(const BlockAllocator&) = delete;

  // Takes the least recently released free block with one owner; nullopt when none is free.
  std::optional<BlockId> Allocate();

  // Adds an owner. A free block (a prefix-cache hit no sequence holds) leaves the free list.
  void AddRef(BlockId id);

  // Drops an owner. Returns true when that was the last one: the block is free again and, being
  // the most recently released, is the last to be handed out.
  bool Release(BlockId id);

  int ref_count(BlockId id) const;
  int num_free() const { return num_free_; }
  int num_total() const { return static_cast<int>(ref_counts_.size()); }

 private:
  void PushBack(BlockId id);
  void Unlink(BlockId id);

  std::vector<int> ref_counts_;
  // The free list, doubly linked through these arrays so that AddRef() unlinks a block in O(1).
  // Index num_total() is the sentinel: next_[sentinel] is the front, prev_[sentinel] the back.
  std::vector<BlockId> prev_;
  std::vector<BlockId> next_;
  int num_free_ = 0;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_KV_CACHE_BLOCK_ALLOCATOR_H_
