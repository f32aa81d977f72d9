#include "server/server_metrics.h"

#include <cmath>
#include <vector>

namespace infusion::server {
namespace {

// `n` bucket bounds from `first` on, each `factor` times the one before.
prometheus::Histogram::BucketBoundaries Exponential(double first, double factor, int n) {
  prometheus::Histogram::BucketBoundaries bounds;
  for (int i = 0; i < n; ++i) bounds.push_back(first * std::pow(factor, i));
  return bounds;
}

// Latencies from 1 ms to ~4.5 min; images and long replies take seconds to minutes on a CPU.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* bounds =
      new prometheus::Histogram::BucketBoundaries(Exponential(0.001, 2, 19));
  return *bounds;
}

prometheus::Histogram& AddHistogram(prometheus::Registry* registry, const std::string& name,
                                    const std::string& help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(*registry).Add(
      {}, LatencyBuckets());
}

}  // namespace

ServerMetrics::ServerMetrics(prometheus::Registry* registry,
                             const std::map<std::string, std::string>& model_labels)
    : requests_(prometheus::BuildCounter()
                    .Name("infusion_requests_total")
                    .Help("Finished calls by RPC and gRPC status code")
                    .Register(*registry)),
      latency_(prometheus::BuildHistogram()
                   .Name("infusion_e2e_request_latency_seconds")
                   .Help("From a streamed call's arrival to its end, by RPC")
                   .Register(*registry)),
      time_to_first_token_(AddHistogram(registry, "infusion_time_to_first_token_seconds",
                                        "From a call's arrival to its first text")),
      inter_token_latency_(AddHistogram(registry, "infusion_inter_token_latency_seconds",
                                        "Between consecutive text deltas of a call")),
      time_to_image_(AddHistogram(registry, "infusion_time_to_image_seconds",
                                  "From a call's arrival to each of its finished images")),
      queue_time_(AddHistogram(registry, "infusion_request_queue_time_seconds",
                               "From submission to admission by the engine")) {
  prometheus::BuildGauge()
      .Name("infusion_build_info")
      .Help("The server's version")
      .Register(*registry)
      .Add({{"version", INFUSION_VERSION}})
      .Set(1);
  prometheus::BuildGauge()
      .Name("infusion_model_info")
      .Help("The served model")
      .Register(*registry)
      .Add(model_labels)
      .Set(1);
}

void ServerMetrics::CountRequest(absl::string_view rpc, absl::StatusCode code) {
  requests_.Add({{"rpc", std::string(rpc)}, {"code", absl::StatusCodeToString(code)}}).Increment();
}

void ServerMetrics::ObserveLatency(absl::string_view rpc, absl::Duration d) {
  latency_.Add({{"rpc", std::string(rpc)}}, LatencyBuckets()).Observe(absl::ToDoubleSeconds(d));
}

void ServerMetrics::ObserveTimeToFirstToken(absl::Duration d) {
  time_to_first_token_.Observe(absl::ToDoubleSeconds(d));
}

void ServerMetrics::ObserveInterTokenLatency(absl::Duration d) {
  inter_token_latency_.Observe(absl::ToDoubleSeconds(d));
}

void ServerMetrics::ObserveTimeToImage(absl::Duration d) {
  time_to_image_.Observe(absl::ToDoubleSeconds(d));
}

void ServerMetrics::ObserveQueueTime(absl::Duration d) {
  queue_time_.Observe(absl::ToDoubleSeconds(d));
}

}  // namespace infusion::server
