// Runs benchmark requests over the OpenAI-compatible HTTP API of a running infusion-server:
// chat as a streamed POST /v1/chat/completions (each server-sent chunk that carries text counts
// as a token's arrival), text-to-image as POST /v1/images/generations.
#ifndef INFUSION_CLIENTS_BENCH_HTTP_DRIVER_H_
#define INFUSION_CLIENTS_BENCH_HTTP_DRIVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "clients/bench/driver.h"

namespace infusion::bench {

class HttpDriver : public Driver {
 public:
  // `url`: scheme, host and port, e.g. "http://localhost:8000". `api_key` is sent as a bearer
  // token when not empty.
  static absl::StatusOr<std::unique_ptr<HttpDriver>> Create(const std::string& url,
                                                            const std::string& api_key,
                                                            const WorkloadParams& workload);
  RequestTiming Run(WorkKind kind, int index) override;

 private:
  HttpDriver(std::string url, std::string api_key, const WorkloadParams& workload)
      : url_(std::move(url)), api_key_(std::move(api_key)), workload_(workload) {}

  const std::string url_;
  const std::string api_key_;
  const WorkloadParams workload_;
};

}  // namespace infusion::bench

#endif  // INFUSION_CLIENTS_BENCH_HTTP_DRIVER_H_
