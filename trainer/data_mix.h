// The training mix: several datasets drawn by weight, their images gathered into one table (the
// rows of the latent cache, dataset after dataset).
#ifndef INFUSION_TRAINER_DATA_MIX_H_
#define INFUSION_TRAINER_DATA_MIX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/dataset/dataset.h"
#include "data/emoji/emoji_dataset.h"
#include "data/text/text_dataset.h"
#include "trainer/shapes_dataset.h"

namespace infusion::trainer {

// One entry of a training config's "data" list; the options of `kind` apply.
struct DataSourceConfig {
  enum class Kind { kShapes, kEmoji, kText };
  Kind kind = Kind::kShapes;
  double weight = 1.0;  // > 0; relative to the other sources' weights
  ShapesDataOptions shapes;
  data::EmojiDataOptions emoji;
  data::TextDataOptions text;
};

class DataMix {
 public:
  // Builds every source's dataset; the first error names the source ("data[1] (emoji): ...").
  // `cache_dir` is where the text source puts its default corpus.
  static absl::StatusOr<std::unique_ptr<DataMix>> Create(
      const std::vector<DataSourceConfig>& sources, const std::string& cache_dir);
  // For tests and callers that build datasets themselves; weights > 0, one per dataset.
  DataMix(std::vector<std::unique_ptr<data::Dataset>> datasets, std::vector<double> weights);

  // A dataset drawn by weight, one of its examples drawn uniformly, its image indices turned
  // into rows of the image table.
  data::Example Draw(engine::Rng& rng) const;

  const std::vector<std::unique_ptr<data::Dataset>>& datasets() const { return datasets_; }
  // The first row of dataset d's images in the image table.
  int64_t image_offset(size_t d) const { return image_offsets_[d]; }
  int64_t num_images() const { return image_offsets_.back(); }
  // Every text of every dataset: the tokenizer's corpus.
  std::vector<std::string> Texts() const;

 private:
  std::vector<std::unique_ptr<data::Dataset>> datasets_;
  std::vector<double> cumulative_;      // [datasets] cumulative normalised weights
  std::vector<int64_t> image_offsets_;  // [datasets + 1]
};

}  // namespace infusion::trainer

#endif  // INFUSION_TRAINER_DATA_MIX_H_
