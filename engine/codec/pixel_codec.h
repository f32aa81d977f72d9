// The identity codec: latents are the pixels themselves, mapped to [-1, 1]. A baseline, and a
// codec for tests that need no weights.
#ifndef INFUSION_ENGINE_CODEC_PIXEL_CODEC_H_
#define INFUSION_ENGINE_CODEC_PIXEL_CODEC_H_

#include <string>

#include "engine/codec/image_codec.h"

namespace infusion::engine {

class PixelCodec : public ImageCodec {
 public:
  // images: [B, 3, H, W] in [0, 1] -> [B, 3, H, W] in [-1, 1].
  at::Tensor Encode(const at::Tensor& images) override;
  // latents: [B, 3, H, W] -> [B, 3, H, W] in [0, 1].
  at::Tensor Decode(const at::Tensor& latents) override;

  int latent_channels() const override { return 3; }
  int downsample() const override { return 1; }
  std::string name() const override { return "pixels"; }
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_CODEC_PIXEL_CODEC_H_
