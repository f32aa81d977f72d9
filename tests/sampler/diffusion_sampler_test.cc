#include "engine/sampler/diffusion_sampler.h"

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace infusion::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::HasSubstr;
using ::testing::Pointwise;

class DiffusionSamplerTest : public ::testing::Test {
 protected:
  DiffusionSamplerTest() : schedule_(std::move(NoiseSchedule::Create({})).value()) {}

  DiffusionState StartOrDie(const DiffusionParams& params, size_t num_elements) {
    absl::StatusOr<DiffusionState> state = DiffusionState::Start(*schedule_, params, num_elements);
    EXPECT_TRUE(state.ok()) << state.status();
    return std::move(state).value();
  }

  // The noise a perfect model would predict for x_t of a known x0.
  std::vector<float> OracleEps(const std::vector<float>& x0, const DiffusionState& state) const {
    const double alpha_bar = schedule_->alpha_bar(CurrentTimestep(state));
    std::vector<float> eps(x0.size());
    for (size_t i = 0; i < x0.size(); ++i) {
      eps[i] = (state.x[i] - std::sqrt(alpha_bar) * x0[i]) / std::sqrt(1.0 - alpha_bar);
    }
    return eps;
  }

  double AlphaBar(int32_t t) const { return schedule_->alpha_bar(t); }

  std::unique_ptr<NoiseSchedule> schedule_;
};

TEST(LeadingTimestepsTest, StartBelowTheNoisyEndAndEndAtZero) {
  EXPECT_THAT(LeadingTimesteps(1000, 4), ElementsAre(750, 500, 250, 0));
  EXPECT_THAT(LeadingTimesteps(1000, 1), ElementsAre(0));
  EXPECT_THAT(LeadingTimesteps(1000, 3), ElementsAre(666, 333, 0));  // stride 1000 / 3 = 333
  const std::vector<int32_t> default_run = LeadingTimesteps(1000, 25);
  EXPECT_EQ(default_run.front(), 960);  // improved-diffusion's "ddim25", diffusers' "leading"
  EXPECT_EQ(default_run[1], 920);
  EXPECT_EQ(default_run.back(), 0);
  const std::vector<int32_t> all = LeadingTimesteps(1000, 1000);
  EXPECT_EQ(all.front(), 999);
  EXPECT_EQ(all[500], 499);
  EXPECT_EQ(all.back(), 0);
}

TEST(LeadingTimestepsTest, IsTheDefaultSpacing) {
  DiffusionParams params;
  params.steps = 25;
  auto schedule = NoiseSchedule::Create(NoiseScheduleOptions());
  ASSERT_TRUE(schedule.ok());
  auto state = DiffusionState::Start(**schedule, params, 1);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->timesteps, LeadingTimesteps(1000, 25));
}

TEST(TrailingTimestepsTest, StartAtTheNoisyEndAndSpaceEvenly) {
  EXPECT_THAT(TrailingTimesteps(1000, 4), ElementsAre(999, 749, 499, 249));
  EXPECT_THAT(TrailingTimesteps(1000, 1), ElementsAre(999));
  // 1000 - 333.3 = 666.7 -> 667, 1000 - 666.7 = 333.3 -> 333.
  EXPECT_THAT(TrailingTimesteps(1000, 3), ElementsAre(999, 666, 332));
  const std::vector<int32_t> all = TrailingTimesteps(1000, 1000);
  EXPECT_EQ(all.front(), 999);
  EXPECT_EQ(all.back(), 0);
  EXPECT_EQ(all[500], 499);
}

TEST(TrailingTimestepsTest, TiesRoundToEvenAsNumpyDoes) {
  // T / N = 62.5: 1000 - 62.5 = 937.5 -> 938, 1000 - 3 * 62.5 = 812.5 -> 812.
  const std::vector<int32_t> timesteps = TrailingTimesteps(1000, 16);
  ASSERT_EQ(timesteps.size(), 16u);
  EXPECT_EQ(timesteps[1], 937);
  EXPECT_EQ(timesteps[3], 811);
  EXPECT_EQ(timesteps[15], 61);
}

