// A seeded random source whose streams are the same on every platform.
#ifndef INFUSION_ENGINE_SAMPLER_RNG_H_
#define INFUSION_ENGINE_SAMPLER_RNG_H_

#include <cstdint>
#include <optional>
#include <random>

namespace infusion::engine {

// The standard fixes std::mt19937_64's output bit for bit, but not the algorithms of
// std::uniform_real_distribution or std::normal_distribution; the variates are therefore derived
// here, so that a request's seed reproduces its tokens and images with any standard library.
// (Only std::log/cos/sin may differ in the last bit between C libraries.)
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}

  // Uniform on [0, 1): the top 53 bits of one engine output, times 2^-53.
  double Uniform();

  // Standard normal by the Box–Muller transform of two Uniform() draws. The transform yields two
  // independent values; the second is returned by the next call.
  double Normal();

 private:
  std::mt19937_64 engine_;
  std::optional<double> spare_normal_;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_SAMPLER_RNG_H_
