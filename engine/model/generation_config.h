// Serving defaults of a model (generation.json of a model directory): what a request that leaves
// a parameter unset gets.
#ifndef INFUSION_ENGINE_MODEL_GENERATION_CONFIG_H_
#define INFUSION_ENGINE_MODEL_GENERATION_CONFIG_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace infusion::engine {

struct GenerationConfig {
  // Text.
  int max_tokens = 64;
  float temperature = 0.0f;  // 0 = greedy
  float top_p = 1.0f;
  int top_k = 0;
  float repetition_penalty = 1.0f;
  // Images.
  int image_steps = 25;
  float guidance_scale = 3.0f;
  std::string sampler = "ddim";  // "ddim" | "ddpm"
  float eta = 0.0f;              // DDIM stochasticity

  absl::Status Validate() const;
  static absl::StatusOr<GenerationConfig> FromJson(const std::string& json_text);
  // A missing file gives the defaults above; a malformed one an error naming it.
  static absl::StatusOr<GenerationConfig> FromFile(const std::string& path);
  std::string ToJson() const;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_MODEL_GENERATION_CONFIG_H_
