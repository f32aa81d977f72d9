#include "data/shapes/split.h"

namespace infusion::data::shapes {

uint64_t StableHash(std::string_view text) {
  constexpr uint64_t kOffsetBasis = 0xcbf29ce484222325ULL;
  constexpr uint64_t kPrime = 0x100000001b3ULL;
  uint64_t hash = kOffsetBasis;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= kPrime;
  }
  return hash;
}

Split SplitOf(std::string_view key) {
  return StableHash(key) % 100 < kEvalPercent ? Split::kEval : Split::kTrain;
}

}  // namespace infusion::data::shapes
