#include "engine/sampler/diffusion_params.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace infusion::engine {

absl::Status DiffusionParams::Validate() const {
  if (solver != DiffusionSolver::kDdim && solver != DiffusionSolver::kDdpm) {
    return absl::InvalidArgumentError(
        absl::StrCat("solver must be DDIM or DDPM, got ", static_cast<int>(solver)));
  }
  if (steps < 1 || steps > kMaxSteps) {
    return absl::InvalidArgumentError(
        absl::StrCat("steps must be in [1, ", kMaxSteps, "], got ", steps));
  }
  // The negated comparisons also reject NaN.
  if (!(eta >= 0.0f && eta <= 1.0f)) {
    return absl::InvalidArgumentError(absl::StrCat("eta must be in [0, 1], got ", eta));
  }
  if (!(guidance_scale >= 0.0f) || std::isinf(guidance_scale)) {
    return absl::InvalidArgumentError(
        absl::StrCat("guidance_scale must be finite and >= 0, got ", guidance_scale));
  }
  if (!(clip_sample_range >= 0.0f) || std::isinf(clip_sample_range)) {
    return absl::InvalidArgumentError(
        absl::StrCat("clip_sample_range must be finite and >= 0, got ", clip_sample_range));
  }
  if (noise_channels < 0 || noise_patch_area < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "noise_channels must be >= 0 and noise_patch_area >= 1, got ", noise_channels, " and ",
        noise_patch_area));
  }
  return absl::OkStatus();
}

}  // namespace infusion::engine
