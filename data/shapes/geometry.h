// Which pixels a shape covers. The renderer draws objects with it and the detector draws its ideal
// shapes with it, so a clean render and the ideal shape over the render's bounding box agree.
//
// The rule is pixel-centre inclusion, no anti-aliasing: pixel (x, y) is covered when its centre
// (x + ½, y + ½) lies inside the shape or on its boundary. Within a box of w×h pixels whose
// top-left pixel is (x0, y0):
//   square    the whole box;
//   circle    the ellipse inscribed in the box (the disc of diameter s in an s×s box);
//   triangle  apex at the middle of the box's top edge, base along its bottom edge.
// For even s the triangle's apex falls between two pixel centres, so its top pixel row stays empty
// and the triangle covers s−1 rows; its base always covers the full s pixels.
#ifndef INFUSION_DATA_SHAPES_GEOMETRY_H_
#define INFUSION_DATA_SHAPES_GEOMETRY_H_

#include "data/shapes/scene.h"

namespace infusion::data::shapes {

// A rectangle of pixels: top-left pixel (x, y), width × height pixels.
struct Box {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
};

// The size×size box an object's shape fills: centred in its cell (rounded towards the cell's
// top-left when kCellSize − size is odd) and moved by its jitter:
//   x = col·kCellSize + (kCellSize − size) / 2 + dx, likewise y with row and dy.
Box ObjectBox(const Object& object);

// Whether `shape` drawn over `box` covers pixel (x, y), by the rule above.
bool Covers(Shape shape, const Box& box, int x, int y);

}  // namespace infusion::data::shapes

#endif  // INFUSION_DATA_SHAPES_GEOMETRY_H_
