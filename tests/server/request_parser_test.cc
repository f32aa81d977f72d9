#include "server/request_parser.h"

#include "gtest/gtest.h"
#include "infusion/v1/infusion.pb.h"

namespace infusion::server {
namespace {

// Wire format by hand, so that a string can hold bytes protobuf would refuse to serialize:
// a length-delimited field is its tag (number << 3 | 2), its length and its bytes.
std::string Field(int number, const std::string& bytes) {
  EXPECT_LT(bytes.size(), 128u);  // a one-byte length
  return std::string{static_cast<char>(number << 3 | 2), static_cast<char>(bytes.size())} + bytes;
}

class RequestParserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto parser = RequestParser::Create(v1::GenerateRequest::descriptor()->file());
    ASSERT_TRUE(parser.ok()) << parser.status();
    parser_ = *std::move(parser);
  }
  std::unique_ptr<RequestParser> parser_;
};

TEST_F(RequestParserTest, ParsesValidRequests) {
  v1::TextToImageRequest sent;
  sent.set_prompt("a red circle, ünïcödé");
  sent.mutable_image()->set_steps(7);
  sent.mutable_image()->set_guidance_scale(0.0f);
  v1::TextToImageRequest parsed;
  ASSERT_TRUE(parser_->Parse(sent.SerializeAsString(), &parsed).ok());
  EXPECT_EQ(parsed.prompt(), sent.prompt());
  EXPECT_EQ(parsed.image().steps(), 7);
  EXPECT_TRUE(parsed.image().has_guidance_scale());  // set to zero is not unset

  const std::string bytes = sent.SerializeAsString();
  grpc::Slice slice(bytes);
  grpc::ByteBuffer buffer(&slice, 1);
  v1::TextToImageRequest from_buffer;
  ASSERT_TRUE(parser_->Parse(buffer, &from_buffer).ok());
  EXPECT_EQ(from_buffer.prompt(), sent.prompt());
}

TEST_F(RequestParserTest, NamesTheStringThatIsNotUtf8) {
  v1::TextToImageRequest t2i;
  absl::Status s = parser_->Parse(Field(1, "a \xff circle"), &t2i);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "prompt is not valid UTF-8");

  // messages[1].parts[0].text, behind a valid first message.
  const std::string good = Field(1, "user") + Field(2, Field(1, "hi"));
  const std::string bad = Field(1, "user") + Field(2, Field(1, "\xc3\x28"));
  v1::ChatRequest chat;
  s = parser_->Parse(Field(1, good) + Field(1, bad), &chat);
  EXPECT_EQ(s.message(), "messages[1].parts[0].text is not valid UTF-8");

  // A repeated string: CaptionRequest.text (3) . stop (6) [1].
  v1::CaptionRequest caption;
  s = parser_->Parse(Field(3, Field(6, "ok") + Field(6, "\xed\xa0\x80")), &caption);  // surrogate
  EXPECT_EQ(s.message(), "text.stop[1] is not valid UTF-8");
}

TEST_F(RequestParserTest, RefusesBytesThatAreNoMessage) {
  v1::TextToImageRequest t2i;
  const absl::Status s = parser_->Parse(std::string("\x0a\x10trunc", 7), &t2i);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "request is not a valid infusion.v1.TextToImageRequest");
}

}  // namespace
}  // namespace infusion::server
