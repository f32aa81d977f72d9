// The image side of the model: maps images to the latents the transformer diffuses, and back.
#ifndef INFUSION_ENGINE_CODEC_IMAGE_CODEC_H_
#define INFUSION_ENGINE_CODEC_IMAGE_CODEC_H_

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/codec/codec_options.h"

namespace infusion::engine {

// Encode and Decode change no state, so one codec may serve several threads. Both run without
// autograd. Shape errors are programmer errors and throw c10::Error (TORCH_CHECK).
class ImageCodec {
 public:
  virtual ~ImageCodec() = default;

  // images: [B, 3, H, W] float in [0, 1], H and W multiples of downsample().
  // Returns raw (not normalised) latents [B, latent_channels(), H / f, W / f].
  virtual at::Tensor Encode(const at::Tensor& images) = 0;
  // latents: [B, latent_channels(), h, w]. Returns images [B, 3, h * f, w * f] clamped to [0, 1].
  virtual at::Tensor Decode(const at::Tensor& latents) = 0;

  virtual int latent_channels() const = 0;
  // The spatial down-sampling factor f.
  virtual int downsample() const = 0;
  virtual std::string name() const = 0;
};

// kind "taef2" loads <weights_dir>/taef2_encoder.safetensors and taef2_decoder.safetensors;
// kind "pixels" needs no weights. InvalidArgument for any other kind.
absl::StatusOr<std::unique_ptr<ImageCodec>> CreateImageCodec(const std::string& kind,
                                                             const std::string& weights_dir,
                                                             const CodecOptions& options = {});

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_CODEC_IMAGE_CODEC_H_
