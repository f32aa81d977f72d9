#include "engine/model/attention_mask.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <random>

namespace infusion::engine {
namespace {

using Kind = Segment::Kind;

TEST(AttentionMaskTest, HandCheckedLayout) {
  // <bos> a | p0 p1 p2 | b
  const at::Tensor m = AttentionMaskFromSegments(
      {{Kind::kText, 2}, {Kind::kImage, 3}, {Kind::kText, 1}});
  const bool expected[6][6] = {
      {1, 0, 0, 0, 0, 0},  // <bos>
      {1, 1, 0, 0, 0, 0},  // a
      {1, 1, 1, 1, 1, 0},  // p0 sees its whole image
      {1, 1, 1, 1, 1, 0},  // p1
      {1, 1, 1, 1, 1, 0},  // p2
      {1, 1, 1, 1, 1, 1},  // b
  };
  for (int i = 0; i < 6; ++i) {
    for (int j = 0; j < 6; ++j) {
      EXPECT_EQ(m[i][j].item<bool>(), expected[i][j]) << i << "," << j;
    }
  }
}

TEST(AttentionMaskTest, AdjacentImagesDoNotSeeEachOther) {
  // Two images back to back: the first must not see the second.
  const at::Tensor m = AttentionMaskFromSegments({{Kind::kImage, 2}, {Kind::kImage, 2}});
  EXPECT_TRUE(m[0][1].item<bool>());
  EXPECT_FALSE(m[0][2].item<bool>());
  EXPECT_FALSE(m[1][3].item<bool>());
  EXPECT_TRUE(m[2][0].item<bool>());
  EXPECT_TRUE(m[2][3].item<bool>());
}

// The tensor builder agrees with the pairwise definition on random packed layouts with documents.
TEST(AttentionMaskTest, MatchesPredicateOnRandomLayouts) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    const int64_t batch = 2, length = 24;
    std::vector<int64_t> image_ids(batch * length), doc_ids(batch * length);
    for (int64_t b = 0; b < batch; ++b) {
      int64_t next_image = 0, doc = 0;
      for (int64_t i = 0; i < length;) {
        const int64_t run = 1 + rng() % 5;
        const bool image = rng() % 2;
        if (rng() % 6 == 0) ++doc;
        for (int64_t k = 0; k < run && i < length; ++k, ++i) {
          image_ids[b * length + i] = image ? next_image : -1;
          doc_ids[b * length + i] = doc;
        }
        if (image) ++next_image;
      }
    }
    const at::Tensor m = BuildAttentionMask(at::tensor(image_ids).view({batch, length}),
                                            at::tensor(doc_ids).view({batch, length}));
    for (int64_t b = 0; b < batch; ++b) {
      std::vector<int64_t> im(image_ids.begin() + b * length, image_ids.begin() + (b + 1) * length);
      std::vector<int64_t> dc(doc_ids.begin() + b * length, doc_ids.begin() + (b + 1) * length);
      for (int64_t i = 0; i < length; ++i) {
        for (int64_t j = 0; j < length; ++j) {
          ASSERT_EQ(m[b][i][j].item<bool>(), MaskAllows(im, dc, i, j));
        }
      }
    }
  }
}

}  // namespace
}  // namespace infusion::engine
