#include "engine/codec/latents.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace infusion::engine {
namespace {

TEST(PatchifyTest, PlacesEveryElementByPatchThenChannelRowColumn) {
  // latents[0, c, y, x] = 16c + 4y + x, with C = 2, H = W = 4, p = 2: a 2x2 grid of patches.
  const torch::Tensor latents = torch::arange(32, torch::kFloat).reshape({1, 2, 4, 4});
  const torch::Tensor patches = Patchify(latents, 2);
  ASSERT_EQ(patches.sizes(), (std::vector<int64_t>{1, 4, 8}));

  // Patch 3 is the bottom right one (gy = 1, gx = 1); entry 5 is (c = 1, dy = 0, dx = 1), so
  // it holds latents[0, 1, 2, 3] = 16 + 8 + 3.
  EXPECT_EQ(patches[0][3][5].item<float>(), 27.0f);
  // Patch 1 is the top right one; entry 2 is (c = 0, dy = 1, dx = 0): latents[0, 0, 1, 2] = 6.
  EXPECT_EQ(patches[0][1][2].item<float>(), 6.0f);

  const int p = 2;
  for (int n = 0; n < 4; ++n) {
    for (int k = 0; k < 8; ++k) {
      const int gy = n / 2, gx = n % 2, c = k / (p * p), dy = (k / p) % p, dx = k % p;
      ASSERT_EQ(patches[0][n][k].item<float>(),
                latents[0][c][gy * p + dy][gx * p + dx].item<float>())
          << "patch " << n << " entry " << k;
    }
  }
}

TEST(PatchifyTest, UnpatchifyIsTheExactInverse) {
  const torch::Tensor latents = torch::randn({2, 32, 8, 6});
  for (int p : {1, 2}) {
    const torch::Tensor patches = Patchify(latents, p);
    EXPECT_EQ(patches.sizes(), (std::vector<int64_t>{2, (8 / p) * (6 / p), 32 * p * p}));
    EXPECT_TRUE(torch::equal(Unpatchify(patches, 32, 8, 6, p), latents)) << "p = " << p;
  }
}

TEST(PatchifyTest, MismatchedShapesThrow) {
  EXPECT_THROW(Patchify(torch::zeros({1, 3, 5, 4}), 2), c10::Error);
  EXPECT_THROW(Unpatchify(torch::zeros({1, 4, 8}), 3, 4, 4, 2), c10::Error);
}

TEST(NormalizeLatentsTest, IsPerChannelAndInvertible) {
  const std::vector<float> mean = {1.0f, -2.0f};
  const std::vector<float> stddev = {2.0f, 0.5f};
  torch::Tensor latents = torch::zeros({1, 2, 1, 2});
  latents[0][0][0][0] = 5.0f;   // (5 - 1) / 2 = 2
  latents[0][1][0][1] = -1.0f;  // (-1 + 2) / 0.5 = 2
  const torch::Tensor normalized = NormalizeLatents(latents, mean, stddev);
  EXPECT_EQ(normalized[0][0][0][0].item<float>(), 2.0f);
  EXPECT_EQ(normalized[0][0][0][1].item<float>(), -0.5f);
  EXPECT_EQ(normalized[0][1][0][0].item<float>(), 4.0f);
  EXPECT_EQ(normalized[0][1][0][1].item<float>(), 2.0f);

  const torch::Tensor random = torch::randn({3, 2, 4, 4}) * 5;
  EXPECT_TRUE(
      torch::allclose(DenormalizeLatents(NormalizeLatents(random, mean, stddev), mean, stddev),
                      random, /*rtol=*/1e-5, /*atol=*/1e-5));
  EXPECT_THROW(NormalizeLatents(random, {0.0f}, {1.0f}), c10::Error);
}

TEST(ImageTensorTest, ConvertsToChwInUnitRangeAndBack) {
  Image image;
  image.width = 2;
  image.height = 1;
  image.rgb = {0, 51, 255, 1, 2, 3};
  const torch::Tensor tensor = ImageToTensor(image);
  ASSERT_EQ(tensor.sizes(), (std::vector<int64_t>{3, 1, 2}));
  EXPECT_EQ(tensor.scalar_type(), torch::kFloat);
  EXPECT_FLOAT_EQ(tensor[1][0][0].item<float>(), 0.2f);
  EXPECT_FLOAT_EQ(tensor[2][0][0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(tensor[0][0][1].item<float>(), 1.0f / 255);
  EXPECT_EQ(TensorToImage(tensor).rgb, image.rgb);
}

TEST(ImageTensorTest, TensorToImageRoundsAndClamps) {
  // 0.2 * 255 = 51; 0.5 * 255 = 127.5 rounds half to even = 128; out-of-range values clamp.
  const torch::Tensor tensor =
      torch::tensor({-0.2f, 0.2f, 1.5f, 0.5f, 0.0f, 1.0f}).reshape({3, 1, 2});
  const Image image = TensorToImage(tensor);
  EXPECT_EQ(image.width, 2);
  EXPECT_EQ(image.height, 1);
  // Channel-major input -> pixel-major output: pixel 0 is (c0[0], c1[0], c2[0]).
  EXPECT_EQ(image.rgb, (std::vector<uint8_t>{0, 255, 0, 51, 128, 255}));
}

}  // namespace
}  // namespace infusion::engine
