// A corrupted model directory stops startup (InferenceEngine::Create, what infusion-server runs
// first) with a message naming the file and what is wrong with it (issue #22, item 4): a
// truncated or missing safetensors file, tensors of the wrong shape, config.json and
// generation.json that are not JSON or hold impossible values, a damaged tokenizer.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/weights/state_dict.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "serving/inference_engine.h"

namespace infusion::serving {

using engine::StateDict;

namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

class ModelDirectoryFaultsTest : public ::testing::Test {
 protected:
  // A copy of the fixture's good model directory, for this test to break.
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/infusion_faults_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    fs::copy(INFUSION_TEST_MODEL_DIR, dir_, fs::copy_options::recursive);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string File(const std::string& name) const { return dir_ + "/" + name; }

  void Overwrite(const std::string& name, const std::string& text) const {
    std::ofstream(File(name), std::ios::binary | std::ios::trunc) << text;
  }

  // The status startup ends with.
  absl::Status Start() const {
    InferenceEngineOptions options;
    options.executor.model_dir = dir_;
    options.executor.num_threads = 1;
    options.executor.kv_cache_bytes = size_t{4} << 20;
    absl::StatusOr<std::unique_ptr<InferenceEngine>> engine = InferenceEngine::Create(options);
    return engine.status();
  }

  std::string dir_;
};

TEST_F(ModelDirectoryFaultsTest, TheGoodDirectoryStarts) { EXPECT_TRUE(Start().ok()) << Start(); }

TEST_F(ModelDirectoryFaultsTest, TruncatedWeightsNameTheFileAndItsSize) {
  const std::string weights = File("model.safetensors");
  fs::resize_file(weights, fs::file_size(weights) / 2);
  const absl::Status status = Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              AllOf(HasSubstr(weights), HasSubstr("truncated file"),
                    HasSubstr("go beyond the data section")))
      << status;
}

TEST_F(ModelDirectoryFaultsTest, WeightsCutInsideTheHeader) {
  const std::string weights = File("model.safetensors");
  fs::resize_file(weights, 20);
  const absl::Status status = Start();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr(weights));
}

TEST_F(ModelDirectoryFaultsTest, MissingWeightsNameTheFile) {
  fs::remove(File("model.safetensors"));
  const absl::Status status = Start();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr(File("model.safetensors")));
}

TEST_F(ModelDirectoryFaultsTest, TensorOfTheWrongShapeIsNamedWithBothShapes) {
  absl::StatusOr<StateDict> state = StateDict::Load(File("model.safetensors"));
  ASSERT_TRUE(state.ok()) << state.status();
  // The first matrix, one row short.
  std::string victim;
  for (const std::string& name : state->Names()) {
    if (state->Get(name)->dim() == 2) {
      victim = name;
      break;
    }
  }
  ASSERT_FALSE(victim.empty());
  const at::Tensor tensor = *state->Get(victim);
  state->Insert(victim, tensor.narrow(0, 0, tensor.size(0) - 1).contiguous());
  ASSERT_TRUE(state->Save(File("model.safetensors"), {{"format", "pt"}}).ok());
  const absl::Status status = Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(File("model.safetensors")), HasSubstr(absl::StrCat("'", victim, "'")),
                    HasSubstr("has shape ["), HasSubstr("expected [")))
      << status;
}

TEST_F(ModelDirectoryFaultsTest, ConfigThatIsNotJsonSaysWhere) {
  Overwrite("config.json", "{\"vocab_size\": 320,\n \"hidden_size\": 32\n");  // no closing brace
  const absl::Status status = Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr(File("config.json")), HasSubstr("not valid JSON"),
                                      HasSubstr("line 3")))
      << status;
}

TEST_F(ModelDirectoryFaultsTest, ConfigWithAnImpossibleValueNamesTheKey) {
  std::ifstream in(File("config.json"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t at = text.find("\"num_attention_heads\"");
  ASSERT_NE(at, std::string::npos);
  const size_t colon = text.find(':', at), end = text.find_first_of(",}", colon);
  text.replace(colon + 1, end - colon - 1, " -3");
  Overwrite("config.json", text);
  const absl::Status status = Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(File("config.json")), HasSubstr("num_attention_heads")))
      << status;
}

TEST_F(ModelDirectoryFaultsTest, ConfigThatDisagreesWithTheWeightsNamesTheWeights) {
  std::ifstream in(File("config.json"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t at = text.find("\"intermediate_size\"");
  ASSERT_NE(at, std::string::npos);
  const size_t colon = text.find(':', at), end = text.find_first_of(",}", colon);
  text.replace(colon + 1, end - colon - 1, " 40");
  Overwrite("config.json", text);
  const absl::Status status = Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr(File("model.safetensors")), HasSubstr("has shape")))
      << status;
}

TEST_F(ModelDirectoryFaultsTest, GenerationJsonThatIsNotJsonSaysWhere) {
  Overwrite("generation.json", "{\"temperature\": 0.7,, \"top_p\": 0.9}");
  const absl::Status status = Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr(File("generation.json")),
                                      HasSubstr("not valid JSON"), HasSubstr("column")))
      << status;
}

TEST_F(ModelDirectoryFaultsTest, GenerationJsonWithAWrongTypeNamesTheKey) {
  Overwrite("generation.json", "{\"top_p\": \"high\"}");
  const absl::Status status = Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr(File("generation.json")), HasSubstr("top_p")))
      << status;
}

TEST_F(ModelDirectoryFaultsTest, TruncatedTokenizerNamesTheFile) {
  const std::string tokenizer = File("tokenizer.model");
  fs::resize_file(tokenizer, fs::file_size(tokenizer) / 3);
  const absl::Status status = Start();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr(tokenizer)) << status;
}

}  // namespace
}  // namespace infusion::serving
