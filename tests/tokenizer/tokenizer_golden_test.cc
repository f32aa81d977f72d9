// Golden tests: our Tokenizer against sentencepiece's own command-line tools (spm_encode,
// spm_decode; Debian package `sentencepiece`) on models trained here, over a few hundred varied
// lines. The tools run as separate processes, so no libsentencepiece enters this binary.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/tokenizer/subprocess.h"
#include "engine/tokenizer/tokenizer.h"
#include "tests/tokenizer/test_model_files.h"

namespace infusion::engine {
namespace {

bool OnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  for (const absl::string_view dir : absl::StrSplit(path, ':')) {
    const std::string candidate = std::string(dir) + "/" + program;
    if (access(candidate.c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

void WriteLines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::binary);
  for (const std::string& line : lines) out << line << '\n';
}

// The lines of `path`, whose last line ends with a newline.
std::vector<std::string> ReadLines(const std::string& path) {
  std::vector<std::string> lines = absl::StrSplit(ReadFile(path), '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

std::string Escaped(const std::string& text) {
  std::string out;
  for (const unsigned char c : text) {
    if (c >= 0x20 && c < 0x7F) {
      out.push_back(static_cast<char>(c));
    } else {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02X", c);
      out += hex;
    }
  }
  return out;
}

std::string IdsToLine(const std::vector<int>& ids) { return absl::StrJoin(ids, " "); }

const std::vector<std::string>& Words() {
  static const auto* words = new std::vector<std::string>{
      "the",   "quick",  "brown",     "fox",    "jumps",    "over",    "lazy",   "dog",  "red",
      "green", "blue",   "circle",    "square", "triangle", "at",      "top",    "left", "what",
      "color", "is",     "image",     "draw",   "a",        "picture", "of",     "with", "and",
      "in",    "on",     "tokenizer", "model",  "server",   "Hello",   "World",  "The",  "café",
      "naïve", "résumé", "über",      "señor",  "Ångström", "东京",    "日本語", "中文", "你好",
      "世界",  "привет", "мир",       "αβγ",    "2024",     "42",      "3.14",   ",",    ".",
      "!",     "?",      "(x)",       "don't",  "e-mail"};
  return *words;
}

// Training text: random sentences of the words above.
std::vector<std::string> TrainingCorpus() {
  std::mt19937 rng(7);
  std::vector<std::string> corpus;
  for (int i = 0; i < 1500; ++i) {
    std::vector<std::string> words(1 + rng() % 12);
    for (std::string& w : words) w = Words()[rng() % Words().size()];
    corpus.push_back(absl::StrJoin(words, " "));
  }
  return corpus;
}

// Inputs to encode: edge cases, then random mixes of words, unseen characters and odd spacing.
std::vector<std::string> TestLines() {
  std::vector<std::string> lines = {
      "",
      " ",
      "   ",
      "a",
      " a",
      "a ",
      "  hello   world  ",
      "the quick brown fox jumps over the lazy dog",
      "hello\tworld",
      "\t",
      "café naïve résumé",
      "e\xCC\x81t\xC3\xA9",  // é decomposed and composed
      "东京は日本の首都です",
      "emoji \xF0\x9F\x98\x80\xF0\x9F\x8E\x89 party",
      "\xF0\x9F\x99\x82",
      "zebra \xC3\xBF \xCE\xBE \xCE\xA9",  // ÿ ξ Ω: absent from training
      "\xEF\xAC\x81nance \xC7\x85",        // ﬁ and ǅ: NFKC decomposes them
      "\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\xA3\xEF\xBC\x91\xEF\xBC\x92",  // fullwidth ABC12
      "\xE2\x91\xA0\xE2\x91\xA1 \xC2\xBD",                             // ①② ½
      "no\xC2\xA0"
      "break and\xE3\x80\x80ideographic space",
      "\xE2\x96\x81",
      "\xE2\x96\x81\xE2\x96\x81"
      "a\xE2\x96\x81",
      "a\xE2\x96\x81",
      "<s> </s> <unk> <pad> <boi> <|user|>",
      "<0x41> <0xFF>",
      "<sep>",
      "x<sep>y [MASK] z",
      "<sep><sep>",
      " <sep> ",
      "\xFF",
      "abc\xC3",
      "\xE3\x81",
      "\xED\xA0\x80",      // a surrogate
      "\xF4\x90\x80\x80",  // above U+10FFFF
      "\xC0\xAF",          // overlong
      "1234567890 12,345.67",
      "!!!???...",
      "Hello, World! How are you?",
  };
  const std::vector<std::string> extra = {"\xF0\x9F\x98\x80",
                                          "\xE2\x98\x83",
                                          "\xCE\xBE",
                                          "\xEF\xBC\xA1",
                                          "\xE2\x91\xA0",
                                          "\xFF",
                                          "\xC3",
                                          "<sep>",
                                          "[MASK]",
                                          "\xE2\x96\x81",
                                          "\xC2\xA0",
                                          "\xE3\x80\x80",
                                          "\t",
                                          "0",
                                          "9"};
  const std::vector<std::string> separators = {" ", " ", " ", "  ", "   ", "", "\t"};
  std::mt19937 rng(11);
  std::string long_line;
  while (long_line.size() < 600) long_line += Words()[rng() % Words().size()] + " ";
  lines.push_back(long_line);
  while (lines.size() < 320) {
    std::string line = rng() % 4 == 0 ? separators[rng() % separators.size()] : "";
    const int n = 1 + rng() % 10;
    for (int i = 0; i < n; ++i) {
      line += rng() % 5 == 0 ? extra[rng() % extra.size()] : Words()[rng() % Words().size()];
      if (i + 1 < n || rng() % 4 == 0) line += separators[rng() % separators.size()];
    }
    lines.push_back(line);
  }
  return lines;
}

class GoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  static std::string Dir() { return TestDir() + "/golden"; }

  static void SetUpTestSuite() {
    if (!OnPath("spm_encode")) return;
    std::filesystem::create_directories(Dir());
    const std::vector<std::string> corpus = TrainingCorpus();
    TokenizerTrainOptions options;
    options.vocab_size = 600;
    options.model_type = "unigram";
    ASSERT_TRUE(TrainTokenizer(corpus, options, Dir() + "/unigram.model").ok());
    options.model_type = "bpe";
    ASSERT_TRUE(TrainTokenizer(corpus, options, Dir() + "/bpe.model").ok());

    // Models with what TrainTokenizer does not set, trained by spm_train directly.
    WriteLines(Dir() + "/corpus.txt", corpus);
    const std::map<std::string, std::vector<std::string>> flags = {
        // nmt_nfkc charsmap, user-defined symbols, no byte fallback: rare characters are <unk>.
        {"unigram_nfkc",
         {"--model_type=unigram", "--vocab_size=300", "--character_coverage=0.995",
          "--user_defined_symbols=<sep>,[MASK]"}},
        // Llama's settings: identity, spaces kept as they are, digits split, byte fallback.
        {"bpe_llama",
         {"--model_type=bpe", "--vocab_size=500", "--normalization_rule_name=identity",
          "--remove_extra_whitespaces=false", "--split_digits=true",
          "--allow_whitespace_only_pieces=true", "--byte_fallback=true",
          "--character_coverage=0.9995", "--user_defined_symbols=<sep>"}},
        // No dummy prefix: a leading space is the user's.
        {"unigram_raw",
         {"--model_type=unigram", "--vocab_size=400", "--normalization_rule_name=identity",
          "--add_dummy_prefix=false", "--remove_extra_whitespaces=false", "--byte_fallback=true"}},
    };
    for (const auto& [name, model_flags] : flags) {
      std::vector<std::string> argv = {"spm_train",
                                       "--input=corpus.txt",
                                       "--model_prefix=" + name,
                                       "--hard_vocab_limit=false",
                                       "--num_threads=2",
                                       "--minloglevel=2"};
      argv.insert(argv.end(), model_flags.begin(), model_flags.end());
      const absl::Status status = RunProcess(argv, Dir(), name + ".log");
      ASSERT_TRUE(status.ok()) << status;
    }
  }

  void SetUp() override {
    if (!OnPath("spm_encode") || !OnPath("spm_decode")) {
      GTEST_SKIP() << "sentencepiece's spm_encode / spm_decode are not installed";
    }
    model_path_ = Dir() + "/" + GetParam() + ".model";
    auto tokenizer = Tokenizer::Load(model_path_);
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = *std::move(tokenizer);
  }

  // Runs spm_encode or spm_decode over `lines` and returns its output lines.
  std::vector<std::string> RunSpm(const std::string& tool, const std::string& format_flag,
                                  const std::vector<std::string>& lines) const {
    const std::string prefix = GetParam() + "." + tool;
    WriteLines(Dir() + "/" + prefix + ".in", lines);
    const absl::Status status =
        RunProcess({tool, "--model=" + GetParam() + ".model", format_flag,
                    "--input=" + prefix + ".in", "--output=" + prefix + ".out"},
                   Dir(), prefix + ".log");
    EXPECT_TRUE(status.ok()) << status;
    return ReadLines(Dir() + "/" + prefix + ".out");
  }

  std::string model_path_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_P(GoldenTest, EncodeMatchesSpmEncode) {
  const std::vector<std::string> lines = TestLines();
  const std::vector<std::string> expected = RunSpm("spm_encode", "--output_format=id", lines);
  ASSERT_EQ(expected.size(), lines.size());
  int mismatches = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string actual = IdsToLine(tokenizer_->Encode(lines[i]));
    if (actual != expected[i] && ++mismatches <= 10) {
      ADD_FAILURE() << "line " << i << " \"" << Escaped(lines[i]) << "\"\n  ours:  " << actual
                    << "\n  spm:   " << expected[i];
    }
  }
  EXPECT_EQ(mismatches, 0);
}

TEST_P(GoldenTest, DecodeMatchesSpmDecode) {
  // Our encodings of the test lines, then random id sequences over the whole vocabulary
  // (control, unknown, byte and user-defined pieces included). Bytes 0x0A and 0x0D stay out:
  // they would end spm_decode's output line.
  std::vector<std::vector<int>> sequences;
  for (const std::string& line : TestLines()) sequences.push_back(tokenizer_->Encode(line));
  std::mt19937 rng(5);
  const int newline = tokenizer_->PieceToId("<0x0A>");
  const int carriage_return = tokenizer_->PieceToId("<0x0D>");
  for (int i = 0; i < 300; ++i) {
    std::vector<int> ids(rng() % 10);
    for (int& id : ids) {
      do {
        id = static_cast<int>(rng() % tokenizer_->vocab_size());
      } while (id == newline || id == carriage_return);
    }
    sequences.push_back(ids);
  }
  std::vector<std::string> id_lines;
  for (const auto& ids : sequences) id_lines.push_back(IdsToLine(ids));
  const std::vector<std::string> expected = RunSpm("spm_decode", "--input_format=id", id_lines);
  ASSERT_EQ(expected.size(), sequences.size());
  int mismatches = 0;
  for (size_t i = 0; i < sequences.size(); ++i) {
    const std::string actual = tokenizer_->Decode(sequences[i]);
    if (actual != expected[i] && ++mismatches <= 10) {
      ADD_FAILURE() << "ids [" << id_lines[i] << "]\n  ours: \"" << Escaped(actual)
                    << "\"\n  spm:  \"" << Escaped(expected[i]) << "\"";
    }
  }
  EXPECT_EQ(mismatches, 0);
}

// Encoding is linear in the text length: one 50 kB text costs about what its 250 pieces of 200
// bytes cost one by one; quadratic work would make the ratio ~250. A ratio of two timings on the
// same machine, the least of three tries each, so neither the machine's speed nor a preemption
// decides it (no wall-clock bound: the suite runs under sanitizers and beside other jobs).
TEST_P(GoldenTest, EncodingIsLinearInTheTextLength) {
  std::string prompt;
  for (size_t i = 0; prompt.size() < 200; ++i) prompt += Words()[i % Words().size()] + " ";
  prompt.resize(200);
  constexpr int kPieces = 250;
  std::string long_text;
  for (int i = 0; i < kPieces; ++i) long_text += prompt;

  using Clock = std::chrono::steady_clock;
  double pieces_seconds = 1e30, whole_seconds = 1e30;
  for (int attempt = 0; attempt < 3; ++attempt) {
    size_t tokens = 0;
    Clock::time_point start = Clock::now();
    for (int i = 0; i < kPieces; ++i) tokens += tokenizer_->Encode(prompt).size();
    pieces_seconds =
        std::min(pieces_seconds, std::chrono::duration<double>(Clock::now() - start).count());
    EXPECT_GT(tokens, 0u);
    start = Clock::now();
    EXPECT_FALSE(tokenizer_->Encode(long_text).empty());
    whole_seconds =
        std::min(whole_seconds, std::chrono::duration<double>(Clock::now() - start).count());
  }
  EXPECT_LT(whole_seconds, 10 * pieces_seconds)
      << "50 kB in " << whole_seconds << " s, its 200-byte pieces in " << pieces_seconds << " s";
}

TEST_P(GoldenTest, CorruptModelFilesFailCleanly) {
  // Damaged copies of the model: flipped bytes, cut short, or bytes spliced in. Each either
  // fails to load with a Status, or loads and yields only ids inside its vocabulary.
  const std::string original = ReadFile(model_path_);
  const std::string corrupt = Dir() + "/" + GetParam() + ".corrupt";
  std::mt19937 rng(3);
  int loaded = 0;
  for (int trial = 0; trial < 200; ++trial) {
    std::string bytes = original;
    switch (trial % 3) {
      case 0:
        for (int n = 1 + rng() % 4; n > 0; --n) bytes[rng() % bytes.size()] ^= 1 + rng() % 255;
        break;
      case 1:
        bytes.resize(rng() % bytes.size());
        break;
      case 2:
        bytes.insert(rng() % bytes.size(), std::string(1 + rng() % 8, static_cast<char>(rng())));
        break;
    }
    std::ofstream(corrupt, std::ios::binary) << bytes;
    auto tokenizer = Tokenizer::Load(corrupt);
    if (!tokenizer.ok()) continue;
    ++loaded;
    for (const char* line : {"hello world", "  café \xFF 东京 \xF0\x9F\x98\x80", ""}) {
      const std::vector<int> ids = (*tokenizer)->Encode(line);
      for (const int id : ids) {
        ASSERT_GE(id, 0);
        ASSERT_LT(id, (*tokenizer)->vocab_size());
      }
      (*tokenizer)->Decode(ids);
    }
  }
  // Most damage lands in scores or piece text and leaves a loadable model; some must not.
  EXPECT_GT(loaded, 0);
  EXPECT_LT(loaded, 200);
}

INSTANTIATE_TEST_SUITE_P(Models, GoldenTest,
                         ::testing::Values("unigram", "bpe", "unigram_nfkc", "bpe_llama",
                                           "unigram_raw"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace infusion::engine
