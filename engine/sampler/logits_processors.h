// The steps of text sampling as small pure functions over one row of the vocabulary, applied by
// TextSampler in the order of HF's logits processors:
//   repetition penalty -> temperature (Softmax) -> TopK -> TopP -> MinP -> SampleFromProbs.
// The filters take probabilities and return them renormalised over the tokens they keep; zeroing
// a probability and renormalising equals HF's masking of the logit to -inf before the softmax.
#ifndef INFUSION_ENGINE_SAMPLER_LOGITS_PROCESSORS_H_
#define INFUSION_ENGINE_SAMPLER_LOGITS_PROCESSORS_H_

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/types/span.h"
#include "engine/sampler/rng.h"

namespace infusion::engine {

// As in CTRL (Keskar et al. 2019) and HF: the logit of every token in `seen_token_ids` is divided
// by `penalty` when positive and multiplied by it when negative, so penalty > 1 always makes a
// seen token less likely. Ids outside the row are ignored.
// logits: [vocab]
void ApplyRepetitionPenalty(const absl::flat_hash_set<int32_t>& seen_token_ids, float penalty,
                            absl::Span<float> logits);

// softmax(logits / temperature); temperature > 0. -inf logits get probability 0.
// logits: [vocab] -> [vocab]
std::vector<float> Softmax(absl::Span<const float> logits, float temperature);


// Keeps the tokens whose probability is at least the k-th largest (ties with it are kept, as in
// HF); k = 0 or k >= vocab keeps all.  TopK({0.1, 0.4, 0.2, 0.3}, 2) -> {0, 4/7, 0, 3/7}.
// probs: [vocab] -> [vocab]
std::vector<float> TopK(std::vector<float> probs, int32_t k);

// Nucleus sampling (Holtzman et al. 2020): keeps the smallest set of most likely tokens whose mass
// reaches top_p, and at least one.  TopP({0.1, 0.2, 0.3, 0.4}, 0.7) -> {0, 0, 0.429, 0.571}.
// probs: [vocab] -> [vocab]
std::vector<float> TopP(std::vector<float> probs, float top_p);

// Keeps the tokens whose probability is at least min_p times the largest one.
// MinP({0.5, 0.3, 0.15, 0.05}, 0.2) -> {0.5, 0.3, 0.15, 0} / 0.95.
// probs: [vocab] -> [vocab]
std::vector<float> MinP(std::vector<float> probs, float min_p);

// The index of the largest value; the lowest such index on ties. values: [vocab], non-empty.
int32_t Argmax(absl::Span<const float> values);

// Draws an index with probability probs[i] / sum(probs), using one rng->Uniform().
// probs: [vocab], non-negative with a positive sum.
int32_t SampleFromProbs(absl::Span<const float> probs, Rng* rng);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_SAMPLER_LOGITS_PROCESSORS_H_
