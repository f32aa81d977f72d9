#include "trainer/batch_builder.h"

#include <ATen/ATen.h>

#include "gtest/gtest.h"
#include "tests/trainer/test_util.h"

namespace infusion::trainer {

using data::Dataset;
using engine::NoiseSchedule;
using engine::SpecialTokens;
using engine::Tokenizer;

namespace {

// The data of a step is a pure function of (seed, step, row): this is what makes a resumed run
// and a run over several processes train on exactly the batches of one uninterrupted process.
class BatchBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tokenizer_ = testing::ShapesTokenizer(testing::FreshDir("batch_builder"));
    ShapesDataOptions shapes;
    shapes.pool_size = 50;
    std::vector<std::unique_ptr<Dataset>> datasets;
    datasets.push_back(*ShapesDataset::Create(shapes));
    mix_ = std::make_unique<DataMix>(std::move(datasets), std::vector<double>{1.0});
    schedule_ = *NoiseSchedule::Create({});
    sequences_ =
        std::make_unique<SequenceBuilder>(*tokenizer_, SpecialTokens(), 4, SequenceOptions());
    const at::Tensor table = at::randn({mix_->num_images(), 4, 8});
    builder_ = std::make_unique<BatchBuilder>(*mix_, *sequences_, table, *schedule_, 128, 5);
  }

  TrainingBatch Build(int64_t step, int64_t first, int64_t rows) {
    absl::StatusOr<TrainingBatch> b = builder_->Build(step, first, rows);
    EXPECT_TRUE(b.ok()) << b.status();
    return *std::move(b);
  }

  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<DataMix> mix_;
  std::unique_ptr<NoiseSchedule> schedule_;
  std::unique_ptr<SequenceBuilder> sequences_;
  std::unique_ptr<BatchBuilder> builder_;
};

TEST_F(BatchBuilderTest, RowsAreTheSameWhoeverBuildsThem) {
  const TrainingBatch all = Build(3, 0, 4);
  const TrainingBatch first = Build(3, 0, 2), second = Build(3, 2, 2);
  EXPECT_TRUE(
      at::equal(all.input.token_ids, at::cat({first.input.token_ids, second.input.token_ids})));
  EXPECT_TRUE(
      at::equal(all.input.positions, at::cat({first.input.positions, second.input.positions})));
  EXPECT_TRUE(at::equal(all.input.image_patches,
                        at::cat({first.input.image_patches, second.input.image_patches})));
  EXPECT_TRUE(at::equal(all.noise, at::cat({first.noise, second.noise})));
  EXPECT_TRUE(at::equal(all.input.image_timesteps,
                        at::cat({first.input.image_timesteps, second.input.image_timesteps})));
  EXPECT_EQ(all.lm_targets.numel(), first.lm_targets.numel() + second.lm_targets.numel());
}

TEST_F(BatchBuilderTest, AStepIsReproducibleAndStepsDiffer) {
  EXPECT_TRUE(at::equal(Build(7, 0, 2).input.token_ids, Build(7, 0, 2).input.token_ids));
  EXPECT_TRUE(at::equal(Build(7, 0, 2).noise, Build(7, 0, 2).noise));
  EXPECT_FALSE(at::equal(Build(7, 0, 2).input.token_ids, Build(8, 0, 2).input.token_ids));
}

TEST_F(BatchBuilderTest, NoiseIsStandardNormalAndTimestepsSpanTheSchedule) {
  const TrainingBatch b = Build(0, 0, 64);
  ASSERT_GT(b.noise.numel(), 2000);
  EXPECT_NEAR(b.noise.mean().item<double>(), 0.0, 0.1);
  EXPECT_NEAR(b.noise.std().item<double>(), 1.0, 0.1);
  const at::Tensor t = b.input.image_timesteps.index_select(0, b.input.noise_images);
  EXPECT_GE(t.min().item<float>(), 0.0f);
  EXPECT_LE(t.max().item<float>(), 999.0f);
  EXPECT_GT(t.max().item<float>() - t.min().item<float>(), 500.0f);
}

}  // namespace
}  // namespace infusion::trainer
