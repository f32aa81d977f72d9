// Instruction-based editing: a source scene, an instruction, and the target scene it asks for.
//   kRecolor  "make the red circle blue"                 another colour
//   kMove     "move the red circle to the bottom right"  to an empty cell, size and jitter kept
//   kRemove   "remove the blue square"                   only from scenes of 2–3 objects
//   kAdd      "add a green triangle at the top center"   to an empty cell of a 1–2 object scene
//   kReplace  "replace the circle with a square"         another shape, same colour, size, place
// The object an instruction names is the only one of that description in the source ("the red
// circle": one red circle; "the circle": one circle). Everything the instruction does not name
// stays exactly as it was.
#ifndef INFUSION_DATA_SHAPES_EDITS_H_
#define INFUSION_DATA_SHAPES_EDITS_H_

#include <array>
#include <optional>
#include <string>

#include "data/shapes/rng.h"
#include "data/shapes/scene.h"
#include "data/shapes/split.h"

namespace infusion::data::shapes {

enum class EditKind { kRecolor, kMove, kRemove, kAdd, kReplace };
inline constexpr std::array<EditKind, 5> kAllEditKinds = {
    EditKind::kRecolor, EditKind::kMove, EditKind::kRemove, EditKind::kAdd, EditKind::kReplace};

struct Edit {
  EditKind kind = EditKind::kRecolor;
  Scene source;
  std::string instruction;
  Scene target;
};

// A random edit of `kind` of `source` (its object, colour, shape or cell uniform among those
// allowed), or nullopt when `source` admits none: no uniquely named object, no empty cell, a
// single object to remove, or three objects to add to.
std::optional<Edit> SampleEditOf(EditKind kind, const Scene& source, Rng& rng);

// A random scene and an edit of it of a uniform kind, keyed by split.h's edit key.
Edit SampleEdit(Split split, Rng& rng);

}  // namespace infusion::data::shapes

#endif  // INFUSION_DATA_SHAPES_EDITS_H_
