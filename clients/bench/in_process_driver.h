// Runs benchmark requests through an in-process scheduler and executor (no network).
#ifndef INFUSION_CLIENTS_BENCH_IN_PROCESS_DRIVER_H_
#define INFUSION_CLIENTS_BENCH_IN_PROCESS_DRIVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "clients/bench/driver.h"
#include "engine/executor/model_executor.h"
#include "engine/output/output_processor.h"
#include "engine/processor/model_processor.h"
#include "scheduler/scheduler.h"

namespace infusion::bench {

class InProcessDriver : public Driver {
 public:
  static absl::StatusOr<std::unique_ptr<InProcessDriver>> Create(
      const ModelExecutorOptions& executor_options, const SchedulerOptions& scheduler_options,
      const WorkloadParams& workload);
  ~InProcessDriver() override;

  RequestTiming Run(WorkKind kind, int index) override;
  SchedulerStats Stats() const { return scheduler_->Stats(); }
  std::optional<EngineCounters> Counters() const override {
    const SchedulerStats stats = scheduler_->Stats();
    return EngineCounters{stats.steps, stats.step_seconds, stats.forward_seconds};
  }

 private:
  InProcessDriver() = default;
  Request MakeRequest(WorkKind kind, int index) const;

  WorkloadParams workload_;
  std::unique_ptr<ModelProcessor> processor_;
  std::unique_ptr<ModelExecutor> executor_;
  std::unique_ptr<OutputProcessor> runner_;
  std::unique_ptr<Scheduler> scheduler_;
};

}  // namespace infusion::bench

#endif  // INFUSION_CLIENTS_BENCH_IN_PROCESS_DRIVER_H_
