// Examples -> token sequences. Every document is a layout of engine/prompt/sequence_layout.h,
// the templates the server's prompts are made of (docs/model-format.md §7), filled as the
// Transfusion recipe (arXiv 2408.11039 §4.1) trains; "[img]" stands for <boi>, the n patches,
// <eoi>:
//   text           <bos> text <eos>                      interleaved, all text
//   caption first  <bos> caption [img] <eos>             text-to-image; image noised, t in [0, T)
//   image first    <bos> [img] caption <eos>             captioning; image noised, t in [0, 500]
//   chat           <bos> <user> [img] question <end> <assistant> answer <end> (more turns)
//                                                        image clean
//   edit           <bos> <user> [source] instruction <end> <assistant> [target] <end>
//                                                        source clean, target noised, t in [0, T)
// What the layout marks as the model's is learnt: all text of text, caption and captioning
// documents (a <bos> is given, never predicted), only the assistant's turns of chat and edit
// documents (their prompts are given); <boi> where the model must decide to draw. Caption dropout
// replaces a caption-first caption or an edit instruction by nothing, which is the unconditional
// layout that classifier-free guidance sends.
#ifndef INFUSION_TRAINER_SEQUENCE_BUILDER_H_
#define INFUSION_TRAINER_SEQUENCE_BUILDER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "data/dataset/dataset.h"
#include "engine/model/model_config.h"
#include "engine/prompt/sequence_layout.h"
#include "engine/sampler/rng.h"
#include "engine/tokenizer/tokenizer.h"

namespace infusion::trainer {

struct SequenceOptions {
  double caption_dropout = 0.1;            // [0, 1]
  int32_t num_train_timesteps = 1000;      // T of the diffusion schedule
  int32_t image_first_max_timestep = 500;  // [0, T): an image before its caption stays legible

  absl::Status Validate() const;  // InvalidArgument naming the field
};

struct DocumentImage {
  int64_t image = 0;         // row of the image table
  bool noised = false;       // a generation target: noised, and its noise predicted
  int32_t max_timestep = 0;  // noised only: its t is uniform in [0, max_timestep]
};

// A tokenised document, position by position.
struct Document {
  std::vector<int> tokens;         // [length]; pad at image positions
  std::vector<int> image_slot;     // [length]; index into `images`, -1 at text positions
  std::vector<uint8_t> is_target;  // [length]; 1 where the token is a language-model target,
                                   // predicted from the position before it
  std::vector<DocumentImage> images;

  int64_t length() const { return static_cast<int64_t>(tokens.size()); }
  bool has_images() const { return !images.empty(); }
  // Keeps the first `length` positions; text-only documents.
  void Truncate(int64_t length);
};

class SequenceBuilder {
 public:
  // `tokenizer` must outlive the builder.
  SequenceBuilder(const engine::Tokenizer& tokenizer, const engine::SpecialTokens& tokens,
                  int num_patches, const SequenceOptions& options);

  // `rng` decides the caption dropout.
  Document Build(const data::Example& example, engine::Rng& rng) const;

  int pad_token_id() const { return tokens_.pad; }

 private:
  // Every run of `layout`; its i-th image is row `images[i]` of the image table, noised with t up
  // to `max_timestep` when the layout marks it as the model's.
  Document Render(const engine::SequenceLayout& layout, const std::vector<int64_t>& images,
                  int32_t max_timestep) const;

  const engine::Tokenizer& tokenizer_;
  engine::SpecialTokens tokens_;
  engine::SequenceLayouts layouts_;
  int num_patches_;
  SequenceOptions options_;
};

}  // namespace infusion::trainer

#endif  // INFUSION_TRAINER_SEQUENCE_BUILDER_H_
