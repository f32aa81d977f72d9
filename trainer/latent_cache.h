// Images are encoded by the model's codec once: their raw latents are kept on disk in the cache
// folder (TAEF2 takes ~25 ms per 64x64 image on 2 cores, so a 30k-image pool is ~13 minutes, once)
// and normalised in memory with statistics computed over them.
#ifndef INFUSION_TRAINER_LATENT_CACHE_H_
#define INFUSION_TRAINER_LATENT_CACHE_H_

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/dataset/dataset.h"
#include "engine/codec/image_codec.h"
#include "engine/model/model_config.h"

namespace infusion::trainer {

// CACHE_DIR/latents-<dataset images key>-<codec>-<image size>.safetensors.
std::string LatentCachePath(const data::Dataset& dataset, const engine::ImageConfig& image,
                            const std::string& cache_dir);

// The raw latents [num_images, C, S, S] of every image of `dataset`, each resized to
// image.image_size: read from the cache file, or encoded with `codec` and written there
// atomically (an interrupted run leaves no half-written cache behind).
absl::StatusOr<at::Tensor> LoadOrEncodeLatents(const data::Dataset& dataset,
                                               const engine::ImageConfig& image,
                                               engine::ImageCodec& codec,
                                               const std::string& cache_dir);

// Per-channel mean and standard deviation of latents [N, C, S, S] (over images and cells): the
// image.latent_mean / latent_std of a model trained on them. A constant channel gets a tiny
// positive std, as a model config requires, which maps it to zeros.
struct LatentStats {
  std::vector<float> mean;  // [C]
  std::vector<float> std;   // [C]
};
LatentStats ComputeLatentStats(const at::Tensor& latents);

}  // namespace infusion::trainer

#endif  // INFUSION_TRAINER_LATENT_CACHE_H_
