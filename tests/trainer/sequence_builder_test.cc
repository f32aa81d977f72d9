#include "trainer/sequence_builder.h"

#include "gtest/gtest.h"
#include "tests/trainer/test_util.h"

namespace infusion::trainer {

using data::Example;
using data::ExampleKind;
using engine::Rng;
using engine::SpecialTokens;
using engine::Tokenizer;

namespace {

constexpr int kPatches = 3;

class SequenceBuilderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tokenizer_ = testing::ShapesTokenizer(testing::FreshDir("sequence_builder")).release();
  }
  static void TearDownTestSuite() { delete tokenizer_; }

  Document Build(const Example& e, double dropout) {
    SequenceOptions options;
    options.caption_dropout = dropout;
    SequenceBuilder builder(*tokenizer_, tokens_, kPatches, options);
    Rng rng(1);
    return builder.Build(e, rng);
  }
  std::vector<int> Ids(const std::string& text) { return tokenizer_->Encode(text); }
  // Concatenates runs of ids.
  static std::vector<int> Cat(std::initializer_list<std::vector<int>> runs) {
    std::vector<int> out;
    for (const auto& r : runs) out.insert(out.end(), r.begin(), r.end());
    return out;
  }
  static std::vector<uint8_t> Flags(std::initializer_list<std::pair<size_t, uint8_t>> runs) {
    std::vector<uint8_t> out;
    for (auto [n, v] : runs) out.insert(out.end(), n, v);
    return out;
  }

  static Tokenizer* tokenizer_;
  SpecialTokens tokens_;
  const std::vector<int> patches_ = std::vector<int>(kPatches, 0);
};
Tokenizer* SequenceBuilderTest::tokenizer_ = nullptr;

TEST_F(SequenceBuilderTest, CaptionFirst) {
  Example e{ExampleKind::kCaptionFirst, "a red circle", "", {7}, {}};
  const Document d = Build(e, /*dropout=*/0.0);
  const std::vector<int> caption = Ids("a red circle");
  const size_t c = caption.size();
  EXPECT_EQ(d.tokens, Cat({{2}, caption, {4}, patches_, {5, 3}}));
  // Targets: the caption, <boi> (deciding to draw) and <eos>; never <bos>, patches or <eoi>.
  EXPECT_EQ(d.is_target, Flags({{1, 0}, {c, 1}, {1, 1}, {kPatches, 0}, {1, 0}, {1, 1}}));
  ASSERT_EQ(d.images.size(), 1u);
  EXPECT_EQ(d.images[0].image, 7);
  EXPECT_TRUE(d.images[0].noised);
  EXPECT_EQ(d.images[0].max_timestep, 999);
  EXPECT_EQ(d.image_slot[c + 2], 0);
  EXPECT_EQ(d.image_slot[c + 1], -1);
}

TEST_F(SequenceBuilderTest, CaptionDropoutLeavesTheUnconditionalSequence) {
  Example e{ExampleKind::kCaptionFirst, "a red circle", "", {7}, {}};
  const Document d = Build(e, /*dropout=*/1.0);
  EXPECT_EQ(d.tokens, Cat({{2, 4}, patches_, {5, 3}}));
  // <boi> is learnt (drawing with no prompt); the closing </s> is not: "<s> [img]" is
  // captioning's prompt, which must not learn to stop there.
  EXPECT_EQ(d.is_target, Flags({{1, 0}, {1, 1}, {kPatches, 0}, {1, 0}, {1, 0}}));
}

TEST_F(SequenceBuilderTest, ImageFirstCapsTheTimestep) {
  Example e{ExampleKind::kImageFirst, "a red circle at the top left", "", {3}, {}};
  const Document d = Build(e, /*dropout=*/1.0);  // captioning keeps its caption
  const std::vector<int> caption = Ids("a red circle at the top left");
  EXPECT_EQ(d.tokens, Cat({{2, 4}, patches_, {5}, caption, {3}}));
  EXPECT_EQ(d.is_target,
            Flags({{1, 0}, {1, 1}, {kPatches, 0}, {1, 0}, {caption.size(), 1}, {1, 1}}));
  EXPECT_TRUE(d.images[0].noised);
  EXPECT_EQ(d.images[0].max_timestep, 500);
}

