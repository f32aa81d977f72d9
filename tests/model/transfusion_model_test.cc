#include "engine/model/transfusion_model.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <cstdio>
#include <filesystem>

#include "engine/model/reference_forward.h"
#include "engine/weights/state_dict.h"
#include "tests/testing/tiny_models.h"

namespace infusion::engine {
namespace {

class TransfusionModelTest : public ::testing::TestWithParam<PatchEncoderKind> {
 protected:
  void SetUp() override {
    config_ = testing::TinyConfig(GetParam());
    model_ = TransfusionModel(config_);
    model_->InitWeights(/*seed=*/11);
    model_->eval();
    torch::manual_seed(3);
    const int64_t n = config_.image.num_patches(), d = config_.image.patch_dim();
    image_a_ = at::randn({n, d});
    image_b_ = at::randn({n, d});
  }

  // <bos> 5 6 | image A (t=250) | 7 8 | image B (t=0) | 9
  std::vector<SequencePart> Sequence() const {
    return {SequencePart::Text({2, 5, 6}), SequencePart::Image(image_a_, 250.0f),
            SequencePart::Text({7, 8}), SequencePart::Image(image_b_, 0.0f),
            SequencePart::Text({9})};
  }

  ModelConfig config_;
  TransfusionModel model_{nullptr};
  at::Tensor image_a_, image_b_;  // [n, patch_dim]
};

TEST_P(TransfusionModelTest, OutputShapes) {
  ReferenceOutput out = ReferenceForward(*model_, Sequence());
  EXPECT_EQ(out.logits.sizes(), (at::IntArrayRef{6, config_.vocab_size}));
  EXPECT_EQ(out.eps.sizes(), (at::IntArrayRef{2 * config_.image.num_patches(),
                                              config_.image.patch_dim()}));
  EXPECT_TRUE(at::isfinite(out.logits).all().item<bool>());
  EXPECT_TRUE(at::isfinite(out.eps).all().item<bool>());
}

// Changing the token at text position i changes no output before i, and does change the output at i.
TEST_P(TransfusionModelTest, TextNeverSeesLaterPositions) {
  const ReferenceOutput base = ReferenceForward(*model_, Sequence());
  std::vector<SequencePart> changed = Sequence();
  changed[2].tokens[1] = 30;  // the "8" between the images: text row 4
  const ReferenceOutput out = ReferenceForward(*model_, changed);
  EXPECT_TRUE(at::equal(out.logits.narrow(0, 0, 4), base.logits.narrow(0, 0, 4)));
  EXPECT_FALSE(at::allclose(out.logits[4], base.logits[4]));
  const int64_t n = config_.image.num_patches();
  EXPECT_TRUE(at::equal(out.eps.narrow(0, 0, n), base.eps.narrow(0, 0, n)));  // image A: before
  EXPECT_FALSE(at::allclose(out.eps.narrow(0, n, n), base.eps.narrow(0, n, n)));  // image B: after
}

// Perturbing the LAST patch of image A changes the noise prediction of its FIRST patch: every
// patch sees every patch of its own image.
TEST_P(TransfusionModelTest, PatchesSeeTheirWholeImage) {
  const ReferenceOutput base = ReferenceForward(*model_, Sequence());
  std::vector<SequencePart> changed = Sequence();
  const int64_t n = config_.image.num_patches();
  changed[1].patches = image_a_.clone();
  changed[1].patches[n - 1] += 1.0;
  const ReferenceOutput out = ReferenceForward(*model_, changed);
  for (int64_t p = 0; p < n; ++p) {
    EXPECT_FALSE(at::allclose(out.eps[p], base.eps[p])) << "patch " << p;
  }
  // The text before image A is unaffected.
  EXPECT_TRUE(at::equal(out.logits.narrow(0, 0, 3), base.logits.narrow(0, 0, 3)));
}

// An earlier image never sees a later one.
TEST_P(TransfusionModelTest, EarlierImageNeverSeesLaterImage) {
  const ReferenceOutput base = ReferenceForward(*model_, Sequence());
  std::vector<SequencePart> changed = Sequence();
  changed[3].patches = image_b_ + 0.5;
  const ReferenceOutput out = ReferenceForward(*model_, changed);
  const int64_t n = config_.image.num_patches();
  EXPECT_TRUE(at::equal(out.eps.narrow(0, 0, n), base.eps.narrow(0, 0, n)));
  EXPECT_TRUE(at::equal(out.logits.narrow(0, 0, 5), base.logits.narrow(0, 0, 5)));
  EXPECT_FALSE(at::allclose(out.logits[5], base.logits[5]));
}

// The timestep is an input of the image encoder: the same patches at another t predict other noise.
TEST_P(TransfusionModelTest, TimestepConditionsTheImage) {
  const ReferenceOutput base = ReferenceForward(*model_, Sequence());
  std::vector<SequencePart> changed = Sequence();
  changed[1].timestep = 900.0f;
  const ReferenceOutput out = ReferenceForward(*model_, changed);
  const int64_t n = config_.image.num_patches();
  EXPECT_FALSE(at::allclose(out.eps.narrow(0, 0, n), base.eps.narrow(0, 0, n)));
}

TEST_P(TransfusionModelTest, SaveLoadForwardIsBitIdentical) {
  const std::string dir = ::testing::TempDir() + "/model_roundtrip_" +
                          PatchEncoderName(GetParam());
  std::filesystem::create_directories(dir);
  {
    std::FILE* f = std::fopen((dir + "/config.json").c_str(), "w");
    const std::string json = config_.ToJson();
    std::fwrite(json.data(), 1, json.size(), f);
    std::fclose(f);
  }
  ASSERT_TRUE(SaveTransfusionWeights(*model_, dir + "/model.safetensors").ok());
  auto loaded = LoadTransfusionModel(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const ReferenceOutput a = ReferenceForward(*model_, Sequence());
  const ReferenceOutput b = ReferenceForward(**loaded, Sequence());
  EXPECT_TRUE(at::equal(a.logits, b.logits));
  EXPECT_TRUE(at::equal(a.eps, b.eps));
}

// Tensor names follow Hugging Face Llama, so a Llama checkpoint's tensors land where expected.
TEST_P(TransfusionModelTest, TensorNamesFollowLlama) {
  const StateDict state = StateDict::FromModule(*model_);
  for (const char* name :
       {"model.embed_tokens.weight", "model.layers.0.input_layernorm.weight",
        "model.layers.1.self_attn.q_proj.weight", "model.layers.1.self_attn.k_proj.weight",
        "model.layers.1.self_attn.v_proj.weight", "model.layers.1.self_attn.o_proj.weight",
        "model.layers.0.post_attention_layernorm.weight", "model.layers.0.mlp.gate_proj.weight",
        "model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight",
        "model.norm.weight", "lm_head.weight", "image.time_embed.linear_1.weight"}) {
    EXPECT_TRUE(state.Contains(name)) << name;
  }
  auto k = state.Get("model.layers.0.self_attn.k_proj.weight");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->sizes(), (at::IntArrayRef{2 * 8, 32}));  // kv_heads * head_dim, hidden
}

// image.position_embedding adds one learned vector per patch cell to the encoder's output: at zero
// the model computes exactly what it computes without one; any other value moves the image's
// outputs, and the text before the image does not see it.
TEST_P(TransfusionModelTest, PositionEmbeddingIsAddedPerPatchCell) {
  ModelConfig with = config_;
  with.image.position_embedding = true;
  TransfusionModel model(with);
  model->InitWeights(/*seed=*/11);  // the same draws as model_ for every shared tensor
  model->eval();
  const StateDict state = StateDict::FromModule(*model);
  auto table = state.Get("image.position_embedding");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->sizes(), (at::IntArrayRef{with.image.num_patches(), with.hidden_size}));
  EXPECT_FALSE(StateDict::FromModule(*model_).Contains("image.position_embedding"));

