// Single-sequence generation over an Executor, without the scheduler: the whole prompt in one
// prefill, then token by token; when <boi> is sampled (or the prompt ends with it) the image is
// denoised (with classifier-free guidance when an unconditional prefix is given), committed at
// t = 0 with <eoi>, and text resumes. For tools and as the scheduler's oracle: continuous
// batching must produce exactly what this produces for each request alone. Outputs are
// processed by the engine's own OutputProcessor (sampling, token rules, the ImageDenoiser), so
// the oracle checks what batching changes: KV bookkeeping, chunking, shared steps.
//
// The executor's KV cache must not be in use by anyone else while Generate runs.
#ifndef INFUSION_ENGINE_GENERATE_GENERATE_H_
#define INFUSION_ENGINE_GENERATE_GENERATE_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/executor/executor.h"
#include "engine/prompt/prompt_part.h"
#include "engine/sampler/diffusion_params.h"
#include "engine/sampler/sampling_params.h"

namespace infusion::engine {

struct GenerateOptions {
  SamplingParams text;
  DiffusionParams image;
  std::vector<PromptPart> uncond_prompt;  // CFG prefix ending with <boi>; empty = no CFG
  int max_images = 0;            // images the model may open with <boi>
  bool finish_after_image = false;  // stop once an image is drawn (text-to-image, editing)
  int boi_token_id = 4;
  int eoi_token_id = 5;
  int bos_token_id = 2;
  int num_train_timesteps = 1000;
};

struct GenerateOutput {
  // What was generated, in order: text runs and images (normalised patches).
  std::vector<PromptPart> parts;
  int generated_tokens = 0;
  int image_steps = 0;
  bool stopped = false;  // a stop token ended it (otherwise max_tokens or an image)
};

absl::StatusOr<GenerateOutput> Generate(Executor& executor, const std::vector<PromptPart>& prompt,
                                        const GenerateOptions& options);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_GENERATE_GENERATE_H_
