#include "clients/eval/sample_grid.h"

#include <gtest/gtest.h>

namespace infusion::eval {

using engine::Image;

namespace {

Image Solid(int size, uint8_t r, uint8_t g, uint8_t b) {
  Image image{size, size, {}};
  for (int i = 0; i < size * size; ++i) image.rgb.insert(image.rgb.end(), {r, g, b});
  return image;
}

std::array<uint8_t, 3> Pixel(const Image& image, int x, int y) {
  const uint8_t* p = &image.rgb[(static_cast<size_t>(y) * image.width + x) * 3];
  return {p[0], p[1], p[2]};
}

int DarkPixels(const Image& image, int x0, int y0, int x1, int y1) {
  int n = 0;
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) n += Pixel(image, x, y)[0] < 128;
  }
  return n;
}

TEST(DrawGridTest, LaysOutFramedEnlargedImagesWithLabels) {
  const std::vector<GridCell> cells = {{Solid(32, 10, 20, 30), "a red circle", true},
                                       {Solid(32, 200, 0, 0), "", false},
                                       {Solid(32, 0, 0, 200), "x", std::nullopt}};
  const Image grid = DrawGrid(cells, GridLayout{/*columns=*/2, /*min_cell_width=*/128,
                                                /*label_lines=*/4});
  // 32 px enlarged 4 times, a 3 px frame: cells 134 wide; 3 px then 4 label lines of 12 below
  // the framed image: 185 high; 6 px gaps around and between cells; 2 columns, 2 rows.
  EXPECT_EQ(grid.width, 6 + 2 * (134 + 6));
  EXPECT_EQ(grid.height, 6 + 2 * (185 + 6));
  using Rgb = std::array<uint8_t, 3>;
  EXPECT_EQ(Pixel(grid, 6, 6), (Rgb{40, 170, 60}));             // correct: green frame
  EXPECT_EQ(Pixel(grid, 6 + 3, 6 + 3), (Rgb{10, 20, 30}));      // the image, first pixel
  EXPECT_EQ(Pixel(grid, 6 + 130, 6 + 130), (Rgb{10, 20, 30}));  // and its last
  EXPECT_EQ(Pixel(grid, 6 + 133, 6 + 133), (Rgb{40, 170, 60}));
  EXPECT_EQ(Pixel(grid, 146, 6), (Rgb{220, 40, 40}));        // wrong: red frame
  EXPECT_EQ(Pixel(grid, 6, 6 + 191), (Rgb{200, 200, 200}));  // not scored: grey
  EXPECT_EQ(Pixel(grid, 3, 3), (Rgb{255, 255, 255}));        // the gap
  // Text under the first cell, none under the second.
  EXPECT_GT(DarkPixels(grid, 6, 6 + 137, 140, 6 + 185), 20);
  EXPECT_EQ(DarkPixels(grid, 146, 6 + 137, 280, 6 + 185), 0);
}

TEST(DrawGridTest, LargeImagesAreNotShrunk) {
  const Image grid = DrawGrid({{Solid(200, 0, 0, 0), "", std::nullopt}},
                              GridLayout{/*columns=*/4, /*min_cell_width=*/128, /*label_lines=*/1});
  EXPECT_EQ(grid.width, 6 + 206 + 6);
  EXPECT_EQ(grid.height, 6 + 206 + 3 + 12 + 6);
}

TEST(WrapTextTest, BreaksAtSpaces) {
  EXPECT_EQ(WrapText("aaaa bbbb cccc", 10000), (std::vector<std::string>{"aaaa bbbb cccc"}));
  EXPECT_EQ(WrapText("aaaa bbbb cccc", 1), (std::vector<std::string>{"aaaa", "bbbb", "cccc"}));
  EXPECT_EQ(WrapText("  a   b ", 10000), (std::vector<std::string>{"a b"}));
  EXPECT_TRUE(WrapText("", 100).empty());
  // A width that holds two words but not three.
  const std::vector<std::string> lines = WrapText("ab ab ab ab ab", 40);
  ASSERT_GT(lines.size(), 1u);
  EXPECT_LT(lines.size(), 5u);
}

}  // namespace
}  // namespace infusion::eval
