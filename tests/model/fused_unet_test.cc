// The fused U-Net patch layers (engine/model/fused_unet.h) against their LibTorch modules, the
// reference: the same encoder outputs and predicted noise within 1e-4 relative in float32, for
// the bundled model's shape and for one whose concatenations split norm groups, on one and two
// threads, with AVX2 and portable products, and with decoder rows that pick their encoded images
// in any order (the two guided rows of an image share one encoder pass).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <string>
#include <tuple>
#include <utility>

#include "engine/kernels/packed_product.h"
#include "engine/model/compute_threads.h"
#include "engine/model/unet_patch_layers.h"
#include "tests/testing/tiny_models.h"

namespace infusion::engine {
namespace {

// max |got - want| / max |want|.
double RelativeError(const at::Tensor& got, const at::Tensor& want) {
  return (got - want).abs().max().item<double>() /
         std::max(want.abs().max().item<double>(), 1e-12);
}

// The bundled model's image layers (models/shapes/config.json).
ModelConfig BundledShape() {
  ModelConfig c = testing::TinyConfig(PatchEncoderKind::kUnet);
  c.hidden_size = 256;
  c.image.image_size = 64;
  c.image.latent_channels = 32;
  c.image.latent_size = 8;
  c.image.patch_size = 2;
  c.image.time_frequency_dim = 256;
  c.image.time_embed_dim = 256;
  c.image.unet.channels = {64, 128};
  c.image.unet.num_res_blocks = 1;
  c.image.unet.norm_groups = 32;
  return c;
}

// Three levels, two blocks each: identity and convolved skips, stride-2 and upsampling
// convolutions at three sizes, and concatenations (24 + 16 = 40 channels in groups of 5) whose
// norm groups straddle the two inputs.
ModelConfig ThreeLevels() {
  ModelConfig c = testing::TinyConfig(PatchEncoderKind::kUnet);
  c.hidden_size = 48;
  c.image.image_size = 64;
  c.image.latent_channels = 32;
  c.image.latent_mean.assign(32, 0.0f);
  c.image.latent_std.assign(32, 1.0f);
  c.image.latent_size = 8;
  c.image.patch_size = 4;
  c.image.time_frequency_dim = 10;
  c.image.time_embed_dim = 24;
  c.image.unet.channels = {16, 24, 24};
  c.image.unet.num_res_blocks = 2;
  c.image.unet.norm_groups = 8;
  return c;
}

// Every parameter random, biases and norm affines included (InitWeights leaves them 0 and 1),
// at scales that keep activations of order one.
void Randomize(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters()) {
    at::Tensor& p = item.value();
    const std::string& name = item.key();
    if (name.find("norm") != std::string::npos) {
      p.copy_(name.size() >= 6 && name.substr(name.size() - 6) == "weight"
                  ? 1 + 0.3 * at::randn_like(p)
                  : 0.3 * at::randn_like(p));
    } else if (p.dim() == 1) {
      p.copy_(0.3 * at::randn_like(p));
    } else {
      const double fan_in = static_cast<double>(p.numel() / p.size(0));
      p.copy_(at::randn_like(p) / std::sqrt(fan_in));
    }
  }
}

// A parameterised test that sets the compute threads: restored after it.
template <typename Param>
class RestoresThreads : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override { previous_threads_ = at::get_num_threads(); }
  void TearDown() override { SetComputeThreads(previous_threads_); }
  int previous_threads_ = 1;
};

class FusedUnetTest : public RestoresThreads<std::tuple<int, int, bool>> {
 protected:
  void TearDown() override {
    ForcePortablePackedProduct(false);
    RestoresThreads::TearDown();
  }
};

