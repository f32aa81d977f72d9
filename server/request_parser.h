// Parses request messages from the bytes gRPC received, so that every malformed request is
// answered with INVALID_ARGUMENT. gRPC's own parsing answers a request it cannot parse with a bare
// UNIMPLEMENTED, and protobuf refuses a proto3 string that is not valid UTF-8 without saying which
// field it was, and writes an error line to the process's log for each one: a client sending such
// strings could flood the log. So the wire bytes are first walked against the schema, and the
// first string that is not UTF-8 is named ("messages[1].parts[0].text") before protobuf parses,
// which then never meets one; bytes the walk finds malformed are refused without protobuf. The
// walk reads tags and lengths only and copies nothing.
//
// Thread-safe.
#ifndef INFUSION_SERVER_REQUEST_PARSER_H_
#define INFUSION_SERVER_REQUEST_PARSER_H_

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <grpcpp/support/byte_buffer.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace infusion::server {

class RequestParser {
 public:
  // Parses messages of the .proto file `file`.
  static absl::StatusOr<std::unique_ptr<RequestParser>> Create(
      const google::protobuf::FileDescriptor* file);

  // `message` must be of a type of the parser's file. Writes nothing to the log, whatever the
  // bytes.
  absl::Status Parse(const grpc::ByteBuffer& buffer, google::protobuf::Message* message) const;
  absl::Status Parse(absl::string_view bytes, google::protobuf::Message* message) const;

 private:
  explicit RequestParser(const google::protobuf::FileDescriptor* file) : file_(file) {}

  const google::protobuf::FileDescriptor* const file_;
};

}  // namespace infusion::server

#endif  // INFUSION_SERVER_REQUEST_PARSER_H_
