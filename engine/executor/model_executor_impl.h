// The LibTorch side of ModelExecutor, for the engine's own code and tests (includes torch).
#ifndef INFUSION_ENGINE_EXECUTOR_MODEL_EXECUTOR_IMPL_H_
#define INFUSION_ENGINE_EXECUTOR_MODEL_EXECUTOR_IMPL_H_

#include <ATen/core/Tensor.h>

#include "engine/executor/model_executor.h"
#include "engine/model/transfusion_model.h"

namespace infusion::engine {

class ModelExecutor::Impl {
 public:
  Impl(TransfusionModel model, int num_blocks, int block_size, const ProductOptions& products);

  StepResult Execute(const StepPlan& plan);
  const ExecutorInfo& info() const { return info_; }
  TransfusionModelImpl& model() { return *model_; }

 private:
  // Checks ids, positions, slots and block tables against the model and the cache; the
  // failures of one span never reach the forward pass.
  absl::Status ValidateSpan(const Span& span) const;
  // One forward pass over `spans` (all valid); throws c10::Error on LibTorch failures.
  void Run(const StepPlan& plan, const std::vector<int>& spans, StepResult* result);

  TransfusionModel model_;
  ExecutorInfo info_;
  at::Tensor k_cache_;  // [layers, blocks, kv_heads, head_dim, block_size]: transposed per block
  at::Tensor v_cache_;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_EXECUTOR_MODEL_EXECUTOR_IMPL_H_
