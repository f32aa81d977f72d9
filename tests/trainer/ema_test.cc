#include "trainer/ema.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/modules/linear.h>

#include "gtest/gtest.h"

namespace infusion::trainer {
namespace {

TEST(EmaTest, WarmedUpDecay) {
  torch::nn::Linear layer(torch::nn::LinearOptions(1, 1).bias(false));
  torch::NoGradGuard no_grad;
  layer->weight.fill_(1.0);
  Ema ema(*layer, 0.9);
  layer->weight.fill_(3.0);
  ema.Update(*layer, 0);  // d = min(0.9, 1/10) = 0.1: 0.1 * 1 + 0.9 * 3 = 2.8
  EXPECT_FLOAT_EQ(ema.tensors()[0].second.item<float>(), 2.8f);
  layer->weight.fill_(0.0);
  ema.Update(*layer, 90);  // d = min(0.9, 91/100) = 0.9: 0.9 * 2.8 = 2.52
  EXPECT_FLOAT_EQ(ema.tensors()[0].second.item<float>(), 2.52f);
  torch::nn::Linear target(torch::nn::LinearOptions(1, 1).bias(false));
  ema.CopyTo(*target);
  EXPECT_FLOAT_EQ(target->weight.item<float>(), 2.52f);
  EXPECT_EQ(ema.tensors()[0].first, "weight");
}

TEST(EmaTest, RestoreNamesAMissingTensor) {
  torch::nn::Linear layer(2, 2);
  Ema ema(*layer, 0.9);
  const absl::Status s = ema.Restore({{"weight", at::zeros({2, 2})}});
  EXPECT_NE(s.message().find("'bias'"), std::string::npos);
  EXPECT_NE(ema.Restore({{"weight", at::zeros({3, 2})}, {"bias", at::zeros({2})}})
                .message()
                .find("[3, 2]"),
            std::string::npos);
}

}  // namespace
}  // namespace infusion::trainer
