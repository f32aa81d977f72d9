#include "engine/sampler/noise_schedule.h"

#include <cmath>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace infusion::engine {
namespace {

using ::testing::HasSubstr;

constexpr double kPi = 3.14159265358979323846;

std::unique_ptr<NoiseSchedule> MakeSchedule(const NoiseScheduleOptions& options) {
  absl::StatusOr<std::unique_ptr<NoiseSchedule>> schedule = NoiseSchedule::Create(options);
  EXPECT_TRUE(schedule.ok()) << schedule.status();
  return std::move(schedule).value();
}

// Nichol & Dhariwal's f(t) for T = 1000, s = 0.008.
double F(double t) {
  const double c = std::cos((t / 1000.0 + 0.008) / 1.008 * kPi / 2.0);
  return c * c;
}

TEST(NoiseScheduleTest, CosineMatchesTheClosedForm) {
  const std::unique_ptr<NoiseSchedule> schedule = MakeSchedule({});
  ASSERT_EQ(schedule->num_train_steps(), 1000);
  EXPECT_NEAR(schedule->beta(0), 1.0 - F(1) / F(0), 1e-15);
  EXPECT_NEAR(schedule->alpha_bar(0), 1.0 - schedule->beta(0), 1e-15);
  EXPECT_NEAR(schedule->alpha_bar(0), 0.9999587, 1e-7);
  // The product telescopes to f(t + 1) / f(0) while no beta is clipped.
  for (const int t : {1, 249, 499, 749, 998}) {
    EXPECT_NEAR(schedule->alpha_bar(t), F(t + 1) / F(0), 1e-12) << t;
  }
  EXPECT_NEAR(schedule->alpha_bar(499), 0.4938436, 1e-7);
}

TEST(NoiseScheduleTest, CosineClipsTheLastBeta) {
  const std::unique_ptr<NoiseSchedule> schedule = MakeSchedule({});
  // f(1000) = cos(pi / 2)^2 = 0 would make beta_999 = 1; it is clipped to 0.999.
  EXPECT_DOUBLE_EQ(schedule->beta(999), 0.999);
  EXPECT_LT(schedule->beta(998), 0.999);
  EXPECT_NEAR(schedule->alpha_bar(999), 0.001 * F(999) / F(0), 1e-20);
  // sqrt(0.001) * sin(pi / 2 * 0.001 / 1.008) / cos(pi / 2 * 0.008 / 1.008): little signal left.
  EXPECT_NEAR(std::sqrt(schedule->alpha_bar(999)), 4.928e-5, 1e-8);
}

TEST(NoiseScheduleTest, AlphaBarDecreasesStrictly) {
  const std::unique_ptr<NoiseSchedule> schedule = MakeSchedule({});
  for (int t = 1; t < schedule->num_train_steps(); ++t) {
    ASSERT_LT(schedule->alpha_bar(t), schedule->alpha_bar(t - 1)) << t;
    ASSERT_GT(schedule->alpha_bar(t), 0.0) << t;
  }
}

TEST(NoiseScheduleTest, LinearSpacesBetasEvenly) {
  NoiseScheduleOptions options;
  options.kind = NoiseScheduleKind::kLinear;
  const std::unique_ptr<NoiseSchedule> schedule = MakeSchedule(options);
  EXPECT_DOUBLE_EQ(schedule->beta(0), 1e-4);
  EXPECT_DOUBLE_EQ(schedule->beta(999), 0.02);
  const double beta_1 = 1e-4 + (0.02 - 1e-4) / 999;
  EXPECT_DOUBLE_EQ(schedule->beta(1), beta_1);
  EXPECT_DOUBLE_EQ(schedule->alpha_bar(1), (1 - 1e-4) * (1 - beta_1));
}

TEST(NoiseScheduleTest, ValidateNamesTheOffendingField) {
  struct Case {
    NoiseScheduleOptions options;
    std::string field;
  };
  NoiseScheduleOptions no_steps, bad_offset, bad_start, bad_end;
  no_steps.num_train_steps = 0;
  bad_offset.cosine_offset = 0.0;
  bad_start.kind = bad_end.kind = NoiseScheduleKind::kLinear;
  bad_start.beta_start = 0.0;
  bad_end.beta_end = 1e-5;  // Below beta_start.
  for (const Case& c : {Case{no_steps, "num_train_steps"}, Case{bad_offset, "cosine_offset"},
                        Case{bad_start, "beta_start"}, Case{bad_end, "beta_end"}}) {
    const absl::StatusOr<std::unique_ptr<NoiseSchedule>> schedule =
        NoiseSchedule::Create(c.options);
    EXPECT_EQ(schedule.status().code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(std::string(schedule.status().message()), HasSubstr(c.field));
  }
}

TEST(AddNoiseTest, MixesSignalAndNoiseByAlphaBar) {
  const std::unique_ptr<NoiseSchedule> schedule = MakeSchedule({});
  const double alpha_bar = schedule->alpha_bar(499);
  const std::vector<float> x_t = AddNoise(*schedule, {1.0f, -2.0f}, {0.5f, 0.0f}, 499);
  ASSERT_EQ(x_t.size(), 2u);
  EXPECT_NEAR(x_t[0], std::sqrt(alpha_bar) + 0.5 * std::sqrt(1 - alpha_bar), 1e-6);
  EXPECT_NEAR(x_t[1], -2.0 * std::sqrt(alpha_bar), 1e-6);
}

}  // namespace
}  // namespace infusion::engine
