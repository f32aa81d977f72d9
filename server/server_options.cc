#include "server/server_options.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace infusion::server {

absl::Status ServerOptions::Validate() const {
  RETURN_IF_ERROR(engine.Validate());
  auto bad = [](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("server options: ", what));
  };
  if (port < 0 || port > 65535) return bad(absl::StrCat("port must be in [0, 65535], got ", port));
  if (metrics_port < 0 || metrics_port > 65535) {
    return bad(absl::StrCat("metrics_port must be in [0, 65535], got ", metrics_port));
  }
  if (port != 0 && port == metrics_port) return bad("port and metrics_port must differ");
  if (http_port < -1 || http_port > 65535) {
    return bad(absl::StrCat("http_port must be in [-1, 65535], got ", http_port));
  }
  if (http_port > 0 && (http_port == port || http_port == metrics_port)) {
    return bad("http_port must differ from port and metrics_port");
  }
  if (http_threads < 1) return bad("http_threads must be >= 1");
  if (max_message_bytes < 1024) {
    return bad(absl::StrCat("max_message_bytes must be >= 1024, got ", max_message_bytes));
  }
  if (engine.image_limits.max_bytes > static_cast<size_t>(max_message_bytes)) {
    return bad("max_image_bytes must not exceed max_message_bytes");
  }
  const engine::ImageLimits& image = engine.image_limits;
  if (image.max_aspect_ratio < 1) {
    return bad(absl::StrCat("max_image_aspect_ratio must be >= 1, got ", image.max_aspect_ratio));
  }
  if (image.max_jpeg_scans < 1) {
    return bad(absl::StrCat("max_jpeg_scans must be >= 1, got ", image.max_jpeg_scans));
  }
  if (tls_cert.empty() != tls_key.empty()) return bad("tls_cert and tls_key go together");
  if (drain_grace < absl::ZeroDuration()) return bad("drain_grace must be >= 0");
  if (stream_threads < 1) return bad("stream_threads must be >= 1");
  return absl::OkStatus();
}

}  // namespace infusion::server
