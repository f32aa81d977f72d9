#include "engine/codec/stb_write.h"

// The one definition of stb_image_write in infusion's libraries. Static, so that no other
// library's copy can clash with it.
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace infusion::engine::internal {
namespace {

constexpr int kChannels = 3;

void Append(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), size);
}

}  // namespace

bool StbWritePng(int width, int height, const uint8_t* rgb, std::string* out) {
  return stbi_write_png_to_func(Append, out, width, height, kChannels, rgb, width * kChannels) != 0;
}

bool StbWriteJpeg(int width, int height, const uint8_t* rgb, int quality, std::string* out) {
  return stbi_write_jpg_to_func(Append, out, width, height, kChannels, rgb, quality) != 0;
}

}  // namespace infusion::engine::internal
