// Inputs on which the HTTP API's fuzz targets (fuzz/http_json_fuzzer.cc,
// fuzz/http_image_edit_fuzzer.cc) failed, each kept with the answer the parser must give. The
// inputs are also in the targets' corpora, which CI replays.
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/http_api.h"

namespace infusion::server::http {
namespace {

using ::testing::HasSubstr;

// A number beyond float's range became infinity, which the engine's `temperature >= 0` and
// `guidance_scale >= 0` checks accept: a client could send temperature 1e39.
TEST(HttpJsonFuzzRegression, NumbersBeyondFloatRangeAreRefusedByName) {
  const nlohmann::json chat = nlohmann::json::parse(
      R"({"messages": [{"role": "user", "content": "hi"}], "temperature": 1e39})");
  absl::StatusOr<ChatCompletionCall> parsed = ParseChatCompletion(chat);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("temperature is out of range"));
  EXPECT_EQ(ToError(parsed.status()).param, "temperature");

  const nlohmann::json image =
      nlohmann::json::parse(R"({"prompt": "a red circle", "guidance_scale": -1e300})");
  EXPECT_THAT(std::string(ParseImageGeneration(image).status().message()),
              HasSubstr("guidance_scale is out of range"));

  // The largest float itself is a number like any other (the engine judges its range).
  const nlohmann::json largest = nlohmann::json::parse(
      R"({"messages": [{"role": "user", "content": "hi"}], "top_p": 3.4028234663852886e38})");
  EXPECT_TRUE(ParseChatCompletion(largest).ok());
}

TEST(HttpImageEditFuzzRegression, FormNumbersBeyondFloatRangeAreRefused) {
  httplib::MultipartFormDataMap form;
  form.emplace("image", httplib::MultipartFormData{"image", "\x89PNG", "i.png", "image/png"});
  form.emplace("prompt", httplib::MultipartFormData{"prompt", "make it blue", "", ""});
  form.emplace("guidance_scale", httplib::MultipartFormData{"guidance_scale", "1e39", "", ""});
  absl::StatusOr<ImageEditCall> parsed = ParseImageEditForm(form);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("guidance_scale is out of range"));
}

// The form's parts as HttpServer reads them: `image[]` is the image; another file is ignored.
TEST(HttpImageEditForm, ReadsTheImageAndTheTextFields) {
  httplib::MultipartFormDataMap form;
  form.emplace("image[]", httplib::MultipartFormData{"image[]", "PNGBYTES", "a.png", "image/png"});
  form.emplace("mask", httplib::MultipartFormData{"mask", "MASK", "m.png", "image/png"});
  form.emplace("prompt", httplib::MultipartFormData{"prompt", "make it blue", "", ""});
  form.emplace("n", httplib::MultipartFormData{"n", "2", "", ""});
  absl::StatusOr<ImageEditCall> parsed = ParseImageEditForm(form);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->request.image.data, "PNGBYTES");
  EXPECT_EQ(parsed->request.instruction, "make it blue");
  EXPECT_EQ(parsed->options.n, 2);
}

}  // namespace
}  // namespace infusion::server::http
