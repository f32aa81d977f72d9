#include "clients/client_lib/infusion_client.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace infusion::client {

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

absl::Status ClientOptions::Validate() const {
  if (server.empty()) return absl::InvalidArgumentError("client: server must not be empty");
  if (timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("client: timeout must be positive");
  }
  if (max_message_bytes < 1024) {
    return absl::InvalidArgumentError("client: max_message_bytes must be >= 1024");
  }
  if (!tls && !tls_root_certs.empty()) {
    return absl::InvalidArgumentError("client: tls_root_certs needs tls");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<InfusionClient>> InfusionClient::Create(
    const ClientOptions& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.tls_root_certs;
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  return std::unique_ptr<InfusionClient>(
      new InfusionClient(options, grpc::CreateCustomChannel(options.server, credentials, args)));
}

InfusionClient::InfusionClient(const ClientOptions& options, std::shared_ptr<grpc::Channel> channel)
    : options_(options),
      channel_(std::move(channel)),
      stub_(v1::Infusion::NewStub(channel_)),
      health_(grpc::health::v1::Health::NewStub(channel_)) {}

void InfusionClient::Prepare(grpc::ClientContext* context, const CallOptions& call) const {
  const absl::Duration timeout = call.timeout.value_or(options_.timeout);
  if (timeout != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
  if (!options_.api_key.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", options_.api_key));
  }
}

absl::StatusOr<StreamResult> InfusionClient::ReadStream(
    const std::function<
        std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>>(grpc::ClientContext*)>& open,
    const CallOptions& call) const {
  grpc::ClientContext context;
  Prepare(&context, call);
  const absl::Time start = absl::Now();
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader = open(&context);
  StreamResult result;
  v1::GenerateResponse response;
  while (reader->Read(&response)) {
    const absl::Duration now = absl::Now() - start;
    switch (response.event_case()) {
      case v1::GenerateResponse::kText:
        if (result.text_events++ == 0) result.time_to_first_text = now;
        result.text += response.text().text();
        break;
      case v1::GenerateResponse::kProgress:
        ++result.progress_events;
        break;
      case v1::GenerateResponse::kImage:
        if (result.images.empty()) result.time_to_first_image = now;
        result.images.push_back(response.image());
        break;
      case v1::GenerateResponse::kFinish:
        result.finish = response.finish();
        break;
      case v1::GenerateResponse::EVENT_NOT_SET:
        break;
    }
    if (call.on_event && !call.on_event(response)) {
      context.TryCancel();
      while (reader->Read(&response)) {
      }
      break;
    }
  }
  const grpc::Status status = reader->Finish();
  result.latency = absl::Now() - start;
  if (!status.ok()) return FromGrpcStatus(status);
  return result;
}

absl::StatusOr<StreamResult> InfusionClient::Generate(const v1::GenerateRequest& request,
                                                      const CallOptions& call) const {
  return ReadStream([&](grpc::ClientContext* c) { return stub_->Generate(c, request); }, call);
}

absl::StatusOr<StreamResult> InfusionClient::TextToImage(const v1::TextToImageRequest& request,
                                                         const CallOptions& call) const {
  return ReadStream([&](grpc::ClientContext* c) { return stub_->TextToImage(c, request); }, call);
}

absl::StatusOr<StreamResult> InfusionClient::Caption(const v1::CaptionRequest& request,
                                                     const CallOptions& call) const {
  return ReadStream([&](grpc::ClientContext* c) { return stub_->Caption(c, request); }, call);
}

absl::StatusOr<StreamResult> InfusionClient::Chat(const v1::ChatRequest& request,
                                                  const CallOptions& call) const {
  return ReadStream([&](grpc::ClientContext* c) { return stub_->Chat(c, request); }, call);
}

absl::StatusOr<StreamResult> InfusionClient::EditImage(const v1::EditImageRequest& request,
                                                       const CallOptions& call) const {
  return ReadStream([&](grpc::ClientContext* c) { return stub_->EditImage(c, request); }, call);
}

absl::StatusOr<v1::ModelInfo> InfusionClient::GetModelInfo(const CallOptions& call) const {
  grpc::ClientContext context;
  Prepare(&context, call);
  v1::ModelInfo info;
  const grpc::Status status = stub_->GetModelInfo(&context, v1::GetModelInfoRequest(), &info);
  if (!status.ok()) return FromGrpcStatus(status);
  return info;
}

absl::StatusOr<ServingStatus> InfusionClient::CheckHealth(const std::string& service,
                                                          const CallOptions& call) const {
  grpc::ClientContext context;
  Prepare(&context, call);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = health_->Check(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response.status();
}

absl::Status InfusionClient::WatchHealth(const std::string& service,
                                         const std::function<bool(ServingStatus)>& on_status,
                                         const CallOptions& call) const {
  grpc::ClientContext context;
  Prepare(&context, call);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  std::unique_ptr<grpc::ClientReader<grpc::health::v1::HealthCheckResponse>> reader =
      health_->Watch(&context, request);
  grpc::health::v1::HealthCheckResponse response;
  while (reader->Read(&response)) {
    if (!on_status(response.status())) {
      context.TryCancel();
      while (reader->Read(&response)) {
      }
      break;
    }
  }
  return FromGrpcStatus(reader->Finish());
}

}  // namespace infusion::client
