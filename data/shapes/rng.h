// The random source of every shapes generator. The same seed gives the same data on every
// platform: std::mt19937_64's output sequence is fixed by the C++ standard, and draws are reduced
// with integer arithmetic here instead of std::uniform_int_distribution, whose results differ
// between standard libraries.
#ifndef INFUSION_DATA_SHAPES_RNG_H_
#define INFUSION_DATA_SHAPES_RNG_H_

#include <cstdint>
#include <random>

#include "common/logging.h"

namespace infusion::data::shapes {

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}

  // Uniform in [0, n), n > 0. One 64-bit draw modulo n: the bias, below n / 2^64, is immaterial.
  int Below(int n) {
    CHECK_GT(n, 0);
    return static_cast<int>(engine_() % static_cast<uint64_t>(n));
  }

  // Uniform in [lo, hi], lo <= hi.
  int Between(int lo, int hi) { return lo + Below(hi - lo + 1); }

  // A uniformly chosen element of a non-empty std::array or std::vector.
  template <typename Container>
  const typename Container::value_type& Pick(const Container& items) {
    return items[Below(static_cast<int>(items.size()))];
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace infusion::data::shapes

#endif  // INFUSION_DATA_SHAPES_RNG_H_
