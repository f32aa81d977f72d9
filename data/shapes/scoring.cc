#include "data/shapes/scoring.h"

#include <algorithm>
#include <numeric>

#include "data/shapes/prompt_spec.h"

namespace infusion::data::shapes {

CaptionScore ScoreCaption(std::string_view caption, const std::vector<ObjectLabel>& truth) {
  CaptionScore score;
  score.num_objects = static_cast<int>(truth.size());
  const absl::StatusOr<std::vector<ObjectLabel>> named = ParseCanonicalCaption(caption);
  if (!named.ok()) return score;
  score.parsed = true;
  score.exact = SameObjects(*named, truth);
  score.count = named->size() == truth.size();

  // Pair truth[i] with (*named)[order[i]] for every permutation of max(#truth, #named) slots
  // (at most 3! of them); slots past either list's end stay unpaired.
  std::vector<size_t> order(std::max(truth.size(), named->size()));
  std::iota(order.begin(), order.end(), 0);
  CaptionScore best = score;
  int best_agreements = -1;
  do {
    CaptionScore candidate = score;
    for (size_t i = 0; i < truth.size(); ++i) {
      if (order[i] >= named->size()) continue;
      const ObjectLabel& guess = (*named)[order[i]];
      candidate.shape += guess.shape == truth[i].shape;
      candidate.color += guess.color == truth[i].color;
      candidate.position += guess.cell == truth[i].cell;
    }
    const int agreements = candidate.shape + candidate.color + candidate.position;
    if (agreements > best_agreements) {
      best_agreements = agreements;
      best = candidate;
    }
  } while (std::next_permutation(order.begin(), order.end()));
  return best;
}

bool SameObjects(std::vector<ObjectLabel> a, std::vector<ObjectLabel> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return a == b;
}

}  // namespace infusion::data::shapes
