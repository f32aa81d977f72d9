#include "data/shapes/detector.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "data/shapes/geometry.h"

namespace infusion::data::shapes {
namespace {

// Pixel classes besides the palette indices 0..5.
constexpr int kBackgroundClass = -1;
constexpr int kUnknownClass = -2;

int SquaredDistance(Rgb a, Rgb b) {
  const int dr = a.r - b.r;
  const int dg = a.g - b.g;
  const int db = a.b - b.b;
  return dr * dr + dg * dg + db * db;
}

int Classify(Rgb pixel) {
  int best = kBackgroundClass;
  int best_distance = SquaredDistance(pixel, kBackground);
  for (Color color : kAllColors) {
    const int distance = SquaredDistance(pixel, ColorRgb(color));
    if (distance < best_distance) {
      best = static_cast<int>(color);
      best_distance = distance;
    }
  }
  return best_distance <= kUnknownDistance * kUnknownDistance ? best : kUnknownClass;
}

// The pixels (y·kImageSize + x) of the 4-connected component of `seed`'s class; marks them seen.
std::vector<int> Component(const std::vector<int>& classes, int seed, std::vector<bool>& seen) {
  std::vector<int> pixels;
  std::vector<int> stack = {seed};
  seen[seed] = true;
  while (!stack.empty()) {
    const int p = stack.back();
    stack.pop_back();
    pixels.push_back(p);
    const int x = p % kImageSize;
    const int y = p / kImageSize;
    const int neighbours[4][2] = {{x - 1, y}, {x + 1, y}, {x, y - 1}, {x, y + 1}};
    for (const auto& [nx, ny] : neighbours) {
      if (nx < 0 || nx >= kImageSize || ny < 0 || ny >= kImageSize) continue;
      const int q = ny * kImageSize + nx;
      if (seen[q] || classes[q] != classes[seed]) continue;
      seen[q] = true;
      stack.push_back(q);
    }
  }
  return pixels;
}

Box BoundingBox(const std::vector<int>& pixels) {
  int x0 = kImageSize, y0 = kImageSize, x1 = -1, y1 = -1;
  for (int p : pixels) {
    x0 = std::min(x0, p % kImageSize);
    x1 = std::max(x1, p % kImageSize);
    y0 = std::min(y0, p / kImageSize);
    y1 = std::max(y1, p / kImageSize);
  }
  return {x0, y0, x1 - x0 + 1, y1 - y0 + 1};
}

Shape BestShape(const std::vector<int>& pixels) {
  const Box box = BoundingBox(pixels);
  std::vector<bool> in_component(static_cast<size_t>(box.width) * box.height);
  for (int p : pixels) {
    in_component[(p / kImageSize - box.y) * box.width + p % kImageSize - box.x] = true;
  }
  Shape best = kAllShapes.front();
  int64_t best_intersection = -1;  // IoU as a fraction, compared by cross-multiplying
  int64_t best_union = 1;
  for (Shape shape : kAllShapes) {
    int64_t intersection = 0;
    int64_t ideal = 0;
    for (int y = box.y; y < box.y + box.height; ++y) {
      for (int x = box.x; x < box.x + box.width; ++x) {
        if (!Covers(shape, box, x, y)) continue;
        ++ideal;
        intersection += in_component[(y - box.y) * box.width + x - box.x];
      }
    }
    const int64_t union_size = static_cast<int64_t>(pixels.size()) + ideal - intersection;
    if (intersection * best_union > best_intersection * union_size) {
      best = shape;
      best_intersection = intersection;
      best_union = union_size;
    }
  }
  return best;
}

Cell CentroidCell(const std::vector<int>& pixels) {
  // The centroid's x is Σ(x + ½) / n; its column is floor(centroid / kCellSize), in integers.
  const int64_t n = static_cast<int64_t>(pixels.size());
  int64_t sum_x = 0, sum_y = 0;
  for (int p : pixels) {
    sum_x += p % kImageSize;
    sum_y += p / kImageSize;
  }
  auto index = [&](int64_t sum) {
    return static_cast<int>(std::min<int64_t>(kGridSize - 1, (2 * sum + n) / (2 * n * kCellSize)));
  };
  return {index(sum_y), index(sum_x)};
}

}  // namespace

absl::StatusOr<std::vector<ObjectLabel>> DetectObjects(const RgbImage& image) {
  if (image.width != kImageSize || image.height != kImageSize ||
      image.rgb.size() != static_cast<size_t>(kImageSize) * kImageSize * 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("the detector reads ", kImageSize, "x", kImageSize, " RGB images, got ",
                     image.width, "x", image.height, " with ", image.rgb.size(), " bytes"));
  }
  std::vector<int> classes(kImageSize * kImageSize);
  for (int y = 0; y < kImageSize; ++y) {
    for (int x = 0; x < kImageSize; ++x) classes[y * kImageSize + x] = Classify(image.At(x, y));
  }

  std::vector<ObjectLabel> objects;
  std::vector<bool> seen(classes.size());
  for (int p = 0; p < static_cast<int>(classes.size()); ++p) {
    if (seen[p] || classes[p] < 0) continue;
    const std::vector<int> pixels = Component(classes, p, seen);
    if (pixels.size() <= kMaxNoisePixels) continue;
    objects.push_back({BestShape(pixels), static_cast<Color>(classes[p]), CentroidCell(pixels)});
  }
  std::sort(objects.begin(), objects.end());
  return objects;
}

}  // namespace infusion::data::shapes
