// One sequence of the KV cache: the content of its positions (a token id and a prefix-cache key
// each, and the images whose patches occupy some of them) and its KV state (its blocks, and how
// far its K/V has been computed). The only owner of that state: positions and blocks change
// through these methods alone. Engine thread only.
#ifndef INFUSION_SCHEDULER_KV_SEQUENCE_H_
#define INFUSION_SCHEDULER_KV_SEQUENCE_H_

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/executor/step_plan.h"
#include "engine/kv_cache/kv_cache_manager.h"
#include "engine/prompt/prompt_part.h"

namespace infusion::scheduler {

class KvSequence {
 public:
  struct ImageRun {
    int start = 0;  // first position
    std::shared_ptr<const std::vector<float>> patches;  // [n * patch_dim]
  };

  // `kv_id` names the sequence in the KvCacheManager; `image_token` is the token id stored at
  // image positions (ignored by the model).
  KvSequence(engine::SeqId kv_id, int num_patches, int32_t image_token)
      : kv_id_(kv_id), n_(num_patches), image_token_(image_token) {}

  // --- content ---
  void Append(const std::vector<engine::PromptPart>& parts);
  void AppendTokens(const std::vector<int32_t>& tokens);
  void AppendImage(std::vector<float> patches, uint64_t hash);
  // Drops the content; the sequence must hold no blocks.
  void Clear();

  int size() const { return static_cast<int>(tokens_.size()); }
  const std::vector<int32_t>& tokens() const { return tokens_; }

  // The end of a chunk that starts at `begin` and has at most `max_len` positions, without
  // splitting an image: an image that starts inside the chunk ends inside it too; a chunk that
  // starts inside an image (its head cached) runs at least to the image's end. Returns `begin`
  // when no non-empty chunk fits.
  int ChunkEnd(int begin, int max_len) const;

  // --- KV state ---
  bool allocated() const { return allocated_; }
  int num_computed() const { return num_computed_; }
  int num_uncomputed() const { return size() - num_computed_; }
  // The first position to compute: after the computed ones, or, before allocation, after the
  // prefix-cache hit it would get now.
  int FirstToCompute(const engine::KvCacheManager& kv) const;
  // The positions [begin, end) to compute next, at most `max_len` of them, without splitting an
  // image (ChunkEnd); begin == end when nothing is left or no chunk fits.
  std::pair<int, int> NextChunk(const engine::KvCacheManager& kv, int max_len) const;
  // Free blocks that Reserve(end) would take now.
  int BlocksToReserve(const engine::KvCacheManager& kv, int end) const;
  // Takes cache slots for positions [0, end): allocates the sequence (reusing cached prefix
  // blocks) or appends to it, adding a copy-on-write block copy to `block_copies` when needed.
  // Returns the first position to compute, which a smaller-than-planned prefix hit can move back.
  absl::StatusOr<int> Reserve(engine::KvCacheManager* kv, int end,
                              std::vector<std::pair<int32_t, int32_t>>* block_copies);
  // A span that computes positions [begin, end), which Reserve must have covered.
  engine::Span MakeSpan(const engine::KvCacheManager& kv, engine::SpanKind kind, int64_t request_id,
                        int begin, int end) const;
  // A span that reads the whole sequence and writes nothing: n noisy patches whose values and
  // timestep the runner supplies.
  engine::Span MakeDenoiseSpan(const engine::KvCacheManager& kv, int64_t request_id,
                               bool guidance_row) const;
  // The K/V of positions [.., end) has been computed.
  void MarkComputed(int end) { num_computed_ = end; }
  // Frees the blocks (finished, cancelled, preempted); everything will be recomputed.
  void Release(engine::KvCacheManager* kv);

 private:
  const engine::SeqId kv_id_;
  const int n_;
  const int32_t image_token_;
  std::vector<int32_t> tokens_;
  std::vector<uint64_t> keys_;
  std::vector<ImageRun> images_;
  int num_computed_ = 0;  // K/V computed for positions [0, num_computed_)
  bool allocated_ = false;
};

}  // namespace infusion::scheduler

#endif  // INFUSION_SCHEDULER_KV_SEQUENCE_H_
