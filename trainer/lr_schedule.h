// The learning rate of every step: linear warm-up, then cosine decay (Loshchilov & Hutter 2017),
// as in the Llama and Transfusion recipes.
#ifndef INFUSION_TRAINER_LR_SCHEDULE_H_
#define INFUSION_TRAINER_LR_SCHEDULE_H_

#include <cstdint>

#include "absl/status/status.h"

namespace infusion::trainer {

struct LrScheduleOptions {
  double peak_lr = 1e-3;       // > 0: reached at the end of warm-up
  double min_lr = 1e-4;        // [0, peak_lr]: reached at total_steps
  int64_t warmup_steps = 100;  // [0, total_steps)
  int64_t total_steps = 1000;  // > 0

  // InvalidArgument naming the offending field.
  absl::Status Validate() const;
};

// step is the 0-based index of the optimiser update (the first update is step 0):
//   step < warmup:  peak * (step + 1) / warmup
//   otherwise:      min + (peak - min) * (1 + cos(pi * (step - warmup) / (total - warmup))) / 2
// so the first update already moves the weights, the peak is held exactly at step = warmup, and
// the rate reaches min at step = total (one past the last update).
class LrSchedule {
 public:
  explicit LrSchedule(const LrScheduleOptions& options) : options_(options) {}
  double At(int64_t step) const;

 private:
  LrScheduleOptions options_;
};

}  // namespace infusion::trainer

#endif  // INFUSION_TRAINER_LR_SCHEDULE_H_
