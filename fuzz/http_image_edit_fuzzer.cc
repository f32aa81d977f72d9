// The multipart/form-data body of POST /v1/images/edits, through the HTTP library the server
// uses: each input is the body (boundary "infusion-fuzz") of a request that a cpp-httplib Server
// reads from memory (its process_request, as for a connection, without sockets or threads), and
// whose handler reads the form as HttpServer::ImageEdits does (http::ParseImageEditForm). The
// image bytes are not decoded here: that is the `image` target's.
//
// Properties: no crash, in cpp-httplib's form parser or in ours; every request is answered with
// a status line; every refusal of ours is InvalidArgument (a 400); an accepted edit has a prompt,
// a non-empty image and options within their bounds.
#include <httplib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "fuzz/fuzz_check.h"
#include "server/http_api.h"

namespace {

namespace http = infusion::server::http;

// One connection's bytes: the request to read, the response written.
class MemoryStream : public httplib::Stream {
 public:
  explicit MemoryStream(std::string request) : in_(std::move(request)) {}
  bool is_readable() const override { return true; }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, in_.size() - at_);
    std::memcpy(ptr, in_.data() + at_, n);
    at_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    out_.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 40000;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 8080;
  }
  socket_t socket() const override { return INVALID_SOCKET; }
  const std::string& written() const { return out_; }

 private:
  const std::string in_;
  size_t at_ = 0;
  std::string out_;
};

void Handle(const httplib::Request& req, httplib::Response& res) {
  if (!req.is_multipart_form_data()) {
    res.status = 415;
    return;
  }
  absl::StatusOr<http::ImageEditCall> call = http::ParseImageEditForm(req.files);
  if (!call.ok()) {
    FUZZ_CHECK(call.status().code() == absl::StatusCode::kInvalidArgument);
    res.status = http::ToError(call.status()).http_status;
    FUZZ_CHECK(res.status == 400);
    return;
  }
  FUZZ_CHECK(!call->request.image.data.empty());
  FUZZ_CHECK(call->options.n >= 1 && call->options.n <= http::kMaxImagesPerCall);
  FUZZ_CHECK(call->options.partial_images >= 0 &&
             call->options.partial_images <= http::kMaxPartialImages);
  FUZZ_CHECK(!call->options.stream || call->options.n == 1);
  res.status = 200;
}

class MemoryServer : public httplib::Server {
 public:
  MemoryServer() {
    Post("/v1/images/edits", Handle);
    set_payload_max_length(1 << 20);
  }
  // What the server answers to `request` on a connection of its own.
  std::string Answer(std::string request) {
    MemoryStream stream(std::move(request));
    bool closed = false;
    process_request(stream, /*close_connection=*/true, closed, [](httplib::Request&) {});
    return stream.written();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static MemoryServer* server = new MemoryServer;
  const std::string request =
      absl::StrCat("POST /v1/images/edits HTTP/1.1\r\nHost: fuzz\r\n",
                   "Content-Type: multipart/form-data; boundary=infusion-fuzz\r\n",
                   "Content-Length: ", size, "\r\n\r\n",
                   absl::string_view(reinterpret_cast<const char*>(data), size));
  const std::string response = server->Answer(request);
  FUZZ_CHECK(absl::StartsWith(response, "HTTP/1.1 "));
  const bool known = absl::StartsWith(response, "HTTP/1.1 200 ") ||
                     absl::StartsWith(response, "HTTP/1.1 400 ") ||
                     absl::StartsWith(response, "HTTP/1.1 415 ");
  if (!known) std::fprintf(stderr, "answer: %.80s\n", response.c_str());
  FUZZ_CHECK(known);
  return 0;
}
