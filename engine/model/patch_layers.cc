#include "engine/model/patch_layers.h"

#include <cmath>

#include <ATen/ATen.h>

#include "engine/model/linear_patch_layers.h"
#include "engine/model/unet_patch_layers.h"

namespace infusion::engine {

TimestepEmbeddingImpl::TimestepEmbeddingImpl(int64_t frequency_dim, int64_t out_dim)
    : frequency_dim_(frequency_dim) {
  linear_1_ = register_module("linear_1", torch::nn::Linear(frequency_dim, out_dim));
  linear_2_ = register_module("linear_2", torch::nn::Linear(out_dim, out_dim));
}

at::Tensor TimestepEmbeddingImpl::forward(const at::Tensor& timesteps) {
  const int64_t half = frequency_dim_ / 2;
  const at::Tensor k = at::arange(half, at::kFloat);
  const at::Tensor freqs = at::exp(k * (-std::log(10000.0) / half));           // [F/2]
  const at::Tensor angles = timesteps.to(at::kFloat).unsqueeze(1) * freqs.unsqueeze(0);  // [I, F/2]
  const at::Tensor features = at::cat({angles.cos(), angles.sin()}, -1);       // [I, F]
  return linear_2_(at::silu(linear_1_(features)));
}

std::shared_ptr<PatchLayers> CreatePatchLayers(const ModelConfig& config) {
  if (config.image.patch_encoder == PatchEncoderKind::kUnet) {
    return std::make_shared<UnetPatchLayers>(config);
  }
  return std::make_shared<LinearPatchLayers>(config);
}

}  // namespace infusion::engine
