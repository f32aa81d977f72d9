#include "engine/codec/image.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

// The test's own writer, for inputs the library does not produce (JPEG, gray, RGBA).
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace infusion {
namespace {

using ::testing::HasSubstr;

void Append(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), size);
}

// PNG bytes of `pixels`, `channels` bytes per pixel (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA).
std::string Png(int width, int height, int channels, const std::vector<uint8_t>& pixels) {
  std::string png;
  EXPECT_TRUE(stbi_write_png_to_func(Append, &png, width, height, channels, pixels.data(),
                                     width * channels));
  return png;
}

// A PNG that claims an 8-bit RGB image of width x height in its header but whose only data
// chunk holds 4 bytes of garbage: decoding it fails, reading its header does not.
std::string PngWithoutPixels(uint32_t width, uint32_t height) {
  std::string bytes("\x89PNG\r\n\x1a\n", 8);
  const auto be32 = [&bytes](uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>(v >> shift));
  };
  be32(13);
  bytes += "IHDR";
  be32(width);
  be32(height);
  bytes += std::string("\x08\x02\x00\x00\x00", 5);
  be32(0);  // CRC, which the decoder does not check
  be32(4);
  bytes += "IDATjunk";
  be32(0);
  return bytes;
}

std::vector<uint8_t> Pixel(const Image& image, int x, int y) {
  const auto* p = &image.rgb[(static_cast<size_t>(y) * image.width + x) * 3];
  return {p[0], p[1], p[2]};
}

Image MakeImage(int width, int height, std::vector<uint8_t> rgb) {
  Image image;
  image.width = width;
  image.height = height;
  image.rgb = std::move(rgb);
  return image;
}

TEST(DecodeImageTest, RgbPngRoundTripsExactly) {
  const Image image =
      MakeImage(3, 2, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18});
  absl::StatusOr<std::string> png = EncodePng(image);
  ASSERT_TRUE(png.ok()) << png.status();
  EXPECT_EQ(png->substr(1, 3), "PNG");
  absl::StatusOr<Image> decoded = DecodeImage(*png);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->width, 3);
  EXPECT_EQ(decoded->height, 2);
  EXPECT_EQ(decoded->rgb, image.rgb);
}

TEST(DecodeImageTest, CommittedShapeImageHasItsDrawnPixels) {
  absl::StatusOr<Image> image =
      ReadImageFile(INFUSION_SOURCE_DIR "/tests/data/images/shapes/red_circle.png");
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 64);
  EXPECT_EQ(image->height, 64);
  // A disc of diameter 15 at (3, 3) in the top left cell: its centre is red, the corner white.
  EXPECT_EQ(Pixel(*image, 10, 10), (std::vector<uint8_t>{220, 40, 40}));
  EXPECT_EQ(Pixel(*image, 0, 0), (std::vector<uint8_t>{255, 255, 255}));
  EXPECT_EQ(Pixel(*image, 63, 63), (std::vector<uint8_t>{255, 255, 255}));
}

TEST(DecodeImageTest, AlphaIsCompositedOntoWhite) {
  // Half-transparent red, opaque blue, fully transparent dark.
  const std::string png = Png(3, 1, 4, {255, 0, 0, 128, 0, 0, 255, 255, 10, 20, 30, 0});
  absl::StatusOr<Image> image = DecodeImage(png);
  ASSERT_TRUE(image.ok()) << image.status();
  // G and B of the first pixel: (0 * 128 + 255 * 127) / 255 = 127.
  EXPECT_EQ(Pixel(*image, 0, 0), (std::vector<uint8_t>{255, 127, 127}));
  EXPECT_EQ(Pixel(*image, 1, 0), (std::vector<uint8_t>{0, 0, 255}));
  EXPECT_EQ(Pixel(*image, 2, 0), (std::vector<uint8_t>{255, 255, 255}));
}

TEST(DecodeImageTest, GrayAndGrayAlphaBecomeRgb) {
  absl::StatusOr<Image> gray = DecodeImage(Png(2, 1, 1, {0, 200}));
  ASSERT_TRUE(gray.ok()) << gray.status();
  EXPECT_EQ(gray->rgb, (std::vector<uint8_t>{0, 0, 0, 200, 200, 200}));

  absl::StatusOr<Image> gray_alpha = DecodeImage(Png(1, 1, 2, {0, 128}));
  ASSERT_TRUE(gray_alpha.ok()) << gray_alpha.status();
  EXPECT_EQ(gray_alpha->rgb, (std::vector<uint8_t>{127, 127, 127}));
}

TEST(DecodeImageTest, DecodesJpeg) {
  std::vector<uint8_t> rgb;
  for (int i = 0; i < 16 * 16; ++i) rgb.insert(rgb.end(), {200, 100, 50});
  std::string jpeg;
  ASSERT_TRUE(stbi_write_jpg_to_func(Append, &jpeg, 16, 16, 3, rgb.data(), /*quality=*/95));
  ASSERT_EQ(jpeg.substr(0, 2), "\xFF\xD8");

  absl::StatusOr<Image> image = DecodeImage(jpeg);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 16);
  EXPECT_EQ(image->height, 16);
  // JPEG is lossy, but a flat colour survives to within a few levels.
  for (size_t i = 0; i < image->rgb.size(); ++i) {
    ASSERT_NEAR(image->rgb[i], rgb[i], 4) << "byte " << i;
  }
}

