#include "data/shapes/questions.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "data/shapes/prompt_spec.h"
#include "data/shapes/sampler.h"

namespace infusion::data::shapes {
namespace {

int CountOf(const std::vector<ObjectLabel>& labels, Shape shape, Color color) {
  return static_cast<int>(std::count_if(labels.begin(), labels.end(), [&](const ObjectLabel& l) {
    return l.shape == shape && l.color == color;
  }));
}

}  // namespace

bool operator==(const QuestionAnswer& a, const QuestionAnswer& b) {
  return a.question == b.question && a.answer == b.answer;
}

std::vector<QuestionAnswer> Questions(const Scene& scene, QuestionKind kind) {
  std::vector<QuestionAnswer> questions;
  const std::vector<ObjectLabel> labels = Labels(scene);
  switch (kind) {
    case QuestionKind::kColor:
      for (Shape shape : kAllShapes) {
        std::vector<Color> colors;
        for (const ObjectLabel& label : labels) {
          if (label.shape == shape) colors.push_back(label.color);
        }
        if (colors.size() == 1) {
          questions.push_back({absl::StrCat("what color is the ", ShapeName(shape), "?"),
                               std::string(ColorName(colors[0]))});
        }
      }
      break;
    case QuestionKind::kShape:
      for (const ObjectLabel& label : labels) {
        questions.push_back({absl::StrCat("what shape is at the ", CellName(label.cell), "?"),
                             std::string(ShapeName(label.shape))});
      }
      break;
    case QuestionKind::kCount:
      questions.push_back({"how many objects are there?",
                           std::string(NumberName(static_cast<int>(labels.size())))});
      break;
    case QuestionKind::kExists:
      for (Shape shape : kAllShapes) {
        for (Color color : kAllColors) {
          questions.push_back({absl::StrCat("is there ", IndefiniteObjectName(shape, color), "?"),
                               CountOf(labels, shape, color) > 0 ? "yes" : "no"});
        }
      }
      break;
    case QuestionKind::kLocation:
      for (const ObjectLabel& label : labels) {
        if (CountOf(labels, label.shape, label.color) == 1) {
          questions.push_back(
              {absl::StrCat("where is the ", ObjectName(label.shape, label.color), "?"),
               std::string(CellName(label.cell))});
        }
      }
      break;
  }
  return questions;
}

QuestionAnswer SampleQuestion(const Scene& scene, Rng& rng) {
  std::vector<QuestionKind> kinds;
  for (QuestionKind kind : kAllQuestionKinds) {
    if (!Questions(scene, kind).empty()) kinds.push_back(kind);
  }
  const QuestionKind kind = rng.Pick(kinds);
  std::vector<QuestionAnswer> questions = Questions(scene, kind);
  if (kind == QuestionKind::kExists) {
    // Most pairs are absent; drawing the answer first keeps "yes" as likely as "no". A scene has
    // 1–3 of the 18 pairs, so both answers always have questions.
    const std::string answer = rng.Below(2) == 0 ? "yes" : "no";
    questions.erase(std::remove_if(questions.begin(), questions.end(),
                                   [&](const QuestionAnswer& qa) { return qa.answer != answer; }),
                    questions.end());
  }
  return rng.Pick(questions);
}

ChatSample SampleChat(Split split, Rng& rng) {
  while (true) {
    Scene scene = SampleScene(rng);
    if (SplitOf(CanonicalCaption(scene)) != split) continue;
    QuestionAnswer qa = SampleQuestion(scene, rng);
    return {std::move(scene), std::move(qa)};
  }
}

}  // namespace infusion::data::shapes
