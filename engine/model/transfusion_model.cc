#include "engine/model/transfusion_model.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/record_function.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/conv.h>
#include <torch/utils.h>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/kernels/packed_product.h"
#include "engine/weights/state_dict.h"

namespace infusion::engine {

namespace nn = torch::nn;

TransfusionModelImpl::TransfusionModelImpl(const ModelConfig& config) : config_(config) {
  model_ = register_module("model", std::make_shared<nn::Module>());
  embed_tokens_ = model_->register_module(
      "embed_tokens", nn::Embedding(config.vocab_size, config.hidden_size));
  layers_ = model_->register_module("layers", nn::ModuleList());
  for (int i = 0; i < config.num_hidden_layers; ++i) layers_->push_back(DecoderLayer(config));
  norm_ = model_->register_module("norm", RMSNorm(config.hidden_size, config.rms_norm_eps));
  if (!config.tie_word_embeddings) {
    lm_head_ = register_module(
        "lm_head", nn::Linear(nn::LinearOptions(config.hidden_size, config.vocab_size).bias(false)));
  }
  image_ = register_module("image", CreatePatchLayers(config));
  if (config.image.position_embedding) {
    position_embedding_ = image_->register_parameter(
        "position_embedding", at::zeros({config.image.num_patches(), config.hidden_size}));
  }
}

std::vector<uint8_t> TransfusionModelImpl::Bf16Rows(const ModelInput& in, int64_t rows) const {
  std::vector<uint8_t> flags;
  if (!bf16_images_ || !in.noise_images.defined() || in.noise_images.numel() == 0) return flags;
  const at::Tensor denoised =
      in.image_positions.index_select(0, in.noise_images).reshape(-1).to(at::kLong).contiguous();
  flags.assign(rows, 0);
  const int64_t* p = denoised.data_ptr<int64_t>();
  for (int64_t i = 0; i < denoised.numel(); ++i) {
    if (p[i] >= 0) flags[p[i]] = 1;
  }
  return flags;
}

ModelOutput TransfusionModelImpl::Forward(const ModelInput& in, AttentionBackend& attention) {
  at::Tensor x = embed_tokens_(in.token_ids);  // [T, hidden]
  PatchContext context;
  const bool has_images = in.image_patches.defined() && in.image_patches.size(0) > 0;
  if (has_images) {
    RECORD_FUNCTION("infusion::patch_encode", std::vector<c10::IValue>());
    at::Tensor embedded = image_->Encode(in.image_patches, in.image_timesteps, &context);
    if (position_embedding_.defined()) embedded = embedded + position_embedding_;  // [I, n, d]
    if (in.image_sources.defined()) embedded = embedded.index_select(0, in.image_sources);
    at::Tensor positions = in.image_positions.reshape(-1);
    at::Tensor rows = embedded.reshape({-1, config_.hidden_size});
    const at::Tensor placed = positions >= 0;
    if (!placed.all().item<bool>()) {
      const at::Tensor keep = placed.nonzero().squeeze(1);
      positions = positions.index_select(0, keep);
      rows = rows.index_select(0, keep);
    }
    // The encoder's output is bfloat16 under the trainer's CPU autocast; the embeddings are not.
    x = x.index_put({positions}, rows.to(x.scalar_type()));
  }
  const int64_t rows = x.size(0);
  const FusedAttentionStep* fused_step = fused_ ? attention.fused_step() : nullptr;
  if (fused_step != nullptr && !at::GradMode::is_enabled() && x.device().is_cpu() &&
      x.scalar_type() == at::kFloat &&
      (products_.fused_max_rows == 0 || rows < products_.fused_max_rows) &&
      (products_.bf16_min_rows == 0 || rows < products_.bf16_min_rows)) {
    RECORD_FUNCTION("infusion::fused_decoder", std::vector<c10::IValue>());
    x = x.contiguous();
    const at::Tensor positions = in.positions.to(at::kLong).contiguous();
    const std::vector<uint8_t> bf16_rows = Bf16Rows(in, rows);
    fused_->Forward(x.data_ptr<float>(), rows, positions.data_ptr<int64_t>(), *fused_step,
                    bf16_rows.empty() ? nullptr : bf16_rows.data());
  } else {
    const RotaryTables rope =
        ComputeRotaryTables(in.positions, config_.head_dim(), config_.rope_theta);
    for (size_t i = 0; i < layers_->size(); ++i) {
      x = layers_->ptr<DecoderLayerImpl>(i)->forward(x, rope, attention, static_cast<int>(i));
    }
  }
  ModelOutput out;
  out.hidden = norm_(x);
  if (has_images && in.noise_images.defined() && in.noise_images.numel() > 0) {
    const at::Tensor rows = in.image_positions.index_select(0, in.noise_images);  // [J, n]
    const at::Tensor hidden = out.hidden.index_select(0, rows.reshape(-1))
                                  .view({rows.size(0), rows.size(1), config_.hidden_size});
    RECORD_FUNCTION("infusion::patch_decode", std::vector<c10::IValue>());
    const at::Tensor encoded = in.image_sources.defined()
                                   ? in.image_sources.index_select(0, in.noise_images)
                                   : in.noise_images;
    out.eps = image_->Decode(hidden, context, encoded);
  }
  return out;
}

at::Tensor TransfusionModelImpl::Logits(const at::Tensor& hidden) {
  if (lm_head_) return lm_head_(hidden);
  return at::matmul(hidden, embed_tokens_->weight.t());
}

void TransfusionModelImpl::InitWeights(uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  const double std = config_.initializer_range;
  for (auto& item : named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    nn::Module* m = item.value().get();
    if (auto* linear = dynamic_cast<nn::LinearImpl*>(m)) {
      nn::init::normal_(linear->weight, 0.0, std);
      if (linear->bias.defined()) nn::init::zeros_(linear->bias);
    } else if (auto* embedding = dynamic_cast<nn::EmbeddingImpl*>(m)) {
      nn::init::normal_(embedding->weight, 0.0, std);
    } else if (auto* conv = dynamic_cast<nn::Conv2dImpl*>(m)) {
      conv->reset_parameters();
      if (conv->bias.defined()) nn::init::zeros_(conv->bias);
    }
  }
  if (position_embedding_.defined()) nn::init::normal_(position_embedding_, 0.0, std);
}

void TransfusionModelImpl::FuseProjections(const ProductOptions& options) {
  products_ = options;
  bf16_images_ = options.bf16_images && (options.fused_decoder || options.fused_unet) &&
                 PackedProductBf16Supported();
  std::vector<FusedLayerWeights> fused;
  for (size_t i = 0; i < layers_->size(); ++i) {
    layers_->ptr<DecoderLayerImpl>(i)->FuseProjections(options);
    if (options.fused_decoder) {
      fused.push_back(layers_->ptr<DecoderLayerImpl>(i)->PackFused(bf16_images_));
    }
  }
  fused_.reset();
  if (options.fused_decoder) fused_ = std::make_unique<FusedDecoderStack>(config_, std::move(fused));
  image_->EnableFusedInference(options.fused_unet, bf16_images_);
}

absl::StatusOr<TransfusionModel> LoadTransfusionModel(const std::string& model_dir) {
  ASSIGN_OR_RETURN(ModelConfig config, ModelConfig::FromFile(model_dir + "/config.json"));
  TransfusionModel model(config);
  ASSIGN_OR_RETURN(StateDict state, StateDict::Load(model_dir + "/model.safetensors"));
  RETURN_IF_ERROR(LoadStateDict(*model, state, /*strict=*/true));
  model->eval();
  return model;
}

absl::Status SaveTransfusionWeights(const TransfusionModelImpl& model, const std::string& path,
                                    DType dtype) {
  return StateDict::FromModule(model).Save(path, {{"format", "pt"}}, dtype);
}

}  // namespace infusion::engine
