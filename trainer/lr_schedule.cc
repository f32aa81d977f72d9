#include "trainer/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace infusion::trainer {

absl::Status LrScheduleOptions::Validate() const {
  if (!(peak_lr > 0))
    return absl::InvalidArgumentError(absl::StrCat("lr must be > 0, got ", peak_lr));
  if (!(min_lr >= 0 && min_lr <= peak_lr)) {
    return absl::InvalidArgumentError(absl::StrCat("min_lr must be in [0, lr], got ", min_lr));
  }
  if (total_steps <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("steps must be > 0, got ", total_steps));
  }
  if (warmup_steps < 0 || warmup_steps >= total_steps) {
    return absl::InvalidArgumentError(
        absl::StrCat("warmup_steps must be in [0, steps), got ", warmup_steps));
  }
  return absl::OkStatus();
}

double LrSchedule::At(int64_t step) const {
  const LrScheduleOptions& o = options_;
  if (step < o.warmup_steps) {
    return o.peak_lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup_steps);
  }
  const double progress = std::min(1.0, static_cast<double>(step - o.warmup_steps) /
                                            static_cast<double>(o.total_steps - o.warmup_steps));
  return o.min_lr + (o.peak_lr - o.min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

}  // namespace infusion::trainer
