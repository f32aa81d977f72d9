#include "engine/prompt/prompt_builder.h"

namespace infusion {

void PromptBuilder::AppendTokens(std::vector<PromptPart>* out,
                                 const std::vector<int32_t>& tokens) {
  if (tokens.empty()) return;
  if (out->empty() || out->back().is_image()) out->push_back(PromptPart::Text({}));
  auto& dst = out->back().tokens;
  dst.insert(dst.end(), tokens.begin(), tokens.end());
}

void PromptBuilder::AppendImage(std::vector<PromptPart>* out, const ContentPart& image) const {
  AppendTokens(out, {t_.boi});
  out->push_back(image);
  AppendTokens(out, {t_.eoi});
}

std::vector<PromptPart> PromptBuilder::UnconditionalImagePrefix() const {
  return {PromptPart::Text({t_.bos, t_.boi})};
}

BuiltPrompt PromptBuilder::TextToImage(const std::vector<int32_t>& prompt) const {
  BuiltPrompt b;
  AppendTokens(&b.prompt, {t_.bos});
  AppendTokens(&b.prompt, prompt);
  AppendTokens(&b.prompt, {t_.boi});
  b.uncond_prompt = UnconditionalImagePrefix();
  return b;
}

BuiltPrompt PromptBuilder::Caption(const ContentPart& image,
                                   const std::vector<int32_t>& prompt) const {
  BuiltPrompt b;
  AppendTokens(&b.prompt, {t_.bos});
  AppendImage(&b.prompt, image);
  AppendTokens(&b.prompt, prompt);
  return b;
}

BuiltPrompt PromptBuilder::Chat(const std::vector<ChatMessage>& messages) const {
  BuiltPrompt b;
  AppendTokens(&b.prompt, {t_.bos});
  for (const ChatMessage& m : messages) {
    const int role = m.role == ChatRole::kSystem ? t_.system
                     : m.role == ChatRole::kUser ? t_.user
                                                 : t_.assistant;
    AppendTokens(&b.prompt, {role});
    for (const ContentPart& part : m.parts) {
      if (part.is_image()) {
        AppendImage(&b.prompt, part);
      } else {
        AppendTokens(&b.prompt, part.tokens);
      }
    }
    AppendTokens(&b.prompt, {t_.end_of_turn});
  }
  AppendTokens(&b.prompt, {t_.assistant});
  return b;
}

BuiltPrompt PromptBuilder::Edit(const ContentPart& source,
                                const std::vector<int32_t>& instruction) const {
  BuiltPrompt b;
  for (std::vector<PromptPart>* out : {&b.prompt, &b.uncond_prompt}) {
    AppendTokens(out, {t_.bos, t_.user});
    AppendImage(out, source);
    if (out == &b.prompt) AppendTokens(out, instruction);
    AppendTokens(out, {t_.end_of_turn, t_.assistant, t_.boi});
  }
  return b;
}

BuiltPrompt PromptBuilder::Interleaved(const std::vector<ContentPart>& parts) const {
  BuiltPrompt b;
  AppendTokens(&b.prompt, {t_.bos});
  for (const ContentPart& part : parts) {
    if (part.is_image()) {
      AppendImage(&b.prompt, part);
    } else {
      AppendTokens(&b.prompt, part.tokens);
    }
  }
  return b;
}

}  // namespace infusion
