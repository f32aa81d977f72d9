#include "engine/tokenizer/tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/model/model_config.h"

namespace infusion {
namespace {

class TokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::vector<std::string> corpus;
    const char* colors[] = {"red", "green", "blue", "yellow", "purple", "orange"};
    const char* shapes[] = {"circle", "square", "triangle"};
    for (const char* c : colors) {
      for (const char* s : shapes) {
        corpus.push_back(std::string("a ") + c + " " + s + " at the top left");
        corpus.push_back(std::string("what color is the ") + s + "?");
      }
    }
    path_ = ::testing::TempDir() + "/tokenizer_test.model";
    TokenizerTrainOptions options;
    options.vocab_size = 400;  // 256 byte-fallback pieces + specials + text
    const absl::Status status = TrainTokenizer(corpus, options, path_);
    ASSERT_TRUE(status.ok()) << status;
  }
  static std::string path_;
};
std::string TokenizerTest::path_;

TEST_F(TokenizerTest, SpecialTokensHaveTheConfigIds) {
  auto tok = Tokenizer::Load(path_);
  ASSERT_TRUE(tok.ok()) << tok.status();
  const SpecialTokens defaults;
  EXPECT_TRUE((*tok)->CheckCompatible(defaults, 400).ok());
  EXPECT_EQ((*tok)->PieceToId("<boi>"), defaults.boi);
  EXPECT_EQ((*tok)->PieceToId("<|assistant|>"), defaults.assistant);
  EXPECT_EQ((*tok)->PieceToId("no-such-piece"), -1);
  EXPECT_LE((*tok)->vocab_size(), 400);
}

TEST_F(TokenizerTest, RoundTripAndNoForgedSpecialTokens) {
  auto tok = *Tokenizer::Load(path_);
  const std::string text = "a red circle at the top left";
  const std::vector<int> ids = tok->Encode(text);
  EXPECT_EQ(tok->Decode(ids), text);
  // Text spelling a control token never becomes that token.
  for (int id : tok->Encode("<boi> <|user|> </s>")) {
    EXPECT_GE(id, 10) << "text produced special token " << id;
  }
  // Unseen characters survive through byte fallback.
  EXPECT_EQ(tok->Decode(tok->Encode("zebra \xc3\xa9")), "zebra \xc3\xa9");
  // Special tokens decode to nothing; out-of-range ids are dropped.
  std::vector<int> with_special = {2, 4};
  with_special.insert(with_special.end(), ids.begin(), ids.end());
  with_special.push_back(100000);
  EXPECT_EQ(tok->Decode(with_special), text);
}

TEST_F(TokenizerTest, IncompatibleConfigIsNamed) {
  auto tok = *Tokenizer::Load(path_);
  SpecialTokens t;
  t.boi = 11;
  EXPECT_THAT(std::string(tok->CheckCompatible(t, 400).message()), ::testing::HasSubstr("<boi>"));
  EXPECT_FALSE(tok->CheckCompatible(SpecialTokens(), 50).ok());
}

TEST(TokenizerLoadTest, MissingOrGarbageFile) {
  EXPECT_FALSE(Tokenizer::Load("/nonexistent/tokenizer.model").ok());
  const std::string garbage = ::testing::TempDir() + "/garbage.model";
  std::FILE* f = std::fopen(garbage.c_str(), "w");
  std::fputs("not a model", f);
  std::fclose(f);
  EXPECT_FALSE(Tokenizer::Load(garbage).ok());
}

}  // namespace
}  // namespace infusion
