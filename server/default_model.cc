#include "server/default_model.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace infusion::server {

std::vector<std::string> DefaultModelCandidates(absl::string_view executable) {
  const std::filesystem::path bin = std::filesystem::path(std::string(executable)).parent_path();
  return {
      (bin / ".." / "share" / "infusion" / "models" / "shapes").lexically_normal().string(),
      (bin / ".." / ".." / "models" / "shapes").lexically_normal().string(),
  };
}

absl::StatusOr<std::string> FindDefaultModel(absl::string_view executable) {
  const std::vector<std::string> candidates = DefaultModelCandidates(executable);
  for (const std::string& dir : candidates) {
    std::error_code error;
    if (std::filesystem::is_regular_file(std::filesystem::path(dir) / "config.json", error)) {
      return dir;
    }
  }
  return absl::NotFoundError(absl::StrCat("no --model given and no default model (config.json) in ",
                                          absl::StrJoin(candidates, " or ")));
}

std::string ExecutablePath(const char* argv0) {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) return self.string();
  return std::filesystem::absolute(argv0, error).string();
}

}  // namespace infusion::server
