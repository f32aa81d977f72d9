#include "engine/sampler/rng.h"

#include <cmath>
#include <cstdint>
#include <random>

#include "gtest/gtest.h"

namespace infusion::engine {
namespace {

constexpr double kTwoPi = 6.283185307179586476925286766559;

double UniformFrom(uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

TEST(RngTest, UniformIsTheTop53BitsOfTheStandardEngine) {
  // The standard fixes mt19937_64's stream: with its default seed 5489 the first output is
  // 14514284786278117030, so the first uniform is that / 2^64.
  Rng rng(/*seed=*/5489);
  const double u = rng.Uniform();
  EXPECT_EQ(u, UniformFrom(14514284786278117030ULL));
  EXPECT_NEAR(u, 14514284786278117030.0 / 18446744073709551616.0, 1e-15);
}

TEST(RngTest, NormalIsBoxMullerOfTwoUniformsInPairs) {
  std::mt19937_64 engine(42);
  const double u1 = 1.0 - UniformFrom(engine());
  const double u2 = UniformFrom(engine());
  const double radius = std::sqrt(-2.0 * std::log(u1));

  Rng rng(/*seed=*/42);
  EXPECT_DOUBLE_EQ(rng.Normal(), radius * std::cos(kTwoPi * u2));
  EXPECT_DOUBLE_EQ(rng.Normal(), radius * std::sin(kTwoPi * u2));
}

TEST(RngTest, SameSeedSameStreamOtherSeedOtherStream) {
  Rng a(7), b(7), c(8);
  for (int i = 0; i < 10; ++i) {
    const double value = a.Normal();
    EXPECT_EQ(value, b.Normal());
    EXPECT_NE(value, c.Normal());
  }
}

TEST(RngTest, NormalHasZeroMeanAndUnitVariance) {
  Rng rng(/*seed=*/1);
  constexpr int kDraws = 100000;
  double sum = 0.0, sum_squares = 0.0;
  for (int i = 0; i < kDraws; ++i) {
    const double z = rng.Normal();
    sum += z;
    sum_squares += z * z;
  }
  // Standard errors: 1/sqrt(n) = 0.0032 for the mean, sqrt(2/n) = 0.0045 for the variance.
  EXPECT_NEAR(sum / kDraws, 0.0, 0.015);
  EXPECT_NEAR(sum_squares / kDraws, 1.0, 0.02);
}

}  // namespace
}  // namespace infusion::engine
