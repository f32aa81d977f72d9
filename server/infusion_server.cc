#include "server/infusion_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <prometheus/registry.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "server/api_key_authenticator.h"
#include "server/http_server.h"
#include "server/infusion_service.h"
#include "server/process_collector.h"
#include "server/proto_converter.h"
#include "server/request_parser.h"
#include "server/scheduler_collector.h"
#include "server/server_metrics.h"
#include "server/worker_pool.h"
#include "serving/inference_engine.h"
#include "serving/request_stream.h"

namespace infusion::server {

using engine::ModelConfig;
using scheduler::RequestEvent;
using serving::GenerateRequest;
using serving::InferenceEngine;
using serving::InputPart;
using serving::RequestStream;
using serving::TextToImageRequest;

namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

// Written to a temporary name and renamed, so that a reader never sees half a file.
absl::Status WritePortFile(const std::string& path, int port, int metrics_port, int http_port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream file(tmp);
    file << "grpc " << port << "\nmetrics " << metrics_port << "\n";
    if (http_port >= 0) file << "http " << http_port << "\n";
    if (!file.good()) return absl::InternalError(absl::StrCat(tmp, ": write failed"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat(path, ": rename failed"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const ServerOptions& options) {
  if (options.tls_cert.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ASSIGN_OR_RETURN(pair.private_key, ReadFile(options.tls_key));
  ASSIGN_OR_RETURN(pair.cert_chain, ReadFile(options.tls_cert));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  return grpc::SslServerCredentials(ssl);
}

// Submits `request` and waits until it has finished; the status of its finish event.
template <typename TypedRequest>
absl::Status RunToFinish(InferenceEngine& engine, const TypedRequest& request) {
  auto stream = std::make_shared<RequestStream>();
  RETURN_IF_ERROR(engine.Submit(request, stream).status());
  absl::Status finished;
  while (std::optional<RequestEvent> event = stream->Next()) finished = event->status;
  return finished;
}

}  // namespace

absl::StatusOr<std::unique_ptr<InfusionServer>> InfusionServer::Create(
    const ServerOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<InfusionServer> s(new InfusionServer());
  ASSIGN_OR_RETURN(s->engine_, InferenceEngine::Create(options.engine));
  s->converter_ = std::make_unique<ProtoConverter>(s->engine_.get());
  ASSIGN_OR_RETURN(s->parser_, RequestParser::Create(v1::GenerateRequest::descriptor()->file()));
  if (!options.api_keys_file.empty()) {
    ASSIGN_OR_RETURN(s->authenticator_, ApiKeyAuthenticator::FromFile(options.api_keys_file));
  }
  RETURN_IF_ERROR(s->StartMetrics(options));
  s->workers_ = std::make_unique<WorkerPool>(options.stream_threads);
  RETURN_IF_ERROR(s->StartGrpc(options));
  RETURN_IF_ERROR(s->StartHttp(options));
  if (!options.port_file.empty()) {
    RETURN_IF_ERROR(WritePortFile(options.port_file, s->port_, s->metrics_port_, s->http_port_));
  }
  LOG(INFO) << "listening: gRPC on " << options.host << ":" << s->port_ << ", metrics on "
            << options.host << ":" << s->metrics_port_ << "/metrics"
            << (s->http_ != nullptr ? absl::StrCat(", HTTP on ", options.host, ":", s->http_port_)
                                    : "");
  RETURN_IF_ERROR(s->WarmUp());
  s->server_->GetHealthCheckService()->SetServingStatus(true);
  if (s->http_ != nullptr) s->http_->SetReady(true);
  LOG(INFO) << "serving " << options.engine.executor.model_dir;
  return s;
}

absl::Status InfusionServer::StartMetrics(const ServerOptions& options) {
  registry_ = std::make_shared<prometheus::Registry>();
  const ModelConfig& config = engine_->config();
  const v1::ModelInfo info = converter_->ModelInfo();
  metrics_ = std::make_unique<ServerMetrics>(
      registry_.get(), std::map<std::string, std::string>{
                           {"model", info.name()},
                           {"codec", info.codec()},
                           {"patch_encoder", info.patch_encoder()},
                           {"context_length", absl::StrCat(config.max_position_embeddings)},
                       });
  collector_ = std::make_shared<SchedulerCollector>(engine_.get());
  process_collector_ = std::make_shared<ProcessCollector>();
  ASSIGN_OR_RETURN(metrics_server_,
                   MetricsServer::Start(options.host, options.metrics_port,
                                        {registry_, collector_, process_collector_}));
  metrics_port_ = metrics_server_->port();
  return absl::OkStatus();
}

absl::Status InfusionServer::StartGrpc(const ServerOptions& options) {
  running_ = std::make_unique<RunningRequests>();
  service_ = std::make_unique<InfusionService>(
      StreamEnvironment{engine_.get(), converter_.get(), workers_.get(), metrics_.get(),
                        running_.get()},
      parser_.get(), authenticator_.get(), &gate_);
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials, Credentials(options));
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const std::string address = absl::StrCat(options.host, ":", options.port);
  builder.AddListeningPort(address, credentials, &port_);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(absl::StrCat("gRPC: cannot listen on ", address));
  }
  // gRPC's health service reports the whole server SERVING from the start; not before warm-up.
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  health->SetServingStatus("", false);
  health->SetServingStatus(kInfusionServiceName, false);
  return absl::OkStatus();
}

absl::Status InfusionServer::StartHttp(const ServerOptions& options) {
  if (options.http_port < 0) return absl::OkStatus();
  HttpServerOptions http;
  http.host = options.host;
  http.port = options.http_port;
  http.threads = options.http_threads;
  http.max_body_bytes = static_cast<size_t>(options.max_message_bytes);
  http.tls_cert = options.tls_cert;
  http.tls_key = options.tls_key;
  ASSIGN_OR_RETURN(http_, HttpServer::Start(http, HttpServer::Environment{
                                                      engine_.get(),
                                                      authenticator_.get(),
                                                      &gate_,
                                                      metrics_.get(),
                                                      {registry_, collector_,
                                                       process_collector_},
                                                  }));
  http_port_ = http_->port();
  return absl::OkStatus();
}

// One request through every kind of step (prefill and decode; guided denoising), so that
// LibTorch's first-call costs are paid before the first client's.
absl::Status InfusionServer::WarmUp() {
  GenerateRequest text;
  text.parts.push_back(InputPart::Text("warm up"));
  text.text.max_tokens = 2;
  text.max_images = 0;
  text.options.name = "warm-up";
  TextToImageRequest image;
  image.prompt = "warm up";
  image.image.steps = 1;
  image.image.guidance_scale = 2.0f;
  image.options.name = "warm-up";
  absl::Status done = RunToFinish(*engine_, text);
  if (done.ok()) done = RunToFinish(*engine_, image);
  if (!done.ok()) return absl::InternalError(absl::StrCat("warm-up failed: ", done.message()));
  return absl::OkStatus();
}

void InfusionServer::Drain(absl::Duration grace) {
  LOG(INFO) << "draining: " << absl::FormatDuration(grace) << " for running calls";
  gate_.Close();
  server_->GetHealthCheckService()->Shutdown();  // every service NOT_SERVING, for good
  if (!gate_.AwaitEmpty(absl::Now() + grace)) {
    // Through the engine first: each gRPC call still running then writes its finish event
    // `cancelled` and ends with CANCELLED (docs/api.md, section 4). A client that does not read
    // its stream is left to the shutdown below.
    const int cancelled = running_->CancelAll(*engine_);
    LOG(WARNING) << "grace period over: cancelling the calls still running (" << cancelled
                 << " over gRPC)";
    running_->AwaitEmpty(absl::Now() + absl::Seconds(5));
  }
  // Cancels what is left: calls past the grace period and health Watch streams.
  server_->Shutdown(absl::ToChronoTime(absl::Now()));
  server_->Wait();
  // HTTP calls past the grace period are cancelled while the engine still runs to end them.
  if (http_ != nullptr) http_->Stop();
  engine_->Stop();
  LOG(INFO) << "drained";
}

InfusionServer::~InfusionServer() {
  if (http_ != nullptr) http_->Stop();
  if (server_ != nullptr) {
    server_->Shutdown(absl::ToChronoTime(absl::Now()));
    server_->Wait();
  }
  // No event may reach a stream, or the worker pool, once they are gone.
  if (engine_ != nullptr) engine_->Stop();
}

}  // namespace infusion::server
