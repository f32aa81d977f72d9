#include "data/shapes/render.h"

#include "common/logging.h"
#include "data/shapes/geometry.h"

namespace infusion::data::shapes {

RgbImage Render(const Scene& scene) {
  const absl::Status valid = ValidateScene(scene);
  CHECK(valid.ok()) << valid;

  RgbImage image{kImageSize, kImageSize,
                 std::vector<uint8_t>(static_cast<size_t>(kImageSize) * kImageSize * 3)};
  for (int y = 0; y < kImageSize; ++y) {
    for (int x = 0; x < kImageSize; ++x) image.Set(x, y, kBackground);
  }
  for (const Object& object : scene.objects) {
    const Box box = ObjectBox(object);
    const Rgb color = ColorRgb(object.color);
    for (int y = box.y; y < box.y + box.height; ++y) {
      for (int x = box.x; x < box.x + box.width; ++x) {
        if (Covers(object.shape, box, x, y)) image.Set(x, y, color);
      }
    }
  }
  return image;
}

}  // namespace infusion::data::shapes