// With noise_channels set, every channel of the initial noise has zero mean over the image, and
// the noise is otherwise the same draw.
TEST(ZeroMeanNoiseTest, RemovesEachChannelsMeanAndNothingElse) {
  auto schedule = NoiseSchedule::Create({});
  ASSERT_TRUE(schedule.ok());
  const int channels = 4, area = 4, patches = 9;
  const size_t n = static_cast<size_t>(channels) * area * patches;
  DiffusionParams params;
  params.steps = 10;
  params.seed = 5;
  auto plain = DiffusionState::Start(**schedule, params, n);
  params.noise_channels = channels;
  params.noise_patch_area = area;
  auto centred = DiffusionState::Start(**schedule, params, n);
  ASSERT_TRUE(plain.ok() && centred.ok());
  std::vector<double> plain_mean(channels), centred_mean(channels);
  for (size_t e = 0; e < n; ++e) {
    const int c = static_cast<int>((e % (channels * area)) / area);
    plain_mean[c] += plain->x[e] / (patches * area);
    centred_mean[c] += centred->x[e] / (patches * area);
  }
  for (int c = 0; c < channels; ++c) {
    EXPECT_NEAR(centred_mean[c], 0.0, 1e-6) << c;
    EXPECT_GT(std::abs(plain_mean[c]), 1e-4) << c;  // the draw had a mean to remove
  }
  for (size_t e = 0; e < n; ++e) {
    const int c = static_cast<int>((e % (channels * area)) / area);
    EXPECT_NEAR(centred->x[e], plain->x[e] - plain_mean[c], 1e-5) << e;
  }
  // A buffer that is not whole patches of that layout is refused.
  EXPECT_FALSE(DiffusionState::Start(**schedule, params, n + 1).ok());
  params.noise_patch_area = 0;
  EXPECT_FALSE(params.Validate().ok());
}

TEST(DiffusionParamsTest, ValidateNamesTheOffendingField) {
  EXPECT_TRUE(DiffusionParams().Validate().ok());
  struct Case {
    void (*mutate)(DiffusionParams&);
    std::string field;
  };
  const Case cases[] = {
      {[](DiffusionParams& p) { p.solver = static_cast<DiffusionSolver>(7); }, "solver"},
      {[](DiffusionParams& p) { p.steps = 0; }, "steps"},
      {[](DiffusionParams& p) { p.steps = 1001; }, "steps"},
      {[](DiffusionParams& p) { p.eta = -0.1f; }, "eta"},
      {[](DiffusionParams& p) { p.eta = 1.5f; }, "eta"},
      {[](DiffusionParams& p) { p.guidance_scale = -1.0f; }, "guidance_scale"},
      {[](DiffusionParams& p) { p.clip_sample_range = NAN; }, "clip_sample_range"},
  };
  for (const Case& c : cases) {
    DiffusionParams params;
    c.mutate(params);
    const absl::Status status = params.Validate();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.field));
  }
}

TEST_F(DiffusionSamplerTest, StartRejectsMoreStepsThanTheScheduleHas) {
  NoiseScheduleOptions options;
  options.num_train_steps = 100;
  const std::unique_ptr<NoiseSchedule> short_schedule =
      std::move(NoiseSchedule::Create(options)).value();
  DiffusionParams params;
  params.steps = 200;
  const absl::StatusOr<DiffusionState> state = DiffusionState::Start(*short_schedule, params, 4);
  EXPECT_EQ(state.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(state.status().message()), HasSubstr("steps"));
}

