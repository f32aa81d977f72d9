// Runs benchmark requests against an infusion-server over gRPC (the real client library).
#ifndef INFUSION_CLIENTS_BENCH_GRPC_DRIVER_H_
#define INFUSION_CLIENTS_BENCH_GRPC_DRIVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "clients/bench/driver.h"
#include "clients/client_lib/infusion_client.h"

namespace infusion::bench {

class GrpcDriver : public Driver {
 public:
  static absl::StatusOr<std::unique_ptr<GrpcDriver>> Create(const client::ClientOptions& options,
                                                            const WorkloadParams& workload);
  RequestTiming Run(WorkKind kind, int index) override;

 private:
  GrpcDriver(std::unique_ptr<client::InfusionClient> client, const WorkloadParams& workload)
      : client_(std::move(client)), workload_(workload) {}
  std::unique_ptr<client::InfusionClient> client_;
  WorkloadParams workload_;
};

}  // namespace infusion::bench

#endif  // INFUSION_CLIENTS_BENCH_GRPC_DRIVER_H_
