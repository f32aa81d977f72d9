// Done-when 3 of the trainer: a run killed with SIGKILL after a checkpoint and resumed logs
// exactly the losses of an uninterrupted run, and ends with the same weights.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

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

}  // namespace
}  // namespace infusion
