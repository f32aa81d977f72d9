#include "engine/codec/image.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "engine/codec/stb_write.h"

namespace infusion::engine {
namespace {

// What stb_image may still allocate on this thread while one DecodeImage runs (a null arena
// means no bound). stb sizes its buffers from the header and from what the data inflates to, so
// this is where a compressed payload larger than its pixels is caught, whatever the format.
struct StbArena {
  int64_t budget = 0;
  int64_t used = 0;
  bool refused = false;  // an allocation was refused for the budget, not by the system
};
thread_local StbArena* stb_arena = nullptr;

// Each block starts with its size, so that free and realloc can keep `used` exact.
constexpr size_t kBlockHeader = alignof(std::max_align_t);

bool TakeFromArena(size_t bytes) {
  if (stb_arena == nullptr) return true;
  if (bytes > static_cast<uint64_t>(stb_arena->budget - stb_arena->used)) {
    stb_arena->refused = true;
    return false;
  }
  stb_arena->used += static_cast<int64_t>(bytes);
  return true;
}

void ReturnToArena(size_t bytes) {
  if (stb_arena != nullptr) stb_arena->used -= static_cast<int64_t>(bytes);
}

// Zeroed: stb_image (2.28 and later) returns what it decoded of a JPEG that stops early, corrupt
// or truncated, and the rest of its buffers would otherwise be whatever the heap held before.
void* StbMalloc(size_t size) {
  if (size > SIZE_MAX - kBlockHeader || !TakeFromArena(size)) return nullptr;
  auto* block = static_cast<char*>(std::calloc(1, kBlockHeader + size));
  if (block == nullptr) {
    ReturnToArena(size);
    return nullptr;
  }
  std::memcpy(block, &size, sizeof(size));
  return block + kBlockHeader;
}

void StbFree(void* pointer) {
  if (pointer == nullptr) return;
  char* block = static_cast<char*>(pointer) - kBlockHeader;
  size_t size;
  std::memcpy(&size, block, sizeof(size));
  ReturnToArena(size);
  std::free(block);
}

void* StbRealloc(void* pointer, size_t size) {
  if (pointer == nullptr) return StbMalloc(size);
  char* block = static_cast<char*>(pointer) - kBlockHeader;
  size_t old_size;
  std::memcpy(&old_size, block, sizeof(old_size));
  if (size > SIZE_MAX - kBlockHeader) return nullptr;
  if (size > old_size && !TakeFromArena(size - old_size)) return nullptr;
  auto* grown = static_cast<char*>(std::realloc(block, kBlockHeader + size));
  if (grown == nullptr) {
    if (size > old_size) ReturnToArena(size - old_size);
    return nullptr;
  }
  if (size < old_size) ReturnToArena(old_size - size);
  std::memcpy(grown, &size, sizeof(size));
  return grown + kBlockHeader;
}

}  // namespace
}  // namespace infusion::engine

// The one definition of stb_image in the project (its writer is stb_write.cc's). Static, so that
// no other library's copy can clash with it; PNG and JPEG only, to keep the attack surface of untrusted
// input small. Its allocations go through the arena above. stb_image is upstream's v2.30
// (third_party/stb/README.md: Debian's v2.27 overflows a Huffman table on a crafted JPEG).
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO
#define STBI_MALLOC(size) ::infusion::engine::StbMalloc(size)
#define STBI_REALLOC(pointer, size) ::infusion::engine::StbRealloc(pointer, size)
#define STBI_FREE(pointer) ::infusion::engine::StbFree(pointer)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#include "third_party/stb/stb_image.h"
#pragma GCC diagnostic pop

