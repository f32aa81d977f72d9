// A plain 8-bit RGB image: what the shapes world renders and what its detector reads. Kept here,
// free of engine code, so that the data library stays torch-free.
#ifndef INFUSION_DATA_SHAPES_RGB_IMAGE_H_
#define INFUSION_DATA_SHAPES_RGB_IMAGE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace infusion::data::shapes {

struct Rgb {
  uint8_t r = 0;
  uint8_t g = 0;
  uint8_t b = 0;
};

inline bool operator==(const Rgb& a, const Rgb& b) {
  return a.r == b.r && a.g == b.g && a.b == b.b;
}
inline bool operator!=(const Rgb& a, const Rgb& b) { return !(a == b); }

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // rgb: [height, width, 3], row-major (HWC)

  Rgb At(int x, int y) const {
    const uint8_t* p = &rgb[(static_cast<size_t>(y) * width + x) * 3];
    return {p[0], p[1], p[2]};
  }
  void Set(int x, int y, Rgb c) {
    uint8_t* p = &rgb[(static_cast<size_t>(y) * width + x) * 3];
    p[0] = c.r;
    p[1] = c.g;
    p[2] = c.b;
  }
};

}  // namespace infusion::data::shapes

#endif  // INFUSION_DATA_SHAPES_RGB_IMAGE_H_
