// infusion-server put together: the model and the engine, the gRPC service with standard health
// checking and server reflection, the Prometheus endpoint, and (with http_port) the
// OpenAI-compatible HTTP API.
//
// Threads: gRPC's callback threads parse, convert and submit (the serving::InferenceEngine
// validates); the engine thread runs steps and queues events; a WorkerPool builds responses;
// MetricsServer's two threads serve /metrics; HttpServer's pool serves HTTP calls.
#ifndef INFUSION_SERVER_INFUSION_SERVER_H_
#define INFUSION_SERVER_INFUSION_SERVER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/call_gate.h"
#include "server/server_options.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace infusion::serving {
class InferenceEngine;
}  // namespace infusion::serving

namespace infusion::server {

class ApiKeyAuthenticator;
class HttpServer;
class InfusionService;
class MetricsServer;
class ProcessCollector;
class ProtoConverter;
class RequestParser;
class RunningRequests;
class SchedulerCollector;
class ServerMetrics;
class WorkerPool;

// The name clients and health checks use for the generation service.
inline constexpr char kInfusionServiceName[] = "infusion.v1.Infusion";

class InfusionServer {
 public:
  // Loads the model, starts the engine and both listeners (health NOT_SERVING), runs a warm-up
  // request through text and image steps, then reports SERVING.
  static absl::StatusOr<std::unique_ptr<InfusionServer>> Create(const ServerOptions& options);
  ~InfusionServer();

  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  int http_port() const { return http_port_; }  // -1: HTTP off

  // Health NOT_SERVING and new calls refused (UNAVAILABLE); running calls get `grace` to finish,
  // then whatever still runs is cancelled (health Watch streams included); the engine stops.
  // Returns once every call has ended.
  void Drain(absl::Duration grace);

 private:
  InfusionServer() = default;
  absl::Status StartMetrics(const ServerOptions& options);
  absl::Status StartGrpc(const ServerOptions& options);
  absl::Status StartHttp(const ServerOptions& options);
  absl::Status WarmUp();

  std::unique_ptr<serving::InferenceEngine> engine_;
  std::unique_ptr<ProtoConverter> converter_;
  std::unique_ptr<RequestParser> parser_;
  std::unique_ptr<ApiKeyAuthenticator> authenticator_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::shared_ptr<SchedulerCollector> collector_;
  std::shared_ptr<ProcessCollector> process_collector_;
  std::unique_ptr<MetricsServer> metrics_server_;
  std::unique_ptr<WorkerPool> workers_;
  CallGate gate_;
  std::unique_ptr<RunningRequests> running_;  // the gRPC streams' requests, for the drain
  std::unique_ptr<InfusionService> service_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<grpc::Server> server_;  // declared last: shut down before everything it calls
  int port_ = 0;
  int metrics_port_ = 0;
  int http_port_ = -1;
};

}  // namespace infusion::server

#endif  // INFUSION_SERVER_INFUSION_SERVER_H_
