#include "engine/sampler/noise_schedule.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace infusion::engine {
namespace {

constexpr double kPi = 3.14159265358979323846;
// Nichol & Dhariwal clip beta so that the last step does not divide by alpha_bar = 0.
constexpr double kMaxBeta = 0.999;

std::vector<double> CosineBetas(int32_t num_steps, double offset) {
  const auto f = [num_steps, offset](double t) {
    const double c = std::cos((t / num_steps + offset) / (1.0 + offset) * kPi / 2.0);
    return c * c;
  };
  std::vector<double> betas(num_steps);
  for (int32_t t = 0; t < num_steps; ++t) {
    betas[t] = std::min(1.0 - f(t + 1) / f(t), kMaxBeta);
  }
  return betas;
}

std::vector<double> LinearBetas(int32_t num_steps, double start, double end) {
  std::vector<double> betas(num_steps, start);
  for (int32_t t = 1; t < num_steps; ++t) {
    betas[t] = start + (end - start) * t / (num_steps - 1);
  }
  return betas;
}

std::vector<double> CumulativeAlphas(const std::vector<double>& betas) {
  std::vector<double> alpha_bars(betas.size());
  double product = 1.0;
  for (size_t t = 0; t < betas.size(); ++t) {
    product *= 1.0 - betas[t];
    alpha_bars[t] = product;
  }
  return alpha_bars;
}

}  // namespace

absl::Status NoiseScheduleOptions::Validate() const {
  if (num_train_steps < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_train_steps must be >= 1, got ", num_train_steps));
  }
  switch (kind) {
    case NoiseScheduleKind::kCosine:
      if (!(cosine_offset > 0.0) || std::isinf(cosine_offset)) {
        return absl::InvalidArgumentError(
            absl::StrCat("cosine_offset must be finite and > 0, got ", cosine_offset));
      }
      return absl::OkStatus();
    case NoiseScheduleKind::kLinear:
      if (!(beta_start > 0.0 && beta_start < 1.0)) {
        return absl::InvalidArgumentError(
            absl::StrCat("beta_start must be in (0, 1), got ", beta_start));
      }
      if (!(beta_end >= beta_start && beta_end < 1.0)) {
        return absl::InvalidArgumentError(
            absl::StrCat("beta_end must be in [beta_start, 1), got ", beta_end));
      }
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("kind must be cosine or linear, got ", static_cast<int>(kind)));
}

absl::StatusOr<std::unique_ptr<NoiseSchedule>> NoiseSchedule::Create(
    const NoiseScheduleOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  std::vector<double> betas =
      options.kind == NoiseScheduleKind::kCosine
          ? CosineBetas(options.num_train_steps, options.cosine_offset)
          : LinearBetas(options.num_train_steps, options.beta_start, options.beta_end);
  return std::unique_ptr<NoiseSchedule>(new NoiseSchedule(std::move(betas)));
}

NoiseSchedule::NoiseSchedule(std::vector<double> betas)
    : betas_(std::move(betas)), alpha_bars_(CumulativeAlphas(betas_)) {}

double NoiseSchedule::beta(int32_t t) const {
  CHECK(t >= 0 && t < num_train_steps()) << "timestep " << t;
  return betas_[t];
}

double NoiseSchedule::alpha_bar(int32_t t) const {
  CHECK(t >= 0 && t < num_train_steps()) << "timestep " << t;
  return alpha_bars_[t];
}

std::vector<float> AddNoise(const NoiseSchedule& schedule, absl::Span<const float> x0,
                            absl::Span<const float> eps, int32_t t) {
  CHECK_EQ(x0.size(), eps.size());
  const double alpha_bar = schedule.alpha_bar(t);
  const double signal = std::sqrt(alpha_bar);
  const double noise = std::sqrt(1.0 - alpha_bar);
  std::vector<float> x_t(x0.size());
  for (size_t i = 0; i < x0.size(); ++i) {
    x_t[i] = static_cast<float>(signal * x0[i] + noise * eps[i]);
  }
  return x_t;
}

}  // namespace infusion::engine
