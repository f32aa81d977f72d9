// Train == serve: for every request kind, the document the trainer learns from and the prompt the
// server sends for the same request (PromptBuilder, which infusion-server's request conversion
// calls) are the same token ids with the same images at the same positions, and the document's
// next position is where the model's answer begins: what training teaches the model to write or
// draw there is what the server asks it for. The tokenizer and special tokens are the shapes
// model's own (models/shapes).
#include <memory>
#include <string>
#include <vector>

#include "engine/model/model_config.h"
#include "engine/prompt/prompt_builder.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "trainer/sequence_builder.h"

namespace infusion::trainer {

using data::Example;
using data::ExampleKind;
using engine::BuiltPrompt;
using engine::ChatMessage;
using engine::ChatRole;
using engine::ContentPart;
using engine::ModelConfig;
using engine::PromptBuilder;
using engine::PromptPart;
using engine::Rng;
using engine::SpecialTokens;
using engine::Tokenizer;

namespace {

constexpr int kPatches = 4;
constexpr int kPatchDim = 2;

// A sequence position by position: token ids (pad at image positions) and, per position, the
// image table row of its image (-1 at text).
struct Positions {
  std::vector<int> tokens;
  std::vector<int64_t> image;

  size_t size() const { return tokens.size(); }
};

class TrainServeIdentityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string dir = std::string(INFUSION_SOURCE_DIR) + "/models/shapes";
    absl::StatusOr<ModelConfig> config = ModelConfig::FromFile(dir + "/config.json");
    ASSERT_TRUE(config.ok()) << config.status();
    tokens_ = new SpecialTokens(config->tokens);
    absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer =
        Tokenizer::Load(dir + "/tokenizer.model");
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = tokenizer->release();
  }
  void SetUp() override {
    ASSERT_NE(tokenizer_, nullptr);
    ASSERT_NE(tokens_, nullptr);
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    delete tokens_;
  }

  std::vector<int> Ids(const std::string& text) const { return tokenizer_->Encode(text); }
  static std::vector<int> Cat(std::vector<int> a, const std::vector<int>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }

  // What a request sends for row `row` of the image table: patches that carry the row's number.
  static ContentPart ImageOf(int64_t row) {
    return PromptPart::Image(std::vector<float>(kPatches * kPatchDim, static_cast<float>(row)));
  }

  // The trainer's document of `example`; caption dropout 0 or 1 decides it.
  Document Train(const Example& example, double caption_dropout) const {
    SequenceOptions options;
    options.caption_dropout = caption_dropout;
    Rng rng(7);
    return SequenceBuilder(*tokenizer_, *tokens_, kPatches, options).Build(example, rng);
  }

  static Positions OfPrompt(const std::vector<PromptPart>& prompt, int pad) {
    Positions p;
    for (const PromptPart& part : prompt) {
      if (!part.is_image()) {
        p.tokens.insert(p.tokens.end(), part.tokens.begin(), part.tokens.end());
        p.image.insert(p.image.end(), part.tokens.size(), -1);
        continue;
      }
      EXPECT_EQ(part.image_patches.size(), static_cast<size_t>(kPatches * kPatchDim));
      p.tokens.insert(p.tokens.end(), kPatches, pad);
      p.image.insert(p.image.end(), kPatches, static_cast<int64_t>(part.image_patches[0]));
    }
    return p;
  }

  static Positions OfDocument(const Document& doc, size_t length) {
    Positions p;
    for (size_t i = 0; i < length && i < doc.tokens.size(); ++i) {
      p.tokens.push_back(doc.tokens[i]);
      p.image.push_back(doc.image_slot[i] < 0 ? -1 : doc.images[doc.image_slot[i]].image);
    }
    return p;
  }

  // Expects `prompt` to be the beginning of `doc`; returns its length in positions.
  size_t ExpectPromptBegins(const std::vector<PromptPart>& prompt, const Document& doc) const {
    const Positions served = OfPrompt(prompt, tokens_->pad);
    const Positions trained = OfDocument(doc, served.size());
    EXPECT_EQ(trained.tokens, served.tokens);
    EXPECT_EQ(trained.image, served.image);
    return served.size();
  }

  // The document goes on at `at` with `answer`, every token of it learnt.
  static void ExpectTextAnswer(const Document& doc, size_t at, const std::vector<int>& answer) {
    ASSERT_LE(at + answer.size(), doc.tokens.size());
    EXPECT_EQ(std::vector<int>(doc.tokens.begin() + at, doc.tokens.begin() + at + answer.size()),
              answer);
    for (size_t i = at; i < at + answer.size(); ++i) {
      EXPECT_EQ(doc.is_target[i], 1) << "position " << i;
      EXPECT_EQ(doc.image_slot[i], -1) << "position " << i;
    }
  }

  // The prompt ends with the <boi> the engine forces, which training teaches the model to write
  // there, and the document goes on with image `row`, noised: the image to draw.
  void ExpectImageAnswer(const Document& doc, size_t at, int64_t row) const {
    ASSERT_LT(at, doc.tokens.size());
    ASSERT_GE(at, 1u);
    EXPECT_EQ(doc.tokens[at - 1], tokens_->boi);
    EXPECT_EQ(doc.is_target[at - 1], 1);
    ASSERT_GE(doc.image_slot[at], 0);
    const DocumentImage& image = doc.images[doc.image_slot[at]];
    EXPECT_EQ(image.image, row);
    EXPECT_TRUE(image.noised);
    EXPECT_GT(image.max_timestep, 0);
  }

