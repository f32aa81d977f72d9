// Issue #22: every request carrying invalid UTF-8 made libprotobuf write an error line to the
// server's log, so a client could flood it. RequestParser must refuse such requests, naming the
// field, without protobuf logging anything, and read every other field as protobuf does.
#include <google/protobuf/stubs/logging.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "infusion/v1/infusion.pb.h"
#include "server/request_parser.h"

namespace infusion::server {
namespace {

using ::testing::HasSubstr;

// A length-delimited field: tag (number << 3 | 2), a one-byte length, the bytes.
std::string Field(int number, const std::string& bytes) {
  EXPECT_LT(bytes.size(), 128u);
  return std::string{static_cast<char>(number << 3 | 2), static_cast<char>(bytes.size())} + bytes;
}

// Counts protobuf's log lines while it is installed (the test is single-threaded).
class LogCounter {
 public:
  LogCounter() : previous_(google::protobuf::SetLogHandler(&Count)) { lines_.clear(); }
  ~LogCounter() { google::protobuf::SetLogHandler(previous_); }
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  static void Count(google::protobuf::LogLevel, const char*, int, const std::string& message) {
    lines_.push_back(message);
  }
  static inline std::vector<std::string> lines_;
  google::protobuf::LogHandler* const previous_;
};

class RequestParserLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto parser = RequestParser::Create(v1::GenerateRequest::descriptor()->file());
    ASSERT_TRUE(parser.ok()) << parser.status();
    parser_ = *std::move(parser);
  }
  std::unique_ptr<RequestParser> parser_;
};

TEST_F(RequestParserLogTest, InvalidUtf8WritesNoLogLine) {
  const std::string prompt = Field(1, "a \xff circle");  // TextToImageRequest.prompt
  const std::string chat = Field(1, Field(1, "user") + Field(2, Field(1, "\xc3\x28")));
  {
    // The control: protobuf's own parsing of the same bytes logs, and the counter sees it.
    LogCounter log;
    v1::TextToImageRequest t2i;
    EXPECT_FALSE(t2i.ParseFromString(prompt));
    ASSERT_EQ(log.lines().size(), 1u);
    EXPECT_THAT(log.lines()[0], HasSubstr("invalid UTF-8"));
  }
  LogCounter log;
  for (int i = 0; i < 100; ++i) {
    v1::TextToImageRequest t2i;
    EXPECT_EQ(parser_->Parse(prompt, &t2i).message(), "prompt is not valid UTF-8");
    v1::ChatRequest request;
    EXPECT_EQ(parser_->Parse(chat, &request).message(),
              "messages[0].parts[0].text is not valid UTF-8");
  }
  EXPECT_THAT(log.lines(), ::testing::IsEmpty());
}

TEST_F(RequestParserLogTest, MalformedBytesWriteNoLogLine) {
  LogCounter log;
  v1::ChatRequest chat;
  // Truncated, an end-group tag out of place, a length beyond the end, a varint of 11 bytes.
  for (const std::string& bytes :
       {std::string("\x0a\x10trunc", 7), std::string("\x0c", 1), std::string("\x0a\x05\x0a\x7f", 4),
        std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12)}) {
    EXPECT_EQ(parser_->Parse(bytes, &chat).message(),
              "request is not a valid infusion.v1.ChatRequest");
  }
  EXPECT_THAT(log.lines(), ::testing::IsEmpty());
}

// request_parser_fuzzer (fuzz/corpus/request_parser/crash_truncated_string_logged.bin): a
// prompt whose length runs 3 bytes past the end of the request. protobuf reads it into its own
// padding and checks that for UTF-8, logging, before it notices the truncation.
TEST_F(RequestParserLogTest, TruncatedStringWritesNoLogLine) {
  const std::string truncated("\x0a\x0c\x08\x02\xeb\x00\x2f\x00\x00\x20\x75", 11);
  {
    LogCounter log;
    v1::TextToImageRequest t2i;
    EXPECT_FALSE(t2i.ParseFromString(truncated));
    EXPECT_EQ(log.lines().size(), 1u);  // the control: protobuf alone logs
  }
  LogCounter log;
  v1::TextToImageRequest t2i;
  EXPECT_EQ(parser_->Parse(truncated, &t2i).message(),
            "request is not a valid infusion.v1.TextToImageRequest");
  EXPECT_THAT(log.lines(), ::testing::IsEmpty());
}

TEST_F(RequestParserLogTest, ReadsFieldsAsProtobufDoes) {
  // A string field sent with another wire type is an unknown field to protobuf, and so is a
  // field number the schema lacks: neither is text, so neither is checked for UTF-8.
  const std::string prompt_as_varint = std::string("\x08\x05", 2);  // field 1, varint 5
  const std::string unknown_field = Field(15, "\xff\xfe");
  v1::TextToImageRequest t2i;
  EXPECT_TRUE(parser_->Parse(prompt_as_varint + unknown_field + Field(1, "ok"), &t2i).ok());
  EXPECT_EQ(t2i.prompt(), "ok");

  // Bytes fields hold anything; strings nested in messages, repeated or not, are checked.
  v1::CaptionRequest caption;
  EXPECT_TRUE(parser_->Parse(Field(1, Field(1, "\xff\xd8\xff")), &caption).ok());
  EXPECT_EQ(parser_->Parse(Field(3, Field(6, "ok") + Field(6, "\xed\xa0\x80")), &caption).message(),
            "text.stop[1] is not valid UTF-8");
}

}  // namespace
}  // namespace infusion::server