namespace infusion::engine {
namespace {

constexpr int kChannels = 3;

absl::Status ValidateImage(const Image& image) {
  const int64_t bytes = static_cast<int64_t>(image.width) * image.height * kChannels;
  if (image.width <= 0 || image.height <= 0 || bytes > INT_MAX ||
      image.rgb.size() != static_cast<size_t>(bytes)) {
    return absl::InvalidArgumentError(absl::StrCat("image ", image.width, "x", image.height,
                                                   " has ", image.rgb.size(),
                                                   " bytes of RGB, which does not match"));
  }
  return absl::OkStatus();
}

// One output sample of a 1-D resampling: a weighted sum of input samples.
struct Tap {
  int index;
  float weight;
};

// The taps of every output sample when resampling an axis of `in` samples to `out`.
std::vector<std::vector<Tap>> AxisTaps(int in, int out) {
  std::vector<std::vector<Tap>> taps(out);
  const double scale = static_cast<double>(in) / out;
  for (int i = 0; i < out; ++i) {
    if (in == out) {
      taps[i] = {{i, 1.0f}};
    } else if (out < in) {
      // Area averaging: output sample i covers the input interval [i*scale, (i+1)*scale).
      const double lo = i * scale;
      const double hi = (i + 1) * scale;
      for (int j = static_cast<int>(lo); j < in && j < hi; ++j) {
        const double overlap = std::min(hi, j + 1.0) - std::max(lo, static_cast<double>(j));
        if (overlap > 0) taps[i].push_back({j, static_cast<float>(overlap / scale)});
      }
    } else {
      // Bilinear with pixel centres aligned: output centre i + 0.5 sits at input (i + 0.5)*scale.
      const double x = std::clamp((i + 0.5) * scale - 0.5, 0.0, in - 1.0);
      const int j = static_cast<int>(x);
      const float frac = static_cast<float>(x - j);
      taps[i] = {{j, 1.0f - frac}, {std::min(j + 1, in - 1), frac}};
    }
  }
  return taps;
}

// Resamples along x: `in` is [height, in_width, 3], the result [height, taps.size(), 3].
// Both passes sum in double: shrinking a long axis adds up many small terms, and float rounding
// of each addition would shift the mean by whole levels.
template <typename T>
std::vector<float> ResampleRows(const T* in, int in_width, int height,
                                const std::vector<std::vector<Tap>>& taps) {
  const size_t out_width = taps.size();
  std::vector<float> out(static_cast<size_t>(height) * out_width * kChannels);
  for (int y = 0; y < height; ++y) {
    const T* in_row = in + static_cast<size_t>(y) * in_width * kChannels;
    float* out_row = &out[static_cast<size_t>(y) * out_width * kChannels];
    for (size_t x = 0; x < out_width; ++x) {
      double sum[kChannels] = {};
      for (const Tap& tap : taps[x]) {
        const T* pixel = in_row + static_cast<size_t>(tap.index) * kChannels;
        for (int c = 0; c < kChannels; ++c) sum[c] += static_cast<double>(tap.weight) * pixel[c];
      }
      for (int c = 0; c < kChannels; ++c) out_row[x * kChannels + c] = static_cast<float>(sum[c]);
    }
  }
  return out;
}

// Resamples along y: `in` is [in_height, width, 3], the result [taps.size(), width, 3].
template <typename T>
std::vector<float> ResampleColumns(const T* in, int width,
                                   const std::vector<std::vector<Tap>>& taps) {
  const size_t row_size = static_cast<size_t>(width) * kChannels;
  std::vector<float> out(taps.size() * row_size);
  std::vector<double> sums(row_size);
  for (size_t y = 0; y < taps.size(); ++y) {
    std::fill(sums.begin(), sums.end(), 0.0);
    for (const Tap& tap : taps[y]) {
      const T* in_row = in + static_cast<size_t>(tap.index) * row_size;
      for (size_t i = 0; i < row_size; ++i) sums[i] += static_cast<double>(tap.weight) * in_row[i];
    }
    std::copy(sums.begin(), sums.end(), out.begin() + y * row_size);
  }
  return out;
}

// Upper bound on the start-of-scan markers stb_image can act on: every one it reads is a 0xFF
// byte followed by 0xDA (after any 0xFF fill bytes), so counting those pairs anywhere in the
// file, including inside other segments, can only count too many, never too few.
int64_t CountJpegScanMarkers(std::string_view bytes) {
  int64_t count = 0;
  for (size_t i = 0; i + 1 < bytes.size(); ++i) {
    if (bytes[i] == '\xFF' && bytes[i + 1] == '\xDA') ++count;
  }
  return count;
}

bool IsJpeg(std::string_view bytes) {
  return bytes.size() >= 2 && bytes.substr(0, 2) == "\xFF\xD8";
}

// Installs `arena` as this thread's bound on stb_image's allocations for its lifetime.
class ScopedStbArena {
 public:
  explicit ScopedStbArena(StbArena* arena) : previous_(stb_arena) { stb_arena = arena; }
  ~ScopedStbArena() { stb_arena = previous_; }
  ScopedStbArena(const ScopedStbArena&) = delete;
  ScopedStbArena& operator=(const ScopedStbArena&) = delete;

