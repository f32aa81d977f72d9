#include "data/shapes/scene.h"

#include <gtest/gtest.h>

namespace infusion::data::shapes {
namespace {

TEST(SceneTest, NamesRoundTrip) {
  for (Shape shape : kAllShapes) EXPECT_EQ(*ShapeFromName(ShapeName(shape)), shape);
  for (Color color : kAllColors) EXPECT_EQ(*ColorFromName(ColorName(color)), color);
  for (Cell cell : kAllCells) EXPECT_EQ(*CellFromName(CellName(cell)), cell);
}

TEST(SceneTest, NamesAreThePagesWords) {
  EXPECT_EQ(ShapeName(Shape::kTriangle), "triangle");
  EXPECT_EQ(ShapePluralName(Shape::kSquare), "squares");
  EXPECT_EQ(ColorName(Color::kPurple), "purple");
  EXPECT_EQ(CellName({0, 0}), "top left");
  EXPECT_EQ(CellName({0, 1}), "top center");
  EXPECT_EQ(CellName({1, 0}), "middle left");
  EXPECT_EQ(CellName({1, 1}), "center");
  EXPECT_EQ(CellName({2, 2}), "bottom right");
  EXPECT_EQ(RelationName(Relation::kRightOf), "right of");
  EXPECT_EQ(NumberName(3), "three");
  EXPECT_EQ(IndefiniteObjectName(Shape::kCircle, Color::kRed), "a red circle");
  EXPECT_EQ(IndefiniteObjectName(Shape::kSquare, Color::kOrange), "an orange square");
}

TEST(SceneTest, UnknownNamesAreInvalidArguments) {
  EXPECT_TRUE(absl::IsInvalidArgument(ShapeFromName("circles").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ColorFromName("Red").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(CellFromName("middle center").status()));
}

TEST(SceneTest, Palette) {
  EXPECT_EQ(ColorRgb(Color::kRed), (Rgb{220, 40, 40}));
  EXPECT_EQ(ColorRgb(Color::kGreen), (Rgb{40, 170, 60}));
  EXPECT_EQ(ColorRgb(Color::kBlue), (Rgb{40, 80, 220}));
  EXPECT_EQ(ColorRgb(Color::kYellow), (Rgb{240, 200, 30}));
  EXPECT_EQ(ColorRgb(Color::kPurple), (Rgb{140, 60, 180}));
  EXPECT_EQ(ColorRgb(Color::kOrange), (Rgb{245, 130, 30}));
}

TEST(SceneTest, RelationsCompareColumnsOrRows) {
  EXPECT_TRUE(Holds(Relation::kLeftOf, {0, 0}, {2, 1}));
  EXPECT_FALSE(Holds(Relation::kLeftOf, {0, 1}, {2, 1}));  // same column
  EXPECT_TRUE(Holds(Relation::kRightOf, {2, 2}, {0, 0}));
  EXPECT_TRUE(Holds(Relation::kAbove, {0, 2}, {1, 0}));
  EXPECT_FALSE(Holds(Relation::kAbove, {1, 0}, {1, 2}));  // same row
  EXPECT_TRUE(Holds(Relation::kBelow, {2, 0}, {1, 0}));
}

TEST(SceneTest, MaxJitterKeepsOffTheCellsLastPixel) {
  EXPECT_EQ(MaxJitter(17), 1);  // box starts 2 px in: 2 + 1 + 17 = 20 px, the last one free
  EXPECT_EQ(MaxJitter(16), 2);
  EXPECT_EQ(MaxJitter(12), 2);
}

TEST(SceneTest, ValidateScene) {
  const Object red_circle{Shape::kCircle, Color::kRed, {0, 0}, 15, 0, 0};
  const Object blue_square{Shape::kSquare, Color::kBlue, {2, 2}, 17, -2, 1};
  EXPECT_TRUE(ValidateScene({{red_circle, blue_square}}).ok());

  EXPECT_TRUE(absl::IsInvalidArgument(ValidateScene({})));
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateScene({{red_circle, red_circle}})));
  Scene four{{red_circle, blue_square, blue_square, blue_square}};
  four.objects[2].cell = {1, 1};
  four.objects[3].cell = {1, 2};
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateScene(four)));

  Object bad = blue_square;
  bad.size = 18;
  EXPECT_EQ(ValidateScene({{bad}}).message(), "objects[0].size = 18 is outside [12, 17]");
  bad = blue_square;
  bad.dx = 2;  // size 17 allows at most +1
  EXPECT_EQ(ValidateScene({{bad}}).message(), "objects[0].dx = 2 is outside [-2, 1]");
  bad = red_circle;
  bad.dy = -3;
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateScene({{bad}})));
  bad = red_circle;
  bad.cell = {3, 0};
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateScene({{bad}})));
}

TEST(SceneTest, LabelsAreInReadingOrder) {
  const Scene scene{{{Shape::kSquare, Color::kBlue, {2, 0}, 12, 0, 0},
                     {Shape::kCircle, Color::kRed, {0, 2}, 12, 0, 0},
                     {Shape::kTriangle, Color::kGreen, {1, 1}, 12, 0, 0}}};
  const std::vector<ObjectLabel> expected = {{Shape::kCircle, Color::kRed, {0, 2}},
                                             {Shape::kTriangle, Color::kGreen, {1, 1}},
                                             {Shape::kSquare, Color::kBlue, {2, 0}}};
  EXPECT_EQ(Labels(scene), expected);
}

}  // namespace
}  // namespace infusion::data::shapes
