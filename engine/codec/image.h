// 8-bit RGB images: decoding untrusted PNG/JPEG bytes, resizing and PNG encoding. Torch-free, so
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

namespace infusion {

struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // [height, width, 3], row-major
};

// Bounds on what DecodeImage accepts, checked before any pixel is decoded.
struct ImageLimits {
  size_t max_bytes = 16 << 20;
  int64_t max_pixels = 4096LL * 4096;
};

// Decodes a PNG or JPEG. Gray, gray+alpha and RGBA images come back as RGB, with transparency
// composited onto white. InvalidArgument for empty input, input over `limits`, or bytes that are
// not a decodable PNG/JPEG. The pixel count is read from the header first, so an image that
// would decompress to more than `limits.max_pixels` is refused without decoding it.
absl::StatusOr<Image> DecodeImage(std::string_view bytes, const ImageLimits& limits = {});

// Resizes to width x height (both > 0): area averaging along an axis that shrinks, bilinear
// interpolation (pixel centres aligned) along one that grows; the identity when sizes are equal.
Image ResizeImage(const Image& image, int width, int height);

// PNG bytes of `image`; InvalidArgument when its fields are inconsistent.
absl::StatusOr<std::string> EncodePng(const Image& image);

// DecodeImage of a file's contents; errors name the file.
absl::StatusOr<Image> ReadImageFile(const std::string& path, const ImageLimits& limits = {});
// Writes `image` as PNG.
absl::Status WriteImageFile(const std::string& path, const Image& image);

}  // namespace infusion

#endif  // INFUSION_ENGINE_CODEC_IMAGE_H_
