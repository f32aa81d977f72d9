// What the server measures per call, as Prometheus families on a registry passed in (tests read
// them back). Names follow vLLM's where one exists: time to first token, inter-token latency,
// queue time, end-to-end latency, prompt and generation lengths, finished requests by reason.
// Every per-request family carries the front end (`frontend="grpc"|"http"`). The engine's own
// gauges and counters (running and waiting requests, KV-cache usage, tokens, ...) are read at
// scrape time by SchedulerCollector, the process' own by ProcessCollector.
//
// CallRecorder turns one call's events into these metrics and, when the call ends, into one JSON
// log line, the same for both front ends.
//
// ServerMetrics is thread-safe; a CallRecorder is used by one thread at a time.
#ifndef INFUSION_SERVER_SERVER_METRICS_H_
#define INFUSION_SERVER_SERVER_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "scheduler/request.h"

namespace infusion::server {

enum class Frontend { kGrpc, kHttp };
const char* FrontendName(Frontend frontend);  // "grpc" | "http"

// The request id of a call: the client's (x-request-id header or gRPC metadata) made safe to log
// and echo, or a new random one when the client sent none. At most kMaxRequestIdBytes; letters,
// digits and -_.:/+=@~ only (anything else becomes '_': UUIDs, W3C trace ids and base64 pass), so
// that client input cannot make a log line or a header unbounded or break it.
inline constexpr size_t kMaxRequestIdBytes = 128;
std::string RequestIdFrom(absl::string_view client_value);

class ServerMetrics {
 public:
  // `registry` must outlive this object. `model_labels` describe the served model
  // (infusion_model_info).
  ServerMetrics(prometheus::Registry* registry,
                const std::map<std::string, std::string>& model_labels);

  // One finished call, whatever its outcome.
  void CountRequest(Frontend frontend, absl::string_view rpc, absl::StatusCode code);
  // From the call's arrival to its end; calls that reached the engine only.
  void ObserveLatency(Frontend frontend, absl::string_view rpc, absl::Duration d);
  void ObserveTimeToFirstToken(Frontend frontend, absl::Duration d);
  void ObserveInterTokenLatency(Frontend frontend, absl::Duration d);
  void ObserveTimeToImage(Frontend frontend, absl::Duration d);
  void ObserveQueueTime(Frontend frontend, absl::Duration d);
  // One engine request's end: counted by its reason; a normal end (stop, length, image) also
  // gives its prompt and output lengths.
  void ObserveFinish(Frontend frontend, const scheduler::RequestEvent& finish);

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Family<prometheus::Histogram>& time_to_first_token_;
  prometheus::Family<prometheus::Histogram>& inter_token_latency_;
  prometheus::Family<prometheus::Histogram>& time_to_image_;
  prometheus::Family<prometheus::Histogram>& queue_time_;
  prometheus::Family<prometheus::Counter>& finished_;
  prometheus::Family<prometheus::Histogram>& prompt_tokens_;
  prometheus::Family<prometheus::Histogram>& generation_tokens_;
};

// One call, from its arrival to its end, on either front end.
class CallRecorder {
 public:
  // `metrics` must outlive the recorder.
  CallRecorder(ServerMetrics* metrics, Frontend frontend, std::string rpc, std::string request_id,
               absl::Time arrival);

  const std::string& request_id() const { return request_id_; }
  absl::Time arrival() const { return arrival_; }
  bool ended() const { return ended_; }

  // One event of the call's request(s) (an image call has n), emitted by the engine at `emitted`.
  void Observe(const scheduler::RequestEvent& event, absl::Time emitted);

  // Counts the call once, with the outcome it ended with, and writes its log line: one JSON
  // object (front end, request id, kind, status, prompt and output tokens, image steps, latency)
  // that log pipelines can parse. Later calls do nothing.
  void End(absl::StatusCode code);

 private:
  ServerMetrics* const metrics_;
  const Frontend frontend_;
  const std::string rpc_;
  const std::string request_id_;
  const absl::Time arrival_;
  std::optional<absl::Time> last_text_;
  scheduler::Usage usage_;  // summed over the call's requests
  bool ended_ = false;
};

}  // namespace infusion::server

#endif  // INFUSION_SERVER_SERVER_METRICS_H_
