// Draws a scene: a 64×64 white image with each object filled in its palette colour by the
// pixel-centre rule of geometry.h (no outline, no anti-aliasing). The grid's cells are 21×21, so
// the last pixel row and column (63) are always background.
#ifndef INFUSION_DATA_SHAPES_RENDER_H_
#define INFUSION_DATA_SHAPES_RENDER_H_

#include "data/shapes/rgb_image.h"
#include "data/shapes/scene.h"

namespace infusion::data::shapes {

// `scene` must be valid (ValidateScene); scenes come from the sampler, never from user input.
RgbImage Render(const Scene& scene);

}  // namespace infusion::data::shapes

#endif  // INFUSION_DATA_SHAPES_RENDER_H_
