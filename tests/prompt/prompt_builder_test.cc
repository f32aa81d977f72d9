// The prompts of docs/model-format.md §7, id by id (special tokens at their default ids: <s> 2,
// </s> 3, <boi> 4, <eoi> 5, <|system|> 6, <|user|> 7, <|assistant|> 8, <|end|> 9; text ids >= 20),
// and the layouts they are cut from.
#include "engine/prompt/prompt_builder.h"

#include <vector>

#include "gtest/gtest.h"

namespace infusion::engine {
namespace {

const SpecialTokens kTokens;

PromptPart Img(float value) { return PromptPart::Image({value, value}); }

// A prompt written as text runs and images: each image part is given by its first patch value.
struct Expected {
  std::vector<int32_t> tokens;
  float image = 0.0f;
  bool is_image = false;
};
Expected T(std::vector<int32_t> tokens) { return {std::move(tokens), 0.0f, false}; }
Expected I(float value) { return {{}, value, true}; }

void ExpectPrompt(const std::vector<PromptPart>& prompt, const std::vector<Expected>& expected) {
  ASSERT_EQ(prompt.size(), expected.size());
  for (size_t i = 0; i < prompt.size(); ++i) {
    ASSERT_EQ(prompt[i].is_image(), expected[i].is_image) << "part " << i;
    if (expected[i].is_image) {
      EXPECT_EQ(prompt[i].image_patches[0], expected[i].image) << "part " << i;
      EXPECT_NE(prompt[i].image_hash, 0u) << "part " << i;
    } else {
      EXPECT_EQ(prompt[i].tokens, expected[i].tokens) << "part " << i;
    }
  }
}

TEST(PromptBuilderTest, TextToImageAndItsUnconditionalPrefix) {
  const PromptBuilder b(kTokens);
  const BuiltPrompt p = b.TextToImage({20, 21});
  ExpectPrompt(p.prompt, {T({2, 20, 21, 4})});
  ExpectPrompt(p.uncond_prompt, {T({2, 4})});
  ExpectPrompt(b.UnconditionalImagePrefix(), {T({2, 4})});
}

TEST(PromptBuilderTest, CaptionWithAndWithoutAPrompt) {
  const PromptBuilder b(kTokens);
  ExpectPrompt(b.Caption(Img(1), {}).prompt, {T({2, 4}), I(1), T({5})});
  ExpectPrompt(b.Caption(Img(1), {20}).prompt, {T({2, 4}), I(1), T({5, 20})});
  EXPECT_TRUE(b.Caption(Img(1), {}).uncond_prompt.empty());
}

TEST(PromptBuilderTest, ChatTurnsWithImagesInOrder) {
  const PromptBuilder b(kTokens);
  const std::vector<ChatMessage> messages = {{ChatRole::kSystem, {PromptPart::Text({20})}},
                                             {ChatRole::kUser, {Img(1), PromptPart::Text({21})}},
                                             {ChatRole::kAssistant, {PromptPart::Text({22})}},
                                             {ChatRole::kUser, {PromptPart::Text({23}), Img(2)}}};
  ExpectPrompt(b.Chat(messages).prompt, {T({2, 6, 20, 9, 7, 4}), I(1),
                                         T({5, 21, 9, 8, 22, 9, 7, 23, 4}), I(2), T({5, 9, 8})});
}

TEST(PromptBuilderTest, EditAndItsUnconditionalPrefix) {
  const BuiltPrompt p = PromptBuilder(kTokens).Edit(Img(3), {20, 21});
  ExpectPrompt(p.prompt, {T({2, 7, 4}), I(3), T({5, 20, 21, 9, 8, 4})});
  ExpectPrompt(p.uncond_prompt, {T({2, 7, 4}), I(3), T({5, 9, 8, 4})});
}

TEST(PromptBuilderTest, InterleavedAsGiven) {
  const PromptBuilder b(kTokens);
  ExpectPrompt(b.Interleaved({PromptPart::Text({20}), Img(4), PromptPart::Text({21})}).prompt,
               {T({2, 20, 4}), I(4), T({5, 21})});
  ExpectPrompt(b.Interleaved({}).prompt, {T({2})});
}

// What the trainer reads from a layout: which runs are the model's, and where a request stops.
TEST(SequenceLayoutTest, TargetsAndAnswers) {
  const SequenceLayouts layouts(kTokens);
  auto targets = [](const SequenceLayout& l) {
    std::vector<bool> out;
    for (const LayoutRun& run : l.runs) out.push_back(run.target);
    return out;
  };
  // <s> {caption}* [img]*^ </s>*; without a caption </s> is not learnt.
  SequenceLayout t2i = layouts.TextToImage({20});
  EXPECT_EQ(targets(t2i), (std::vector<bool>{false, true, true, true}));
  EXPECT_TRUE(t2i.runs[t2i.answer].is_image);
  EXPECT_EQ(targets(layouts.TextToImage({})), (std::vector<bool>{false, true, true, false}));
  // <s> [img]* {prompt} {caption}*^ </s>*
  SequenceLayout caption = layouts.Caption({20}, {21});
  EXPECT_EQ(targets(caption), (std::vector<bool>{false, true, false, true, true}));
  EXPECT_EQ(caption.runs[caption.answer].tokens, (std::vector<int32_t>{21}));
  // A history turn of the assistant is learnt like the reply; the user's never is.
  SequenceLayout chat =
      layouts.Chat({{ChatRole::kUser, {LayoutRun::Image(), LayoutRun::Text({20})}},
                    {ChatRole::kAssistant, {LayoutRun::Text({21})}},
                    {ChatRole::kUser, {LayoutRun::Text({22})}}},
                   {23});
  std::vector<int32_t> learnt, given;
  for (const LayoutRun& run : chat.runs) {
    auto& into = run.target ? learnt : given;
    into.insert(into.end(), run.tokens.begin(), run.tokens.end());
  }
  EXPECT_EQ(learnt, (std::vector<int32_t>{21, 9, 23, 9}));
  EXPECT_EQ(given, (std::vector<int32_t>{2, 7, 20, 9, 8, 7, 22, 9, 8}));
  EXPECT_EQ(chat.runs[chat.answer].tokens, (std::vector<int32_t>{23}));
  EXPECT_EQ(chat.num_images(), 1);
  // The source is given, the target drawn.
  SequenceLayout edit = layouts.Edit({20});
  ASSERT_EQ(edit.num_images(), 2);
  ASSERT_TRUE(edit.runs[1].is_image);
  EXPECT_FALSE(edit.runs[1].target);
  EXPECT_TRUE(edit.runs[edit.answer].is_image);
  EXPECT_TRUE(edit.runs[edit.answer].target);
}

}  // namespace
}  // namespace infusion::engine
