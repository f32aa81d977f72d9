// Request images as the server takes them: DecodeImage under ImageLimits, then ResizeImage to a
// model's size. PNG and JPEG seeds, garbage and crafted bombs (tiny files claiming large images,
// data that inflates past its pixels, repeated scans).
//
// Properties: no crash, leak or undefined behaviour; every refusal is InvalidArgument; a decoded
// image is within the limits; resizing gives the asked size.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/codec/image.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using infusion::engine::Image;
  // The server's limits, except the pixel count: 64 K instead of 16 M pixels keeps each input to
  // a few milliseconds under the sanitizers, so that a million inputs take an hour rather than
  // days; the code paths are the same, and tests/codec/image_test.cc covers the default limits.
  infusion::engine::ImageLimits limits;
  limits.max_pixels = 256 * 256;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<Image> image = infusion::engine::DecodeImage(bytes, limits);
  if (!image.ok()) {
    FUZZ_CHECK(image.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(image->width > 0 && image->height > 0);
  FUZZ_CHECK(static_cast<int64_t>(image->width) * image->height <= limits.max_pixels);
  FUZZ_CHECK(image->rgb.size() == static_cast<size_t>(image->width) * image->height * 3);

  const Image resized = infusion::engine::ResizeImage(*image, 64, 64);  // the shipped models' size
  FUZZ_CHECK(resized.width == 64 && resized.height == 64 && resized.rgb.size() == 64 * 64 * 3);
  // PNG encoding is left out: it only ever sees the server's own images, and under coverage
  // instrumentation it took nine tenths of each input's time.
  return 0;
}
