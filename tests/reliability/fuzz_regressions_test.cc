// Inputs on which a fuzz target of fuzz/ failed (docs/reliability.md), each kept as a test of
// what the code must do with it. The inputs themselves are also in the fuzz corpora, which CI
// replays; these tests say what the right answer is.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/model/generation_config.h"
#include "engine/model/model_config.h"
#include "engine/weights/safetensors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace infusion::server {

using engine::GenerationConfig;
using engine::ModelConfig;
using engine::SafetensorsFile;

namespace {

using ::testing::HasSubstr;

std::string WriteTemp(const std::string& name, const std::string& bytes) {
  const std::string path = absl::StrCat(testing::TempDir(), "fuzz_regression_", getpid(), name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// safetensors_fuzzer, its seed corpus: a tensor of shape [0, 4] has no storage, and ReadF32
// passed its null data pointer to memcpy (undefined behaviour, reported by UBSan).
TEST(SafetensorsFuzzRegression, ReadsATensorWithNoElements) {
  const std::string header = R"({"empty":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]}})";
  std::string file(8, '\0');
  file[0] = static_cast<char>(header.size());
  const std::string path = WriteTemp("empty.safetensors", file + header);
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> opened = SafetensorsFile::Open(path);
  ASSERT_TRUE(opened.ok()) << opened.status();
  absl::StatusOr<at::Tensor> tensor = (*opened)->ReadF32("empty");
  ASSERT_TRUE(tensor.ok()) << tensor.status();
  EXPECT_EQ(tensor->sizes().vec(), (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(tensor->numel(), 0);
  std::remove(path.c_str());
}

// model_config_fuzzer: "end_of_turn_token_id":
// 99999999999999999999999999999999999999999999999999999
// (fuzz/corpus/model_config/crash_int_out_of_range.json). nlohmann's get<int>() static_casts the
// double 1e53 to int, which is undefined behaviour; numbers are now range-checked.
TEST(ConfigFuzzRegression, NumbersOutOfRangeAreRefusedByName) {
  std::ifstream file(INFUSION_SOURCE_DIR "/fuzz/corpus/model_config/crash_int_out_of_range.json");
  const std::string crash((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(crash.empty());
  absl::StatusOr<ModelConfig> config = ModelConfig::FromJson(crash);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      config.status().message(),
      HasSubstr("'end_of_turn_token_id' must be an integer in the range of int, got 1e+53"));

  std::ifstream shapes(INFUSION_SOURCE_DIR "/models/shapes/config.json");
  const std::string base((std::istreambuf_iterator<char>(shapes)),
                         std::istreambuf_iterator<char>());
  ASSERT_TRUE(ModelConfig::FromJson(base).ok());
  const auto with = [&base](const std::string& from, const std::string& to) {
    std::string json = base;
    json.replace(json.find(from), from.size(), to);
    return ModelConfig::FromJson(json);
  };
  // An integer written as a float is still that integer; a fraction or a huge integer is not.
  absl::StatusOr<ModelConfig> as_float = with("\"hidden_size\": 256", "\"hidden_size\": 256.0");
  ASSERT_TRUE(as_float.ok()) << as_float.status();
  EXPECT_EQ(as_float->hidden_size, 256);
  EXPECT_THAT(with("\"hidden_size\": 256", "\"hidden_size\": 256.5").status().message(),
              HasSubstr("'hidden_size' must be an integer"));
  EXPECT_THAT(with("\"hidden_size\": 256", "\"hidden_size\": 4294967552").status().message(),
              HasSubstr("'hidden_size' is out of range"));
  // A double beyond float's range, which would be undefined to convert.
  EXPECT_THAT(with("\"rope_theta\": 10000.0", "\"rope_theta\": 1e300").status().message(),
              HasSubstr("'rope_theta' is out of range"));
  EXPECT_THAT(with("0.24286898970603943", "1e39").status().message(),
              HasSubstr("'image.latent_mean' [0] is out of range"));

  EXPECT_THAT(GenerationConfig::FromJson(R"({"max_tokens": 1e53})").status().message(),
              HasSubstr("'max_tokens' must be an integer"));
  EXPECT_THAT(GenerationConfig::FromJson(R"({"eta": 1e300})").status().message(),
              HasSubstr("'eta' is out of range"));
  EXPECT_THAT(GenerationConfig::FromJson(R"({"sampler": 3})").status().message(),
              HasSubstr("'sampler' has the wrong type"));
  absl::StatusOr<GenerationConfig> twelve = GenerationConfig::FromJson(R"({"max_tokens": 12.0})");
  ASSERT_TRUE(twelve.ok()) << twelve.status();
  EXPECT_EQ(twelve->max_tokens, 12);
}

}  // namespace
}  // namespace infusion::server
