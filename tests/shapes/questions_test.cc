#include "data/shapes/questions.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>

#include "data/shapes/prompt_spec.h"
#include "data/shapes/sampler.h"

namespace infusion::data::shapes {
namespace {

Object Make(Shape shape, Color color, Cell cell) { return {shape, color, cell, 14, 0, 0}; }

std::vector<QuestionAnswer> AllQuestions(const Scene& scene) {
  std::vector<QuestionAnswer> all;
  for (QuestionKind kind : kAllQuestionKinds) {
    const std::vector<QuestionAnswer> questions = Questions(scene, kind);
    all.insert(all.end(), questions.begin(), questions.end());
  }
  return all;
}

// Every question the five forms can ask, answered straight from the scene's objects, or nullopt
// when the answer would be ambiguous.
std::map<std::string, std::optional<std::string>> Oracle(const Scene& scene) {
  std::map<std::string, std::optional<std::string>> answers;
  auto objects_where = [&](auto predicate) {
    std::vector<Object> found;
    std::copy_if(scene.objects.begin(), scene.objects.end(), std::back_inserter(found), predicate);
    return found;
  };
  for (Shape shape : kAllShapes) {
    const auto found = objects_where([&](const Object& o) { return o.shape == shape; });
    answers["what color is the " + ShapeName(shape) + "?"] =
        found.size() == 1 ? std::optional(ColorName(found[0].color)) : std::nullopt;
  }
  for (Cell cell : kAllCells) {
    const auto found = objects_where([&](const Object& o) { return o.cell == cell; });
    answers["what shape is at the " + CellName(cell) + "?"] =
        found.size() == 1 ? std::optional(ShapeName(found[0].shape)) : std::nullopt;
  }
  answers["how many objects are there?"] = NumberName(static_cast<int>(scene.objects.size()));
  for (Shape shape : kAllShapes) {
    for (Color color : kAllColors) {
      const auto found =
          objects_where([&](const Object& o) { return o.shape == shape && o.color == color; });
      answers["is there " + IndefiniteObjectName(shape, color) + "?"] =
          found.empty() ? "no" : "yes";
      answers["where is the " + ObjectName(shape, color) + "?"] =
          found.size() == 1 ? std::optional(CellName(found[0].cell)) : std::nullopt;
    }
  }
  return answers;
}

TEST(QuestionsTest, HandCheckedScene) {
  const Scene scene{{Make(Shape::kCircle, Color::kRed, {0, 0}),
                     Make(Shape::kSquare, Color::kBlue, {2, 2}),
                     Make(Shape::kSquare, Color::kRed, {0, 1})}};
  // Two squares: only the circle's colour can be asked.
  EXPECT_EQ(Questions(scene, QuestionKind::kColor),
            (std::vector<QuestionAnswer>{{"what color is the circle?", "red"}}));
  EXPECT_EQ(Questions(scene, QuestionKind::kShape),
            (std::vector<QuestionAnswer>{{"what shape is at the top left?", "circle"},
                                         {"what shape is at the top center?", "square"},
                                         {"what shape is at the bottom right?", "square"}}));
  EXPECT_EQ(Questions(scene, QuestionKind::kCount),
            (std::vector<QuestionAnswer>{{"how many objects are there?", "three"}}));
  EXPECT_EQ(Questions(scene, QuestionKind::kLocation),
            (std::vector<QuestionAnswer>{{"where is the red circle?", "top left"},
                                         {"where is the red square?", "top center"},
                                         {"where is the blue square?", "bottom right"}}));
  const std::vector<QuestionAnswer> exists = Questions(scene, QuestionKind::kExists);
  EXPECT_EQ(exists.size(), 18u);
  auto has = [&](const QuestionAnswer& qa) {
    return std::find(exists.begin(), exists.end(), qa) != exists.end();
  };
  EXPECT_TRUE(has({"is there a blue square?", "yes"}));
  EXPECT_TRUE(has({"is there a blue circle?", "no"}));
  EXPECT_TRUE(has({"is there an orange triangle?", "no"}));
  EXPECT_EQ(std::count_if(exists.begin(), exists.end(),
                          [](const QuestionAnswer& qa) { return qa.answer == "yes"; }),
            3);
}

TEST(QuestionsTest, AmbiguousQuestionsAreNotAsked) {
  const Scene scene{
      {Make(Shape::kCircle, Color::kRed, {0, 0}), Make(Shape::kCircle, Color::kRed, {1, 1})}};
  EXPECT_TRUE(Questions(scene, QuestionKind::kColor).empty());
  EXPECT_TRUE(Questions(scene, QuestionKind::kLocation).empty());
  Rng rng(1);
  for (int i = 0; i < 50; ++i) {
    const QuestionAnswer qa = SampleQuestion(scene, rng);
    EXPECT_NE(qa.question, "what color is the circle?");
    EXPECT_NE(qa.question, "where is the red circle?");
  }
}

TEST(QuestionsTest, QuestionsAreExactlyTheUnambiguousOnesAndAnsweredRight) {
  Rng rng(3);
  for (int i = 0; i < 500; ++i) {
    const Scene scene = SampleScene(rng);
    SCOPED_TRACE(CanonicalCaption(scene));
    const auto oracle = Oracle(scene);
    const std::vector<QuestionAnswer> all = AllQuestions(scene);
    for (const QuestionAnswer& qa : all) {
      const auto it = oracle.find(qa.question);
      ASSERT_NE(it, oracle.end()) << "not a question form: " << qa.question;
      EXPECT_EQ(it->second, qa.answer) << qa.question;
    }
    const auto answerable = std::count_if(
        oracle.begin(), oracle.end(), [](const auto& entry) { return entry.second.has_value(); });
    EXPECT_EQ(static_cast<size_t>(answerable), all.size());
    const QuestionAnswer sampled = SampleQuestion(scene, rng);
    EXPECT_NE(std::find(all.begin(), all.end(), sampled), all.end()) << sampled.question;
  }
}

TEST(QuestionsTest, SamplingCoversEveryKindAndBalancesYesNo) {
  Rng rng(5);
  std::map<std::string, int> first_words;
  int yes = 0, no = 0;
  for (int i = 0; i < 2000; ++i) {
    const ChatSample chat = SampleChat(Split::kTrain, rng);
    EXPECT_EQ(SplitOf(CanonicalCaption(chat.scene)), Split::kTrain);
    ++first_words[chat.qa.question.substr(0, chat.qa.question.find(' ', 5))];
    yes += chat.qa.answer == "yes";
    no += chat.qa.answer == "no";
  }
  EXPECT_EQ(first_words.size(), 5u);  // "what color", "what shape", "how many", "is there", "where"
  EXPECT_GT(yes, 0.4 * (yes + no));
  EXPECT_LT(yes, 0.6 * (yes + no));
}

}  // namespace
}  // namespace infusion::data::shapes
