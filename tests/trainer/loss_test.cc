#include "trainer/loss.h"

#include <ATen/ATen.h>

#include "gtest/gtest.h"
#include "trainer/document_attention.h"
#include "tests/testing/tiny_models.h"

namespace infusion::trainer {

using engine::ModelOutput;
using engine::NoiseSchedule;
using engine::PatchEncoderKind;
using engine::PredictionType;
using engine::TransfusionModel;

namespace {

// Tiny model: n = 4 patches of 128 per image, vocabulary 64.
// lambda = 5, epsilon prediction, no min-SNR weights.
DiffusionObjective Lambda5() { return DiffusionObjective(); }
constexpr int kBos = 2, kEos = 3, kBoi = 4, kEoi = 5, kPatches = 4;

Document Text(std::vector<int> words) {
  Document d;
  d.tokens = {kBos};
  d.tokens.insert(d.tokens.end(), words.begin(), words.end());
  d.tokens.push_back(kEos);
  d.image_slot.assign(d.tokens.size(), -1);
  d.is_target.assign(d.tokens.size(), 1);
  d.is_target[0] = 0;
  return d;
}

Document CaptionFirst(int word, int64_t image) {
  Document d;
  d.tokens = {kBos, word, kBoi, 0, 0, 0, 0, kEoi, kEos};
  d.image_slot = {-1, -1, -1, 0, 0, 0, 0, -1, -1};
  d.is_target = {0, 1, 1, 0, 0, 0, 0, 0, 1};
  d.images = {{image, true, 999}};
  return d;
}

class LossTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = TransfusionModel(testing::TinyConfig(PatchEncoderKind::kUnet));
    model_->InitWeights(3);
    table_ = at::randn({2, kPatches, 128});
    eps_ = at::randn({kPatches, 128});
  }
  TrainingBatch Pack(const std::vector<Row>& rows,
                     const std::vector<std::vector<ImageNoise>>& noise) {
    return PackRows(rows, 24, 0, table_, noise, *schedule_);
  }
  static LossNormalizers Counts(const TrainingBatch& b) {
    return {b.lm_targets.numel(), b.noise.defined() ? b.noise.numel() : 0};
  }

  TransfusionModel model_{nullptr};
  std::unique_ptr<NoiseSchedule> schedule_ = *NoiseSchedule::Create({});
  at::Tensor table_, eps_;
};

// Documents packed into one row train exactly as the same documents in rows of their own: the
// mask and the restarted positions isolate them completely.
TEST_F(LossTest, PackedDocumentsTrainAsIfAlone) {
  const Document a = Text({11, 12, 13}), b = CaptionFirst(20, 1);
  const ImageNoise noise{600, eps_};
  const TrainingBatch packed = Pack({{a, b}}, {{noise}});
  const TrainingBatch apart = Pack({{a}, {b}}, {{}, {noise}});
  const LossNormalizers counts = Counts(packed);
  ASSERT_EQ(counts.lm_targets, Counts(apart).lm_targets);
  const LossTerms p = ComputeLoss(*model_, packed, counts, Lambda5());
  const LossTerms s = ComputeLoss(*model_, apart, counts, Lambda5());
  EXPECT_NEAR(p.lm.item<double>(), s.lm.item<double>(), 1e-5);
  EXPECT_NEAR(p.diffusion.item<double>(), s.diffusion.item<double>(), 1e-5);
  EXPECT_NEAR(p.total.item<double>(), p.lm.item<double>() + 5.0 * p.diffusion.item<double>(), 1e-5);
}

// The terms are sums over this process's targets divided by the global counts given.
TEST_F(LossTest, NormalisedByTheGlobalCounts) {
  const TrainingBatch batch =
      Pack({{Text({11, 12}), CaptionFirst(20, 0)}}, {{ImageNoise{10, eps_}}});
  const LossNormalizers local = Counts(batch);
  EXPECT_EQ(local.lm_targets, 3 + 3);  // 11, 12, </s>; word, <boi>, </s>
  EXPECT_EQ(local.noise_elements, kPatches * 128);
  const LossTerms one = ComputeLoss(*model_, batch, local, Lambda5());
  const LossTerms two =
      ComputeLoss(*model_, batch, {2 * local.lm_targets, 2 * local.noise_elements}, Lambda5());
  EXPECT_NEAR(two.lm.item<double>(), one.lm.item<double>() / 2, 1e-6);
  EXPECT_NEAR(two.diffusion.item<double>(), one.diffusion.item<double>() / 2, 1e-6);
  // At initialisation the text is near uniform over the 64 tokens: ln 64 = 4.16.
  EXPECT_NEAR(one.lm.item<double>(), std::log(64.0), 0.5);
}

