// Randomized operations against a shadow executor: a fake cache content array, indexed by slot,
// that receives every write the real executor would do. Every sequence must keep reading back
// the keys it wrote, and no write may land in a block that another live sequence holds.
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "engine/kv_cache/kv_cache_manager.h"
#include "gtest/gtest.h"

namespace infusion::engine {
namespace {

constexpr int kNumBlocks = 64;
constexpr int kBlockSize = 4;
constexpr int kNumOperations = 20000;
constexpr int kMaxLiveSequences = 12;
constexpr uint64_t kUnwritten = ~uint64_t{0};

class KvCacheManagerRandomTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    KvCacheManagerOptions options;
    options.num_blocks = kNumBlocks;
    options.block_size = kBlockSize;
    options.enable_prefix_cache = GetParam();
    manager_ = std::move(KvCacheManager::Create(options)).value();
    content_.assign(kNumBlocks * kBlockSize, kUnwritten);
    // Prompts start with a prefix of one of these, so that prefix-cache hits are common.
    for (auto& prefix : shared_prefixes_) {
      for (int i = 0; i < 6 * kBlockSize; ++i) prefix.push_back(RandomKey());
    }
  }

  uint64_t RandomKey() { return std::uniform_int_distribution<uint64_t>(0, 7)(rng_); }
  int RandomInt(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  SeqId RandomLiveSequence() {
    auto it = keys_.begin();
    std::advance(it, RandomInt(0, static_cast<int>(keys_.size()) - 1));
    return it->first;
  }

  // By value: a range-for over BlockTable(...).value() would outlive the StatusOr.
  absl::Span<const BlockId> Table(SeqId seq_id) const {
    return manager_->BlockTable(seq_id).value();
  }

  void Step() {
    const int dice = RandomInt(0, 99);
    if (keys_.empty() || (dice < 30 && keys_.size() < kMaxLiveSequences)) {
      Allocate();
    } else if (dice < 60) {
      Append();
    } else if (dice < 70 && keys_.size() < kMaxLiveSequences) {
      Fork();
    } else if (dice < 80) {
      Truncate();
    } else {
      Free();
    }
  }

  void Allocate() {
    const auto& prefix = shared_prefixes_[RandomInt(0, 2)];
    std::vector<uint64_t> keys(prefix.begin(), prefix.begin() + RandomInt(0, prefix.size()));
    for (int n = RandomInt(1, 2 * kBlockSize); n > 0; --n) keys.push_back(RandomKey());

    const AdmissionCost cost = manager_->CostToAllocate(keys);
    const int free_before = manager_->num_free_blocks();
    const SeqId seq_id = next_seq_id_++;
    absl::StatusOr<int> cached = manager_->Allocate(seq_id, keys);
    if (cost.num_free_blocks_needed > free_before) {
      ASSERT_EQ(cached.status().code(), absl::StatusCode::kResourceExhausted);
      ASSERT_EQ(manager_->num_free_blocks(), free_before);
      ++num_rejections_;
      return;
    }
    ASSERT_TRUE(cached.ok()) << cached.status();
    ASSERT_EQ(*cached, cost.num_cached_positions);
    ASSERT_LT(*cached, static_cast<int>(keys.size()));
    ASSERT_EQ(free_before - manager_->num_free_blocks(), cost.num_free_blocks_needed);
    keys_[seq_id] = keys;
    // Prefill computes the positions that were not hits.
    const std::vector<int64_t> slots = manager_->SlotMapping(seq_id, *cached, keys.size()).value();
    WriteAsExecutor(seq_id, slots, absl::MakeConstSpan(keys).subspan(*cached));
  }

  void Append() {
    const SeqId seq_id = RandomLiveSequence();
    std::vector<uint64_t> keys(RandomInt(1, 2 * kBlockSize));
    for (uint64_t& key : keys) key = RandomKey();

    const int needed = manager_->FreeBlocksNeededToAppend(seq_id, keys.size()).value();
    const int free_before = manager_->num_free_blocks();
    ASSERT_EQ(manager_->CanAppend(seq_id, keys.size()), needed <= free_before);
    absl::StatusOr<AppendResult> result = manager_->Append(seq_id, keys);
    if (needed > free_before) {
      ASSERT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted);
      ASSERT_EQ(manager_->num_free_blocks(), free_before);
      ++num_rejections_;
      return;
    }
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(free_before - manager_->num_free_blocks(), needed);
    if (result->copy.has_value()) {
      std::copy_n(content_.begin() + result->copy->src * kBlockSize, kBlockSize,
                  content_.begin() + result->copy->dst * kBlockSize);
      ++num_copies_;
    }
    auto& written = keys_[seq_id];
    written.insert(written.end(), keys.begin(), keys.end());
    WriteAsExecutor(seq_id, result->slots, keys);
  }

