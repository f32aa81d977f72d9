// The sequence templates of docs/model-format.md §7, each written once, as a layout: runs of text
// and images, each marked with whether the model produces it, and the run where a request's
// answer begins. The server's prompt (PromptBuilder: the runs before the answer) and the trainer's
// document (trainer/sequence_builder.h: every run, with its targets and noised images) are both
// made from the same layout, so training cannot teach a layout that serving does not send
// (tests/trainer/train_serve_identity_test.cc). Torch-free.
//
// In the table, "*" marks the runs the model produces and "^" the answer; [img] is <boi>, the
// patches of the layout's next image, <eoi>:
//   text-to-image   <s> {caption}* [img]*^ </s>*             </s> not *, without a caption
//   captioning      <s> [img]* {prompt} {caption}*^ </s>*
//   chat            <s> (<|role|> parts <|end|>)* <|assistant|> {reply}*^ <|end|>*
//                   (an assistant message's parts and its <|end|> are *)
//   editing         <s> <|user|> [img] {instruction} <|end|> <|assistant|> [img]*^ <|end|>*
//   interleaved     <s> parts* </s>*^
// A request gives every run before the answer, its images clean, and then lets the model write
// (or, when the answer is an image, draw after the <boi> the engine adds). Training learns the
// runs marked "*" wherever they stand, so one chat document teaches every one of its turns, and
// the captioned image of a captioning document is also drawn unconditionally: its "<s> <boi>" is
// the unconditional prefix of classifier-free guidance.
#ifndef INFUSION_ENGINE_PROMPT_SEQUENCE_LAYOUT_H_
#define INFUSION_ENGINE_PROMPT_SEQUENCE_LAYOUT_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/model/model_config.h"

namespace infusion::engine {

// One run of a layout: text tokens, or one image ([img] above). Images carry no content here: the
// i-th image run of a layout stands for the i-th image of whatever fills it (a request's patches,
// a training example's image indices).
struct LayoutRun {
  std::vector<int32_t> tokens;  // a text run
  bool is_image = false;
  // Whether the model produces this run, which is what training learns from it. Text: its tokens
  // are language-model targets. An image: the model draws it, so its <boi> is a target (deciding
  // to draw), and its patches are noised and their noise predicted; <eoi> never is a target,
  // since the engine closes every image itself.
  bool target = false;

  static LayoutRun Text(std::vector<int32_t> tokens, bool target = false);
  static LayoutRun Image(bool target = false);
};

struct SequenceLayout {
  std::vector<LayoutRun> runs;
  // The run where the model takes over from a request of this layout: the request's prompt is
  // every run before it, then <boi> when it is an image.
  size_t answer = 0;

  int num_images() const;
};

enum class ChatRole { kSystem, kUser, kAssistant };

// A chat message whose parts are text and image runs (their `target` is ignored: the role
// decides it).
struct LayoutMessage {
  ChatRole role = ChatRole::kUser;
  std::vector<LayoutRun> parts;
};

class SequenceLayouts {
 public:
  explicit SequenceLayouts(const SpecialTokens& tokens) : t_(tokens) {}

  // An empty caption gives the unconditional layout of classifier-free guidance ("<s> <boi>"),
  // which caption dropout teaches; its </s> is no target, as "<s> [img] </s>" would teach
  // captioning's prompt to end at once.
  SequenceLayout TextToImage(std::vector<int32_t> caption) const;
  // `prompt`: text the request puts before the caption (may be empty); `caption`: empty in a
  // request, the caption to learn in training.
  SequenceLayout Caption(std::vector<int32_t> prompt, std::vector<int32_t> caption) const;
  // `messages`: the conversation so far; `reply`: the assistant's next message (empty in a
  // request).
  SequenceLayout Chat(const std::vector<LayoutMessage>& messages, std::vector<int32_t> reply) const;
  // An empty instruction gives the unconditional layout of classifier-free guidance (the
  // instruction's dropout in training).
  SequenceLayout Edit(std::vector<int32_t> instruction) const;
  // Text and images as given, then the model continues.
  SequenceLayout Interleaved(std::vector<LayoutRun> parts) const;

 private:
  SpecialTokens t_;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_PROMPT_SEQUENCE_LAYOUT_H_
