// Runs benchmark requests through an in-process InferenceEngine (no network): the same request
// preparation and defaults (generation.json) as infusion-server's, without gRPC.
#ifndef INFUSION_CLIENTS_BENCH_IN_PROCESS_DRIVER_H_
#define INFUSION_CLIENTS_BENCH_IN_PROCESS_DRIVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "clients/bench/driver.h"
#include "engine/executor/model_executor.h"
#include "scheduler/scheduler.h"
#include "serving/inference_engine.h"

namespace infusion::bench {

class InProcessDriver : public Driver {
 public:
  static absl::StatusOr<std::unique_ptr<InProcessDriver>> Create(
      const engine::ModelExecutorOptions& executor_options,
      const scheduler::SchedulerOptions& scheduler_options, const WorkloadParams& workload);
  ~InProcessDriver() override;

  RequestTiming Run(WorkKind kind, int index) override;
  bool DecodesImages() const override { return workload_.decode_images; }
  scheduler::SchedulerStats Stats() const { return engine_->Stats(); }
  std::optional<EngineCounters> Counters() const override {
    const scheduler::SchedulerStats stats = engine_->Stats();
    return EngineCounters{stats.steps, stats.step_seconds, stats.forward_seconds};
  }

 private:
  InProcessDriver() = default;
  // Prepares and submits request `index` of `kind`, its events going to `sink`.
  absl::StatusOr<scheduler::RequestId> Submit(WorkKind kind, int index,
                                              std::shared_ptr<scheduler::EventSink> sink);

  WorkloadParams workload_;
  std::unique_ptr<serving::InferenceEngine> engine_;
};

}  // namespace infusion::bench

#endif  // INFUSION_CLIENTS_BENCH_IN_PROCESS_DRIVER_H_
