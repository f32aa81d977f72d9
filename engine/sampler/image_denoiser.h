// The denoising loop of one image, in one place: the engine's output processor (continuous
// batching), the Generate oracle and the trainer's sample grids all draw images through it, so
// seeding, classifier-free guidance, the solver step and previews cannot drift apart.
//
//   ASSIGN_OR_RETURN(ImageDenoiser image, ImageDenoiser::Start(schedule, params, index, n));
//   while (!image.done()) {
//     // The model predicts the noise of image.x() at image.timestep(): conditionally and, when
//     // image.guided(), also after the unconditional prefix.
//     image.Advance(eps_cond, image.guided() ? eps_uncond : nullptr, /*preview=*/nullptr);
//   }
//   std::vector<float> latents = std::move(image).TakeLatents();
#ifndef INFUSION_ENGINE_SAMPLER_IMAGE_DENOISER_H_
#define INFUSION_ENGINE_SAMPLER_IMAGE_DENOISER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/sampler/diffusion_params.h"
#include "engine/sampler/diffusion_sampler.h"
#include "engine/sampler/noise_schedule.h"

namespace infusion::engine {

class ImageDenoiser {
 public:
  // Starts the `image_index`-th image of a request (0 for the first): every image of a request
  // gets its own noise, seeded with params.seed + image_index. `schedule` must outlive the
  // denoiser. InvalidArgument when `params` are invalid for the schedule.
  static absl::StatusOr<ImageDenoiser> Start(const NoiseSchedule& schedule,
                                             const DiffusionParams& params, int image_index,
                                             size_t num_elements);

  // Whether the model must also predict after the unconditional prefix (guidance scale != 1).
  bool guided() const { return params_.guidance_scale != 1.0f; }
  bool done() const { return Done(state_); }
  // The latents to denoise next, at timestep(); the clean latents once done().
  const std::vector<float>& x() const { return state_.x; }
  // Requires !done().
  int32_t timestep() const { return CurrentTimestep(state_); }
  int steps_taken() const { return static_cast<int>(state_.step); }
  int total_steps() const { return static_cast<int>(state_.timesteps.size()); }

  // Combines the predictions (eps_uncond + scale * (eps_cond - eps_uncond) when eps_uncond is
  // given) and takes one solver step. When `preview` is not null it receives the clipped
  // clean-image estimate of this step (before the step). Requires !done().
  // eps_cond, eps_uncond: [x().size()]
  void Advance(const float* eps_cond, const float* eps_uncond, std::vector<float>* preview);

  std::vector<float> TakeLatents() && { return std::move(state_.x); }

 private:
  ImageDenoiser(const NoiseSchedule& schedule, const DiffusionParams& params, DiffusionState state)
      : schedule_(&schedule), params_(params), state_(std::move(state)) {}

  const NoiseSchedule* schedule_;
  DiffusionParams params_;  // seed already advanced by the image index
  DiffusionState state_;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_SAMPLER_IMAGE_DENOISER_H_
