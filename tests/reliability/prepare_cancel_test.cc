// The work before the engine (issue #22, item 6): a request's bounds that need no decoding are
// checked before any image is decoded or text tokenized, and the decoding, encoding and
// tokenizing that follow stop, between pieces, once the caller says the request was cancelled
// (RequestOptions::cancelled: the gRPC service asks its call's context) or its deadline passed.
//
// Each request below ends with an image that is not an image: reaching it would make the answer
// INVALID_ARGUMENT about that image, so any other answer shows the work stopped before it.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "serving/inference_engine.h"
#include "serving/request_preparer.h"

namespace infusion::serving {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class PrepareCancelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    InferenceEngineOptions options;
    options.executor.model_dir = INFUSION_TEST_MODEL_DIR;
    options.executor.num_threads = 1;
    options.executor.kv_cache_bytes = size_t{4} << 20;
    absl::StatusOr<std::unique_ptr<InferenceEngine>> engine = InferenceEngine::Create(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = engine->release();
    png_ = new std::string(
        ReadFile(std::string(INFUSION_SOURCE_DIR) + "/tests/data/images/shapes/red_circle.png"));
    ASSERT_FALSE(png_->empty());
  }
  static void TearDownTestSuite() {
    delete engine_;
    delete png_;
  }

  // "describe", two good images, then one that is not an image.
  static ChatRequest ChatEndingInABadImage() {
    ChatRequest chat;
    InputMessage user;
    user.role = "user";
    user.parts = {InputPart::Text("describe"), InputPart::Image(*png_), InputPart::Image(*png_),
                  InputPart::Image("not an image")};
    chat.messages.push_back(user);
    return chat;
  }

  static InferenceEngine* engine_;
  static std::string* png_;
};

InferenceEngine* PrepareCancelTest::engine_ = nullptr;
std::string* PrepareCancelTest::png_ = nullptr;

TEST_F(PrepareCancelTest, WithoutCancelTheWorkReachesTheLastImage) {
  const absl::Status status = engine_->Prepare(ChatEndingInABadImage()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("messages[0].parts[3].image.data")) << status;
}

TEST_F(PrepareCancelTest, ACancelledCallDoesNoWork) {
  ChatRequest chat = ChatEndingInABadImage();
  int asked = 0;
  chat.options.cancelled = [&asked] {
    ++asked;
    return true;
  };
  const absl::Status status = engine_->Prepare(chat).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_EQ(asked, 1);  // asked once, before the first piece of work
}

TEST_F(PrepareCancelTest, ACancelArrivingMidwayStopsBeforeTheNextImage) {
  ChatRequest chat = ChatEndingInABadImage();
  int asked = 0;
  // The client leaves once preparation has begun: every question after the first says so.
  chat.options.cancelled = [&asked] { return asked++ > 0; };
  const absl::Status status = engine_->Prepare(chat).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_THAT(status.message(), HasSubstr("cancelled while its input was prepared"));
}

TEST_F(PrepareCancelTest, CancelIsObservedBetweenDecodingAndEncodingAnEdit) {
  EditImageRequest edit;
  edit.image.data = *png_;
  edit.instruction = "make it blue";
  int asked = 0;
  edit.options.cancelled = [&asked] { return asked++ > 0; };  // after the decode
  const absl::Status status = engine_->Prepare(edit).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_EQ(asked, 2);
}

TEST_F(PrepareCancelTest, APassedDeadlineDoesNoWork) {
  ChatRequest chat = ChatEndingInABadImage();
  chat.options.deadline = absl::Now() - absl::Seconds(1);
  const absl::Status status = engine_->Prepare(chat).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
}

TEST_F(PrepareCancelTest, AnEndlessCancelledPromptIsNotTokenized) {
  TextToImageRequest request;
  request.prompt = std::string(1 << 20, 'a');
  request.options.cancelled = [] { return true; };
  EXPECT_EQ(engine_->Prepare(request).status().code(), absl::StatusCode::kCancelled);
}

// Bounds that need no decoding come first: a request refused for them decodes nothing.
TEST_F(PrepareCancelTest, ParametersAreCheckedBeforeAnyImageIsDecoded) {
  ChatRequest chat = ChatEndingInABadImage();
  chat.text.top_p = 5.0f;
  absl::Status status = engine_->Prepare(chat).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("text.top_p")) << status;

  chat = ChatEndingInABadImage();
  chat.image.guidance_scale = 1000.0f;
  status = engine_->Prepare(chat).status();
  EXPECT_THAT(status.message(), HasSubstr("image.guidance_scale")) << status;

  chat = ChatEndingInABadImage();
  chat.messages[0].role = "robot";
  status = engine_->Prepare(chat).status();
  EXPECT_THAT(status.message(), HasSubstr("messages[0].role")) << status;
}

TEST_F(PrepareCancelTest, StopStringsAreBounded) {
  ChatRequest chat = ChatEndingInABadImage();
  chat.text.stop.assign(RequestPreparer::kMaxStopStrings + 1, "x");
  absl::Status status = engine_->Prepare(chat).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("text.stop must hold at most 16 strings, got 17"));

  chat = ChatEndingInABadImage();
  chat.text.stop = {"end", std::string(RequestPreparer::kMaxStopStringBytes + 1, 'x')};
  status = engine_->Prepare(chat).status();
  EXPECT_THAT(status.message(), HasSubstr("text.stop[1] must be at most 256 bytes, got 257"));
}

TEST_F(PrepareCancelTest, MoreImagesThanTheContextHoldsAreRefusedBeforeDecoding) {
  // The tiny model: 4 positions per image, a context of 256.
  GenerateRequest generate;
  for (int i = 0; i < 64; ++i) generate.parts.push_back(InputPart::Image("not an image"));
  const absl::Status status = engine_->Prepare(generate).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("parts: 64 images take 256 positions, the model's context is 256"))
      << status;
}

}  // namespace
}  // namespace infusion::serving
