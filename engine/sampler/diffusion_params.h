// Per-request options of image generation, as a user of diffusers knows them.
#ifndef INFUSION_ENGINE_SAMPLER_DIFFUSION_PARAMS_H_
#define INFUSION_ENGINE_SAMPLER_DIFFUSION_PARAMS_H_

#include <cstdint>

#include "absl/status/status.h"

namespace infusion {

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

  // InvalidArgument naming the first offending field, e.g. "steps must be in [1, 1000], got 0".
  absl::Status Validate() const;
};

}  // namespace infusion

#endif  // INFUSION_ENGINE_SAMPLER_DIFFUSION_PARAMS_H_
