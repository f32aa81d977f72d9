#include "clients/eval/perplexity.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

namespace infusion::eval {
namespace {

TEST(SplitIntoWindowsTest, OpensEveryWindowWithBos) {
  EXPECT_EQ(SplitIntoWindows({10, 11, 12, 13, 14}, /*bos=*/2, /*max_length=*/3),
            (std::vector<std::vector<int>>{{2, 10, 11}, {2, 12, 13}, {2, 14}}));
  EXPECT_EQ(SplitIntoWindows({10, 11}, 2, 8), (std::vector<std::vector<int>>{{2, 10, 11}}));
  EXPECT_TRUE(SplitIntoWindows({}, 2, 8).empty());
}

TEST(PerplexityMeterTest, UniformPredictionHasThePerplexityOfTheVocabulary) {
  PerplexityMeter meter;
  meter.AddWindow(at::zeros({3, 8}), {2, 5, 7});
  meter.AddWindow(at::zeros({2, 8}), {2, 1});
  EXPECT_EQ(meter.tokens(), 3);  // the opening <s> of each window is not scored
  EXPECT_NEAR(meter.mean_nll(), std::log(8.0), 1e-9);
  EXPECT_NEAR(meter.perplexity(), 8.0, 1e-9);
}

TEST(PerplexityMeterTest, ScoresEachTokenByTheRowBeforeIt) {
  // Row 0 gives token 0 odds 3:1 (p = 0.75); row 1 gives token 1 odds 1:1 (p = 0.5). The last
  // row predicts past the window and is ignored.
  const at::Tensor logits =
      at::tensor({std::log(3.0f), 0.0f, 0.0f, 0.0f, 100.0f, 0.0f}, at::kFloat).view({3, 2});
  PerplexityMeter meter;
  meter.AddWindow(logits, {2, 0, 1});
  EXPECT_EQ(meter.tokens(), 2);
  const double nll = -(std::log(0.75) + std::log(0.5)) / 2;
  EXPECT_NEAR(meter.mean_nll(), nll, 1e-6);
  EXPECT_NEAR(meter.perplexity(), std::exp(nll), 1e-6);
}

TEST(PerplexityMeterTest, NothingScoredIsZero) {
  PerplexityMeter meter;
  meter.AddWindow(at::zeros({1, 4}), {2});
  EXPECT_EQ(meter.tokens(), 0);
  EXPECT_EQ(meter.mean_nll(), 0.0);
}

}  // namespace
}  // namespace infusion::eval
