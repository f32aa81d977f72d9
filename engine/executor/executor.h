// The scheduler's view of the engine: run one planned step. Torch-free, so the scheduler's tests
// can drive a fake executor.
#ifndef INFUSION_ENGINE_EXECUTOR_EXECUTOR_H_
#define INFUSION_ENGINE_EXECUTOR_EXECUTOR_H_

#include "engine/executor/step_plan.h"

namespace infusion::engine {

// Shapes the scheduler needs to plan for a model.
struct ExecutorInfo {
  int vocab_size = 0;
  int num_patches = 0;   // n: positions per image
  int patch_dim = 0;     // numbers per patch
  int num_kv_blocks = 0;
  int block_size = 0;
  int max_positions = 0;  // longest sequence
};

class Executor {
 public:
  virtual ~Executor() = default;
  // Runs one step. Never throws; a span that cannot run gets a non-OK SpanResult::status and the
  // others still get their outputs.
  virtual StepResult Execute(const StepPlan& plan) = 0;
  virtual const ExecutorInfo& info() const = 0;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_EXECUTOR_EXECUTOR_H_
