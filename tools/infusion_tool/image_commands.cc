#include <ATen/ATen.h>

#include "absl/flags/flag.h"
#include "common/status_macros.h"
#include "engine/codec/image.h"
#include "engine/model/image_latents.h"
#include "engine/model/model_directory.h"
#include "engine/weights/safetensors.h"
#include "tools/infusion_tool/commands.h"
#include "tools/infusion_tool/flags.h"

namespace infusion::tool {

using engine::Image;
using engine::ImageConfig;
using engine::ImageLatents;
using engine::ModelConfig;
using engine::ModelDirectory;
using engine::ReadImageFile;
using engine::WriteImageFile;
using engine::WriteSafetensors;

absl::StatusOr<at::Tensor> ReadPatches(const std::string& path, const ImageConfig& image);

static absl::StatusOr<std::unique_ptr<ImageLatents>> LoadLatents(ModelConfig* config) {
  const std::string model_dir = absl::GetFlag(FLAGS_model);
  if (model_dir.empty()) return absl::InvalidArgumentError("--model is required");
  ASSIGN_OR_RETURN(*config, ModelConfig::FromFile(ModelDirectory::Config(model_dir)));
  return ImageLatents::Create(config->image, ModelDirectory::Codec(model_dir));
}

absl::Status RunEncodeImage() {
  const std::string image_path = absl::GetFlag(FLAGS_image), out = absl::GetFlag(FLAGS_out);
  if (image_path.empty() || out.empty()) {
    return absl::InvalidArgumentError("--image and --out are required");
  }
  ModelConfig config;
  ASSIGN_OR_RETURN(std::unique_ptr<ImageLatents> latents, LoadLatents(&config));
  ASSIGN_OR_RETURN(Image image, ReadImageFile(image_path));
  const at::Tensor patches = latents->Encode({image})[0];  // [n, patch_dim]
  return WriteSafetensors(out, {{"patches", patches.contiguous()}});
}

absl::Status RunDecodeImage() {
  const std::string patches_path = absl::GetFlag(FLAGS_patches), out = absl::GetFlag(FLAGS_out);
  if (patches_path.empty() || out.empty()) {
    return absl::InvalidArgumentError("--patches and --out are required");
  }
  ModelConfig config;
  ASSIGN_OR_RETURN(std::unique_ptr<ImageLatents> latents, LoadLatents(&config));
  ASSIGN_OR_RETURN(at::Tensor patches, ReadPatches(patches_path, config.image));
  return WriteImageFile(out, latents->Decode(patches.unsqueeze(0))[0]);
}

}  // namespace infusion::tool
