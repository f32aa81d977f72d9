// The on-disk layout of a model (docs/model-format.md):
//   DIR/config.json           ModelConfig
//   DIR/model.safetensors     weights
//   DIR/tokenizer.model       sentencepiece
//   DIR/generation.json       serving defaults
//   DIR/codec/                the image codec's own weights and licence (taef2 only)
//   DIR/README.md             model card
#ifndef INFUSION_ENGINE_MODEL_MODEL_DIRECTORY_H_
#define INFUSION_ENGINE_MODEL_MODEL_DIRECTORY_H_

#include <string>

#include "absl/status/status.h"
#include "engine/model/generation_config.h"
#include "engine/model/transfusion_model.h"

namespace infusion::engine {

struct ModelDirectory {
  static std::string Config(const std::string& dir) { return dir + "/config.json"; }
  static std::string Weights(const std::string& dir) { return dir + "/model.safetensors"; }
  static std::string Tokenizer(const std::string& dir) { return dir + "/tokenizer.model"; }
  static std::string Generation(const std::string& dir) { return dir + "/generation.json"; }
  static std::string Codec(const std::string& dir) { return dir + "/codec"; }
  static std::string Card(const std::string& dir) { return dir + "/README.md"; }
};

// Everything a model directory holds except the card.
struct ModelExport {
  TransfusionModel model{nullptr};
  std::string tokenizer_path;      // copied to DIR/tokenizer.model
  GenerationConfig generation;
  std::string codec_weights_dir;   // holds taef2_*.safetensors and LICENSE; unused for pixels
  DType weights_dtype = DType::kF32;  // of model.safetensors
};

// Creates DIR if needed and writes config, weights, tokenizer, generation defaults and codec files;
// each file atomically. Fails with a Status naming the path that could not be written.
absl::Status WriteModelDirectory(const std::string& dir, const ModelExport& model_export);

// Copies a file (atomically: DST.tmp then rename).
absl::Status CopyFile(const std::string& src, const std::string& dst);
// Writes text to a file atomically.
absl::Status WriteTextFile(const std::string& path, const std::string& text);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_MODEL_MODEL_DIRECTORY_H_
