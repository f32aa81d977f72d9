// One run of a prompt: text tokens, or one image as normalised latent patches.
#ifndef INFUSION_ENGINE_PROMPT_PROMPT_PART_H_
#define INFUSION_ENGINE_PROMPT_PROMPT_PART_H_

#include <cstdint>
#include <vector>

namespace infusion::engine {

struct PromptPart {
  std::vector<int32_t> tokens;
  std::vector<float> image_patches;  // [n * patch_dim] when this part is an image
  uint64_t image_hash = 0;           // content hash of the patches (prefix-cache key)

  bool is_image() const { return !image_patches.empty(); }
  static PromptPart Text(std::vector<int32_t> tokens);
  static PromptPart Image(std::vector<float> patches);  // computes image_hash
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_PROMPT_PROMPT_PART_H_
