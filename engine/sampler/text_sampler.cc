#include "engine/sampler/text_sampler.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "common/status_macros.h"
#include "engine/sampler/logits_processors.h"

namespace infusion {
namespace {

// The chosen token's logprob and the `n` most likely tokens, from the raw logits.
void FillLogprobs(absl::Span<const float> logits, int32_t n, SampledToken* sampled) {
  const std::vector<float> logprobs = LogSoftmax(logits);
  sampled->logprob = logprobs[sampled->token_id];
  std::vector<int32_t> order(logprobs.size());
  std::iota(order.begin(), order.end(), 0);
  const size_t top = std::min(order.size(), static_cast<size_t>(n));
  std::partial_sort(order.begin(), order.begin() + top, order.end(),
                    [&logprobs](int32_t a, int32_t b) { return logprobs[a] > logprobs[b]; });
  sampled->top_logprobs.clear();
  for (size_t i = 0; i < top; ++i) sampled->top_logprobs.push_back({order[i], logprobs[order[i]]});
}

}  // namespace

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
  if (params_.logprobs > 0) FillLogprobs(logits, params_.logprobs, &sampled);
  seen_token_ids_.insert(sampled.token_id);
  return sampled;
}

}  // namespace infusion
