#include "engine/sampler/rng.h"

#include <cmath>

namespace infusion::engine {
namespace {

constexpr double kTwoPi = 6.283185307179586476925286766559;

}  // namespace

double Rng::Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

double Rng::Normal() {
  if (spare_normal_.has_value()) {
    const double z = *spare_normal_;
    spare_normal_.reset();
    return z;
  }
  const double u1 = 1.0 - Uniform();  // (0, 1]: log(u1) is finite.
  const double u2 = Uniform();
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double angle = kTwoPi * u2;
  spare_normal_ = radius * std::sin(angle);
  return radius * std::cos(angle);
}

}  // namespace infusion::engine
