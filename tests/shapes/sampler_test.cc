#include "data/shapes/sampler.h"

#include <gtest/gtest.h>

#include <set>

#include "data/shapes/captioned_scene.h"
#include "data/shapes/edits.h"
#include "data/shapes/questions.h"

namespace infusion::data::shapes {
namespace {

// Everything a seed determines, written out so that two draws compare as text.
std::string Describe(const Scene& scene) {
  std::string text;
  for (const Object& o : scene.objects) {
    text += ObjectName(o.shape, o.color) + "@" + CellName(o.cell) + "/" + std::to_string(o.size) +
            "/" + std::to_string(o.dx) + "," + std::to_string(o.dy) + ";";
  }
  return text;
}

std::string DrawEverything(uint64_t seed) {
  Rng rng(seed);
  std::string text;
  for (int i = 0; i < 20; ++i) {
    text += Describe(SampleScene(rng)) + "\n";
    for (PromptCategory category : kAllCategories) {
      const CaptionedScene sample = SamplePrompt(category, Split::kTrain, rng);
      text += sample.caption + " = " + Describe(sample.scene) + "\n";
    }
    const ChatSample chat = SampleChat(Split::kEval, rng);
    text += Describe(chat.scene) + " " + chat.qa.question + " " + chat.qa.answer + "\n";
    const Edit edit = SampleEdit(Split::kTrain, rng);
    text += Describe(edit.source) + " " + edit.instruction + " " + Describe(edit.target) + "\n";
  }
  return text;
}

TEST(SamplerTest, SameSeedSameData) {
  EXPECT_EQ(DrawEverything(42), DrawEverything(42));
  EXPECT_NE(DrawEverything(42), DrawEverything(43));
}

TEST(SamplerTest, DataStreamIsPinned) {
  // std::mt19937_64 and integer reduction make this the same on every platform; a change here
  // changes every dataset drawn from a seed, so make it deliberately.
  Rng rng(1);
  EXPECT_EQ(Describe(SampleScene(rng)),
            "yellow circle@bottom left/14/-2,1;blue square@middle left/17/-1,1;"
            "yellow triangle@bottom center/13/-2,1;");
}

TEST(SamplerTest, ScenesCoverTheirRanges) {
  Rng rng(8);
  std::set<size_t> counts;
  std::set<int> sizes, jitters;
  std::set<std::pair<Shape, Color>> kinds;
  for (int i = 0; i < 3000; ++i) {
    const Scene scene = SampleScene(rng);
    ASSERT_TRUE(ValidateScene(scene).ok()) << Describe(scene);
    counts.insert(scene.objects.size());
    for (const Object& o : scene.objects) {
      sizes.insert(o.size);
      jitters.insert(o.dx);
      jitters.insert(o.dy);
      kinds.insert({o.shape, o.color});
    }
  }
  EXPECT_EQ(counts, (std::set<size_t>{1, 2, 3}));
  EXPECT_EQ(sizes, (std::set<int>{12, 13, 14, 15, 16, 17}));
  EXPECT_EQ(jitters, (std::set<int>{-2, -1, 0, 1, 2}));
  EXPECT_EQ(kinds.size(), 18u);
}

TEST(SamplerTest, SampleCellsAreDistinct) {
  Rng rng(9);
  for (int n = 0; n <= 9; ++n) {
    const std::vector<Cell> cells = SampleCells(n, rng);
    ASSERT_EQ(cells.size(), static_cast<size_t>(n));
    std::set<std::pair<int, int>> distinct;
    for (Cell cell : cells) distinct.insert({cell.row, cell.col});
    EXPECT_EQ(distinct.size(), cells.size());
  }
}

TEST(SamplerTest, RngStaysInRange) {
  Rng rng(10);
  std::set<int> seen;
  for (int i = 0; i < 1000; ++i) {
    const int value = rng.Between(-2, 1);
    ASSERT_GE(value, -2);
    ASSERT_LE(value, 1);
    seen.insert(value);
  }
  EXPECT_EQ(seen.size(), 4u);
}

}  // namespace
}  // namespace infusion::data::shapes
