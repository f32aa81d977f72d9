#include "trainer/packer.h"

#include <ATen/ATen.h>

#include <cmath>

#include "engine/model/attention_mask.h"
#include "gtest/gtest.h"

namespace infusion::trainer {

using engine::BuildAttentionMask;
using engine::NoiseSchedule;

namespace {

constexpr int kPad = 0, kBos = 2, kEos = 3, kBoi = 4, kEoi = 5;

// <bos> 11 12 <eos>: all but <bos> are targets.
Document TextDoc() {
  Document d;
  d.tokens = {kBos, 11, 12, kEos};
  d.image_slot = {-1, -1, -1, -1};
  d.is_target = {0, 1, 1, 1};
  return d;
}

// <bos> <boi> p p <eoi> <eos>, the image `row` of the table.
Document ImageDoc(int64_t row, bool noised) {
  Document d;
  d.tokens = {kBos, kBoi, kPad, kPad, kEoi, kEos};
  d.image_slot = {-1, -1, 0, 0, -1, -1};
  d.is_target = {0, 1, 0, 0, 0, 1};
  d.images = {{row, noised, 999}};
  return d;
}

std::vector<int64_t> Longs(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

std::unique_ptr<NoiseSchedule> Cosine() { return *NoiseSchedule::Create({}); }

TEST(FillRowTest, StopsAtTheFirstDocumentThatDoesNotFit) {
  std::vector<Document> docs = {ImageDoc(0, true), TextDoc(), ImageDoc(1, true), TextDoc()};
  size_t next = 0;
  absl::StatusOr<Row> row = FillRow(12, [&] { return docs[next++]; });
  ASSERT_TRUE(row.ok()) << row.status();
  // 6 + 4 positions; the next image document (6) does not fit in the last 2 and is dropped.
  ASSERT_EQ(row->size(), 2u);
  EXPECT_EQ((*row)[0].length(), 6);
  EXPECT_EQ((*row)[1].length(), 4);
  EXPECT_EQ(next, 3u);
}

TEST(FillRowTest, CutsATextDocumentToFillTheRow) {
  std::vector<Document> docs = {ImageDoc(0, true), TextDoc()};
  size_t next = 0;
  absl::StatusOr<Row> row = FillRow(8, [&] { return docs[next++]; });
  ASSERT_TRUE(row.ok());
  ASSERT_EQ(row->size(), 2u);
  EXPECT_EQ((*row)[1].tokens, (std::vector<int>{kBos, 11}));
  EXPECT_EQ((*row)[1].is_target, (std::vector<uint8_t>{0, 1}));
}

TEST(FillRowTest, RefusesAnImageDocumentLongerThanARow) {
  absl::StatusOr<Row> row = FillRow(5, [] { return ImageDoc(0, true); });
  EXPECT_TRUE(absl::IsInvalidArgument(row.status()));
  EXPECT_NE(row.status().message().find("seq_len 5"), std::string::npos);
}

class PackRowsTest : public ::testing::Test {
 protected:
  // Row 0: text (0-3), noised image document (4-9), padding (10, 11).
  // Row 1: clean image document (0-5), text (6-9), padding (10, 11).
  void SetUp() override {
    table_ = at::arange(3 * 2 * 4, at::kFloat).view({3, 2, 4}) / 10.0;  // [N=3, n=2, P=4]
    eps_ = at::full({2, 4}, 0.5f);
    const std::vector<Row> rows = {{TextDoc(), ImageDoc(2, true)}, {ImageDoc(1, false), TextDoc()}};
    batch_ = PackRows(rows, 12, kPad, table_, {{ImageNoise{250, eps_}}, {}}, *schedule_);
  }

  std::unique_ptr<NoiseSchedule> schedule_ = Cosine();
  at::Tensor table_, eps_;
  TrainingBatch batch_;
};

TEST_F(PackRowsTest, PositionsRestartForEveryDocument) {
  EXPECT_EQ(Longs(batch_.input.positions),
            (std::vector<int64_t>{0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 0, 1,  //
                                  0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 0, 1}));
  EXPECT_EQ(Longs(batch_.doc_ids[0]), (std::vector<int64_t>{0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2}));
  EXPECT_EQ(Longs(batch_.image_ids[1]),
            (std::vector<int64_t>{-1, -1, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1}));
  EXPECT_EQ(batch_.num_tokens, 20);
  EXPECT_EQ(batch_.attention_pairs, 2 * (4 * 4 + 6 * 6));
}

TEST_F(PackRowsTest, NoAttentionAcrossDocuments) {
  const at::Tensor mask = BuildAttentionMask(batch_.image_ids, batch_.doc_ids)[0];
  for (int64_t i = 0; i < 12; ++i) {
    for (int64_t j = 0; j < 12; ++j) {
      const bool same_doc = (i < 4) == (j < 4) && (i >= 10) == (j >= 10);
      if (!same_doc) {
        EXPECT_FALSE(mask[i][j].item<bool>()) << i << " -> " << j;
      }
    }
  }
  EXPECT_TRUE(mask[9][4].item<bool>());   // <eos> sees its own <bos>
  EXPECT_FALSE(mask[4][3].item<bool>());  // ... but a <bos> never sees the document before
}

TEST_F(PackRowsTest, PatchesSeeTheirWholeImageAndTheTextBefore) {
  const at::Tensor mask = BuildAttentionMask(batch_.image_ids, batch_.doc_ids)[0];
  EXPECT_TRUE(mask[6][7].item<bool>());  // first patch sees the second (bidirectional)
  EXPECT_TRUE(mask[7][6].item<bool>());
  EXPECT_TRUE(mask[6][5].item<bool>());   // and <boi>
  EXPECT_FALSE(mask[5][6].item<bool>());  // <boi> does not see the patches after it
  EXPECT_TRUE(mask[8][7].item<bool>());   // <eoi> sees the image
}

TEST_F(PackRowsTest, LanguageModelLossOnlyOnTextTargets) {
  // Row 0: <bos>->11, 11->12, 12-><eos>; <bos>-><boi>, <eoi>-><eos>. Not <boi>->patch, not
  // patch->patch or patch-><eoi>. Row 1 (offset 12): <bos>-><boi>, <eoi>-><eos>, then the text.
  EXPECT_EQ(Longs(batch_.lm_positions), (std::vector<int64_t>{0, 1, 2, 4, 8, 12, 16, 18, 19, 20}));
  EXPECT_EQ(Longs(batch_.lm_targets),
            (std::vector<int64_t>{11, 12, kEos, kBoi, kEos, kBoi, kEos, 11, 12, kEos}));
}

TEST_F(PackRowsTest, DiffusionLossOnlyOnNoisedImages) {
  EXPECT_EQ(Longs(batch_.input.image_positions), (std::vector<int64_t>{6, 7, 14, 15}));
  EXPECT_EQ(Longs(batch_.input.noise_images), (std::vector<int64_t>{0}));  // not the clean one
  EXPECT_FLOAT_EQ(batch_.input.image_timesteps[0].item<float>(), 250.0f);
  EXPECT_FLOAT_EQ(batch_.input.image_timesteps[1].item<float>(), 0.0f);
  ASSERT_EQ(batch_.noise.sizes(), (std::vector<int64_t>{1, 2, 4}));
  // x_t = sqrt(ab) x0 + sqrt(1 - ab) eps for the noised image (table row 2); the clean one
  // (table row 1) enters as it is.
  const double ab = schedule_->alpha_bar(250);
  const at::Tensor expected = std::sqrt(ab) * table_[2] + std::sqrt(1 - ab) * eps_;
  EXPECT_TRUE(at::allclose(batch_.input.image_patches[0], expected, 1e-6, 1e-6));
  EXPECT_TRUE(at::equal(batch_.input.image_patches[1], table_[1]));
}

}  // namespace
}  // namespace infusion::trainer
