// 8-bit RGB images: decoding untrusted PNG/JPEG bytes, resizing, PNG and JPEG encoding. Torch-free, so
// that the server can validate request images without LibTorch.
#ifndef INFUSION_ENGINE_CODEC_IMAGE_H_
#define INFUSION_ENGINE_CODEC_IMAGE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace infusion::engine {

struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // [height, width, 3], row-major
};

// Bounds on what DecodeImage accepts. Each is checked from the encoded bytes before any pixel is
// decoded, and together they bound what decoding and resizing cost (docs/api.md, "Image limits"):
// memory at most DecodeMemoryBudget(max_bytes, max_pixels) inside the decoder plus 7 bytes per
// pixel for the RGBA and RGB copies, and time proportional to max_bytes + max_jpeg_scans x
// max_pixels.
struct ImageLimits {
  size_t max_bytes = 16 << 20;         // the encoded image
  int64_t max_pixels = 4096LL * 4096;  // width x height, read from the header
  // Longer side over shorter side. A 1 x 16777216 strip is within max_pixels but is no picture
  // once squashed to the model's square, and it is what makes resizing costly.
  int max_aspect_ratio = 32;
  // Start-of-scan markers in a JPEG. A progressive scan walks every block of the image again, so
  // a few kilobytes of repeated empty scans would cost minutes; encoders write at most about 10.
  int max_jpeg_scans = 100;
};

// The memory the decoder (stb_image) may hold at once for an image of `encoded_bytes` bytes whose
// header claims `pixels` pixels: twice the encoded size (the concatenated PNG data, grown by
// doubling), 32 bytes per pixel (a 16-bit RGBA interlaced PNG, the costliest layout, needs about
// 28: stb inflates it into a buffer sized for a non-interlaced image, which then doubles), and
// 1 MiB for tables (a JPEG decoder's are about 20 KB) and the padding of tiny images. A decode that would need more is stopped
// when it asks for it: that is a PNG whose compressed data inflates to more than its pixels need.
int64_t DecodeMemoryBudget(size_t encoded_bytes, int64_t pixels);

// Decodes a PNG or JPEG. Gray, gray+alpha and RGBA images come back as RGB, with transparency
// composited onto white. InvalidArgument for empty input, input over `limits`, bytes that are
// not a decodable PNG/JPEG, or a decode that would exceed DecodeMemoryBudget. Size, aspect ratio
// and JPEG scans are read before decoding, so an image over a limit costs no decoding at all.
absl::StatusOr<Image> DecodeImage(std::string_view bytes, const ImageLimits& limits = {});

// Resizes to width x height (both > 0): area averaging along an axis that shrinks, bilinear
// interpolation (pixel centres aligned) along one that grows; the identity when sizes are equal.
// Separable, one axis after the other, in the order whose intermediate is smaller: that
// intermediate holds min(image.width x height, width x image.height) pixels as floats, which is at
// most max(input pixels, output pixels), so memory and time are bounded by what goes in and what
// comes out whatever the aspect ratio.
Image ResizeImage(const Image& image, int width, int height);

// PNG bytes of `image`; InvalidArgument when its fields are inconsistent.
absl::StatusOr<std::string> EncodePng(const Image& image);

// JPEG bytes of `image` (baseline; chroma 4:2:0 at quality <= 90, 4:4:4 above; `quality` in
// [1, 100]); InvalidArgument when its fields are inconsistent or quality is out of range.
absl::StatusOr<std::string> EncodeJpeg(const Image& image, int quality = 90);

// DecodeImage of a file's contents; errors name the file.
absl::StatusOr<Image> ReadImageFile(const std::string& path, const ImageLimits& limits = {});
// Writes `image` as PNG.
absl::Status WriteImageFile(const std::string& path, const Image& image);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_CODEC_IMAGE_H_
