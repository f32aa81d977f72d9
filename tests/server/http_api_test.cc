#include "server/http_api.h"

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace infusion::server::http {

using engine::Image;
using serving::InputPart;

namespace {

using Json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(HttpApiTest, ChatReadsMessagesPartsAndSampling) {
  const std::string png = "\x89PNG fake";
  const Json body = {
      {"model", "tiny"},
      {"messages",
       {{{"role", "developer"}, {"content", "be brief"}},
        {{"role", "user"},
         {"content",
          {{{"type", "text"}, {"text", "what is it?"}},
           {{"type", "image_url"},
            {"image_url", {{"url", "data:image/png;base64," + absl::Base64Escape(png)}}}}}}},
        {{"role", "assistant"}, {"content", nullptr}}}},
      {"max_completion_tokens", 7},
      {"max_tokens", 3},
      {"temperature", 0.5},
      {"seed", -1},
      {"stop", "\n"},
      {"stream", true},
      {"stream_options", {{"include_usage", true}}},
      {"user", "ignored"},
  };
  absl::StatusOr<ChatCompletionCall> call = ParseChatCompletion(body);
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->model, "tiny");
  ASSERT_EQ(call->request.messages.size(), 3u);
  EXPECT_EQ(call->request.messages[0].role, "system");
  ASSERT_EQ(call->request.messages[1].parts.size(), 2u);
  EXPECT_EQ(call->request.messages[1].parts[0].text, "what is it?");
  EXPECT_EQ(call->request.messages[1].parts[1].kind, InputPart::Kind::kImage);
  EXPECT_EQ(call->request.messages[1].parts[1].image.data, png);
  EXPECT_TRUE(call->request.messages[2].parts.empty());
  EXPECT_EQ(call->request.text.max_tokens, 7);  // the newer name wins
  EXPECT_EQ(call->names.max_tokens, "max_completion_tokens");
  EXPECT_FLOAT_EQ(*call->request.text.temperature, 0.5f);
  EXPECT_EQ(*call->request.text.seed, ~uint64_t{0});
  EXPECT_THAT(call->request.text.stop, ElementsAre("\n"));
  EXPECT_FALSE(call->request.text.top_p.has_value());
  EXPECT_EQ(call->request.max_images, 0);
  EXPECT_TRUE(call->stream);
  EXPECT_TRUE(call->include_usage);
}

TEST(HttpApiTest, ParseErrorsNameTheField) {
  auto param = [](const Json& body) {
    absl::StatusOr<ChatCompletionCall> call = ParseChatCompletion(body);
    EXPECT_FALSE(call.ok());
    return ToError(call.status()).param;
  };
  const Json hello = {{{"role", "user"}, {"content", "hi"}}};
  EXPECT_EQ(param({{"messages", "hi"}}), "messages");
  EXPECT_EQ(param({{"messages", hello}, {"temperature", "hot"}}), "temperature");
  EXPECT_EQ(param({{"messages", hello}, {"max_tokens", 1.5}}), "max_tokens");
  EXPECT_EQ(param({{"messages", hello}, {"stop", {"a", 1}}}), "stop[1]");
  EXPECT_EQ(param({{"messages", hello}, {"n", 2}}), "n");
  EXPECT_EQ(param({{"messages", hello}, {"presence_penalty", 0.5}}), "presence_penalty");
  EXPECT_EQ(param({{"messages", {{{"role", "user"}, {"content", {{{"type", "audio"}}}}}}}}),
            "messages[0].content[0].type");
  EXPECT_EQ(param({{"messages",
                    {{{"role", "user"},
                      {"content",
                       {{{"type", "image_url"}, {"image_url", {{"url", "http://x/a.png"}}}}}}}}}}),
            "messages[0].content[0].image_url.url");
  EXPECT_FALSE(ParseChatCompletion(Json::array()).ok());
}

TEST(HttpApiTest, CompletionTakesOnePrompt) {
  absl::StatusOr<CompletionCall> call =
      ParseCompletion({{"prompt", {"once upon"}}, {"echo", true}, {"top_k", 5}});
  ASSERT_TRUE(call.ok()) << call.status();
  ASSERT_EQ(call->request.parts.size(), 1u);
  EXPECT_EQ(call->request.parts[0].text, "once upon");
  EXPECT_EQ(call->request.text.top_k, 5);
  EXPECT_TRUE(call->echo);
  EXPECT_EQ(ToError(ParseCompletion({{"prompt", {"a", "b"}}}).status()).param, "prompt");
}

TEST(HttpApiTest, ImageGenerationChecksNAndFormat) {
  absl::StatusOr<ImageGenerationCall> call =
      ParseImageGeneration({{"prompt", "a red circle"}, {"n", 2}, {"size", "32x32"}, {"seed", 9}});
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->options.n, 2);
  EXPECT_EQ(call->options.size, "32x32");
  EXPECT_EQ(*call->options.seed, 9u);
  EXPECT_EQ(ToError(ParseImageGeneration({{"prompt", "x"}, {"n", 0}}).status()).param, "n");
  EXPECT_EQ(ToError(ParseImageGeneration({{"prompt", "x"}, {"response_format", "url"}}).status())
                .param,
            "response_format");
  EXPECT_EQ(call->options.output_format, "png");
}

