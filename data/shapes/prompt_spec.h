// Prompts of the shapes world as constraints on the objects of an image: parsed from and written
// back to text, and checked against detected objects the way GenEval checks large models.
//
// The language (every word lower case, single spaces; ParsePrompt ignores surrounding whitespace):
//   object      "a red circle" — "an" before "orange"
//   located     object " at the " cell        "a red circle at the top left", "… at the center"
//   prompt      object                        1 object, no position
//             | object " and " object         2 objects, no positions
//             | located (" and " located)*    1–3 objects in distinct cells
//             | object relation object        relation: "left of" "right of" "above" "below"
//             | count color plural-shape      "two green triangles", "three yellow squares"
// A prompt asks for exactly the objects it names: an image satisfies it when its detected objects
// match one-to-one (no missing, no extra objects). Positions in one prompt are all given or all
// absent, so a position never reads as shared by several objects.
//
// Categories (GenEval's, fitted to a world where every object has a colour):
//   single_object      "a red circle"
//   position           every object placed in a cell: "a red circle at the top left", and the
//                      canonical captions of 2–3 objects
//   two_objects        two objects that share their colour or their shape, so only drawing both
//                      is tested: "a red circle and a red square", "a red circle and a blue circle"
//   color_attribution  two objects differing in colour and in shape, so each colour must land on
//                      the right shape: "a red circle and a blue square" (swapping the colours
//                      fails)
//   relation           "a red circle left of a blue square"
//   counting           two or three identical objects: "two green triangles"
#ifndef INFUSION_DATA_SHAPES_PROMPT_SPEC_H_
#define INFUSION_DATA_SHAPES_PROMPT_SPEC_H_

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/shapes/scene.h"

namespace infusion::data::shapes {

enum class PromptCategory {
  kSingleObject,
  kPosition,
  kTwoObjects,
  kRelation,
  kCounting,
  kColorAttribution,
};
inline constexpr std::array<PromptCategory, 6> kAllCategories = {
    PromptCategory::kSingleObject, PromptCategory::kPosition, PromptCategory::kTwoObjects,
    PromptCategory::kRelation,     PromptCategory::kCounting, PromptCategory::kColorAttribution};

std::string CategoryName(PromptCategory category);  // "single_object", …
absl::StatusOr<PromptCategory> CategoryFromName(std::string_view name);

// One object a prompt asks for; `cell` is set when the prompt places it.
struct ObjectConstraint {
  Shape shape = Shape::kCircle;
  Color color = Color::kRed;
  std::optional<Cell> cell;
};
bool operator==(const ObjectConstraint& a, const ObjectConstraint& b);

struct PromptSpec {
  std::vector<ObjectConstraint> objects;  // in the order the prompt names them
  std::optional<Relation> relation;       // when set: objects[0] <relation> objects[1]
};
bool operator==(const PromptSpec& a, const PromptSpec& b);

// OK when `spec` is what one of the prompt forms above says; InvalidArgument otherwise.
absl::Status ValidatePromptSpec(const PromptSpec& spec);

// The category of a valid spec. Two or three identical unplaced objects count as counting.
PromptCategory Category(const PromptSpec& spec);

// The prompt text of a valid spec, in the form its category calls for; ParsePrompt inverts it.
std::string FormatPrompt(const PromptSpec& spec);

// InvalidArgument, naming the text and what was expected, for text not of the forms above.
absl::StatusOr<PromptSpec> ParsePrompt(std::string_view text);

// Whether the detected objects are exactly the ones `spec` asks for, one-to-one, each in its
// cell when placed and with the relation holding between the two named objects.
bool Satisfies(const PromptSpec& spec, const std::vector<ObjectLabel>& detected);

// The scene's objects in reading order of their cells, each placed.
PromptSpec DescribeScene(const Scene& scene);

// What captioning must produce: FormatPrompt(DescribeScene(scene)), e.g.
// "a red circle at the top left and a blue square at the bottom right".
std::string CanonicalCaption(const Scene& scene);

// The objects a caption of the canonical form names, in its order (which scoring ignores);
// InvalidArgument for any other text, including prompts without positions.
absl::StatusOr<std::vector<ObjectLabel>> ParseCanonicalCaption(std::string_view text);

}  // namespace infusion::data::shapes

#endif  // INFUSION_DATA_SHAPES_PROMPT_SPEC_H_