 private:
  StbArena* previous_;
};

absl::Status WithPath(const std::string& path, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
}

}  // namespace

int64_t DecodeMemoryBudget(size_t encoded_bytes, int64_t pixels) {
  constexpr int64_t kFixedBytes = 1 << 20;
  constexpr int64_t kBytesPerPixel = 32;
  return kFixedBytes + 2 * static_cast<int64_t>(encoded_bytes) + kBytesPerPixel * pixels;
}

absl::StatusOr<Image> DecodeImage(std::string_view bytes, const ImageLimits& limits) {
  if (bytes.empty()) return absl::InvalidArgumentError("image is empty");
  if (bytes.size() > std::min<size_t>(limits.max_bytes, INT_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "image has ", bytes.size(), " bytes, more than the limit of ", limits.max_bytes));
  }
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int size = static_cast<int>(bytes.size());
  // Reading the header allocates too (stb's JPEG decoder state): bounded by the budget of a
  // 1-pixel image until the header has said how many pixels there are.
  StbArena arena;
  arena.budget = DecodeMemoryBudget(bytes.size(), /*pixels=*/1);
  const ScopedStbArena scoped_arena(&arena);
  int width = 0;
  int height = 0;
  int channels = 0;
  if (!stbi_info_from_memory(data, size, &width, &height, &channels)) {
    return absl::InvalidArgumentError(
        absl::StrCat("image is not a decodable PNG or JPEG (", stbi_failure_reason(), ")"));
  }
  const int64_t pixels = static_cast<int64_t>(width) * height;
  if (pixels > limits.max_pixels) {
    return absl::InvalidArgumentError(absl::StrCat("image is ", width, "x", height, " = ", pixels,
                                                   " pixels, more than the limit of ",
                                                   limits.max_pixels));
  }
  const int64_t longer = std::max(width, height);
  const int64_t shorter = std::min(width, height);
  if (longer > shorter * limits.max_aspect_ratio) {
    return absl::InvalidArgumentError(absl::StrCat("image is ", width, "x", height,
                                                   ", an aspect ratio of more than ",
                                                   limits.max_aspect_ratio, ":1, the limit"));
  }
  if (IsJpeg(bytes)) {
    const int64_t scans = CountJpegScanMarkers(bytes);
    if (scans == 0) {
      return absl::InvalidArgumentError("image is a JPEG without image data (no scan)");
    }
    if (scans > limits.max_jpeg_scans) {
      return absl::InvalidArgumentError(absl::StrCat(
          "image is a JPEG of ", scans, " scans, more than the limit of ", limits.max_jpeg_scans));
    }
  }