TEST_F(SequenceBuilderTest, ChatTrainsOnlyTheAnswer) {
  Example e{ExampleKind::kChat, "red", "what color is the circle?", {5}, {}};
  const Document d = Build(e, /*dropout=*/1.0);
  const std::vector<int> q = Ids("what color is the circle?"), a = Ids("red");
  EXPECT_EQ(d.tokens, Cat({{2, 7, 4}, patches_, {5}, q, {9, 8}, a, {9}}));
  EXPECT_EQ(d.is_target,
            Flags({{3, 0}, {kPatches, 0}, {1, 0}, {q.size(), 0}, {2, 0}, {a.size(), 1}, {1, 1}}));
  EXPECT_FALSE(d.images[0].noised);  // an image in a prompt enters clean
}

TEST_F(SequenceBuilderTest, ChatFollowUpsAreFurtherTurnsWithoutTheImage) {
  Example e{ExampleKind::kChat, "red", "what color is the circle?", {5}, {}};
  e.follow_ups = {{"how many objects are there?", "two"}};
  const Document d = Build(e, /*dropout=*/1.0);
  const std::vector<int> q = Ids("what color is the circle?"), a = Ids("red");
  const std::vector<int> q2 = Ids("how many objects are there?"), a2 = Ids("two");
  EXPECT_EQ(d.tokens, Cat({{2, 7, 4}, patches_, {5}, q, {9, 8}, a, {9, 7}, q2, {9, 8}, a2, {9}}));
  EXPECT_EQ(d.is_target, Flags({{3, 0},
                                {kPatches, 0},
                                {1, 0},
                                {q.size(), 0},
                                {2, 0},
                                {a.size(), 1},
                                {1, 1},
                                {1, 0},
                                {q2.size(), 0},
                                {2, 0},
                                {a2.size(), 1},
                                {1, 1}}));
  EXPECT_EQ(d.images.size(), 1u);
}

TEST_F(SequenceBuilderTest, EditNoisesOnlyTheTarget) {
  Example e{ExampleKind::kEdit, "", "make the red circle blue", {1, 2}, {}};
  const std::vector<int> instruction = Ids("make the red circle blue");
  const Document d = Build(e, /*dropout=*/0.0);
  EXPECT_EQ(d.tokens, Cat({{2, 7, 4}, patches_, {5}, instruction, {9, 8, 4}, patches_, {5, 9}}));
  ASSERT_EQ(d.images.size(), 2u);
  EXPECT_EQ(d.images[0].image, 1);
  EXPECT_FALSE(d.images[0].noised);
  EXPECT_EQ(d.images[1].image, 2);
  EXPECT_TRUE(d.images[1].noised);
  // Targets: <boi> of the answer and the closing <end>.
  EXPECT_EQ(d.is_target, Flags({{3, 0},
                                {kPatches, 0},
                                {1, 0},
                                {instruction.size(), 0},
                                {2, 0},
                                {1, 1},
                                {kPatches, 0},
                                {1, 0},
                                {1, 1}}));
  // Dropout removes the instruction: the unconditional edit of classifier-free guidance.
  EXPECT_EQ(Build(e, /*dropout=*/1.0).tokens,
            Cat({{2, 7, 4}, patches_, {5, 9, 8, 4}, patches_, {5, 9}}));
}

TEST_F(SequenceBuilderTest, TextIsAllTargets) {
  Example e{ExampleKind::kText, "two blue squares", "", {}, {}};
  const Document d = Build(e, 1.0);
  const std::vector<int> text = Ids("two blue squares");
  EXPECT_EQ(d.tokens, Cat({{2}, text, {3}}));
  EXPECT_EQ(d.is_target, Flags({{1, 0}, {text.size() + 1, 1}}));
  EXPECT_FALSE(d.has_images());
}

}  // namespace
}  // namespace infusion::trainer
