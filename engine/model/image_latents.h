// Images <-> the normalised latent patches a model reads and writes: resize to the model's size,
// codec encode, per-channel normalisation, patchify (and back). The engine, the trainer and the
// tools all go through this one class, so every path agrees on the patch layout.
#ifndef INFUSION_ENGINE_MODEL_IMAGE_LATENTS_H_
#define INFUSION_ENGINE_MODEL_IMAGE_LATENTS_H_

#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "engine/codec/image.h"
#include "engine/codec/image_codec.h"
#include "engine/model/model_config.h"

namespace infusion::engine {

class ImageLatents {
 public:
  // `codec_dir` holds the codec's weights (a model directory's codec/ folder).
  static absl::StatusOr<std::unique_ptr<ImageLatents>> Create(const ImageConfig& config,
                                                              const std::string& codec_dir,
                                                              const CodecOptions& options = {});

  // Images of any size (resized to image_size x image_size) -> [B, n, patch_dim].
  at::Tensor Encode(const std::vector<Image>& images);
  // [B, n, patch_dim] -> B images of image_size x image_size.
  std::vector<Image> Decode(const at::Tensor& patches);

  // Raw codec latents [B, C, S, S] <-> normalised patches [B, n, patch_dim].
  at::Tensor LatentsToPatches(const at::Tensor& latents) const;
  at::Tensor PatchesToLatents(const at::Tensor& patches) const;

  const ImageConfig& config() const { return config_; }
  ImageCodec& codec() { return *codec_; }

 private:
  ImageLatents(const ImageConfig& config, std::unique_ptr<ImageCodec> codec)
      : config_(config), codec_(std::move(codec)) {}

  ImageConfig config_;
  std::unique_ptr<ImageCodec> codec_;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_MODEL_IMAGE_LATENTS_H_
