// What a run shows of itself every few hundred steps, beside its checkpoints:
//   OUT/samples/step_000500.png        text-to-image samples of fixed prompts, one per cell
//   OUT/samples/step_000500_input.png  the images it was asked to caption
//   OUT/samples/step_000500.txt        the prompts in grid order and the greedy captions
// The prompts are the server's (engine/prompt/prompt_builder.h) and images are drawn by the
// engine's denoising loop (engine/sampler/image_denoiser.h: DDIM with classifier-free guidance),
// so a grid shows what the server would answer; each model call is a full reference forward pass
// (engine/model/reference_forward.h): slow per sample, but a grid is a handful of samples and
// needs no KV cache.
#ifndef INFUSION_TRAINER_SAMPLE_GRID_H_
#define INFUSION_TRAINER_SAMPLE_GRID_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/codec/image.h"
#include "engine/model/image_latents.h"
#include "engine/model/transfusion_model.h"
#include "engine/sampler/noise_schedule.h"
#include "engine/tokenizer/tokenizer.h"

namespace infusion::trainer {

struct SampleOptions {
  int every = 0;                     // steps between grids; 0: never
  std::vector<std::string> prompts;  // text-to-image prompts, one grid cell each
  int captions = 4;                  // images of the training mix to caption, >= 0
  int steps = 25;                    // DDIM steps, [1, 1000]
  float guidance_scale = 3.0f;       // >= 0
  uint64_t seed = 0;                 // of the initial noise: the same every time
  int max_caption_tokens = 32;       // > 0

  absl::Status Validate() const;  // InvalidArgument naming the field
};

class SampleGridWriter {
 public:
  // caption_images: [K, n, patch_dim] clean normalised patches of the images to caption.
  // Everything referenced must outlive the writer.
  SampleGridWriter(const SampleOptions& options, const engine::Tokenizer& tokenizer,
                   engine::ImageLatents& latents, const engine::NoiseSchedule& schedule,
                   at::Tensor caption_images);

  // Samples with `model` (in eval mode, no autograd) and writes the three files into `dir`.
  absl::Status Write(engine::TransfusionModelImpl& model, int64_t step, const std::string& dir);

 private:
  // n patches [n, patch_dim] for `prompt`, guided against the unconditional <bos> <boi>.
  at::Tensor GenerateImage(engine::TransfusionModelImpl& model, const std::string& prompt,
                           uint64_t seed) const;
  // Greedy caption of patches [n, patch_dim] (clean), up to </s>.
  std::string Caption(engine::TransfusionModelImpl& model, const at::Tensor& patches) const;

  SampleOptions options_;
  const engine::Tokenizer& tokenizer_;
  engine::ImageLatents& latents_;
  const engine::NoiseSchedule& schedule_;
  at::Tensor caption_images_;  // [K, n, patch_dim]
};

// Lays images of equal size out in rows of `columns`, separated by `gap` white pixels.
engine::Image TileImages(const std::vector<engine::Image>& images, int columns, int gap);

}  // namespace infusion::trainer

#endif  // INFUSION_TRAINER_SAMPLE_GRID_H_
