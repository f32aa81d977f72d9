#include "engine/kv_cache/block_allocator.h"

#include "common/logging.h"

namespace infusion::engine {

BlockAllocator::BlockAllocator(int num_blocks) {
  CHECK_GE(num_blocks, 0);
  ref_counts_.assign(num_blocks, 0);
  prev_.resize(num_blocks + 1);
  next_.resize(num_blocks + 1);
  const BlockId sentinel = num_blocks;
  prev_[sentinel] = next_[sentinel] = sentinel;
  for (BlockId id = 0; id < num_blocks; ++id) PushBack(id);
}

std::optional<BlockId> BlockAllocator::Allocate() {
  if (num_free_ == 0) return std::nullopt;
  const BlockId id = next_[num_total()];
  Unlink(id);
  ref_counts_[id] = 1;
  return id;
}

void BlockAllocator::AddRef(BlockId id) {
  CHECK(id >= 0 && id < num_total()) << "block " << id;
  if (ref_counts_[id] == 0) Unlink(id);
  ++ref_counts_[id];
}

bool BlockAllocator::Release(BlockId id) {
  CHECK(id >= 0 && id < num_total()) << "block " << id;
  CHECK_GT(ref_counts_[id], 0) << "block " << id << " released more often than referenced";
  if (--ref_counts_[id] > 0) return false;
  PushBack(id);
  return true;
}

int BlockAllocator::ref_count(BlockId id) const {
  CHECK(id >= 0 && id < num_total()) << "block " << id;
  return ref_counts_[id];
}

void BlockAllocator::PushBack(BlockId id) {
  const BlockId sentinel = num_total();
  const BlockId back = prev_[sentinel];
  prev_[id] = back;
  next_[id] = sentinel;
  next_[back] = id;
  prev_[sentinel] = id;
  ++num_free_;
}

void BlockAllocator::Unlink(BlockId id) {
  next_[prev_[id]] = next_[id];
  prev_[next_[id]] = prev_[id];
  --num_free_;
}

}  // namespace infusion::engine