  void Fork() {
    const SeqId parent = RandomLiveSequence();
    const SeqId child = next_seq_id_++;
    const int free_before = manager_->num_free_blocks();
    ASSERT_TRUE(manager_->Fork(parent, child).ok());
    ASSERT_EQ(manager_->num_free_blocks(), free_before);
    keys_[child] = keys_[parent];
  }

  void Truncate() {
    const SeqId seq_id = RandomLiveSequence();
    const int num_positions = RandomInt(0, keys_[seq_id].size());
    ASSERT_TRUE(manager_->Truncate(seq_id, num_positions).ok());
    keys_[seq_id].resize(num_positions);
  }

  void Free() {
    const SeqId seq_id = RandomLiveSequence();
    ASSERT_TRUE(manager_->Free(seq_id).ok());
    keys_.erase(seq_id);
  }

  // Writes `keys` at `slots` of live sequence `writer`, after checking that `writer` is the only
  // live holder of each block written.
  void WriteAsExecutor(SeqId writer, absl::Span<const int64_t> slots,
                       absl::Span<const uint64_t> keys) {
    ASSERT_EQ(slots.size(), keys.size());
    absl::flat_hash_map<BlockId, std::vector<SeqId>> holders;
    for (const auto& [seq_id, unused] : keys_) {
      for (BlockId block : Table(seq_id)) holders[block].push_back(seq_id);
    }
    for (size_t i = 0; i < slots.size(); ++i) {
      const BlockId block = slots[i] / kBlockSize;
      ASSERT_EQ(holders[block], std::vector<SeqId>{writer})
          << "sequence " << writer << " writes slot " << slots[i];
      content_[slots[i]] = keys[i];
    }
  }

  // Every live sequence reads back what it wrote, and the used blocks are exactly those held.
  void CheckInvariants() {
    absl::flat_hash_set<BlockId> held;
    for (const auto& [seq_id, keys] : keys_) {
      ASSERT_EQ(manager_->NumPositions(seq_id).value(), static_cast<int>(keys.size()));
      const absl::Span<const BlockId> table = Table(seq_id);
      ASSERT_EQ(table.size(), (keys.size() + kBlockSize - 1) / kBlockSize);
      held.insert(table.begin(), table.end());
      const std::vector<int64_t> slots = manager_->SlotMapping(seq_id, 0, keys.size()).value();
      for (size_t i = 0; i < keys.size(); ++i) {
        ASSERT_EQ(content_[slots[i]], keys[i]) << "sequence " << seq_id << " position " << i;
      }
    }
    ASSERT_EQ(manager_->num_used_blocks(), static_cast<int>(held.size()));
  }

  std::mt19937_64 rng_{20240601};
  std::unique_ptr<KvCacheManager> manager_;
  std::vector<uint64_t> content_;  // [num_blocks * block_size]: the key whose K/V a slot holds.
  std::vector<uint64_t> shared_prefixes_[3];
  std::map<SeqId, std::vector<uint64_t>> keys_;  // Live sequences and the keys they wrote.
  SeqId next_seq_id_ = 0;
  int num_rejections_ = 0;
  int num_copies_ = 0;
};

TEST_P(KvCacheManagerRandomTest, EveryBlockReturnsAndNoSharedBlockIsOverwritten) {
  for (int i = 0; i < kNumOperations; ++i) {
    ASSERT_NO_FATAL_FAILURE(Step()) << "operation " << i;
    ASSERT_NO_FATAL_FAILURE(CheckInvariants()) << "after operation " << i;
  }
  // The run must have exercised the paths it claims to test.
  EXPECT_GT(num_rejections_, 0);
  EXPECT_GT(num_copies_, 0);
  if (GetParam()) {
    EXPECT_GT(manager_->prefix_cache_hit_blocks(), 100);
  }

  while (!keys_.empty()) ASSERT_NO_FATAL_FAILURE(Free());
  EXPECT_EQ(manager_->num_free_blocks(), kNumBlocks);
  EXPECT_EQ(manager_->num_used_blocks(), 0);
}

INSTANTIATE_TEST_SUITE_P(PrefixCache, KvCacheManagerRandomTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Enabled" : "Disabled"; });

}  // namespace
}  // namespace infusion::engine
