#include "engine/sampler/logits_processors.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace infusion::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::Pointwise;

constexpr float kTolerance = 1e-6f;

TEST(RepetitionPenaltyTest, DividesPositiveAndMultipliesNegativeLogitsOfSeenTokens) {
  std::vector<float> logits = {2.0f, -1.0f, 0.5f, -3.0f};
  ApplyRepetitionPenalty(/*seen_token_ids=*/{0, 1, 7}, /*penalty=*/2.0f, absl::MakeSpan(logits));
  // Token 7 is outside the row and ignored; 2 and 3 were not seen.
  EXPECT_THAT(logits, ElementsAre(1.0f, -2.0f, 0.5f, -3.0f));
}

TEST(SoftmaxTest, TemperatureSharpensOrFlattens) {
  const std::vector<float> logits = {std::log(1.0f), std::log(2.0f), std::log(3.0f)};
  EXPECT_THAT(Softmax(logits, /*temperature=*/1.0f),
              Pointwise(FloatNear(kTolerance), {1 / 6.0f, 2 / 6.0f, 3 / 6.0f}));
  // logits / 0.5 squares the odds: {1, 4, 9} / 14.
  EXPECT_THAT(Softmax(logits, /*temperature=*/0.5f),
              Pointwise(FloatNear(kTolerance), {1 / 14.0f, 4 / 14.0f, 9 / 14.0f}));
}

TEST(SoftmaxTest, MaskedLogitsGetZeroAndLargeLogitsDoNotOverflow) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_THAT(Softmax({1000.0f, -inf, 1000.0f}, /*temperature=*/1.0f),
              ElementsAre(0.5f, 0.0f, 0.5f));
}

TEST(TopKTest, KeepsTheKMostLikelyRenormalised) {
  EXPECT_THAT(TopK({0.1f, 0.4f, 0.2f, 0.3f}, 2),
              Pointwise(FloatNear(kTolerance), {0.0f, 4 / 7.0f, 0.0f, 3 / 7.0f}));
  EXPECT_THAT(TopK({0.1f, 0.4f, 0.2f, 0.3f}, 1), ElementsAre(0.0f, 1.0f, 0.0f, 0.0f));
}

TEST(TopKTest, KeepsTiesWithTheKthAndZeroOrLargeKIsOff) {
  EXPECT_THAT(TopK({0.4f, 0.2f, 0.2f, 0.2f}, 2),
              Pointwise(FloatNear(kTolerance), {0.4f, 0.2f, 0.2f, 0.2f}));
  EXPECT_THAT(TopK({0.1f, 0.9f}, 0), ElementsAre(0.1f, 0.9f));
  EXPECT_THAT(TopK({0.1f, 0.9f}, 5), ElementsAre(0.1f, 0.9f));
}

TEST(TopPTest, KeepsTheSmallestSetReachingTheMass) {
  // 0.4 + 0.3 reaches 0.7: {0.3, 0.4} / 0.7.
  EXPECT_THAT(TopP({0.1f, 0.2f, 0.3f, 0.4f}, 0.7f),
              Pointwise(FloatNear(1e-3f), {0.0f, 0.0f, 0.429f, 0.571f}));
  // Exactly reaching the mass is enough: 0.5 + 0.375 = 0.875 (exact in binary).
  EXPECT_THAT(TopP({0.125f, 0.375f, 0.5f}, 0.875f),
              Pointwise(FloatNear(kTolerance), {0.0f, 3 / 7.0f, 4 / 7.0f}));
  // 0.4 + 0.3 falls short of 0.75, so 0.2 joins: {0.2, 0.3, 0.4} / 0.9.
  EXPECT_THAT(TopP({0.1f, 0.2f, 0.3f, 0.4f}, 0.75f),
              Pointwise(FloatNear(kTolerance), {0.0f, 2 / 9.0f, 3 / 9.0f, 4 / 9.0f}));
}

TEST(TopPTest, KeepsAtLeastTheMostLikelyToken) {
  EXPECT_THAT(TopP({0.3f, 0.7f}, 0.01f), ElementsAre(0.0f, 1.0f));
}

TEST(TopPTest, SortsBeyondTheFirstPrefixOnAFlatVocabulary) {
  // 1000 equal tokens: reaching 0.5 needs 500 of them, past the first sorted prefixes.
  const std::vector<float> probs = TopP(std::vector<float>(1000, 0.001f), 0.5f);
  int kept = 0;
  for (const float p : probs) {
    if (p > 0.0f) {
      ++kept;
      EXPECT_NEAR(p, 1 / 500.0f, kTolerance);
    }
  }
  EXPECT_EQ(kept, 500);
}

TEST(MinPTest, KeepsTokensAtLeastMinPTimesTheLargest) {
  // Threshold 0.2 * 0.5 = 0.1: 0.05 goes, the rest is renormalised by 0.95.
  EXPECT_THAT(MinP({0.5f, 0.3f, 0.15f, 0.05f}, 0.2f),
              Pointwise(FloatNear(kTolerance), {0.5f / 0.95f, 0.3f / 0.95f, 0.15f / 0.95f, 0.0f}));
  EXPECT_THAT(MinP({0.5f, 0.5f}, 0.0f), ElementsAre(0.5f, 0.5f));
}

TEST(ArgmaxTest, PicksTheLargestAndTheFirstOnTies) {
  EXPECT_EQ(Argmax({0.1f, 3.0f, -2.0f, 2.9f}), 1);
  EXPECT_EQ(Argmax({1.0f, 5.0f, 5.0f}), 1);
}

TEST(SampleFromProbsTest, NeverPicksAZeroProbabilityToken) {
  Rng rng(/*seed=*/3);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(SampleFromProbs({0.0f, 1.0f, 0.0f}, &rng), 1);
  }
}

TEST(SampleFromProbsTest, FrequenciesMatchTheProbabilities) {
  Rng rng(/*seed=*/4);
  constexpr int kDraws = 20000;
  std::vector<int> counts(3, 0);
  for (int i = 0; i < kDraws; ++i) ++counts[SampleFromProbs({0.2f, 0.3f, 0.5f}, &rng)];
  // Standard error sqrt(p (1 - p) / n) <= 0.0036; 0.015 is four of them.
  EXPECT_NEAR(counts[0] / double{kDraws}, 0.2, 0.015);
  EXPECT_NEAR(counts[1] / double{kDraws}, 0.3, 0.015);
  EXPECT_NEAR(counts[2] / double{kDraws}, 0.5, 0.015);
}

}  // namespace
}  // namespace infusion::engine
