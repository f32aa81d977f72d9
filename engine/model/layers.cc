#include "engine/model/layers.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/record_function.h>

#include "engine/kernels/elementwise.h"

namespace infusion::engine {

namespace nn = torch::nn;

// Inference on CPU in float32 takes the fused kernels of engine/kernels; anything that needs
// autograd, another device or another dtype takes LibTorch's operators.
static bool UseFusedKernels(const at::Tensor& x) {
  return !at::GradMode::is_enabled() && x.device().is_cpu() && x.scalar_type() == at::kFloat;
}

static nn::Linear NoBiasLinear(int64_t in, int64_t out) {
  return nn::Linear(nn::LinearOptions(in, out).bias(false));
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight_ = register_parameter("weight", at::ones({dim}));
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) {
  if (UseFusedKernels(x) && weight_.scalar_type() == at::kFloat) {
    RECORD_FUNCTION("infusion::rms_norm", std::vector<c10::IValue>());
    const at::Tensor in = x.contiguous(), w = weight_.contiguous();
    at::Tensor out = at::empty_like(in);
    const int64_t dim = in.size(-1);
    RmsNormRows(in.data_ptr<float>(), w.data_ptr<float>(), static_cast<float>(eps_),
                in.numel() / dim, dim, out.data_ptr<float>());
    return out;
  }
  return x * at::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps_) * weight_;
}

InferenceProduct::InferenceProduct(at::Tensor weight, const ProductOptions& options)
    : weight_(weight.detach().contiguous()), bf16_min_rows_(options.bf16_min_rows) {
  if (bf16_min_rows_ > 0) weight_bf16_ = weight_.to(at::kBFloat16);
}

at::Tensor InferenceProduct::operator()(const at::Tensor& x) const {
  if (bf16_min_rows_ > 0 && x.size(0) >= bf16_min_rows_ && x.scalar_type() == at::kFloat) {
    RECORD_FUNCTION("infusion::bf16_product", std::vector<c10::IValue>());
    return at::matmul(x.to(at::kBFloat16), weight_bf16_.t()).to(at::kFloat);
  }
  return at::matmul(x, weight_.t());
}

RotaryTables ComputeRotaryTables(const at::Tensor& positions, int64_t head_dim, double theta) {
  const at::Tensor exponents = at::arange(0, head_dim, 2, at::kLong).to(at::kFloat) / head_dim;
  const at::Tensor inv_freq = 1.0 / at::pow(theta, exponents);  // [D/2]
  const at::Tensor freqs =
      positions.to(at::kFloat).unsqueeze(1) * inv_freq.unsqueeze(0);  // [T, D/2]
  const at::Tensor angles = at::cat({freqs, freqs}, -1);              // [T, D]
  return {angles.cos(), angles.sin()};
}

at::Tensor ApplyRotary(const at::Tensor& x, const RotaryTables& rope) {
  const int64_t half = x.size(-1) / 2;
  const at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * rope.cos.unsqueeze(1) + rotated * rope.sin.unsqueeze(1);
}

SelfAttentionImpl::SelfAttentionImpl(const ModelConfig& c)
    : num_heads_(c.num_attention_heads),
      num_kv_heads_(c.num_key_value_heads),
      head_dim_(c.head_dim()) {
  q_proj_ = register_module("q_proj", NoBiasLinear(c.hidden_size, num_heads_ * head_dim_));
  k_proj_ = register_module("k_proj", NoBiasLinear(c.hidden_size, num_kv_heads_ * head_dim_));
  v_proj_ = register_module("v_proj", NoBiasLinear(c.hidden_size, num_kv_heads_ * head_dim_));
  o_proj_ = register_module("o_proj", NoBiasLinear(num_heads_ * head_dim_, c.hidden_size));
}

void SelfAttentionImpl::FuseProjections(const ProductOptions& options) {
  qkv_ = InferenceProduct(at::cat({q_proj_->weight, k_proj_->weight, v_proj_->weight}, 0), options);
  o_ = InferenceProduct(o_proj_->weight, options);
}

