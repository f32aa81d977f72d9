#include "data/shapes/geometry.h"

#include <cstdint>
#include <cstdlib>

namespace infusion::data::shapes {

Box ObjectBox(const Object& object) {
  const int offset = (kCellSize - object.size) / 2;
  return {object.cell.col * kCellSize + offset + object.dx,
          object.cell.row * kCellSize + offset + object.dy, object.size, object.size};
}

bool Covers(Shape shape, const Box& box, int x, int y) {
  // Doubled coordinates relative to the box keep pixel centres integral: the centre of the box's
  // pixel (i, j) is (u, v) = (2i + 1, 2j + 1), and the box spans [0, 2w] × [0, 2h].
  const int64_t w = box.width;
  const int64_t h = box.height;
  const int64_t u = 2 * (x - box.x) + 1;
  const int64_t v = 2 * (y - box.y) + 1;
  if (u < 0 || u > 2 * w || v < 0 || v > 2 * h) return false;
  switch (shape) {
    case Shape::kSquare:
      return true;
    case Shape::kCircle:
      // ((u − w) / w)² + ((v − h) / h)² ≤ 1.
      return (u - w) * (u - w) * h * h + (v - h) * (v - h) * w * w <= w * w * h * h;
    case Shape::kTriangle:
      // Half-width w·v / 2h at height v below the apex (w, 0).
      return 2 * h * std::abs(u - w) <= w * v;
  }
  return false;
}

}  // namespace infusion::data::shapes
