// The forward (noising) process of diffusion: how much signal is left at each training timestep.
#ifndef INFUSION_ENGINE_SAMPLER_NOISE_SCHEDULE_H_
#define INFUSION_ENGINE_SAMPLER_NOISE_SCHEDULE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace infusion::engine {

enum class NoiseScheduleKind {
  // Nichol & Dhariwal 2021 (diffusers: "squaredcos_cap_v2"); the Transfusion paper's schedule.
  kCosine,
  // Ho et al. 2020: betas evenly spaced from beta_start to beta_end.
  kLinear,
};

struct NoiseScheduleOptions {
  NoiseScheduleKind kind = NoiseScheduleKind::kCosine;
  int32_t num_train_steps = 1000;  // T >= 1.
  double cosine_offset = 0.008;    // s > 0 (cosine only): keeps beta_0 from being tiny.
  double beta_start = 1e-4;        // (0, 1) (linear only).
  double beta_end = 0.02;          // [beta_start, 1) (linear only).

  // InvalidArgument naming the first offending field.
  absl::Status Validate() const;
};

// Discrete timesteps t = 0 .. T-1, t = 0 the least noisy. With the cosine schedule
//   f(u) = cos(((u / T + s) / (1 + s)) * pi / 2)^2,
//   beta_t = min(1 - f(t + 1) / f(t), 0.999),
//   alpha_bar_t = prod_{i <= t} (1 - beta_i),
// so alpha_bar_t = f(t + 1) / f(0) until a beta is clipped. With the defaults (T = 1000,
// s = 0.008) only beta_999 is, since f(1000) = 0: alpha_bar_0 = 1 - beta_0 = 0.99996,
// alpha_bar_499 = 0.494, alpha_bar_999 = 0.001 * f(999) / f(0) = 2.43e-9 (sqrt: 4.9e-5).
// This is diffusers' betas_for_alpha_bar followed by its alphas_cumprod, so checkpoints trained
// against either agree.
// The linear schedule: beta_t = beta_start + (beta_end - beta_start) * t / (T - 1).
// Immutable, so one instance is shared by all requests and threads.
class NoiseSchedule {
 public:
  static absl::StatusOr<std::unique_ptr<NoiseSchedule>> Create(const NoiseScheduleOptions& options);

  int32_t num_train_steps() const { return static_cast<int32_t>(betas_.size()); }
  // t in [0, num_train_steps()).
  double beta(int32_t t) const;
  double alpha_bar(int32_t t) const;

 private:
  explicit NoiseSchedule(std::vector<double> betas);

  const std::vector<double> betas_;       // [T]
  const std::vector<double> alpha_bars_;  // [T]
};

// The forward process q(x_t | x_0) with the given noise: sqrt(alpha_bar_t) * x0 +
// sqrt(1 - alpha_bar_t) * eps. The trainer's noising and the tests' oracle.
// x0, eps: [n] -> [n]
std::vector<float> AddNoise(const NoiseSchedule& schedule, absl::Span<const float> x0,
                            absl::Span<const float> eps, int32_t t);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_SAMPLER_NOISE_SCHEDULE_H_
