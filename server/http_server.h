// The OpenAI-compatible HTTP front end (docs/api.md, "HTTP"): an adapter of OpenAI's JSON onto
// the same serving::InferenceEngine the gRPC service calls, so both share validation, limits,
// defaults and errors. cpp-httplib (Debian's libcpp-httplib-dev) does the HTTP; llama.cpp's server
// is built on it the same way: one handler per route, server-sent events from a chunked content
// provider.
//
// Threads: cpp-httplib's pool (`threads` of them) runs the handlers; a streamed response holds its
// thread until it ends, so `threads` bounds the concurrent streams. Each request's events reach a
// queue on the engine thread, and the handler's thread pulls them from it. A client that leaves
// is noticed on a stream when a write fails (an SSE comment is sent after half a second without
// events, so a silent request notices too), and on a reply computed whole by polling its
// connection's socket every 100 ms; either way its request is cancelled, which frees its KV
// blocks at the engine's next step.
//
// Every call, admitted or not, is counted under frontend="http" and logged as one JSON line
// (CallRecorder, server/server_metrics.h).
#ifndef INFUSION_SERVER_HTTP_SERVER_H_
#define INFUSION_SERVER_HTTP_SERVER_H_

#include <prometheus/collectable.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "scheduler/request.h"
#include "server/call_gate.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace infusion::serving {
class InferenceEngine;
}  // namespace infusion::serving

namespace infusion::server {

namespace http {
struct FieldNames;
struct ImageCallOptions;
}  // namespace http

class ApiKeyAuthenticator;
class HttpEventQueue;
class ServerMetrics;

struct HttpServerOptions {
  std::string host = "0.0.0.0";
  int port = 0;                     // 0: any free port
  int threads = 64;                 // concurrent connections (streams hold one each)
  size_t max_body_bytes = 64 << 20;  // larger bodies get 413
  std::string tls_cert;             // PEM files; both set: HTTPS
  std::string tls_key;
};

// The Prometheus text of `collectables`, each collected now (expired ones are skipped).
std::string ScrapeMetrics(const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables);

// --metrics_port: GET /metrics (and GET /health) alone, over plain HTTP, on two threads of its
// own, so that a scrape never waits behind API calls. The HTTP API's port serves /metrics too.
class MetricsServer {
 public:
  // Listens on host:port (port 0: any free port; host "[::]" for IPv6) and serves the families
  // of `collectables` (each collected at every scrape; expired ones are skipped).
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& host, int port,
      std::vector<std::weak_ptr<prometheus::Collectable>> collectables);
  ~MetricsServer();  // stops serving

  int port() const { return port_; }

 private:
  MetricsServer();

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

class HttpServer {
 public:
  // Everything the handlers call; all must outlive the server. `authenticator` may be null (no
  // keys); `collectables` are what /metrics serves.
  struct Environment {
    serving::InferenceEngine* engine = nullptr;
    const ApiKeyAuthenticator* authenticator = nullptr;
    CallGate* gate = nullptr;  // shared with gRPC: a drain closes both
    ServerMetrics* metrics = nullptr;
    std::vector<std::weak_ptr<prometheus::Collectable>> collectables;
  };

  // Listens and serves at once; /ready answers 503 until SetReady(true).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                           Environment env);
  ~HttpServer();  // Stop()

  int port() const { return port_; }
  void SetReady(bool ready) { ready_ = ready; }

  // Cancels the requests still running (their clients get an error event or a 503), closes the
  // listener and returns once every handler has returned. The engine must still run, so that
  // the cancelled requests end.
  void Stop();

 private:
  class Call;
  explicit HttpServer(Environment env);
  void AddRoutes();
  // Runs `handler` for an authenticated call admitted by the gate; otherwise answers the error.
  template <typename Handler>
  void Serve(const char* route, const httplib::Request& req, httplib::Response& res,
             Handler handler);
  void ChatCompletions(std::shared_ptr<Call> call, const httplib::Request& req,
                       httplib::Response& res);
  void Completions(std::shared_ptr<Call> call, const httplib::Request& req,
                   httplib::Response& res);
  void ImageGenerations(std::shared_ptr<Call> call, const httplib::Request& req,
                        httplib::Response& res);
  void ImageEdits(std::shared_ptr<Call> call, const httplib::Request& req,
                  httplib::Response& res);
  // Submits `options.n` copies of an image request (seeds seed, seed + 1, ...) and answers their
  // images (PNG or JPEG), or the first error.
  // The server-sent events of one image: `partial_images` previews, then the image.
  void StreamImage(std::shared_ptr<Call> call, std::shared_ptr<HttpEventQueue> events,
                   scheduler::RequestId id, const std::string& prefix, const std::string& size,
                   uint64_t seed, const http::ImageCallOptions& options, httplib::Response& res);
  template <typename Typed>
  void RunImages(std::shared_ptr<Call> call, const Typed& request,
                 const http::ImageCallOptions& options, httplib::Response& res);
  // Submits a text request and answers it whole, or as server-sent events when `stream`.
  // `prefix` (completions' echo) is written before the generated text.
  template <typename Typed>
  void RunText(std::shared_ptr<Call> call, const Typed& request, bool chat, bool stream,
               bool include_usage, const std::string& prefix, const http::FieldNames& names,
               httplib::Response& res);
  void Models(Call& call, const httplib::Request& req, httplib::Response& res);
  std::string Metrics() const;

  const Environment env_;
  const int64_t created_;  // seconds since the epoch: the `created` of /v1/models
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> next_id_{1};
};

}  // namespace infusion::server

#endif  // INFUSION_SERVER_HTTP_SERVER_H_