TEST_F(DiffusionSamplerTest, StartDrawsStandardNormalNoiseFromTheSeed) {
  DiffusionParams params;
  params.steps = 4;
  params.spacing = TimestepSpacing::kTrailing;  // the hand-computed steps below
  params.seed = 11;
  const DiffusionState a = StartOrDie(params, 20000);
  const DiffusionState b = StartOrDie(params, 20000);
  params.seed = 12;
  const DiffusionState c = StartOrDie(params, 20000);
  EXPECT_THAT(a.timesteps, ElementsAre(999, 749, 499, 249));
  EXPECT_EQ(a.step, 0u);
  EXPECT_EQ(CurrentTimestep(a), 999);
  EXPECT_FALSE(Done(a));
  EXPECT_EQ(a.x, b.x);
  EXPECT_NE(a.x, c.x);
  double sum = 0.0, sum_squares = 0.0;
  for (const float v : a.x) {
    sum += v;
    sum_squares += v * v;
  }
  // Standard errors 0.007 (mean) and 0.01 (variance).
  EXPECT_NEAR(sum / a.x.size(), 0.0, 0.03);
  EXPECT_NEAR(sum_squares / a.x.size(), 1.0, 0.04);
}

TEST(ApplyGuidanceTest, ExtrapolatesFromUnconditionalTowardsConditional) {
  const std::vector<float> cond = {1.0f, 2.0f};
  const std::vector<float> uncond = {0.5f, 4.0f};
  std::vector<float> out(2);
  ApplyGuidance(cond, uncond, /*scale=*/3.0f, absl::MakeSpan(out));
  EXPECT_THAT(out, ElementsAre(2.0f, -2.0f));  // 0.5 + 3 * 0.5, 4 + 3 * -2.
  ApplyGuidance(cond, uncond, /*scale=*/1.0f, absl::MakeSpan(out));
  EXPECT_EQ(out, cond);
  ApplyGuidance(cond, uncond, /*scale=*/0.0f, absl::MakeSpan(out));
  EXPECT_EQ(out, uncond);
}

TEST_F(DiffusionSamplerTest, DdimLastStepWithTheTrueNoiseRecoversX0) {
  DiffusionParams params;
  params.steps = 4;
  params.spacing = TimestepSpacing::kTrailing;  // the hand-computed steps below
  DiffusionState state = StartOrDie(params, 3);
  state.step = 3;  // t = 249 -> -1.
  const std::vector<float> x0 = {0.5f, -1.25f, 3.0f};
  const std::vector<float> eps = {0.3f, -1.1f, 2.0f};
  state.x = AddNoise(*schedule_, x0, eps, CurrentTimestep(state));
  Step(*schedule_, params, eps.data(), &state);
  EXPECT_TRUE(Done(state));
  EXPECT_THAT(state.x, Pointwise(FloatNear(1e-5f), x0));
}

TEST_F(DiffusionSamplerTest, DdimWithEtaZeroIsDeterministicAndMatchesEquation12) {
  DiffusionParams params;
  params.steps = 4;
  params.spacing = TimestepSpacing::kTrailing;  // the hand-computed steps below
  params.seed = 1;
  DiffusionState a = StartOrDie(params, 2);
  params.seed = 2;
  DiffusionState b = StartOrDie(params, 2);
  a.x = b.x = {0.8f, -0.4f};
  const std::vector<float> eps = {0.9f, -0.2f};
  Step(*schedule_, params, eps.data(), &a);
  Step(*schedule_, params, eps.data(), &b);
  EXPECT_EQ(a.x, b.x);  // The RNGs differ, but eta = 0 draws nothing.
  // 999 -> 749: x' = sqrt(ab') * x0 + sqrt(1 - ab') * eps, x0 = (x - sqrt(1 - ab) eps) / sqrt(ab),
  // where x0 = (0.8 - 0.9) / 4.9e-5 ~ -2029 is clipped to -4 and eps re-derived from it.
  const double ab = AlphaBar(999), ab_prev = AlphaBar(749);
  const double x0 = -4.0;
  const double implied_eps = (0.8 - std::sqrt(ab) * x0) / std::sqrt(1 - ab);
  EXPECT_NEAR(a.x[0], std::sqrt(ab_prev) * x0 + std::sqrt(1 - ab_prev) * implied_eps, 1e-5);
  EXPECT_EQ(a.step, 1u);
  EXPECT_EQ(CurrentTimestep(a), 749);
}

