#include "engine/processor/model_processor.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cstring>

#include "common/status_macros.h"
#include "engine/model/image_latents.h"
#include "engine/model/model_directory.h"
#include "engine/tokenizer/tokenizer.h"

namespace infusion::engine {

ModelProcessor::~ModelProcessor() = default;

absl::StatusOr<std::unique_ptr<ModelProcessor>> ModelProcessor::Create(
    const std::string& model_dir, const CodecOptions& codec_options) {
  std::unique_ptr<ModelProcessor> p(new ModelProcessor());
  p->model_dir_ = model_dir;
  ASSIGN_OR_RETURN(p->config_, ModelConfig::FromFile(ModelDirectory::Config(model_dir)));
  ASSIGN_OR_RETURN(p->generation_,
                   GenerationConfig::FromFile(ModelDirectory::Generation(model_dir)));
  ASSIGN_OR_RETURN(p->tokenizer_, Tokenizer::Load(ModelDirectory::Tokenizer(model_dir)));
  RETURN_IF_ERROR(p->tokenizer_->CheckCompatible(p->config_.tokens, p->config_.vocab_size));
  ASSIGN_OR_RETURN(p->latents_,
                   ImageLatents::Create(p->config_.image, ModelDirectory::Codec(model_dir),
                                        codec_options));
  return p;
}

std::vector<int32_t> ModelProcessor::Tokenize(std::string_view text) const {
  const std::vector<int> ids = tokenizer_->Encode(text);
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::unique_ptr<TextDecoder> ModelProcessor::NewTextDecoder() const {
  return tokenizer_->NewDecoder();
}

std::string ModelProcessor::Detokenize(const std::vector<int32_t>& ids) const {
  return tokenizer_->Decode(std::vector<int>(ids.begin(), ids.end()));
}

std::vector<float> ModelProcessor::EncodeImage(const Image& image) const {
  c10::InferenceMode guard;
  const at::Tensor patches = latents_->Encode({image}).contiguous();  // [1, n, patch_dim]
  return std::vector<float>(patches.data_ptr<float>(), patches.data_ptr<float>() + patches.numel());
}

std::vector<Image> ModelProcessor::DecodeImages(
    const std::vector<const std::vector<float>*>& patches) const {
  c10::InferenceMode guard;
  const int64_t n = config_.image.num_patches(), dim = config_.image.patch_dim();
  at::Tensor batch = at::empty({static_cast<int64_t>(patches.size()), n, dim}, at::kFloat);
  for (size_t i = 0; i < patches.size(); ++i) {
    std::memcpy(batch[static_cast<int64_t>(i)].data_ptr<float>(), patches[i]->data(),
                sizeof(float) * n * dim);
  }
  return latents_->Decode(batch);
}

}  // namespace infusion::engine
