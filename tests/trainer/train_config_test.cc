#include "trainer/train_config.h"

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/trainer/test_util.h"
#include "trainer/distributed.h"
#include "trainer/trainer.h"

namespace infusion::trainer {
namespace {

using testing::Json;

std::string Source(const std::string& path) {
  return std::string(INFUSION_SOURCE_DIR) + "/" + path;
}

Json Tiny() { return testing::ReadJson(Source("configs/train/tiny.json")); }

// The message of parsing `config`, or "" when it parses.
std::string Error(const Json& config) {
  absl::StatusOr<TrainConfig> c = TrainConfig::FromJson(config.dump());
  return c.ok() ? "" : std::string(c.status().message());
}

TEST(TrainConfigTest, TheShippedConfigsParse) {
  for (const char* name : {"tiny", "shapes", "emoji"}) {
    absl::StatusOr<TrainConfig> c =
        TrainConfig::FromFile(Source("configs/train/") + name + ".json");
    EXPECT_TRUE(c.ok()) << name << ": " << c.status();
  }
}

// The stages of a recipe (configs/train/recipe/MODEL/*.json, run in name order by
// scripts/train.sh), read as the trainer reads them.
std::vector<std::pair<std::string, TrainConfig>> RecipeStages(const std::string& model) {
  std::vector<std::string> paths;
  for (const auto& entry :
       std::filesystem::directory_iterator(Source("configs/train/recipe/" + model))) {
    if (entry.path().extension() == ".json") paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<std::pair<std::string, TrainConfig>> stages;
  for (const std::string& path : paths) {
    absl::StatusOr<TrainConfig> c = TrainConfig::FromFile(path);
    EXPECT_TRUE(c.ok()) << path << ": " << c.status();
    if (c.ok()) stages.emplace_back(std::filesystem::path(path).filename().string(), *c);
  }
  return stages;
}

// Every stage parses, the first starts from random weights, and each later one describes the
// model its predecessor ends with, as Trainer::BuildModel checks before fine-tuning (objective
// and sampling may change, a position embedding may be added, nothing else): a recipe that
// would stop hours in, at a stage boundary, fails here instead.
TEST(TrainConfigTest, RecipeStagesChainIntoOneModel) {
  for (const char* model : {"shapes", "shapes-smoke"}) {
    SCOPED_TRACE(model);
    const std::vector<std::pair<std::string, TrainConfig>> stages = RecipeStages(model);
    ASSERT_FALSE(stages.empty());
    EXPECT_TRUE(stages.front().second.init_from.empty()) << stages.front().first;
    for (size_t i = 1; i < stages.size(); ++i) {
      const auto& [name, stage] = stages[i];
      EXPECT_TRUE(stage.init_from.empty()) << name << ": train.sh passes --init_from";
      const absl::StatusOr<engine::ModelConfig> tuned =
          FineTunedModel(stages[i - 1].second.model, stage.model);
      EXPECT_TRUE(tuned.ok()) << name << " " << tuned.status().message() << " ("
                              << stages[i - 1].first << ")";
    }
  }
}

TEST(TrainConfigTest, ReadsTheFields) {
  absl::StatusOr<TrainConfig> c = TrainConfig::FromJson(Tiny().dump());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->seq_len, 64);
  EXPECT_EQ(c->schedule.total_steps, 60);
  EXPECT_DOUBLE_EQ(c->schedule.peak_lr, 0.01);
  EXPECT_DOUBLE_EQ(c->schedule.min_lr, 0.001);  // 10% of lr unless given
  EXPECT_DOUBLE_EQ(c->diffusion_loss_weight, 5.0);
  EXPECT_DOUBLE_EQ(c->beta2, 0.95);
  EXPECT_TRUE(c->compute_latent_stats);  // tiny.json leaves the statistics out
  ASSERT_EQ(c->data.size(), 1u);
  EXPECT_EQ(c->data[0].kind, DataSourceConfig::Kind::kShapes);
  EXPECT_EQ(c->data[0].shapes.pool_size, 200);
  EXPECT_EQ(c->model.image.latent_mean.size(), 32u);
}

TEST(TrainConfigTest, ErrorsNameTheField) {
  Json c = Tiny();
  c["lerning_rate"] = 1;
  EXPECT_EQ(Error(c), "lerning_rate: unknown key");

  c = Tiny();
  c["steps"] = "ten";
  EXPECT_EQ(Error(c), "steps: expected an integer, got \"ten\"");

  c = Tiny();
  c["data"][0]["weight"] = -1;
  EXPECT_EQ(Error(c), "data[0].weight: must be > 0, got -1");

  c = Tiny();
  c["data"][0]["type"] = "video";
  EXPECT_NE(Error(c).find("data[0].type: expected \"shapes\", \"emoji\" or \"text\""),
            std::string::npos);

  c = Tiny();
  c["data"][0]["pool_sise"] = 10;
  EXPECT_EQ(Error(c), "data[0].pool_sise: unknown key");

  c = Tiny();
  c["samples"]["steps"] = 0;
  EXPECT_NE(Error(c).find("samples.steps"), std::string::npos);

  c = Tiny();
  c["adam_betas"] = {0.9};
  EXPECT_NE(Error(c).find("adam_betas"), std::string::npos);

  c = Tiny();
  c["model"]["num_attention_heads"] = 5;  // 32 is not a multiple of 5
  EXPECT_NE(Error(c).find("model"), std::string::npos);

  c = Tiny();
  c["seq_len"] = 1000;  // more than max_position_embeddings
  EXPECT_NE(Error(c).find("seq_len"), std::string::npos);

  c = Tiny();
  c["model"]["image"]["latent_mean"] = std::vector<float>(32, 0.0f);
  EXPECT_NE(Error(c).find("latent_std"), std::string::npos);

  c = Tiny();
  c.erase("data");
  EXPECT_NE(Error(c).find("data: is required"), std::string::npos);
}

TEST(TrainConfigTest, MissingFilesAreNamed) {
  absl::StatusOr<TrainConfig> c = TrainConfig::FromFile("/nonexistent/train.json");
  EXPECT_NE(c.status().message().find("/nonexistent/train.json"), std::string::npos);
  Json j = Tiny();
  j["model"] = "/nonexistent/config.json";
  EXPECT_NE(Error(j).find("/nonexistent/config.json"), std::string::npos);
}

// Problems with the data or the output folder stop a run before any work, naming what is wrong.
class TrainerCreateTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::FreshDir("trainer_create"); }

