// Done-when 3 of the trainer and issue 22's training faults: a run killed with SIGKILL at any
// moment, or half-way through a checkpoint write, and resumed logs exactly the losses of an
// uninterrupted run and ends with the same weights; exports and fine-tunes of checkpoints.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <sstream>
#include <string_view>
#include <thread>


#include "engine/model/model_config.h"
#include "engine/model/transfusion_model.h"
#include "engine/weights/state_dict.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/trainer/test_util.h"
#include "trainer/checkpoint.h"

namespace infusion::trainer {

using engine::LoadTransfusionModel;
using engine::ModelConfig;
using engine::StateDict;

namespace {

std::string Bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The tiny config with an EMA (whose weights must survive a kill too) and no sample grids.
std::string TinyRunConfig(const std::string& dir) {
  testing::Json config = testing::TinyConfig(dir + "/cache");
  config["checkpoint_every"] = 10;  // 60 steps
  config["keep_checkpoints"] = 10;  // all, to compare them
  config["ema_decay"] = 0.99;
  config["samples"]["every"] = 0;
  const std::string path = dir + "/config.json";
  testing::WriteText(path, config.dump());
  return path;
}

// The uninterrupted run both kill tests compare with (once per test process) and its wall time
// with the cache already filled.
struct WholeRun {
  std::string dir, config, out;
  double seconds = 0;
};
const WholeRun& Whole() {
  static const WholeRun* run = [] {
    auto* r = new WholeRun;
    r->dir = testing::FreshDir("whole");
    r->config = TinyRunConfig(r->dir);
    r->out = r->dir + "/run";
    // Once to fill the cache (tokenizer, latents), then the timed run the others compare with.
    EXPECT_EQ(testing::RunTrain({"--config", r->config, "--out", r->dir + "/warm-up", "--threads",
                                 "1", "--until_step", "1"},
                                r->dir + "/warm-up.log"),
              0);
    const auto begin = std::chrono::steady_clock::now();
    EXPECT_EQ(testing::RunTrain({"--config", r->config, "--out", r->out, "--threads", "1"},
                                r->dir + "/run.log"),
              0);
    r->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    return r;
  }();
  return *run;
}

// Every logged step and the final weights of run `out` equal those of run `whole`.
void ExpectSameRun(const std::string& whole, const std::string& out) {
  const auto expected = testing::ReadLog(whole + "/train_log.jsonl");
  const auto got = testing::ReadLog(out + "/train_log.jsonl");
  ASSERT_EQ(expected.size(), 60u);
  ASSERT_EQ(got.size(), 60u);
  for (size_t i = 0; i < expected.size(); ++i) {
    for (const char* key : {"step", "loss", "loss_lm", "loss_diffusion", "grad_norm", "lr"}) {
      EXPECT_EQ(expected[i][key], got[i][key]) << key << " at step " << i + 1;
    }
  }
  EXPECT_TRUE(Bytes(whole + "/model.safetensors") == Bytes(out + "/model.safetensors"));
  EXPECT_TRUE(Bytes(whole + "/checkpoints/step_000060/ema.safetensors") ==
              Bytes(out + "/checkpoints/step_000060/ema.safetensors"));
  // optimizer.pt is not compared byte for byte (LibTorch's archive differs between two saves
  // of one state); the weights above, after every step resumed, depend on all of its moments.
}

// Issue 22's fault: a run SIGKILLed at a random moment (while it prepares, trains or writes a
// checkpoint), twice, and continued as scripts/train.sh continues it (--resume when a checkpoint
// exists, else from the start) ends with every logged loss and the final weights, EMA and
// optimiser state bit-identical to an uninterrupted run's.
TEST(ResumeTest, KilledAtRandomMomentsAndResumedEqualsUninterrupted) {
  const WholeRun& whole = Whole();
  const std::string dir = testing::FreshDir("resume");
  // The same config (so the same cache), copied: the run's own copy must not be the test's.
  const std::string config = dir + "/config.json";
  testing::WriteText(config, testing::ReadText(whole.config));
  auto args = [](std::vector<std::string> a) {
    a.insert(a.end(), {"--threads", "1"});
    return a;
  };
  const unsigned seed = std::random_device()();
  SCOPED_TRACE(::testing::Message() << "kill times drawn with seed " << seed);
  std::mt19937 rng(seed);
  const std::string out = dir + "/killed";
  const std::string latest = out + "/checkpoints/latest";
  int kills = 0;
  // The first kill within the first 3/4 of an uninterrupted run's time, the second (of what is
  // left, less) within its first half: each falls anywhere in startup, steps or a checkpoint write.
  for (const double share : {0.75, 0.5}) {
    const double after = std::uniform_real_distribution<double>(0.02, share)(rng) * whole.seconds;
    // Continued as scripts/train.sh does: --resume once a checkpoint exists (the config copy in
    // the run's folder read back: no --config), else from the start.
    const std::vector<std::string> a =
        std::filesystem::exists(latest) ? args({"--out", out, "--resume"})
                                        : args({"--config", config, "--out", out});
    testing::TrainProcess run(a, dir + "/killed-" + std::to_string(kills) + ".log");
    std::this_thread::sleep_for(std::chrono::duration<double>(after));
    run.Kill();
    const int status = run.Wait();
    const bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    if (!killed) ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    kills += killed;
    std::cout << (killed ? "killed" : "finished") << " after " << after << " s (a whole run: "
              << whole.seconds << " s), latest: "
              << (std::filesystem::exists(latest) ? testing::ReadText(latest) : "none\n");
  }
  EXPECT_GE(kills, 1) << "the run was never killed before it finished";
  const std::vector<std::string> a = std::filesystem::exists(latest)
                                         ? args({"--out", out, "--resume"})
                                         : args({"--config", config, "--out", out});
  ASSERT_EQ(testing::RunTrain(a, dir + "/resumed.log"), 0);
  ExpectSameRun(whole.out, out);
}

// Issue 22's other fault, with the kill placed exactly: a run paused with --until_step, resumed,
// then SIGKILLed half-way through writing its next checkpoint (INFUSION_CHECKPOINT_CRASH_AT, at a
// point drawn at random) still has a checkpoint that loads, and resumed from it ends exactly as
// an uninterrupted run.
TEST(ResumeTest, KilledHalfWayThroughACheckpointWrite) {
  const WholeRun& whole = Whole();
  const std::string dir = testing::FreshDir("crash-point");
  const std::string config = dir + "/config.json";
  testing::WriteText(config, testing::ReadText(whole.config));
  const std::string out = dir + "/crashed";
  ASSERT_EQ(testing::RunTrain({"--config", config, "--out", out, "--until_step", "20",
                               "--threads", "1"},
                              dir + "/paused.log"),
            0);
  EXPECT_FALSE(std::filesystem::exists(out + "/model.safetensors")) << "a pause exports nothing";
  EXPECT_EQ(testing::ReadText(out + "/checkpoints/latest"), "step_000020\n");
  EXPECT_EQ(testing::ReadLog(out + "/train_log.jsonl").size(), 20u);

  const unsigned seed = std::random_device()();
  const std::string_view point = kCrashPoints[seed % std::size(kCrashPoints)];
  SCOPED_TRACE(::testing::Message() << "killed at " << point << " of step 30's checkpoint");
  setenv("INFUSION_CHECKPOINT_CRASH_AT", ("30:" + std::string(point)).c_str(), 1);
  testing::TrainProcess crashed({"--out", out, "--resume", "--threads", "1"}, dir + "/crash.log");
  unsetenv("INFUSION_CHECKPOINT_CRASH_AT");
  const int status = crashed.Wait();
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;

  // The checkpoint `latest` names loads: step 20's until `latest` is rewritten, then step 30's.
  const bool named = point == "latest" || point == "pruned";
  const std::string name = named ? "step_000030" : "step_000020";
  EXPECT_EQ(testing::ReadText(out + "/checkpoints/latest"), name + "\n");
  auto weights = StateDict::Load(out + "/checkpoints/" + name + "/model.safetensors");
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_TRUE(Bytes(out + "/checkpoints/" + name + "/model.safetensors") ==
              Bytes(whole.out + "/checkpoints/" + name + "/model.safetensors"));

  ASSERT_EQ(testing::RunTrain({"--out", out, "--resume", "--threads", "1"}, dir + "/resumed.log"),
            0);
  ExpectSameRun(whole.out, out);
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
  // The export needs no latent cache (the checkpoint has the statistics and the tokenizer), and
  // does not build one again.
  std::filesystem::remove_all(dir + "/cache");
  const std::string model = dir + "/model-step10";
  ASSERT_EQ(testing::RunTrain({"--out", run, "--export_to", model, "--checkpoint", "step_000010",
                               "--threads", "1"},
                              dir + "/export.log"),
            0);
  EXPECT_FALSE(std::filesystem::exists(dir + "/cache"));
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

// "init_from" starts a run from a model directory's weights, tokenizer and latent statistics (a
// fine-tune), with the run's own diffusion objective; a model of another shape is refused.
TEST(ResumeTest, FineTunesFromAModelDirectory) {
  const std::string dir = testing::FreshDir("init-from");
  testing::Json config = testing::TinyConfig(dir + "/cache");
  config["steps"] = 10;
  config["checkpoint_every"] = 0;
  config["samples"]["every"] = 0;
  const std::string base_config = dir + "/base.json";
  testing::WriteText(base_config, config.dump());
  const std::string base = dir + "/base";
  ASSERT_EQ(testing::RunTrain({"--config", base_config, "--out", base, "--threads", "1"},
                              dir + "/base.log"),
            0);

  // A fine-tune that barely moves (lr 1e-9, no decay) ends where it started; the position
  // embedding it adds starts at zero.
  config["init_from"] = base;
  config["model"]["image"]["position_embedding"] = true;
  config["lr"] = 1e-9;
  config["min_lr"] = 1e-9;
  config["weight_decay"] = 0.0;
  config["model"]["diffusion"]["prediction_type"] = "v_prediction";
  config["model"]["diffusion"]["timestep_spacing"] = "trailing";
  const std::string tune_config = dir + "/tune.json";
  testing::WriteText(tune_config, config.dump());
  const std::string tuned = dir + "/tuned";
  ASSERT_EQ(testing::RunTrain({"--config", tune_config, "--out", tuned, "--threads", "1"},
                              dir + "/tune.log"),
            0);
  auto before = StateDict::Load(base + "/model.safetensors");
  auto after = StateDict::Load(tuned + "/model.safetensors");
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_EQ(after->size(), before->size() + 1);
  for (const std::string& name : before->Names()) {
    EXPECT_TRUE(at::allclose(*before->Get(name), *after->Get(name), 1e-5, 1e-6)) << name;
  }
  auto added = after->Get("image.position_embedding");
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_LT(added->abs().max().item<float>(), 1e-6);
  EXPECT_TRUE(Bytes(base + "/tokenizer.model") == Bytes(tuned + "/tokenizer.model"));
  auto base_model = ModelConfig::FromFile(base + "/config.json");
  auto tuned_model = ModelConfig::FromFile(tuned + "/config.json");
  ASSERT_TRUE(base_model.ok()) << base_model.status();
  ASSERT_TRUE(tuned_model.ok()) << tuned_model.status();
  EXPECT_EQ(tuned_model->diffusion.prediction_type, "v_prediction");
  EXPECT_EQ(tuned_model->diffusion.timestep_spacing, "trailing");
  EXPECT_EQ(tuned_model->image.latent_mean, base_model->image.latent_mean);
  EXPECT_EQ(tuned_model->image.latent_std, base_model->image.latent_std);
  EXPECT_FALSE(base_model->image.position_embedding);
  EXPECT_TRUE(tuned_model->image.position_embedding);
  EXPECT_TRUE(LoadTransfusionModel(tuned).ok());

  // The same run from random weights ends elsewhere: the weights above came from init_from.
  config.erase("init_from");
  const std::string scratch_config = dir + "/scratch.json";
  testing::WriteText(scratch_config, config.dump());
  ASSERT_EQ(
      testing::RunTrain({"--config", scratch_config, "--out", dir + "/scratch", "--threads", "1"},
                        dir + "/scratch.log"),
      0);
  auto scratch = StateDict::Load(dir + "/scratch/model.safetensors");
  ASSERT_TRUE(scratch.ok()) << scratch.status();
  EXPECT_FALSE(
      scratch->Get("model.embed_tokens.weight")->equal(*after->Get("model.embed_tokens.weight")));

  // Another shape is refused, naming init_from.
  config["init_from"] = base;
  config["model"]["hidden_size"] = 48;
  const std::string bad_config = dir + "/bad.json";
  testing::WriteText(bad_config, config.dump());
  testing::TrainProcess bad({"--config", bad_config, "--out", dir + "/bad", "--threads", "1"},
                            dir + "/bad.log");
  const int status = bad.Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
  std::stringstream log;
  log << std::ifstream(dir + "/bad.log").rdbuf();
  EXPECT_THAT(log.str(), ::testing::HasSubstr("init_from"));
}

}  // namespace
}  // namespace infusion::trainer
