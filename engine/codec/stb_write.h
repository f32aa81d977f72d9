// Internal to engine_image: the PNG and JPEG writers, stb_image_write behind two functions.
//
// They live in a translation unit of their own so that sanitizer builds can exempt exactly the
// third-party writer from one check: stb_image_write's JPEG bit writer left-shifts a negative
// `int` (undefined before C++20, harmless in practice), which UBSan's shift-base check reports.
// Everything of infusion's own keeps every check (engine/codec/CMakeLists.txt).
#ifndef INFUSION_ENGINE_CODEC_STB_WRITE_H_
#define INFUSION_ENGINE_CODEC_STB_WRITE_H_

#include <cstdint>
#include <string>

namespace infusion::engine::internal {

// Each appends the encoded image of `height` rows of `width` packed RGB pixels to `out` and
// returns false if stb_image_write fails.
bool StbWritePng(int width, int height, const uint8_t* rgb, std::string* out);
bool StbWriteJpeg(int width, int height, const uint8_t* rgb, int quality, std::string* out);

}  // namespace infusion::engine::internal

#endif  // INFUSION_ENGINE_CODEC_STB_WRITE_H_
