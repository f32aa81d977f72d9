// Parses request messages from the bytes gRPC received, so that every malformed request is
// answered with INVALID_ARGUMENT. gRPC's own parsing answers a request it cannot parse with a bare
// UNIMPLEMENTED, and protobuf refuses a proto3 string that is not valid UTF-8 without saying which
// field it was; so when parsing fails, the bytes are parsed again against a copy of the schema
// whose strings are bytes, and the first string that is not UTF-8 is named ("messages[1].role").
//
// Thread-safe.
#ifndef INFUSION_SERVER_REQUEST_PARSER_H_
#define INFUSION_SERVER_REQUEST_PARSER_H_

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/message.h>
#include <grpcpp/support/byte_buffer.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace infusion {

class RequestParser {
 public:
  // Parses messages of the .proto file `file` (which must import nothing).
  static absl::StatusOr<std::unique_ptr<RequestParser>> Create(
      const google::protobuf::FileDescriptor* file);

  absl::Status Parse(const grpc::ByteBuffer& buffer, google::protobuf::Message* message) const;
  absl::Status Parse(absl::string_view bytes, google::protobuf::Message* message) const;

 private:
  RequestParser() = default;
  // InvalidArgument naming the first string of `bytes` that is not UTF-8, or describing the
  // failure when there is none.
  absl::Status Diagnose(absl::string_view bytes, const google::protobuf::Descriptor& type) const;

  google::protobuf::DescriptorPool lenient_pool_;  // the schema, strings turned into bytes
  mutable google::protobuf::DynamicMessageFactory factory_;  // GetPrototype is thread-safe
};

}  // namespace infusion

#endif  // INFUSION_SERVER_REQUEST_PARSER_H_
