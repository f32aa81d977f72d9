#include "engine/prompt/prompt_builder.h"

#include "common/logging.h"

namespace infusion::engine {

void PromptBuilder::AppendTokens(std::vector<PromptPart>* out,
                                 const std::vector<int32_t>& tokens) {
  if (tokens.empty()) return;
  if (out->empty() || out->back().is_image()) out->push_back(PromptPart::Text({}));
  auto& dst = out->back().tokens;
  dst.insert(dst.end(), tokens.begin(), tokens.end());
}

std::vector<PromptPart> PromptBuilder::Prompt(const SequenceLayout& layout,
                                              const std::vector<const ContentPart*>& images) const {
  CHECK_LT(layout.answer, layout.runs.size());
  std::vector<PromptPart> out;
  size_t next_image = 0;
  for (size_t i = 0; i < layout.answer; ++i) {
    const LayoutRun& run = layout.runs[i];
    if (!run.is_image) {
      AppendTokens(&out, run.tokens);
      continue;
    }
    CHECK_LT(next_image, images.size()) << "the layout has more images than were given";
    AppendTokens(&out, {t_.boi});
    out.push_back(*images[next_image++]);
    AppendTokens(&out, {t_.eoi});
  }
  // The model draws an image answer after the <boi> the engine puts there.
  if (layout.runs[layout.answer].is_image) AppendTokens(&out, {t_.boi});
  return out;
}

std::vector<PromptPart> PromptBuilder::UnconditionalImagePrefix() const {
  return Prompt(layouts_.TextToImage({}), {});
}

BuiltPrompt PromptBuilder::TextToImage(const std::vector<int32_t>& prompt) const {
  BuiltPrompt b;
  b.prompt = Prompt(layouts_.TextToImage(prompt), {});
  b.uncond_prompt = UnconditionalImagePrefix();
  return b;
}

BuiltPrompt PromptBuilder::Caption(const ContentPart& image,
                                   const std::vector<int32_t>& prompt) const {
  BuiltPrompt b;
  b.prompt = Prompt(layouts_.Caption(prompt, /*caption=*/{}), {&image});
  return b;
}

BuiltPrompt PromptBuilder::Chat(const std::vector<ChatMessage>& messages) const {
  std::vector<LayoutMessage> layout_messages;
  std::vector<const ContentPart*> images;
  for (const ChatMessage& m : messages) {
    LayoutMessage& lm = layout_messages.emplace_back();
    lm.role = m.role;
    for (const ContentPart& part : m.parts) {
      if (part.is_image()) {
        lm.parts.push_back(LayoutRun::Image());
        images.push_back(&part);
      } else {
        lm.parts.push_back(LayoutRun::Text(part.tokens));
      }
    }
  }
  BuiltPrompt b;
  b.prompt = Prompt(layouts_.Chat(layout_messages, /*reply=*/{}), images);
  return b;
}

BuiltPrompt PromptBuilder::Edit(const ContentPart& source,
                                const std::vector<int32_t>& instruction) const {
  BuiltPrompt b;
  b.prompt = Prompt(layouts_.Edit(instruction), {&source});
  b.uncond_prompt = Prompt(layouts_.Edit(/*instruction=*/{}), {&source});
  return b;
}

BuiltPrompt PromptBuilder::Interleaved(const std::vector<ContentPart>& parts) const {
  std::vector<LayoutRun> runs;
  std::vector<const ContentPart*> images;
  for (const ContentPart& part : parts) {
    if (part.is_image()) {
      runs.push_back(LayoutRun::Image());
      images.push_back(&part);
    } else {
      runs.push_back(LayoutRun::Text(part.tokens));
    }
  }
  BuiltPrompt b;
  b.prompt = Prompt(layouts_.Interleaved(std::move(runs)), images);
  return b;
}

}  // namespace infusion::engine