TEST_P(FusedUnetTest, MatchesModules) {
  const auto [shape, threads, portable] = GetParam();
  const ModelConfig config = shape == 0 ? BundledShape() : ThreeLevels();
  ASSERT_TRUE(config.Validate().ok()) << config.Validate();
  SetComputeThreads(threads);
  ForcePortablePackedProduct(portable);
  torch::manual_seed(3);
  UnetPatchLayers layers(config);
  Randomize(layers);
  layers.eval();

  const int64_t n = config.image.num_patches(), d = config.image.patch_dim();
  const at::Tensor patches = at::randn({4, n, d});
  // A timestep twice in one pass: the timestep MLP runs once for it.
  const at::Tensor timesteps = at::tensor({999.0f, 0.0f, 417.25f, 0.0f});
  const at::Tensor hidden = at::randn({5, n, config.hidden_size});
  const at::Tensor which = at::tensor({2, 0, 3, 1, 2}, at::kLong);

  torch::NoGradGuard no_grad;
  PatchContext reference;
  const at::Tensor want_encoded = layers.Encode(patches, timesteps, &reference);
  const at::Tensor want_eps = layers.Decode(hidden, reference, which);
  ASSERT_EQ(reference.fused, nullptr);

  layers.EnableFusedInference(true);
  ASSERT_TRUE(layers.fused_inference());
  // The second pass finds its timesteps' projections cached, and reuses the grown buffers.
  for (int pass = 0; pass < 2; ++pass) {
    PatchContext context;
    const at::Tensor encoded = layers.Encode(patches, timesteps, &context);
    ASSERT_NE(context.fused, nullptr);
    const at::Tensor eps = layers.Decode(hidden, context, which);
    ASSERT_EQ(encoded.sizes(), want_encoded.sizes());
    ASSERT_EQ(eps.sizes(), want_eps.sizes());
    EXPECT_LT(RelativeError(encoded, want_encoded), 1e-4);
    EXPECT_LT(RelativeError(eps, want_eps), 1e-4);
    EXPECT_TRUE(at::allclose(eps, want_eps, 1e-4, 1e-4 * want_eps.abs().max().item<double>()));
  }

  // A pass mixing a cached timestep with a new one.
  {
    const at::Tensor mixed_t = at::tensor({0.0f, 123.5f});
    PatchContext modules, fused;
    layers.EnableFusedInference(false);
    const at::Tensor want = layers.Encode(patches.narrow(0, 1, 2), mixed_t, &modules);
    const at::Tensor want_mixed = layers.Decode(hidden.narrow(0, 0, 2), modules,
                                                at::tensor({1, 0}, at::kLong));
    layers.EnableFusedInference(true);
    layers.Encode(patches, timesteps, &fused);  // fills the cache again
    const at::Tensor got = layers.Encode(patches.narrow(0, 1, 2), mixed_t, &fused);
    EXPECT_LT(RelativeError(got, want), 1e-4);
    EXPECT_LT(RelativeError(layers.Decode(hidden.narrow(0, 0, 2), fused,
                                          at::tensor({1, 0}, at::kLong)),
                            want_mixed),
              1e-4);
  }

  // Decoding a subset of rows gives those rows of the full decode: each row alone.
  PatchContext context;
  layers.Encode(patches, timesteps, &context);
  const at::Tensor all = layers.Decode(hidden, context, which);
  for (int64_t j = 0; j < which.size(0); ++j) {
    const at::Tensor one = layers.Decode(hidden.narrow(0, j, 1), context, which.narrow(0, j, 1));
    EXPECT_TRUE(at::equal(one, all.narrow(0, j, 1))) << "row " << j;
  }

  // Off again: the modules.
  layers.EnableFusedInference(false);
  PatchContext again;
  EXPECT_TRUE(at::equal(layers.Encode(patches, timesteps, &again), want_encoded));
  EXPECT_EQ(again.fused, nullptr);
}

INSTANTIATE_TEST_SUITE_P(ShapesThreadsIsa, FusedUnetTest,
                         ::testing::Combine(::testing::Values(0, 1), ::testing::Values(1, 2),
                                            ::testing::Bool()));

// With bfloat16 products (where the CPU has AVX512-BF16): within a stated bound of the float32
// modules (measured at the two shapes: 0.5-0.6% of the largest value), and each image's result
// the same, bit for bit, whatever else shares its pass.
class FusedUnetBf16Test : public RestoresThreads<std::tuple<int, int>> {};

