#include "trainer/sequence_builder.h"

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace infusion {

absl::Status SequenceOptions::Validate() const {
  if (!(caption_dropout >= 0 && caption_dropout <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("caption_dropout must be in [0, 1], got ", caption_dropout));
  }
  if (image_first_max_timestep < 0 || image_first_max_timestep >= num_train_timesteps) {
    return absl::InvalidArgumentError(absl::StrCat("image_first_max_timestep must be in [0, ",
                                                   num_train_timesteps, "), got ",
                                                   image_first_max_timestep));
  }
  return absl::OkStatus();
}

void Document::Truncate(int64_t length) {
  CHECK(images.empty());
  if (length >= this->length()) return;
  tokens.resize(length);
  image_slot.resize(length);
  is_target.resize(length);
}

SequenceBuilder::SequenceBuilder(const Tokenizer& tokenizer, const SpecialTokens& tokens,
                                 int num_patches, const SequenceOptions& options)
    : tokenizer_(tokenizer), tokens_(tokens), num_patches_(num_patches), options_(options) {}

void SequenceBuilder::AddText(absl::Span<const int> ids, bool target, Document* doc) const {
  doc->tokens.insert(doc->tokens.end(), ids.begin(), ids.end());
  doc->image_slot.insert(doc->image_slot.end(), ids.size(), -1);
  doc->is_target.insert(doc->is_target.end(), ids.size(), target ? 1 : 0);
}

void SequenceBuilder::AddImage(DocumentImage image, bool boi_target, Document* doc) const {
  AddToken(tokens_.boi, boi_target, doc);
  const int slot = static_cast<int>(doc->images.size());
  doc->images.push_back(image);
  doc->tokens.insert(doc->tokens.end(), num_patches_, tokens_.pad);
  doc->image_slot.insert(doc->image_slot.end(), num_patches_, slot);
  doc->is_target.insert(doc->is_target.end(), num_patches_, 0);
  AddToken(tokens_.eoi, /*target=*/false, doc);
}

Document SequenceBuilder::Build(const Example& example, Rng& rng) const {
  const int32_t any_t = options_.num_train_timesteps - 1;
  auto noised = [](int64_t image, int32_t max_t) { return DocumentImage{image, true, max_t}; };
  auto clean = [](int64_t image) { return DocumentImage{image, false, 0}; };
  Document doc;
  AddToken(tokens_.bos, /*target=*/false, &doc);
  switch (example.kind) {
    case ExampleKind::kText:
      AddText(tokenizer_.Encode(example.text), /*target=*/true, &doc);
      AddToken(tokens_.eos, /*target=*/true, &doc);
      break;
    case ExampleKind::kCaptionFirst: {
      const bool captioned = rng.Uniform() >= options_.caption_dropout;
      if (captioned) AddText(tokenizer_.Encode(example.text), /*target=*/true, &doc);
      AddImage(noised(example.images[0], any_t), /*boi_target=*/true, &doc);
      // Without its caption the document reads "<s> [img] </s>": an image with no text after
      // it. Learning that </s> would teach captioning's prompt, "<s> [img]", to end at once.
      AddToken(tokens_.eos, /*target=*/captioned, &doc);
      break;
    }
    case ExampleKind::kImageFirst:
      AddImage(noised(example.images[0], options_.image_first_max_timestep), /*boi_target=*/true,
               &doc);
      AddText(tokenizer_.Encode(example.text), /*target=*/true, &doc);
      AddToken(tokens_.eos, /*target=*/true, &doc);
      break;
    case ExampleKind::kChat: {
      // One user turn and answer per question; the image comes with the first question only.
      auto turn = [&](const std::string& question, const std::string& answer, bool with_image) {
        AddToken(tokens_.user, /*target=*/false, &doc);
        if (with_image) AddImage(clean(example.images[0]), /*boi_target=*/false, &doc);
        AddText(tokenizer_.Encode(question), /*target=*/false, &doc);
        AddToken(tokens_.end_of_turn, /*target=*/false, &doc);
        AddToken(tokens_.assistant, /*target=*/false, &doc);
        AddText(tokenizer_.Encode(answer), /*target=*/true, &doc);
        AddToken(tokens_.end_of_turn, /*target=*/true, &doc);
      };
      turn(example.prompt, example.text, /*with_image=*/true);
      for (const auto& [question, answer] : example.follow_ups) turn(question, answer, false);
      break;
    }
    case ExampleKind::kEdit:
      AddToken(tokens_.user, /*target=*/false, &doc);
      AddImage(clean(example.images[0]), /*boi_target=*/false, &doc);
      if (rng.Uniform() >= options_.caption_dropout) {
        AddText(tokenizer_.Encode(example.prompt), /*target=*/false, &doc);
      }
      AddToken(tokens_.end_of_turn, /*target=*/false, &doc);
      AddToken(tokens_.assistant, /*target=*/false, &doc);
      AddImage(noised(example.images[1], any_t), /*boi_target=*/true, &doc);
      AddToken(tokens_.end_of_turn, /*target=*/true, &doc);
      break;
  }
  return doc;
}

}  // namespace infusion
