#include "engine/sampler/diffusion_sampler.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace infusion::engine {
namespace {

// What one step from t to t' needs besides the elements: ab_t, ab_t' and the x0 estimate.
class StepContext {
 public:
  StepContext(const NoiseSchedule& schedule, const DiffusionParams& params,
              const DiffusionState& state)
      : last_(state.step + 1 == state.timesteps.size()),
        alpha_bar_(schedule.alpha_bar(CurrentTimestep(state))),
        alpha_bar_prev_(last_ ? 1.0 : schedule.alpha_bar(state.timesteps[state.step + 1])),
        sqrt_alpha_bar_(std::sqrt(alpha_bar_)),
        sqrt_one_minus_alpha_bar_(std::sqrt(1.0 - alpha_bar_)),
        clip_range_(params.clip_sample_range),
        prediction_(params.prediction) {}

  bool last() const { return last_; }
  double alpha_bar() const { return alpha_bar_; }
  double alpha_bar_prev() const { return alpha_bar_prev_; }

  // The clean-sample estimate, before clipping, from the model's (guided) output:
  //   epsilon:  x0 = (x_t - sqrt(1 - ab_t) * eps) / sqrt(ab_t)
  //   velocity: x0 = sqrt(ab_t) * x_t - sqrt(1 - ab_t) * v
  double RawX0(float x_t, float out) const {
    if (prediction_ == PredictionType::kVelocity) {
      return sqrt_alpha_bar_ * x_t - sqrt_one_minus_alpha_bar_ * out;
    }
    return (x_t - sqrt_one_minus_alpha_bar_ * out) / sqrt_alpha_bar_;
  }

  // The noise estimate from the model's output: velocity: eps = sqrt(ab_t) * v + sqrt(1 - ab_t)
  // * x_t.
  double Eps(float x_t, float out) const {
    if (prediction_ == PredictionType::kVelocity) {
      return sqrt_alpha_bar_ * out + sqrt_one_minus_alpha_bar_ * x_t;
    }
    return out;
  }

  double Clip(double x0) const {
    return clip_range_ > 0.0 ? std::clamp(x0, -clip_range_, clip_range_) : x0;
  }

  // The noise that takes x0 to x_t: eps = (x_t - sqrt(ab_t) * x0) / sqrt(1 - ab_t).
  double ImpliedEps(float x_t, double x0) const {
    return (x_t - sqrt_alpha_bar_ * x0) / sqrt_one_minus_alpha_bar_;
  }

 private:
  bool last_;
  double alpha_bar_;
  double alpha_bar_prev_;
  double sqrt_alpha_bar_;
  double sqrt_one_minus_alpha_bar_;
  double clip_range_;
  PredictionType prediction_;
};

void DdimStep(const StepContext& c, float eta, const float* out, DiffusionState* state) {
  const double sigma = eta * std::sqrt((1.0 - c.alpha_bar_prev()) / (1.0 - c.alpha_bar())) *
                       std::sqrt(1.0 - c.alpha_bar() / c.alpha_bar_prev());
  const double x0_coef = std::sqrt(c.alpha_bar_prev());
  // Clamped at 0: as ab_t' nears 1 this difference nears 0, and rounding must not cross it.
  const double eps_coef = std::sqrt(std::max(0.0, 1.0 - c.alpha_bar_prev() - sigma * sigma));
  for (size_t i = 0; i < state->x.size(); ++i) {
    const float x_t = state->x[i];
    const double raw_x0 = c.RawX0(x_t, out[i]);
    const double x0 = c.Clip(raw_x0);
    // Re-deriving eps keeps x_t' on the line through the clipped x0 and x_t.
    const double direction = x0 == raw_x0 ? c.Eps(x_t, out[i]) : c.ImpliedEps(x_t, x0);
    double x_prev = x0_coef * x0 + eps_coef * direction;
    if (sigma > 0.0) x_prev += sigma * state->rng.Normal();
    state->x[i] = static_cast<float>(x_prev);
  }
}

void DdpmStep(const StepContext& c, const float* out, DiffusionState* state) {
  // The respaced step's own beta, so that skipping timesteps stays a valid Markov chain.
  const double beta = 1.0 - c.alpha_bar() / c.alpha_bar_prev();
  const double x0_coef = std::sqrt(c.alpha_bar_prev()) * beta / (1.0 - c.alpha_bar());
  const double x_t_coef =
      std::sqrt(1.0 - beta) * (1.0 - c.alpha_bar_prev()) / (1.0 - c.alpha_bar());
  // Zero on the last step anyway (ab_t' = 1); skipping it also leaves the RNG alone.
  const double stddev =
      c.last() ? 0.0 : std::sqrt(beta * (1.0 - c.alpha_bar_prev()) / (1.0 - c.alpha_bar()));
  for (size_t i = 0; i < state->x.size(); ++i) {
    const float x_t = state->x[i];
    const double x0 = c.Clip(c.RawX0(x_t, out[i]));
    double x_prev = x0_coef * x0 + x_t_coef * x_t;
    if (stddev > 0.0) x_prev += stddev * state->rng.Normal();
    state->x[i] = static_cast<float>(x_prev);
  }
}

}  // namespace

