#include "trainer/lr_schedule.h"

#include "gtest/gtest.h"

namespace infusion::trainer {
namespace {

LrScheduleOptions Options() {
  LrScheduleOptions o;
  o.peak_lr = 1e-3;
  o.min_lr = 1e-4;
  o.warmup_steps = 10;
  o.total_steps = 110;
  return o;
}

TEST(LrScheduleTest, WarmsUpLinearlyThenDecaysAlongACosine) {
  const LrSchedule lr(Options());
  EXPECT_DOUBLE_EQ(lr.At(0), 1e-4);   // 1e-3 * 1/10: the first update already moves
  EXPECT_DOUBLE_EQ(lr.At(4), 5e-4);   // 1e-3 * 5/10
  EXPECT_DOUBLE_EQ(lr.At(9), 1e-3);   // end of warm-up
  EXPECT_DOUBLE_EQ(lr.At(10), 1e-3);  // cosine at progress 0
  // progress 1/2: 1e-4 + 9e-4 * (1 + cos(pi / 2)) / 2 = 5.5e-4
  EXPECT_NEAR(lr.At(60), 5.5e-4, 1e-15);
  // progress 1/4: 1e-4 + 9e-4 * (1 + sqrt(2)/2) / 2 = 8.681980e-4
  EXPECT_NEAR(lr.At(35), 8.6819805153394638e-4, 1e-15);
  EXPECT_DOUBLE_EQ(lr.At(110), 1e-4);  // one past the last update: the minimum
  EXPECT_DOUBLE_EQ(lr.At(500), 1e-4);  // and held there
}

TEST(LrScheduleTest, NoWarmupStartsAtThePeak) {
  LrScheduleOptions o = Options();
  o.warmup_steps = 0;
  EXPECT_DOUBLE_EQ(LrSchedule(o).At(0), 1e-3);
}

TEST(LrScheduleTest, ValidateNamesTheField) {
  LrScheduleOptions o = Options();
  o.warmup_steps = 110;
  EXPECT_NE(o.Validate().message().find("warmup_steps"), std::string::npos);
  o = Options();
  o.min_lr = 2e-3;
  EXPECT_NE(o.Validate().message().find("min_lr"), std::string::npos);
  o = Options();
  o.total_steps = 0;
  EXPECT_NE(o.Validate().message().find("steps"), std::string::npos);
  EXPECT_TRUE(Options().Validate().ok());
}

}  // namespace
}  // namespace infusion::trainer
