// The building blocks of the text backbone, named as in Hugging Face Llama so that checkpoints map
// one to one: RMSNorm, rotary position embedding (rotate-half convention), grouped-query
// self-attention, SwiGLU MLP, and the pre-norm decoder layer.
#ifndef INFUSION_ENGINE_MODEL_LAYERS_H_
#define INFUSION_ENGINE_MODEL_LAYERS_H_

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "engine/model/attention_backend.h"
#include "engine/model/fused_decoder.h"
#include "engine/model/model_config.h"

namespace infusion::engine {

// y = x / sqrt(mean(x^2) + eps) * weight, over the last dimension (one fused pass on CPU in
// float32 when autograd is off).
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x);

 private:
  double eps_;
  at::Tensor weight_;  // [dim]
};
TORCH_MODULE(RMSNorm);

// cos/sin tables of rotary embedding for a set of positions.
struct RotaryTables {
  at::Tensor cos;  // [T, head_dim]
  at::Tensor sin;  // [T, head_dim]
};

// How FuseProjections prepares the matrix products of inference.
struct ProductOptions {
  // Products of at least this many rows (positions of one step) multiply in bfloat16, with
  // float32 accumulation and float32 results (oneDNN); smaller ones, and all of them at 0, stay
  // float32. On a CPU with AVX512-BF16 this is faster than float32 for large steps only
  // (docs/benchmarks.md); elsewhere it is slower. Must be >= 0.
  int64_t bf16_min_rows = 0;
  // Float32 CPU inference steps run the decoder layers through the fused stack
  // (engine/model/fused_decoder.h) when the attention backend offers a paged step, except steps
  // of at least fused_max_rows positions (0 = no limit) and those bf16_min_rows sends to
  // bfloat16. False: every step runs module by module (the LibTorch reference).
  bool fused_decoder = false;
  int64_t fused_max_rows = 0;
  // Float32 CPU inference runs the U-Net patch layers as engine/model/fused_unet.h (one packed
  // product per convolution); false: LibTorch's modules (the reference). No effect on linear
  // patch layers.
  bool fused_unet = false;
  // The fused decoder stack runs the products of the positions of images being denoised in
  // bfloat16, and the fused U-Net all of its products (PackedProductBf16: float32 sums and
  // results; everything else stays float32), when this CPU has AVX512-BF16. A request's results still depend on nothing else in its step.
  bool bf16_images = false;
};

// y = x W^T of inference, x: [T, in] float32 -> [T, out] float32. Holds the float32 weight and,
// when ProductOptions::bf16_min_rows > 0, a bfloat16 copy for the steps that reach it.
class InferenceProduct {
 public:
  InferenceProduct() = default;
  InferenceProduct(at::Tensor weight /*[out, in]*/, const ProductOptions& options);

  bool defined() const { return weight_.defined(); }
  at::Tensor operator()(const at::Tensor& x) const;

 private:
  at::Tensor weight_;       // float32
  at::Tensor weight_bf16_;  // defined when bf16_min_rows_ > 0
  int64_t bf16_min_rows_ = 0;
};

// inv_freq[k] = theta^(-2k / head_dim), k < head_dim / 2; angle = position * inv_freq, and the
// table repeats the half-width angles twice (cat(freqs, freqs)), as HF Llama does.
RotaryTables ComputeRotaryTables(const at::Tensor& positions /*[T] int64*/, int64_t head_dim,
                                 double theta);

// x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x[..., D/2:], x[..., :D/2]).
// x: [T, heads, head_dim].
at::Tensor ApplyRotary(const at::Tensor& x, const RotaryTables& rope);

class SelfAttentionImpl : public torch::nn::Module {
 public:
  explicit SelfAttentionImpl(const ModelConfig& config);
  // x: [T, hidden] -> [T, hidden].
  at::Tensor forward(const at::Tensor& x, const RotaryTables& rope, AttentionBackend& attention,
                     int layer);
  // Inference only: one [q; k; v] product instead of three (fewer, larger matrix products), and
  // without autograd on CPU the rotary embedding runs in place on it (engine/kernels); every
  // product then follows `options`. The fused copy does not follow later changes of the weights;
  // the trainer never fuses.
  void FuseProjections(const ProductOptions& options = {});

 private:
  int64_t num_heads_, num_kv_heads_, head_dim_;
  torch::nn::Linear q_proj_{nullptr}, k_proj_{nullptr}, v_proj_{nullptr}, o_proj_{nullptr};
  InferenceProduct qkv_;  // [(H + 2 * Hkv) * D, hidden] when fused
  InferenceProduct o_;    // o_proj when fused
};
TORCH_MODULE(SelfAttention);

// down(silu(gate(x)) * up(x)).
class MlpImpl : public torch::nn::Module {
 public:
  explicit MlpImpl(const ModelConfig& config);
  at::Tensor forward(const at::Tensor& x);
  // Inference only: one [gate; up] product and, without autograd on CPU, one fused SwiGLU pass
  // (see SelfAttentionImpl::FuseProjections).
  void FuseProjections(const ProductOptions& options = {});

 private:
  torch::nn::Linear gate_proj_{nullptr}, up_proj_{nullptr}, down_proj_{nullptr};
  InferenceProduct gate_up_;  // [2 * intermediate, hidden] when fused
  InferenceProduct down_;     // down_proj when fused
};
TORCH_MODULE(Mlp);

// h = x + attn(input_layernorm(x)); out = h + mlp(post_attention_layernorm(h)).
class DecoderLayerImpl : public torch::nn::Module {
 public:
  explicit DecoderLayerImpl(const ModelConfig& config);
  at::Tensor forward(const at::Tensor& x, const RotaryTables& rope, AttentionBackend& attention,
                     int layer);
  void FuseProjections(const ProductOptions& options = {});
  // This layer's weights packed for the fused decoder stack (a copy: later changes of the
  // weights do not reach it), with bfloat16 panels as well when `bf16`.
  FusedLayerWeights PackFused(bool bf16 = false);

 private:
  RMSNorm input_layernorm_{nullptr}, post_attention_layernorm_{nullptr};
  SelfAttention self_attn_{nullptr};
  Mlp mlp_{nullptr};
};
TORCH_MODULE(DecoderLayer);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_MODEL_LAYERS_H_
