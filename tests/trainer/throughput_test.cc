#include "trainer/throughput.h"

#include <ATen/ATen.h>

#include "gtest/gtest.h"
#include "tests/testing/tiny_models.h"

namespace infusion::trainer {

using engine::ModelConfig;
using engine::PatchEncoderKind;
using engine::TransfusionModel;

namespace {

TEST(ThroughputTest, ParameterCountsSplitTheModel) {
  ModelConfig config = testing::TinyConfig(PatchEncoderKind::kLinear);
  config.tie_word_embeddings = false;
  TransfusionModel model(config);
  const ParameterCounts c = CountParameters(*model);
  // Untied: the embedding (64 x 32) is a lookup, counted in the total only; lm_head 64 x 32.
  EXPECT_EQ(c.lm_head, 64 * 32);
  EXPECT_EQ(c.backbone + c.image + c.lm_head + 64 * 32, c.total);
  // Per layer: q 32x32, k and v 16x32 (2 kv heads of 8), o 32x32, MLP 3 x 64x32, 2 norms; + norm.
  EXPECT_EQ(c.backbone, 2 * (1024 + 512 + 512 + 1024 + 3 * 2048 + 64) + 32);
}

TEST(ThroughputTest, SixFlopsPerWeightAndPositionPlusAttention) {
  ModelConfig config = testing::TinyConfig(PatchEncoderKind::kLinear);
  ParameterCounts params;
  params.backbone = 1000;
  params.image = 100;
  params.lm_head = 10;
  TrainingBatch batch;
  batch.num_tokens = 20;
  batch.attention_pairs = 10 * 10 + 10 * 10;                   // two documents of 10
  batch.input.image_positions = at::zeros({2, 4}, at::kLong);  // 8 patches
  batch.lm_targets = at::zeros({5}, at::kLong);
  // 6 (1000 * 20 + 100 * 8 + 10 * 5) + 12 * 2 layers * 32 hidden * 200 pairs
  EXPECT_DOUBLE_EQ(TrainingFlops(config, params, batch), 6.0 * 20850 + 153600.0);
}

TEST(ThroughputTest, MatmulRateIsPlausible) {
  const double flops = MeasureMatmulFlops(256, 3);
  EXPECT_GT(flops, 1e8);   // even a slow core
  EXPECT_LT(flops, 1e14);  // no CPU does 100 TFLOP/s in float32
}

}  // namespace
}  // namespace infusion::trainer
