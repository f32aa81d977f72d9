// Done-when 3 of the trainer: a run killed with SIGKILL after a checkpoint and resumed logs
// exactly the losses of an uninterrupted run, and ends with the same weights.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "engine/model/model_config.h"
#include "engine/model/transfusion_model.h"
#include "engine/weights/state_dict.h"
#include "gtest/gtest.h"
#include "tests/trainer/test_util.h"

namespace infusion {
namespace {

std::string Bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ResumeTest, KilledAndResumedEqualsUninterrupted) {
  const std::string dir = testing::FreshDir("resume");
  testing::Json config = testing::TinyConfig(dir + "/cache");
  config["checkpoint_every"] = 10;  // 60 steps
  config["ema_decay"] = 0.99;       // the EMA weights must survive the kill too
  config["samples"]["every"] = 0;
  const std::string config_path = dir + "/config.json";
  testing::WriteText(config_path, config.dump());
  const std::vector<std::string> threads = {"--threads", "1"};

  auto args = [&](std::vector<std::string> a) {
    a.insert(a.end(), threads.begin(), threads.end());
    return a;
  };
  ASSERT_EQ(testing::RunTrain(args({"--config", config_path, "--out", dir + "/whole"}),
                              dir + "/whole.log"),
            0);

  const std::string out = dir + "/killed";
  {
    testing::TrainProcess run(args({"--config", config_path, "--out", out}), dir + "/killed.log");
    while (!std::filesystem::exists(out + "/checkpoints/latest") && run.Running()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    run.Kill();
    const int status = run.Wait();
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the run ended before it could be killed";
  }
  ASSERT_FALSE(std::filesystem::exists(out + "/model.safetensors")) << "it had finished";
  // Resumed with no --config: the run reads the copy of its config in its output folder.
  ASSERT_EQ(testing::RunTrain(args({"--out", out, "--resume"}), dir + "/resumed.log"), 0);

  const auto whole = testing::ReadLog(dir + "/whole/train_log.jsonl");
  const auto resumed = testing::ReadLog(out + "/train_log.jsonl");
  ASSERT_EQ(whole.size(), 60u);
  ASSERT_EQ(resumed.size(), 60u);
  for (size_t i = 0; i < whole.size(); ++i) {
    for (const char* key : {"step", "loss", "loss_lm", "loss_diffusion", "grad_norm", "lr"}) {
      EXPECT_EQ(whole[i][key], resumed[i][key]) << key << " at step " << i + 1;
    }
  }
  EXPECT_TRUE(Bytes(dir + "/whole/model.safetensors") == Bytes(out + "/model.safetensors"));
}

// --export_to writes a checkpoint's EMA weights as a model directory that loads, without training.
TEST(ResumeTest, ExportsACheckpointAsAModelDirectory) {
  const std::string dir = testing::FreshDir("export");
  testing::Json config = testing::TinyConfig(dir + "/cache");
  config["steps"] = 20;
  config["checkpoint_every"] = 10;
  config["ema_decay"] = 0.99;
  config["samples"]["every"] = 0;
  const std::string config_path = dir + "/config.json";
  testing::WriteText(config_path, config.dump());
  const std::string run = dir + "/run";
  ASSERT_EQ(testing::RunTrain({"--config", config_path, "--out", run, "--threads", "1"},
                              dir + "/train.log"),
            0);
  const std::string model = dir + "/model-step10";
  ASSERT_EQ(testing::RunTrain({"--out", run, "--export_to", model, "--checkpoint", "step_000010",
                               "--threads", "1"},
                              dir + "/export.log"),
            0);
  // Exactly the checkpoint's EMA weights, under the model directory's names.
  auto ema = StateDict::Load(run + "/checkpoints/step_000010/ema.safetensors");
  auto exported = StateDict::Load(model + "/model.safetensors");
  ASSERT_TRUE(ema.ok()) << ema.status();
  ASSERT_TRUE(exported.ok()) << exported.status();
  ASSERT_EQ(ema->Names(), exported->Names());
  for (const std::string& name : ema->Names()) {
    EXPECT_TRUE(ema->Get(name)->equal(*exported->Get(name))) << name;
  }
  // Different from the final weights (trained 10 more steps), and a loadable model.
  auto final_weights = StateDict::Load(run + "/model.safetensors");
  ASSERT_TRUE(final_weights.ok()) << final_weights.status();
  bool any_differs = false;
  for (const std::string& name : ema->Names()) {
    any_differs |= !ema->Get(name)->equal(*final_weights->Get(name));
  }
  EXPECT_TRUE(any_differs);
  EXPECT_TRUE(LoadTransfusionModel(model).ok());
  // In float16: half the file, the same weights to float16's precision, still a loadable model.
  const std::string half = dir + "/model-f16";
  ASSERT_EQ(testing::RunTrain({"--out", run, "--export_to", half, "--checkpoint", "step_000010",
                               "--export_dtype", "f16", "--threads", "1"},
                              dir + "/export-f16.log"),
            0);
  const auto full_size = std::filesystem::file_size(model + "/model.safetensors");
  const auto half_size = std::filesystem::file_size(half + "/model.safetensors");
  EXPECT_LT(half_size, full_size * 0.52);
  auto halved = StateDict::Load(half + "/model.safetensors");
  ASSERT_TRUE(halved.ok()) << halved.status();
  for (const std::string& name : ema->Names()) {
    EXPECT_TRUE(at::allclose(*ema->Get(name), *halved->Get(name), /*rtol=*/1e-3, /*atol=*/1e-5))
        << name;
  }
  EXPECT_TRUE(LoadTransfusionModel(half).ok());
  // A checkpoint that does not exist is refused by name.
  testing::TrainProcess missing({"--out", run, "--export_to", dir + "/x", "--checkpoint",
                                 "step_999999", "--threads", "1"},
                                dir + "/missing.log");
  const int status = missing.Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
  EXPECT_FALSE(std::filesystem::exists(dir + "/x/model.safetensors"));

  // Sampling settings follow the run's config, not the checkpoint's: exported again with a config
  // that turns on zero-mean initial noise, the model directory says so; the weights are the same.
  auto first = ModelConfig::FromFile(model + "/config.json");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->diffusion.zero_mean_initial_noise);
  config["model"]["diffusion"]["zero_mean_initial_noise"] = true;
  const std::string changed_path = dir + "/config-zero-mean.json";
  testing::WriteText(changed_path, config.dump());
  const std::string resampled = dir + "/model-zero-mean";
  ASSERT_EQ(testing::RunTrain({"--config", changed_path, "--out", run, "--export_to", resampled,
                               "--checkpoint", "step_000010", "--threads", "1"},
                              dir + "/export-zero-mean.log"),
            0);
  auto second = ModelConfig::FromFile(resampled + "/config.json");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->diffusion.zero_mean_initial_noise);
  EXPECT_TRUE(Bytes(resampled + "/model.safetensors") == Bytes(model + "/model.safetensors"));
}

}  // namespace
}  // namespace infusion
