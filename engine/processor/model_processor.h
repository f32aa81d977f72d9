// Converts between what users send and receive (text, images) and what the model reads and
// writes (token ids, normalised latent patches), for one model directory. The header is
// torch-free so that the server can hold one; the codec runs LibTorch inside.
//
// Thread-safe: every method is const in effect and may be called from many gRPC threads at once.
#ifndef INFUSION_ENGINE_PROCESSOR_MODEL_PROCESSOR_H_
#define INFUSION_ENGINE_PROCESSOR_MODEL_PROCESSOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/codec/codec_options.h"
#include "engine/codec/image.h"
#include "engine/model/generation_config.h"
#include "engine/model/model_config.h"
#include "engine/tokenizer/text_decoder.h"

namespace infusion::engine {

class ImageLatents;
class Tokenizer;

class ModelProcessor {
 public:
  // Reads config.json, generation.json, tokenizer.model and the codec of a model directory.
  static absl::StatusOr<std::unique_ptr<ModelProcessor>> Create(
      const std::string& model_dir, const CodecOptions& codec_options = {});
  ~ModelProcessor();

  std::vector<int32_t> Tokenize(std::string_view text) const;
  std::string Detokenize(const std::vector<int32_t>& ids) const;
  // A streaming detokenizer for one request's generated tokens (borrows this processor).
  std::unique_ptr<TextDecoder> NewTextDecoder() const;
  // Any image (resized to the model's size) -> [n * patch_dim] normalised patches.
  std::vector<float> EncodeImage(const Image& image) const;
  // Images of [n * patch_dim] normalised patches each -> images of the model's size, in one
  // codec batch.
  std::vector<Image> DecodeImages(const std::vector<const std::vector<float>*>& patches) const;

  const ModelConfig& config() const { return config_; }
  const GenerationConfig& generation() const { return generation_; }
  const std::string& model_dir() const { return model_dir_; }

 private:
  ModelProcessor() = default;
  std::string model_dir_;
  ModelConfig config_;
  GenerationConfig generation_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ImageLatents> latents_;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_PROCESSOR_MODEL_PROCESSOR_H_
