#include "trainer/sequence_builder.h"

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace infusion::trainer {

using data::Example;
using data::ExampleKind;
using engine::ChatRole;
using engine::LayoutMessage;
using engine::LayoutRun;
using engine::Rng;
using engine::SequenceLayout;
using engine::SpecialTokens;
using engine::Tokenizer;

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
    : tokenizer_(tokenizer),
      tokens_(tokens),
      layouts_(tokens),
      num_patches_(num_patches),
      options_(options) {}

Document SequenceBuilder::Render(const SequenceLayout& layout, const std::vector<int64_t>& images,
                                 int32_t max_timestep) const {
  CHECK_EQ(static_cast<size_t>(layout.num_images()), images.size());
  Document doc;
  auto add = [&doc](int token, int slot, bool target) {
    doc.tokens.push_back(token);
    doc.image_slot.push_back(slot);
    doc.is_target.push_back(target ? 1 : 0);
  };
  for (const LayoutRun& run : layout.runs) {
    if (!run.is_image) {
      for (int id : run.tokens) add(id, -1, run.target);
      continue;
    }
    const int slot = static_cast<int>(doc.images.size());
    doc.images.push_back(DocumentImage{images[slot], run.target, run.target ? max_timestep : 0});
    add(tokens_.boi, -1, run.target);
    for (int i = 0; i < num_patches_; ++i) add(tokens_.pad, slot, /*target=*/false);
    add(tokens_.eoi, -1, /*target=*/false);
  }
  return doc;
}

Document SequenceBuilder::Build(const Example& example, Rng& rng) const {
  auto encode = [this](const std::string& text) { return tokenizer_.Encode(text); };
  SequenceLayout layout;
  int32_t max_timestep = options_.num_train_timesteps - 1;
  switch (example.kind) {
    case ExampleKind::kText:
      layout = layouts_.Interleaved({LayoutRun::Text(encode(example.text))});
      break;
    case ExampleKind::kCaptionFirst: {
      const bool captioned = rng.Uniform() >= options_.caption_dropout;
      layout = layouts_.TextToImage(captioned ? encode(example.text) : std::vector<int>{});
      break;
    }
    case ExampleKind::kImageFirst:
      layout = layouts_.Caption(/*prompt=*/{}, encode(example.text));
      max_timestep = options_.image_first_max_timestep;
      break;
    case ExampleKind::kChat: {
      // One user turn and answer per question; the image comes with the first question only.
      std::vector<LayoutMessage> messages = {
          {ChatRole::kUser, {LayoutRun::Image(), LayoutRun::Text(encode(example.prompt))}}};
      std::string reply = example.text;
      for (const auto& [question, answer] : example.follow_ups) {
        messages.push_back({ChatRole::kAssistant, {LayoutRun::Text(encode(reply))}});
        messages.push_back({ChatRole::kUser, {LayoutRun::Text(encode(question))}});
        reply = answer;
      }
      layout = layouts_.Chat(messages, encode(reply));
      break;
    }
    case ExampleKind::kEdit: {
      const bool instructed = rng.Uniform() >= options_.caption_dropout;
      layout = layouts_.Edit(instructed ? encode(example.prompt) : std::vector<int>{});
      break;
    }
  }
  return Render(layout, example.images, max_timestep);
}

}  // namespace infusion::trainer
