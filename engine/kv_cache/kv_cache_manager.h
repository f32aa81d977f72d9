// KV-cache bookkeeping for the engine: block tables, prefix sharing, copy-on-write, capacity.
//
// The K/V of every sequence lives in paged tensors, per layer [num_blocks, block_size,
// num_kv_heads, head_dim]. A sequence owns a block table; its position i lives in slot
// `block_table[i / block_size] * block_size + i % block_size`. This class decides which blocks
// and slots; the executor owns the tensors and writes the K/V there.
//
// Threading: not thread-safe. One engine thread owns the manager; the scheduler's plan and apply
// and the executor's table reads all run on it.
#ifndef INFUSION_ENGINE_KV_CACHE_KV_CACHE_MANAGER_H_
#define INFUSION_ENGINE_KV_CACHE_KV_CACHE_MANAGER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/kv_cache/block_allocator.h"
#include "engine/kv_cache/prefix_cache.h"

namespace infusion::engine {

using SeqId = int64_t;

struct KvCacheManagerOptions {
  int num_blocks = 0;   // Capacity; see KvCacheManager::NumBlocksForBudget().
  int block_size = 16;  // Positions per block.
  bool enable_prefix_cache = true;

  absl::Status Validate() const;
};

// What admitting a sequence would take, known before admitting it.
struct AdmissionCost {
  // Leading positions whose K/V is already cached: prefill can skip them.
  int num_cached_positions = 0;
  // New blocks plus cached blocks that no sequence holds (a hit takes those off the free list
  // too). Allocate() succeeds when this is at most num_free_blocks().
  int num_free_blocks_needed = 0;
};

// A block the executor copies (all layers, whole block) before writing the step's new K/V.
struct BlockCopy {
  BlockId src = 0;
  BlockId dst = 0;
};

struct AppendResult {
  std::vector<int64_t> slots;  // Slot of each appended position, in order.
  // Set when the sequence's last block was shared (after Fork or a truncation into a shared
  // block): the sequence now writes into `dst`, a private copy of `src`.
  std::optional<BlockCopy> copy;
};

// Position keys (engine/kv_cache/position_key.h) identify content: equal keys after an equal
// prefix must mean equal K/V. A block is published to the prefix cache as soon as its positions
// are all allocated, on the premise that the executor writes their K/V in the step being applied.
// A sequence admitted in the same step may then hit it, so the executor writes each layer's new
// K/V for the whole batch before that layer's attention reads the cache (as vLLM does).
// Positions whose K/V will be rewritten in place later (image patches being denoised) must have
// keys no other sequence produces (e.g. derived from a per-request nonce), or be truncated away
// before their block fills.
class KvCacheManager {
 public:
  static absl::StatusOr<std::unique_ptr<KvCacheManager>> Create(
      const KvCacheManagerOptions& options);

  // How many blocks fit in `bytes` of device memory, counting K and V of every layer.
  static absl::StatusOr<int> NumBlocksForBudget(size_t bytes, int num_layers, int num_kv_heads,
                                                int head_dim, int block_size,
                                                int bytes_per_element);

  KvCacheManager(const KvCacheManager&) = delete;
  KvCacheManager& operator=(const KvCacheManager&) = delete;

  // What Allocate(keys) would take now; no side effects. Of a sequence's full blocks only those
  // before its last position can be hits, because prefill must compute at least that position to
  // produce the next token's logits.
  AdmissionCost CostToAllocate(absl::Span<const uint64_t> keys) const;

  // Creates `seq_id`'s block table for the positions `keys`, sharing cached blocks for the longest
  // cached prefix. Returns the number of cached positions (a multiple of block_size, below
  // keys.size()); the executor computes and writes the rest.
  absl::StatusOr<int> Allocate(SeqId seq_id, absl::Span<const uint64_t> keys);

  // Free blocks that Append(seq_id, <num_positions keys>) would take; no side effects.
  absl::StatusOr<int> FreeBlocksNeededToAppend(SeqId seq_id, int num_positions) const;
  // False also for an unknown sequence, whose Append fails.
  bool CanAppend(SeqId seq_id, int num_positions) const;

