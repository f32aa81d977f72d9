#include "data/shapes/detector.h"

#include <gtest/gtest.h>

#include "data/shapes/prompt_spec.h"
#include "data/shapes/render.h"
#include "data/shapes/sampler.h"

namespace infusion::data::shapes {
namespace {

RgbImage WhiteImage() {
  return {kImageSize, kImageSize, std::vector<uint8_t>(kImageSize * kImageSize * 3, 255)};
}

void FillRect(RgbImage& image, int x0, int y0, int width, int height, Rgb color) {
  for (int y = y0; y < y0 + height; ++y) {
    for (int x = x0; x < x0 + width; ++x) image.Set(x, y, color);
  }
}

std::vector<ObjectLabel> Detect(const RgbImage& image) {
  absl::StatusOr<std::vector<ObjectLabel>> objects = DetectObjects(image);
  EXPECT_TRUE(objects.ok()) << objects.status();
  return objects.ok() ? *objects : std::vector<ObjectLabel>{};
}

TEST(DetectorTest, FindsExactlyTheDrawnObjectsInEveryCleanRender) {
  constexpr int kImages = 3000;
  Rng rng(2024);
  int exact = 0;
  for (int i = 0; i < kImages; ++i) {
    const Scene scene = SampleScene(rng);
    const std::vector<ObjectLabel> detected = Detect(Render(scene));
    if (detected == Labels(scene)) {
      ++exact;
    } else {
      ADD_FAILURE() << "missed or misread objects of: " << CanonicalCaption(scene);
    }
  }
  EXPECT_EQ(exact, kImages);
}

TEST(DetectorTest, EveryShapeSizeAndJitterIsReadRight) {
  // The full grid of object parameters, one object at a time.
  int cases = 0;
  for (Shape shape : kAllShapes) {
    for (int size = kMinObjectSize; size <= kMaxObjectSize; ++size) {
      for (int dx = -kMaxJitter; dx <= MaxJitter(size); ++dx) {
        for (int dy = -kMaxJitter; dy <= MaxJitter(size); ++dy) {
          const Scene scene{{{shape, Color::kYellow, {2, 1}, size, dx, dy}}};
          EXPECT_EQ(Detect(Render(scene)), Labels(scene))
              << ShapeName(shape) << " size " << size << " jitter " << dx << "," << dy;
          ++cases;
        }
      }
    }
  }
  EXPECT_EQ(cases, 3 * (5 * 25 + 16));  // sizes 12..16 allow 5×5 jitters, 17 allows 4×4
}

TEST(DetectorTest, NeighboursOfOneColourAsCloseAsAllowedStaySeparate) {
  // One background column (20) between them, then one background row (20).
  const Scene side_by_side{{{Shape::kSquare, Color::kRed, {0, 0}, 17, 1, 0},
                            {Shape::kSquare, Color::kRed, {0, 1}, 17, -2, 0}}};
  EXPECT_EQ(Detect(Render(side_by_side)), Labels(side_by_side));
  const Scene stacked{{{Shape::kSquare, Color::kRed, {0, 0}, 17, 0, 1},
                       {Shape::kSquare, Color::kRed, {1, 0}, 17, 0, -2}}};
  EXPECT_EQ(Detect(Render(stacked)), Labels(stacked));
}

TEST(DetectorTest, PixelsFartherThan60FromEveryColourAreUnknown) {
  RgbImage image = WhiteImage();
  FillRect(image, 5, 5, 10, 10, {220, 40, 100});  // exactly 60 from red
  EXPECT_EQ(Detect(image), (std::vector<ObjectLabel>{{Shape::kSquare, Color::kRed, {0, 0}}}));
  FillRect(image, 5, 5, 10, 10, {220, 40, 101});  // 61 from red, farther from the rest
  EXPECT_TRUE(Detect(image).empty());
}

TEST(DetectorTest, ComponentsOfAtMost40PixelsAreNoise) {
  RgbImage image = WhiteImage();
  const Rgb blue = ColorRgb(Color::kBlue);
  FillRect(image, 30, 30, 5, 8, blue);  // 40 pixels
  EXPECT_TRUE(Detect(image).empty());
  image.Set(35, 30, blue);  // 41, 4-connected
  EXPECT_EQ(Detect(image).size(), 1u);
}

TEST(DetectorTest, DiagonalContactDoesNotJoinComponents) {
  RgbImage image = WhiteImage();
  const Rgb blue = ColorRgb(Color::kBlue);
  FillRect(image, 2, 2, 7, 7, blue);    // 49 px in the top-left cell, up to (8, 8)
  FillRect(image, 9, 9, 7, 7, blue);    // 49 px touching it only at a corner
  EXPECT_EQ(Detect(image).size(), 2u);  // 8-connectivity would see one 98-px object
}

TEST(DetectorTest, CellFollowsTheCentroid) {
  RgbImage image = WhiteImage();
  // Columns 17..27 straddle the cell border at x = 21; the centroid x, 22.5, is in the center
  // column. Columns 14..24 have theirs at 19.5, in the left column.
  FillRect(image, 17, 2, 11, 11, ColorRgb(Color::kGreen));
  EXPECT_EQ(Detect(image), (std::vector<ObjectLabel>{{Shape::kSquare, Color::kGreen, {0, 1}}}));
  image = WhiteImage();
  FillRect(image, 14, 2, 11, 11, ColorRgb(Color::kGreen));
  EXPECT_EQ(Detect(image), (std::vector<ObjectLabel>{{Shape::kSquare, Color::kGreen, {0, 0}}}));
}

TEST(DetectorTest, RejectsImagesOfAnotherSize) {
  const RgbImage small{32, 32, std::vector<uint8_t>(32 * 32 * 3, 255)};
  EXPECT_TRUE(absl::IsInvalidArgument(DetectObjects(small).status()));
  const RgbImage truncated{64, 64, std::vector<uint8_t>(100)};
  EXPECT_TRUE(absl::IsInvalidArgument(DetectObjects(truncated).status()));
}

}  // namespace
}  // namespace infusion::data::shapes