  torch::NoGradGuard no_grad;
  table->zero_();
  const ReferenceOutput base = ReferenceForward(*model_, Sequence());
  const ReferenceOutput zero = ReferenceForward(*model, Sequence());
  EXPECT_TRUE(at::equal(zero.logits, base.logits));
  EXPECT_TRUE(at::equal(zero.eps, base.eps));

  (*table)[1].fill_(0.5);  // only patch cell 1
  const ReferenceOutput moved = ReferenceForward(*model, Sequence());
  const int64_t n = with.image.num_patches();
  EXPECT_FALSE(at::allclose(moved.eps.narrow(0, 0, n), base.eps.narrow(0, 0, n)));
  EXPECT_TRUE(at::equal(moved.logits.narrow(0, 0, 3), base.logits.narrow(0, 0, 3)));
}

INSTANTIATE_TEST_SUITE_P(BothPatchLayers, TransfusionModelTest,
                         ::testing::Values(PatchEncoderKind::kLinear, PatchEncoderKind::kUnet),
                         [](const auto& info) { return PatchEncoderName(info.param); });

TEST(TransfusionModelTiedTest, TiedEmbeddingsHaveNoLmHead) {
  ModelConfig c = testing::TinyConfig(PatchEncoderKind::kLinear);
  c.tie_word_embeddings = true;
  TransfusionModel model(c);
  model->InitWeights(1);
  const StateDict state = StateDict::FromModule(*model);
  EXPECT_FALSE(state.Contains("lm_head.weight"));
  const at::Tensor h = at::randn({3, c.hidden_size});
  EXPECT_TRUE(at::allclose(model->Logits(h),
                           at::matmul(h, state.Get("model.embed_tokens.weight")->t())));
}

// RoPE as HF Llama applies it: for head_dim 4 at position 1 with theta 100, the pairs (0, 2) and
// (1, 3) rotate by angles 1 and 0.1.
TEST(RotaryTest, RotateHalfConvention) {
  const RotaryTables rope = ComputeRotaryTables(at::tensor({1L}), 4, 100.0);
  const at::Tensor x = at::tensor({1.0f, 0.0f, 0.0f, 1.0f}).view({1, 1, 4});
  const at::Tensor y = ApplyRotary(x, rope).view({4});
  // pair (x0, x2) = (1, 0) rotated by 1 rad -> (cos 1, sin 1); pair (x1, x3) = (0, 1) by 0.1 rad
  // -> (-sin 0.1, cos 0.1).
  EXPECT_NEAR(y[0].item<float>(), std::cos(1.0), 1e-6);
  EXPECT_NEAR(y[2].item<float>(), std::sin(1.0), 1e-6);
  EXPECT_NEAR(y[1].item<float>(), -std::sin(0.1), 1e-6);
  EXPECT_NEAR(y[3].item<float>(), std::cos(0.1), 1e-6);
}

}  // namespace
}  // namespace infusion::engine
