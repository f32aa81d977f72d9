#include "engine/kv_cache/kv_cache_manager.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace infusion::engine {

absl::Status KvCacheManagerOptions::Validate() const {
  if (num_blocks <= 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("num_blocks must be positive, got %d", num_blocks));
  }
  if (block_size <= 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("block_size must be positive, got %d", block_size));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<KvCacheManager>> KvCacheManager::Create(
    const KvCacheManagerOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  return std::unique_ptr<KvCacheManager>(new KvCacheManager(options));
}

KvCacheManager::KvCacheManager(const KvCacheManagerOptions& options)
    : options_(options), allocator_(options.num_blocks) {}

absl::StatusOr<int> KvCacheManager::NumBlocksForBudget(size_t bytes, int num_layers,
                                                       int num_kv_heads, int head_dim,
                                                       int block_size, int bytes_per_element) {
  const std::pair<const char*, int> factors[] = {{"num_layers", num_layers},
                                                 {"num_kv_heads", num_kv_heads},
                                                 {"head_dim", head_dim},
                                                 {"block_size", block_size},
                                                 {"bytes_per_element", bytes_per_element}};
  uint64_t bytes_per_block = 2;  // K and V.
  for (const auto& [name, value] : factors) {
    if (value <= 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s must be positive, got %d", name, value));
    }
    bytes_per_block *= static_cast<uint64_t>(value);
  }
  // Block ids are int32: a budget for more blocks than that is capped.
  const uint64_t num_blocks =
      std::min<uint64_t>(bytes / bytes_per_block, std::numeric_limits<BlockId>::max());
  return static_cast<int>(num_blocks);
}

AdmissionCost KvCacheManager::CostToAllocate(absl::Span<const uint64_t> keys) const {
  const int num_positions = static_cast<int>(keys.size());
  const std::vector<BlockId> hits =
      CachedPrefix(FullBlockHashes(keys, num_positions / block_size()), num_positions);
  AdmissionCost cost;
  cost.num_cached_positions = static_cast<int>(hits.size()) * block_size();
  cost.num_free_blocks_needed = FreeBlocksNeededToAllocate(num_positions, hits);
  return cost;
}

absl::StatusOr<int> KvCacheManager::Allocate(SeqId seq_id, absl::Span<const uint64_t> keys) {
  if (keys.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("keys: sequence %d must have at least one position", seq_id));
  }
  if (sequences_.contains(seq_id)) {
    return absl::AlreadyExistsError(absl::StrFormat("sequence %d already has blocks", seq_id));
  }
  const int num_positions = static_cast<int>(keys.size());
  Sequence seq;
  seq.keys.assign(keys.begin(), keys.end());
  seq.block_hashes = FullBlockHashes(keys, num_positions / block_size());
  const std::vector<BlockId> hits = CachedPrefix(seq.block_hashes, num_positions);
  const int needed = FreeBlocksNeededToAllocate(num_positions, hits);
  if (needed > num_free_blocks()) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("sequence %d needs %d free KV-cache blocks for %d positions; %d are free",
                        seq_id, needed, num_positions, num_free_blocks()));
  }
  if (options_.enable_prefix_cache) {
    prefix_cache_.RecordLookup(NumMatchableBlocks(num_positions), static_cast<int>(hits.size()));
  }

  // Hits first: they may be free blocks, which TakeFreeBlock() would otherwise evict.
  for (BlockId block : hits) {
    allocator_.AddRef(block);
    seq.blocks.push_back(block);
  }
  const int num_blocks = NumBlocksFor(num_positions);
  while (static_cast<int>(seq.blocks.size()) < num_blocks) seq.blocks.push_back(TakeFreeBlock());
  if (options_.enable_prefix_cache) {
    for (size_t i = hits.size(); i < seq.block_hashes.size(); ++i) {
      prefix_cache_.Insert(seq.block_hashes[i], seq.blocks[i]);
    }
  }
  sequences_.emplace(seq_id, std::move(seq));
  return static_cast<int>(hits.size()) * block_size();
}

absl::StatusOr<int> KvCacheManager::FreeBlocksNeededToAppend(SeqId seq_id,
                                                             int num_positions) const {
  if (num_positions < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("num_positions must be non-negative, got %d", num_positions));
  }
  ASSIGN_OR_RETURN(const Sequence* seq, Find(seq_id));
  return FreeBlocksNeededToAppend(*seq, num_positions);
}

