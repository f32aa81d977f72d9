// Random scenes: the raw material of every task generator (captioned_scene.h, questions.h,
// edits.h). Every draw is uniform: object count, cells, shapes, colours, sizes and jitters.
#ifndef INFUSION_DATA_SHAPES_SAMPLER_H_
#define INFUSION_DATA_SHAPES_SAMPLER_H_

#include <array>
#include <vector>

#include "data/shapes/rng.h"
#include "data/shapes/scene.h"

namespace infusion::data::shapes {

// An object of the given kind in `cell`, with a random size and jitter.
Object SampleObject(Shape shape, Color color, Cell cell, Rng& rng);

// `n` distinct cells, n in [0, 9], each set of cells equally likely, in random order.
std::vector<Cell> SampleCells(int n, Rng& rng);

// 1 to 3 objects in distinct cells.
Scene SampleScene(Rng& rng);

// A value of `values` other than `excluded`, uniformly.
template <typename T, size_t N>
T SampleOther(const std::array<T, N>& values, T excluded, Rng& rng) {
  std::vector<T> others;
  for (T value : values) {
    if (value != excluded) others.push_back(value);
  }
  return rng.Pick(others);
}

}  // namespace infusion::data::shapes

#endif  // INFUSION_DATA_SHAPES_SAMPLER_H_
