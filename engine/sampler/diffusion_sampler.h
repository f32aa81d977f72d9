// Image generation by reverse diffusion: per-request state and stateless DDIM / DDPM steps.
//
// A request's loop, driven by the scheduler one engine step at a time:
//   ASSIGN_OR_RETURN(DiffusionState state, DiffusionState::Start(schedule, params, n));
//   while (!Done(state)) {
//     // The model predicts the noise of state.x at CurrentTimestep(state), conditionally and,
//     // for classifier-free guidance, unconditionally; ApplyGuidance combines the two.
//     Step(schedule, params, eps.data(), &state);
//   }
//   // state.x now holds the clean latents.
#ifndef INFUSION_ENGINE_SAMPLER_DIFFUSION_SAMPLER_H_
#define INFUSION_ENGINE_SAMPLER_DIFFUSION_SAMPLER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/sampler/diffusion_params.h"
#include "engine/sampler/noise_schedule.h"
#include "engine/sampler/rng.h"

namespace infusion::engine {

// The `steps` training timesteps a sampling run visits, descending; see TimestepSpacing.
// Requires 1 <= steps <= num_train_steps.
//  - leading: t_i = (N - 1 - i) * (T / N) (integer division), as diffusers' "leading" with
//    steps_offset 0. T = 1000, N = 4 -> {750, 500, 250, 0}.
//  - trailing: t_i = round(T - i * T / N) - 1, ties to even as numpy.round in diffusers.
//    T = 1000, N = 4 -> {999, 749, 499, 249}.
std::vector<int32_t> LeadingTimesteps(int32_t num_train_steps, int32_t steps);
std::vector<int32_t> TrailingTimesteps(int32_t num_train_steps, int32_t steps);

// Subtracts from every element of x, laid out as patches whose vectors are ordered
// (channel, dy, dx), the mean of its channel over all patches and offsets.
//
// Why a sampler would: a schedule whose first sampling step still carries signal (the cosine
// schedule at t = 960 keeps sqrt(alpha_bar) = 0.062 of x0) teaches the model to read the
// per-channel mean of x_t as the image's mean colour. Pure noise has a random per-channel mean
// of std 1/sqrt(positions), which such a model turns into a tinted background. Replacing it by
// its expectation (zero for normalised latents) removes the tint; docs/evaluation.md has the
// measurement.
void RemoveChannelMeans(int channels, int patch_area, std::vector<float>* x);

// The denoising state of one image. Owned by the request, advanced by Step() on the engine thread.
struct DiffusionState {
  // Validates `params` (also against the schedule's length), lays out the timesteps, seeds the
  // request's RNG with params.seed and draws x_T ~ N(0, I) from it (then removes its channel
  // means when params.noise_channels > 0).
  static absl::StatusOr<DiffusionState> Start(const NoiseSchedule& schedule,
                                              const DiffusionParams& params, size_t num_elements);

  std::vector<int32_t> timesteps;  // Descending training timesteps (params.spacing).
  size_t step = 0;                 // Index into `timesteps` of the next Step().
  std::vector<float> x;            // x: [num_elements], normalised latents at timesteps[step];
                                   // the clean sample x_0 once Done().
  Rng rng{/*seed=*/0};             // This request's noise, seeded by Start().
};

inline bool Done(const DiffusionState& state) { return state.step == state.timesteps.size(); }

// The timestep of state.x, the one the model must be told. Requires !Done(state).
int32_t CurrentTimestep(const DiffusionState& state);

// One denoising step from t = CurrentTimestep(state) to the next timestep t' (after the last one,
// t' = -1: alpha_bar = 1, the clean image), given the model's prediction (the noise eps or the
// velocity v, params.prediction), already guided. Both solvers first estimate the clean sample
// and clip it to +-params.clip_sample_range (ab = alpha_bar):
//   epsilon:  x0 = (x_t - sqrt(1 - ab_t) * eps) / sqrt(ab_t)
//   velocity: x0 = sqrt(ab_t) * x_t - sqrt(1 - ab_t) * v
//             eps = sqrt(ab_t) * v + sqrt(1 - ab_t) * x_t
// DDIM (Song et al. 2021, eq. 12), with eps recomputed from the clipped x0 where clipping changed
// it (as diffusers does), and z ~ N(0, I):
//   sigma  = eta * sqrt((1 - ab_t') / (1 - ab_t)) * sqrt(1 - ab_t / ab_t')
//   x_t'   = sqrt(ab_t') * x0 + sqrt(1 - ab_t' - sigma^2) * eps + sigma * z
// DDPM (Ho et al. 2020), ancestral over the respaced steps, b = 1 - ab_t / ab_t':
//   mean   = sqrt(ab_t') * b / (1 - ab_t) * x0 + sqrt(1 - b) * (1 - ab_t') / (1 - ab_t) * x_t
//   x_t'   = mean + sqrt(b * (1 - ab_t') / (1 - ab_t)) * z,  no noise on the last step.
// prediction: [state->x.size()]
void Step(const NoiseSchedule& schedule, const DiffusionParams& params, const float* prediction,
          DiffusionState* state);

// The clipped x0 estimate at the current step, as Step() computes it: a low-cost preview of the
// final image. Requires !Done(state).
// prediction: [state.x.size()] -> [state.x.size()]
std::vector<float> PredictX0(const NoiseSchedule& schedule, const DiffusionParams& params,
                             const float* prediction, const DiffusionState& state);

// Classifier-free guidance (Ho & Salimans 2022): out = eps_uncond + scale * (eps_cond -
// eps_uncond). `out` may alias either input.
// eps_cond, eps_uncond, out: [n]
void ApplyGuidance(absl::Span<const float> eps_cond, absl::Span<const float> eps_uncond,
                   float scale, absl::Span<float> out);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_SAMPLER_DIFFUSION_SAMPLER_H_
