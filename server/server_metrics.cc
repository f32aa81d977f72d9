#include "server/server_metrics.h"

#include <cmath>
#include <string_view>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/version.h"
#include "nlohmann/json.hpp"

namespace infusion::server {
namespace {

using scheduler::FinishReasonName;
using scheduler::RequestEvent;
using scheduler::Usage;
using Buckets = prometheus::Histogram::BucketBoundaries;

// `n` bucket bounds from `first` on, each `factor` times the one before.
Buckets Exponential(double first, double factor, int n) {
  Buckets bounds;
  for (int i = 0; i < n; ++i) bounds.push_back(first * std::pow(factor, i));
  return bounds;
}

// Latencies from 1 ms to ~4.5 min; images and long replies take seconds to minutes on a CPU.
const Buckets& LatencyBuckets() {
  static const auto* bounds = new Buckets(Exponential(0.001, 2, 19));
  return *bounds;
}

// Token counts 1, 2, 5, 10, ... 500000, as vLLM's length histograms.
const Buckets& LengthBuckets() {
  static const auto* bounds = [] {
    auto* b = new Buckets();
    for (double decade = 1; decade <= 100000; decade *= 10) {
      for (double m : {1, 2, 5}) b->push_back(m * decade);
    }
    return b;
  }();
  return *bounds;
}

prometheus::Family<prometheus::Histogram>& AddHistogram(prometheus::Registry* registry,
                                                        const std::string& name,
                                                        const std::string& help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(*registry);
}

std::map<std::string, std::string> Labels(Frontend frontend) {
  return {{"frontend", FrontendName(frontend)}};
}

}  // namespace

const char* FrontendName(Frontend frontend) {
  return frontend == Frontend::kGrpc ? "grpc" : "http";
}

std::string RequestIdFrom(absl::string_view client_value) {
  if (client_value.empty()) {
    thread_local absl::BitGen gen;
    return absl::StrCat(absl::Hex(absl::Uniform<uint64_t>(gen), absl::kZeroPad16));
  }
  std::string id(client_value.substr(0, kMaxRequestIdBytes));
  for (char& c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        std::string_view("-_.:/+=@~").find(c) == std::string_view::npos) {
      c = '_';
    }
  }
  return id;
}

ServerMetrics::ServerMetrics(prometheus::Registry* registry,
                             const std::map<std::string, std::string>& model_labels)
    : requests_(prometheus::BuildCounter()
                    .Name("infusion_requests_total")
                    .Help("Finished calls by front end, RPC or route, and status code")
                    .Register(*registry)),
      latency_(AddHistogram(registry, "infusion_e2e_request_latency_seconds",
                            "From a call's arrival to its end, for calls the engine ran")),
      time_to_first_token_(AddHistogram(registry, "infusion_time_to_first_token_seconds",
                                        "From a call's arrival to its first text")),
      inter_token_latency_(AddHistogram(registry, "infusion_inter_token_latency_seconds",
                                        "Between consecutive text deltas of a call")),
      time_to_image_(AddHistogram(registry, "infusion_time_to_image_seconds",
                                  "From a call's arrival to each of its finished images")),
      queue_time_(AddHistogram(registry, "infusion_request_queue_time_seconds",
                               "From submission to admission by the engine")),
      finished_(prometheus::BuildCounter()
                    .Name("infusion_request_finished_total")
                    .Help("Engine requests ended, by finish reason")
                    .Register(*registry)),
      prompt_tokens_(AddHistogram(registry, "infusion_request_prompt_tokens",
                                  "Prompt positions (image patches included) of requests that "
                                  "ended normally")),
      generation_tokens_(AddHistogram(registry, "infusion_request_generation_tokens",
                                      "Text tokens sampled by requests that ended normally")) {
  prometheus::BuildGauge()
      .Name("infusion_build_info")
      .Help("The server's version")
      .Register(*registry)
      .Add({{"version", kVersion}})
      .Set(1);
  prometheus::BuildGauge()
      .Name("infusion_model_info")
      .Help("The served model")
      .Register(*registry)
      .Add(model_labels)
      .Set(1);
}

void ServerMetrics::CountRequest(Frontend frontend, absl::string_view rpc, absl::StatusCode code) {
  requests_
      .Add({{"frontend", FrontendName(frontend)},
            {"rpc", std::string(rpc)},
            {"code", absl::StatusCodeToString(code)}})
      .Increment();
}

