// Per-request options of image generation, as a user of diffusers knows them.
#ifndef INFUSION_ENGINE_SAMPLER_DIFFUSION_PARAMS_H_
#define INFUSION_ENGINE_SAMPLER_DIFFUSION_PARAMS_H_

#include <cstdint>

#include "absl/status/status.h"

namespace infusion::engine {

// Which training timesteps a run of N steps visits (diffusers' `timestep_spacing`).
enum class TimestepSpacing {
  // t_i = (N - 1 - i) * (T / N): {960, 920, ..., 0} for T = 1000, N = 25. The first step starts
  // where some signal is left (sqrt(alpha_bar_960) = 0.06 with the cosine schedule), as in
  // improved-diffusion's "ddimN" respacing and diffusers' default. An epsilon-predicting model
  // needs this: at t = T - 1 the cosine schedule leaves sqrt(alpha_bar) = 5e-5, and the first x0
  // estimate (x_t - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar) is noise amplified 20,000 times.
  kLeading,
  // t_i = round(T - i * T / N) - 1: {999, 959, ..., 39}, from pure noise (Lin et al. 2024);
  // meant for models trained for zero terminal SNR (v-prediction).
  kTrailing,
};

// What the model's image output estimates (diffusers' `prediction_type`).
enum class PredictionType {
  kEpsilon,  // the noise: x0 = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)
  // v = sqrt(ab_t) eps - sqrt(1 - ab_t) x0 (Salimans & Ho 2022): x0 = sqrt(ab_t) x_t -
  // sqrt(1 - ab_t) v stays well conditioned as ab_t -> 0, so sampling may start from pure noise
  // (trailing spacing, t = T - 1) and the model cannot read a layout out of leftover signal.
  kVelocity,
};

enum class DiffusionSolver {
  kDdim,  // Song et al. 2021; deterministic with eta = 0, so few steps suffice (25-50).
  kDdpm,  // Ho et al. 2020, ancestral sampling; the Transfusion paper uses 250 steps.
};

struct DiffusionParams {
  // The most denoising steps: one per training timestep of the usual schedule.
  static constexpr int32_t kMaxSteps = 1000;

  DiffusionSolver solver = DiffusionSolver::kDdim;
  int32_t steps = 50;              // [1, kMaxSteps], and at most the schedule's training steps.
  float eta = 0.0f;                // [0, 1], DDIM only: 0 = deterministic, 1 = as noisy as DDPM.
  float guidance_scale = 3.0f;     // >= 0: 1 = no classifier-free guidance, 0 = unconditional.
  uint64_t seed = 0;               // Same seed, same prompt, same model => same image.
  float clip_sample_range = 4.0f;  // >= 0; each predicted x0 is clipped to +-range; 0 = off.
  TimestepSpacing spacing = TimestepSpacing::kLeading;  // the model's (config.json "diffusion")
  PredictionType prediction = PredictionType::kEpsilon;  // the model's (config.json "diffusion")
  // > 0: remove each latent channel's spatial mean from the initial noise (the model's
  // config.json "diffusion" "zero_mean_initial_noise"). The sampled elements are patches whose
  // vectors are ordered (channel, dy, dx): element e belongs to channel
  // (e % (noise_channels * noise_patch_area)) / noise_patch_area.
  int32_t noise_channels = 0;
  int32_t noise_patch_area = 1;  // >= 1: patch_size^2

  // InvalidArgument naming the first offending field, e.g. "steps must be in [1, 1000], got 0".
  absl::Status Validate() const;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_SAMPLER_DIFFUSION_PARAMS_H_
