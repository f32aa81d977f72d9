#include "engine/prompt/prompt_part.h"

#include "engine/kv_cache/position_key.h"

namespace infusion::engine {

PromptPart PromptPart::Text(std::vector<int32_t> tokens) {
  PromptPart part;
  part.tokens = std::move(tokens);
  return part;
}

PromptPart PromptPart::Image(std::vector<float> patches) {
  PromptPart part;
  part.image_hash = HashBytes(patches.data(), patches.size() * sizeof(float));
  part.image_patches = std::move(patches);
  return part;
}

}  // namespace infusion::engine