  std::string CreateError(const Json& json, const std::string& out, bool resume = false) {
    absl::StatusOr<TrainConfig> config = TrainConfig::FromJson(json.dump());
    EXPECT_TRUE(config.ok()) << config.status();
    auto distributed = *Distributed::Create({});
    TrainerOptions options;
    options.out_dir = out;
    options.resume = resume;
    auto trainer = Trainer::Create(*config, options, *distributed);
    return trainer.ok() ? "" : std::string(trainer.status().message());
  }
  Json Config() { return testing::TinyConfig(dir_ + "/cache"); }

  std::string dir_;
};

TEST_F(TrainerCreateTest, MissingTextFile) {
  Json c = Config();
  c["data"] = {{{"type", "text"}, {"files", {dir_ + "/no.txt"}}}};
  EXPECT_EQ(CreateError(c, dir_ + "/out"), "data[0]: text data: cannot read " + dir_ + "/no.txt");
}

TEST_F(TrainerCreateTest, MissingEmojiPackage) {
  Json c = Config();
  c["data"] = {{{"type", "emoji"}, {"dir", dir_ + "/emoji"}}};
  EXPECT_NE(CreateError(c, dir_ + "/out")
                .find("data[0]: emoji data: cannot read " + dir_ + "/emoji/emoji.json"),
            std::string::npos);
}

TEST_F(TrainerCreateTest, UnwritableOutputFolder) {
  testing::WriteText(dir_ + "/file", "not a folder");
  EXPECT_NE(CreateError(Config(), dir_ + "/file/out")
                .find("cannot write to the output folder " + dir_ + "/file/out"),
            std::string::npos);
}

TEST_F(TrainerCreateTest, MissingCodecWeights) {
  Json c = Config();
  c["codec_dir"] = dir_ + "/no-codec";
  EXPECT_NE(CreateError(c, dir_ + "/out").find("codec_dir"), std::string::npos);
}

TEST_F(TrainerCreateTest, AFreshRunDoesNotOverwriteAnother) {
  std::filesystem::create_directories(dir_ + "/out/checkpoints/step_000010");
  testing::WriteText(dir_ + "/out/checkpoints/latest", "step_000010\n");
  EXPECT_NE(CreateError(Config(), dir_ + "/out").find("continue it with --resume"),
            std::string::npos);
}

TEST_F(TrainerCreateTest, NothingToResume) {
  EXPECT_NE(
      CreateError(Config(), dir_ + "/out", /*resume=*/true).find("no checkpoint to resume from"),
      std::string::npos);
}

TEST(DistributedTest, OptionsNameTheFlag) {
  DistributedOptions o;
  o.world_size = 2;
  o.rank = 2;
  EXPECT_EQ(o.Validate().message(), "--rank must be in [0, 2), got 2");
  o.rank = 0;
  o.master_port = 70000;
  EXPECT_EQ(o.Validate().message(), "--master_port must be in [1, 65535], got 70000");
  o.master_port = 29500;
  EXPECT_TRUE(o.Validate().ok());
}

TEST(DistributedTest, OneProcessNeedsNoGroup) {
  auto d = Distributed::Create({});
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE((*d)->is_main());
  at::Tensor t = at::tensor({1.0, 2.0});
  (*d)->AllReduceSum(t);
  EXPECT_TRUE(at::equal(t, at::tensor({1.0, 2.0})));
}

}  // namespace
}  // namespace infusion::trainer
