#include "engine/tokenizer/tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <random>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/model/model_config.h"
#include "engine/sampler/utf8.h"
#include "engine/tokenizer/normalizer.h"
#include "tests/tokenizer/test_model_files.h"

namespace infusion::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class RemoveTestDir : public ::testing::Environment {
 public:
  void TearDown() override { std::filesystem::remove_all(TestDir()); }
};
const auto* const kRemoveTestDir = ::testing::AddGlobalTestEnvironment(new RemoveTestDir);

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
    path_ = TestDir() + "/tokenizer_test.model";
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
  EXPECT_THAT(std::string(tok->CheckCompatible(t, 400).message()), HasSubstr("<boi>"));
  EXPECT_FALSE(tok->CheckCompatible(SpecialTokens(), 50).ok());
}

TEST_F(TokenizerTest, PiecesAndIdsMapBothWays) {
  auto tok = *Tokenizer::Load(path_);
  EXPECT_EQ(tok->IdToPiece(1), "<unk>");
  EXPECT_EQ(tok->IdToPiece(10), "<0x00>");
  EXPECT_EQ(tok->PieceToId("<0xFF>"), 265);
  EXPECT_EQ(tok->IdToPiece(-1), "");
  EXPECT_EQ(tok->IdToPiece(tok->vocab_size()), "");
  for (int id = 0; id < tok->vocab_size(); ++id) EXPECT_EQ(tok->PieceToId(tok->IdToPiece(id)), id);
}

TEST(TokenizerLoadTest, MissingOrGarbageFile) {
  EXPECT_FALSE(Tokenizer::Load("/nonexistent/tokenizer.model").ok());
  const std::string garbage = TestDir() + "/garbage.model";
  std::FILE* f = std::fopen(garbage.c_str(), "w");
  std::fputs("not a model", f);
  std::fclose(f);
  EXPECT_FALSE(Tokenizer::Load(garbage).ok());
}

// Hand-made vocabularies: the segmentation follows from the scores written here.

// Ids: 0 <unk>, 1 ▁, 2 a, 3 b, 4 ▁a, 5 ab, 6 ▁ab, 7 <s>.
ModelBuilder SmallUnigram() {
  ModelBuilder model;
  model.Piece("<unk>", 0, ModelBuilder::kUnknown)
      .Piece("\xE2\x96\x81", -1.0f)
      .Piece("a", -1.0f)
      .Piece("b", -1.0f)
      .Piece(
          "\xE2\x96\x81"
          "a",
          -1.5f)
      .Piece("ab", -1.2f)
      .Piece(
          "\xE2\x96\x81"
          "ab",
          -4.0f)
      .Piece("<s>", 0, ModelBuilder::kControl);
  return model;
}

std::unique_ptr<Tokenizer> LoadBuilt(const ModelBuilder& model, const std::string& name) {
  auto tok = Tokenizer::Load(WriteTestFile(name, model.Serialize()));
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? *std::move(tok) : nullptr;
}

TEST(UnigramTest, PicksTheBestScoringPath) {
  auto tok = LoadBuilt(SmallUnigram(), "unigram.model");
  ASSERT_NE(tok, nullptr);
  // "▁ab": ▁|ab = -2.2 beats ▁a|b = -2.5, ▁|a|b = -3 and ▁ab = -4.
  EXPECT_THAT(tok->Encode("ab"), ElementsAre(1, 5));
  EXPECT_THAT(tok->Encode("ba"), ElementsAre(1, 3, 2));
  EXPECT_THAT(tok->Encode(""), ElementsAre());
  EXPECT_THAT(tok->Encode("   "), ElementsAre());
}

TEST(UnigramTest, RunOfUnknownCharactersIsOneUnk) {
  auto tok = LoadBuilt(SmallUnigram(), "unigram.model");
  ASSERT_NE(tok, nullptr);
  // ☃ (U+2603) is no piece and there is no byte fallback.
  EXPECT_THAT(tok->Encode("a\xE2\x98\x83\xE2\x98\x83"
                          "b"),
              ElementsAre(4, 0, 3));
  EXPECT_EQ(tok->Decode({4, 0, 3}), "a \xE2\x81\x87 b");
}

TEST(UnigramTest, UserDefinedPieceWins) {
  // A user-defined piece scores length * max(FLT_MIN, best normal score) - 0.1 = -0.1.
  ModelBuilder model = SmallUnigram();
  model.Piece("ba", 0, ModelBuilder::kUserDefined);  // id 8
  auto tok = LoadBuilt(model, "user_defined.model");
  ASSERT_NE(tok, nullptr);
  EXPECT_THAT(tok->Encode("ba"), ElementsAre(1, 8));
  EXPECT_THAT(tok->Encode("aba"), ElementsAre(4, 8));
}

