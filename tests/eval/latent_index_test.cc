#include "clients/eval/latent_index.h"

#include <gtest/gtest.h>

namespace infusion::eval {
namespace {

// Points on a line at 0, 1, 3 and 6, and one in the plane, so that distances are easy to check.
LatentIndex LineIndex() {
  LatentIndex index(2);
  for (float x : {0.0f, 1.0f, 3.0f, 6.0f}) index.Add({x, 0.0f});
  return index;
}

TEST(LatentIndexTest, RanksByEuclideanDistance) {
  const LatentIndex index = LineIndex();
  ASSERT_EQ(index.size(), 4);
  const std::vector<float> query = {2.1f, 0.0f};  // distances 2.1, 1.1, 0.9, 3.9
  EXPECT_EQ(index.RankOf(query, 2), 0);
  EXPECT_EQ(index.RankOf(query, 1), 1);
  EXPECT_EQ(index.RankOf(query, 0), 2);
  EXPECT_EQ(index.RankOf(query, 3), 3);
  EXPECT_EQ(index.Nearest(query, 3), (std::vector<int>{2, 1, 0}));
  EXPECT_EQ(index.Nearest(query, 10), (std::vector<int>{2, 1, 0, 3}));
}

TEST(LatentIndexTest, EveryDimensionCounts) {
  LatentIndex index = LineIndex();
  index.Add({1.0f, 1.0f});                        // index 4: distance 1 from (1, 0)
  const std::vector<float> query = {1.0f, 0.9f};  // 0.1 from index 4, 0.9 from index 1
  EXPECT_EQ(index.Nearest(query, 2), (std::vector<int>{4, 1}));
  EXPECT_EQ(index.RankOf(query, 1), 1);
}

TEST(LatentIndexTest, TiesCountForTheTarget) {
  LatentIndex index(1);
  index.Add({5.0f});
  index.Add({5.0f});  // a duplicate image
  index.Add({9.0f});
  EXPECT_EQ(index.RankOf({5.0f}, 0), 0);
  EXPECT_EQ(index.RankOf({5.0f}, 1), 0);
  EXPECT_EQ(index.RankOf({5.0f}, 2), 2);
  EXPECT_EQ(index.Nearest({5.0f}, 1), (std::vector<int>{0}));  // ties by index
}

}  // namespace
}  // namespace infusion::eval
