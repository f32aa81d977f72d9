#include "clients/eval/emoji_benchmark.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "clients/eval/latent_index.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "data/emoji/emoji_dataset.h"
#include "data/seeds/seeds.h"
#include "data/shapes/rng.h"

namespace infusion::eval {

using data::DeriveSeed;
using data::EmojiDataOptions;
using data::EmojiDataset;
using engine::Image;
using engine::ResizeImage;
namespace shapes = data::shapes;

namespace {

enum Stream : uint64_t { kSampleStream = 1, kNoiseStream };

constexpr size_t kEncodeBatch = 64;  // images per encoder call

std::vector<std::vector<float>> EncodeAll(const std::vector<Image>& images,
                                          const ImageEncoder& encode) {
  std::vector<std::vector<float>> latents;
  latents.reserve(images.size());
  for (size_t begin = 0; begin < images.size(); begin += kEncodeBatch) {
    const size_t end = std::min(images.size(), begin + kEncodeBatch);
    for (std::vector<float>& latent :
         encode(std::vector<Image>(images.begin() + begin, images.begin() + end))) {
      latents.push_back(std::move(latent));
    }
  }
  return latents;
}

// The evaluated names: all, or `count` of them drawn without replacement, in dataset order.
std::vector<int> SampleNames(int size, int count, uint64_t seed) {
  std::vector<int> order(size);
  std::iota(order.begin(), order.end(), 0);
  if (count == 0 || count >= size) return order;
  shapes::Rng rng(DeriveSeed(seed, {kSampleStream}));
  for (int i = 0; i < count; ++i) std::swap(order[i], order[i + rng.Below(size - i)]);
  order.resize(count);
  std::sort(order.begin(), order.end());
  return order;
}

}  // namespace

absl::Status EmojiBenchmarkOptions::Validate() const {
  if (data_dir.empty()) return absl::InvalidArgumentError("data_dir must name the emoji package");
  if (count < 0) return absl::InvalidArgumentError(absl::StrCat("count must be >= 0, got ", count));
  if (grid_samples < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("grid_samples must be >= 0, got ", grid_samples));
  }
  return absl::OkStatus();
}

Json EmojiResults::ToJson() const {
  return Json{{"dataset_size", dataset_size},
              {"retrieval", {{"top1", top1.ToJson()}, {"top5", top5.ToJson()}}},
              {"caption_exact_match", caption_exact.ToJson()}};
}

absl::StatusOr<EmojiResults> RunEmojiBenchmark(const EmojiBenchmarkOptions& options,
                                               Generator& generator, const ImageEncoder& encode) {
  RETURN_IF_ERROR(options.Validate());
  EmojiDataOptions data_options;
  data_options.dir = options.data_dir;
  data_options.skin_tones = options.skin_tones;
  ASSIGN_OR_RETURN(std::unique_ptr<EmojiDataset> dataset, EmojiDataset::Create(data_options));
  const std::vector<std::string> names = dataset->Texts();
  const int size = static_cast<int>(names.size());

  // Every dataset image once: the candidates of every query, and the images to caption.
  absl::Time start = absl::Now();
  std::vector<Image> images;
  images.reserve(size);
  for (int i = 0; i < size; ++i) {
    ASSIGN_OR_RETURN(Image image, dataset->LoadImage(i));
    images.push_back(std::move(image));
  }
  const std::vector<std::vector<float>> latents = EncodeAll(images, encode);
  LatentIndex index(static_cast<int>(latents.front().size()));
  for (const std::vector<float>& latent : latents) index.Add(latent);
  LOG(INFO) << "emoji: encoded " << size << " dataset images in "
            << absl::ToDoubleSeconds(absl::Now() - start) << " s";

  const std::vector<int> evaluated = SampleNames(size, options.count, options.seed);
  EmojiResults results;
  results.dataset_size = size;

  start = absl::Now();
  std::vector<TextToImageTask> prompts;
  prompts.reserve(evaluated.size());
  for (int i : evaluated) {
    prompts.push_back(
        {names[i], DeriveSeed(options.seed, {kNoiseStream, static_cast<uint64_t>(i)})});
  }
  ASSIGN_OR_RETURN(std::vector<Image> generated, generator.TextToImage(prompts));
  const std::vector<std::vector<float>> queries = EncodeAll(generated, encode);
  // The grid shows names spread evenly over the evaluated ones (dataset order groups similar
  // emoji: its first 16 are all keycaps).
  SampleGrid grid{"samples", {}};
  const size_t shown = std::min<size_t>(options.grid_samples, evaluated.size());
  for (size_t k = 0; k < evaluated.size(); ++k) {
    const int target = evaluated[k];
    const int rank = index.RankOf(queries[k], target);
    results.top1.Add(rank < 1);
    results.top5.Add(rank < 5);
    if (grid.cells.size() < shown && k == grid.cells.size() * evaluated.size() / shown) {
      const int nearest = index.Nearest(queries[k], 1).front();
      grid.cells.push_back({ResizeImage(generated[k], images[target].width, images[target].height),
                            absl::StrCat(names[target], " -> ", names[nearest]), rank < 1});
    }
  }
  LOG(INFO) << "emoji: retrieval top-1 " << results.top1.correct << ", top-5 "
            << results.top5.correct << " of " << results.top5.total << " in "
            << absl::ToDoubleSeconds(absl::Now() - start) << " s";
  if (!grid.cells.empty()) results.grids.push_back(std::move(grid));

  start = absl::Now();
  std::vector<CaptionTask> to_caption;
  to_caption.reserve(evaluated.size());
  for (int i : evaluated) to_caption.push_back({images[i]});
  ASSIGN_OR_RETURN(std::vector<std::string> captions, generator.Caption(to_caption));
  for (size_t k = 0; k < evaluated.size(); ++k) {
    results.caption_exact.Add(absl::StripAsciiWhitespace(captions[k]) == names[evaluated[k]]);
  }
  LOG(INFO) << "emoji: captions " << results.caption_exact.correct << " of "
            << results.caption_exact.total << " exact in "
            << absl::ToDoubleSeconds(absl::Now() - start) << " s";
  return results;
}

}  // namespace infusion::eval
