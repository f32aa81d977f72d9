// A model's images -> latents map for retrieval: resize, codec encode, normalise, patchify
// (engine/model/image_latents.h), many images per codec call. Encoding one image at a time costs
// the codec's fixed overhead per image; a whole emoji set is thousands of images. The header is
// torch-free.
#ifndef INFUSION_CLIENTS_EVAL_LATENT_ENCODER_H_
#define INFUSION_CLIENTS_EVAL_LATENT_ENCODER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/codec/image.h"

namespace infusion::engine {
class ImageLatents;
}  // namespace infusion::engine

namespace infusion::eval {

class LatentEncoder {
 public:
  // Reads config.json and the codec of a model directory.
  static absl::StatusOr<std::unique_ptr<LatentEncoder>> Create(const std::string& model_dir);
  ~LatentEncoder();

  // One [n * patch_dim] vector of normalised latent patches per image, in order.
  std::vector<std::vector<float>> Encode(const std::vector<engine::Image>& images) const;

 private:
  explicit LatentEncoder(std::unique_ptr<engine::ImageLatents> latents);
  std::unique_ptr<engine::ImageLatents> latents_;
};

}  // namespace infusion::eval

#endif  // INFUSION_CLIENTS_EVAL_LATENT_ENCODER_H_
