// Conversions between images, codec latents and the patch sequences the transformer reads.
#ifndef INFUSION_ENGINE_CODEC_LATENTS_H_
#define INFUSION_ENGINE_CODEC_LATENTS_H_

#include <ATen/core/Tensor.h>

#include <vector>

#include "engine/codec/image.h"

namespace infusion::engine {

// latents: [B, C, H, W], H and W multiples of p. Returns [B, (H/p)*(W/p), C*p*p]: patches in
// raster order over the patch grid, each patch's vector ordered (c, dy, dx).
at::Tensor Patchify(const at::Tensor& latents, int p);

// patches: [B, (H/p)*(W/p), C*p*p]. The exact inverse of Patchify: returns [B, C, H, W].
at::Tensor Unpatchify(const at::Tensor& patches, int channels, int height, int width, int p);

// latents: [B, C, H, W]; mean and stddev have C entries. Returns (z - mean[c]) / stddev[c].
at::Tensor NormalizeLatents(const at::Tensor& latents, const std::vector<float>& mean,
                            const std::vector<float>& stddev);
// The inverse of NormalizeLatents: z * stddev[c] + mean[c].
at::Tensor DenormalizeLatents(const at::Tensor& latents, const std::vector<float>& mean,
                              const std::vector<float>& stddev);

// Returns [3, H, W] float in [0, 1].
at::Tensor ImageToTensor(const Image& image);
// image: [3, H, W] float, nominally in [0, 1]; scaled by 255, rounded and clamped to 0..255.
Image TensorToImage(const at::Tensor& image);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_CODEC_LATENTS_H_
