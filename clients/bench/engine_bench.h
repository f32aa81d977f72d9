// `infusion-bench --engine`: the executor alone, without the scheduler. Times decode steps of
// 1..64 sequences and guided denoise steps of 1..16 images, counts the model FLOPs of each step,
// and measures the machine's float32 matrix-multiply peak in the same run for comparison.
#ifndef INFUSION_CLIENTS_BENCH_ENGINE_BENCH_H_
#define INFUSION_CLIENTS_BENCH_ENGINE_BENCH_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/executor/model_executor.h"

namespace infusion::bench {

struct EngineBenchRow {
  std::string kind;   // "decode" | "denoise"
  int batch = 0;      // sequences (decode) or images (denoise; each with a CFG row)
  int positions = 0;  // positions computed per step
  double step_ms = 0;      // median
  double gflops = 0;       // achieved, model FLOPs / median step time
  // With EngineBenchOptions::profile: where a step's time goes, by operator (LibTorch operators
  // and the engine's own named ranges), largest self time first.
  struct Op {
    std::string name;
    double self_ms = 0;   // per step, excluding nested operators
    double calls = 0;     // per step
  };
  std::vector<Op> ops;
};

struct EngineBenchResult {
  double matmul_peak_gflops = 0;  // measured in the same run
  std::string matmul_shape;
  std::vector<EngineBenchRow> rows;
};

struct EngineBenchOptions {
  std::vector<int> decode_batches = {1, 4, 16, 64};
  std::vector<int> denoise_batches = {1, 4, 8, 16};
  int context = 64;      // cached positions of every decoding sequence
  int repetitions = 9;   // timed steps per row (median reported)
  bool profile = false;  // after timing a row, profile its step by operator (EngineBenchRow::ops)
  int profile_top = 12;  // operators kept per row
};

absl::StatusOr<EngineBenchResult> RunEngineBench(const ModelExecutorOptions& executor_options,
                                                 const EngineBenchOptions& options);

}  // namespace infusion::bench

#endif  // INFUSION_CLIENTS_BENCH_ENGINE_BENCH_H_
