#include "engine/tokenizer/tokenizer.h"

#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "engine/model/model_config.h"
#include "engine/tokenizer/bpe_encoder.h"
#include "engine/tokenizer/normalizer.h"
#include "engine/tokenizer/sentencepiece_model_proto.h"
#include "engine/tokenizer/subprocess.h"
#include "engine/tokenizer/unigram_encoder.h"
#include "engine/tokenizer/utf8.h"
#include "engine/tokenizer/vocabulary.h"

namespace infusion::engine {

const char* const kSpecialTokenPieces[10] = {"<pad>",         "<unk>",  "<s>",        "</s>",
                                             "<boi>",         "<eoi>",  "<|system|>", "<|user|>",
                                             "<|assistant|>", "<|end|>"};

namespace {

using ModelType = SentencePieceModelProto::ModelType;
using PieceType = SentencePieceModelProto::PieceType;

// Appends `piece` with each "▁" written as a space.
void AppendUnescaped(std::string_view piece, std::string* text) {
  for (size_t pos; (pos = piece.find(kSpaceSymbol)) != std::string_view::npos;) {
    text->append(piece.substr(0, pos));
    text->push_back(' ');
    piece.remove_prefix(pos + kSpaceSymbol.size());
  }
  text->append(piece);
}

// What Load cannot honour, named so that the error says what to change; OK otherwise.
absl::Status CheckSupported(const SentencePieceModelProto& model) {
  if (model.model_type != ModelType::kUnigram && model.model_type != ModelType::kBpe) {
    return absl::InvalidArgumentError(
        "only unigram and BPE models are supported, not WORD or CHAR ones");
  }
  if (model.treat_whitespace_as_suffix) {
    return absl::InvalidArgumentError("treat_whitespace_as_suffix is not supported");
  }
  if (model.denormalizer && !model.denormalizer->precompiled_charsmap.empty()) {
    return absl::InvalidArgumentError("denormalization rules are not supported");
  }
  return absl::OkStatus();
}

}  // namespace

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("tokenizer: cannot read ", path));
  const std::string serialized((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
  if (in.bad()) return absl::DataLossError(absl::StrCat("tokenizer: error reading ", path));

  const auto invalid = [&path](const absl::Status& status) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer ", path, ": ", status.message()));
  };
  absl::StatusOr<SentencePieceModelProto> model = SentencePieceModelProto::Parse(serialized);
  if (!model.ok()) return invalid(model.status());
  if (absl::Status s = CheckSupported(*model); !s.ok()) return invalid(s);

  std::unique_ptr<Tokenizer> tokenizer(new Tokenizer());
  absl::StatusOr<std::unique_ptr<Vocabulary>> vocab =
      Vocabulary::Create(std::move(model->pieces), model->byte_fallback);
  if (!vocab.ok()) return invalid(vocab.status());
  tokenizer->vocab_ = *std::move(vocab);
  absl::StatusOr<std::unique_ptr<Normalizer>> normalizer =
      Normalizer::Create(model->normalizer, &tokenizer->vocab_->user_defined_pieces());
  if (!normalizer.ok()) return invalid(normalizer.status());
  tokenizer->normalizer_ = *std::move(normalizer);
  tokenizer->bpe_ = model->model_type == ModelType::kBpe;
  tokenizer->add_dummy_prefix_ = model->normalizer.add_dummy_prefix;
  tokenizer->remove_extra_whitespaces_ = model->normalizer.remove_extra_whitespaces;
  tokenizer->unk_surface_ = model->unk_surface;
  return tokenizer;
}

std::vector<int> Tokenizer::Encode(std::string_view text) const {
  const std::string normalized = normalizer_->Normalize(text);
  const std::vector<EncodedPiece> pieces =
      bpe_ ? BpeEncode(*vocab_, normalized) : UnigramEncode(*vocab_, normalized);
  // As sentencepiece: with byte_fallback an unknown piece becomes its UTF-8 bytes; without, a
  // run of unknown pieces becomes one <unk>.
  std::vector<int> ids;
  ids.reserve(pieces.size());
  bool prev_unknown = false;
  for (const EncodedPiece& p : pieces) {
    const bool unknown = p.id == vocab_->unk_id();
    if (unknown && vocab_->byte_fallback()) {
      for (const char byte : p.piece) ids.push_back(vocab_->ByteId(byte));
    } else if (!(unknown && prev_unknown)) {
      ids.push_back(p.id);
    }
    prev_unknown = unknown;
  }
  return ids;
}