  // Always decoded as RGBA (stb expands gray and adds opaque alpha), then composited on white.
  arena.budget = DecodeMemoryBudget(bytes.size(), pixels);
  int decoded_width = 0;
  int decoded_height = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> rgba(
      stbi_load_from_memory(data, size, &decoded_width, &decoded_height, &channels,
                            /*req_comp=*/4),
      stbi_image_free);
  if (rgba == nullptr) {
    if (arena.refused) {
      return absl::InvalidArgumentError(
          absl::StrCat("image is ", width, "x", height, " but decoding it needs more than ",
                       arena.budget, " bytes, the memory limit for that many pixels in ",
                       bytes.size(), " bytes: its compressed data holds more than its pixels"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("image is not a decodable PNG or JPEG (", stbi_failure_reason(), ")"));
  }
  if (decoded_width != width || decoded_height != height) {
    // The limits above were checked against the header's size; never hand on another.
    return absl::InvalidArgumentError(absl::StrCat("image header says ", width, "x", height,
                                                   ", its data ", decoded_width, "x",
                                                   decoded_height));
  }
  Image image;
  image.width = width;
  image.height = height;
  image.rgb.resize(static_cast<size_t>(pixels) * kChannels);
  for (size_t pixel = 0; pixel < static_cast<size_t>(pixels); ++pixel) {
    const stbi_uc* in = rgba.get() + 4 * pixel;
    const int alpha = in[3];
    for (int c = 0; c < kChannels; ++c) {
      // in*alpha/255 + 255*(1 - alpha/255), rounded.
      image.rgb[kChannels * pixel + c] =
          static_cast<uint8_t>((in[c] * alpha + 255 * (255 - alpha) + 127) / 255);
    }
  }
  return image;
}

Image ResizeImage(const Image& image, int width, int height) {
  const absl::Status valid = ValidateImage(image);
  CHECK(valid.ok()) << valid;
  CHECK(width > 0 && height > 0) << width << "x" << height;
  if (width == image.width && height == image.height) return image;

  // Separable. The intermediate after rows first is [image.height, width], after columns first
  // [height, image.width]: the smaller one is at most max(input, output) pixels (their product
  // is input x output). Rows first always would make a 1 x 16M strip resized to 64 x 64 hold
  // 16M x 64 floats (13 GB) between the passes.
  const std::vector<std::vector<Tap>> x_taps = AxisTaps(image.width, width);
  const std::vector<std::vector<Tap>> y_taps = AxisTaps(image.height, height);
  std::vector<float> sums;
  if (static_cast<int64_t>(height) * image.width < static_cast<int64_t>(image.height) * width) {
    const std::vector<float> columns = ResampleColumns(image.rgb.data(), image.width, y_taps);
    sums = ResampleRows(columns.data(), image.width, height, x_taps);
  } else {
    const std::vector<float> rows =
        ResampleRows(image.rgb.data(), image.width, image.height, x_taps);
    sums = ResampleColumns(rows.data(), width, y_taps);
  }
  Image resized;
  resized.width = width;
  resized.height = height;
  resized.rgb.resize(sums.size());
  for (size_t i = 0; i < sums.size(); ++i) {
    resized.rgb[i] = static_cast<uint8_t>(std::clamp(std::lround(sums[i]), 0L, 255L));
  }
  return resized;
}

absl::StatusOr<std::string> EncodePng(const Image& image) {
  RETURN_IF_ERROR(ValidateImage(image));
  std::string png;
  if (!internal::StbWritePng(image.width, image.height, image.rgb.data(), &png)) {
    return absl::InternalError("PNG encoding failed");
  }
  return png;
}

absl::StatusOr<std::string> EncodeJpeg(const Image& image, int quality) {
  RETURN_IF_ERROR(ValidateImage(image));
  if (quality < 1 || quality > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("JPEG quality must be in [1, 100], got ", quality));
  }
  std::string jpeg;
  if (!internal::StbWriteJpeg(image.width, image.height, image.rgb.data(), quality, &jpeg)) {
    return absl::InternalError("JPEG encoding failed");
  }
  return jpeg;
}

absl::StatusOr<Image> ReadImageFile(const std::string& path, const ImageLimits& limits) {
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  const std::streamoff size = file.tellg();
  // Checked before reading, so that a huge file is not read into memory only to be refused.
  if (size < 0 || static_cast<uint64_t>(size) > limits.max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": image has ", size, " bytes, more than the limit of ", limits.max_bytes));
  }
  std::string bytes(static_cast<size_t>(size), '\0');
  file.seekg(0);
  if (!file.read(bytes.data(), size)) {
    return absl::DataLossError(absl::StrCat(path, ": read failed"));
  }
  absl::StatusOr<Image> image = DecodeImage(bytes, limits);
  if (!image.ok()) return WithPath(path, image.status());
  return image;
}

absl::Status WriteImageFile(const std::string& path, const Image& image) {
  absl::StatusOr<std::string> png = EncodePng(image);
  if (!png.ok()) return WithPath(path, png.status());
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file.write(png->data(), static_cast<std::streamsize>(png->size())) || !file.flush()) {
    return absl::InternalError(absl::StrCat(path, ": write failed"));
  }
  return absl::OkStatus();
}

}  // namespace infusion::engine