TEST(HttpApiTest, OutputFormatPngOrJpeg) {
  absl::StatusOr<ImageGenerationCall> jpeg = ParseImageGeneration(
      {{"prompt", "x"}, {"output_format", "jpeg"}, {"output_compression", 70}});
  ASSERT_TRUE(jpeg.ok()) << jpeg.status();
  EXPECT_EQ(jpeg->options.output_format, "jpeg");
  EXPECT_EQ(jpeg->options.output_compression, 70);
  absl::StatusOr<ImageEditCall> edit =
      ParseImageEdit({{"prompt", "x"}, {"output_format", "jpeg"}}, "bytes");
  ASSERT_TRUE(edit.ok()) << edit.status();
  EXPECT_EQ(edit->options.output_format, "jpeg");
  EXPECT_EQ(edit->options.output_compression, 100);
  EXPECT_EQ(ToError(ParseImageGeneration({{"prompt", "x"}, {"output_format", "webp"}}).status())
                .param,
            "output_format");
  EXPECT_EQ(
      ToError(ParseImageGeneration({{"prompt", "x"}, {"output_compression", -1}}).status()).param,
      "output_compression");

  Image image;
  image.width = 8;
  image.height = 8;
  image.rgb.assign(8 * 8 * 3, 200);
  absl::StatusOr<std::string> bytes = EncodeOutput(image, jpeg->options);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(bytes->substr(0, 2), "\xFF\xD8");
  bytes = EncodeOutput(image, ImageCallOptions{});
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(bytes->substr(1, 3), "PNG");
}

TEST(HttpApiTest, EngineFieldsBecomeTheClients) {
  FieldNames names;
  names.max_tokens = "max_completion_tokens";
  Error e = ToError(absl::InvalidArgumentError("text.max_tokens must be at most 9, got 10"), names);
  EXPECT_EQ(e.http_status, 400);
  EXPECT_EQ(e.type, "invalid_request_error");
  EXPECT_EQ(e.param, "max_completion_tokens");
  EXPECT_EQ(e.message, "max_completion_tokens must be at most 9, got 10");
  EXPECT_EQ(ToError(absl::InvalidArgumentError("text.top_p must be in (0, 1], got 2")).param,
            "top_p");
  EXPECT_EQ(ToError(absl::InvalidArgumentError("messages[1].parts[0].data: not an image")).param,
            "messages[1].content[0].data");
  FieldNames completion;
  completion.parts = "prompt";
  EXPECT_EQ(ToError(absl::InvalidArgumentError("parts: the prompt is empty"), completion).param,
            "prompt");
  EXPECT_EQ(ToError(absl::InvalidArgumentError("the request body is not valid JSON")).param, "");
}

TEST(HttpApiTest, StatusCodesMapToHttp) {
  Error full = ToError(absl::ResourceExhaustedError("queue full"));
  EXPECT_EQ(full.http_status, 429);
  EXPECT_TRUE(full.retry);
  EXPECT_EQ(ToError(absl::UnauthenticatedError("unknown API key")).http_status, 401);
  EXPECT_EQ(ToError(absl::UnavailableError("draining")).http_status, 503);
  Error model = ToError(absl::NotFoundError("model must be \"a\", got \"b\""));
  EXPECT_EQ(model.http_status, 404);
  EXPECT_EQ(model.code, "model_not_found");
  const Json body = ErrorBody(model);
  EXPECT_EQ(body["error"]["param"], "model");
  EXPECT_EQ(body["error"]["type"], "invalid_request_error");
  EXPECT_TRUE(ErrorBody(ToError(absl::InternalError("x")))["error"]["param"].is_null());
}

TEST(HttpApiTest, DataUrls) {
  EXPECT_EQ(*DecodeDataUrl("data:image/jpeg;base64,aGk=", "f"), "hi");
  EXPECT_THAT(DecodeDataUrl("data:image/gif;base64,aGk=", "f").status().message(),
              HasSubstr("PNG or a JPEG"));
  EXPECT_FALSE(DecodeDataUrl("data:image/png,raw", "f").ok());
  EXPECT_FALSE(DecodeDataUrl("data:image/png;base64,!!", "f").ok());
}

}  // namespace
}  // namespace infusion::server::http
