#include "engine/codec/latents.h"

#include <ATen/ATen.h>

#include <utility>

namespace infusion::engine {
namespace {

// mean, stddev: C entries -> two [1, C, 1, 1] tensors broadcasting over [B, C, H, W].
std::pair<at::Tensor, at::Tensor> ChannelStats(const at::Tensor& latents,
                                               const std::vector<float>& mean,
                                               const std::vector<float>& stddev) {
  TORCH_CHECK(latents.dim() == 4, "latents must be [B, C, H, W], got ", latents.sizes());
  const int64_t channels = latents.size(1);
  TORCH_CHECK(static_cast<int64_t>(mean.size()) == channels &&
                  static_cast<int64_t>(stddev.size()) == channels,
              "need one mean and stddev per channel: ", channels, " channels, ", mean.size(),
              " means, ", stddev.size(), " stddevs");
  const auto options = at::TensorOptions().dtype(at::kFloat).device(latents.device());
  return {at::tensor(mean, options).view({1, channels, 1, 1}),
          at::tensor(stddev, options).view({1, channels, 1, 1})};
}

}  // namespace

at::Tensor Patchify(const at::Tensor& latents, int p) {
  TORCH_CHECK(latents.dim() == 4 && p > 0 && latents.size(2) % p == 0 && latents.size(3) % p == 0,
              "latents must be [B, C, H, W] with H and W multiples of p = ", p, ", got ",
              latents.sizes());
  const int64_t b = latents.size(0), c = latents.size(1);
  const int64_t gh = latents.size(2) / p, gw = latents.size(3) / p;
  return latents.reshape({b, c, gh, p, gw, p})
      .permute({0, 2, 4, 1, 3, 5})
      .reshape({b, gh * gw, c * p * p});
}

at::Tensor Unpatchify(const at::Tensor& patches, int channels, int height, int width, int p) {
  TORCH_CHECK(p > 0 && height % p == 0 && width % p == 0, "height ", height, " and width ", width,
              " must be multiples of p = ", p);
  const int64_t gh = height / p, gw = width / p;
  TORCH_CHECK(patches.dim() == 3 && patches.size(1) == gh * gw &&
                  patches.size(2) == int64_t{channels} * p * p,
              "patches must be [B, ", gh * gw, ", ", int64_t{channels} * p * p, "], got ",
              patches.sizes());
  const int64_t b = patches.size(0);
  return patches.reshape({b, gh, gw, channels, p, p})
      .permute({0, 3, 1, 4, 2, 5})
      .reshape({b, channels, height, width});
}

at::Tensor NormalizeLatents(const at::Tensor& latents, const std::vector<float>& mean,
                            const std::vector<float>& stddev) {
  const auto [m, s] = ChannelStats(latents, mean, stddev);
  return (latents - m) / s;
}

at::Tensor DenormalizeLatents(const at::Tensor& latents, const std::vector<float>& mean,
                              const std::vector<float>& stddev) {
  const auto [m, s] = ChannelStats(latents, mean, stddev);
  return latents * s + m;
}

at::Tensor ImageToTensor(const Image& image) {
  TORCH_CHECK(image.width > 0 && image.height > 0 &&
                  image.rgb.size() == static_cast<size_t>(image.width) * image.height * 3,
              "inconsistent image ", image.width, "x", image.height, " with ", image.rgb.size(),
              " bytes");
  // from_blob neither copies nor writes, and contiguous() copies before anything else happens.
  const at::Tensor hwc = at::from_blob(const_cast<uint8_t*>(image.rgb.data()),
                                       {image.height, image.width, 3}, at::kByte);
  return hwc.permute({2, 0, 1}).contiguous().to(at::kFloat).div_(255.0);
}

Image TensorToImage(const at::Tensor& image) {
  TORCH_CHECK(image.dim() == 3 && image.size(0) == 3, "image must be [3, H, W], got ",
              image.sizes());
  const at::Tensor hwc = image.detach()
                             .to(at::kCPU, at::kFloat)
                             .mul(255.0)
                             .round()
                             .clamp(0.0, 255.0)
                             .to(at::kByte)
                             .permute({1, 2, 0})
                             .contiguous();
  Image out;
  out.height = static_cast<int>(image.size(1));
  out.width = static_cast<int>(image.size(2));
  const uint8_t* data = hwc.data_ptr<uint8_t>();
  out.rgb.assign(data, data + hwc.numel());
  return out;
}

}  // namespace infusion::engine
