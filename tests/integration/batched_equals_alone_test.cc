// The whole engine under continuous batching — scheduler, paged KV cache with prefix sharing,
// chunked prefill, mixed prefill/decode/denoise steps — produces for every request what the
// request produces alone (engine/generate, one sequence at a time), on a real (random) model.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "engine/executor/model_executor.h"
#include "engine/generate/generate.h"
#include "engine/output/output_processor.h"
#include "engine/model/transfusion_model.h"
#include "scheduler/scheduler.h"
#include "tests/scheduler/scheduler_test_util.h"
#include "tests/testing/tiny_models.h"

namespace infusion::serving {

using engine::GenerateOptions;
using engine::GenerateOutput;
using engine::ModelConfig;
using engine::ModelExecutor;
using engine::ModelExecutorOptions;
using engine::OutputProcessor;
using engine::OutputProcessorOptions;
using engine::PatchEncoderKind;
using engine::PatchEncoderName;
using engine::PromptPart;
using engine::SaveTransfusionWeights;
using engine::TextDecoder;
using engine::TransfusionModel;
using scheduler::Request;
using scheduler::RequestEvent;
using scheduler::Scheduler;
using scheduler::SchedulerModelInfo;
using scheduler::SchedulerOptions;
using scheduler::TaskKind;

namespace {

struct Case {
  Request request;
  std::shared_ptr<testing::RecordingSink> sink = std::make_shared<testing::RecordingSink>();
};

class BatchedEqualsAloneTest : public ::testing::TestWithParam<PatchEncoderKind> {
 protected:
  void SetUp() override {
    config_ = testing::TinyConfig(GetParam());
    const std::string dir =
        ::testing::TempDir() + "/batched_equals_alone_" + PatchEncoderName(GetParam());
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/config.json") << config_.ToJson();
    TransfusionModel model(config_);
    model->InitWeights(3);
    ASSERT_TRUE(SaveTransfusionWeights(*model, dir + "/model.safetensors").ok());
    ModelExecutorOptions options;
    options.model_dir = dir;
    options.kv_cache_bytes = 2 << 20;
    options.block_size = 4;
    executor_ = std::move(*ModelExecutor::Create(options));
  }

  std::vector<float> RandomImage(uint64_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal;
    std::vector<float> v(config_.image.num_patches() * config_.image.patch_dim());
    for (float& x : v) x = normal(rng);
    return v;
  }

  std::vector<Case> Cases() {
    std::vector<Case> cases;
    auto text = [&](std::vector<int32_t> prompt, int max_tokens) {
      Case c;
      c.request.prompt = {PromptPart::Text(std::move(prompt))};
      c.request.text.temperature = 0;
      c.request.text.max_tokens = max_tokens;
      return c;
    };
    // Text: two sharing a 9-token prefix (prefix cache), one long enough to be chunked.
    cases.push_back(text({2, 11, 12, 13, 14, 15, 16, 17, 18, 20}, 10));
    cases.push_back(text({2, 11, 12, 13, 14, 15, 16, 17, 18, 21, 22}, 7));
    std::vector<int32_t> long_prompt = {2};
    for (int i = 0; i < 40; ++i) long_prompt.push_back(10 + (i * 7) % 50);
    cases.push_back(text(long_prompt, 5));
    // Captioning-like: an image in the prompt, text out.
    Case caption = text({2, 4}, 6);
    caption.request.prompt.push_back(PromptPart::Image(RandomImage(1)));
    caption.request.prompt.push_back(PromptPart::Text({5, 30}));
    cases.push_back(caption);
    // Text-to-image with and without guidance.
    for (float guidance : {3.0f, 1.0f}) {
      Case t2i;
      t2i.request.kind = TaskKind::kTextToImage;
      t2i.request.prompt = {PromptPart::Text({2, 40, 41, 42, 4})};
      t2i.request.uncond_prompt = {PromptPart::Text({2, 4})};
      t2i.request.starts_with_image = true;
      t2i.request.finish_after_image = true;
      t2i.request.image.steps = 4;
      t2i.request.image.guidance_scale = guidance;
      t2i.request.image.seed = 9;
      cases.push_back(t2i);
    }
    // Editing-like: a source image in the prompt and in the guidance prefix.
    Case edit;
    const PromptPart source = PromptPart::Image(RandomImage(2));
    edit.request.kind = TaskKind::kEdit;
    edit.request.prompt = {PromptPart::Text({2, 7, 4}), source, PromptPart::Text({5, 33, 34, 9, 8, 4})};
    edit.request.uncond_prompt = {PromptPart::Text({2, 7, 4}), source, PromptPart::Text({5, 9, 8, 4})};
    edit.request.starts_with_image = true;
    edit.request.finish_after_image = true;
    edit.request.image.steps = 3;
    edit.request.image.seed = 4;
    cases.push_back(edit);
    return cases;
  }