TEST(BpeTest, MergesHighestScoringPairFirst) {
  // Ids: 0 <unk>, 1 ▁, 2 a, 3 b, 4 c, 5 ab, 6 bc, 7 ▁a, 8 ▁ab, 9 aa.
  ModelBuilder model;
  model.Bpe()
      .Piece("<unk>", 0, ModelBuilder::kUnknown)
      .Piece("\xE2\x96\x81", 0)
      .Piece("a", 0)
      .Piece("b", 0)
      .Piece("c", 0)
      .Piece("ab", -1)
      .Piece("bc", -2)
      .Piece(
          "\xE2\x96\x81"
          "a",
          -3)
      .Piece(
          "\xE2\x96\x81"
          "ab",
          -4)
      .Piece("aa", -0.5f);
  auto tok = LoadBuilt(model, "bpe.model");
  ASSERT_NE(tok, nullptr);
  // ▁ a b c: ab (-1) merges before bc (-2) and ▁a (-3); then ▁+ab (-4).
  EXPECT_THAT(tok->Encode("abc"), ElementsAre(8, 4));
  // Equal scores merge leftmost first: ▁ a a a -> ▁ aa a (not ▁ a aa, nor ▁a at -3).
  EXPECT_THAT(tok->Encode("aaa"), ElementsAre(1, 9, 2));
  // Characters that are not pieces are <unk>, a run of them one <unk>.
  EXPECT_THAT(tok->Encode("axyb"), ElementsAre(7, 0, 3));
}

