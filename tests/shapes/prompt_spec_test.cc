#include "data/shapes/prompt_spec.h"

#include <gtest/gtest.h>

namespace infusion::data::shapes {
namespace {

constexpr Cell kTopLeft = {0, 0};
constexpr Cell kBottomRight = {2, 2};

PromptSpec Parse(std::string_view text) {
  absl::StatusOr<PromptSpec> spec = ParsePrompt(text);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *spec : PromptSpec{};
}

ObjectConstraint Unplaced(Shape shape, Color color) { return {shape, color, std::nullopt}; }

struct Example {
  std::string text;
  PromptSpec spec;
  PromptCategory category;
};

TEST(PromptSpecTest, ParsesEveryFormOfThePage) {
  const ObjectConstraint red_circle = Unplaced(Shape::kCircle, Color::kRed);
  const ObjectConstraint blue_square = Unplaced(Shape::kSquare, Color::kBlue);
  const ObjectConstraint green_triangle = Unplaced(Shape::kTriangle, Color::kGreen);
  const std::vector<Example> examples = {
      {"a red circle", {{red_circle}, std::nullopt}, PromptCategory::kSingleObject},
      {"a red circle at the top left",
       {{{Shape::kCircle, Color::kRed, kTopLeft}}, std::nullopt},
       PromptCategory::kPosition},
      {"an orange square at the center",
       {{{Shape::kSquare, Color::kOrange, Cell{1, 1}}}, std::nullopt},
       PromptCategory::kPosition},
      {"a red circle and a blue square",
       {{red_circle, blue_square}, std::nullopt},
       PromptCategory::kColorAttribution},
      {"a red circle and a red square",
       {{red_circle, Unplaced(Shape::kSquare, Color::kRed)}, std::nullopt},
       PromptCategory::kTwoObjects},
      {"a red circle and a blue circle",
       {{red_circle, Unplaced(Shape::kCircle, Color::kBlue)}, std::nullopt},
       PromptCategory::kTwoObjects},
      {"a red circle left of a blue square",
       {{red_circle, blue_square}, Relation::kLeftOf},
       PromptCategory::kRelation},
      {"a red circle right of a blue square",
       {{red_circle, blue_square}, Relation::kRightOf},
       PromptCategory::kRelation},
      {"a red circle above a blue square",
       {{red_circle, blue_square}, Relation::kAbove},
       PromptCategory::kRelation},
      {"a red circle below a blue square",
       {{red_circle, blue_square}, Relation::kBelow},
       PromptCategory::kRelation},
      {"two green triangles",
       {{green_triangle, green_triangle}, std::nullopt},
       PromptCategory::kCounting},
      {"three yellow squares",
       {std::vector<ObjectConstraint>(3, Unplaced(Shape::kSquare, Color::kYellow)), std::nullopt},
       PromptCategory::kCounting},
      {"a red circle at the top left and a blue square at the bottom right",
       {{{Shape::kCircle, Color::kRed, kTopLeft}, {Shape::kSquare, Color::kBlue, kBottomRight}},
        std::nullopt},
       PromptCategory::kPosition},
  };
  for (const Example& example : examples) {
    SCOPED_TRACE(example.text);
    const PromptSpec spec = Parse(example.text);
    EXPECT_EQ(spec, example.spec);
    EXPECT_EQ(Category(spec), example.category);
    EXPECT_EQ(FormatPrompt(spec), example.text);
  }
}

TEST(PromptSpecTest, IgnoresSurroundingWhitespace) {
  EXPECT_EQ(Parse("  a red circle \n"), Parse("a red circle"));
}

TEST(PromptSpecTest, RejectsTextOfNoForm) {
  for (const char* text : {
           "",
           "a red circle.",
           "A red circle",
           "a red  circle",
           "a red circl",
           "a orange circle",
           "an red circle",
           "a red circle at the middle center",
           "a red circle at the top",
           "a red circle left of",
           "a red circle left of a blue square at the top left",
           "a red circle at the top left left of a blue square",
           "one red circle",
           "four red circles",
           "two red circle",
           "a red circle and a blue square and a green triangle",
           "a red circle at the top left and a blue square",
           "a red circle at the top left and a blue square at the top left",
           "a red circle at the top left and a blue square at the top right and a green triangle "
           "at the center and a red square at the bottom left",
       }) {
    EXPECT_TRUE(absl::IsInvalidArgument(ParsePrompt(text).status())) << "\"" << text << "\"";
  }
  EXPECT_EQ(ParsePrompt("a red circle at the top").status().message(),
            "\"a red circle at the top\" is not a shapes prompt: expected a cell such as "
            "\"top left\" or \"center\" at word 6 (\"top\")");
}

TEST(PromptSpecTest, CanonicalCaptionListsObjectsInReadingOrder) {
  const Scene scene{{{Shape::kSquare, Color::kBlue, kBottomRight, 14, 1, -1},
                     {Shape::kCircle, Color::kRed, kTopLeft, 12, 0, 2}}};
  EXPECT_EQ(CanonicalCaption(scene),
            "a red circle at the top left and a blue square at the bottom right");
}

TEST(PromptSpecTest, ParseCanonicalCaptionNeedsPositions) {
  const std::vector<ObjectLabel> expected = {{Shape::kSquare, Color::kBlue, kBottomRight},
                                             {Shape::kCircle, Color::kRed, kTopLeft}};
  EXPECT_EQ(
      *ParseCanonicalCaption("a blue square at the bottom right and a red circle at the top left"),
      expected);
  EXPECT_TRUE(absl::IsInvalidArgument(ParseCanonicalCaption("a red circle").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParseCanonicalCaption("two red circles").status()));
}

TEST(PromptSpecTest, SatisfiesNeedsExactlyTheNamedObjects) {
  const ObjectLabel red_circle_tl{Shape::kCircle, Color::kRed, kTopLeft};
  const ObjectLabel blue_square_br{Shape::kSquare, Color::kBlue, kBottomRight};
  const ObjectLabel red_circle_br{Shape::kCircle, Color::kRed, kBottomRight};

  const PromptSpec pair = Parse("a red circle and a blue square");
  EXPECT_TRUE(Satisfies(pair, {red_circle_tl, blue_square_br}));
  EXPECT_TRUE(Satisfies(pair, {blue_square_br, red_circle_tl}));  // any order
  EXPECT_FALSE(Satisfies(pair, {red_circle_tl}));                 // missing
  EXPECT_FALSE(Satisfies(
      pair, {red_circle_tl, blue_square_br, {Shape::kTriangle, Color::kGreen, {1, 1}}}));  // extra
  EXPECT_FALSE(Satisfies(pair, {{Shape::kCircle, Color::kBlue, kTopLeft},
                                {Shape::kSquare, Color::kRed, kBottomRight}}));  // colours swapped

  const PromptSpec placed = Parse("a red circle at the top left");
  EXPECT_TRUE(Satisfies(placed, {red_circle_tl}));
  EXPECT_FALSE(Satisfies(placed, {red_circle_br}));

  const PromptSpec left_of = Parse("a red circle left of a blue square");
  EXPECT_TRUE(Satisfies(left_of, {red_circle_tl, blue_square_br}));
  EXPECT_FALSE(Satisfies(left_of, {blue_square_br, {Shape::kCircle, Color::kRed, {0, 2}}}));
  EXPECT_FALSE(Satisfies(left_of, {{Shape::kSquare, Color::kBlue, {2, 0}}, red_circle_tl}));

  const PromptSpec above = Parse("a red circle above a blue square");
  EXPECT_TRUE(Satisfies(above, {{Shape::kSquare, Color::kBlue, {2, 0}}, red_circle_tl}));
  EXPECT_FALSE(Satisfies(above, {{Shape::kSquare, Color::kBlue, {0, 2}}, red_circle_tl}));

  const PromptSpec two = Parse("two red circles");
  EXPECT_TRUE(Satisfies(two, {red_circle_tl, red_circle_br}));
  EXPECT_FALSE(
      Satisfies(two, {red_circle_tl, red_circle_br, {Shape::kCircle, Color::kRed, {1, 1}}}));
  EXPECT_FALSE(Satisfies(two, {red_circle_tl, {Shape::kCircle, Color::kBlue, kBottomRight}}));
}

TEST(PromptSpecTest, RelationWithIdenticalObjectsMatchesEitherWay) {
  const PromptSpec spec = Parse("a red circle left of a red circle");
  EXPECT_TRUE(Satisfies(
      spec, {{Shape::kCircle, Color::kRed, {0, 2}}, {Shape::kCircle, Color::kRed, {1, 0}}}));
  EXPECT_FALSE(Satisfies(
      spec, {{Shape::kCircle, Color::kRed, {0, 1}}, {Shape::kCircle, Color::kRed, {2, 1}}}));
}

TEST(PromptSpecTest, CategoryNamesRoundTrip) {
  for (PromptCategory category : kAllCategories) {
    EXPECT_EQ(*CategoryFromName(CategoryName(category)), category);
  }
  EXPECT_EQ(CategoryName(PromptCategory::kColorAttribution), "color_attribution");
  EXPECT_TRUE(absl::IsInvalidArgument(CategoryFromName("colors").status()));
}

}  // namespace
}  // namespace infusion::data::shapes
