#include "clients/eval/generator.h"

#include "absl/strings/str_cat.h"
#include "engine/sampler/diffusion_params.h"

namespace infusion::eval {

using engine::DiffusionParams;

absl::Status GenerationParams::Validate() const {
  if (image_steps && (*image_steps < 1 || *image_steps > DiffusionParams::kMaxSteps)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "image_steps must be in [1, ", DiffusionParams::kMaxSteps, "], got ", *image_steps));
  }
  if (guidance_scale && !(*guidance_scale >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("guidance_scale must be >= 0, got ", *guidance_scale));
  }
  if (max_text_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_text_tokens must be >= 1, got ", max_text_tokens));
  }
  return absl::OkStatus();
}

}  // namespace infusion::eval
