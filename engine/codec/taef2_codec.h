// TAEF2, a tiny pretrained autoencoder (TAESD family; third_party/taef2/README.md): 64x64x3
// images <-> 32x8x8 latents. The modules mirror the PyTorch nn.Sequential originals, so their
// parameters carry the checkpoint's tensor names ("1.conv.0.weight", "11.pool.1.bias").
#ifndef INFUSION_ENGINE_CODEC_TAEF2_CODEC_H_
#define INFUSION_ENGINE_CODEC_TAEF2_CODEC_H_

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/codec/image_codec.h"

namespace infusion::engine {

// 64 -> 64 channels: out = relu(conv(x') + x') with x' = x + pool(x) in mid-blocks (those built
// `with_pool`) and x' = x elsewhere. conv = conv3x3 relu conv3x3 relu conv3x3 ("conv.0/2/4");
// pool = conv1x1(64->256) GroupNorm(4) relu conv1x1(256->64) ("pool.0/1/3").
class Taef2BlockImpl : public torch::nn::Module {
 public:
  explicit Taef2BlockImpl(bool with_pool);
  // x: [B, 64, H, W] -> [B, 64, H, W]
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::Sequential conv_;
  torch::nn::Sequential pool_{nullptr};
};
TORCH_MODULE(Taef2Block);

// images: [B, 3, H, W] in [0, 1] -> raw latents [B, 32, H/8, W/8]. Layers "0" .. "14".
class Taef2EncoderImpl : public torch::nn::SequentialImpl {
 public:
  Taef2EncoderImpl();
};
TORCH_MODULE(Taef2Encoder);

// latents: [B, 32, h, w] -> images [B, 3, 8h, 8w], not yet clamped. Layers "0" .. "19".
class Taef2DecoderImpl : public torch::nn::SequentialImpl {
 public:
  Taef2DecoderImpl();
};
TORCH_MODULE(Taef2Decoder);

// Runs in float32 on the CPU; decodes in bfloat16 when created with bf16_decode on a CPU with
// AVX512-BF16 (CodecOptions).
class Taef2Codec : public ImageCodec {
 public:
  static constexpr int kLatentChannels = 32;
  static constexpr int kDownsample = 8;

  // Loads <weights_dir>/taef2_encoder.safetensors and taef2_decoder.safetensors, strictly: a
  // missing, unexpected or mis-shaped tensor is an error naming the file and the tensor.
  static absl::StatusOr<std::unique_ptr<Taef2Codec>> Create(const std::string& weights_dir,
                                                            bool bf16_decode = false);

  at::Tensor Encode(const at::Tensor& images) override;
  at::Tensor Decode(const at::Tensor& latents) override;

  int latent_channels() const override { return kLatentChannels; }
  int downsample() const override { return kDownsample; }
  std::string name() const override { return "taef2"; }
  // Whether Decode runs in bfloat16.
  bool bf16_decode() const { return bf16_decode_; }

 private:
  Taef2Codec(Taef2Encoder encoder, Taef2Decoder decoder, bool bf16_decode);

  Taef2Encoder encoder_;
  Taef2Decoder decoder_;  // in bfloat16, its convolutions channels last, when bf16_decode_
  bool bf16_decode_;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_CODEC_TAEF2_CODEC_H_