std::string Tokenizer::Decode(const std::vector<int>& ids) const {
  // sentencepiece 0.1.97's SentencePieceProcessor::Decode. The "▁" that starts the text came
  // from the normalizer (add_dummy_prefix) and is dropped: from the first piece only, or, when
  // the normalizer also removed leading spaces, from every piece until some text is out.
  const bool strip_leading_space = add_dummy_prefix_ || remove_extra_whitespaces_;
  std::string text;
  std::string bytes;           // a run of byte pieces, assembled into characters together
  bool at_start = true;        // no text yet, and no leading "▁" dropped yet
  bool dropped_space = false;  // the previous piece lost its leading "▁"
  for (const int id : ids) {
    if (id < 0 || id >= vocab_size()) continue;
    const PieceType type = vocab_->type(id);
    if (type == PieceType::kByte) {
      bytes.push_back(static_cast<char>(vocab_->ByteValue(id)));
      continue;
    }
    AppendWithReplacement(bytes, &text);
    bytes.clear();
    if (dropped_space || !text.empty()) at_start = false;
    dropped_space = false;
    if (type == PieceType::kControl) continue;
    if (type == PieceType::kUnknown) {
      text += unk_surface_;
      continue;
    }
    std::string_view piece = vocab_->piece(id);
    if (at_start && strip_leading_space && piece.substr(0, kSpaceSymbol.size()) == kSpaceSymbol) {
      piece.remove_prefix(kSpaceSymbol.size());
      dropped_space = !remove_extra_whitespaces_;
    }
    AppendUnescaped(piece, &text);
  }
  AppendWithReplacement(bytes, &text);
  return text;
}

// Decode(), one token at a time. Byte pieces gather in `bytes_` until the characters they spell
// are settled: a character is decided once the bytes its lead byte announces are all there, so
// decoding it then gives what decoding the whole run would give.
class Tokenizer::StreamDecoder final : public TextDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer)
      : tokenizer_(tokenizer),
        strip_leading_space_(tokenizer.add_dummy_prefix_ || tokenizer.remove_extra_whitespaces_) {}

  std::string Add(int32_t id) override {
    std::string out;
    const Vocabulary& vocab = *tokenizer_.vocab_;
    if (id < 0 || id >= vocab.size()) return out;
    const PieceType type = vocab.type(id);
    if (type == PieceType::kByte) {
      bytes_.push_back(static_cast<char>(vocab.ByteValue(id)));
      SettleBytes(&out);
      return out;
    }
    AppendWithReplacement(bytes_, &out);
    bytes_.clear();
    if (dropped_space_ || wrote_text_ || !out.empty()) at_start_ = false;
    dropped_space_ = false;
    if (type != PieceType::kControl) {
      if (type == PieceType::kUnknown) {
        out += tokenizer_.unk_surface_;
      } else {
        std::string_view piece = vocab.piece(id);
        if (at_start_ && strip_leading_space_ &&
            piece.substr(0, kSpaceSymbol.size()) == kSpaceSymbol) {
          piece.remove_prefix(kSpaceSymbol.size());
          dropped_space_ = !tokenizer_.remove_extra_whitespaces_;
        }
        AppendUnescaped(piece, &out);
      }
    }
    wrote_text_ = wrote_text_ || !out.empty();
    return out;
  }

  std::string Finish() override {
    std::string out;
    AppendWithReplacement(bytes_, &out);
    bytes_.clear();
    return out;
  }

 private:
  // Moves the characters of `bytes_` that no later byte can change to *out.
  void SettleBytes(std::string* out) {
    size_t i = 0;
    while (i < bytes_.size() && bytes_.size() - i >= Utf8CharLength(bytes_[i])) {
      size_t length;
      const std::string_view rest = std::string_view(bytes_).substr(i);
      if (DecodeUtf8Prefix(rest, &length)) {
        out->append(rest.substr(0, length));
      } else {
        out->append(kReplacementCharacter);
      }
      i += length;
    }
    bytes_.erase(0, i);
    wrote_text_ = wrote_text_ || !out->empty();
  }

  const Tokenizer& tokenizer_;
  const bool strip_leading_space_;
  std::string bytes_;          // byte pieces not yet settled into characters
  bool at_start_ = true;       // as in Decode()
  bool dropped_space_ = false;  // as in Decode()
  bool wrote_text_ = false;    // Decode()'s !text.empty()
};

std::unique_ptr<TextDecoder> Tokenizer::NewDecoder() const {
  return std::make_unique<StreamDecoder>(*this);
}

int Tokenizer::vocab_size() const { return vocab_->size(); }

int Tokenizer::PieceToId(std::string_view piece) const { return vocab_->Find(piece); }

std::string Tokenizer::IdToPiece(int id) const {
  if (id < 0 || id >= vocab_size()) return "";
  return vocab_->piece(id);
}

