#include "engine/model/model_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/model/generation_config.h"
#include "tests/testing/tiny_models.h"

namespace infusion::engine {
namespace {

using ::testing::HasSubstr;

TEST(ModelConfigTest, RoundTripsThroughJson) {
  for (auto kind : {PatchEncoderKind::kLinear, PatchEncoderKind::kUnet}) {
    const ModelConfig c = testing::TinyConfig(kind);
    ASSERT_TRUE(c.Validate().ok()) << c.Validate();
    auto parsed = ModelConfig::FromJson(c.ToJson());
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->ToJson(), c.ToJson());
    EXPECT_EQ(parsed->image.num_patches(), 4);
    EXPECT_EQ(parsed->image.patch_dim(), 128);
    EXPECT_EQ(parsed->head_dim(), 8);
    EXPECT_FALSE(parsed->image.position_embedding);
  }
  ModelConfig c = testing::TinyConfig(PatchEncoderKind::kUnet);
  c.image.position_embedding = true;
  auto parsed = ModelConfig::FromJson(c.ToJson());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->image.position_embedding);
}

TEST(ModelConfigTest, KeyValueHeadsDefaultToAttentionHeads) {
  std::string json = testing::TinyConfig(PatchEncoderKind::kLinear).ToJson();
  const std::string key = "\"num_key_value_heads\": 2,";
  json.erase(json.find(key), key.size());
  auto parsed = ModelConfig::FromJson(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->num_key_value_heads, 4);
}

// The model's sampling settings reach a request's DiffusionParams; spacing defaults to leading
// (configs written before the key existed have none).
TEST(ModelConfigTest, DiffusionSettingsApplyToParams) {
  ModelConfig c = testing::TinyConfig(PatchEncoderKind::kUnet);
  DiffusionParams params;
  params.spacing = TimestepSpacing::kTrailing;
  c.diffusion.clip_sample_range = 2.5f;
  c.diffusion.ApplyTo(&params);
  EXPECT_EQ(params.clip_sample_range, 2.5f);
  EXPECT_EQ(params.spacing, TimestepSpacing::kLeading);
  EXPECT_EQ(params.prediction, PredictionType::kEpsilon);
  EXPECT_EQ(c.diffusion.prediction(), PredictionType::kEpsilon);
  c.diffusion.timestep_spacing = "trailing";
  c.diffusion.prediction_type = "v_prediction";
  ASSERT_TRUE(c.Validate().ok());
  c.diffusion.ApplyTo(&params);
  EXPECT_EQ(params.spacing, TimestepSpacing::kTrailing);
  EXPECT_EQ(params.prediction, PredictionType::kVelocity);
  EXPECT_EQ(c.diffusion.prediction(), PredictionType::kVelocity);
  std::string json = testing::TinyConfig(PatchEncoderKind::kUnet).ToJson();
  const std::string key = ",\n    \"timestep_spacing\": \"leading\"";
  ASSERT_NE(json.find(key), std::string::npos) << json;
  json.erase(json.find(key), key.size());
  auto parsed = ModelConfig::FromJson(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->diffusion.timestep_spacing, "leading");
}

// zero_mean_initial_noise round-trips, is off when absent, and gives the sampler the latent layout.
TEST(ModelConfigTest, ZeroMeanInitialNoiseCarriesTheLatentLayout) {
  ModelConfig c = testing::TinyConfig(PatchEncoderKind::kUnet);
  DiffusionParams params;
  c.ApplyDiffusionTo(&params);
  EXPECT_EQ(params.noise_channels, 0);
  c.diffusion.zero_mean_initial_noise = true;
  auto parsed = ModelConfig::FromJson(c.ToJson());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->diffusion.zero_mean_initial_noise);
  parsed->ApplyDiffusionTo(&params);
  EXPECT_EQ(params.noise_channels, c.image.latent_channels);
  EXPECT_EQ(params.noise_patch_area, c.image.patch_size * c.image.patch_size);
  EXPECT_FALSE(testing::TinyConfig(PatchEncoderKind::kUnet).diffusion.zero_mean_initial_noise);
}

// Each broken config is refused with a message that names the key.
TEST(ModelConfigTest, ErrorsNameTheKey) {
  struct Case {
    std::string from, to, key;
  };
  const std::vector<Case> cases = {
      {"\"hidden_size\": 32", "\"hidden_size\": 30", "hidden_size"},
      {"\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3", "num_key_value_heads"},
      {"\"vocab_size\": 64", "\"vocab_size\": \"many\"", "vocab_size"},
      {"\"boi_token_id\": 4", "\"boi_token_id\": 5", "eoi_token_id"},
      {"\"eoi_token_id\": 5", "\"eoi_token_id\": 640", "eoi_token_id"},
      {"\"codec\": \"taef2\"", "\"codec\": \"vqgan\"", "image.codec"},
      {"\"patch_size\": 2", "\"patch_size\": 3", "image.patch_size"},
      {"\"patch_encoder\": \"linear\"", "\"patch_encoder\": \"mlp\"", "image.patch_encoder"},
      {"\"schedule\": \"cosine\"", "\"schedule\": \"linear\"", "diffusion.schedule"},
      {"\"timestep_spacing\": \"leading\"", "\"timestep_spacing\": \"sideways\"",
       "diffusion.timestep_spacing"},
      {"\"prediction_type\": \"epsilon\"", "\"prediction_type\": \"sample\"",
       "diffusion.prediction_type"},
  };
  const std::string base = testing::TinyConfig(PatchEncoderKind::kLinear).ToJson();
  for (const Case& c : cases) {
    std::string json = base;
    const size_t at = json.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    json.replace(at, c.from.size(), c.to);
    auto parsed = ModelConfig::FromJson(json);
    ASSERT_FALSE(parsed.ok()) << c.to;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("'" + c.key + "'")) << c.to;
  }
}

TEST(ModelConfigTest, MissingKeyAndBadJson) {
  EXPECT_THAT(std::string(ModelConfig::FromJson("{\"vocab_size\": 5}").status().message()),
              HasSubstr("'hidden_size' is missing"));
  EXPECT_THAT(std::string(ModelConfig::FromJson("{not json").status().message()),
              HasSubstr("not valid JSON"));
  EXPECT_EQ(ModelConfig::FromFile("/nonexistent/config.json").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ModelConfigTest, UnetLevelsMustMatchPatchSize) {
  ModelConfig c = testing::TinyConfig(PatchEncoderKind::kUnet);
  c.image.unet.channels = {16, 32, 32};  // two down-samplings, but patch_size is 2
  EXPECT_THAT(std::string(c.Validate().message()), HasSubstr("image.unet.channels"));
}

TEST(GenerationConfigTest, DefaultsAndValidation) {
  auto g = GenerationConfig::FromJson("{\"image_steps\": 50, \"sampler\": \"ddpm\"}");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->image_steps, 50);
  EXPECT_EQ(g->sampler, "ddpm");
  EXPECT_FLOAT_EQ(g->guidance_scale, 3.0f);
  EXPECT_THAT(std::string(GenerationConfig::FromJson("{\"top_p\": 0}").status().message()),
              HasSubstr("'top_p'"));
  auto round = GenerationConfig::FromJson(g->ToJson());
  ASSERT_TRUE(round.ok());
  EXPECT_EQ(round->ToJson(), g->ToJson());
}

}  // namespace
}  // namespace infusion::engine
