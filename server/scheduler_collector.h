// The engine's gauges and counters as Prometheus families, read from InferenceEngine::Stats() at
// each scrape (the scheduler keeps them; copying them on every step would cost the engine).
//
// "Tokens per step by span kind" is rate(infusion_step_tokens_total{span=...}) over
// rate(infusion_engine_steps_total).
#ifndef INFUSION_SERVER_SCHEDULER_COLLECTOR_H_
#define INFUSION_SERVER_SCHEDULER_COLLECTOR_H_

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

#include "serving/inference_engine.h"

namespace infusion::server {

class SchedulerCollector : public prometheus::Collectable {
 public:
  // `engine` must outlive the collector's registration.
  explicit SchedulerCollector(const serving::InferenceEngine* engine) : engine_(engine) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const serving::InferenceEngine* const engine_;
};

}  // namespace infusion::server

#endif  // INFUSION_SERVER_SCHEDULER_COLLECTOR_H_
