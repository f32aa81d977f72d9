// The sequence templates of docs/model-format.md §7, in one place: every endpoint builds its
// prompt (and its classifier-free-guidance prefix) here. Torch-free.
#ifndef INFUSION_ENGINE_PROMPT_PROMPT_BUILDER_H_
#define INFUSION_ENGINE_PROMPT_PROMPT_BUILDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/model_config.h"
#include "engine/prompt/prompt_part.h"

namespace infusion {

// A piece of user content: text (already tokenized) or an image (normalised patches).
using ContentPart = PromptPart;

enum class ChatRole { kSystem, kUser, kAssistant };

struct ChatMessage {
  ChatRole role = ChatRole::kUser;
  std::vector<ContentPart> parts;
};

// A prompt and, for image generation, its unconditional prefix.
struct BuiltPrompt {
  std::vector<PromptPart> prompt;
  std::vector<PromptPart> uncond_prompt;  // empty when the prompt does not end in an image
};

class PromptBuilder {
 public:
  explicit PromptBuilder(const SpecialTokens& tokens) : t_(tokens) {}

  // <s> {prompt} <boi>  |  uncond: <s> <boi>
  BuiltPrompt TextToImage(const std::vector<int32_t>& prompt) const;
  // <s> <boi> image <eoi> {prompt}
  BuiltPrompt Caption(const ContentPart& image, const std::vector<int32_t>& prompt) const;
  // <s> (<|role|> parts <|end|>)* <|assistant|>
  BuiltPrompt Chat(const std::vector<ChatMessage>& messages) const;
  // <s> <|user|> <boi> src <eoi> {instruction} <|end|> <|assistant|> <boi>
  // uncond: the same without the instruction.
  BuiltPrompt Edit(const ContentPart& source, const std::vector<int32_t>& instruction) const;
  // <s> parts (interleaved text and images, as given)
  BuiltPrompt Interleaved(const std::vector<ContentPart>& parts) const;
  // The prefix used for CFG when the model opens an image by itself: <s> <boi>.
  std::vector<PromptPart> UnconditionalImagePrefix() const;

 private:
  // Appends tokens to the last text part of `out` (or a new one).
  static void AppendTokens(std::vector<PromptPart>* out, const std::vector<int32_t>& tokens);
  void AppendImage(std::vector<PromptPart>* out, const ContentPart& image) const;

  SpecialTokens t_;
};

}  // namespace infusion

#endif  // INFUSION_ENGINE_PROMPT_PROMPT_BUILDER_H_
