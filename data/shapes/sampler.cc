#include "data/shapes/sampler.h"

#include <utility>

namespace infusion::data::shapes {

Object SampleObject(Shape shape, Color color, Cell cell, Rng& rng) {
  Object object{shape, color, cell};
  object.size = rng.Between(kMinObjectSize, kMaxObjectSize);
  object.dx = rng.Between(-kMaxJitter, MaxJitter(object.size));
  object.dy = rng.Between(-kMaxJitter, MaxJitter(object.size));
  return object;
}

std::vector<Cell> SampleCells(int n, Rng& rng) {
  CHECK(n >= 0 && n <= static_cast<int>(kAllCells.size())) << "cannot pick " << n << " cells";
  // The first n steps of a Fisher–Yates shuffle.
  std::vector<Cell> cells(kAllCells.begin(), kAllCells.end());
  for (int i = 0; i < n; ++i) {
    std::swap(cells[i], cells[rng.Between(i, static_cast<int>(cells.size()) - 1)]);
  }
  cells.resize(n);
  return cells;
}

Scene SampleScene(Rng& rng) {
  Scene scene;
  for (Cell cell : SampleCells(rng.Between(1, kMaxObjects), rng)) {
    const Shape shape = rng.Pick(kAllShapes);
    const Color color = rng.Pick(kAllColors);
    scene.objects.push_back(SampleObject(shape, color, cell, rng));
  }
  return scene;
}

}  // namespace infusion::data::shapes