TEST_F(DiffusionSamplerTest, DdimStepWithoutClippingUsesTheModelsEps) {
  DiffusionParams params;
  params.steps = 4;
  params.spacing = TimestepSpacing::kTrailing;  // the hand-computed steps below
  DiffusionState state = StartOrDie(params, 1);
  state.step = 1;  // 749 -> 499.
  state.x = {0.5f};
  const std::vector<float> eps = {0.7f};
  const double ab = AlphaBar(749), ab_prev = AlphaBar(499);
  const double x0 = (0.5 - std::sqrt(1 - ab) * 0.7) / std::sqrt(ab);
  ASSERT_LT(std::abs(x0), 4.0);
  Step(*schedule_, params, eps.data(), &state);
  EXPECT_NEAR(state.x[0], std::sqrt(ab_prev) * x0 + std::sqrt(1 - ab_prev) * 0.7, 1e-6);
}

TEST_F(DiffusionSamplerTest, ClippingBoundsThePredictedX0UnlessOff) {
  DiffusionParams params;
  params.steps = 4;
  params.spacing = TimestepSpacing::kTrailing;  // the hand-computed steps below
  DiffusionState state = StartOrDie(params, 2);
  state.step = 3;  // The last step returns x0 itself.
  state.x = {10.0f, -10.0f};
  const std::vector<float> eps = {0.0f, 0.0f};
  const double raw = 10.0 / std::sqrt(AlphaBar(249));
  EXPECT_THAT(PredictX0(*schedule_, params, eps.data(), state), ElementsAre(4.0f, -4.0f));
  params.clip_sample_range = 0.0f;
  EXPECT_THAT(PredictX0(*schedule_, params, eps.data(), state),
              Pointwise(FloatNear(1e-5f), {raw, -raw}));
  EXPECT_EQ(state.step, 3u);  // PredictX0 does not advance.
  Step(*schedule_, params, eps.data(), &state);
  EXPECT_THAT(state.x, Pointwise(FloatNear(1e-5f), {raw, -raw}));
}

TEST_F(DiffusionSamplerTest, DdpmStepSamplesThePosteriorMeanAndVariance) {
  DiffusionParams params;
  params.solver = DiffusionSolver::kDdpm;
  params.steps = 4;
  params.spacing = TimestepSpacing::kTrailing;  // the hand-computed steps below
  constexpr size_t kN = 20000;
  DiffusionState state = StartOrDie(params, kN);
  state.step = 1;  // 749 -> 499.
  state.x.assign(kN, 0.3f);
  const std::vector<float> eps(kN, -0.7f);
  Step(*schedule_, params, eps.data(), &state);

  const double ab = AlphaBar(749), ab_prev = AlphaBar(499);
  const double x0 = (0.3 + std::sqrt(1 - ab) * 0.7) / std::sqrt(ab);
  ASSERT_LT(std::abs(x0), 4.0);
  const double beta = 1 - ab / ab_prev;
  const double mean = std::sqrt(ab_prev) * beta / (1 - ab) * x0 +
                      std::sqrt(1 - beta) * (1 - ab_prev) / (1 - ab) * 0.3;
  const double variance = beta * (1 - ab_prev) / (1 - ab);
  double sum = 0.0, sum_squares = 0.0;
  for (const float v : state.x) {
    sum += v;
    sum_squares += (v - mean) * (v - mean);
  }
  // Within five standard errors: sqrt(var / n) for the mean, var * sqrt(2 / n) for the variance.
  EXPECT_NEAR(sum / kN, mean, 5 * std::sqrt(variance / kN));
  EXPECT_NEAR(sum_squares / kN, variance, 5 * variance * std::sqrt(2.0 / kN));
}

