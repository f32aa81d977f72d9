#include "data/shapes/edits.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "data/shapes/prompt_spec.h"
#include "data/shapes/sampler.h"

namespace infusion::data::shapes {
namespace {

// Indices of the objects that "the <colour> <shape>" (or, by_shape_only, "the <shape>") names:
// those no other object of the scene shares that description with.
std::vector<int> UniquelyNamed(const Scene& scene, bool by_shape_only) {
  auto same_name = [&](const Object& a, const Object& b) {
    return a.shape == b.shape && (by_shape_only || a.color == b.color);
  };
  std::vector<int> named;
  for (size_t i = 0; i < scene.objects.size(); ++i) {
    const Object& object = scene.objects[i];
    const auto count = std::count_if(scene.objects.begin(), scene.objects.end(),
                                     [&](const Object& o) { return same_name(o, object); });
    if (count == 1) named.push_back(static_cast<int>(i));
  }
  return named;
}

std::vector<Cell> EmptyCells(const Scene& scene) {
  std::vector<Cell> empty;
  for (Cell cell : kAllCells) {
    const bool used = std::any_of(scene.objects.begin(), scene.objects.end(),
                                  [&](const Object& o) { return o.cell == cell; });
    if (!used) empty.push_back(cell);
  }
  return empty;
}

}  // namespace

std::optional<Edit> SampleEditOf(EditKind kind, const Scene& source, Rng& rng) {
  Edit edit{kind, source, "", source};
  std::vector<Object>& objects = edit.target.objects;
  const std::vector<Cell> empty_cells = EmptyCells(source);

  if (kind == EditKind::kAdd) {
    if (objects.size() >= kMaxObjects) return std::nullopt;
    const Shape shape = rng.Pick(kAllShapes);
    const Color color = rng.Pick(kAllColors);
    const Cell cell = rng.Pick(empty_cells);
    objects.push_back(SampleObject(shape, color, cell, rng));
    edit.instruction =
        absl::StrCat("add ", IndefiniteObjectName(shape, color), " at the ", CellName(cell));
    return edit;
  }

  if (kind == EditKind::kRemove && objects.size() == 1) return std::nullopt;
  const std::vector<int> named =
      UniquelyNamed(source, /*by_shape_only=*/kind == EditKind::kReplace);
  if (named.empty()) return std::nullopt;
  const int index = rng.Pick(named);
  Object& object = objects[index];
  const std::string name = ObjectName(object.shape, object.color);
  switch (kind) {
    case EditKind::kRecolor:
      object.color = SampleOther(kAllColors, object.color, rng);
      edit.instruction = absl::StrCat("make the ", name, " ", ColorName(object.color));
      break;
    case EditKind::kMove:
      object.cell = rng.Pick(empty_cells);
      edit.instruction = absl::StrCat("move the ", name, " to the ", CellName(object.cell));
      break;
    case EditKind::kRemove:
      edit.instruction = absl::StrCat("remove the ", name);
      objects.erase(objects.begin() + index);
      break;
    case EditKind::kReplace: {
      const Shape old_shape = object.shape;
      object.shape = SampleOther(kAllShapes, old_shape, rng);
      edit.instruction =
          absl::StrCat("replace the ", ShapeName(old_shape), " with a ", ShapeName(object.shape));
      break;
    }
    case EditKind::kAdd:
      break;  // Handled above: it names no existing object.
  }
  return edit;
}

Edit SampleEdit(Split split, Rng& rng) {
  while (true) {
    const Scene source = SampleScene(rng);
    std::optional<Edit> edit = SampleEditOf(rng.Pick(kAllEditKinds), source, rng);
    if (edit &&
        SplitOf(absl::StrCat(CanonicalCaption(source), " | ", edit->instruction)) == split) {
      return *std::move(edit);
    }
  }
}

}  // namespace infusion::data::shapes
