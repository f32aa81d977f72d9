// The gRPC backend of infusion-eval: each task is one call of the infusion API (docs/api.md)
// through the C++ client library, `concurrency` calls in flight at once so that the server's
// continuous batching sees a full batch. Images travel as PNG.
#ifndef INFUSION_CLIENTS_EVAL_SERVER_GENERATOR_H_
#define INFUSION_CLIENTS_EVAL_SERVER_GENERATOR_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "clients/client_lib/infusion_client.h"
#include "clients/eval/generator.h"

namespace infusion::eval {

struct ServerGeneratorOptions {
  client::ClientOptions client;
  int concurrency = 32;  // calls in flight
  GenerationParams params;

  absl::Status Validate() const;  // InvalidArgument naming the field
};

class ServerGenerator : public Generator {
 public:
  static absl::StatusOr<std::unique_ptr<ServerGenerator>> Create(
      const ServerGeneratorOptions& options);

  absl::StatusOr<std::vector<engine::Image>> TextToImage(
      const std::vector<TextToImageTask>& tasks) override;
  absl::StatusOr<std::vector<std::string>> Caption(const std::vector<CaptionTask>& tasks) override;
  absl::StatusOr<std::vector<std::string>> Chat(const std::vector<ChatTask>& tasks) override;
  absl::StatusOr<std::vector<engine::Image>> Edit(const std::vector<EditTask>& tasks) override;

  // The served model's name (its directory's base name).
  absl::StatusOr<std::string> ModelName() const;

 private:
  ServerGenerator(const ServerGeneratorOptions& options,
                  std::unique_ptr<client::InfusionClient> client)
      : options_(options), client_(std::move(client)) {}

  // Runs call(i) for every i in [0, n) on `concurrency` threads; the first error, naming i.
  absl::Status ForEach(size_t n, const std::function<absl::Status(size_t)>& call) const;
  v1::TextParams TextParams() const;
  v1::ImageParams ImageParams(uint64_t seed) const;

  ServerGeneratorOptions options_;
  std::unique_ptr<client::InfusionClient> client_;
};

}  // namespace infusion::eval

#endif  // INFUSION_CLIENTS_EVAL_SERVER_GENERATOR_H_
