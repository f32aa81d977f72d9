// The shapes benchmark's task set and scoring: a perfect model scores 1 in every category and
// task, a blank one 0, and one that swaps colours fails exactly the category that tests colour
// binding (GenEval's color_attribution) while the categories blind to it still pass.
#include "clients/eval/shapes_benchmark.h"

#include <gtest/gtest.h>

#include "data/shapes/prompt_spec.h"
#include "data/shapes/split.h"
#include "tests/eval/oracle_generator.h"

namespace infusion::eval {

using engine::Image;
using engine::ResizeImage;
namespace shapes = data::shapes;

namespace {

using shapes::Cell;
using shapes::Color;
using shapes::PromptCategory;
using shapes::Shape;

ShapesBenchmarkOptions SmallOptions() {
  ShapesBenchmarkOptions o;
  o.prompts_per_category = 10;
  o.captions = 20;
  o.questions = 40;
  o.edits = 40;
  o.seed = 7;
  o.grid_samples = 4;
  return o;
}

// White images and empty text: nothing detected, nothing parsed.
class BlankGenerator : public Generator {
 public:
  absl::StatusOr<std::vector<Image>> TextToImage(const std::vector<TextToImageTask>& t) override {
    return std::vector<Image>(t.size(), White());
  }
  absl::StatusOr<std::vector<std::string>> Caption(const std::vector<CaptionTask>& t) override {
    return std::vector<std::string>(t.size());
  }
  absl::StatusOr<std::vector<std::string>> Chat(const std::vector<ChatTask>& t) override {
    return std::vector<std::string>(t.size());
  }
  absl::StatusOr<std::vector<Image>> Edit(const std::vector<EditTask>& t) override {
    return std::vector<Image>(t.size(), White());
  }

 private:
  static Image White() { return Image{32, 32, std::vector<uint8_t>(32 * 32 * 3, 255)}; }
};

// Draws the right objects with the colours of the first two exchanged.
class ColorSwappingGenerator : public OracleGenerator {
 public:
  using OracleGenerator::OracleGenerator;

 protected:
  shapes::Scene Alter(shapes::Scene scene) const override {
    if (scene.objects.size() >= 2) std::swap(scene.objects[0].color, scene.objects[1].color);
    return scene;
  }
};

TEST(ShapesTaskSetTest, DrawsEveryCategoryFromTheEvalSplitOnly) {
  const ShapesTaskSet t = MakeShapesTaskSet(SmallOptions());
  ASSERT_EQ(t.prompts.size(), 60u);
  ASSERT_EQ(t.prompt_seeds.size(), 60u);
  for (size_t i = 0; i < t.prompts.size(); ++i) {
    EXPECT_EQ(shapes::Category(t.prompts[i].spec), shapes::kAllCategories[i / 10]) << i;
    EXPECT_EQ(shapes::SplitOf(t.prompts[i].caption), shapes::Split::kEval) << t.prompts[i].caption;
  }
  ASSERT_EQ(t.captioning.size(), 20u);
  for (const auto& c : t.captioning) EXPECT_EQ(shapes::SplitOf(c.caption), shapes::Split::kEval);
  ASSERT_EQ(t.chats.size(), 40u);
  for (const auto& c : t.chats) {
    EXPECT_EQ(shapes::SplitOf(shapes::CanonicalCaption(c.scene)), shapes::Split::kEval);
  }
  ASSERT_EQ(t.edits.size(), 40u);
  ASSERT_EQ(t.edit_seeds.size(), 40u);
  for (const auto& e : t.edits) {
    EXPECT_EQ(shapes::SplitOf(shapes::CanonicalCaption(e.source) + " | " + e.instruction),
              shapes::Split::kEval);
  }
}

TEST(ShapesTaskSetTest, IsFixedBySeedAndPrefixStable) {
  ShapesBenchmarkOptions small = SmallOptions();
  small.prompts_per_category = 3;
  small.captions = 5;
  const ShapesTaskSet a = MakeShapesTaskSet(small);
  const ShapesTaskSet b = MakeShapesTaskSet(SmallOptions());
  for (int c = 0; c < kNumCategories; ++c) {
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(a.prompts[c * 3 + i].caption, b.prompts[c * 10 + i].caption);
      EXPECT_EQ(a.prompt_seeds[c * 3 + i], b.prompt_seeds[c * 10 + i]);
    }
  }
  for (int i = 0; i < 5; ++i) EXPECT_EQ(a.captioning[i].caption, b.captioning[i].caption);
  // The other lists do not depend on these counts.
  EXPECT_EQ(a.chats.front().qa.question, b.chats.front().qa.question);
  EXPECT_EQ(a.edits.back().instruction, b.edits.back().instruction);

