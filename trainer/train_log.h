// What a run reports per logging step: OUT/train_log.jsonl, one JSON object per line (step,
// loss, loss_lm, loss_diffusion, lr, grad_norm, tokens_per_s, elapsed_s), and a progress line on
// the terminal.
#ifndef INFUSION_TRAINER_TRAIN_LOG_H_
#define INFUSION_TRAINER_TRAIN_LOG_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace infusion::trainer {

struct StepMetrics {
  int64_t step = 0;  // optimiser updates done
  double loss = 0;   // loss_lm + lambda * loss_diffusion, over the global batch
  double loss_lm = 0;
  double loss_diffusion = 0;
  double lr = 0;            // of this step's update
  double grad_norm = 0;     // global gradient norm before clipping
  double tokens_per_s = 0;  // non-padding positions per second, all processes, since the
                            // previous log line
  double elapsed_s = 0;     // wall time since this process started training
};

class TrainLog {
 public:
  // Opens `path` for appending. A resumed run passes the step it resumes from: lines of later
  // steps (written after that checkpoint by the run that died) are dropped first, so that the
  // file reads as one uninterrupted run.
  static absl::StatusOr<std::unique_ptr<TrainLog>> Open(const std::string& path,
                                                        int64_t resume_step);
  ~TrainLog();

  // Appends one line and flushes it.
  void Write(const StepMetrics& metrics);

 private:
  explicit TrainLog(FILE* file) : file_(file) {}
  FILE* file_;
};

// "step 120/5000 | loss 3.2104 (lm 2.1034, diffusion 0.2214) | lr 3.00e-04 | 5.1k tok/s |
// ETA 2h13m": redrawn in place on a terminal, one line per call otherwise.
class ProgressLine {
 public:
  ProgressLine(int64_t total_steps, FILE* out);
  ~ProgressLine();  // ends a line left open on the terminal

  // `seconds_per_step`: recent average, for the ETA.
  void Show(const StepMetrics& metrics, double seconds_per_step);

 private:
  int64_t total_steps_;
  FILE* out_;
  bool terminal_;
  bool line_open_ = false;
};

}  // namespace infusion::trainer

#endif  // INFUSION_TRAINER_TRAIN_LOG_H_
