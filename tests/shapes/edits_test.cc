#include "data/shapes/edits.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "data/shapes/detector.h"
#include "data/shapes/prompt_spec.h"
#include "data/shapes/render.h"
#include "data/shapes/scoring.h"

namespace infusion::data::shapes {
namespace {

bool Same(const Object& a, const Object& b) {
  return a.shape == b.shape && a.color == b.color && a.cell == b.cell && a.size == b.size &&
         a.dx == b.dx && a.dy == b.dy;
}

bool Same(const std::vector<Object>& a, const std::vector<Object>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const Object& x, const Object& y) { return Same(x, y); });
}

Object Make(Shape shape, Color color, Cell cell) { return {shape, color, cell, 14, 1, -1}; }

int CountNamed(const Scene& scene, const Object& object, bool by_shape_only) {
  return static_cast<int>(
      std::count_if(scene.objects.begin(), scene.objects.end(), [&](const Object& o) {
        return o.shape == object.shape && (by_shape_only || o.color == object.color);
      }));
}

bool Occupied(const Scene& scene, Cell cell) {
  return std::any_of(scene.objects.begin(), scene.objects.end(),
                     [&](const Object& o) { return o.cell == cell; });
}

// The instruction that turns `edit.source` into `edit.target` when exactly the change its kind
// allows was made to a uniquely named object (everything else kept), or "" otherwise.
std::string InstructionFromDiff(const Edit& edit) {
  const std::vector<Object>& before = edit.source.objects;
  const std::vector<Object>& after = edit.target.objects;
  if (edit.kind == EditKind::kAdd) {
    if (after.size() != before.size() + 1 ||
        !Same(before, std::vector<Object>(after.begin(), after.end() - 1)) ||
        Occupied(edit.source, after.back().cell)) {
      return "";
    }
    return "add " + IndefiniteObjectName(after.back().shape, after.back().color) + " at the " +
           CellName(after.back().cell);
  }
  if (edit.kind == EditKind::kRemove) {
    for (size_t i = 0; i < before.size(); ++i) {
      std::vector<Object> rest = before;
      rest.erase(rest.begin() + i);
      if (Same(rest, after) && CountNamed(edit.source, before[i], false) == 1) {
        return "remove the " + ObjectName(before[i].shape, before[i].color);
      }
    }
    return "";
  }
  if (after.size() != before.size()) return "";
  std::vector<size_t> changed;
  for (size_t i = 0; i < before.size(); ++i) {
    if (!Same(before[i], after[i])) changed.push_back(i);
  }
  if (changed.size() != 1) return "";
  const Object& old_object = before[changed[0]];
  const Object& new_object = after[changed[0]];
  Object expected = old_object;
  std::string instruction;
  switch (edit.kind) {
    case EditKind::kRecolor:
      expected.color = new_object.color;
      if (CountNamed(edit.source, old_object, false) != 1) return "";
      instruction = "make the " + ObjectName(old_object.shape, old_object.color) + " " +
                    ColorName(new_object.color);
      break;
    case EditKind::kMove:
      expected.cell = new_object.cell;
      if (CountNamed(edit.source, old_object, false) != 1 ||
          Occupied(edit.source, new_object.cell)) {
        return "";
      }
      instruction = "move the " + ObjectName(old_object.shape, old_object.color) + " to the " +
                    CellName(new_object.cell);
      break;
    case EditKind::kReplace:
      expected.shape = new_object.shape;
      if (CountNamed(edit.source, old_object, true) != 1) return "";
      instruction =
          "replace the " + ShapeName(old_object.shape) + " with a " + ShapeName(new_object.shape);
      break;
    default:
      return "";
  }
  return Same(expected, new_object) ? instruction : "";
}

TEST(EditsTest, EditsChangeOnlyWhatTheyName) {
  Rng rng(21);
  std::map<EditKind, int> kinds;
  for (int i = 0; i < 2000; ++i) {
    const Edit edit = SampleEdit(Split::kTrain, rng);
    SCOPED_TRACE(CanonicalCaption(edit.source) + " | " + edit.instruction);
    ++kinds[edit.kind];
    ASSERT_TRUE(ValidateScene(edit.source).ok());
    ASSERT_TRUE(ValidateScene(edit.target).ok());
    EXPECT_EQ(edit.instruction, InstructionFromDiff(edit));
    EXPECT_EQ(SplitOf(CanonicalCaption(edit.source) + " | " + edit.instruction), Split::kTrain);
    // Scored as infusion-eval scores an edited image: the target is detected, the source is not.
    const std::vector<ObjectLabel> detected = *DetectObjects(Render(edit.target));
    EXPECT_TRUE(SameObjects(detected, Labels(edit.target)));
    EXPECT_FALSE(SameObjects(detected, Labels(edit.source)));
  }
  EXPECT_EQ(kinds.size(), kAllEditKinds.size());
}

TEST(EditsTest, HandCheckedRemoveAndAdd) {
  const Scene scene{
      {Make(Shape::kCircle, Color::kRed, {0, 0}), Make(Shape::kSquare, Color::kBlue, {2, 2})}};
  Rng rng(4);
  std::set<std::string> instructions;
  for (int i = 0; i < 40; ++i) {
    const std::optional<Edit> edit = SampleEditOf(EditKind::kRemove, scene, rng);
    ASSERT_TRUE(edit.has_value());
    ASSERT_EQ(edit->target.objects.size(), 1u);
    instructions.insert(edit->instruction);
  }
  EXPECT_EQ(instructions,
            (std::set<std::string>{"remove the red circle", "remove the blue square"}));

  const std::optional<Edit> add = SampleEditOf(EditKind::kAdd, scene, rng);
  ASSERT_TRUE(add.has_value());
  EXPECT_EQ(add->target.objects.size(), 3u);
  EXPECT_EQ(add->instruction.rfind("add ", 0), 0u);
}

TEST(EditsTest, EditsThatCannotBeSaidAreNotMade) {
  Rng rng(5);
  const Scene one{{Make(Shape::kCircle, Color::kRed, {1, 1})}};
  EXPECT_FALSE(SampleEditOf(EditKind::kRemove, one, rng).has_value());  // nothing would be left

  const Scene full{{Make(Shape::kCircle, Color::kRed, {0, 0}),
                    Make(Shape::kSquare, Color::kRed, {0, 1}),
                    Make(Shape::kTriangle, Color::kRed, {0, 2})}};
  EXPECT_FALSE(SampleEditOf(EditKind::kAdd, full, rng).has_value());

  // Two red circles: "the red circle" and "the circle" name nothing.
  const Scene twins{
      {Make(Shape::kCircle, Color::kRed, {0, 0}), Make(Shape::kCircle, Color::kRed, {2, 2})}};
  for (EditKind kind :
       {EditKind::kRecolor, EditKind::kMove, EditKind::kRemove, EditKind::kReplace}) {
    EXPECT_FALSE(SampleEditOf(kind, twins, rng).has_value());
  }
  // A red and a blue circle: each is named by colour, neither by shape alone.
  const Scene pair{
      {Make(Shape::kCircle, Color::kRed, {0, 0}), Make(Shape::kCircle, Color::kBlue, {2, 2})}};
  EXPECT_TRUE(SampleEditOf(EditKind::kRecolor, pair, rng).has_value());
  EXPECT_FALSE(SampleEditOf(EditKind::kReplace, pair, rng).has_value());
}

}  // namespace
}  // namespace infusion::data::shapes
