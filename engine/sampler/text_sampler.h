// Picks the next text token of one request from the model's logits.
#ifndef INFUSION_ENGINE_SAMPLER_TEXT_SAMPLER_H_
#define INFUSION_ENGINE_SAMPLER_TEXT_SAMPLER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/sampler/rng.h"
#include "engine/sampler/sampling_params.h"

namespace infusion::engine {

struct SampledToken {
  int32_t token_id = 0;
};

// The sampling state of one request: its own seeded RNG, so that concurrent requests do not
// perturb each other's streams, and the set of tokens seen so far for the repetition penalty.
// Not thread-safe; owned by the request, used by the engine thread.
class TextSampler {
 public:
  // `prompt_token_ids` start the history the repetition penalty looks at.
  static absl::StatusOr<std::unique_ptr<TextSampler>> Create(
      const SamplingParams& params, absl::Span<const int32_t> prompt_token_ids);

  TextSampler(const TextSampler&) = delete;
  TextSampler& operator=(const TextSampler&) = delete;

  // Samples the next token (see logits_processors.h for the steps) and adds it to the history.
  // logits: [vocab]
  SampledToken Sample(absl::Span<const float> logits);

  // Adds a token the caller placed without sampling (a forced <boi>, an <eoi> after an image), so
  // that the repetition penalty sees the same history as the model.
  void AppendToken(int32_t token_id) { seen_token_ids_.insert(token_id); }

 private:
  TextSampler(const SamplingParams& params, absl::Span<const int32_t> prompt_token_ids);

  const SamplingParams params_;
  Rng rng_;
  absl::flat_hash_set<int32_t> seen_token_ids_;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_SAMPLER_TEXT_SAMPLER_H_
