// What the trainer learns from: datasets of examples, each example one document of the training
// mix before tokenisation. The trainer's sequence builder (trainer/sequence_builder.h) turns an
// example into tokens and image positions with the layouts of engine/prompt/sequence_layout.h
// (docs/model-format.md §7). Torch-free: infusion-eval reads the same datasets.
#ifndef INFUSION_DATA_DATASET_DATASET_H_
#define INFUSION_DATA_DATASET_DATASET_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/codec/image.h"
#include "engine/sampler/rng.h"

namespace infusion::data {

enum class ExampleKind {
  kText,          // plain text, language modelling only
  kCaptionFirst,  // <bos> caption <boi> image <eoi> <eos>: text-to-image
  kImageFirst,    // <bos> <boi> image <eoi> caption <eos>: captioning
  kChat,          // a user turn [image] question, an assistant turn answer (, more turns)
  kEdit,          // a user turn [source] instruction, an assistant turn [target]
};

struct Example {
  ExampleKind kind = ExampleKind::kText;
  std::string text;             // the text, caption or answer
  std::string prompt;           // the chat question or edit instruction
  std::vector<int64_t> images;  // indices into the dataset's images: one for pairs and chat,
                                // (source, target) for edits, none for text
  // Chat only: further (question, answer) turns about the same image, after the first.
  std::vector<std::pair<std::string, std::string>> follow_ups;
};

class Dataset {
 public:
  virtual ~Dataset() = default;

  virtual std::string name() const = 0;  // "shapes", "emoji", "text": for messages and logs
  virtual int64_t size() const = 0;      // number of examples, > 0
  // Example `index` in [0, size()). `rng` makes the choices a dataset leaves to each draw (which
  // way round a caption pair goes); a dataset whose examples are fixed ignores it.
  virtual Example Get(int64_t index, engine::Rng& rng) const = 0;
  // Every text its examples hold: the corpus the tokenizer is trained on.
  virtual std::vector<std::string> Texts() const = 0;

  // Images, which the latent cache encodes once. Examples refer to them by index.
  virtual int64_t num_images() const { return 0; }
  // Image `index` in [0, num_images()), at its own size; errors name the file.
  virtual absl::StatusOr<engine::Image> LoadImage(int64_t index) const;
  // Changes whenever the images would: names the latent cache's file.
  virtual std::string ImagesKey() const { return name(); }
};

}  // namespace infusion::data

#endif  // INFUSION_DATA_DATASET_DATASET_H_