at::Tensor SelfAttentionImpl::forward(const at::Tensor& x, const RotaryTables& rope,
                                      AttentionBackend& attention, int layer) {
  const int64_t tokens = x.size(0);
  at::Tensor q, k, v;
  bool rotated = false;
  if (qkv_.defined()) {
    const at::Tensor qkv = qkv_(x).contiguous();
    const int64_t q_width = num_heads_ * head_dim_, kv_width = num_kv_heads_ * head_dim_;
    if (UseFusedKernels(qkv)) {  // rotate q and k where the product left them
      RECORD_FUNCTION("infusion::rotary", std::vector<c10::IValue>());
      const at::Tensor cos = rope.cos.contiguous(), sin = rope.sin.contiguous();
      float* base = qkv.data_ptr<float>();
      const int64_t stride = qkv.size(1);
      RotaryInPlace(base, tokens, stride, static_cast<int>(num_heads_), static_cast<int>(head_dim_),
                    cos.data_ptr<float>(), sin.data_ptr<float>());
      RotaryInPlace(base + q_width, tokens, stride, static_cast<int>(num_kv_heads_),
                    static_cast<int>(head_dim_), cos.data_ptr<float>(), sin.data_ptr<float>());
      rotated = true;
    }
    q = qkv.narrow(1, 0, q_width);
    k = qkv.narrow(1, q_width, kv_width);
    v = qkv.narrow(1, q_width + kv_width, kv_width);
  } else {
    q = q_proj_(x), k = k_proj_(x), v = v_proj_(x);
  }
  // Views of the fused product stay views: the paged attention reads strided rows.
  q = q.reshape({tokens, num_heads_, head_dim_});
  k = k.reshape({tokens, num_kv_heads_, head_dim_});
  v = v.reshape({tokens, num_kv_heads_, head_dim_});
  if (!rotated) {
    q = ApplyRotary(q, rope);
    k = ApplyRotary(k, rope);
  }
  const at::Tensor out =
      attention.Forward(layer, q, k, v).reshape({tokens, num_heads_ * head_dim_});
  return o_.defined() ? o_(out) : o_proj_(out);
}

MlpImpl::MlpImpl(const ModelConfig& c) {
  gate_proj_ = register_module("gate_proj", NoBiasLinear(c.hidden_size, c.intermediate_size));
  up_proj_ = register_module("up_proj", NoBiasLinear(c.hidden_size, c.intermediate_size));
  down_proj_ = register_module("down_proj", NoBiasLinear(c.intermediate_size, c.hidden_size));
}

void MlpImpl::FuseProjections(const ProductOptions& options) {
  gate_up_ = InferenceProduct(at::cat({gate_proj_->weight, up_proj_->weight}, 0), options);
  down_ = InferenceProduct(down_proj_->weight, options);
}

at::Tensor MlpImpl::forward(const at::Tensor& x) {
  if (gate_up_.defined()) {
    const at::Tensor gate_up = gate_up_(x).contiguous();
    const int64_t width = gate_up.size(-1) / 2;
    if (UseFusedKernels(gate_up)) {
      RECORD_FUNCTION("infusion::swiglu", std::vector<c10::IValue>());
      std::vector<int64_t> shape = gate_up.sizes().vec();
      shape.back() = width;
      at::Tensor hidden = at::empty(shape, gate_up.options());
      SwiGluRows(gate_up.data_ptr<float>(), gate_up.numel() / (2 * width), width,
                 hidden.data_ptr<float>());
      return down_(hidden);
    }
    return down_(at::silu(gate_up.narrow(-1, 0, width)) * gate_up.narrow(-1, width, width));
  }
  return down_proj_(at::silu(gate_proj_(x)) * up_proj_(x));
}

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& c) {
  self_attn_ = register_module("self_attn", SelfAttention(c));
  mlp_ = register_module("mlp", Mlp(c));
  input_layernorm_ = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm_ =
      register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

void DecoderLayerImpl::FuseProjections(const ProductOptions& options) {
  self_attn_->FuseProjections(options);
  mlp_->FuseProjections(options);
}

FusedLayerWeights DecoderLayerImpl::PackFused(bool bf16) {
  const auto params = named_parameters();
  const auto weight = [&](const std::string& name) {
    return params[name].detach().to(at::kFloat).contiguous();
  };
  const auto vector = [&](const std::string& name) {
    const at::Tensor t = weight(name);
    return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
  };
  const auto pack = [&](const at::Tensor& t) {
    return PackedWeight::Pack(t.data_ptr<float>(), t.size(0), t.size(1));
  };
  FusedLayerWeights w;
  w.input_norm = vector("input_layernorm.weight");
  w.post_norm = vector("post_attention_layernorm.weight");
  w.qkv = pack(at::cat({weight("self_attn.q_proj.weight"), weight("self_attn.k_proj.weight"),
                        weight("self_attn.v_proj.weight")},
                       0));
  w.o = pack(weight("self_attn.o_proj.weight"));
  const at::Tensor gate = weight("mlp.gate_proj.weight"), up = weight("mlp.up_proj.weight");
  w.gate_up = PackedWeight::PackSwiGlu(gate.data_ptr<float>(), up.data_ptr<float>(), gate.size(0),
                                       gate.size(1));
  w.down = pack(weight("mlp.down_proj.weight"));
  if (bf16) {
    for (PackedWeight* packed : {&w.qkv, &w.o, &w.gate_up, &w.down}) packed->AddBf16Panels();
  }
  return w;
}

at::Tensor DecoderLayerImpl::forward(const at::Tensor& x, const RotaryTables& rope,
                                     AttentionBackend& attention, int layer) {
  const at::Tensor h = x + self_attn_(input_layernorm_(x), rope, attention, layer);
  return h + mlp_(post_attention_layernorm_(h));
}

}  // namespace infusion::engine