TEST_F(DiffusionSamplerTest, DdimWithEtaOneIsDdpm) {
  // sigma(eta = 1)^2 is DDPM's posterior variance, and with eps consistent with x0 the means agree,
  // so the same seed gives the same sample.
  DiffusionParams ddim;
  ddim.steps = 10;
  ddim.eta = 1.0f;
  DiffusionParams ddpm = ddim;
  ddpm.solver = DiffusionSolver::kDdpm;
  DiffusionState a = StartOrDie(ddim, 64);
  DiffusionState b = StartOrDie(ddpm, 64);
  const std::vector<float> x0(64, 0.25f);
  while (!Done(a)) {
    const std::vector<float> eps = OracleEps(x0, a);
    Step(*schedule_, ddim, eps.data(), &a);
    Step(*schedule_, ddpm, eps.data(), &b);
    ASSERT_THAT(a.x, Pointwise(FloatNear(1e-4f), b.x)) << "step " << a.step;
  }
}

TEST_F(DiffusionSamplerTest, BothSolversLandOnX0WithAPerfectModel) {
  const std::vector<float> x0 = {0.5f, -1.0f, 2.0f, -3.5f};
  for (const DiffusionSolver solver : {DiffusionSolver::kDdim, DiffusionSolver::kDdpm}) {
    DiffusionParams params;
    params.solver = solver;
    params.steps = 25;
    DiffusionState state = StartOrDie(params, x0.size());
    int steps = 0;
    while (!Done(state)) {
      const std::vector<float> eps = OracleEps(x0, state);
      // The preview of a perfect model is x0 once enough signal is left to resolve it.
      if (CurrentTimestep(state) < 500) {
        EXPECT_THAT(PredictX0(*schedule_, params, eps.data(), state),
                    Pointwise(FloatNear(1e-4f), x0));
      }
      Step(*schedule_, params, eps.data(), &state);
      ++steps;
    }
    EXPECT_EQ(steps, 25);
    EXPECT_THAT(state.x, Pointwise(FloatNear(1e-5f), x0)) << static_cast<int>(solver);
  }
}

// A v-predicting model's output v = sqrt(ab) eps - sqrt(1 - ab) x0 determines x0 at every
// timestep, also at t = 999 where an eps-predicting model's x0 estimate is noise amplified
// 20,000 times: from pure noise (trailing spacing), the preview is x0 from the first step.
TEST_F(DiffusionSamplerTest, VelocityPredictionLandsOnX0FromPureNoise) {
  const std::vector<float> x0 = {0.5f, -1.0f, 2.0f, -3.5f};
  for (const DiffusionSolver solver : {DiffusionSolver::kDdim, DiffusionSolver::kDdpm}) {
    DiffusionParams params;
    params.solver = solver;
    params.steps = 25;
    params.spacing = TimestepSpacing::kTrailing;
    params.prediction = PredictionType::kVelocity;
    DiffusionState state = StartOrDie(params, x0.size());
    ASSERT_EQ(CurrentTimestep(state), 999);
    while (!Done(state)) {
      const double ab = AlphaBar(CurrentTimestep(state));
      const std::vector<float> eps = OracleEps(x0, state);
      std::vector<float> v(x0.size());
      for (size_t i = 0; i < x0.size(); ++i) {
        v[i] = static_cast<float>(std::sqrt(ab) * eps[i] - std::sqrt(1 - ab) * x0[i]);
      }
      EXPECT_THAT(PredictX0(*schedule_, params, v.data(), state), Pointwise(FloatNear(1e-4f), x0))
          << "t = " << CurrentTimestep(state);
      Step(*schedule_, params, v.data(), &state);
    }
    EXPECT_THAT(state.x, Pointwise(FloatNear(1e-4f), x0)) << static_cast<int>(solver);
  }
}

}  // namespace
}  // namespace infusion::engine
