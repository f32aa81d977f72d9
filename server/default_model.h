// Where infusion-server finds its model when --model is not given: the bundled default model
// (models/shapes) beside the executable, in an installed tree or in the build tree.
#ifndef INFUSION_SERVER_DEFAULT_MODEL_H_
#define INFUSION_SERVER_DEFAULT_MODEL_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace infusion::server {

// The directories tried, in order, for an executable at `executable` (an absolute path):
//   BINDIR/../share/infusion/models/shapes   installed (cmake --install, the .deb, the image)
//   BUILD/server/../../models/shapes         the build tree inside the source tree (build.sh)
std::vector<std::string> DefaultModelCandidates(absl::string_view executable);

// The first candidate that holds a config.json; NotFound naming every place tried otherwise.
absl::StatusOr<std::string> FindDefaultModel(absl::string_view executable);

// The running executable's absolute path (/proc/self/exe); `argv0` when that cannot be read.
std::string ExecutablePath(const char* argv0);

}  // namespace infusion::server

#endif  // INFUSION_SERVER_DEFAULT_MODEL_H_
