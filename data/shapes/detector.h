// Finds the objects in a 64×64 image of the shapes world, the way infusion-eval scores generated
// images (GenEval-style, with no learned judge):
//   1. Each pixel takes the nearest of the six palette colours and the white background by
//      Euclidean RGB distance, or "unknown" when all seven are farther than kUnknownDistance.
//   2. 4-connected components of pixels of one palette colour with more than kMaxNoisePixels
//      pixels are objects. 4-connectivity (not 8) keeps diagonal bridges of blurred pixels from
//      merging neighbouring objects.
//   3. The shape is the one whose ideal form drawn over the component's bounding box (geometry.h's
//      rule) has the best IoU with the component; ties go to the first of circle, square,
//      triangle. IoU, not fill ratio: blurred triangles fill their box about as much as discs.
//   4. The cell is the one holding the component's centroid (pixel centres averaged; the last
//      pixel row and column count as the last cell).
// On clean renders it finds exactly the drawn objects.
#ifndef INFUSION_DATA_SHAPES_DETECTOR_H_
#define INFUSION_DATA_SHAPES_DETECTOR_H_

#include <vector>

#include "absl/status/statusor.h"
#include "data/shapes/rgb_image.h"
#include "data/shapes/scene.h"

namespace infusion::data::shapes {

inline constexpr int kUnknownDistance = 60;
inline constexpr int kMaxNoisePixels = 40;

// The detected objects, sorted (reading order of their cells). InvalidArgument unless `image`
// is kImageSize × kImageSize with width·height·3 bytes.
absl::StatusOr<std::vector<ObjectLabel>> DetectObjects(const RgbImage& image);

}  // namespace infusion::data::shapes

#endif  // INFUSION_DATA_SHAPES_DETECTOR_H_
