#include "trainer/checkpoint.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "tests/trainer/test_util.h"
#include "trainer/ema.h"

namespace infusion::trainer {

using engine::ModelConfig;

namespace {

namespace fs = std::filesystem;

ModelConfig SomeConfig() {
  ModelConfig c;
  c.vocab_size = 16;
  c.hidden_size = 8;
  c.intermediate_size = 16;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 2;
  c.image.latent_mean.assign(32, 0.5f);
  c.image.latent_std.assign(32, 2.0f);
  return c;
}

// One AdamW step on a linear layer, so that the optimiser has moments to save.
void Step(torch::nn::Linear& layer, torch::optim::AdamW& optimizer, float x) {
  optimizer.zero_grad();
  layer(at::full({2, 3}, x)).pow(2).sum().backward();
  optimizer.step();
}

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshDir("checkpoint");
    testing::WriteText(dir_ + "/tokenizer.model", "tokenizer bytes");
  }
  std::string dir_;
};

TEST_F(CheckpointTest, RestoresWeightsEmaAndOptimizerExactly) {
  torch::manual_seed(0);
  torch::nn::Linear layer(3, 2);
  torch::optim::AdamW optimizer(layer->parameters(), torch::optim::AdamWOptions(0.1));
  Ema ema(*layer, 0.9);
  Step(layer, optimizer, 1.0f);
  ema.Update(*layer, 0);
  const Checkpointer checkpointer(dir_ + "/checkpoints", 2);
  ASSERT_TRUE(
      checkpointer.Save({1, 42}, SomeConfig(), dir_ + "/tokenizer.model", *layer, &ema, optimizer)
          .ok());

  // Continue the original for one step; a copy restored from the checkpoint must match it.
  Step(layer, optimizer, 2.0f);
  torch::manual_seed(1);  // other initial weights
  torch::nn::Linear copy(3, 2);
  torch::optim::AdamW copy_optimizer(copy->parameters(), torch::optim::AdamWOptions(0.1));
  Ema copy_ema(*copy, 0.9);
  absl::StatusOr<std::string> latest = checkpointer.Latest();
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(*latest, dir_ + "/checkpoints/step_000001");
  absl::StatusOr<TrainingState> state =
      Checkpointer::Load(*latest, *copy, &copy_ema, copy_optimizer);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->step, 1);
  EXPECT_EQ(state->seed, 42u);
  EXPECT_TRUE(at::equal(copy_ema.tensors()[0].second, ema.tensors()[0].second));
  Step(copy, copy_optimizer, 2.0f);
  EXPECT_TRUE(at::equal(copy->weight, layer->weight));
  EXPECT_TRUE(at::equal(copy->bias, layer->bias));

  absl::StatusOr<ModelConfig> config = Checkpointer::LoadConfig(*latest);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->image.latent_std[5], 2.0f);
  EXPECT_TRUE(fs::exists(Checkpointer::TokenizerPath(*latest)));
}

TEST_F(CheckpointTest, KeepsTheNewestAndIgnoresUnfinishedOnes) {
  torch::nn::Linear layer(3, 2);
  torch::optim::AdamW optimizer(layer->parameters(), torch::optim::AdamWOptions(0.1));
  const Checkpointer checkpointer(dir_ + "/checkpoints", 2);
  for (int64_t step : {10, 20, 30}) {
    Step(layer, optimizer, 1.0f);
    ASSERT_TRUE(
        checkpointer
            .Save({step, 0}, SomeConfig(), dir_ + "/tokenizer.model", *layer, nullptr, optimizer)
            .ok());
  }
  EXPECT_FALSE(fs::exists(dir_ + "/checkpoints/step_000010"));
  EXPECT_TRUE(fs::exists(dir_ + "/checkpoints/step_000020"));
  // What a process killed mid-write leaves: a temporary folder, never named in `latest`.
  fs::create_directories(dir_ + "/checkpoints/.tmp-step_000040");
  EXPECT_EQ(*checkpointer.Latest(), dir_ + "/checkpoints/step_000030");
}

// What the hook throws: dying at that point of the write (nothing after it runs; Save has no
// clean-up on unwinding, so the folder holds what a killed process leaves).
struct Crash {};

// The weights of `layer`, copied.
std::vector<at::Tensor> Weights(torch::nn::Linear& layer) {
  return {layer->weight.detach().clone(), layer->bias.detach().clone()};
}

