#include "data/shapes/scoring.h"

#include <gtest/gtest.h>

namespace infusion::data::shapes {
namespace {

const std::vector<ObjectLabel> kTruth = {{Shape::kCircle, Color::kRed, {0, 0}},
                                         {Shape::kSquare, Color::kBlue, {2, 2}}};

TEST(ScoringTest, ExactCaptionInAnyOrder) {
  for (const char* caption :
       {"a red circle at the top left and a blue square at the bottom right",
        "a blue square at the bottom right and a red circle at the top left"}) {
    const CaptionScore score = ScoreCaption(caption, kTruth);
    EXPECT_TRUE(score.parsed);
    EXPECT_TRUE(score.exact);
    EXPECT_TRUE(score.count);
    EXPECT_EQ(score.num_objects, 2);
    EXPECT_EQ(score.shape, 2);
    EXPECT_EQ(score.color, 2);
    EXPECT_EQ(score.position, 2);
  }
}

TEST(ScoringTest, SwappedColoursCostOnlyColour) {
  const CaptionScore score =
      ScoreCaption("a blue circle at the top left and a red square at the bottom right", kTruth);
  EXPECT_TRUE(score.parsed);
  EXPECT_FALSE(score.exact);
  EXPECT_TRUE(score.count);
  EXPECT_EQ(score.shape, 2);
  EXPECT_EQ(score.color, 0);
  EXPECT_EQ(score.position, 2);
}

TEST(ScoringTest, PairingMaximisesAgreement) {
  // Pairing by cell would agree on 2 attributes, pairing by object on 4: objects right, cells
  // swapped.
  const CaptionScore score =
      ScoreCaption("a blue square at the top left and a red circle at the bottom right", kTruth);
  EXPECT_EQ(score.shape, 2);
  EXPECT_EQ(score.color, 2);
  EXPECT_EQ(score.position, 0);
}

TEST(ScoringTest, MissingAndExtraObjects) {
  const CaptionScore missing = ScoreCaption("a red circle at the top left", kTruth);
  EXPECT_TRUE(missing.parsed);
  EXPECT_FALSE(missing.exact);
  EXPECT_FALSE(missing.count);
  EXPECT_EQ(missing.num_objects, 2);
  EXPECT_EQ(missing.shape, 1);
  EXPECT_EQ(missing.color, 1);
  EXPECT_EQ(missing.position, 1);

  const CaptionScore extra = ScoreCaption(
      "a red circle at the top left and a green triangle at the center and a blue square at the "
      "bottom right",
      kTruth);
  EXPECT_FALSE(extra.exact);
  EXPECT_FALSE(extra.count);
  EXPECT_EQ(extra.shape, 2);
  EXPECT_EQ(extra.color, 2);
  EXPECT_EQ(extra.position, 2);
}

TEST(ScoringTest, UnparsableCaptionScoresZero) {
  for (const char* caption : {"a red circle and a blue square", "red circle, blue square", ""}) {
    const CaptionScore score = ScoreCaption(caption, kTruth);
    EXPECT_FALSE(score.parsed);
    EXPECT_FALSE(score.exact);
    EXPECT_FALSE(score.count);
    EXPECT_EQ(score.num_objects, 2);
    EXPECT_EQ(score.shape + score.color + score.position, 0);
  }
}

TEST(ScoringTest, SameObjectsIgnoresOrder) {
  const std::vector<ObjectLabel> reversed(kTruth.rbegin(), kTruth.rend());
  EXPECT_TRUE(SameObjects(kTruth, reversed));
  EXPECT_FALSE(SameObjects(kTruth, {kTruth[0]}));
  EXPECT_FALSE(SameObjects(kTruth, {kTruth[0], {Shape::kSquare, Color::kBlue, {2, 1}}}));
}

}  // namespace
}  // namespace infusion::data::shapes
