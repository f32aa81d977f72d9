// Examples -> token sequences, with the templates of docs/model-format.md §7 and the Transfusion
// recipe (arXiv 2408.11039 §4.1), "[img]" standing for <boi>, the n patches, <eoi>:
//   text           <bos> text <eos>
//   caption first  <bos> caption [img] <eos>            the image noised, t in [0, T)
//   image first    <bos> [img] caption <eos>            the image noised, t in [0, 500]
//   chat           <bos> <user> [img] question <end> <assistant> answer <end>   image clean
//   edit           <bos> <user> [source] instruction <end> <assistant> [target] <end>
//                                                       source clean, target noised, t in [0, T)
// Language-model targets are the tokens the model must learn to write: all text of text, caption
// and captioning documents (a <bos> is given, never predicted), only the assistant's turn of chat
// and edit documents (their prompts are given). <boi> is a target where the model must decide
// to draw; <eoi> never is, since the engine closes every image itself. Caption dropout replaces
// a caption-first caption or an edit instruction by nothing, so that the model also learns the
// unconditional predictions that classifier-free guidance needs.
#ifndef INFUSION_TRAINER_SEQUENCE_BUILDER_H_
#define INFUSION_TRAINER_SEQUENCE_BUILDER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "data/dataset/dataset.h"
#include "engine/model/model_config.h"
#include "engine/sampler/rng.h"
#include "engine/tokenizer/tokenizer.h"

namespace infusion {

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
  SequenceBuilder(const Tokenizer& tokenizer, const SpecialTokens& tokens, int num_patches,
                  const SequenceOptions& options);

  // `rng` decides the caption dropout.
  Document Build(const Example& example, Rng& rng) const;

  int pad_token_id() const { return tokens_.pad; }

 private:
  void AddText(absl::Span<const int> ids, bool target, Document* doc) const;
  void AddToken(int id, bool target, Document* doc) const { AddText({id}, target, doc); }
  // <boi> (a target when `boi_target`), the patches, <eoi>.
  void AddImage(DocumentImage image, bool boi_target, Document* doc) const;

  const Tokenizer& tokenizer_;
  SpecialTokens tokens_;
  int num_patches_;
  SequenceOptions options_;
};

}  // namespace infusion

#endif  // INFUSION_TRAINER_SEQUENCE_BUILDER_H_
