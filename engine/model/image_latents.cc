#include "engine/model/image_latents.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "common/status_macros.h"
#include "engine/codec/latents.h"

namespace infusion::engine {

absl::StatusOr<std::unique_ptr<ImageLatents>> ImageLatents::Create(const ImageConfig& config,
                                                                   const std::string& codec_dir,
                                                                   const CodecOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<ImageCodec> codec,
                   CreateImageCodec(CodecName(config.codec), codec_dir, options));
  return std::unique_ptr<ImageLatents>(new ImageLatents(config, std::move(codec)));
}

at::Tensor ImageLatents::LatentsToPatches(const at::Tensor& latents) const {
  return Patchify(NormalizeLatents(latents, config_.latent_mean, config_.latent_std),
                  config_.patch_size);
}

at::Tensor ImageLatents::PatchesToLatents(const at::Tensor& patches) const {
  const at::Tensor latents = Unpatchify(patches, config_.latent_channels, config_.latent_size,
                                        config_.latent_size, config_.patch_size);
  return DenormalizeLatents(latents, config_.latent_mean, config_.latent_std);
}

at::Tensor ImageLatents::Encode(const std::vector<Image>& images) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> pixels;
  pixels.reserve(images.size());
  for (const Image& image : images) {
    pixels.push_back(ImageToTensor(ResizeImage(image, config_.image_size, config_.image_size)));
  }
  return LatentsToPatches(codec_->Encode(at::stack(pixels)));
}

std::vector<Image> ImageLatents::Decode(const at::Tensor& patches) {
  torch::NoGradGuard no_grad;
  const at::Tensor pixels = codec_->Decode(PatchesToLatents(patches));  // [B, 3, H, W]
  std::vector<Image> images;
  for (int64_t b = 0; b < pixels.size(0); ++b) images.push_back(TensorToImage(pixels[b]));
  return images;
}

}  // namespace infusion::engine
