// docs/model-format.md §8 specifies the served sampling; the table it prints (between the
// sampler-values markers) must be what the code computes. Also the shared denoising loop
// (ImageDenoiser) against the primitives the specification is written in.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "engine/sampler/diffusion_sampler.h"
#include "engine/sampler/image_denoiser.h"
#include "engine/sampler/noise_schedule.h"

namespace infusion::engine {
namespace {

// Rows of the table: quantity -> values (as written).
std::vector<std::pair<std::string, std::string>> SpecRows() {
  std::ifstream in(INFUSION_SOURCE_DIR "/docs/model-format.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const size_t begin = doc.find("<!-- sampler-values:begin");
  const size_t end = doc.find("<!-- sampler-values:end -->");
  EXPECT_NE(begin, std::string::npos);
  EXPECT_NE(end, std::string::npos);
  std::vector<std::pair<std::string, std::string>> rows;
  if (begin == std::string::npos || end == std::string::npos) return rows;
  for (absl::string_view line : absl::StrSplit(doc.substr(begin, end - begin), '\n')) {
    std::vector<std::string> cells = absl::StrSplit(line, '|');
    if (cells.size() != 4) continue;  // "| quantity | values |" splits into 4
    const std::string name(absl::StripAsciiWhitespace(cells[1]));
    const std::string values(absl::StripAsciiWhitespace(cells[2]));
    if (name == "quantity" || name.rfind("---", 0) == 0) continue;
    rows.emplace_back(name, values);
  }
  return rows;
}

// "trailing T=1000 N=25" -> {"trailing", 1000, 25}.
struct Key {
  std::string what;
  int a = 0, b = 0;
};
Key ParseKey(const std::string& name) {
  Key k;
  std::vector<std::string> parts = absl::StrSplit(name, ' ');
  k.what = parts[0];
  for (size_t i = 1; i < parts.size(); ++i) {
    std::vector<std::string> kv = absl::StrSplit(parts[i], '=');
    int v = 0;
    EXPECT_TRUE(kv.size() == 2 && absl::SimpleAtoi(kv[1], &v)) << name;
    (i == 1 ? k.a : k.b) = v;
  }
  return k;
}

TEST(SamplerSpecTest, PrintedValuesAreTheCodes) {
  const auto rows = SpecRows();
  ASSERT_GE(rows.size(), 10u);
  int checked = 0;
  for (const auto& [name, values] : rows) {
    const Key key = ParseKey(name);
    if (key.what == "trailing" || key.what == "leading") {
      std::vector<int32_t> printed;
      for (absl::string_view v : absl::StrSplit(values, ' ', absl::SkipEmpty())) {
        int32_t t;
        ASSERT_TRUE(absl::SimpleAtoi(v, &t)) << name;
        printed.push_back(t);
      }
      const std::vector<int32_t> code = key.what == "trailing" ? TrailingTimesteps(key.a, key.b)
                                                                : LeadingTimesteps(key.a, key.b);
      EXPECT_EQ(printed, code) << name;
      ++checked;
    } else if (key.what == "alpha_bar" || key.what == "beta") {
      double printed = 0;
      ASSERT_TRUE(absl::SimpleAtod(values, &printed)) << name;
      NoiseScheduleOptions options;
      options.num_train_steps = key.a;
      auto schedule = NoiseSchedule::Create(options);
      ASSERT_TRUE(schedule.ok());
      const double code = key.what == "beta" ? (*schedule)->beta(key.b) : (*schedule)->alpha_bar(key.b);
      EXPECT_NEAR(printed, code, 5e-6 * std::abs(code)) << name;  // printed to 6 digits
      ++checked;
    } else {
      ADD_FAILURE() << "unknown row " << name;
    }
  }
  EXPECT_EQ(checked, static_cast<int>(rows.size()));
}

// The k-th image of a request: seeded with seed + k, as the specification says.
TEST(ImageDenoiserTest, EachImageIndexHasItsOwnNoise) {
  NoiseScheduleOptions options;
  auto schedule = *NoiseSchedule::Create(options);
  DiffusionParams params;
  params.steps = 4;
  params.seed = 41;
  auto second = ImageDenoiser::Start(*schedule, params, /*image_index=*/1, 16);
  ASSERT_TRUE(second.ok());
  params.seed = 42;
  auto direct = DiffusionState::Start(*schedule, params, 16);
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(second->x(), direct->x);
  EXPECT_EQ(second->timestep(), direct->timesteps[0]);
}

// Advance = guidance, then one solver step (the preview being that step's clipped x0), until done.
TEST(ImageDenoiserTest, AdvanceIsGuidanceThenTheSolverStep) {
  NoiseScheduleOptions options;
  auto schedule = *NoiseSchedule::Create(options);
  DiffusionParams params;
  params.steps = 3;
  params.eta = 0.5f;  // stochastic steps draw from the same generator in both
  params.guidance_scale = 2.5f;
  params.seed = 7;
  auto image = ImageDenoiser::Start(*schedule, params, 0, 8);
  ASSERT_TRUE(image.ok());
  auto state = *DiffusionState::Start(*schedule, params, 8);
  EXPECT_TRUE(image->guided());
  for (int step = 0; step < 3; ++step) {
    ASSERT_FALSE(image->done());
    std::vector<float> cond(8), uncond(8), guided(8);
    for (int i = 0; i < 8; ++i) {
      cond[i] = 0.1f * (i + step);
      uncond[i] = -0.05f * i;
    }
    ApplyGuidance(cond, uncond, params.guidance_scale, absl::MakeSpan(guided));
    const std::vector<float> expected_preview = PredictX0(*schedule, params, guided.data(), state);
    Step(*schedule, params, guided.data(), &state);
    std::vector<float> preview;
    image->Advance(cond.data(), uncond.data(), &preview);
    EXPECT_EQ(preview, expected_preview);
    EXPECT_EQ(image->x(), state.x);
    EXPECT_EQ(image->steps_taken(), step + 1);
  }
  EXPECT_TRUE(image->done());
  EXPECT_EQ(std::move(*image).TakeLatents(), state.x);
}

}  // namespace
}  // namespace infusion::engine