bool KvCacheManager::CanAppend(SeqId seq_id, int num_positions) const {
  absl::StatusOr<int> needed = FreeBlocksNeededToAppend(seq_id, num_positions);
  return needed.ok() && *needed <= num_free_blocks();
}

absl::StatusOr<AppendResult> KvCacheManager::Append(SeqId seq_id, absl::Span<const uint64_t> keys) {
  ASSIGN_OR_RETURN(Sequence * seq, Find(seq_id));
  const int num_positions = static_cast<int>(keys.size());
  const int needed = FreeBlocksNeededToAppend(*seq, num_positions);
  if (needed > num_free_blocks()) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "sequence %d needs %d free KV-cache blocks to append %d positions; %d are free", seq_id,
        needed, num_positions, num_free_blocks()));
  }
  AppendResult result;
  if (num_positions > 0 && seq->keys.size() % block_size() != 0) {
    BlockId& last = seq->blocks.back();
    if (NeedsCopyOnWrite(*seq)) {
      const BlockId copy = TakeFreeBlock();
      result.copy = BlockCopy{/*src=*/last, /*dst=*/copy};
      allocator_.Release(last);
      last = copy;
    } else {
      // The sequence owns the block alone, but the block may still be published under the full
      // content it had before a truncation: unpublish it before overwriting.
      prefix_cache_.Erase(last);
    }
  }
  result.slots.reserve(num_positions);
  for (uint64_t key : keys) {
    const int position = static_cast<int>(seq->keys.size());
    if (position % block_size() == 0) seq->blocks.push_back(TakeFreeBlock());
    seq->keys.push_back(key);
    result.slots.push_back(SlotOf(*seq, position));
    if (seq->keys.size() % block_size() == 0) PublishLastBlock(*seq);
  }
  return result;
}

absl::Status KvCacheManager::Fork(SeqId parent, SeqId child) {
  ASSIGN_OR_RETURN(const Sequence* parent_seq, Find(parent));
  if (sequences_.contains(child)) {
    return absl::AlreadyExistsError(absl::StrFormat("sequence %d already has blocks", child));
  }
  Sequence child_seq = *parent_seq;  // Copied before emplace() may move the parent.
  for (BlockId block : child_seq.blocks) allocator_.AddRef(block);
  sequences_.emplace(child, std::move(child_seq));
  return absl::OkStatus();
}

absl::Status KvCacheManager::Truncate(SeqId seq_id, int num_positions) {
  ASSIGN_OR_RETURN(Sequence * seq, Find(seq_id));
  if (num_positions < 0 || num_positions > static_cast<int>(seq->keys.size())) {
    return absl::InvalidArgumentError(
        absl::StrFormat("num_positions: cannot truncate sequence %d of %d positions to %d", seq_id,
                        seq->keys.size(), num_positions));
  }
  ReleaseBlocksFrom(*seq, NumBlocksFor(num_positions));
  seq->keys.resize(num_positions);
  seq->block_hashes.resize(num_positions / block_size());
  return absl::OkStatus();
}

absl::Status KvCacheManager::Free(SeqId seq_id) {
  ASSIGN_OR_RETURN(Sequence * seq, Find(seq_id));
  ReleaseBlocksFrom(*seq, 0);
  sequences_.erase(seq_id);
  return absl::OkStatus();
}

absl::StatusOr<absl::Span<const BlockId>> KvCacheManager::BlockTable(SeqId seq_id) const {
  ASSIGN_OR_RETURN(const Sequence* seq, Find(seq_id));
  return absl::MakeConstSpan(seq->blocks);
}

absl::StatusOr<int> KvCacheManager::NumPositions(SeqId seq_id) const {
  ASSIGN_OR_RETURN(const Sequence* seq, Find(seq_id));
  return static_cast<int>(seq->keys.size());
}

absl::StatusOr<int64_t> KvCacheManager::Slot(SeqId seq_id, int position) const {
  ASSIGN_OR_RETURN(const Sequence* seq, Find(seq_id));
  if (position < 0 || position >= static_cast<int>(seq->keys.size())) {
    return absl::OutOfRangeError(absl::StrFormat(
        "position %d is outside sequence %d of %d positions", position, seq_id, seq->keys.size()));
  }
  return SlotOf(*seq, position);
}

