// Chat about an image: the five question forms of the shapes world and their answers.
//   kColor     "what color is the circle?"     → "red"       only when one circle is drawn
//   kShape     "what shape is at the top left?" → "circle"   only of occupied cells
//   kCount     "how many objects are there?"   → "two"
//   kExists    "is there a blue square?"       → "yes" / "no"
//   kLocation  "where is the red circle?"      → "top left"  only when one red circle is drawn
// A question whose answer would be ambiguous is never asked.
#ifndef INFUSION_DATA_SHAPES_QUESTIONS_H_
#define INFUSION_DATA_SHAPES_QUESTIONS_H_

#include <array>
#include <string>
#include <vector>

#include "data/shapes/rng.h"
#include "data/shapes/scene.h"
#include "data/shapes/split.h"

namespace infusion::data::shapes {

enum class QuestionKind { kColor, kShape, kCount, kExists, kLocation };
inline constexpr std::array<QuestionKind, 5> kAllQuestionKinds = {
    QuestionKind::kColor, QuestionKind::kShape, QuestionKind::kCount, QuestionKind::kExists,
    QuestionKind::kLocation};

struct QuestionAnswer {
  std::string question;
  std::string answer;
};
bool operator==(const QuestionAnswer& a, const QuestionAnswer& b);

// Every unambiguous question of `kind` about `scene` (for kExists, all 18 shape–colour pairs),
// in a fixed order.
std::vector<QuestionAnswer> Questions(const Scene& scene, QuestionKind kind);

// A uniform kind among those with a question about `scene`, then a uniform question of it; for
// kExists the answer is "yes" or "no" with equal odds.
QuestionAnswer SampleQuestion(const Scene& scene, Rng& rng);

struct ChatSample {
  Scene scene;
  QuestionAnswer qa;
};

// A random scene whose canonical caption is in `split`, and a question about it.
ChatSample SampleChat(Split split, Rng& rng);

}  // namespace infusion::data::shapes

#endif  // INFUSION_DATA_SHAPES_QUESTIONS_H_
