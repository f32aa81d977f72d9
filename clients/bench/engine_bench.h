// `infusion-bench --engine`: the executor alone, without the scheduler. Times decode steps of
// 1..64 sequences and guided denoise steps of 1..16 images, counts the model FLOPs of each step,
// measures the machine's float32 matrix-multiply peak in the same run for comparison, and times one
// layer's matrix products in float32 and bfloat16 (DtypeRow).
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

// One decoder layer's matrix products (q, k, v, o, gate, up, down projections, the model's own
// shapes) over `rows` rows, in float32 and in bfloat16 (weights converted once, activations
// converted in and out of every product, as a bfloat16 serving path would): what a lower-precision
// serving dtype would buy at that batch size on this CPU.
struct DtypeRow {
  int rows = 0;
  double float32_us = 0;   // best of several repetitions, all projections of one layer
  double bfloat16_us = 0;
};

struct EngineBenchResult {
  std::string cpu_features;       // engine::CpuFeatures::ToString() of this machine
  double matmul_peak_gflops = 0;  // measured in the same run
  std::string matmul_shape;
  // Memory read bandwidth with all compute threads (a parallel sum over a buffer far larger
  // than the caches), measured in the same run, and the bytes of weights a decode step of one
  // sequence reads (every layer, the final norm, the logits matrix, one embedding row): the
  // floor of that step's time is weight_bytes / read bandwidth.
  double read_bandwidth_gbps = 0;
  double decode_weight_bytes = 0;
  // The largest denoise row: wall time of its steps under the profiler and the shares spent in
  // matrix products (LibTorch's and the fused stack's product phases) and in convolutions
  // (LibTorch's and the fused U-Net's product phases);
  // the rest is everything else. batch 0: no denoise row.
  struct ImageStepShares {
    int batch = 0;
    double step_ms = 0;
    double product_share = 0;
    double convolution_share = 0;
  } image_shares;
  std::vector<EngineBenchRow> rows;
  std::vector<DtypeRow> dtypes;
};

struct EngineBenchOptions {
  std::vector<int> decode_batches = {1, 4, 16, 64};
  std::vector<int> denoise_batches = {1, 4, 8, 16};
  int context = 64;      // cached positions of every decoding sequence
  int repetitions = 9;   // timed steps per row (median reported)
  bool profile = false;  // after timing a row, profile its step by operator (EngineBenchRow::ops)
  int profile_top = 12;  // operators kept per row
  // Rows of the float32/bfloat16 comparison (EngineBenchResult::dtypes): a decode of one
  // sequence, one guided 16-patch image, 8 of them; empty: none.
  std::vector<int> dtype_rows = {1, 32, 256};
};

absl::StatusOr<EngineBenchResult> RunEngineBench(
    const engine::ModelExecutorOptions& executor_options, const EngineBenchOptions& options);

}  // namespace infusion::bench

#endif  // INFUSION_CLIENTS_BENCH_ENGINE_BENCH_H_
