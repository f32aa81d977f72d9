#include "engine/codec/image.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <fstream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"

// The one definition of stb_image and stb_image_write in the project. Static, so that no other
// library's copy can clash with it; PNG and JPEG only, to keep the attack surface of untrusted
// input small.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace infusion {
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

absl::Status WithPath(const std::string& path, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
}

}  // namespace

absl::StatusOr<Image> DecodeImage(std::string_view bytes, const ImageLimits& limits) {
  if (bytes.empty()) return absl::InvalidArgumentError("image is empty");
  if (bytes.size() > std::min<size_t>(limits.max_bytes, INT_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "image has ", bytes.size(), " bytes, more than the limit of ", limits.max_bytes));
  }
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int size = static_cast<int>(bytes.size());
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

  // Always decoded as RGBA (stb expands gray and adds opaque alpha), then composited on white.
  std::unique_ptr<stbi_uc, void (*)(void*)> rgba(
      stbi_load_from_memory(data, size, &width, &height, &channels, /*req_comp=*/4),
      stbi_image_free);
  if (rgba == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("image is not a decodable PNG or JPEG (", stbi_failure_reason(), ")"));
  }
  Image image;
  image.width = width;
  image.height = height;
  image.rgb.resize(static_cast<size_t>(width) * height * kChannels);
  for (size_t pixel = 0; pixel < static_cast<size_t>(width) * height; ++pixel) {
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

  // Separable: rows first into float, then columns.
  const std::vector<std::vector<Tap>> x_taps = AxisTaps(image.width, width);
  const std::vector<std::vector<Tap>> y_taps = AxisTaps(image.height, height);
  std::vector<float> rows(static_cast<size_t>(image.height) * width * kChannels, 0.0f);
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < width; ++x) {
      float* out = &rows[(static_cast<size_t>(y) * width + x) * kChannels];
      for (const Tap& tap : x_taps[x]) {
        const uint8_t* in =
            &image.rgb[(static_cast<size_t>(y) * image.width + tap.index) * kChannels];
        for (int c = 0; c < kChannels; ++c) out[c] += tap.weight * in[c];
      }
    }
  }
  Image resized;
  resized.width = width;
  resized.height = height;
  resized.rgb.resize(static_cast<size_t>(width) * height * kChannels);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < kChannels; ++c) {
        float sum = 0.0f;
        for (const Tap& tap : y_taps[y]) {
          sum += tap.weight * rows[(static_cast<size_t>(tap.index) * width + x) * kChannels + c];
        }
        resized.rgb[(static_cast<size_t>(y) * width + x) * kChannels + c] =
            static_cast<uint8_t>(std::clamp(std::lround(sum), 0L, 255L));
      }
    }
  }
  return resized;
}

absl::StatusOr<std::string> EncodePng(const Image& image) {
  RETURN_IF_ERROR(ValidateImage(image));
  std::string png;
  const auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), size);
  };
  if (!stbi_write_png_to_func(append, &png, image.width, image.height, kChannels, image.rgb.data(),
                              image.width * kChannels)) {
    return absl::InternalError("PNG encoding failed");
  }
  return png;
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

}  // namespace infusion
