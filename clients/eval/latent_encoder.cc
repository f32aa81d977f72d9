#include "clients/eval/latent_encoder.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "common/status_macros.h"
#include "engine/model/image_latents.h"
#include "engine/model/model_config.h"
#include "engine/model/model_directory.h"

namespace infusion::eval {

using engine::Image;
using engine::ImageLatents;
using engine::ModelConfig;
using engine::ModelDirectory;

LatentEncoder::LatentEncoder(std::unique_ptr<ImageLatents> latents)
    : latents_(std::move(latents)) {}

LatentEncoder::~LatentEncoder() = default;

absl::StatusOr<std::unique_ptr<LatentEncoder>> LatentEncoder::Create(const std::string& model_dir) {
  ASSIGN_OR_RETURN(ModelConfig config, ModelConfig::FromFile(ModelDirectory::Config(model_dir)));
  ASSIGN_OR_RETURN(std::unique_ptr<ImageLatents> latents,
                   ImageLatents::Create(config.image, ModelDirectory::Codec(model_dir)));
  return std::unique_ptr<LatentEncoder>(new LatentEncoder(std::move(latents)));
}

std::vector<std::vector<float>> LatentEncoder::Encode(const std::vector<Image>& images) const {
  if (images.empty()) return {};
  c10::InferenceMode guard;
  // patches: [B, n, patch_dim] -> [B, n * patch_dim]
  const at::Tensor patches =
      latents_->Encode(images).reshape({static_cast<int64_t>(images.size()), -1}).contiguous();
  std::vector<std::vector<float>> out;
  out.reserve(images.size());
  for (int64_t b = 0; b < patches.size(0); ++b) {
    const float* row = patches[b].data_ptr<float>();
    out.emplace_back(row, row + patches.size(1));
  }
  return out;
}

}  // namespace infusion::eval
