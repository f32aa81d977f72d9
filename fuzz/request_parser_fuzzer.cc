// gRPC request bodies: RequestParser::Parse of raw bytes, as the server's handlers call it, for
// each request message of the API. The first input byte picks the message type.
//
// Properties: no crash; it accepts exactly the bytes protobuf's own parser accepts, refusing the
// rest with InvalidArgument; an accepted message re-serializes and parses back equal; and parsing
// never writes to protobuf's log (every log line here would be one a client can make the server
// write, see issue #22).
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <string>

#include "fuzz/fuzz_check.h"
#include "infusion/v1/infusion.pb.h"
#include "server/request_parser.h"

namespace {

void AbortOnLog(google::protobuf::LogLevel level, const char* filename, int line,
                const std::string& message) {
  std::fprintf(stderr, "protobuf logged while parsing a request: %s:%d: %s\n", filename, line,
               message.c_str());
  std::abort();
}

template <typename T>
void ParseAs(const infusion::server::RequestParser& parser, absl::string_view bytes) {
  T message;
  const absl::Status status = parser.Parse(bytes, &message);
  {
    // RequestParser accepts exactly what protobuf accepts (here allowed to log, and silenced).
    const google::protobuf::LogSilencer silence;
    T plain;
    FUZZ_CHECK(plain.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) == status.ok());
  }
  if (!status.ok()) {
    FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  const std::string serialized = message.SerializeAsString();
  T again;
  FUZZ_CHECK(parser.Parse(serialized, &again).ok());
  FUZZ_CHECK(again.SerializeAsString() == serialized);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const infusion::server::RequestParser* const parser = [] {
    google::protobuf::SetLogHandler(&AbortOnLog);
    auto created = infusion::server::RequestParser::Create(
        infusion::v1::GenerateRequest::descriptor()->file());
    FUZZ_CHECK(created.ok());
    return created->release();
  }();
  if (size == 0) return 0;
  using ParseFunction = void (*)(const infusion::server::RequestParser&, absl::string_view);
  constexpr ParseFunction kParsers[] = {
      &ParseAs<infusion::v1::GenerateRequest>,  &ParseAs<infusion::v1::TextToImageRequest>,
      &ParseAs<infusion::v1::CaptionRequest>,   &ParseAs<infusion::v1::ChatRequest>,
      &ParseAs<infusion::v1::EditImageRequest>, &ParseAs<infusion::v1::GetModelInfoRequest>};
  kParsers[data[0] % std::size(kParsers)](
      *parser, absl::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  return 0;
}
