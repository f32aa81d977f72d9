// Sub-commands of `infusion-tool`, each reading its own absl flags (declared in main.cc).
#ifndef INFUSION_TOOLS_INFUSION_TOOL_COMMANDS_H_
#define INFUSION_TOOLS_INFUSION_TOOL_COMMANDS_H_

#include "absl/status/status.h"

namespace infusion::tool {

absl::Status RunInit();         // init: a model directory with random weights
absl::Status RunForward();      // forward: one reference forward pass of a mixed sequence
absl::Status RunEncodeImage();  // encode-image: PNG/JPEG -> normalised latent patches
absl::Status RunDecodeImage();  // decode-image: normalised latent patches -> PNG

}  // namespace infusion::tool

#endif  // INFUSION_TOOLS_INFUSION_TOOL_COMMANDS_H_