TEST(ByteFallbackTest, UnknownCharactersBecomeTheirBytes) {
  // Ids: 0 <unk>, 1 ▁, 2 a, 3 <s>, 4.. <0x00>..<0xFF>.
  ModelBuilder model;
  model.Piece("<unk>", 0, ModelBuilder::kUnknown)
      .Piece("\xE2\x96\x81", -1)
      .Piece("a", -1)
      .Piece("<s>", 0, ModelBuilder::kControl)
      .BytePieces();
  auto tok = LoadBuilt(model, "bytes.model");
  ASSERT_NE(tok, nullptr);
  const int b = 4;  // id of <0x00>
  EXPECT_THAT(tok->Encode("a\xE2\x98\x83"), ElementsAre(1, 2, b + 0xE2, b + 0x98, b + 0x83));
  EXPECT_EQ(tok->Decode({1, 2, b + 0xE2, b + 0x98, b + 0x83}), "a\xE2\x98\x83");
  // A malformed input byte is normalized to U+FFFD, which then falls back to its bytes.
  EXPECT_THAT(tok->Encode("\xFF"), ElementsAre(1, b + 0xEF, b + 0xBF, b + 0xBD));
  // Byte runs that are not UTF-8 decode to one U+FFFD per byte; a control piece ends a run.
  EXPECT_EQ(tok->Decode({b + 0xE2, b + 0x98}), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(tok->Decode({b + 0xE2, 3, b + 0x98, b + 0x83}), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(tok->Decode({b + 'h', b + 'i'}), "hi");
}

TEST(DecodeTest, LeadingSpaceIsDroppedWhileTheTextIsEmpty) {
  auto tok = LoadBuilt(SmallUnigram(), "unigram.model");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->Decode({4, 4}), "a a");
  // As sentencepiece 0.1.97: every piece starting while the output is empty loses its "▁".
  EXPECT_EQ(tok->Decode({7, 1, 4}), "a");
  // Without add_dummy_prefix and remove_extra_whitespaces, the space is the user's: kept.
  ModelBuilder raw = SmallUnigram();
  raw.NormalizerField(3, 0).NormalizerField(4, 0);
  auto raw_tok = LoadBuilt(raw, "raw.model");
  ASSERT_NE(raw_tok, nullptr);
  EXPECT_EQ(raw_tok->Decode({4, 4}), " a a");
  EXPECT_THAT(raw_tok->Encode(" a"), ElementsAre(4));
  // A dummy prefix but spaces kept as typed: only the one "▁" the normalizer added is dropped.
  ModelBuilder kept = SmallUnigram();
  kept.NormalizerField(4, 0);
  auto kept_tok = LoadBuilt(kept, "kept.model");
  ASSERT_NE(kept_tok, nullptr);
  EXPECT_EQ(kept_tok->Decode({1, 1, 4}), "  a");
  EXPECT_EQ(kept_tok->Decode({7, 4, 4}), "a a");
}

TEST(NormalizerTest, IdentityWhitespaceRules) {
  const auto normalize = [](const std::string& text, bool dummy_prefix, bool remove_extra,
                            bool escape) {
    SentencePieceModelProto::NormalizerSpec spec;
    spec.add_dummy_prefix = dummy_prefix;
    spec.remove_extra_whitespaces = remove_extra;
    spec.escape_whitespaces = escape;
    return (*Normalizer::Create(spec, nullptr))->Normalize(text);
  };
  const std::string ws = "\xE2\x96\x81";
  EXPECT_EQ(normalize("  a   b  ", true, true, true), ws + "a" + ws + "b");
  EXPECT_EQ(normalize("   ", true, true, true), "");
  EXPECT_EQ(normalize("", true, true, true), "");
  EXPECT_EQ(normalize("a\tb", true, true, true), ws + "a\tb");  // identity: a tab is no space
  EXPECT_EQ(normalize("a" + ws, true, true, true), ws + "a");   // a trailing "▁" is trimmed too
  EXPECT_EQ(normalize("\xFF"
                      "a",
                      true, true, true),
            ws + "\xEF\xBF\xBD"
                 "a");
  EXPECT_EQ(normalize("  a  ", true, false, true), ws + ws + ws + "a" + ws + ws);
  EXPECT_EQ(normalize("a b", false, true, true), "a" + ws + "b");
  EXPECT_EQ(normalize("  a  b", true, true, false), " a b");
}

TEST(TokenizerLoadTest, RejectsMalformedOrUnsupportedModels) {
  const auto load_error = [](const std::string& bytes) {
    const auto tok = Tokenizer::Load(WriteTestFile("bad.model", bytes));
    EXPECT_TRUE(absl::IsInvalidArgument(tok.status())) << tok.status();
    return std::string(tok.status().message());
  };
  EXPECT_THAT(load_error(SmallUnigram().TrainerField(3, 3).Serialize()), HasSubstr("WORD"));
  EXPECT_THAT(load_error(SmallUnigram().TrainerField(24, 1).Serialize()),
              HasSubstr("treat_whitespace_as_suffix"));
  EXPECT_THAT(load_error(SmallUnigram().Piece("a", 0).Serialize()), HasSubstr("defined twice"));
  EXPECT_THAT(load_error(ModelBuilder().Piece("a", 0).Serialize()), HasSubstr("no unknown piece"));
  EXPECT_THAT(load_error(SmallUnigram().TrainerField(35, 1).Serialize()), HasSubstr("256"));
  EXPECT_THAT(load_error(SmallUnigram().Piece("<0xZZ>", 0, ModelBuilder::kByte).Serialize()),
              HasSubstr("byte_fallback"));
  EXPECT_THAT(load_error(SmallUnigram().Piece("", 0).Serialize()), HasSubstr("empty piece"));
  EXPECT_THAT(
      load_error(SmallUnigram().Piece("x", 0, static_cast<ModelBuilder::Type>(9)).Serialize()),
      HasSubstr("SentencePiece.type"));
  const std::string good = SmallUnigram().Serialize();
  EXPECT_THAT(load_error(good.substr(0, good.size() - 1)), HasSubstr("malformed protobuf"));
  // pieces (field 1) written as a varint instead of a message.
  EXPECT_THAT(load_error(ProtoWriter().Varint(1, 7).str()), HasSubstr("wire type"));
  // A charsmap too short for its own header.
  EXPECT_THAT(load_error(good + ProtoWriter().Bytes(3, ProtoWriter().Bytes(2, "ab").str()).str()),
              HasSubstr("precompiled_charsmap"));
}

TEST(TrainTokenizerTest, RejectsBadOptions) {
  const std::string out = TestDir() + "/never_written.model";
  TokenizerTrainOptions options;
  options.model_type = "word";
  EXPECT_TRUE(absl::IsInvalidArgument(TrainTokenizer({"a b"}, options, out)));
  options = TokenizerTrainOptions();
  options.vocab_size = 8;
  EXPECT_TRUE(absl::IsInvalidArgument(TrainTokenizer({"a b"}, options, out)));
  EXPECT_TRUE(absl::IsInvalidArgument(TrainTokenizer({}, TokenizerTrainOptions(), out)));
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(TrainTokenizerTest, ReportsSpmTrainFailure) {
  // 16 pieces cannot hold 256 byte pieces: spm_train exits non-zero and says why.
  const std::string out = TestDir() + "/too_small.model";
  TokenizerTrainOptions options;
  options.vocab_size = 16;
  const absl::Status status = TrainTokenizer({"hello world"}, options, out);
  EXPECT_TRUE(absl::IsInternal(status)) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("spm_train"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("Vocabulary size"));
  EXPECT_FALSE(std::filesystem::exists(out));
  // The scratch directory beside the output is gone too.
  for (const auto& entry : std::filesystem::directory_iterator(TestDir())) {
    EXPECT_THAT(entry.path().filename().string(), ::testing::Not(HasSubstr("too_small.model.")));
  }
}

TEST(TrainTokenizerTest, NamesSpmTrainWhenItIsMissing) {
  const char* old_path = std::getenv("PATH");
  const std::string saved = old_path != nullptr ? old_path : "";
  const std::string empty_dir = TestDir() + "/empty_path_dir";
  std::filesystem::create_directories(empty_dir);
  setenv("PATH", empty_dir.c_str(), 1);
  const absl::Status status =
      TrainTokenizer({"a b"}, TokenizerTrainOptions(), TestDir() + "/no_spm.model");
  setenv("PATH", saved.c_str(), 1);
  EXPECT_TRUE(absl::IsNotFound(status)) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("spm_train"));
}

// The stream decoder against Decode() on random id streams: normal pieces with and without a
// leading "▁", control pieces, <unk>, out-of-range ids, and byte pieces that spell multi-byte
// characters split across tokens (and malformed runs). Every delta must be valid UTF-8 (no
// character split), and the deltas must add up to Decode() of the whole stream, under each of the
// whitespace rules that change how leading spaces are dropped.
TEST(StreamDecoderTest, MatchesDecodeOnRandomStreams) {
  auto build = [](int dummy_prefix, int remove_whitespace) {
    ModelBuilder model = SmallUnigram();
    model.BytePieces();
    model.NormalizerField(3, dummy_prefix).NormalizerField(4, remove_whitespace);
    return model;
  };
  const std::vector<std::string> characters = {"a", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
                                               "\xE2\x82", "\xFF", "\x80"};
  std::mt19937 rng(7);
  int multi_byte_splits = 0;
  for (int rules = 0; rules < 4; ++rules) {
    auto tok = LoadBuilt(build(rules & 1, rules >> 1), absl::StrCat("stream", rules, ".model"));
    ASSERT_NE(tok, nullptr);
    const int byte0 = tok->PieceToId("<0x00>");
    const int control = tok->PieceToId("<s>");
    ASSERT_GE(byte0, 0);
    ASSERT_GE(control, 0);
    for (int trial = 0; trial < 300; ++trial) {
      std::vector<int> ids;
      const int length = 1 + static_cast<int>(rng() % 24);
      while (static_cast<int>(ids.size()) < length) {
        switch (rng() % 6) {
          case 0:
          case 1:
            ids.push_back(1 + static_cast<int>(rng() % 6));  // "▁", "a", "b", "▁a", "ab", "▁ab"
            break;
          case 2:
            ids.push_back(rng() % 2 ? control : (rng() % 2 ? 0 : 100000));  // <s>, <unk>, junk
            break;
          default:
            for (unsigned char c : characters[rng() % characters.size()]) ids.push_back(byte0 + c);
        }
      }
      std::unique_ptr<TextDecoder> decoder = tok->NewDecoder();
      std::string joined;
      for (int id : ids) {
        const std::string delta = decoder->Add(id);
        EXPECT_TRUE(IsValidUtf8(delta)) << absl::CEscape(delta);
        joined += delta;
      }
      const std::string tail = decoder->Finish();
      EXPECT_TRUE(IsValidUtf8(tail));
      joined += tail;
      EXPECT_EQ(joined, tok->Decode(ids)) << "rules " << rules << " trial " << trial;
      for (size_t i = 0; i + 1 < ids.size(); ++i) {
        multi_byte_splits += ids[i] == byte0 + 0xE2 && ids[i + 1] == byte0 + 0x82;
      }
    }
  }
  EXPECT_GT(multi_byte_splits, 50);  // the case the decoder exists for did occur
}

// A character spelled by byte pieces comes out whole, with the token that completes it.
TEST(StreamDecoderTest, HoldsAnIncompleteCharacterUntilItsLastByte) {
  ModelBuilder model = SmallUnigram();
  model.BytePieces();
  auto tok = LoadBuilt(model, "stream_bytes.model");
  ASSERT_NE(tok, nullptr);
  const int b = tok->PieceToId("<0x00>");
  std::unique_ptr<TextDecoder> decoder = tok->NewDecoder();
  EXPECT_EQ(decoder->Add(2), "a");
  EXPECT_EQ(decoder->Add(b + 0xE2), "");
  EXPECT_EQ(decoder->Add(b + 0x82), "");
  EXPECT_EQ(decoder->Add(b + 0xAC), "\xE2\x82\xAC");
  EXPECT_EQ(decoder->Add(b + 0xC3), "");
  EXPECT_EQ(decoder->Finish(), "\xEF\xBF\xBD");  // cut short at the end: U+FFFD, as Decode()
}

}  // namespace
}  // namespace infusion::engine
