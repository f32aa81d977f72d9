// The emoji benchmark: named images with no exact judge, scored by what can be measured.
//   retrieval   the image generated for a name is encoded with the model's codec; it is a top-k
//               hit when the dataset image of that name is among its k nearest dataset images by
//               L2 distance in normalised latent space (every dataset image is a candidate).
//   captioning  the caption of a dataset image must be its name exactly.
// The data is the trainer's (data/emoji/emoji_dataset.h: names lower-cased, skin-tone variants
// named after their tones); the names are the training names — this measures how well the model learnt
// them, not generalisation.
#ifndef INFUSION_CLIENTS_EVAL_EMOJI_BENCHMARK_H_
#define INFUSION_CLIENTS_EVAL_EMOJI_BENCHMARK_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "clients/eval/accuracy.h"
#include "clients/eval/generator.h"
#include "clients/eval/sample_grid.h"

namespace infusion::eval {

struct EmojiBenchmarkOptions {
  std::string data_dir = ".cache/emoji/package";  // emoji.json, img/google/64/ (fetch_emoji.sh)
  bool skin_tones = true;  // the skin-tone variants too, as the trainer reads them by default
  int count = 0;           // names evaluated, a seeded sample of all; 0 = every name
  uint64_t seed = 1;       // the sample and the noise
  int grid_samples = 16;   // images shown in the sample grid

  absl::Status Validate() const;  // InvalidArgument naming the field
};

struct EmojiResults {
  int dataset_size = 0;  // candidates of the retrieval
  Accuracy top1;
  Accuracy top5;
  Accuracy caption_exact;
  std::vector<SampleGrid> grids;  // "samples": generated images, labelled name -> nearest name

  // {"dataset_size", "retrieval": {"top1", "top5"}, "caption_exact_match"}
  Json ToJson() const;
};

// Images -> the vectors retrieval compares, one per image, all of one length
// (LatentEncoder::Encode: normalised latent patches, flattened). Called with batches of images.
using ImageEncoder =
    std::function<std::vector<std::vector<float>>(const std::vector<engine::Image>&)>;

absl::StatusOr<EmojiResults> RunEmojiBenchmark(const EmojiBenchmarkOptions& options,
                                               Generator& generator, const ImageEncoder& encode);

}  // namespace infusion::eval

#endif  // INFUSION_CLIENTS_EVAL_EMOJI_BENCHMARK_H_
