// The LibTorch executor: owns the model and the paged KV-cache tensors and runs each StepPlan as
// one forward pass (linear layers once over all packed positions, attention per span through the
// paged kernel). The header is torch-free so that the server can construct it without LibTorch.
#ifndef INFUSION_ENGINE_EXECUTOR_MODEL_EXECUTOR_H_
#define INFUSION_ENGINE_EXECUTOR_MODEL_EXECUTOR_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/executor/executor.h"

namespace infusion::engine {

struct ModelExecutorOptions {
  std::string model_dir;                     // a model directory (docs/model-format.md)
  std::string device = "cpu";                // only "cpu" in this build
  size_t kv_cache_bytes = size_t{256} << 20;  // K and V of every layer
  int block_size = 16;                       // positions per KV block
  int num_threads = 0;                       // LibTorch/OpenMP threads; 0 = number of cores
  // Steps of at least this many positions run the backbone's matrix products in bfloat16
  // (float32 accumulation); 0 = float32 throughout. Pays only on CPUs with AVX512-BF16, at large
  // steps (docs/benchmarks.md); results then depend slightly on what shares the step.
  int bf16_min_rows = 0;
  // Float32 steps run the decoder layers through the fused CPU stack
  // (engine/model/fused_decoder.h); false: LibTorch's modules, the reference path.
  bool fused_decoder = true;
  // Steps of at least this many positions take the reference path even when fused_decoder is
  // set; 0 = none do.
  int fused_max_rows = 0;
  // Float32 CPU steps run the U-Net patch layers fused (engine/model/fused_unet.h); false:
  // LibTorch's modules, the reference path.
  bool fused_unet = true;
  // On a CPU with AVX512-BF16, the fused decoder stack multiplies the positions of images being
  // denoised in bfloat16 and the fused U-Net every product (float32 sums; text positions, a
  // prompt's clean images in the decoder, and every other operation stay float32), about twice
  // the float32 rate. A request's results still depend on nothing else in its step;
  // false, or a CPU without AVX512-BF16: float32 throughout.
  bool bf16_images = true;
  absl::Status Validate() const;
};

class ModelExecutor : public Executor {
 public:
  static absl::StatusOr<std::unique_ptr<ModelExecutor>> Create(const ModelExecutorOptions& options);
  ~ModelExecutor() override;

  StepResult Execute(const StepPlan& plan) override;
  const ExecutorInfo& info() const override;

  // The reference path (full recompute, dense mask, no cache) lives in
  // engine/model/reference_forward.h; tests compare the two through this accessor.
  class Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit ModelExecutor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_EXECUTOR_MODEL_EXECUTOR_H_
