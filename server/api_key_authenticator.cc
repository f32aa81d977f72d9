#include "server/api_key_authenticator.h"

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace infusion::server {
namespace {

// Compares in time that depends on the lengths only, so response times do not reveal how much
// of a guessed key is right.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ApiKeyAuthenticator>> ApiKeyAuthenticator::FromFile(
    const std::string& path) {
  std::ifstream file(path);
  if (!file) return absl::NotFoundError(path + ": cannot open API keys file");
  std::stringstream text;
  text << file.rdbuf();
  absl::StatusOr<std::unique_ptr<ApiKeyAuthenticator>> auth = FromText(text.str());
  if (!auth.ok())
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", auth.status().message()));
  return auth;
}

absl::StatusOr<std::unique_ptr<ApiKeyAuthenticator>> ApiKeyAuthenticator::FromText(
    absl::string_view text) {
  std::vector<std::string> keys;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    keys.emplace_back(line);
  }
  if (keys.empty()) return absl::InvalidArgumentError("no API key");
  return std::unique_ptr<ApiKeyAuthenticator>(new ApiKeyAuthenticator(std::move(keys)));
}

absl::Status ApiKeyAuthenticator::Authenticate(absl::string_view authorization) const {
  if (authorization.empty()) {
    return absl::UnauthenticatedError("missing 'authorization: Bearer KEY' metadata");
  }
  absl::string_view key = authorization;
  if (!absl::ConsumePrefix(&key, "Bearer ")) {
    return absl::UnauthenticatedError("authorization metadata must be 'Bearer KEY'");
  }
  bool known = false;
  for (const std::string& k : keys_) known |= ConstantTimeEquals(key, k);
  if (!known) return absl::UnauthenticatedError("unknown API key");
  return absl::OkStatus();
}

}  // namespace infusion::server
