#include "data/shapes/captioned_scene.h"

#include <utility>
#include <vector>

#include "data/shapes/sampler.h"

namespace infusion::data::shapes {
namespace {

ObjectConstraint SampleConstraint(Rng& rng) {
  const Shape shape = rng.Pick(kAllShapes);
  const Color color = rng.Pick(kAllColors);
  return {shape, color, std::nullopt};
}

// The cells of two objects for which `relation` holds, each such pair equally likely.
std::vector<Cell> SampleRelatedCells(Relation relation, Rng& rng) {
  std::vector<std::pair<Cell, Cell>> pairs;
  for (Cell a : kAllCells) {
    for (Cell b : kAllCells) {
      if (Holds(relation, a, b)) pairs.emplace_back(a, b);
    }
  }
  const auto& [a, b] = rng.Pick(pairs);
  return {a, b};
}

// The objects of an unplaced `spec` in `cells` (one each).
Scene PlaceObjects(const PromptSpec& spec, const std::vector<Cell>& cells, Rng& rng) {
  Scene scene;
  for (size_t i = 0; i < spec.objects.size(); ++i) {
    const ObjectConstraint& object = spec.objects[i];
    scene.objects.push_back(SampleObject(object.shape, object.color, cells[i], rng));
  }
  return scene;
}

CaptionedScene DrawPrompt(PromptCategory category, Rng& rng) {
  if (category == PromptCategory::kPosition) {
    Scene scene = SampleScene(rng);
    PromptSpec spec = DescribeScene(scene);
    return {FormatPrompt(spec), std::move(spec), std::move(scene)};
  }
  PromptSpec spec;
  const ObjectConstraint first = SampleConstraint(rng);
  ObjectConstraint second = first;
  switch (category) {
    case PromptCategory::kSingleObject:
      spec.objects = {first};
      break;
    case PromptCategory::kTwoObjects:
      if (rng.Below(2) == 0) {
        second.shape = SampleOther(kAllShapes, first.shape, rng);
      } else {
        second.color = SampleOther(kAllColors, first.color, rng);
      }
      spec.objects = {first, second};
      break;
    case PromptCategory::kColorAttribution:
      second.shape = SampleOther(kAllShapes, first.shape, rng);
      second.color = SampleOther(kAllColors, first.color, rng);
      spec.objects = {first, second};
      break;
    case PromptCategory::kRelation:
      while (second == first) second = SampleConstraint(rng);
      spec.objects = {first, second};
      spec.relation = rng.Pick(kAllRelations);
      break;
    case PromptCategory::kCounting:
      spec.objects.assign(rng.Between(2, kMaxObjects), first);
      break;
    case PromptCategory::kPosition:
      break;  // Handled above.
  }
  const std::vector<Cell> cells = spec.relation
                                      ? SampleRelatedCells(*spec.relation, rng)
                                      : SampleCells(static_cast<int>(spec.objects.size()), rng);
  Scene scene = PlaceObjects(spec, cells, rng);
  return {FormatPrompt(spec), std::move(spec), std::move(scene)};
}

}  // namespace

CaptionedScene SamplePrompt(PromptCategory category, Split split, Rng& rng) {
  while (true) {
    CaptionedScene sample = DrawPrompt(category, rng);
    if (SplitOf(sample.caption) == split) return sample;
  }
}

}  // namespace infusion::data::shapes
