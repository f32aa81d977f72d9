#include "trainer/latent_cache.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "engine/codec/latents.h"
#include "engine/weights/safetensors.h"

namespace infusion::trainer {

using data::Dataset;
using engine::CodecName;
using engine::Image;
using engine::ImageCodec;
using engine::ImageConfig;
using engine::ImageToTensor;
using engine::ResizeImage;
using engine::SafetensorsFile;
using engine::WriteSafetensors;

static constexpr int64_t kEncodeBatch = 64;
static constexpr char kTensorName[] = "latents";

std::string LatentCachePath(const Dataset& dataset, const ImageConfig& image,
                            const std::string& cache_dir) {
  return absl::StrCat(cache_dir, "/latents-", dataset.ImagesKey(), "-", CodecName(image.codec), "-",
                      image.image_size, ".safetensors");
}

static absl::StatusOr<at::Tensor> ReadCache(const std::string& path, const Dataset& dataset,
                                            const ImageConfig& image) {
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
  if (!file.ok()) return file.status();
  absl::StatusOr<at::Tensor> latents = (*file)->ReadF32(kTensorName);
  if (!latents.ok()) return latents.status();
  const std::vector<int64_t> expected = {dataset.num_images(), image.latent_channels,
                                         image.latent_size, image.latent_size};
  if (latents->sizes() != at::IntArrayRef(expected)) {
    return absl::DataLossError(absl::StrCat(path, ": latents have shape ",
                                            c10::str(latents->sizes()), ", expected ",
                                            c10::str(at::IntArrayRef(expected))));
  }
  return latents;
}

absl::StatusOr<at::Tensor> LoadOrEncodeLatents(const Dataset& dataset, const ImageConfig& image,
                                               ImageCodec& codec, const std::string& cache_dir) {
  const std::string path = LatentCachePath(dataset, image, cache_dir);
  if (std::filesystem::exists(path)) return ReadCache(path, dataset, image);

  torch::NoGradGuard no_grad;
  const int64_t total = dataset.num_images();
  LOG(INFO) << "encoding " << total << " " << dataset.name() << " images with " << codec.name()
            << " into " << path;
  std::vector<at::Tensor> batches;
  int64_t next_report = total / 10;
  for (int64_t begin = 0; begin < total; begin += kEncodeBatch) {
    const int64_t end = std::min(total, begin + kEncodeBatch);
    std::vector<at::Tensor> pixels;
    for (int64_t i = begin; i < end; ++i) {
      absl::StatusOr<Image> loaded = dataset.LoadImage(i);
      if (!loaded.ok()) return loaded.status();
      pixels.push_back(ImageToTensor(ResizeImage(*loaded, image.image_size, image.image_size)));
    }
    batches.push_back(codec.Encode(at::stack(pixels)));
    if (end >= next_report && end < total) {
      LOG(INFO) << "  " << end << " / " << total << " images encoded";
      next_report += total / 10;
    }
  }
  at::Tensor latents = at::cat(batches).contiguous();
  std::error_code ec;
  std::filesystem::create_directories(cache_dir, ec);
  if (ec)
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", cache_dir, ": ", ec.message()));
  if (absl::Status s =
          WriteSafetensors(path, {{kTensorName, latents}}, {{"images", dataset.ImagesKey()}});
      !s.ok()) {
    return s;
  }
  return latents;
}

LatentStats ComputeLatentStats(const at::Tensor& latents) {
  const at::Tensor per_channel =
      latents.to(at::kDouble).transpose(0, 1).reshape({latents.size(1), -1});
  const at::Tensor mean = per_channel.mean(1).to(at::kFloat).contiguous();
  const at::Tensor std =
      per_channel.std(1, /*unbiased=*/false).clamp_min(1e-6).to(at::kFloat).contiguous();
  LatentStats stats;
  stats.mean.assign(mean.data_ptr<float>(), mean.data_ptr<float>() + mean.numel());
  stats.std.assign(std.data_ptr<float>(), std.data_ptr<float>() + std.numel());
  return stats;
}

}  // namespace infusion::trainer
