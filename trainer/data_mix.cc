#include "trainer/data_mix.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace infusion::trainer {

using data::Dataset;
using data::EmojiDataset;
using data::Example;
using data::TextDataset;
using engine::Rng;

absl::StatusOr<std::unique_ptr<DataMix>> DataMix::Create(
    const std::vector<DataSourceConfig>& sources, const std::string& cache_dir) {
  std::vector<std::unique_ptr<Dataset>> datasets;
  std::vector<double> weights;
  for (size_t i = 0; i < sources.size(); ++i) {
    const DataSourceConfig& source = sources[i];
    absl::StatusOr<std::unique_ptr<Dataset>> dataset;
    switch (source.kind) {
      case DataSourceConfig::Kind::kShapes:
        dataset = ShapesDataset::Create(source.shapes);
        break;
      case DataSourceConfig::Kind::kEmoji:
        dataset = EmojiDataset::Create(source.emoji);
        break;
      case DataSourceConfig::Kind::kText:
        dataset = TextDataset::Create(source.text, cache_dir);
        break;
    }
    if (!dataset.ok()) {
      return absl::Status(dataset.status().code(),
                          absl::StrCat("data[", i, "]: ", dataset.status().message()));
    }
    datasets.push_back(*std::move(dataset));
    weights.push_back(source.weight);
  }
  return std::make_unique<DataMix>(std::move(datasets), std::move(weights));
}

DataMix::DataMix(std::vector<std::unique_ptr<Dataset>> datasets, std::vector<double> weights)
    : datasets_(std::move(datasets)) {
  CHECK(!datasets_.empty());
  CHECK_EQ(datasets_.size(), weights.size());
  double total = 0;
  for (double w : weights) total += w;
  double running = 0;
  image_offsets_.push_back(0);
  for (size_t d = 0; d < datasets_.size(); ++d) {
    CHECK_GT(weights[d], 0.0);
    CHECK_GT(datasets_[d]->size(), 0);
    running += weights[d];
    cumulative_.push_back(running / total);
    image_offsets_.push_back(image_offsets_.back() + datasets_[d]->num_images());
  }
  cumulative_.back() = 1.0;  // so that rounding never leaves a draw past the last dataset
}

Example DataMix::Draw(Rng& rng) const {
  const double u = rng.Uniform();
  const size_t d =
      std::upper_bound(cumulative_.begin(), cumulative_.end(), u) - cumulative_.begin();
  const Dataset& dataset = *datasets_[d];
  const int64_t index = static_cast<int64_t>(rng.Uniform() * static_cast<double>(dataset.size()));
  Example example = dataset.Get(std::min(index, dataset.size() - 1), rng);
  for (int64_t& image : example.images) image += image_offsets_[d];
  return example;
}

std::vector<std::string> DataMix::Texts() const {
  std::vector<std::string> texts;
  for (const auto& dataset : datasets_) {
    std::vector<std::string> t = dataset->Texts();
    texts.insert(texts.end(), std::make_move_iterator(t.begin()), std::make_move_iterator(t.end()));
  }
  return texts;
}

}  // namespace infusion::trainer
