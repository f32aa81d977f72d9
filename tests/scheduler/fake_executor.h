// A torch-free executor for scheduler tests. It keeps a shadow KV cache (one 64-bit content value
// per slot) and makes its outputs depend on what the span reads through its block table, so any
// bookkeeping mistake of the scheduler (a wrong table, a stale or shared block written by another
// owner, a lost position) changes some request's tokens or image.
#ifndef INFUSION_TESTS_SCHEDULER_FAKE_EXECUTOR_H_
#define INFUSION_TESTS_SCHEDULER_FAKE_EXECUTOR_H_

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "engine/executor/executor.h"

namespace infusion::testing {

class FakeExecutor : public engine::Executor {
 public:
  static constexpr int kFirstTextToken = 10;  // ids below are special tokens
  static constexpr int kNumTextTokens = 40;

  FakeExecutor(int num_blocks, int block_size, int num_patches = 4, int patch_dim = 2,
               int max_positions = 512) {
    info_.vocab_size = 64;
    info_.num_patches = num_patches;
    info_.patch_dim = patch_dim;
    info_.num_kv_blocks = num_blocks;
    info_.block_size = block_size;
    info_.max_positions = max_positions;
    cache_.assign(static_cast<size_t>(num_blocks) * block_size, kPoison);
  }

  const engine::ExecutorInfo& info() const override { return info_; }

  // Forces the token sampled after a context whose last token is `after` (e.g. <boi>).
  void ForceNextToken(int after, int next) {
    forced_after_ = after;
    forced_next_ = next;
  }

  engine::StepResult Execute(const engine::StepPlan& plan) override {
    plans_.push_back(plan);
    engine::StepResult result;
    result.spans.resize(plan.spans.size());
    for (const auto& [src, dst] : plan.block_copies) {
      std::memmove(&cache_[dst * info_.block_size], &cache_[src * info_.block_size],
                   sizeof(uint64_t) * info_.block_size);
    }
    // Writes first (as the real executor does per layer), then reads.
    for (const engine::Span& span : plan.spans) {
      for (size_t i = 0; i < span.slots.size(); ++i) {
        const int pos = span.start_position + static_cast<int>(i);
        const int64_t expected = static_cast<int64_t>(span.block_table[pos / info_.block_size]) *
                                     info_.block_size + pos % info_.block_size;
        if (span.slots[i] != expected) ++errors_;
        cache_[span.slots[i]] = Content(span, static_cast<int>(i));
      }
    }
    for (size_t s = 0; s < plan.spans.size(); ++s) {
      const engine::Span& span = plan.spans[s];
      uint64_t h = 1469598103934665603ull;
      for (int p = 0; p < span.start_position; ++p) {
        const int64_t slot = static_cast<int64_t>(span.block_table[p / info_.block_size]) *
                                 info_.block_size + p % info_.block_size;
        if (cache_[slot] == kPoison) ++errors_;
        h = Mix(h, cache_[slot]);
      }
      for (int i = 0; i < span.num_positions(); ++i) h = Mix(h, Content(span, i));
      engine::SpanResult& r = result.spans[s];
      if (span.want_logits) {
        r.logits.assign(info_.vocab_size, 0.0f);
        int next = kFirstTextToken + static_cast<int>(h % kNumTextTokens);
        if (forced_after_ >= 0 && span.tokens.back() == forced_after_) next = forced_next_;
        r.logits[next] = 10.0f;
      }
      for (const engine::SpanImage& image : span.images) {
        if (!image.predict_noise) continue;
        std::vector<float> eps(info_.num_patches * info_.patch_dim);
        for (size_t i = 0; i < eps.size(); ++i) {
          eps[i] = 0.5f * std::sin(static_cast<float>((h >> (i % 32)) % 1000) + image.timestep);
        }
        r.eps.push_back(std::move(eps));
      }
    }
    return result;
  }

  const std::vector<engine::StepPlan>& plans() const { return plans_; }
  void ClearPlans() { plans_.clear(); }
  // Slot writes off the block table, or reads of never-written slots.
  int errors() const { return errors_; }

 private:
  static constexpr uint64_t kPoison = ~0ull;
  static uint64_t Mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 1099511628211ull;
  }
  // The content of span position i: its token, or for an image position its patch values.
  uint64_t Content(const engine::Span& span, int i) const {
    for (const engine::SpanImage& image : span.images) {
      const int in_span = info_.num_patches - image.first_patch;
      if (i >= image.offset && i < image.offset + in_span) {
        const int patch = image.first_patch + i - image.offset;
        uint64_t h = 7;
        for (int k = 0; k < info_.patch_dim; ++k) {
          float v = image.patches[patch * info_.patch_dim + k];
          uint32_t bits;
          std::memcpy(&bits, &v, 4);
          h = Mix(h, bits);
        }
        return Mix(h, static_cast<uint64_t>(image.timestep * 1000));
      }
    }
    return static_cast<uint64_t>(span.tokens[i]);
  }

  engine::ExecutorInfo info_;
  std::vector<uint64_t> cache_;
  std::vector<engine::StepPlan> plans_;
  int errors_ = 0;
  int forced_after_ = -1, forced_next_ = -1;
};

}  // namespace infusion::testing

#endif  // INFUSION_TESTS_SCHEDULER_FAKE_EXECUTOR_H_
