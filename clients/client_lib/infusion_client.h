// A C++ client of the infusion API (docs/api.md), shared by the `infusion` command-line client,
// infusion-bench and the server's tests: one channel, blocking calls, each streamed event handed
// to a callback as it arrives and the whole stream assembled into a StreamResult.
//
// Thread-safe: many threads may call one client at once (gRPC multiplexes calls on the channel).
#ifndef INFUSION_CLIENTS_CLIENT_LIB_INFUSION_CLIENT_H_
#define INFUSION_CLIENTS_CLIENT_LIB_INFUSION_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "infusion/v1/infusion.grpc.pb.h"

namespace infusion::client {

using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

struct ClientOptions {
  std::string server = "localhost:50051";  // host:port
  std::string api_key;                     // sent as "authorization: Bearer KEY" when not empty
  absl::Duration timeout = absl::InfiniteDuration();  // each call's deadline, unless it sets one
  bool tls = false;                  // TLS, the server checked against tls_root_certs
  std::string tls_root_certs;        // PEM; empty = the system's roots
  int max_message_bytes = 64 << 20;  // largest response accepted

  absl::Status Validate() const;
};

// Sees each event of a stream as it arrives; returning false cancels the call (CANCELLED).
using EventHandler = std::function<bool(const v1::GenerateResponse&)>;

struct CallOptions {
  std::optional<absl::Duration> timeout;  // overrides ClientOptions::timeout
  EventHandler on_event;                  // may be empty
};

// A finished stream's events, put together, and what the client measured.
struct StreamResult {
  std::string text;                        // every text delta, in order
  std::vector<v1::GeneratedImage> images;  // every image, in order
  int text_events = 0;
  int progress_events = 0;
  v1::Finish finish;  // the stream's last event
  // From the start of the call; infinite when no such event came.
  absl::Duration time_to_first_text = absl::InfiniteDuration();
  absl::Duration time_to_first_image = absl::InfiniteDuration();
  absl::Duration latency;  // to the end of the stream
};

class InfusionClient {
 public:
  static absl::StatusOr<std::unique_ptr<InfusionClient>> Create(const ClientOptions& options);

  // Each streaming call returns its assembled result once the stream ends with OK, or the call's
  // status: INVALID_ARGUMENT naming a field, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, CANCELLED
  // (also when `on_event` returned false), UNAUTHENTICATED, UNAVAILABLE, ...
  absl::StatusOr<StreamResult> Generate(const v1::GenerateRequest& request,
                                        const CallOptions& call = {}) const;
  absl::StatusOr<StreamResult> TextToImage(const v1::TextToImageRequest& request,
                                           const CallOptions& call = {}) const;
  absl::StatusOr<StreamResult> Caption(const v1::CaptionRequest& request,
                                       const CallOptions& call = {}) const;
  absl::StatusOr<StreamResult> Chat(const v1::ChatRequest& request,
                                    const CallOptions& call = {}) const;
  absl::StatusOr<StreamResult> EditImage(const v1::EditImageRequest& request,
                                         const CallOptions& call = {}) const;
  absl::StatusOr<v1::ModelInfo> GetModelInfo(const CallOptions& call = {}) const;

  // grpc.health.v1: the status of `service` ("" = the whole server, "infusion.v1.Infusion").
  absl::StatusOr<ServingStatus> CheckHealth(const std::string& service = "",
                                            const CallOptions& call = {}) const;
  // Streams the status of `service` to `on_status` (first the current one, then each change)
  // until the server ends the stream or `on_status` returns false (then CANCELLED).
  absl::Status WatchHealth(const std::string& service,
                           const std::function<bool(ServingStatus)>& on_status,
                           const CallOptions& call = {}) const;

 private:
  explicit InfusionClient(const ClientOptions& options, std::shared_ptr<grpc::Channel> channel);
  void Prepare(grpc::ClientContext* context, const CallOptions& call) const;
  // Reads a generation stream opened by `open` to its end.
  absl::StatusOr<StreamResult> ReadStream(
      const std::function<
          std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>>(grpc::ClientContext*)>& open,
      const CallOptions& call) const;

  const ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Infusion::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

// grpc::Status -> absl::Status: the code enums share their numbering.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace infusion::client

#endif  // INFUSION_CLIENTS_CLIENT_LIB_INFUSION_CLIENT_H_
