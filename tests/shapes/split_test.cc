#include "data/shapes/split.h"

#include <gtest/gtest.h>

#include <set>

#include "data/shapes/captioned_scene.h"

namespace infusion::data::shapes {
namespace {

TEST(SplitTest, StableHashIsFnv1a64) {
  // Test vectors of the FNV reference (isthe.com/chongo/tech/comp/fnv).
  EXPECT_EQ(StableHash(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(StableHash("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(StableHash("foobar"), 0x85944171f73967e8ULL);
}

TEST(SplitTest, AboutOneKeyInTenIsHeldOut) {
  // All 1,296 relation prompts.
  int eval = 0, total = 0;
  for (Shape a : kAllShapes) {
    for (Color ca : kAllColors) {
      for (Relation relation : kAllRelations) {
        for (Shape b : kAllShapes) {
          for (Color cb : kAllColors) {
            const PromptSpec spec{{{a, ca, std::nullopt}, {b, cb, std::nullopt}}, relation};
            eval += SplitOf(FormatPrompt(spec)) == Split::kEval;
            ++total;
          }
        }
      }
    }
  }
  EXPECT_EQ(total, 1296);
  EXPECT_GT(eval, total * 6 / 100);
  EXPECT_LT(eval, total * 14 / 100);
}

TEST(SplitTest, SmallestCategoriesHavePromptsInBothSplits) {
  // SamplePrompt draws until it meets its split, so each category needs both. The smallest are
  // single_object (18 prompts) and counting (36).
  std::set<Split> single, counting;
  for (Shape shape : kAllShapes) {
    for (Color color : kAllColors) {
      const ObjectConstraint object{shape, color, std::nullopt};
      single.insert(SplitOf(FormatPrompt({{object}, std::nullopt})));
      for (int n = 2; n <= kMaxObjects; ++n) {
        counting.insert(
            SplitOf(FormatPrompt({std::vector<ObjectConstraint>(n, object), std::nullopt})));
      }
    }
  }
  EXPECT_EQ(single.size(), 2u);
  EXPECT_EQ(counting.size(), 2u);
}

TEST(SplitTest, TrainAndEvalPromptsAreDisjoint) {
  Rng rng(31);
  for (PromptCategory category : kAllCategories) {
    std::set<std::string> train, eval;
    for (int i = 0; i < 300; ++i) {
      train.insert(SamplePrompt(category, Split::kTrain, rng).caption);
      eval.insert(SamplePrompt(category, Split::kEval, rng).caption);
    }
    for (const std::string& caption : eval) {
      EXPECT_EQ(train.count(caption), 0u) << CategoryName(category) << ": " << caption;
    }
  }
}

}  // namespace
}  // namespace infusion::data::shapes
