#include "engine/sampler/image_denoiser.h"

#include "absl/types/span.h"
#include "common/status_macros.h"

namespace infusion::engine {

absl::StatusOr<ImageDenoiser> ImageDenoiser::Start(const NoiseSchedule& schedule,
                                                   const DiffusionParams& params, int image_index,
                                                   size_t num_elements) {
  DiffusionParams seeded = params;
  seeded.seed += static_cast<uint64_t>(image_index);
  ASSIGN_OR_RETURN(DiffusionState state, DiffusionState::Start(schedule, seeded, num_elements));
  return ImageDenoiser(schedule, seeded, std::move(state));
}

void ImageDenoiser::Advance(const float* eps_cond, const float* eps_uncond,
                            std::vector<float>* preview) {
  const size_t n = state_.x.size();
  std::vector<float> eps(eps_cond, eps_cond + n);
  if (eps_uncond != nullptr) {
    ApplyGuidance(absl::MakeConstSpan(eps_cond, n), absl::MakeConstSpan(eps_uncond, n),
                  params_.guidance_scale, absl::MakeSpan(eps));
  }
  if (preview != nullptr) *preview = PredictX0(*schedule_, params_, eps.data(), state_);
  Step(*schedule_, params_, eps.data(), &state_);
}

}  // namespace infusion::engine
