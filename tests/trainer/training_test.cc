// Done-when 1 of the trainer: a tiny config trains for a few dozen steps and both losses fall;
// the run leaves a model directory the engine loads, and sample grids.
#include <cmath>
#include <numeric>

#include "engine/codec/image.h"
#include "engine/model/transfusion_model.h"
#include "gtest/gtest.h"
#include "tests/trainer/test_util.h"
#include "trainer/distributed.h"
#include "trainer/trainer.h"

namespace infusion::trainer {

using engine::Image;
using engine::LoadTransfusionModel;
using engine::ReadImageFile;
using engine::Tokenizer;
using engine::TransfusionModel;

namespace {

double Mean(const std::vector<testing::Json>& log, size_t begin, size_t end, const char* key) {
  double sum = 0;
  for (size_t i = begin; i < end; ++i) sum += log[i][key].get<double>();
  return sum / static_cast<double>(end - begin);
}

TEST(TrainingTest, BothLossesFallAndTheModelIsExported) {
  const std::string dir = testing::FreshDir("training");
  const std::string out = dir + "/out";
  // configs/train/tiny.json: 60 steps of 8 rows x 64 positions, U-Net patch layers, TAEF2
  // latents of 32 x 32 shapes images, a sample grid every 30 steps.
  absl::StatusOr<TrainConfig> config = TrainConfig::FromJson(
      testing::TinyConfig(std::string(INFUSION_BINARY_DIR) + "/tests/trainer/work/cache-training")
          .dump());
  ASSERT_TRUE(config.ok()) << config.status();
  auto distributed = *Distributed::Create({});
  TrainerOptions options;
  options.out_dir = out;
  options.show_progress = false;
  auto trainer = Trainer::Create(*config, options, *distributed);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  ASSERT_TRUE((*trainer)->Train().ok());

  const std::vector<testing::Json> log = testing::ReadLog(out + "/train_log.jsonl");
  ASSERT_EQ(log.size(), 60u);
  for (const char* key : {"step", "loss", "loss_lm", "loss_diffusion", "tokens_per_s", "lr"}) {
    EXPECT_TRUE(log[0].contains(key)) << key;
  }
  const double lm_first = Mean(log, 0, 10, "loss_lm"), lm_last = Mean(log, 50, 60, "loss_lm");
  const double diffusion_first = Mean(log, 0, 10, "loss_diffusion");
  const double diffusion_last = Mean(log, 50, 60, "loss_diffusion");
  // Measured here: lm 5.4 -> 1.0 (from ln 320 = 5.8, uniform over the vocabulary), diffusion
  // 1.06 -> 0.91 (from 1: predicting no noise at all).
  EXPECT_LT(lm_last, 0.5 * lm_first);
  EXPECT_LT(diffusion_last, 0.93 * diffusion_first);

  // The export is a model directory the engine loads, with statistics of the real latents.
  absl::StatusOr<TransfusionModel> model = LoadTransfusionModel(out);
  ASSERT_TRUE(model.ok()) << model.status();
  const std::vector<float>& std = (*model)->config().image.latent_std;
  EXPECT_NE(std[0], 1.0f);
  EXPECT_TRUE(Tokenizer::Load(out + "/tokenizer.model").ok());
  EXPECT_TRUE(std::filesystem::exists(out + "/generation.json"));
  EXPECT_TRUE(std::filesystem::exists(out + "/codec/taef2_decoder.safetensors"));

  // Sample grids at steps 30 and 60: two prompts side by side, two captioned images.
  for (const char* step : {"30", "60"}) {
    const std::string stem = out + "/samples/step_0000" + step;
    absl::StatusOr<Image> grid = ReadImageFile(stem + ".png");
    ASSERT_TRUE(grid.ok()) << grid.status();
    EXPECT_EQ(grid->width, 2 * 32 + 2);
    EXPECT_EQ(grid->height, 32);
    EXPECT_TRUE(ReadImageFile(stem + "_input.png").ok());
    std::ifstream text(stem + ".txt");
    std::stringstream contents;
    contents << text.rdbuf();
    EXPECT_NE(contents.str().find("2. two blue squares"), std::string::npos) << contents.str();
    EXPECT_NE(contents.str().find("captions of"), std::string::npos);
  }
}

// bf16_autocast with images in the batch: the U-Net's convolutions run in bfloat16 and its
// normalisations in float32, the patch embeddings enter the float32 sequence, and the tiny run
// still learns.
TEST(TrainingTest, Bf16AutocastTrainsWithImages) {
  const std::string dir = testing::FreshDir("training-bf16");
  testing::Json json =
      testing::TinyConfig(std::string(INFUSION_BINARY_DIR) + "/tests/trainer/work/cache-training");
  json["bf16_autocast"] = true;
  json["steps"] = 30;
  json["samples"]["every"] = 0;
  absl::StatusOr<TrainConfig> config = TrainConfig::FromJson(json.dump());
  ASSERT_TRUE(config.ok()) << config.status();
  auto distributed = *Distributed::Create({});
  TrainerOptions options;
  options.out_dir = dir + "/out";
  options.show_progress = false;
  auto trainer = Trainer::Create(*config, options, *distributed);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  const absl::Status trained = (*trainer)->Train();
  ASSERT_TRUE(trained.ok()) << trained;

  const std::vector<testing::Json> log = testing::ReadLog(options.out_dir + "/train_log.jsonl");
  ASSERT_EQ(log.size(), 30u);
  for (const testing::Json& line : log) {
    ASSERT_TRUE(std::isfinite(line["loss_diffusion"].get<double>())) << line.dump();
  }
  EXPECT_GT(log[0]["loss_diffusion"].get<double>(), 0.0);
  EXPECT_LT(Mean(log, 20, 30, "loss_lm"), 0.7 * Mean(log, 0, 10, "loss_lm"));
  EXPECT_TRUE(LoadTransfusionModel(options.out_dir).ok());
}

}  // namespace
}  // namespace infusion::trainer