  // Adds positions at the end of `seq_id`; on error nothing changes.
  absl::StatusOr<AppendResult> Append(SeqId seq_id, absl::Span<const uint64_t> keys);

  // Creates `child` sharing every block of `parent`, the partial last one included; takes no free
  // block (the first Append of either to a shared block copies it then).
  absl::Status Fork(SeqId parent, SeqId child);

  // Drops the positions from `num_positions` on (rollback of speculative or rejected positions).
  absl::Status Truncate(SeqId seq_id, int num_positions);

  // Releases all blocks of `seq_id` (finished, cancelled or preempted). Full blocks stay in the
  // prefix cache until their blocks are needed.
  absl::Status Free(SeqId seq_id);

  // Valid until the next call that changes `seq_id`.
  absl::StatusOr<absl::Span<const BlockId>> BlockTable(SeqId seq_id) const;
  absl::StatusOr<int> NumPositions(SeqId seq_id) const;
  absl::StatusOr<int64_t> Slot(SeqId seq_id, int position) const;
  // Slots of positions [begin, end) of `seq_id`: the executor's slot mapping for a chunk.
  absl::StatusOr<std::vector<int64_t>> SlotMapping(SeqId seq_id, int begin, int end) const;

  int block_size() const { return options_.block_size; }
  int num_blocks() const { return allocator_.num_total(); }
  // Free blocks include cached ones that no sequence holds: they are evicted on demand.
  int num_free_blocks() const { return allocator_.num_free(); }
  int num_used_blocks() const { return num_blocks() - num_free_blocks(); }
  // Fraction of blocks held by sequences, in [0, 1]: the KV-cache usage gauge.
  double usage() const { return static_cast<double>(num_used_blocks()) / num_blocks(); }
  // Prefix-cache lookups of admitted sequences, in blocks.
  int64_t prefix_cache_queried_blocks() const { return prefix_cache_.num_queried_blocks(); }
  int64_t prefix_cache_hit_blocks() const { return prefix_cache_.num_hit_blocks(); }

 private:
  struct Sequence {
    std::vector<uint64_t> keys;          // One per position.
    std::vector<BlockId> blocks;         // The block table: ceil(keys.size() / block_size).
    std::vector<uint64_t> block_hashes;  // Chained hash of each full block.
  };

  explicit KvCacheManager(const KvCacheManagerOptions& options);

  absl::StatusOr<Sequence*> Find(SeqId seq_id);
  absl::StatusOr<const Sequence*> Find(SeqId seq_id) const;

  int NumBlocksFor(int num_positions) const;
  // Full blocks that may be prefix-cache hits: those before the last position, which prefill must
  // compute to produce the next token's logits.
  int NumMatchableBlocks(int num_positions) const;
  // Chained hashes of the first `num_blocks` blocks of `keys`, all full.
  std::vector<uint64_t> FullBlockHashes(absl::Span<const uint64_t> keys, int num_blocks) const;
  // Cached blocks for the longest matchable prefix of a sequence of `num_positions` positions.
  std::vector<BlockId> CachedPrefix(absl::Span<const uint64_t> full_block_hashes,
                                    int num_positions) const;
  int FreeBlocksNeededToAllocate(int num_positions, absl::Span<const BlockId> hits) const;
  int FreeBlocksNeededToAppend(const Sequence& seq, int num_positions) const;
  // Whether the next Append to `seq` must copy its last block first: it is partial and shared.
  bool NeedsCopyOnWrite(const Sequence& seq) const;
  // Takes a free block, evicting whatever the prefix cache had in it.
  BlockId TakeFreeBlock();
  // Records the hash of `seq`'s last block, which just filled up, and publishes the block.
  void PublishLastBlock(Sequence& seq);
  // Releases blocks [first, end) of `seq`'s table, last first, so that a prefix's tail is evicted
  // before its head, which more sequences share.
  void ReleaseBlocksFrom(Sequence& seq, int first);
  int64_t SlotOf(const Sequence& seq, int position) const;

  const KvCacheManagerOptions options_;
  BlockAllocator allocator_;
  PrefixCache prefix_cache_;
  absl::flat_hash_map<SeqId, Sequence> sequences_;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_KV_CACHE_KV_CACHE_MANAGER_H_