// A write killed at any of its points leaves `latest` naming a complete checkpoint that loads:
// the previous one before `latest` is rewritten, the new one from then on. Both when the new
// checkpoint has a new name and when it replaces the one `latest` names (a run resumed from an
// older checkpoint writes the same steps again).
TEST_F(CheckpointTest, AWriteKilledAtAnyPointLeavesALoadableCheckpoint) {
  for (const bool same_name : {false, true}) {
    for (const std::string_view point : kCrashPoints) {
      SCOPED_TRACE(::testing::Message() << "killed at " << point << (same_name ? ", same name" : ""));
      const std::string dir = dir_ + "/crash-" + std::string(point) + (same_name ? "-same" : "");
      const Checkpointer checkpointer(dir, 1);  // keep 1: the write prunes the one before
      torch::manual_seed(0);
      torch::nn::Linear layer(3, 2);
      torch::optim::AdamW optimizer(layer->parameters(), torch::optim::AdamWOptions(0.1));
      Ema ema(*layer, 0.9);
      Step(layer, optimizer, 1.0f);
      ASSERT_TRUE(checkpointer
                      .Save({10, 0}, SomeConfig(), dir_ + "/tokenizer.model", *layer, &ema,
                            optimizer)
                      .ok());
      const std::vector<at::Tensor> before = Weights(layer);
      Step(layer, optimizer, 2.0f);
      const std::vector<at::Tensor> after = Weights(layer);
      const int64_t step = same_name ? 10 : 20;

      Checkpointer::SetCrashHook([&](int64_t at_step, std::string_view at_point) {
        if (at_step == step && at_point == point) throw Crash();
      });
      EXPECT_THROW((void)checkpointer.Save({step, 0}, SomeConfig(), dir_ + "/tokenizer.model",
                                           *layer, &ema, optimizer),
                   Crash);
      Checkpointer::SetCrashHook(nullptr);

      absl::StatusOr<std::string> latest = checkpointer.Latest();
      ASSERT_TRUE(latest.ok()) << latest.status();
      torch::nn::Linear copy(3, 2);
      torch::optim::AdamW copy_optimizer(copy->parameters(), torch::optim::AdamWOptions(0.1));
      Ema copy_ema(*copy, 0.9);
      absl::StatusOr<TrainingState> state =
          Checkpointer::Load(*latest, *copy, &copy_ema, copy_optimizer);
      ASSERT_TRUE(state.ok()) << state.status();
      // Until `latest` names the new checkpoint the old one is loaded (moved aside, when the new
      // one has its name, until the new one is renamed into place); from then on the new one.
      const bool new_one = point == "latest" || point == "pruned" || (same_name && point == "renamed");
      EXPECT_EQ(state->step, new_one ? step : 10);
      const std::vector<at::Tensor>& expected = new_one ? after : before;
      EXPECT_TRUE(at::equal(copy->weight, expected[0]));
      EXPECT_TRUE(at::equal(copy->bias, expected[1]));

      // The next save clears what the killed one left behind.
      ASSERT_TRUE(checkpointer
                      .Save({30, 0}, SomeConfig(), dir_ + "/tokenizer.model", *layer, &ema,
                            optimizer)
                      .ok());
      std::vector<std::string> left;
      for (const auto& entry : fs::directory_iterator(dir)) {
        left.push_back(entry.path().filename().string());
      }
      std::sort(left.begin(), left.end());
      EXPECT_EQ(left, (std::vector<std::string>{"latest", "step_000030"}));
    }
  }
}

TEST_F(CheckpointTest, CrashPointFromTheEnvironmentIsChecked) {
  setenv("INFUSION_CHECKPOINT_CRASH_AT", "20:nowhere", 1);
  absl::Status bad = Checkpointer::InstallCrashHookFromEnvironment();
  setenv("INFUSION_CHECKPOINT_CRASH_AT", "x:model", 1);
  absl::Status bad_step = Checkpointer::InstallCrashHookFromEnvironment();
  unsetenv("INFUSION_CHECKPOINT_CRASH_AT");
  EXPECT_TRUE(absl::IsInvalidArgument(bad)) << bad;
  EXPECT_NE(bad.message().find("renamed"), std::string::npos) << bad;  // lists the points
  EXPECT_TRUE(absl::IsInvalidArgument(bad_step)) << bad_step;
  EXPECT_TRUE(Checkpointer::InstallCrashHookFromEnvironment().ok());  // unset: no hook
}

TEST_F(CheckpointTest, NoCheckpointIsNotFound) {
  EXPECT_TRUE(absl::IsNotFound(Checkpointer(dir_ + "/none", 1).Latest().status()));
}

}  // namespace
}  // namespace infusion::trainer
