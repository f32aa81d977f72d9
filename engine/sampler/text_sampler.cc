#include "engine/sampler/text_sampler.h"

#include <algorithm>
#include <utility>

#include "common/status_macros.h"
#include "engine/sampler/logits_processors.h"

namespace infusion::engine {
absl::StatusOr<std::unique_ptr<TextSampler>> TextSampler::Create(
    const SamplingParams& params, absl::Span<const int32_t> prompt_token_ids) {
  RETURN_IF_ERROR(params.Validate());
  return std::unique_ptr<TextSampler>(new TextSampler(params, prompt_token_ids));
}

TextSampler::TextSampler(const SamplingParams& params, absl::Span<const int32_t> prompt_token_ids)
    : params_(params),
      rng_(params.seed),
      seen_token_ids_(prompt_token_ids.begin(), prompt_token_ids.end()) {}

SampledToken TextSampler::Sample(absl::Span<const float> logits) {
  std::vector<float> scores(logits.begin(), logits.end());
  if (params_.repetition_penalty != 1.0f) {
    ApplyRepetitionPenalty(seen_token_ids_, params_.repetition_penalty, absl::MakeSpan(scores));
  }
  SampledToken sampled;
  if (params_.temperature == 0.0f) {
    // The filters never remove the most likely token, so greedy needs none of them.
    sampled.token_id = Argmax(scores);
  } else {
    std::vector<float> probs = Softmax(scores, params_.temperature);
    probs = TopK(std::move(probs), params_.top_k);
    probs = TopP(std::move(probs), params_.top_p);
    probs = MinP(std::move(probs), params_.min_p);
    sampled.token_id = SampleFromProbs(probs, &rng_);
  }
  seen_token_ids_.insert(sampled.token_id);
  return sampled;
}

}  // namespace infusion::engine
