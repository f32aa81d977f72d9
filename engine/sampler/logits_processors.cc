#include "engine/sampler/logits_processors.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/logging.h"

namespace infusion::engine {
namespace {

// Divides by the sum, so the kept probabilities add up to 1 again.
std::vector<float> Normalized(std::vector<float> probs) {
  const double sum = std::accumulate(probs.begin(), probs.end(), 0.0);
  CHECK_GT(sum, 0.0) << "all probabilities are zero";
  for (float& p : probs) p = static_cast<float>(p / sum);
  return probs;
}

float MaxFinite(absl::Span<const float> logits) {
  CHECK(!logits.empty());
  const float max = *std::max_element(logits.begin(), logits.end());
  CHECK(std::isfinite(max)) << "no finite logit in the row (max " << max << ")";
  return max;
}

}  // namespace

void ApplyRepetitionPenalty(const absl::flat_hash_set<int32_t>& seen_token_ids, float penalty,
                            absl::Span<float> logits) {
  for (const int32_t id : seen_token_ids) {
    if (id < 0 || static_cast<size_t>(id) >= logits.size()) continue;
    float& logit = logits[id];
    logit = logit > 0.0f ? logit / penalty : logit * penalty;
  }
}

std::vector<float> Softmax(absl::Span<const float> logits, float temperature) {
  CHECK_GT(temperature, 0.0f);
  const float max = MaxFinite(logits);
  std::vector<float> probs(logits.size());
  double sum = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    probs[i] = std::exp((logits[i] - max) / temperature);
    sum += probs[i];
  }
  for (float& p : probs) p = static_cast<float>(p / sum);
  return probs;
}

std::vector<float> TopK(std::vector<float> probs, int32_t k) {
  if (k <= 0 || static_cast<size_t>(k) >= probs.size()) return probs;
  std::vector<float> sorted = probs;
  std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(), std::greater<float>());
  const float kth = sorted[k - 1];
  for (float& p : probs) {
    if (p < kth) p = 0.0f;
  }
  return Normalized(std::move(probs));
}

std::vector<float> TopP(std::vector<float> probs, float top_p) {
  if (top_p >= 1.0f) return probs;
  std::vector<int32_t> order(probs.size());
  std::iota(order.begin(), order.end(), 0);
  const auto more_likely = [&probs](int32_t a, int32_t b) { return probs[a] > probs[b]; };
  // The mass is usually reached within a few dozen tokens, so `order` is sorted only as far as
  // needed, in doubling prefixes, rather than over the whole vocabulary.
  size_t sorted = 0;
  size_t kept = 0;
  double mass = 0.0;
  while (kept < order.size() && (kept == 0 || mass < top_p)) {
    if (kept == sorted) {
      const size_t next = std::min(order.size(), std::max<size_t>(64, 2 * sorted));
      std::partial_sort(order.begin() + sorted, order.begin() + next, order.end(), more_likely);
      sorted = next;
    }
    mass += probs[order[kept++]];
  }
  for (size_t i = kept; i < order.size(); ++i) probs[order[i]] = 0.0f;
  return Normalized(std::move(probs));
}

std::vector<float> MinP(std::vector<float> probs, float min_p) {
  if (min_p <= 0.0f || probs.empty()) return probs;
  const float threshold = min_p * *std::max_element(probs.begin(), probs.end());
  for (float& p : probs) {
    if (p < threshold) p = 0.0f;
  }
  return Normalized(std::move(probs));
}

int32_t Argmax(absl::Span<const float> values) {
  CHECK(!values.empty());
  return static_cast<int32_t>(std::max_element(values.begin(), values.end()) - values.begin());
}

int32_t SampleFromProbs(absl::Span<const float> probs, Rng* rng) {
  const double sum = std::accumulate(probs.begin(), probs.end(), 0.0);
  CHECK_GT(sum, 0.0) << "all probabilities are zero";
  const double target = rng->Uniform() * sum;
  double cumulative = 0.0;
  int32_t last_positive = -1;
  for (size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] <= 0.0f) continue;
    cumulative += probs[i];
    last_positive = static_cast<int32_t>(i);
    if (target < cumulative) return last_positive;
  }
  // Reached only when rounding left `cumulative` a hair below `target`.
  return last_positive;
}

}  // namespace infusion::engine