TEST(DecodeImageTest, RefusesEmptyGarbageAndTruncatedInput) {
  absl::StatusOr<Image> empty = DecodeImage("");
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(empty.status().message(), HasSubstr("empty"));

  absl::StatusOr<Image> garbage = DecodeImage("definitely not an image");
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(garbage.status().message(), HasSubstr("not a decodable PNG or JPEG"));

  // The header is intact, so this gets past the size check and fails in decoding.
  const std::string png = Png(8, 8, 3, std::vector<uint8_t>(8 * 8 * 3, 77));
  absl::StatusOr<Image> truncated = DecodeImage(png.substr(0, png.size() / 2));
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(truncated.status().message(), HasSubstr("not a decodable PNG or JPEG"));
}

TEST(DecodeImageTest, RefusesTooManyBytes) {
  const std::string png = Png(2, 2, 3, std::vector<uint8_t>(12, 0));
  ImageLimits limits;
  limits.max_bytes = png.size() - 1;
  absl::StatusOr<Image> image = DecodeImage(png, limits);
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(image.status().message(), HasSubstr("more than the limit"));
  limits.max_bytes = png.size();
  EXPECT_TRUE(DecodeImage(png, limits).ok());
}

TEST(DecodeImageTest, RefusesTooManyPixelsFromTheHeaderAlone) {
  // 5000 x 5000 is over the default limit of 4096 x 4096. The file holds no pixel data at all,
  // so being told about the pixel count (rather than about undecodable data) shows the refusal
  // came before any decoding.
  const std::string bomb = PngWithoutPixels(5000, 5000);
  absl::StatusOr<Image> image = DecodeImage(bomb);
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(image.status().message(),
              HasSubstr("5000x5000 = 25000000 pixels, more than the limit of 16777216"));

  ImageLimits generous;
  generous.max_pixels = 5000LL * 5000;
  EXPECT_THAT(DecodeImage(bomb, generous).status().message(),
              HasSubstr("not a decodable PNG or JPEG"));

  ImageLimits tight;
  tight.max_pixels = 3;
  EXPECT_THAT(DecodeImage(Png(2, 2, 3, std::vector<uint8_t>(12, 0)), tight).status().message(),
              HasSubstr("2x2 = 4 pixels"));
}

TEST(ResizeImageTest, ShrinkingAveragesTheCoveredArea) {
  // 2x2 -> 1x1 is the mean of the four pixels: R (0+255+100+1)/4 = 89,
  // G (0+255+50+2)/4 = 76.75 -> 77, B (0+255+0+5)/4 = 65.
  const Image image = MakeImage(2, 2, {0, 0, 0, 255, 255, 255, 100, 50, 0, 1, 2, 5});
  const Image resized = ResizeImage(image, 1, 1);
  EXPECT_EQ(resized.width, 1);
  EXPECT_EQ(resized.height, 1);
  EXPECT_EQ(resized.rgb, (std::vector<uint8_t>{89, 77, 65}));

  // 3 -> 2 along x: output 0 covers [0, 1.5) = (0 + 90/2) / 1.5 = 30, output 1 covers
  // [1.5, 3) = (90/2 + 180) / 1.5 = 150.
  const Image row = MakeImage(3, 1, {0, 0, 0, 90, 90, 90, 180, 180, 180});
  EXPECT_EQ(ResizeImage(row, 2, 1).rgb, (std::vector<uint8_t>{30, 30, 30, 150, 150, 150}));
}

TEST(ResizeImageTest, GrowingInterpolatesBilinearly) {
  // 2 -> 4 along x: output centres sit at input -0.25 (clamped to 0), 0.25, 0.75 and 1.25
  // (clamped to 1): 0, 25, 75, 100.
  const Image row = MakeImage(2, 1, {0, 0, 0, 100, 100, 100});
  const Image resized = ResizeImage(row, 4, 1);
  EXPECT_EQ(resized.rgb, (std::vector<uint8_t>{0, 0, 0, 25, 25, 25, 75, 75, 75, 100, 100, 100}));
}

TEST(ResizeImageTest, EqualSizeIsTheIdentity) {
  const Image image = MakeImage(2, 1, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(ResizeImage(image, 2, 1).rgb, image.rgb);
}

TEST(ImageFileTest, WriteThenReadRoundTripsAndErrorsNameTheFile) {
  const std::string path = absl::StrCat(testing::TempDir(), "image_test_", getpid(), ".png");
  const Image image = MakeImage(2, 2, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 0});
  ASSERT_TRUE(WriteImageFile(path, image).ok());
  absl::StatusOr<Image> read = ReadImageFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->rgb, image.rgb);

  ImageLimits tight;
  tight.max_pixels = 3;
  EXPECT_THAT(ReadImageFile(path, tight).status().message(), HasSubstr(path));

  const std::string missing = path + ".missing";
  absl::StatusOr<Image> absent = ReadImageFile(missing);
  EXPECT_EQ(absent.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(absent.status().message(), HasSubstr(missing));
  std::remove(path.c_str());
}

TEST(EncodePngTest, RefusesInconsistentImages) {
  EXPECT_EQ(EncodePng(MakeImage(2, 2, {1, 2, 3})).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodePng(Image{}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace infusion
