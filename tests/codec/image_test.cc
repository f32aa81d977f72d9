#include "engine/codec/image.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

// The test's own writer, for PNG inputs the library does not produce (gray, RGBA); its JPEGs come
// from EncodeJpeg.
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace infusion::engine {
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

// A PNG chunk: length, type, data and CRC.
std::string Chunk(const std::string& type, const std::string& data) {
  std::string chunk;
  const auto be32 = [&chunk](uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) chunk.push_back(static_cast<char>(v >> shift));
  };
  be32(static_cast<uint32_t>(data.size()));
  const std::string body = type + data;
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : body) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
  }
  chunk += body;
  be32(~crc);
  return chunk;
}

// Deflate's bit order: fields least significant bit first, Huffman codes most significant first.
class BitWriter {
 public:
  void Code(uint32_t code, int length) {
    for (int i = length - 1; i >= 0; --i) Bit((code >> i) & 1);
  }
  void Bits(uint32_t value, int count) {
    for (int i = 0; i < count; ++i) Bit((value >> i) & 1);
  }
  std::string bytes() const { return bytes_; }

 private:
  void Bit(uint32_t bit) {
    if (used_ == 0) bytes_.push_back(0);
    bytes_.back() = static_cast<char>(bytes_.back() | bit << used_);
    used_ = (used_ + 1) % 8;
  }
  std::string bytes_;
  int used_ = 0;
};

// A zlib stream that inflates to `n` (>= 1) zero bytes in about n / 160 bytes: one literal 0,
// then copies of 258 bytes at distance 1, in one block of deflate's fixed Huffman code (RFC 1951
// 3.2.6: literal 0 is 00110000, length 258 is symbol 285 = 11000101, distance 1 is 00000, end of
// block is 0000000).
std::string ZlibOfZeros(int64_t n) {
  BitWriter bits;
  bits.Bits(1, 1);  // the final block
  bits.Bits(1, 2);  // fixed Huffman codes
  bits.Code(0x30, 8);
  int64_t left = n - 1;
  for (; left >= 258; left -= 258) {
    bits.Code(0xC5, 8);
    bits.Code(0, 5);
  }
  for (; left > 0; --left) bits.Code(0x30, 8);
  bits.Code(0, 7);
  std::string zlib = "\x78\x01" + bits.bytes();
  const uint32_t adler = static_cast<uint32_t>(n % 65521) << 16 | 1;  // a = 1, b = n
  for (int shift = 24; shift >= 0; shift -= 8) zlib.push_back(static_cast<char>(adler >> shift));
  return zlib;
}

