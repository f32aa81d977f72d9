#include "engine/sampler/text_sampler.h"

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace infusion::engine {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<TextSampler> MakeSampler(const SamplingParams& params,
                                         std::vector<int32_t> prompt = {}) {
  absl::StatusOr<std::unique_ptr<TextSampler>> sampler = TextSampler::Create(params, prompt);
  EXPECT_TRUE(sampler.ok()) << sampler.status();
  return std::move(sampler).value();
}

std::vector<float> Logs(std::vector<float> probs) {
  for (float& p : probs) p = std::log(p);
  return probs;
}

// How often each token comes out of `draws` samples.
std::vector<double> Frequencies(TextSampler& sampler, const std::vector<float>& logits, int draws) {
  std::vector<double> frequencies(logits.size(), 0.0);
  for (int i = 0; i < draws; ++i) frequencies[sampler.Sample(logits).token_id] += 1.0 / draws;
  return frequencies;
}

TEST(SamplingParamsTest, DefaultsAreValid) { EXPECT_TRUE(SamplingParams().Validate().ok()); }

TEST(SamplingParamsTest, ValidateNamesTheOffendingField) {
  struct Case {
    void (*mutate)(SamplingParams&);
    std::string field;
  };
  const Case cases[] = {
      {[](SamplingParams& p) { p.temperature = -0.1f; }, "temperature"},
      {[](SamplingParams& p) { p.temperature = NAN; }, "temperature"},
      {[](SamplingParams& p) { p.top_k = -1; }, "top_k"},
      {[](SamplingParams& p) { p.top_p = 0.0f; }, "top_p"},
      {[](SamplingParams& p) { p.top_p = 1.5f; }, "top_p"},
      {[](SamplingParams& p) { p.min_p = -0.5f; }, "min_p"},
      {[](SamplingParams& p) { p.repetition_penalty = 0.0f; }, "repetition_penalty"},
      {[](SamplingParams& p) { p.max_tokens = 0; }, "max_tokens"},
      {[](SamplingParams& p) {
         p.stop_token_ids = {2, -1};
       },
       "stop_token_ids[1]"},
      {[](SamplingParams& p) {
         p.stop = {"ok", ""};
       },
       "stop[1]"},
  };
  for (const Case& c : cases) {
    SamplingParams params;
    c.mutate(params);
    const absl::Status status = params.Validate();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.field));
  }
}

TEST(TextSamplerTest, CreateRejectsInvalidParams) {
  SamplingParams params;
  params.top_p = 2.0f;
  const absl::StatusOr<std::unique_ptr<TextSampler>> sampler = TextSampler::Create(params, {});
  EXPECT_EQ(sampler.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(sampler.status().message()), HasSubstr("top_p"));
}

TEST(TextSamplerTest, GreedyPicksTheArgmax) {
  SamplingParams params;
  params.temperature = 0.0f;
  std::unique_ptr<TextSampler> sampler = MakeSampler(params);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(sampler->Sample({0.1f, 2.0f, 1.9f, -5.0f}).token_id, 1);
}

TEST(TextSamplerTest, RepetitionPenaltyCoversPromptAndOutput) {
  SamplingParams params;
  params.temperature = 0.0f;
  params.repetition_penalty = 2.0f;
  std::unique_ptr<TextSampler> sampler = MakeSampler(params, /*prompt=*/{0});
  const std::vector<float> logits = {3.0f, 2.5f, 1.0f};
  // Token 0 was in the prompt: 3.0 / 2 = 1.5 < 2.5.
  EXPECT_EQ(sampler->Sample(logits).token_id, 1);
  // Now 1 is penalised too: {1.5, 1.25, 1.0}.
  EXPECT_EQ(sampler->Sample(logits).token_id, 0);
  // A forced token counts as seen: {1.5, 1.25, 0.8}, the argmax stays 0 ...
  sampler->AppendToken(2);
  EXPECT_EQ(sampler->Sample({3.0f, 2.5f, 1.6f}).token_id, 0);
  // ... while without the history token 2 would have won: {3.0/2, 2.5/2, 1.6}.
  std::unique_ptr<TextSampler> fresh = MakeSampler(params, /*prompt=*/{0, 1});
  EXPECT_EQ(fresh->Sample({3.0f, 2.5f, 1.6f}).token_id, 2);
}

TEST(TextSamplerTest, SameSeedSameTokensOtherSeedOtherTokens) {
  SamplingParams params;
  params.seed = 1234;
  std::unique_ptr<TextSampler> a = MakeSampler(params);
  std::unique_ptr<TextSampler> b = MakeSampler(params);
  params.seed = 1235;
  std::unique_ptr<TextSampler> c = MakeSampler(params);
  const std::vector<float> flat(100, 0.0f);
  std::vector<int32_t> tokens_a, tokens_b, tokens_c;
  for (int i = 0; i < 50; ++i) {
    tokens_a.push_back(a->Sample(flat).token_id);
    tokens_b.push_back(b->Sample(flat).token_id);
    tokens_c.push_back(c->Sample(flat).token_id);
  }
  EXPECT_EQ(tokens_a, tokens_b);
  EXPECT_NE(tokens_a, tokens_c);
}

TEST(TextSamplerTest, SamplesWithTheModelsFrequencies) {
  std::unique_ptr<TextSampler> sampler = MakeSampler(SamplingParams());
  const std::vector<double> frequencies =
      Frequencies(*sampler, Logs({0.2f, 0.3f, 0.5f}), /*draws=*/20000);
  // Standard error <= 0.0036; 0.015 is four of them.
  EXPECT_NEAR(frequencies[0], 0.2, 0.015);
  EXPECT_NEAR(frequencies[1], 0.3, 0.015);
  EXPECT_NEAR(frequencies[2], 0.5, 0.015);
}

TEST(TextSamplerTest, TemperatureThenFiltersShapeTheDistribution) {
  // Temperature 0.5 squares the odds, {1, 2, 3, 4} -> {1, 4, 9, 16} / 30; top_k = 3 drops the
  // first: {4, 9, 16} / 29; top_p = 0.8 keeps 16 + 9 (0.86): {9, 16} / 25.
  SamplingParams params;
  params.temperature = 0.5f;
  params.top_k = 3;
  params.top_p = 0.8f;
  std::unique_ptr<TextSampler> sampler = MakeSampler(params);
  const std::vector<double> frequencies =
      Frequencies(*sampler, Logs({0.1f, 0.2f, 0.3f, 0.4f}), /*draws=*/20000);
  EXPECT_EQ(frequencies[0], 0.0);
  EXPECT_EQ(frequencies[1], 0.0);
  EXPECT_NEAR(frequencies[2], 9 / 25.0, 0.015);
  EXPECT_NEAR(frequencies[3], 16 / 25.0, 0.015);
}

TEST(TextSamplerTest, MinPDropsUnlikelyTokens) {
  SamplingParams params;
  params.min_p = 0.2f;  // Threshold 0.1: only 0.05 goes.
  std::unique_ptr<TextSampler> sampler = MakeSampler(params);
  const std::vector<double> frequencies =
      Frequencies(*sampler, Logs({0.5f, 0.3f, 0.15f, 0.05f}), /*draws=*/20000);
  EXPECT_EQ(frequencies[3], 0.0);
  EXPECT_NEAR(frequencies[0], 0.5 / 0.95, 0.015);
  EXPECT_NEAR(frequencies[2], 0.15 / 0.95, 0.015);
}

}  // namespace
}  // namespace infusion::engine
