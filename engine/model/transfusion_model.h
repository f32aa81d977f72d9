// The Transfusion transformer: one Llama-style decoder over a packed sequence of text tokens and
// image patches. Shared by the trainer (autograd, dense attention) and the engine (inference,
// paged attention); the attention backend is the only difference.
#ifndef INFUSION_ENGINE_MODEL_TRANSFUSION_MODEL_H_
#define INFUSION_ENGINE_MODEL_TRANSFUSION_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "absl/status/statusor.h"
#include "engine/weights/safetensors.h"
#include "engine/model/attention_backend.h"
#include "engine/model/layers.h"
#include "engine/model/model_config.h"
#include "engine/model/patch_layers.h"

namespace infusion::engine {

// The packed positions of one forward pass. T positions in total, I images of n patches each.
struct ModelInput {
  at::Tensor token_ids;        // [T] int64; ignored (any valid id) at image positions
  at::Tensor positions;        // [T] int64 RoPE positions
  at::Tensor image_patches;    // [I, n, patch_dim] float, normalised latent patches at their t;
                               // undefined when I = 0
  at::Tensor image_timesteps;  // [I] float diffusion timestep of each image (0 = clean)
  at::Tensor image_positions;  // [I, n] int64 packed index of each patch; -1 for a patch that is
                               // not in the batch (its K/V is cached; the encoder still reads it)
  at::Tensor noise_images;     // [J] int64 images (indices into I) whose noise is predicted;
                               // undefined or empty when none
  // Optional, [I] int64: image i reads row image_sources[i] of image_patches and
  // image_timesteps, which then hold only the U distinct images ([U, n, patch_dim], [U]). Lets
  // the classifier-free-guidance rows of an image, which see the same x_t at the same t, share
  // one pass of the patch encoder. Undefined = image i reads row i.
  at::Tensor image_sources;
};

struct ModelOutput {
  at::Tensor hidden;  // [T, hidden_size], after the final norm
  at::Tensor eps;     // [J, n, patch_dim] predicted noise of input.noise_images (undefined if J = 0)
};

class TransfusionModelImpl : public torch::nn::Module {
 public:
  explicit TransfusionModelImpl(const ModelConfig& config);

  ModelOutput Forward(const ModelInput& input, AttentionBackend& attention);
  // hidden: [R, hidden_size] -> logits [R, vocab_size].
  at::Tensor Logits(const at::Tensor& hidden);

  // Normal(0, initializer_range) for linear and embedding weights of the backbone and for the
  // linear patch layers; LibTorch's default (Kaiming-uniform) for convolutions; zero biases; unit
  // norm weights. Deterministic for a seed.
  void InitWeights(uint64_t seed);

  // Inference only: fuses the q/k/v and gate/up products of every layer (fewer, larger matrix
  // products), each following `options` (layers.h), with options.fused_decoder packs the
  // layers for the fused CPU stack, and with options.fused_unet the U-Net patch layers for
  // theirs. Call after the weights are final; training never does.
  void FuseProjections(const ProductOptions& options = {});

  const ModelConfig& config() const { return config_; }
  // The fused CPU decoder stack, when FuseProjections built one; else null.
  FusedDecoderStack* fused_decoder() { return fused_.get(); }
  // The fused U-Net patch layers (engine/model/fused_unet.h), when FuseProjections built them.
  FusedUnet* fused_unet() { return image_->fused_unet(); }

 private:
  ModelConfig config_;
  std::shared_ptr<torch::nn::Module> model_;  // "model.": the text backbone, as in HF Llama
  torch::nn::Embedding embed_tokens_{nullptr};
  torch::nn::ModuleList layers_{nullptr};
  RMSNorm norm_{nullptr};
  torch::nn::Linear lm_head_{nullptr};  // absent when tie_word_embeddings
  std::shared_ptr<PatchLayers> image_;   // "image."
  at::Tensor position_embedding_;        // "image.position_embedding" [n, d], when configured
  // The rows of `in` whose fused products run in bfloat16 ([rows] flags), or empty for none:
  // the positions of the images whose noise this step predicts.
  std::vector<uint8_t> Bf16Rows(const ModelInput& in, int64_t rows) const;

  ProductOptions products_;              // of the last FuseProjections
  bool bf16_images_ = false;             // products_.bf16_images, and this CPU can
  std::unique_ptr<FusedDecoderStack> fused_;  // when products_.fused_decoder
};
TORCH_MODULE(TransfusionModel);

// Reads config.json and model.safetensors of a model directory into a model in eval mode.
// Every missing, extra or misshaped tensor is reported in the Status.
absl::StatusOr<TransfusionModel> LoadTransfusionModel(const std::string& model_dir);

// Writes model.safetensors of a model directory (config.json is written separately), in `dtype`
// (F16 and BF16 halve the file; loading converts back to float32).
absl::Status SaveTransfusionWeights(const TransfusionModelImpl& model, const std::string& path,
                                    DType dtype = DType::kF32);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_MODEL_TRANSFUSION_MODEL_H_