// Bytes of filtered scanlines a PNG of this layout holds (a filter byte per row of each pass).
int64_t PngDataBytes(int64_t width, int64_t height, int bits_per_pixel, bool interlaced) {
  const auto rows = [bits_per_pixel](int64_t w, int64_t h) {
    return w > 0 && h > 0 ? h * (1 + (w * bits_per_pixel + 7) / 8) : 0;
  };
  if (!interlaced) return rows(width, height);
  // Adam7: each pass's first column and row, and its steps.
  const int pass[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                          {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
  int64_t total = 0;
  for (const auto& [x0, y0, dx, dy] : pass) {
    total += rows((width - x0 + dx - 1) / dx, (height - y0 + dy - 1) / dy);
  }
  return total;
}

struct PngLayout {
  int color_type = 2;  // 0 gray, 2 RGB, 4 gray+alpha, 6 RGBA
  int bit_depth = 8;
  bool interlaced = false;
  int channels() const {
    return color_type == 0 ? 1 : color_type == 2 ? 3 : color_type == 4 ? 2 : 4;
  }
};

// A valid PNG of width x height whose samples are all zero (black, or transparent where there
// is alpha); with `data_bytes` its compressed data inflates to that many bytes instead of the
// exact size, as a decompression bomb's would.
std::string ZeroPng(uint32_t width, uint32_t height, const PngLayout& layout,
                    int64_t data_bytes = -1) {
  if (data_bytes < 0) {
    data_bytes =
        PngDataBytes(width, height, layout.channels() * layout.bit_depth, layout.interlaced);
  }
  std::string header;
  for (uint32_t v : {width, height}) {
    for (int shift = 24; shift >= 0; shift -= 8) header.push_back(static_cast<char>(v >> shift));
  }
  header += {static_cast<char>(layout.bit_depth), static_cast<char>(layout.color_type), 0, 0,
             static_cast<char>(layout.interlaced)};
  return std::string("\x89PNG\r\n\x1a\n", 8) + Chunk("IHDR", header) +
         Chunk("IDAT", ZlibOfZeros(data_bytes)) + Chunk("IEND", "");
}

// A JPEG that is only a start-of-image and a baseline frame header claiming width x height, one
// component: enough for the header to be read, nothing to decode.
std::string JpegHeaderOnly(uint16_t width, uint16_t height) {
  std::string jpeg = "\xFF\xD8\xFF\xC0";
  jpeg += {0,
           11,
           8,
           static_cast<char>(height >> 8),
           static_cast<char>(height & 0xFF),
           static_cast<char>(width >> 8),
           static_cast<char>(width & 0xFF),
           1,
           1,
           0x11,
           0};
  return jpeg;
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
  absl::StatusOr<std::string> written = EncodeJpeg(Image{16, 16, rgb}, /*quality=*/95);
  ASSERT_TRUE(written.ok()) << written.status();
  const std::string& jpeg = *written;
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

TEST(DecodeImageTest, RefusesAbsurdAspectRatiosBeforeDecoding) {
  // 1 x 16777216 is within the default pixel limit: resized to a square it used to take 13 GB.
  absl::StatusOr<Image> strip = DecodeImage(PngWithoutPixels(1, 4096 * 4096));
  EXPECT_EQ(strip.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(strip.status().message(),
              HasSubstr("image is 1x16777216, an aspect ratio of more than 32:1, the limit"));
  EXPECT_THAT(DecodeImage(PngWithoutPixels(33, 1)).status().message(), HasSubstr("aspect ratio"));

  // 32:1 itself is allowed.
  absl::StatusOr<Image> wide = DecodeImage(ZeroPng(2048, 64, PngLayout{}));
  ASSERT_TRUE(wide.ok()) << wide.status();
  EXPECT_EQ(wide->width, 2048);
  EXPECT_EQ(wide->height, 64);
}

TEST(DecodeImageTest, RefusesPngDataThatInflatesBeyondItsPixels) {
  // 1 x 1 pixel, 1.3 MB of compressed data inflating to 200 MB. Interlaced, stb_image accepts
  // extra data after the image, so without the memory budget this decoded after allocating it
  // all; not interlaced, it failed only after allocating it all.
  for (bool interlaced : {true, false}) {
    PngLayout layout;
    layout.interlaced = interlaced;
    const std::string bomb = ZeroPng(1, 1, layout, /*data_bytes=*/200 << 20);
    ASSERT_LT(bomb.size(), 2u << 20);
    absl::StatusOr<Image> image = DecodeImage(bomb);
    EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument) << interlaced;
    EXPECT_THAT(image.status().message(),
                HasSubstr(absl::StrCat("image is 1x1 but decoding it needs more than ",
                                       DecodeMemoryBudget(bomb.size(), 1),
                                       " bytes, the memory limit for that many pixels")));
  }
  // The same 1 x 1 image with its exact data decodes: the budget stopped the bomb, not the image.
  absl::StatusOr<Image> exact = DecodeImage(ZeroPng(1, 1, PngLayout{.interlaced = true}));
  ASSERT_TRUE(exact.ok()) << exact.status();
  EXPECT_EQ(exact->rgb, (std::vector<uint8_t>{0, 0, 0}));
}

TEST(DecodeImageTest, EveryPngLayoutDecodesWithinTheMemoryBudget) {
  // 16-bit RGBA interlaced is the costliest layout for stb_image (about 20 bytes per pixel);
  // 2048 x 2048 makes the per-pixel part of the budget dominate its fixed part.
  const PngLayout layouts[] = {{2, 8, false}, {6, 8, true},  {6, 16, false},
                               {6, 16, true}, {0, 16, true}, {4, 16, true}};
  for (const PngLayout& layout : layouts) {
    SCOPED_TRACE(absl::StrCat("color type ", layout.color_type, ", ", layout.bit_depth,
                              " bits, interlaced ", layout.interlaced));
    absl::StatusOr<Image> image = DecodeImage(ZeroPng(2048, 2048, layout));
    ASSERT_TRUE(image.ok()) << image.status();
    ASSERT_EQ(image->rgb.size(), 2048u * 2048 * 3);
    // Zero alpha is transparent, composited onto white; without alpha zero is black.
    const uint8_t expected = layout.color_type >= 4 ? 255 : 0;
    EXPECT_EQ(Pixel(*image, 2047, 2047), (std::vector<uint8_t>(3, expected)));
  }
}

TEST(DecodeImageTest, ProgressiveJpegsDecodeWithinTheMemoryBudget) {
  // Progressive JPEGs keep every coefficient of every component until the last scan; four
  // full-resolution components (CMYK) cost the most.
  for (const char* name : {"progressive_cmyk_1024.jpg", "progressive_rgb444_1024.jpg"}) {
    absl::StatusOr<Image> image =
        ReadImageFile(absl::StrCat(INFUSION_SOURCE_DIR "/tests/data/images/jpeg/", name));
    ASSERT_TRUE(image.ok()) << image.status();
    EXPECT_EQ(image->width, 1024);
    EXPECT_EQ(image->height, 1024);
  }
  absl::StatusOr<Image> rgb =
      ReadImageFile(INFUSION_SOURCE_DIR "/tests/data/images/jpeg/progressive_rgb444_1024.jpg");
  ASSERT_TRUE(rgb.ok());
  const std::vector<uint8_t> centre = Pixel(*rgb, 512, 512);
  EXPECT_NEAR(centre[0], 10, 4);
  EXPECT_NEAR(centre[1], 200, 4);
  EXPECT_NEAR(centre[2], 30, 4);
}

TEST(DecodeImageTest, JpegWithAnOverflowingHuffmanTableDecodesNothingPastIt) {
  // Found by fuzz/image_fuzzer.cc: a DHT segment whose 16 code-length counts add up to more than
  // the 256 symbols a table holds. Debian's stb_image 2.27 wrote past its arrays on it (heap
  // overflow). The vendored 2.30 stops at the bad table and returns what it decoded before it:
  // nothing, so every pixel is the colour of zeroed buffers, not of whatever the heap held.
  for (int attempt = 0; attempt < 2; ++attempt) {
    // Leave a freed block of non-zero bytes for the decoder's allocations to reuse.
    { std::vector<uint8_t> garbage(1 << 16, 0xA5); }
    absl::StatusOr<Image> image =
        ReadImageFile(INFUSION_SOURCE_DIR "/fuzz/corpus/image/crash_dht_counts_over_256.jpg");
    ASSERT_TRUE(image.ok()) << image.status();
    ASSERT_EQ(image->width, 8);
    ASSERT_EQ(image->height, 8);
    for (int y = 0; y < 8; ++y) {
      for (int x = 0; x < 8; ++x) ASSERT_EQ(Pixel(*image, x, y), Pixel(*image, 0, 0)) << x << y;
    }
  }
}

TEST(DecodeImageTest, EmptyDataChunkBeforeTheDataIsValid) {
  // Found by fuzz/image_fuzzer.cc (fuzz/corpus/image/crash_empty_idat_null_memcpy.png): a
  // zero-length IDAT chunk before any data made stb_image memcpy into a null buffer, undefined
  // behaviour even for 0 bytes. Empty IDAT chunks are valid PNG; the image must still decode.
  std::string png = ZeroPng(3, 2, PngLayout{});
  const size_t idat = png.find("IDAT") - 4;  // the chunk starts with its length
  png.insert(idat, Chunk("IDAT", ""));
  absl::StatusOr<Image> image = DecodeImage(png);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->rgb, std::vector<uint8_t>(3 * 2 * 3, 0));
}

TEST(DecodeImageTest, LargestAllowedImageDecodesAndResizes) {
  // The default limit exactly: 4096 x 4096, 330 KB of PNG.
  const std::string png = ZeroPng(4096, 4096, PngLayout{});
  absl::StatusOr<Image> image = DecodeImage(png);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 4096);
  EXPECT_EQ(image->height, 4096);
  const Image small = ResizeImage(*image, 64, 64);
  EXPECT_EQ(small.rgb, std::vector<uint8_t>(64 * 64 * 3, 0));
}

TEST(DecodeImageTest, RefusesJpegClaimingHugeDimensionsFromTheHeaderAlone) {
  absl::StatusOr<Image> image = DecodeImage(JpegHeaderOnly(65535, 65535));
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(image.status().message(),
              HasSubstr("65535x65535 = 4294836225 pixels, more than the limit of 16777216"));
  // Within the limit, the same header gets as far as the check that there is image data.
  EXPECT_EQ(DecodeImage(JpegHeaderOnly(64, 64)).status().message(),
            "image is a JPEG without image data (no scan)");
}

TEST(DecodeImageTest, RefusesJpegWithTooManyScans) {
  std::vector<uint8_t> rgb(16 * 16 * 3, 90);
  absl::StatusOr<std::string> written = EncodeJpeg(Image{16, 16, rgb}, /*quality=*/90);
  ASSERT_TRUE(written.ok()) << written.status();
  const std::string& jpeg = *written;
  // Repeat its one scan (start-of-scan marker to end-of-image): stb_image decodes every copy
  // again, so a progressive image's empty scans, a few bytes each, cost a pass over every block.
  const size_t scan = jpeg.find("\xFF\xDA");
  const size_t end = jpeg.rfind("\xFF\xD9");
  ASSERT_NE(scan, std::string::npos);
  ASSERT_EQ(end, jpeg.size() - 2);
  std::string repeated = jpeg.substr(0, end);
  for (int i = 0; i < 150; ++i) repeated += jpeg.substr(scan, end - scan);
  repeated += "\xFF\xD9";

  absl::StatusOr<Image> image = DecodeImage(repeated);
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(image.status().message(),
              HasSubstr("image is a JPEG of 151 scans, more than the limit of 100"));
  ImageLimits generous;
  generous.max_jpeg_scans = 151;
  EXPECT_TRUE(DecodeImage(repeated, generous).ok());
  EXPECT_TRUE(DecodeImage(jpeg).ok());
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

TEST(ResizeImageTest, AThinStripCostsWhatItsOutputNeeds) {
  // A 1 x 4000000 column, its top half black and its bottom half 200, to 4096 x 2. Rows first,
  // the intermediate would be 4000000 x 4096 pixels of float (196 GB); columns first it is 2 x 1.
  Image strip = MakeImage(1, 4000000, std::vector<uint8_t>(4000000 * 3, 0));
  std::fill(strip.rgb.begin() + 2000000 * 3, strip.rgb.end(), 200);
  const Image resized = ResizeImage(strip, 4096, 2);
  ASSERT_EQ(resized.rgb.size(), 4096u * 2 * 3);
  EXPECT_EQ(Pixel(resized, 0, 0), (std::vector<uint8_t>{0, 0, 0}));
  EXPECT_EQ(Pixel(resized, 4095, 0), (std::vector<uint8_t>{0, 0, 0}));
  // Each output row averages 2000000 inputs: summed in float, this came out several levels off.
  EXPECT_EQ(Pixel(resized, 0, 1), (std::vector<uint8_t>{200, 200, 200}));
  EXPECT_EQ(Pixel(resized, 4095, 1), (std::vector<uint8_t>{200, 200, 200}));
}

TEST(ResizeImageTest, BothPassOrdersGiveTheSameImage) {
  // 3 x 2 -> 2 x 3 goes columns first, 2 x 3 -> 3 x 2 rows first; a flat image stays flat and a
  // gradient along x keeps its ends, whichever order ran.
  const Image flat = MakeImage(3, 2, std::vector<uint8_t>(18, 77));
  EXPECT_EQ(ResizeImage(flat, 2, 3).rgb, std::vector<uint8_t>(18, 77));
  const Image gradient =
      MakeImage(2, 3, {0, 0, 0, 100, 100, 100, 0, 0, 0, 100, 100, 100, 0, 0, 0, 100, 100, 100});
  const Image wide = ResizeImage(gradient, 3, 2);
  EXPECT_EQ(Pixel(wide, 0, 0), (std::vector<uint8_t>{0, 0, 0}));
  EXPECT_EQ(Pixel(wide, 1, 1), (std::vector<uint8_t>{50, 50, 50}));
  EXPECT_EQ(Pixel(wide, 2, 1), (std::vector<uint8_t>{100, 100, 100}));
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

TEST(EncodeJpegTest, DecodesBackCloseToTheImage) {
  // A smooth 16 x 8 gradient: JPEG is lossy, but on such an image off by a few levels at most.
  Image image;
  image.width = 16;
  image.height = 8;
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      image.rgb.insert(image.rgb.end(), {static_cast<uint8_t>(16 * x), static_cast<uint8_t>(30 * y),
                                         static_cast<uint8_t>(128)});
    }
  }
  absl::StatusOr<std::string> jpeg = EncodeJpeg(image, 95);
  ASSERT_TRUE(jpeg.ok()) << jpeg.status();
  EXPECT_EQ(jpeg->substr(0, 3), "\xFF\xD8\xFF");
  absl::StatusOr<Image> decoded = DecodeImage(*jpeg);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->width, 16);
  EXPECT_EQ(decoded->height, 8);
  ASSERT_EQ(decoded->rgb.size(), image.rgb.size());
  int worst = 0;
  for (size_t i = 0; i < image.rgb.size(); ++i) {
    worst = std::max(worst, std::abs(int{decoded->rgb[i]} - int{image.rgb[i]}));
  }
  EXPECT_LE(worst, 12);
  // Lower quality, fewer bytes.
  absl::StatusOr<std::string> small = EncodeJpeg(image, 10);
  ASSERT_TRUE(small.ok());
  EXPECT_LT(small->size(), jpeg->size());
}

TEST(EncodeJpegTest, RefusesBadQualityAndInconsistentImages) {
  const Image image = MakeImage(1, 1, {1, 2, 3});
  EXPECT_EQ(EncodeJpeg(image, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeJpeg(image, 101).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeJpeg(MakeImage(2, 2, {1, 2, 3})).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace infusion::engine