absl::Status Tokenizer::CheckCompatible(const SpecialTokens& t, int model_vocab_size) const {
  if (vocab_size() > model_vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer has ", vocab_size(),
                                                   " pieces but the model's vocab_size is ",
                                                   model_vocab_size));
  }
  const int ids[10] = {t.pad, t.unk,    t.bos,  t.eos,       t.boi,
                       t.eoi, t.system, t.user, t.assistant, t.end_of_turn};
  for (int i = 0; i < 10; ++i) {
    if (PieceToId(kSpecialTokenPieces[i]) != ids[i]) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokenizer: special token ", kSpecialTokenPieces[i], " has id ",
                       PieceToId(kSpecialTokenPieces[i]), " but the config says ", ids[i]));
    }
  }
  return absl::OkStatus();
}

absl::Status TokenizerTrainOptions::Validate() const {
  if (vocab_size < 16) return absl::InvalidArgumentError("tokenizer: vocab_size must be >= 16");
  if (model_type != "unigram" && model_type != "bpe") {
    return absl::InvalidArgumentError("tokenizer: model_type must be \"unigram\" or \"bpe\"");
  }
  return absl::OkStatus();
}

namespace {

// A fresh directory, removed with its contents when this goes out of scope.
class ScratchDirectory {
 public:
  // mkdtemp pattern, e.g. "/out/tokenizer.model.train-XXXXXX".
  static absl::StatusOr<ScratchDirectory> Create(std::string pattern) {
    if (mkdtemp(pattern.data()) == nullptr) {
      return absl::ErrnoToStatus(errno, absl::StrCat("tokenizer: cannot create ", pattern));
    }
    return ScratchDirectory(std::move(pattern));
  }
  ScratchDirectory(ScratchDirectory&& other) noexcept : path_(std::move(other.path_)) {
    other.path_.clear();
  }
  ScratchDirectory& operator=(ScratchDirectory&&) = delete;
  ~ScratchDirectory() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const char* name) const { return absl::StrCat(path_, "/", name); }

 private:
  explicit ScratchDirectory(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace

absl::Status TrainTokenizer(const std::vector<std::string>& sentences,
                            const TokenizerTrainOptions& options, const std::string& output_path) {
  RETURN_IF_ERROR(options.Validate());
  if (sentences.empty()) return absl::InvalidArgumentError("tokenizer: no training text");

  // Beside the output, so that the final rename stays on one file system and is atomic.
  ASSIGN_OR_RETURN(const ScratchDirectory scratch,
                   ScratchDirectory::Create(output_path + ".train-XXXXXX"));
  {
    std::ofstream corpus(scratch / "corpus.txt", std::ios::binary);
    for (const std::string& sentence : sentences) corpus << sentence << '\n';
    if (!corpus.flush()) {
      return absl::InternalError(absl::StrCat("tokenizer: cannot write ", scratch / "corpus.txt"));
    }
  }
  // spm_train runs inside the scratch directory, so no user path reaches its flags (its
  // --input splits on commas).
  const std::vector<std::string> control(kSpecialTokenPieces + 4, kSpecialTokenPieces + 10);
  const std::vector<std::string> argv = {
      "spm_train",
      "--input=corpus.txt",
      "--model_prefix=tokenizer",
      "--model_type=" + options.model_type,
      absl::StrCat("--vocab_size=", options.vocab_size),
      "--hard_vocab_limit=false",
      "--normalization_rule_name=identity",
      "--pad_id=0",
      "--unk_id=1",
      "--bos_id=2",
      "--eos_id=3",
      "--pad_piece=<pad>",
      "--unk_piece=<unk>",
      "--bos_piece=<s>",
      "--eos_piece=</s>",
      "--control_symbols=" + absl::StrJoin(control, ","),
      "--character_coverage=1.0",
      "--byte_fallback=true",
      "--num_threads=2",
      "--minloglevel=2",
  };
  if (absl::Status s = RunProcess(argv, scratch.path(), "spm_train.log"); !s.ok()) {
    if (absl::IsNotFound(s)) {
      return absl::NotFoundError(
          "tokenizer: training needs spm_train (Debian package `sentencepiece`), which is not "
          "installed");
    }
    return absl::InternalError(absl::StrCat("tokenizer: ", s.message()));
  }
  // Load before publishing, so that a model we cannot read never replaces a good one.
  const std::string model = scratch / "tokenizer.model";
  RETURN_IF_ERROR(Tokenizer::Load(model).status());
  if (std::rename(model.c_str(), output_path.c_str()) != 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("tokenizer: cannot rename ", model, " to ", output_path));
  }
  return absl::OkStatus();
}

}  // namespace infusion::engine
