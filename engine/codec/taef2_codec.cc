#include "engine/codec/taef2_codec.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/functional.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/modules/upsampling.h>
#include <torch/utils.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/kernels/cpu_features.h"
#include "engine/weights/state_dict.h"

namespace infusion::engine {
namespace {

constexpr int kWidth = 64;  // channels inside the network

torch::nn::Conv2d Conv(int in, int out, int stride = 1, bool bias = true) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, /*kernel_size=*/3).stride(stride).padding(1).bias(bias));
}

torch::nn::Conv2d Conv1x1(int in, int out) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, /*kernel_size=*/1).bias(false));
}

torch::nn::Conv2d Downsample() { return Conv(kWidth, kWidth, /*stride=*/2, /*bias=*/false); }

torch::nn::Conv2d ConvNoBias() { return Conv(kWidth, kWidth, /*stride=*/1, /*bias=*/false); }

torch::nn::Upsample Upsample() {
  return torch::nn::Upsample(torch::nn::UpsampleOptions()
                                 .scale_factor(std::vector<double>{2.0, 2.0})
                                 .mode(torch::kNearest));
}

// x -> 3 tanh(x / 3): keeps the latents inside (-3, 3) without a hard cut.
torch::nn::Functional SoftClamp() {
  return torch::nn::Functional([](torch::Tensor x) { return torch::tanh(x / 3) * 3; });
}

void AppendBlocks(torch::nn::SequentialImpl& layers, int count, bool with_pool) {
  for (int i = 0; i < count; ++i) layers.push_back(Taef2Block(with_pool));
}

absl::Status LoadWeights(torch::nn::Module& module, const std::string& path) {
  ASSIGN_OR_RETURN(const StateDict state, StateDict::Load(path));
  return LoadStateDict(module, state, /*strict=*/true);
}

}  // namespace

Taef2BlockImpl::Taef2BlockImpl(bool with_pool) {
  conv_ = register_module(
      "conv", torch::nn::Sequential(Conv(kWidth, kWidth), torch::nn::ReLU(), Conv(kWidth, kWidth),
                                    torch::nn::ReLU(), Conv(kWidth, kWidth)));
  if (with_pool) {
    pool_ = register_module(
        "pool", torch::nn::Sequential(
                    Conv1x1(kWidth, 4 * kWidth),
                    torch::nn::GroupNorm(torch::nn::GroupNormOptions(4, 4 * kWidth).eps(1e-5)),
                    torch::nn::ReLU(), Conv1x1(4 * kWidth, kWidth)));
  }
}

torch::Tensor Taef2BlockImpl::forward(torch::Tensor x) {
  if (pool_) x = x + pool_->forward(x);
  return torch::relu(conv_->forward(x) + x);
}

// The comments give each layer's index, which is its name in the checkpoint.
Taef2EncoderImpl::Taef2EncoderImpl() {
  push_back(Conv(3, kWidth));                            // 0
  AppendBlocks(*this, 1, /*with_pool=*/false);           // 1
  push_back(Downsample());                               // 2
  AppendBlocks(*this, 3, /*with_pool=*/false);           // 3-5
  push_back(Downsample());                               // 6
  AppendBlocks(*this, 3, /*with_pool=*/false);           // 7-9
  push_back(Downsample());                               // 10
  AppendBlocks(*this, 3, /*with_pool=*/true);            // 11-13
  push_back(Conv(kWidth, Taef2Codec::kLatentChannels));  // 14
}

Taef2DecoderImpl::Taef2DecoderImpl() {
  push_back(SoftClamp());                                // 0
  push_back(Conv(Taef2Codec::kLatentChannels, kWidth));  // 1
  push_back(torch::nn::ReLU());                          // 2
  AppendBlocks(*this, 3, /*with_pool=*/true);            // 3-5
  push_back(Upsample());                                 // 6
  push_back(ConvNoBias());                               // 7
  AppendBlocks(*this, 3, /*with_pool=*/false);           // 8-10
  push_back(Upsample());                                 // 11
  push_back(ConvNoBias());                               // 12
  AppendBlocks(*this, 3, /*with_pool=*/false);           // 13-15
  push_back(Upsample());                                 // 16
  push_back(ConvNoBias());                               // 17
  AppendBlocks(*this, 1, /*with_pool=*/false);           // 18
  push_back(Conv(kWidth, 3));                            // 19
}

absl::StatusOr<std::unique_ptr<Taef2Codec>> Taef2Codec::Create(const std::string& weights_dir,
                                                               bool bf16_decode) {
  Taef2Encoder encoder;
  RETURN_IF_ERROR(LoadWeights(*encoder, absl::StrCat(weights_dir, "/taef2_encoder.safetensors")));
  Taef2Decoder decoder;
  RETURN_IF_ERROR(LoadWeights(*decoder, absl::StrCat(weights_dir, "/taef2_decoder.safetensors")));
  encoder->eval();
  decoder->eval();
  bf16_decode = bf16_decode && DetectCpuFeatures().avx512_bf16;
  if (bf16_decode) {  // the decoder's weights in bfloat16, the convolutions' channels last
    decoder->to(at::kBFloat16);
    torch::NoGradGuard no_grad;
    for (at::Tensor& p : decoder->parameters()) {
      if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
    }
  }
  return std::unique_ptr<Taef2Codec>(
      new Taef2Codec(std::move(encoder), std::move(decoder), bf16_decode));
}

Taef2Codec::Taef2Codec(Taef2Encoder encoder, Taef2Decoder decoder, bool bf16_decode)
    : encoder_(std::move(encoder)), decoder_(std::move(decoder)), bf16_decode_(bf16_decode) {}

at::Tensor Taef2Codec::Encode(const at::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == 3 && images.size(2) % kDownsample == 0 &&
                  images.size(3) % kDownsample == 0,
              "images must be [B, 3, H, W] with H and W multiples of ", kDownsample, ", got ",
              images.sizes());
  torch::NoGradGuard no_grad;
  return encoder_->forward(images.to(at::kFloat));
}

at::Tensor Taef2Codec::Decode(const at::Tensor& latents) {
  TORCH_CHECK(latents.dim() == 4 && latents.size(1) == kLatentChannels, "latents must be [B, ",
              kLatentChannels, ", h, w], got ", latents.sizes());
  torch::NoGradGuard no_grad;
  if (bf16_decode_) {
    // The soft clamp (layer 0) in float32, the rest in bfloat16 with channels last, which is
    // where oneDNN's bfloat16 convolutions are fast.
    auto layer = decoder_->begin();
    at::Tensor h = layer->forward(latents.to(at::kFloat))
                       .to(at::kBFloat16)
                       .contiguous(at::MemoryFormat::ChannelsLast);
    for (++layer; layer != decoder_->end(); ++layer) h = layer->forward(h);
    return h.to(at::kFloat).contiguous().clamp(0.0, 1.0);
  }
  return decoder_->forward(latents.to(at::kFloat)).clamp(0.0, 1.0);
}

}  // namespace infusion::engine
