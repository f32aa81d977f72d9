#include "trainer/shapes_dataset.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "data/seeds/seeds.h"
#include "data/shapes/captioned_scene.h"
#include "data/shapes/edits.h"
#include "data/shapes/questions.h"
#include "data/shapes/render.h"
#include "data/shapes/rng.h"
#include "data/shapes/split.h"

namespace infusion::trainer {

using data::DeriveSeed;
using data::Example;
using data::ExampleKind;
using engine::Image;
using engine::Rng;
namespace shapes = data::shapes;

absl::Status ShapesDataOptions::Validate() const {
  auto share = [](const char* field, double v) {
    return v >= 0 && v <= 1
               ? absl::OkStatus()
               : absl::InvalidArgumentError(absl::StrCat(field, " must be in [0, 1], got ", v));
  };
  if (pool_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("pool_size must be > 0, got ", pool_size));
  }
  for (auto [field, v] : {std::pair{"chat", chat}, {"edit", edit}, {"image_first", image_first}}) {
    if (absl::Status s = share(field, v); !s.ok()) return s;
  }
  if (chat_turns < 1) {
    return absl::InvalidArgumentError(absl::StrCat("chat_turns must be >= 1, got ", chat_turns));
  }
  if (chat + edit > 1) {
    return absl::InvalidArgumentError(absl::StrCat("chat + edit must be <= 1, got ", chat + edit));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ShapesDataset>> ShapesDataset::Create(
    const ShapesDataOptions& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  return std::unique_ptr<ShapesDataset>(new ShapesDataset(options));
}

// A uniform draw in [0, 1) at a resolution of 1e-6, from the shapes library's integer draws.
static double Fraction(shapes::Rng& rng) { return rng.Below(1000000) / 1e6; }

ShapesDataset::ShapesDataset(const ShapesDataOptions& options) : chat_turns_(options.chat_turns) {
  using shapes::Split;
  std::string fingerprint;  // everything the images depend on
  auto add_scene = [&](const shapes::Scene& scene) {
    for (const shapes::Object& o : scene.objects) {
      absl::StrAppend(&fingerprint, static_cast<int>(o.shape), static_cast<int>(o.color),
                      o.cell.row, o.cell.col, o.size, o.dx, o.dy, ";");
    }
    scenes_.push_back(scene);
    absl::StrAppend(&fingerprint, "|");
    return static_cast<int64_t>(scenes_.size()) - 1;
  };
  examples_.reserve(options.pool_size);
  for (int64_t i = 0; i < options.pool_size; ++i) {
    shapes::Rng rng(DeriveSeed(options.seed, {static_cast<uint64_t>(i)}));
    const double u = Fraction(rng);
    Example e;
    if (u < options.edit) {
      shapes::Edit edit = shapes::SampleEdit(Split::kTrain, rng);
      e.kind = ExampleKind::kEdit;
      e.prompt = edit.instruction;
      e.images = {add_scene(edit.source), add_scene(edit.target)};
    } else if (u < options.edit + options.chat) {
      shapes::ChatSample chat = shapes::SampleChat(Split::kTrain, rng);
      e.kind = ExampleKind::kChat;
      e.prompt = chat.qa.question;
      e.text = chat.qa.answer;
      e.images = {add_scene(chat.scene)};
    } else if (Fraction(rng) < options.image_first) {
      shapes::CaptionedScene pair = shapes::SampleCaptioning(Split::kTrain, rng);
      e.kind = ExampleKind::kImageFirst;
      e.text = pair.caption;
      e.images = {add_scene(pair.scene)};
    } else {
      const shapes::PromptCategory category = rng.Pick(shapes::kAllCategories);
      shapes::CaptionedScene pair = shapes::SamplePrompt(category, Split::kTrain, rng);
      e.kind = ExampleKind::kCaptionFirst;
      e.text = pair.caption;
      e.images = {add_scene(pair.scene)};
    }
    absl::StrAppend(&fingerprint, e.text, "|", e.prompt, "\n");
    examples_.push_back(std::move(e));
  }
  images_key_ = absl::StrCat("shapes-", options.pool_size, "-", options.seed, "-",
                             absl::Hex(shapes::StableHash(fingerprint)));
}

Example ShapesDataset::Get(int64_t index, Rng& rng) const {
  Example e = examples_[index];
  if (e.kind != ExampleKind::kChat || chat_turns_ == 1) return e;
  const int turns = 1 + std::min(static_cast<int>(rng.Uniform() * chat_turns_), chat_turns_ - 1);
  shapes::Rng draw(static_cast<uint64_t>(rng.Uniform() * 0x1p53));
  const shapes::Scene& scene = scenes_[e.images[0]];
  std::vector<shapes::QuestionAnswer> asked = {{e.prompt, e.text}};
  // A scene can have fewer distinct questions than asked for; a bounded number of tries.
  for (int tries = 0; static_cast<int>(asked.size()) < turns && tries < 8 * chat_turns_; ++tries) {
    shapes::QuestionAnswer qa = shapes::SampleQuestion(scene, draw);
    if (std::find(asked.begin(), asked.end(), qa) != asked.end()) continue;
    e.follow_ups.emplace_back(qa.question, qa.answer);
    asked.push_back(std::move(qa));
  }
  return e;
}

std::vector<std::string> ShapesDataset::Texts() const {
  std::vector<std::string> texts;
  for (const Example& e : examples_) {
    if (!e.text.empty()) texts.push_back(e.text);
    if (!e.prompt.empty()) texts.push_back(e.prompt);
  }
  return texts;
}

absl::StatusOr<Image> ShapesDataset::LoadImage(int64_t index) const {
  shapes::RgbImage rendered = shapes::Render(scenes_[index]);
  return Image{rendered.width, rendered.height, std::move(rendered.rgb)};
}

}  // namespace infusion::trainer
