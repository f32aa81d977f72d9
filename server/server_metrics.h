// What the server measures per call, as Prometheus families on a registry passed in (tests read
// them back). Names follow vLLM's where one exists: time to first token, inter-token latency,
// queue time, end-to-end latency. The engine's own gauges and counters (running and waiting
// requests, KV-cache usage, tokens, ...) are read at scrape time by SchedulerCollector.
//
// Thread-safe.
#ifndef INFUSION_SERVER_SERVER_METRICS_H_
#define INFUSION_SERVER_SERVER_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace infusion::server {

class ServerMetrics {
 public:
  // `registry` must outlive this object. `model_labels` describe the served model
  // (infusion_model_info).
  ServerMetrics(prometheus::Registry* registry,
                const std::map<std::string, std::string>& model_labels);

  // One finished call, whatever its outcome.
  void CountRequest(absl::string_view rpc, absl::StatusCode code);
  // From the call's arrival to its end; streamed calls that reached the engine only.
  void ObserveLatency(absl::string_view rpc, absl::Duration d);
  void ObserveTimeToFirstToken(absl::Duration d);
  void ObserveInterTokenLatency(absl::Duration d);
  void ObserveTimeToImage(absl::Duration d);
  void ObserveQueueTime(absl::Duration d);

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Histogram& time_to_first_token_;
  prometheus::Histogram& inter_token_latency_;
  prometheus::Histogram& time_to_image_;
  prometheus::Histogram& queue_time_;
};

}  // namespace infusion::server

#endif  // INFUSION_SERVER_SERVER_METRICS_H_
