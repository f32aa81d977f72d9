#ifndef INFUSION_ENGINE_MODEL_LINEAR_PATCH_LAYERS_H_
#define INFUSION_ENGINE_MODEL_LINEAR_PATCH_LAYERS_H_

#include "engine/model/patch_layers.h"

namespace infusion::engine {

// encoder.proj(patch + time_embed(t)) in, decoder.proj(hidden) out. Tensors:
//   image.time_embed.linear_1 [patch_dim, F], linear_2 [patch_dim, patch_dim] (+ biases)
//   image.encoder.proj [hidden, patch_dim] (+ bias), image.decoder.proj [patch_dim, hidden] (+ bias)
class LinearPatchLayers : public PatchLayers {
 public:
  explicit LinearPatchLayers(const ModelConfig& config);
  at::Tensor Encode(const at::Tensor& patches, const at::Tensor& timesteps,
                    PatchContext* context) override;
  at::Tensor Decode(const at::Tensor& hidden, const PatchContext& context,
                    const at::Tensor& which) override;

 private:
  TimestepEmbedding time_embed_{nullptr};
  torch::nn::Linear encoder_proj_{nullptr}, decoder_proj_{nullptr};
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_MODEL_LINEAR_PATCH_LAYERS_H_