std::vector<int32_t> LeadingTimesteps(int32_t num_train_steps, int32_t steps) {
  CHECK(steps >= 1 && steps <= num_train_steps) << steps << " of " << num_train_steps;
  const int32_t stride = num_train_steps / steps;
  std::vector<int32_t> timesteps(steps);
  for (int32_t i = 0; i < steps; ++i) timesteps[i] = (steps - 1 - i) * stride;
  return timesteps;
}

std::vector<int32_t> TrailingTimesteps(int32_t num_train_steps, int32_t steps) {
  CHECK(steps >= 1 && steps <= num_train_steps) << steps << " of " << num_train_steps;
  // round(T * (N - i) / N) in integers: exact, with numpy's ties-to-even.
  std::vector<int32_t> timesteps(steps);
  for (int32_t i = 0; i < steps; ++i) {
    const int64_t numerator = int64_t{num_train_steps} * (steps - i);
    int64_t rounded = numerator / steps;
    const int64_t twice_remainder = 2 * (numerator % steps);
    if (twice_remainder > steps || (twice_remainder == steps && rounded % 2 == 1)) ++rounded;
    timesteps[i] = static_cast<int32_t>(rounded - 1);
  }
  return timesteps;
}

void RemoveChannelMeans(int channels, int patch_area, std::vector<float>* x) {
  const size_t group = static_cast<size_t>(channels) * patch_area;
  const double per_channel = static_cast<double>(x->size() / group) * patch_area;
  std::vector<double> mean(channels, 0.0);
  for (size_t e = 0; e < x->size(); ++e) mean[(e % group) / patch_area] += (*x)[e];
  for (double& m : mean) m /= per_channel;
  for (size_t e = 0; e < x->size(); ++e) {
    (*x)[e] = static_cast<float>((*x)[e] - mean[(e % group) / patch_area]);
  }
}

absl::StatusOr<DiffusionState> DiffusionState::Start(const NoiseSchedule& schedule,
                                                     const DiffusionParams& params,
                                                     size_t num_elements) {
  RETURN_IF_ERROR(params.Validate());
  if (params.steps > schedule.num_train_steps()) {
    return absl::InvalidArgumentError(absl::StrCat("steps must be at most the model's ",
                                                   schedule.num_train_steps(),
                                                   " training timesteps, got ", params.steps));
  }
  DiffusionState state;
  state.timesteps = params.spacing == TimestepSpacing::kLeading
                        ? LeadingTimesteps(schedule.num_train_steps(), params.steps)
                        : TrailingTimesteps(schedule.num_train_steps(), params.steps);
  state.rng = Rng(params.seed);
  state.x.resize(num_elements);
  for (float& value : state.x) value = static_cast<float>(state.rng.Normal());
  if (params.noise_channels > 0) {
    const size_t group = static_cast<size_t>(params.noise_channels) * params.noise_patch_area;
    if (num_elements % group != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("zero-mean initial noise: ", num_elements, " elements are not patches of ",
                       params.noise_channels, " channels x ", params.noise_patch_area));
    }
    RemoveChannelMeans(params.noise_channels, params.noise_patch_area, &state.x);
  }
  return state;
}

int32_t CurrentTimestep(const DiffusionState& state) {
  CHECK(!Done(state)) << "the diffusion is done";
  return state.timesteps[state.step];
}

void Step(const NoiseSchedule& schedule, const DiffusionParams& params, const float* prediction,
          DiffusionState* state) {
  const StepContext context(schedule, params, *state);
  switch (params.solver) {
    case DiffusionSolver::kDdim:
      DdimStep(context, params.eta, prediction, state);
      break;
    case DiffusionSolver::kDdpm:
      DdpmStep(context, prediction, state);
      break;
  }
  ++state->step;
}

std::vector<float> PredictX0(const NoiseSchedule& schedule, const DiffusionParams& params,
                             const float* prediction, const DiffusionState& state) {
  const StepContext context(schedule, params, state);
  std::vector<float> x0(state.x.size());
  for (size_t i = 0; i < x0.size(); ++i) {
    x0[i] = static_cast<float>(context.Clip(context.RawX0(state.x[i], prediction[i])));
  }
  return x0;
}

void ApplyGuidance(absl::Span<const float> eps_cond, absl::Span<const float> eps_uncond,
                   float scale, absl::Span<float> out) {
  CHECK_EQ(eps_cond.size(), eps_uncond.size());
  CHECK_EQ(eps_cond.size(), out.size());
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = eps_uncond[i] + scale * (eps_cond[i] - eps_uncond[i]);
  }
}

}  // namespace infusion::engine