// Min-SNR-gamma: each image's squared error weighs min(SNR, gamma) / SNR of its timestep in the
// total; the logged diffusion term stays the plain mean.
TEST_F(LossTest, MinSnrWeightsEachImageByItsTimestep) {
  const at::Tensor weights = MinSnrWeights(*schedule_, 5.0);
  ASSERT_EQ(weights.numel(), 1000);
  const auto snr = [&](int t) { return schedule_->alpha_bar(t) / (1 - schedule_->alpha_bar(t)); };
  EXPECT_NEAR(weights[10].item<double>(), 5.0 / snr(10), 1e-6);  // SNR ~ 3,000: weight ~ 0.002
  EXPECT_LT(weights[10].item<double>(), 0.01);
  EXPECT_EQ(weights[900].item<double>(), 1.0);  // SNR 0.015 < 5
  EXPECT_FALSE(MinSnrWeights(*schedule_, 0.0).defined());

  const at::Tensor eps2 = at::randn({kPatches, 128});
  const TrainingBatch batch = Pack({{CaptionFirst(20, 0), CaptionFirst(21, 1)}},
                                   {{ImageNoise{10, eps_}, ImageNoise{900, eps2}}});
  const LossNormalizers counts = Counts(batch);
  const LossTerms plain = ComputeLoss(*model_, batch, counts, Lambda5());
  const LossTerms weighted =
      ComputeLoss(*model_, batch, counts, {5.0, PredictionType::kEpsilon, weights});
  EXPECT_NEAR(weighted.diffusion.item<double>(), plain.diffusion.item<double>(), 1e-6);
  // The same forward pass, then each image's own error by hand.
  DocumentAttention attention(batch.image_ids, batch.doc_ids);
  const ModelOutput out = model_->Forward(batch.input, attention);
  const at::Tensor per_image = (out.eps - batch.noise).pow(2).sum({1, 2});
  const double expected =
      (weights[10].item<double>() * per_image[0].item<double>() + per_image[1].item<double>()) /
      counts.noise_elements;
  EXPECT_NEAR((weighted.total - weighted.lm).item<double>(), 5.0 * expected, 1e-4);
  EXPECT_LT(weighted.total.item<double>(), plain.total.item<double>());
}

// v-prediction: the weights give each image min(SNR, gamma) / (SNR + 1), so that at high noise
// (SNR -> 0), where the velocity is nearly -x0, an image still weighs its SNR / (SNR + 1) share.
TEST_F(LossTest, MinSnrWeightsForVelocity) {
  const at::Tensor weights = MinSnrWeights(*schedule_, 5.0, PredictionType::kVelocity);
  const auto snr = [&](int t) { return schedule_->alpha_bar(t) / (1 - schedule_->alpha_bar(t)); };
  EXPECT_NEAR(weights[10].item<double>(), 5.0 / (snr(10) + 1), 1e-6);
  EXPECT_NEAR(weights[900].item<double>(), snr(900) / (snr(900) + 1), 1e-6);
  EXPECT_LT(weights[999].item<double>(), 1e-3);
}

// The velocity target is sqrt(ab) eps - sqrt(1 - ab) x0 of each noised image, and x_t, x0, eps and
// v satisfy x0 = sqrt(ab) x_t - sqrt(1 - ab) v, the identity the sampler inverts.
TEST_F(LossTest, VelocityTargetRecoversTheCleanPatches) {
  const at::Tensor eps2 = at::randn({kPatches, 128});
  const TrainingBatch batch = Pack({{CaptionFirst(20, 0), CaptionFirst(21, 1)}},
                                   {{ImageNoise{100, eps_}, ImageNoise{990, eps2}}});
  EXPECT_TRUE(at::equal(DiffusionTarget(batch, PredictionType::kEpsilon), batch.noise));
  const at::Tensor v = DiffusionTarget(batch, PredictionType::kVelocity);
  ASSERT_EQ(v.sizes(), batch.noise.sizes());
  const at::Tensor x_t = batch.input.image_patches.index_select(0, batch.input.noise_images);
  const at::Tensor ab = batch.alpha_bar.view({-1, 1, 1});
  EXPECT_TRUE(at::allclose(ab.sqrt() * x_t - (1 - ab).sqrt() * v, batch.clean, 1e-4, 1e-4));
  // At t = 990 the velocity is almost -x0; the loss uses it as the target.
  EXPECT_GT(at::cosine_similarity(v[1].flatten(), -batch.clean[1].flatten(), 0).item<double>(),
            0.99);
  const LossNormalizers counts = Counts(batch);
  const LossTerms terms =
      ComputeLoss(*model_, batch, counts, {5.0, PredictionType::kVelocity, at::Tensor()});
  DocumentAttention attention(batch.image_ids, batch.doc_ids);
  const ModelOutput out = model_->Forward(batch.input, attention);
  EXPECT_NEAR(terms.diffusion.item<double>(),
              (out.eps - v).pow(2).sum().item<double>() / counts.noise_elements, 1e-5);
}

TEST_F(LossTest, NoNoisedImageNoDiffusionTerm) {
  const TrainingBatch batch = Pack({{Text({11, 12, 13})}}, {{}});
  const LossTerms terms = ComputeLoss(*model_, batch, Counts(batch), Lambda5());
  EXPECT_EQ(terms.diffusion.item<double>(), 0.0);
  terms.total.backward();
  EXPECT_GT(model_->parameters()[0].grad().abs().sum().item<double>(), 0.0);
}

}  // namespace
}  // namespace infusion::trainer
