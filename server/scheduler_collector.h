// The engine's gauges and counters as Prometheus families, read from Scheduler::Stats() at
// each scrape (the scheduler keeps them; copying them on every step would cost the engine).
//
// "Tokens per step by span kind" is rate(infusion_step_tokens_total{span=...}) over
// rate(infusion_engine_steps_total).
#ifndef INFUSION_SERVER_SCHEDULER_COLLECTOR_H_
#define INFUSION_SERVER_SCHEDULER_COLLECTOR_H_

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

#include "scheduler/scheduler.h"

namespace infusion {

class SchedulerCollector : public prometheus::Collectable {
 public:
  // `scheduler` must outlive the collector's registration.
  explicit SchedulerCollector(const Scheduler* scheduler) : scheduler_(scheduler) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const Scheduler* const scheduler_;
};

}  // namespace infusion

#endif  // INFUSION_SERVER_SCHEDULER_COLLECTOR_H_
