// The prompts the server sends, made from the layouts of sequence_layout.h (docs/model-format.md
// §7), which the trainer's documents are made from too: every endpoint builds its prompt (and its
// classifier-free-guidance prefix) here. Torch-free.
#ifndef INFUSION_ENGINE_PROMPT_PROMPT_BUILDER_H_
#define INFUSION_ENGINE_PROMPT_PROMPT_BUILDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/model_config.h"
#include "engine/prompt/prompt_part.h"
#include "engine/prompt/sequence_layout.h"

namespace infusion::engine {

// A piece of user content: text (already tokenized) or an image (normalised patches).
using ContentPart = PromptPart;

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
  explicit PromptBuilder(const SpecialTokens& tokens) : t_(tokens), layouts_(tokens) {}

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
  // The prefix used for CFG when the model opens an image by itself: <s> <boi>, the
  // unconditional text-to-image prompt.
  std::vector<PromptPart> UnconditionalImagePrefix() const;

  // The prompt of a request laid out as `layout`: its runs before the answer, the i-th image run
  // being *images[i], then <boi> when the answer is an image. Adjacent text is one part.
  // images: one for each image run before the answer, in order (the answer and what follows it
  // are the model's).
  std::vector<PromptPart> Prompt(const SequenceLayout& layout,
                                 const std::vector<const ContentPart*>& images) const;

  const SequenceLayouts& layouts() const { return layouts_; }

 private:
  // Appends tokens to the last text part of `out` (or a new one).
  static void AppendTokens(std::vector<PromptPart>* out, const std::vector<int32_t>& tokens);

  SpecialTokens t_;
  SequenceLayouts layouts_;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_PROMPT_PROMPT_BUILDER_H_