  // Renders token ids as text, so the streamed text shows exactly which tokens were sampled.
  class TokenIdDecoder : public TextDecoder {
   public:
    std::string Add(int32_t id) override { return TokensAsText({id}); }
    std::string Finish() override { return ""; }
  };
  static std::string TokensAsText(const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t id : ids) s += std::to_string(id) + " ";
    return s;
  }

  static GenerateOutput Collect(const testing::RecordingSink& sink) {
    GenerateOutput out;
    for (const RequestEvent& e : sink.events()) {
      if (e.type == RequestEvent::Type::kImage) out.parts.push_back(PromptPart::Image(e.patches));
      if (e.type == RequestEvent::Type::kFinish) out.generated_tokens = e.usage.generated_tokens;
    }
    return out;
  }

  ModelConfig config_;
  std::unique_ptr<ModelExecutor> executor_;
};

TEST_P(BatchedEqualsAloneTest, EveryRequestGetsWhatItGetsAlone) {
  SchedulerOptions options;
  options.max_tokens_per_step = 24;  // forces chunked prompts and shared steps
  OutputProcessorOptions output;  // the default token ids, as the test model's
  output.new_decoder = [] { return std::make_unique<TokenIdDecoder>(); };
  auto runner = OutputProcessor::Create(output, executor_.get());
  ASSERT_TRUE(runner.ok()) << runner.status();
  auto scheduler = Scheduler::Create(options, SchedulerModelInfo(), runner->get());
  ASSERT_TRUE(scheduler.ok()) << scheduler.status();
  std::vector<Case> cases = Cases();
  for (Case& c : cases) ASSERT_TRUE((*scheduler)->Submit(c.request, c.sink).ok());
  int steps = 0;
  while ((*scheduler)->Step()) ++steps;
  EXPECT_EQ((*scheduler)->Stats().kv_blocks_used, 0);
  EXPECT_GT((*scheduler)->Stats().prefix_cache_hit_blocks, 0);
  EXPECT_LT(steps, 60);  // batched: far fewer steps than the requests need one after another

  for (size_t i = 0; i < cases.size(); ++i) {
    const Request& r = cases[i].request;
    const RequestEvent* finish = cases[i].sink->finish();
    ASSERT_NE(finish, nullptr);
    ASSERT_TRUE(finish->status.ok()) << finish->status;
    GenerateOptions g;
    g.text = r.text;
    g.image = r.image;
    g.uncond_prompt = r.uncond_prompt;
    g.max_images = r.max_images;
    g.finish_after_image = r.finish_after_image;
    auto alone = Generate(*executor_, r.prompt, g);
    ASSERT_TRUE(alone.ok()) << alone.status();
    const GenerateOutput batched = Collect(*cases[i].sink);
    EXPECT_EQ(batched.generated_tokens, alone->generated_tokens) << "case " << i;
    std::vector<int32_t> alone_tokens;
    for (const PromptPart& p : alone->parts) {
      alone_tokens.insert(alone_tokens.end(), p.tokens.begin(), p.tokens.end());
    }
    EXPECT_EQ(cases[i].sink->text(), TokensAsText(alone_tokens)) << "case " << i;
    // Images: batched matmuls round differently from single ones (~1e-7), and the first DDIM
    // step from t = 999 divides the noise estimate's error by sqrt(alpha_bar) = 5e-5 before
    // clipping, so allow what that amplification makes of float noise.
    std::vector<const PromptPart*> images;
    for (const PromptPart& p : alone->parts) {
      if (p.is_image()) images.push_back(&p);
    }
    ASSERT_EQ(batched.parts.size(), images.size()) << "case " << i;
    for (size_t k = 0; k < images.size(); ++k) {
      const at::Tensor a = at::tensor(batched.parts[k].image_patches);
      const at::Tensor b = at::tensor(images[k]->image_patches);
      EXPECT_LE((a - b).abs().max().item<float>(), 2e-2f * std::max(1.0f, b.abs().max().item<float>()))
          << "case " << i << " image " << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(BothPatchLayers, BatchedEqualsAloneTest,
                         ::testing::Values(PatchEncoderKind::kLinear, PatchEncoderKind::kUnet),
                         [](const auto& info) { return PatchEncoderName(info.param); });

}  // namespace
}  // namespace infusion::serving
