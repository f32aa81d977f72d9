// Everything infusion-server can be told. main.cc fills it from flags; nothing else reads flags.
#ifndef INFUSION_SERVER_SERVER_OPTIONS_H_
#define INFUSION_SERVER_SERVER_OPTIONS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "serving/inference_engine.h"

namespace infusion::server {

struct ServerOptions {
  // The model and the engine: model directory, device, threads, KV-cache bytes (executor); step
  // token budget, queue limit, ... (scheduler); request image limits.
  serving::InferenceEngineOptions engine;

  std::string host = "0.0.0.0";      // address both ports bind to
  int port = 50051;                  // gRPC; 0 = any free port (see port_file)
  int metrics_port = 9464;           // Prometheus text at /metrics; 0 = any free port
  // The OpenAI-compatible HTTP API (docs/api.md); 0 = any free port, -1 = off. Off by default so
  // that several servers on one host (tests, benchmarks) do not collide on a fixed port.
  int http_port = -1;
  int http_threads = 64;             // HTTP connections served at once (a stream holds one)
  std::string port_file;             // when set, "grpc PORT\nmetrics PORT\n" (and "http PORT\n") is
                                     // written here once all listen (for tests and scripts that
                                     // ask for port 0)
  int max_message_bytes = 64 << 20;  // largest request message gRPC accepts, and HTTP body
  std::string api_keys_file;         // keys, one per line; when set every call needs "Bearer KEY"
  std::string tls_cert;              // PEM certificate chain and private key; both or neither
  std::string tls_key;
  absl::Duration drain_grace = absl::Seconds(30);  // SIGTERM: how long running calls may finish
  int stream_threads = 2;  // threads that turn events into responses (PNG encoding included)

  absl::Status Validate() const;
};

}  // namespace infusion::server

#endif  // INFUSION_SERVER_SERVER_OPTIONS_H_