absl::StatusOr<std::vector<int64_t>> KvCacheManager::SlotMapping(SeqId seq_id, int begin,
                                                                 int end) const {
  ASSIGN_OR_RETURN(const Sequence* seq, Find(seq_id));
  if (begin < 0 || begin > end || end > static_cast<int>(seq->keys.size())) {
    return absl::OutOfRangeError(
        absl::StrFormat("positions [%d, %d) are outside sequence %d of %d positions", begin, end,
                        seq_id, seq->keys.size()));
  }
  std::vector<int64_t> slots;
  slots.reserve(end - begin);
  for (int position = begin; position < end; ++position) slots.push_back(SlotOf(*seq, position));
  return slots;
}

absl::StatusOr<KvCacheManager::Sequence*> KvCacheManager::Find(SeqId seq_id) {
  auto it = sequences_.find(seq_id);
  if (it == sequences_.end()) {
    return absl::NotFoundError(absl::StrFormat("sequence %d has no KV-cache blocks", seq_id));
  }
  return &it->second;
}

absl::StatusOr<const KvCacheManager::Sequence*> KvCacheManager::Find(SeqId seq_id) const {
  auto it = sequences_.find(seq_id);
  if (it == sequences_.end()) {
    return absl::NotFoundError(absl::StrFormat("sequence %d has no KV-cache blocks", seq_id));
  }
  return &it->second;
}

int KvCacheManager::NumBlocksFor(int num_positions) const {
  return (num_positions + block_size() - 1) / block_size();
}

int KvCacheManager::NumMatchableBlocks(int num_positions) const {
  return num_positions == 0 ? 0 : (num_positions - 1) / block_size();
}

std::vector<uint64_t> KvCacheManager::FullBlockHashes(absl::Span<const uint64_t> keys,
                                                      int num_blocks) const {
  std::vector<uint64_t> hashes;
  hashes.reserve(num_blocks);
  uint64_t parent = PrefixCache::kRootHash;
  for (int i = 0; i < num_blocks; ++i) {
    parent = PrefixCache::BlockHash(parent, keys.subspan(i * block_size(), block_size()));
    hashes.push_back(parent);
  }
  return hashes;
}

std::vector<BlockId> KvCacheManager::CachedPrefix(absl::Span<const uint64_t> full_block_hashes,
                                                  int num_positions) const {
  if (!options_.enable_prefix_cache) return {};
  return prefix_cache_.LongestPrefix(full_block_hashes.first(NumMatchableBlocks(num_positions)));
}

int KvCacheManager::FreeBlocksNeededToAllocate(int num_positions,
                                               absl::Span<const BlockId> hits) const {
  const int num_free_hits =
      static_cast<int>(std::count_if(hits.begin(), hits.end(), [this](BlockId block) {
        return allocator_.ref_count(block) == 0;
      }));
  return NumBlocksFor(num_positions) - static_cast<int>(hits.size()) + num_free_hits;
}

int KvCacheManager::FreeBlocksNeededToAppend(const Sequence& seq, int num_positions) const {
  if (num_positions == 0) return 0;
  const int num_positions_before = static_cast<int>(seq.keys.size());
  const int num_copies = NeedsCopyOnWrite(seq) ? 1 : 0;
  return NumBlocksFor(num_positions_before + num_positions) - NumBlocksFor(num_positions_before) +
         num_copies;
}

bool KvCacheManager::NeedsCopyOnWrite(const Sequence& seq) const {
  return seq.keys.size() % block_size() != 0 && allocator_.ref_count(seq.blocks.back()) > 1;
}

BlockId KvCacheManager::TakeFreeBlock() {
  const std::optional<BlockId> block = allocator_.Allocate();
  CHECK(block.has_value()) << "callers check num_free_blocks() first";
  prefix_cache_.Erase(*block);
  return *block;
}

void KvCacheManager::PublishLastBlock(Sequence& seq) {
  const uint64_t parent =
      seq.block_hashes.empty() ? PrefixCache::kRootHash : seq.block_hashes.back();
  const uint64_t hash = PrefixCache::BlockHash(
      parent, absl::MakeConstSpan(seq.keys).last(static_cast<size_t>(block_size())));
  seq.block_hashes.push_back(hash);
  if (options_.enable_prefix_cache) prefix_cache_.Insert(hash, seq.blocks.back());
}

void KvCacheManager::ReleaseBlocksFrom(Sequence& seq, int first) {
  for (int i = static_cast<int>(seq.blocks.size()) - 1; i >= first; --i) {
    allocator_.Release(seq.blocks[i]);
  }
  seq.blocks.resize(first);
}

int64_t KvCacheManager::SlotOf(const Sequence& seq, int position) const {
  return int64_t{seq.blocks[position / block_size()]} * block_size() + position % block_size();
}

}  // namespace infusion::engine
