// The image-specific parts of a Transfusion model (paper §3): a timestep embedding, a patch
// encoder (normalised latent patches at timestep t -> transformer inputs) and a patch decoder
// (transformer outputs -> predicted noise). Two variants share this interface:
//   LinearPatchLayers  - one linear layer each way; the timestep embedding is added to each
//                        patch vector before the encoder's linear layer;
//   UnetPatchLayers    - U-Net down blocks over the latent grid as the encoder, up blocks (with
//                        skip connections from the down blocks) as the decoder, both conditioned
//                        on the timestep embedding.
// All tensors are registered under the "image." prefix of the checkpoint.
#ifndef INFUSION_ENGINE_MODEL_PATCH_LAYERS_H_
#define INFUSION_ENGINE_MODEL_PATCH_LAYERS_H_

#include <memory>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "engine/model/model_config.h"

namespace infusion::engine {

struct FusedUnetActivations;  // engine/model/fused_unet.h
class FusedUnet;

// Sinusoidal features of t followed by an MLP (diffusers' TimestepEmbedding names):
//   f = cat(cos(t * w), sin(t * w)), w_k = exp(-ln(10000) * k / (F/2)), k < F/2;
//   emb = linear_2(silu(linear_1(f))).
class TimestepEmbeddingImpl : public torch::nn::Module {
 public:
  TimestepEmbeddingImpl(int64_t frequency_dim, int64_t out_dim);
  at::Tensor forward(const at::Tensor& timesteps /*[I] float*/);  // -> [I, out_dim]
  const torch::nn::Linear& linear_1() const { return linear_1_; }
  const torch::nn::Linear& linear_2() const { return linear_2_; }

 private:
  int64_t frequency_dim_;
  torch::nn::Linear linear_1_{nullptr}, linear_2_{nullptr};
};
TORCH_MODULE(TimestepEmbedding);

// What the encoder hands to the decoder for the same images of the same forward pass.
struct PatchContext {
  at::Tensor time_embedding;       // [I, E]
  std::vector<at::Tensor> skips;   // U-Net only: down-block activations, [I, C_l, H_l, W_l] each
  // U-Net, fused inference path: what its encoder left for its decoder (time_embedding and
  // skips stay empty then).
  std::shared_ptr<FusedUnetActivations> fused;
};

class PatchLayers : public torch::nn::Module {
 public:
  // patches: [I, n, patch_dim] normalised latent patches, timesteps: [I] float.
  // Returns transformer inputs [I, n, hidden_size]; fills *context for Decode.
  virtual at::Tensor Encode(const at::Tensor& patches, const at::Tensor& timesteps,
                            PatchContext* context) = 0;
  // hidden: [J, n, hidden_size] final-normed transformer outputs of J of the encoded images,
  // `which`: [J] int64 indices of those images in the Encode batch. Returns [J, n, patch_dim].
  virtual at::Tensor Decode(const at::Tensor& hidden, const PatchContext& context,
                            const at::Tensor& which) = 0;
  // Inference only, after the weights are final: with `enable`, float32 CPU passes without
  // autograd take a fused path where the layers have one (the U-Net: engine/model/fused_unet.h);
  // the modules stay the reference. With `bf16` too, the fused path's products run in bfloat16
  // (PackedProductBf16; needs PackedProductBf16Supported()). Training never calls this.
  virtual void EnableFusedInference(bool enable, bool bf16 = false) {
    (void)enable;
    (void)bf16;
  }
  // The fused U-Net, when EnableFusedInference built one; else null.
  virtual FusedUnet* fused_unet() { return nullptr; }
};

std::shared_ptr<PatchLayers> CreatePatchLayers(const ModelConfig& config);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_MODEL_PATCH_LAYERS_H_
