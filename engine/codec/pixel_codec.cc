#include "engine/codec/pixel_codec.h"

#include <ATen/ATen.h>

namespace infusion::engine {

at::Tensor PixelCodec::Encode(const at::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == 3, "images must be [B, 3, H, W], got ",
              images.sizes());
  at::NoGradGuard no_grad;
  return images.to(at::kFloat) * 2.0 - 1.0;
}

at::Tensor PixelCodec::Decode(const at::Tensor& latents) {
  TORCH_CHECK(latents.dim() == 4 && latents.size(1) == 3, "latents must be [B, 3, H, W], got ",
              latents.sizes());
  at::NoGradGuard no_grad;
  return ((latents.to(at::kFloat) + 1.0) * 0.5).clamp(0.0, 1.0);
}

}  // namespace infusion::engine
