// `forward`: one full forward pass (no cache) of a mixed sequence described by SEQ.json:
//   {"segments": [{"text": [ids...]}, {"image": "PATCHES.safetensors", "t": 250}, ...]}
// Image files hold an F32 tensor "patches" [num_patches, patch_dim] of normalised latent patches
// already noised to step t; a relative path is relative to SEQ.json's folder.
// OUT.safetensors gets "logits" [num_text_positions, vocab] and "eps" [num_image_patches, patch_dim].
#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/model/reference_forward.h"
#include "engine/weights/safetensors.h"
#include "nlohmann/json.hpp"
#include "tools/infusion_tool/commands.h"
#include "tools/infusion_tool/flags.h"

namespace infusion::tool {

using engine::ImageConfig;
using engine::LoadTransfusionModel;
using engine::ModelConfig;
using engine::ReferenceForward;
using engine::ReferenceOutput;
using engine::SafetensorsFile;
using engine::SequencePart;
using engine::TransfusionModel;
using engine::WriteSafetensors;

namespace fs = std::filesystem;

absl::StatusOr<at::Tensor> ReadPatches(const std::string& path, const ImageConfig& image) {
  ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file, SafetensorsFile::Open(path));
  ASSIGN_OR_RETURN(at::Tensor patches, file->ReadF32("patches"));
  if (patches.dim() != 2 || patches.size(0) != image.num_patches() ||
      patches.size(1) != image.patch_dim()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": tensor 'patches' must be [", image.num_patches(), ", ", image.patch_dim(), "]"));
  }
  return patches;
}

static absl::StatusOr<std::vector<SequencePart>> ReadSequence(const std::string& path,
                                                             const ModelConfig& config) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream buf;
  buf << in.rdbuf();
  auto j = nlohmann::json::parse(buf.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("segments") || !j["segments"].is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": expected {\"segments\": [...]}"));
  }
  const fs::path base = fs::path(path).parent_path();
  std::vector<SequencePart> parts;
  int index = 0;
  for (const auto& seg : j["segments"]) {
    const std::string where = absl::StrCat(path, ": segments[", index++, "]");
    if (seg.contains("text") && seg["text"].is_array()) {
      std::vector<int> ids;
      for (const auto& id : seg["text"]) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
            id.get<int64_t>() >= config.vocab_size) {
          return absl::InvalidArgumentError(absl::StrCat(where, ": token ids must be in [0, ",
                                                         config.vocab_size, ")"));
        }
        ids.push_back(id.get<int>());
      }
      parts.push_back(SequencePart::Text(std::move(ids)));
    } else if (seg.contains("image") && seg["image"].is_string()) {
      fs::path file = seg["image"].get<std::string>();
      if (file.is_relative()) file = base / file;
      const double t = seg.value("t", 0.0);
      if (!(t >= 0 && t < config.diffusion.num_train_timesteps)) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": t out of range"));
      }
      ASSIGN_OR_RETURN(at::Tensor patches, ReadPatches(file.string(), config.image));
      parts.push_back(SequencePart::Image(patches, static_cast<float>(t)));
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": expected {\"text\": [...]} or {\"image\": FILE, \"t\": T}"));
    }
  }
  if (parts.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no segments"));
  return parts;
}

absl::Status RunForward() {
  const std::string model_dir = absl::GetFlag(FLAGS_model);
  const std::string input = absl::GetFlag(FLAGS_input);
  const std::string out = absl::GetFlag(FLAGS_out);
  if (model_dir.empty() || input.empty() || out.empty()) {
    return absl::InvalidArgumentError("--model, --input and --out are required");
  }
  ASSIGN_OR_RETURN(TransfusionModel model, LoadTransfusionModel(model_dir));
  const ModelConfig& config = model->config();
  ASSIGN_OR_RETURN(std::vector<SequencePart> parts, ReadSequence(input, config));
  ReferenceOutput result = ReferenceForward(*model, parts);
  at::Tensor eps = result.eps.defined() ? result.eps : at::zeros({0, config.image.patch_dim()});
  return WriteSafetensors(out, {{"logits", result.logits.contiguous()}, {"eps", eps.contiguous()}});
}

}  // namespace infusion::tool
