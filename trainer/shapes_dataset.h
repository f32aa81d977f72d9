// The shapes world (shared/docs/shapes.md, data/shapes/) as training data: a fixed, seeded pool
// of examples drawn from the train split only, so that every eval-split prompt, caption, chat
// scene and edit stays unseen:
//   caption -> image   a prompt of a uniformly drawn category (every form of the page);
//   image -> caption   a scene and its canonical caption (what captioning must produce);
//   chat               a scene, a question about it and its answer (and, with chat_turns > 1,
//                      follow-up questions drawn at each use);
//   edit               a scene, an instruction and the edited scene.
// Example i is drawn from its own seed (seed, i), so a pool extends without changing its prefix.
#ifndef INFUSION_TRAINER_SHAPES_DATASET_H_
#define INFUSION_TRAINER_SHAPES_DATASET_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/dataset/dataset.h"
#include "data/shapes/scene.h"

namespace infusion::trainer {

struct ShapesDataOptions {
  int64_t pool_size = 20000;  // examples (> 0); edits hold two images, the others one
  uint64_t seed = 1;
  double chat = 0.15;        // share of chat examples
  double edit = 0.15;        // share of edit examples
  double image_first = 0.2;  // share of captioning among the caption pairs (the paper's 20%)
  // Questions per chat example, at most: each draw asks 1..chat_turns distinct questions about
  // the image, uniformly, the first one fixed by the pool and the others drawn anew (more answer
  // tokens per image; the images, and so the latent cache, do not change).
  int chat_turns = 1;

  absl::Status Validate() const;  // InvalidArgument naming the field
};

class ShapesDataset : public data::Dataset {
 public:
  static absl::StatusOr<std::unique_ptr<ShapesDataset>> Create(const ShapesDataOptions& options);

  std::string name() const override { return "shapes"; }
  int64_t size() const override { return static_cast<int64_t>(examples_.size()); }
  data::Example Get(int64_t index, engine::Rng& rng) const override;
  std::vector<std::string> Texts() const override;
  int64_t num_images() const override { return static_cast<int64_t>(scenes_.size()); }
  absl::StatusOr<engine::Image> LoadImage(int64_t index) const override;
  std::string ImagesKey() const override { return images_key_; }
  // The scene image `index` shows, index in [0, num_images()).
  const data::shapes::Scene& scene(int64_t index) const { return scenes_[index]; }

 private:
  explicit ShapesDataset(const ShapesDataOptions& options);

  std::vector<data::Example> examples_;
  std::vector<data::shapes::Scene> scenes_;  // the images, rendered on demand
  int chat_turns_;
  std::string images_key_;
};

}  // namespace infusion::trainer

#endif  // INFUSION_TRAINER_SHAPES_DATASET_H_