  static Tokenizer* tokenizer_;
  static SpecialTokens* tokens_;
};
Tokenizer* TrainServeIdentityTest::tokenizer_ = nullptr;
SpecialTokens* TrainServeIdentityTest::tokens_ = nullptr;

TEST_F(TrainServeIdentityTest, TextToImage) {
  const std::string caption = "a red circle above a blue square";
  const Example e{ExampleKind::kCaptionFirst, caption, "", {3}, {}};
  const Document doc = Train(e, /*caption_dropout=*/0.0);
  const BuiltPrompt served = PromptBuilder(*tokens_).TextToImage(Ids(caption));
  ExpectImageAnswer(doc, ExpectPromptBegins(served.prompt, doc), 3);
}

// Caption dropout teaches the unconditional prediction that classifier-free guidance asks for.
TEST_F(TrainServeIdentityTest, TextToImageUnconditionalPrefix) {
  const Example e{ExampleKind::kCaptionFirst, "a red circle above a blue square", "", {3}, {}};
  const Document doc = Train(e, /*caption_dropout=*/1.0);
  const PromptBuilder builder(*tokens_);
  const BuiltPrompt served = builder.TextToImage(Ids(e.text));
  ExpectImageAnswer(doc, ExpectPromptBegins(served.uncond_prompt, doc), 3);
  // The prefix of an image the model opens by itself in chat or open generation is the same.
  EXPECT_EQ(ExpectPromptBegins(builder.UnconditionalImagePrefix(), doc), 2u);
}

TEST_F(TrainServeIdentityTest, Caption) {
  const std::string caption = "two blue squares at the top left";
  const Example e{ExampleKind::kImageFirst, caption, "", {5}, {}};
  const Document doc = Train(e, /*caption_dropout=*/1.0);  // captioning keeps its caption
  const BuiltPrompt served = PromptBuilder(*tokens_).Caption(ImageOf(5), /*prompt=*/{});
  ExpectTextAnswer(doc, ExpectPromptBegins(served.prompt, doc), Cat(Ids(caption), {tokens_->eos}));
}

// One document of three turns about one image is three requests: each turn's prompt is the
// conversation so far, earlier answers as the assistant's messages.
TEST_F(TrainServeIdentityTest, ChatWithAnImageAndSeveralTurns) {
  const std::vector<std::pair<std::string, std::string>> turns = {
      {"what color is the circle?", "red"},
      {"how many objects are there?", "two"},
      {"is there a square?", "no"}};
  Example e{ExampleKind::kChat, turns[0].second, turns[0].first, {2}, {}};
  e.follow_ups.assign(turns.begin() + 1, turns.end());
  const Document doc = Train(e, /*caption_dropout=*/0.0);
  std::vector<ChatMessage> messages = {
      {ChatRole::kUser, {ImageOf(2), PromptPart::Text(Ids(turns[0].first))}}};
  size_t previous_end = 0;
  for (size_t t = 0; t < turns.size(); ++t) {
    SCOPED_TRACE("turn " + std::to_string(t));
    if (t > 0) {
      messages.push_back({ChatRole::kAssistant, {PromptPart::Text(Ids(turns[t - 1].second))}});
      messages.push_back({ChatRole::kUser, {PromptPart::Text(Ids(turns[t].first))}});
    }
    const size_t at = ExpectPromptBegins(PromptBuilder(*tokens_).Chat(messages).prompt, doc);
    ExpectTextAnswer(doc, at, Cat(Ids(turns[t].second), {tokens_->end_of_turn}));
    EXPECT_GT(at, previous_end);
    previous_end = at;
  }
  EXPECT_EQ(doc.images.size(), 1u);
}

TEST_F(TrainServeIdentityTest, Edit) {
  const Example e{ExampleKind::kEdit, "", "make the red circle blue", {1, 4}, {}};
  const Document doc = Train(e, /*caption_dropout=*/0.0);
  const BuiltPrompt served = PromptBuilder(*tokens_).Edit(ImageOf(1), Ids(e.prompt));
  ExpectImageAnswer(doc, ExpectPromptBegins(served.prompt, doc), 4);
}

// Dropping the instruction teaches the edit's unconditional prediction.
TEST_F(TrainServeIdentityTest, EditUnconditionalPrefix) {
  const Example e{ExampleKind::kEdit, "", "make the red circle blue", {1, 4}, {}};
  const Document doc = Train(e, /*caption_dropout=*/1.0);
  const BuiltPrompt served = PromptBuilder(*tokens_).Edit(ImageOf(1), Ids(e.prompt));
  ExpectImageAnswer(doc, ExpectPromptBegins(served.uncond_prompt, doc), 4);
}

// Interleaved text generation continues a text: every beginning of a text document is a prompt,
// and the rest of the document what the model learns to write after it.
TEST_F(TrainServeIdentityTest, InterleavedTextGeneration) {
  const Example e{
      ExampleKind::kText, "a green triangle at the top left and three yellow circles", "", {}, {}};
  const Document doc = Train(e, /*caption_dropout=*/0.0);
  const std::vector<int> text = Ids(e.text);
  ASSERT_GT(text.size(), 3u);
  for (size_t split = 0; split <= text.size(); ++split) {
    SCOPED_TRACE("split " + std::to_string(split));
    const std::vector<int> given(text.begin(), text.begin() + split);
    const BuiltPrompt served = PromptBuilder(*tokens_).Interleaved({PromptPart::Text(given)});
    const size_t at = ExpectPromptBegins(served.prompt, doc);
    EXPECT_EQ(at, 1 + split);
    ExpectTextAnswer(doc, at,
                     Cat(std::vector<int>(text.begin() + split, text.end()), {tokens_->eos}));
  }
}

}  // namespace
}  // namespace infusion::trainer
