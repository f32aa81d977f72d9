#include "data/shapes/render.h"

#include <gtest/gtest.h>

namespace infusion::data::shapes {
namespace {

constexpr Rgb kRed = {220, 40, 40};

int CountPixels(const RgbImage& image, Rgb color) {
  int count = 0;
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) count += image.At(x, y) == color;
  }
  return count;
}

TEST(RenderTest, ImageIsWhite64x64Rgb) {
  const RgbImage image = Render({{{Shape::kCircle, Color::kRed, {1, 1}, 12, 0, 0}}});
  EXPECT_EQ(image.width, 64);
  EXPECT_EQ(image.height, 64);
  EXPECT_EQ(image.rgb.size(), 64u * 64u * 3u);
  EXPECT_EQ(image.At(0, 0), kBackground);
  EXPECT_EQ(image.At(63, 63), kBackground);
}

TEST(RenderTest, SquareFillsItsBox) {
  // Size 15 in the top-left cell: the box starts (21 - 15) / 2 = 3 px in, so it spans 3..17.
  const RgbImage image = Render({{{Shape::kSquare, Color::kRed, {0, 0}, 15, 0, 0}}});
  EXPECT_EQ(image.At(3, 3), kRed);
  EXPECT_EQ(image.At(17, 3), kRed);
  EXPECT_EQ(image.At(3, 17), kRed);
  EXPECT_EQ(image.At(17, 17), kRed);
  EXPECT_EQ(image.At(2, 3), kBackground);
  EXPECT_EQ(image.At(18, 3), kBackground);
  EXPECT_EQ(image.At(3, 2), kBackground);
  EXPECT_EQ(image.At(17, 18), kBackground);
  EXPECT_EQ(CountPixels(image, kRed), 15 * 15);
}

TEST(RenderTest, JitterMovesTheBox) {
  // Size 12: 4 px in, then dx = -2, dy = +2: the box spans x 2..13, y 6..17.
  const RgbImage image = Render({{{Shape::kSquare, Color::kRed, {0, 0}, 12, -2, 2}}});
  EXPECT_EQ(image.At(2, 6), kRed);
  EXPECT_EQ(image.At(13, 17), kRed);
  EXPECT_EQ(image.At(1, 6), kBackground);
  EXPECT_EQ(image.At(2, 5), kBackground);
  EXPECT_EQ(image.At(14, 17), kBackground);
  EXPECT_EQ(image.At(13, 18), kBackground);
}

TEST(RenderTest, TriangleHasItsApexAtTopCentreAndItsBaseAtTheBottom) {
  // Size 15 in the center cell: box 24..38 both ways, apex column 24 + 7 = 31.
  const Rgb green = ColorRgb(Color::kGreen);
  const RgbImage image = Render({{{Shape::kTriangle, Color::kGreen, {1, 1}, 15, 0, 0}}});
  EXPECT_EQ(image.At(31, 24), green);
  EXPECT_EQ(image.At(30, 24), kBackground);
  EXPECT_EQ(image.At(32, 24), kBackground);
  EXPECT_EQ(image.At(31, 23), kBackground);
  EXPECT_EQ(image.At(24, 38), green);
  EXPECT_EQ(image.At(38, 38), green);
  EXPECT_EQ(image.At(23, 38), kBackground);
  EXPECT_EQ(image.At(39, 38), kBackground);
  EXPECT_EQ(image.At(24, 37), kBackground);  // the sides slope in above the base
  // Rows 0..13 hold 1, 1, 3, 3, …, 13, 13 pixels and row 14 the full 15: 2·49 + 15.
  EXPECT_EQ(CountPixels(image, green), 113);
}

TEST(RenderTest, EvenTriangleLeavesItsTopRowEmpty) {
  // Size 12 in the center cell: box 25..36; the apex falls between columns 30 and 31.
  const Rgb green = ColorRgb(Color::kGreen);
  const RgbImage image = Render({{{Shape::kTriangle, Color::kGreen, {1, 1}, 12, 0, 0}}});
  EXPECT_EQ(image.At(30, 25), kBackground);
  EXPECT_EQ(image.At(31, 25), kBackground);
  EXPECT_EQ(image.At(30, 26), green);
  EXPECT_EQ(image.At(31, 26), green);
  EXPECT_EQ(image.At(25, 36), green);
  EXPECT_EQ(image.At(36, 36), green);
}

TEST(RenderTest, CircleIsTheDiscOfDiameterSize) {
  // Size 15 in the bottom-right cell: box 45..59, centre (52.5, 52.5), radius 7.5. The leftmost
  // column (centre x 45.5, 7 px from the centre) is covered where |y + 0.5 - 52.5|² ≤ 56.25 - 49.
  const Rgb blue = ColorRgb(Color::kBlue);
  const RgbImage image = Render({{{Shape::kCircle, Color::kBlue, {2, 2}, 15, 0, 0}}});
  EXPECT_EQ(image.At(45, 50), blue);
  EXPECT_EQ(image.At(45, 54), blue);
  EXPECT_EQ(image.At(45, 49), kBackground);
  EXPECT_EQ(image.At(45, 55), kBackground);
  EXPECT_EQ(image.At(45, 45), kBackground);  // corner of the box
  EXPECT_EQ(image.At(52, 52), blue);
  EXPECT_EQ(image.At(52, 45), blue);
  EXPECT_EQ(image.At(52, 59), blue);
}

TEST(RenderTest, GridLeavesTheLastRowAndColumnOfEachCellEmpty) {
  // The largest objects pushed as far right and down as allowed.
  const Scene scene{{{Shape::kSquare, Color::kRed, {2, 2}, 17, 1, 1},
                     {Shape::kSquare, Color::kRed, {0, 2}, 17, 1, 1},
                     {Shape::kSquare, Color::kRed, {2, 0}, 17, 1, 1}}};
  const RgbImage image = Render(scene);
  EXPECT_EQ(image.At(61, 61), kRed);  // 42 + 2 + 1 + 16
  for (int i = 0; i < 64; ++i) {
    for (int edge : {20, 41, 62, 63}) {
      EXPECT_EQ(image.At(edge, i), kBackground) << "column " << edge << " row " << i;
      EXPECT_EQ(image.At(i, edge), kBackground) << "row " << edge << " column " << i;
    }
  }
}

}  // namespace
}  // namespace infusion::data::shapes
