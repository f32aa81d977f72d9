#include <ATen/ATen.h>

#include <map>
#include <set>

#include "data/shapes/prompt_spec.h"
#include "data/shapes/questions.h"
#include "data/shapes/split.h"
#include "data/text/text_dataset.h"
#include "gtest/gtest.h"
#include "tests/trainer/test_util.h"
#include "trainer/data_mix.h"
#include "trainer/latent_cache.h"
#include "trainer/shapes_dataset.h"

namespace infusion::trainer {

using data::Dataset;
using data::Example;
using data::ExampleKind;
using data::TextDataOptions;
using data::TextDataset;
using engine::Image;
using engine::Rng;
namespace shapes = data::shapes;

namespace {

using testing::FreshDir;
using testing::WriteText;

TEST(ShapesDatasetTest, PoolOfEveryTaskFromTheTrainSplit) {
  ShapesDataOptions options;
  options.pool_size = 400;
  auto dataset = *ShapesDataset::Create(options);
  ASSERT_EQ(dataset->size(), 400);
  std::map<ExampleKind, int> kinds;
  int64_t images = 0;
  Rng rng(0);
  for (int64_t i = 0; i < dataset->size(); ++i) {
    const Example e = dataset->Get(i, rng);
    ++kinds[e.kind];
    images += static_cast<int64_t>(e.images.size());
    for (int64_t image : e.images) EXPECT_LT(image, dataset->num_images());
    switch (e.kind) {
      case ExampleKind::kCaptionFirst:
        EXPECT_EQ(shapes::SplitOf(e.text), shapes::Split::kTrain) << e.text;
        EXPECT_TRUE(shapes::ParsePrompt(e.text).ok()) << e.text;
        break;
      case ExampleKind::kImageFirst:  // captioning targets are canonical captions
        EXPECT_TRUE(shapes::ParseCanonicalCaption(e.text).ok()) << e.text;
        EXPECT_EQ(shapes::SplitOf(e.text), shapes::Split::kTrain) << e.text;
        break;
      case ExampleKind::kChat:
        EXPECT_FALSE(e.prompt.empty());
        EXPECT_FALSE(e.text.empty());
        break;
      case ExampleKind::kEdit:
        EXPECT_EQ(e.images.size(), 2u);
        EXPECT_FALSE(e.prompt.empty());
        break;
      case ExampleKind::kText:
        ADD_FAILURE() << "shapes has no plain text";
    }
  }
  EXPECT_EQ(images, dataset->num_images());
  // Default shares: 15% chat, 15% edit, the rest pairs of which 20% go image first.
  EXPECT_NEAR(kinds[ExampleKind::kChat], 60, 20);
  EXPECT_NEAR(kinds[ExampleKind::kEdit], 60, 20);
  EXPECT_NEAR(kinds[ExampleKind::kImageFirst], 56, 20);
  const absl::StatusOr<Image> image = dataset->LoadImage(0);
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->width, 64);
}

TEST(ShapesDatasetTest, TheSeedNamesThePool) {
  ShapesDataOptions options;
  options.pool_size = 30;
  auto a = *ShapesDataset::Create(options), b = *ShapesDataset::Create(options);
  EXPECT_EQ(a->ImagesKey(), b->ImagesKey());
  options.seed = 2;
  EXPECT_NE(a->ImagesKey(), (*ShapesDataset::Create(options))->ImagesKey());
  options.chat = 0.9;
  EXPECT_NE(ShapesDataset::Create(options).status().message().find("chat + edit"),
            std::string::npos);
}

TEST(ShapesDatasetTest, ChatTurnsAskDistinctRightlyAnsweredQuestionsOfTheScene) {
  ShapesDataOptions options;
  options.pool_size = 200;
  options.chat = 1.0;
  options.edit = 0.0;
  options.chat_turns = 4;
  auto dataset = *ShapesDataset::Create(options);
  Rng rng(3);
  std::map<size_t, int> turns;  // questions per draw -> draws
  for (int pass = 0; pass < 2; ++pass) {
    for (int64_t i = 0; i < dataset->size(); ++i) {
      const Example e = dataset->Get(i, rng);
      ASSERT_EQ(e.kind, ExampleKind::kChat);
      ++turns[1 + e.follow_ups.size()];
      const shapes::Scene& scene = dataset->scene(e.images[0]);
      std::set<std::string> asked = {e.prompt};
      for (const auto& [question, answer] : e.follow_ups) {
        EXPECT_TRUE(asked.insert(question).second) << "asked twice: " << question;
        bool found = false;  // the pair is one of the scene's questions with its answer
        for (shapes::QuestionKind kind : shapes::kAllQuestionKinds) {
          for (const shapes::QuestionAnswer& qa : shapes::Questions(scene, kind)) {
            found |= qa.question == question && qa.answer == answer;
          }
        }
        EXPECT_TRUE(found) << question << " -> " << answer;
      }
    }
  }
  // 1..4 questions, uniformly: 100 of 400 draws each.
  ASSERT_EQ(turns.size(), 4u);
  for (size_t n = 1; n <= 4; ++n) EXPECT_NEAR(turns[n], 100, 35) << n << " questions";
  // The first question is the pool's; the images and so the latent cache key are unchanged.
  options.chat_turns = 1;
  auto single = *ShapesDataset::Create(options);
  EXPECT_EQ(single->ImagesKey(), dataset->ImagesKey());
  EXPECT_EQ(single->Get(7, rng).prompt, dataset->Get(7, rng).prompt);
  EXPECT_TRUE(single->Get(7, rng).follow_ups.empty());
  options.chat_turns = 0;
  EXPECT_NE(ShapesDataset::Create(options).status().message().find("chat_turns"),
            std::string::npos);
}

TEST(DataMixTest, DrawsByWeightAndNumbersImagesAcrossDatasets) {
  const std::string dir = FreshDir("mix");
  WriteText(dir + "/t.txt", "one line\n");
  ShapesDataOptions shapes;
  shapes.pool_size = 20;
  TextDataOptions text;
  text.files = {dir + "/t.txt"};
  text.held_out_lines = 0;
  std::vector<std::unique_ptr<Dataset>> datasets;
  datasets.push_back(*TextDataset::Create(text, dir));
  datasets.push_back(*ShapesDataset::Create(shapes));
  const int64_t shapes_images = datasets[1]->num_images();
  DataMix mix(std::move(datasets), {3.0, 1.0});
  EXPECT_EQ(mix.image_offset(1), 0);
  EXPECT_EQ(mix.num_images(), shapes_images);
  Rng rng(0);
  int text_draws = 0;
  for (int i = 0; i < 2000; ++i) {
    const Example e = mix.Draw(rng);
    text_draws += e.kind == ExampleKind::kText;
    for (int64_t image : e.images) EXPECT_LT(image, mix.num_images());
  }
  EXPECT_NEAR(text_draws, 1500, 80);
}

TEST(LatentStatsTest, PerChannelOverImagesAndCells) {
  // Channel 0 holds 1, 3, 5, 7 (mean 4, std sqrt(5)); channel 1 is constant.
  const at::Tensor latents =
      at::tensor({1.f, 3.f, 2.f, 2.f, 5.f, 7.f, 2.f, 2.f}).view({2, 2, 1, 2});
  const LatentStats stats = ComputeLatentStats(latents);
  EXPECT_FLOAT_EQ(stats.mean[0], 4.0f);
  EXPECT_FLOAT_EQ(stats.std[0], std::sqrt(5.0f));
  EXPECT_FLOAT_EQ(stats.mean[1], 2.0f);
  EXPECT_GT(stats.std[1], 0.0f);  // a config needs it positive
  EXPECT_LT(stats.std[1], 1e-5f);
}

}  // namespace
}  // namespace infusion::trainer
