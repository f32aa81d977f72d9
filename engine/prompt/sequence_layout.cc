#include "engine/prompt/sequence_layout.h"

#include <utility>

namespace infusion::engine {

LayoutRun LayoutRun::Text(std::vector<int32_t> tokens, bool target) {
  LayoutRun run;
  run.tokens = std::move(tokens);
  run.target = target;
  return run;
}

LayoutRun LayoutRun::Image(bool target) {
  LayoutRun run;
  run.is_image = true;
  run.target = target;
  return run;
}

int SequenceLayout::num_images() const {
  int n = 0;
  for (const LayoutRun& run : runs) n += run.is_image ? 1 : 0;
  return n;
}

namespace {

// Appends runs to a layout; Answer() marks the next run as the answer. Take() empties it.
class LayoutWriter {
 public:
  LayoutWriter& Text(std::vector<int32_t> tokens, bool target = false) {
    layout_.runs.push_back(LayoutRun::Text(std::move(tokens), target));
    return *this;
  }
  LayoutWriter& Image(bool target = false) {
    layout_.runs.push_back(LayoutRun::Image(target));
    return *this;
  }
  LayoutWriter& Answer() {
    layout_.answer = layout_.runs.size();
    return *this;
  }
  SequenceLayout Take() { return std::move(layout_); }

 private:
  SequenceLayout layout_;
};

}  // namespace

SequenceLayout SequenceLayouts::TextToImage(std::vector<int32_t> caption) const {
  const bool captioned = !caption.empty();
  return LayoutWriter()
      .Text({t_.bos})
      .Text(std::move(caption), /*target=*/true)
      .Answer()
      .Image(/*target=*/true)
      .Text({t_.eos}, /*target=*/captioned)
      .Take();
}

SequenceLayout SequenceLayouts::Caption(std::vector<int32_t> prompt,
                                        std::vector<int32_t> caption) const {
  return LayoutWriter()
      .Text({t_.bos})
      .Image(/*target=*/true)
      .Text(std::move(prompt))
      .Answer()
      .Text(std::move(caption), /*target=*/true)
      .Text({t_.eos}, /*target=*/true)
      .Take();
}

SequenceLayout SequenceLayouts::Chat(const std::vector<LayoutMessage>& messages,
                                     std::vector<int32_t> reply) const {
  LayoutWriter w;
  w.Text({t_.bos});
  for (const LayoutMessage& m : messages) {
    const bool assistant = m.role == ChatRole::kAssistant;
    w.Text({m.role == ChatRole::kSystem ? t_.system : assistant ? t_.assistant : t_.user});
    for (const LayoutRun& part : m.parts) {
      if (part.is_image) {
        w.Image(/*target=*/assistant);
      } else {
        w.Text(part.tokens, /*target=*/assistant);
      }
    }
    w.Text({t_.end_of_turn}, /*target=*/assistant);
  }
  w.Text({t_.assistant})
      .Answer()
      .Text(std::move(reply), /*target=*/true)
      .Text({t_.end_of_turn}, /*target=*/true);
  return w.Take();
}

SequenceLayout SequenceLayouts::Edit(std::vector<int32_t> instruction) const {
  return LayoutWriter()
      .Text({t_.bos, t_.user})
      .Image()
      .Text(std::move(instruction))
      .Text({t_.end_of_turn, t_.assistant})
      .Answer()
      .Image(/*target=*/true)
      .Text({t_.end_of_turn}, /*target=*/true)
      .Take();
}

SequenceLayout SequenceLayouts::Interleaved(std::vector<LayoutRun> parts) const {
  LayoutWriter w;
  w.Text({t_.bos});
  for (LayoutRun& part : parts) {
    if (part.is_image) {
      w.Image(/*target=*/true);
    } else {
      w.Text(std::move(part.tokens), /*target=*/true);
    }
  }
  w.Answer().Text({t_.eos}, /*target=*/true);
  return w.Take();
}

}  // namespace infusion::engine