void ServerMetrics::ObserveLatency(Frontend frontend, absl::string_view rpc, absl::Duration d) {
  latency_.Add({{"frontend", FrontendName(frontend)}, {"rpc", std::string(rpc)}}, LatencyBuckets())
      .Observe(absl::ToDoubleSeconds(d));
}

void ServerMetrics::ObserveTimeToFirstToken(Frontend frontend, absl::Duration d) {
  time_to_first_token_.Add(Labels(frontend), LatencyBuckets()).Observe(absl::ToDoubleSeconds(d));
}

void ServerMetrics::ObserveInterTokenLatency(Frontend frontend, absl::Duration d) {
  inter_token_latency_.Add(Labels(frontend), LatencyBuckets()).Observe(absl::ToDoubleSeconds(d));
}

void ServerMetrics::ObserveTimeToImage(Frontend frontend, absl::Duration d) {
  time_to_image_.Add(Labels(frontend), LatencyBuckets()).Observe(absl::ToDoubleSeconds(d));
}

void ServerMetrics::ObserveQueueTime(Frontend frontend, absl::Duration d) {
  queue_time_.Add(Labels(frontend), LatencyBuckets()).Observe(absl::ToDoubleSeconds(d));
}

void ServerMetrics::ObserveFinish(Frontend frontend, const RequestEvent& finish) {
  finished_.Add({{"frontend", FrontendName(frontend)}, {"reason", FinishReasonName(finish.reason)}})
      .Increment();
  if (!IsNormalEnd(finish.reason)) return;
  prompt_tokens_.Add(Labels(frontend), LengthBuckets()).Observe(finish.usage.prompt_tokens);
  generation_tokens_.Add(Labels(frontend), LengthBuckets()).Observe(finish.usage.generated_tokens);
}

CallRecorder::CallRecorder(ServerMetrics* metrics, Frontend frontend, std::string rpc,
                           std::string request_id, absl::Time arrival)
    : metrics_(metrics),
      frontend_(frontend),
      rpc_(std::move(rpc)),
      request_id_(std::move(request_id)),
      arrival_(arrival) {}

void CallRecorder::Observe(const RequestEvent& event, absl::Time emitted) {
  switch (event.type) {
    case RequestEvent::Type::kText:
      if (last_text_.has_value()) {
        metrics_->ObserveInterTokenLatency(frontend_, emitted - *last_text_);
      } else {
        metrics_->ObserveTimeToFirstToken(frontend_, emitted - arrival_);
      }
      last_text_ = emitted;
      break;
    case RequestEvent::Type::kImageProgress:
      break;
    case RequestEvent::Type::kImage:
      metrics_->ObserveTimeToImage(frontend_, emitted - arrival_);
      break;
    case RequestEvent::Type::kFinish:
      // A request cancelled or expired in the queue was never admitted: no queue time.
      if (IsNormalEnd(event.reason)) {
        metrics_->ObserveQueueTime(frontend_, absl::Seconds(event.usage.queue_seconds));
      }
      metrics_->ObserveLatency(frontend_, rpc_, emitted - arrival_);
      metrics_->ObserveFinish(frontend_, event);
      usage_.prompt_tokens += event.usage.prompt_tokens;
      usage_.generated_tokens += event.usage.generated_tokens;
      usage_.image_steps += event.usage.image_steps;
      break;
  }
}

void CallRecorder::End(absl::StatusCode code) {
  if (ended_) return;
  ended_ = true;
  metrics_->CountRequest(frontend_, rpc_, code);
  // Every field is bounded: the request id by RequestIdFrom, the rest are the server's own.
  const nlohmann::json line{{"frontend", FrontendName(frontend_)},
                            {"request_id", request_id_},
                            {"kind", rpc_},
                            {"status", absl::StatusCodeToString(code)},
                            {"prompt_tokens", usage_.prompt_tokens},
                            {"output_tokens", usage_.generated_tokens},
                            {"image_steps", usage_.image_steps},
                            {"latency_seconds", absl::ToDoubleSeconds(absl::Now() - arrival_)}};
  LOG(INFO) << "request " << line.dump();
}

}  // namespace infusion::server
