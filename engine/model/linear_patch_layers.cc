#include "engine/model/linear_patch_layers.h"

#include <ATen/ATen.h>

namespace infusion::engine {

namespace nn = torch::nn;

LinearPatchLayers::LinearPatchLayers(const ModelConfig& c) {
  const int64_t patch_dim = c.image.patch_dim();
  time_embed_ = register_module("time_embed",
                                TimestepEmbedding(c.image.time_frequency_dim, patch_dim));
  auto encoder = register_module("encoder", std::make_shared<nn::Module>());
  encoder_proj_ = encoder->register_module("proj", nn::Linear(patch_dim, c.hidden_size));
  auto decoder = register_module("decoder", std::make_shared<nn::Module>());
  decoder_proj_ = decoder->register_module("proj", nn::Linear(c.hidden_size, patch_dim));
}

at::Tensor LinearPatchLayers::Encode(const at::Tensor& patches, const at::Tensor& timesteps,
                                     PatchContext* context) {
  context->time_embedding = time_embed_(timesteps);  // [I, patch_dim]
  return encoder_proj_(patches + context->time_embedding.unsqueeze(1));
}

at::Tensor LinearPatchLayers::Decode(const at::Tensor& hidden, const PatchContext& context,
                                     const at::Tensor& which) {
  return decoder_proj_(hidden);
}

}  // namespace infusion::engine