  ShapesBenchmarkOptions other = SmallOptions();
  other.seed = 8;
  const ShapesTaskSet c = MakeShapesTaskSet(other);
  EXPECT_NE(c.prompt_seeds, b.prompt_seeds);
}

TEST(ShapesScoringTest, ImageSatisfiesIsTheDetectorAgainstThePrompt) {
  shapes::Scene scene;
  scene.objects.push_back({Shape::kCircle, Color::kRed, Cell{0, 0}, 14, 1, -1});
  scene.objects.push_back({Shape::kSquare, Color::kBlue, Cell{2, 2}, 16, 0, 2});
  const Image image = RenderScene(scene);
  auto check = [&](const char* prompt) {
    absl::StatusOr<shapes::PromptSpec> spec = shapes::ParsePrompt(prompt);
    EXPECT_TRUE(spec.ok()) << prompt;
    absl::StatusOr<bool> ok = ImageSatisfies(*spec, image);
    EXPECT_TRUE(ok.ok());
    return *ok;
  };
  EXPECT_TRUE(check("a red circle and a blue square"));
  EXPECT_TRUE(check("a red circle above a blue square"));
  EXPECT_TRUE(check("a red circle at the top left and a blue square at the bottom right"));
  EXPECT_FALSE(check("a red circle"));  // an extra object fails
  EXPECT_FALSE(check("a blue circle and a red square"));
  EXPECT_FALSE(check("a red circle below a blue square"));
  // Images of another size are scored at the detector's 64×64.
  const Image large = ResizeImage(image, 128, 128);
  absl::StatusOr<bool> ok =
      ImageSatisfies(*shapes::ParsePrompt("a red circle and a blue square"), large);
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(*ok);
}

TEST(ShapesScoringTest, CaptionMetricsSumPerObject) {
  const std::vector<shapes::ObjectLabel> truth = {{Shape::kCircle, Color::kRed, Cell{0, 0}},
                                                  {Shape::kSquare, Color::kBlue, Cell{2, 2}}};
  CaptionMetrics m;
  m.Add(shapes::ScoreCaption("a red circle at the top left and a blue square at the bottom right",
                             truth));
  m.Add(shapes::ScoreCaption(" a red circle at the top left and a green square at the bottom right",
                             truth));
  m.Add(shapes::ScoreCaption("two red circles", truth));  // not of the canonical form
  EXPECT_EQ(m.images, 3);
  EXPECT_EQ(m.objects, 6);
  EXPECT_EQ(m.parsed, 2);
  EXPECT_EQ(m.exact, 1);
  EXPECT_EQ(m.count, 2);
  EXPECT_EQ(m.shape, 4);
  EXPECT_EQ(m.color, 3);
  EXPECT_EQ(m.position, 4);
  const Json j = m.ToJson();
  EXPECT_DOUBLE_EQ(j["exact_match"].get<double>(), 1.0 / 3);
  EXPECT_DOUBLE_EQ(j["color"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["shape"].get<double>(), 4.0 / 6);
}

TEST(ShapesScoringTest, PlacementScoresRowsAndColumnsApart) {
  const shapes::PromptSpec spec =
      *shapes::ParsePrompt("a red circle at the top left and a blue square at the bottom right");
  PlacementMetrics m;
  // Both drawn, the circle in the right row but the wrong column, the square in neither.
  m.Add(spec,
        {{Shape::kCircle, Color::kRed, Cell{0, 2}}, {Shape::kSquare, Color::kBlue, Cell{1, 1}}});
  // The circle exactly right (a second red circle elsewhere does not hurt); no blue square.
  m.Add(spec, {{Shape::kCircle, Color::kRed, Cell{2, 2}},
               {Shape::kCircle, Color::kRed, Cell{0, 0}},
               {Shape::kSquare, Color::kRed, Cell{2, 2}}});
  // Unplaced objects are not counted.
  m.Add(*shapes::ParsePrompt("a red circle and a blue square"), {});
  EXPECT_EQ(m.objects, 4);
  EXPECT_EQ(m.found, 3);
  EXPECT_EQ(m.row, 2);
  EXPECT_EQ(m.column, 1);
  const Json j = m.ToJson();
  EXPECT_EQ(j["objects"].get<int>(), 4);
  EXPECT_DOUBLE_EQ(j["found"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(j["column"].get<double>(), 0.25);
}

TEST(ShapesScoringTest, AnswersMatchExactlyUpToSurroundingWhitespace) {
  EXPECT_TRUE(AnswerMatches("red", "red"));
  EXPECT_TRUE(AnswerMatches(" red\n", "red"));
  EXPECT_FALSE(AnswerMatches("Red", "red"));
  EXPECT_FALSE(AnswerMatches("red.", "red"));
  EXPECT_FALSE(AnswerMatches("", "red"));
}

TEST(ShapesScoringTest, QuestionKindOfFindsTheForm) {
  shapes::Scene scene;
  scene.objects.push_back({Shape::kCircle, Color::kRed, Cell{0, 0}, 14, 0, 0});
  EXPECT_EQ(QuestionKindOf(scene, "what color is the circle?"), shapes::QuestionKind::kColor);
  EXPECT_EQ(QuestionKindOf(scene, "what shape is at the top left?"), shapes::QuestionKind::kShape);
  EXPECT_EQ(QuestionKindOf(scene, "how many objects are there?"), shapes::QuestionKind::kCount);
  EXPECT_EQ(QuestionKindOf(scene, "is there a blue square?"), shapes::QuestionKind::kExists);
  EXPECT_EQ(QuestionKindOf(scene, "where is the red circle?"), shapes::QuestionKind::kLocation);
}

TEST(ShapesBenchmarkTest, PerfectModelScoresOneEverywhere) {
  const ShapesBenchmarkOptions options = SmallOptions();
  const ShapesTaskSet tasks = MakeShapesTaskSet(options);
  OracleGenerator oracle(tasks);
  absl::StatusOr<ShapesResults> r = RunShapesBenchmark(tasks, options, oracle);
  ASSERT_TRUE(r.ok()) << r.status();
  for (PromptCategory c : shapes::kAllCategories) {
    const Accuracy& a = r->categories[static_cast<int>(c)];
    EXPECT_EQ(a.total, 10) << shapes::CategoryName(c);
    EXPECT_EQ(a.correct, 10) << shapes::CategoryName(c);
  }
  EXPECT_DOUBLE_EQ(r->overall(), 1.0);
  EXPECT_GE(r->placement.objects, 10);  // every position prompt places at least one object
  EXPECT_EQ(r->placement.row, r->placement.objects);
  EXPECT_EQ(r->placement.column, r->placement.objects);
  EXPECT_EQ(r->captioning.images, 20);
  EXPECT_EQ(r->captioning.exact, 20);
  EXPECT_EQ(r->captioning.color, r->captioning.objects);
  EXPECT_EQ(r->chat.total, 40);
  EXPECT_EQ(r->chat.correct, 40);
  EXPECT_EQ(r->edits.total, 40);
  EXPECT_EQ(r->edits.correct, 40);
  int chat_kinds = 0, edit_kinds = 0;
  for (const Accuracy& a : r->chat_kinds) chat_kinds += a.total;
  for (const Accuracy& a : r->edit_kinds) edit_kinds += a.total;
  EXPECT_EQ(chat_kinds, 40);
  EXPECT_EQ(edit_kinds, 40);

  // One grid per category, then the edits; each holds grid_samples images marked correct.
  ASSERT_EQ(r->grids.size(), static_cast<size_t>(kNumCategories) + 1);
  EXPECT_EQ(r->grids.front().name, "single_object");
  EXPECT_EQ(r->grids.back().name, "edits");
  for (const SampleGrid& g : r->grids) {
    ASSERT_EQ(g.cells.size(), 4u) << g.name;
    EXPECT_TRUE(*g.cells[0].correct);
  }
  EXPECT_EQ(r->grids.back().cells[0].image.width, 128);  // source | result

  const Json j = r->ToJson();
  EXPECT_DOUBLE_EQ(j["text_to_image"]["overall"].get<double>(), 1.0);
  EXPECT_EQ(j["text_to_image"]["categories"].size(), 6u);
  EXPECT_DOUBLE_EQ(j["captioning"]["exact_match"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["chat"]["accuracy"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["edits"]["accuracy"].get<double>(), 1.0);
  EXPECT_TRUE(r->chat_mistakes.empty());
  EXPECT_TRUE(r->caption_mistakes.empty());
  EXPECT_TRUE(j["chat"]["mistakes"].empty());
}

TEST(ShapesBenchmarkTest, BlankModelScoresZeroEverywhere) {
  const ShapesBenchmarkOptions options = SmallOptions();
  BlankGenerator blank;
  absl::StatusOr<ShapesResults> r = RunShapesBenchmark(MakeShapesTaskSet(options), options, blank);
  ASSERT_TRUE(r.ok()) << r.status();
  for (const Accuracy& a : r->categories) {
    EXPECT_EQ(a.total, 10);
    EXPECT_EQ(a.correct, 0);
  }
  EXPECT_DOUBLE_EQ(r->overall(), 0.0);
  EXPECT_EQ(r->placement.found, 0);
  EXPECT_EQ(r->captioning.parsed, 0);
  EXPECT_EQ(r->captioning.exact, 0);
  EXPECT_EQ(r->chat.correct, 0);
  EXPECT_EQ(r->edits.correct, 0);
  EXPECT_FALSE(*r->grids.front().cells.front().correct);

  // Every wrong text is kept, with what was asked and what was expected.
  const ShapesTaskSet tasks = MakeShapesTaskSet(options);
  ASSERT_EQ(r->chat_mistakes.size(), 40u);
  ASSERT_EQ(r->caption_mistakes.size(), 20u);
  const TextMistake& first = r->chat_mistakes.front();
  EXPECT_EQ(first.image, shapes::CanonicalCaption(tasks.chats.front().scene));
  EXPECT_EQ(first.question, tasks.chats.front().qa.question);
  EXPECT_EQ(first.expected, tasks.chats.front().qa.answer);
  EXPECT_EQ(first.got, "");
  EXPECT_EQ(r->caption_mistakes.back().expected,
            shapes::CanonicalCaption(tasks.captioning.back().scene));
  const Json j = r->ToJson();
  ASSERT_EQ(j["chat"]["mistakes"].size(), 40u);
  EXPECT_EQ(j["chat"]["mistakes"][0]["question"], first.question);
  ASSERT_EQ(j["captioning"]["mistakes"].size(), 20u);
  EXPECT_FALSE(j["captioning"]["mistakes"][0].contains("question"));
}

TEST(ShapesBenchmarkTest, SwappedColoursFailOnlyColourBinding) {
  ShapesBenchmarkOptions options = SmallOptions();
  options.captions = options.questions = options.edits = 0;
  const ShapesTaskSet tasks = MakeShapesTaskSet(options);
  ColorSwappingGenerator swapping(tasks);
  absl::StatusOr<ShapesResults> r = RunShapesBenchmark(tasks, options, swapping);
  ASSERT_TRUE(r.ok()) << r.status();
  auto accuracy = [&](PromptCategory c) { return r->categories[static_cast<int>(c)].value(); };
  // "a red circle and a blue square" drawn as a blue circle and a red square.
  EXPECT_DOUBLE_EQ(accuracy(PromptCategory::kColorAttribution), 0.0);
  // One object, identical objects, or two sharing colour or shape: the same objects either way.
  EXPECT_DOUBLE_EQ(accuracy(PromptCategory::kSingleObject), 1.0);
  EXPECT_DOUBLE_EQ(accuracy(PromptCategory::kCounting), 1.0);
  EXPECT_DOUBLE_EQ(accuracy(PromptCategory::kTwoObjects), 1.0);
  EXPECT_EQ(r->captioning.images, 0);
  EXPECT_EQ(r->grids.size(), static_cast<size_t>(kNumCategories));  // no edits grid
}

}  // namespace
}  // namespace infusion::eval
