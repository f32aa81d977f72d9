// Bearer-key authentication: a call is let in when its `authorization` metadata is
// "Bearer KEY" for one of the configured keys.
#ifndef INFUSION_SERVER_API_KEY_AUTHENTICATOR_H_
#define INFUSION_SERVER_API_KEY_AUTHENTICATOR_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace infusion::server {

class ApiKeyAuthenticator {
 public:
  // One key per line; surrounding whitespace, blank lines and lines starting with '#' are
  // skipped. A file without any key is an error: it would lock every caller out.
  static absl::StatusOr<std::unique_ptr<ApiKeyAuthenticator>> FromFile(const std::string& path);
  static absl::StatusOr<std::unique_ptr<ApiKeyAuthenticator>> FromText(absl::string_view text);

  // OK, or UNAUTHENTICATED. `authorization` is the metadata value, empty when absent.
  absl::Status Authenticate(absl::string_view authorization) const;

 private:
  explicit ApiKeyAuthenticator(std::vector<std::string> keys) : keys_(std::move(keys)) {}
  std::vector<std::string> keys_;
};

}  // namespace infusion::server

#endif  // INFUSION_SERVER_API_KEY_AUTHENTICATOR_H_