TEST_P(FusedUnetBf16Test, StaysNearModulesAndImagesStayAlone) {
  if (!PackedProductBf16Supported()) GTEST_SKIP() << "this CPU has no AVX512-BF16";
  const auto [shape, threads] = GetParam();
  const ModelConfig config = shape == 0 ? BundledShape() : ThreeLevels();
  SetComputeThreads(threads);
  torch::manual_seed(3);
  UnetPatchLayers layers(config);
  Randomize(layers);
  layers.eval();
  const int64_t n = config.image.num_patches(), d = config.image.patch_dim();
  // 12 images: enough rows at every level for the per-thread path, few at the coarsest.
  const at::Tensor patches = at::randn({12, n, d});
  const at::Tensor timesteps = at::linspace(0, 990, 12);
  const at::Tensor hidden = at::randn({12, n, config.hidden_size});
  const at::Tensor which = at::arange(12, at::kLong).flip(0);

  torch::NoGradGuard no_grad;
  PatchContext reference;
  const at::Tensor want_encoded = layers.Encode(patches, timesteps, &reference);
  const at::Tensor want_eps = layers.Decode(hidden, reference, which);

  layers.EnableFusedInference(true, /*bf16=*/true);
  PatchContext context;
  const at::Tensor encoded = layers.Encode(patches, timesteps, &context);
  const at::Tensor eps = layers.Decode(hidden, context, which);
  for (const auto& [got, want] : {std::pair{&encoded, &want_encoded}, std::pair{&eps, &want_eps}}) {
    EXPECT_LT(RelativeError(*got, *want), 2e-2);
    EXPECT_GT(RelativeError(*got, *want), 1e-6) << "the products did not run in bfloat16";
  }
  for (int64_t i : {0, 5, 11}) {
    PatchContext alone;
    const at::Tensor one = layers.Encode(patches.narrow(0, i, 1), timesteps.narrow(0, i, 1), &alone);
    EXPECT_TRUE(at::equal(one, encoded.narrow(0, i, 1))) << "image " << i;
    const int64_t row = 11 - i;  // which[row] == i
    EXPECT_TRUE(at::equal(layers.Decode(hidden.narrow(0, row, 1), alone,
                                        at::zeros({1}, at::kLong)),
                          eps.narrow(0, row, 1)))
        << "row " << row;
  }
}

INSTANTIATE_TEST_SUITE_P(ShapesThreads, FusedUnetBf16Test,
                         ::testing::Combine(::testing::Values(0, 1), ::testing::Values(1, 2)));

TEST(FusedUnetInputs, AutogradAndBadIndicesTakeTheModulesOrFail) {
  const ModelConfig config = ThreeLevels();
  torch::manual_seed(4);
  UnetPatchLayers layers(config);
  layers.EnableFusedInference(true);
  const int64_t n = config.image.num_patches(), d = config.image.patch_dim();
  const at::Tensor patches = at::randn({2, n, d});
  const at::Tensor timesteps = at::tensor({10.0f, 20.0f});
  {
    // With autograd on (training), the modules run: the context holds their activations.
    PatchContext context;
    const at::Tensor encoded = layers.Encode(patches, timesteps, &context);
    EXPECT_EQ(context.fused, nullptr);
    EXPECT_EQ(context.skips.size(), 6u);
    EXPECT_TRUE(encoded.requires_grad());
  }
  torch::NoGradGuard no_grad;
  PatchContext context;
  layers.Encode(patches, timesteps, &context);
  ASSERT_NE(context.fused, nullptr);
  const at::Tensor hidden = at::randn({1, n, config.hidden_size});
  EXPECT_THROW(layers.Decode(hidden, context, at::tensor({2}, at::kLong)), c10::Error);
  EXPECT_THROW(layers.Decode(hidden, context, at::tensor({-1}, at::kLong)), c10::Error);
  EXPECT_THROW(layers.Decode(at::randn({1, n, config.hidden_size + 1}), context,
                             at::tensor({0}, at::kLong)),
               c10::Error);
  EXPECT_THROW(layers.Encode(at::randn({2, n, d + 1}), timesteps, &context), c10::Error);
}

}  // namespace
}  // namespace infusion::engine
