#include "server/infusion_service.h"

#include <chrono>
#include <optional>

#include "server/grpc_status.h"
#include "server/server_metrics.h"
#include "server/proto_converter.h"

namespace infusion::server {

using scheduler::EventSink;
using serving::InferenceEngine;

namespace {

absl::Status ShuttingDown() { return absl::UnavailableError("the server is shutting down"); }

absl::Time DeadlineOf(const grpc::CallbackServerContext& context) {
  const std::chrono::system_clock::time_point deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return absl::InfiniteFuture();
  return absl::FromChrono(deadline);
}

// The client's x-request-id metadata made safe, or a new id; echoed in the initial metadata so
// that the client can find the call's log line.
std::string RequestIdOf(grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("x-request-id");
  std::string id = RequestIdFrom(it == metadata.end()
                                     ? absl::string_view()
                                     : absl::string_view(it->second.data(), it->second.size()));
  context.AddInitialMetadata("x-request-id", id);
  return id;
}

}  // namespace

InfusionService::InfusionService(const StreamEnvironment& env, const RequestParser* parser,
                                 const ApiKeyAuthenticator* authenticator, CallGate* gate)
    : env_(env), parser_(parser), authenticator_(authenticator), gate_(gate) {}

absl::Status InfusionService::Authenticate(const grpc::CallbackServerContext& context) const {
  if (authenticator_ == nullptr) return absl::OkStatus();
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("authorization");
  if (it == metadata.end()) return authenticator_->Authenticate("");
  return authenticator_->Authenticate(absl::string_view(it->second.data(), it->second.size()));
}

template <typename Proto>
grpc::ServerWriteReactor<grpc::ByteBuffer>* InfusionService::Serve(
    const char* rpc, grpc::CallbackServerContext* context, const grpc::ByteBuffer& bytes) {
  const absl::Time arrival = absl::Now();
  std::string request_id = RequestIdOf(*context);
  std::optional<CallGate::Ticket> ticket = gate_->TryEnter();
  Proto proto;
  absl::Status status = ticket.has_value() ? Authenticate(*context) : ShuttingDown();
  if (status.ok()) status = parser_->Parse(bytes, &proto);
  if (!status.ok()) {
    CallRecorder(env_.metrics, Frontend::kGrpc, rpc, std::move(request_id), arrival)
        .End(status.code());
    return GenerationStream::Reject(ToGrpcStatus(status));
  }
  // Validation happens in the engine's Submit: an invalid request ends the stream at once.
  auto request = ProtoConverter::FromProto(proto);
  request.options.name = rpc;
  request.options.deadline = DeadlineOf(*context);
  // Preparing the request (decoding its images) runs here, before gRPC can call OnCancel: the
  // preparation asks the context itself, so a client that leaves stops it between images.
  request.options.cancelled = [context] { return context->IsCancelled(); };
  InferenceEngine* engine = env_.engine;
  return GenerationStream::Start(
      env_, context, rpc, std::move(request_id),
      [engine, &request](std::shared_ptr<EventSink> sink) {
        return engine->Submit(request, std::move(sink));
      },
      arrival, *std::move(ticket));
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* InfusionService::Generate(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  return Serve<v1::GenerateRequest>("Generate", context, *request);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* InfusionService::TextToImage(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  return Serve<v1::TextToImageRequest>("TextToImage", context, *request);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* InfusionService::Caption(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  return Serve<v1::CaptionRequest>("Caption", context, *request);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* InfusionService::Chat(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  return Serve<v1::ChatRequest>("Chat", context, *request);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* InfusionService::EditImage(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  return Serve<v1::EditImageRequest>("EditImage", context, *request);
}

grpc::ServerUnaryReactor* InfusionService::GetModelInfo(grpc::CallbackServerContext* context,
                                                        const v1::GetModelInfoRequest* /*request*/,
                                                        v1::ModelInfo* response) {
  const absl::Time arrival = absl::Now();
  std::string request_id = RequestIdOf(*context);
  const absl::Status status = gate_->closed() ? ShuttingDown() : Authenticate(*context);
  if (status.ok()) *response = env_.converter->ModelInfo();
  CallRecorder(env_.metrics, Frontend::kGrpc, "GetModelInfo", std::move(request_id), arrival)
      .End(status.code());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace infusion::server
