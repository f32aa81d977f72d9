// absl::Status -> grpc::Status. The two code enums share their numbering (both are
// google.rpc.Code), so the conversion keeps the code and the message.
#ifndef INFUSION_SERVER_GRPC_STATUS_H_
#define INFUSION_SERVER_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"

namespace infusion::server {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace infusion::server

#endif  // INFUSION_SERVER_GRPC_STATUS_H_
