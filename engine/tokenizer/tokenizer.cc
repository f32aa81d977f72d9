#include "engine/tokenizer/tokenizer.h"

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/model/model_config.h"
#include "engine/tokenizer/sentencepiece_model.h"

namespace infusion {

const char* const kSpecialTokenPieces[10] = {"<pad>", "<unk>",      "<s>",      "</s>",
                                             "<boi>", "<eoi>",      "<|system|>", "<|user|>",
                                             "<|assistant|>", "<|end|>"};

Tokenizer::Tokenizer() : processor_(std::make_unique<SentencePieceModel>()) {}
Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& path) {
  std::unique_ptr<Tokenizer> tokenizer(new Tokenizer());
  std::string error;
  if (!tokenizer->processor_->Load(path, &error)) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer: cannot load ", path, ": ", error));
  }
  return tokenizer;
}

std::vector<int> Tokenizer::Encode(std::string_view text) const {
  return processor_->Encode(text);
}

std::string Tokenizer::Decode(const std::vector<int>& ids) const {
  std::vector<int> valid;
  valid.reserve(ids.size());
  for (int id : ids) {
    if (id >= 0 && id < vocab_size()) valid.push_back(id);
  }
  return processor_->Decode(valid);
}

int Tokenizer::vocab_size() const { return processor_->PieceSize(); }

int Tokenizer::PieceToId(std::string_view piece) const {
  const int id = processor_->PieceToId(piece);
  // sentencepiece answers unk_id for unknown pieces; tell that apart from "<unk>" itself.
  if (id == processor_->UnkId() && piece != processor_->IdToPiece(id)) return -1;
  return id;
}

std::string Tokenizer::IdToPiece(int id) const {
  if (id < 0 || id >= vocab_size()) return "";
  return processor_->IdToPiece(id);
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
      return absl::InvalidArgumentError(absl::StrCat(
          "tokenizer: special token ", kSpecialTokenPieces[i], " has id ",
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

absl::Status TrainTokenizer(const std::vector<std::string>& sentences,
                            const TokenizerTrainOptions& options, const std::string& output_path) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  if (sentences.empty()) return absl::InvalidArgumentError("tokenizer: no training text");
  const std::vector<std::string> control(kSpecialTokenPieces + 4, kSpecialTokenPieces + 10);
  std::unordered_map<std::string, std::string> args = {
      {"model_type", options.model_type},
      {"vocab_size", std::to_string(options.vocab_size)},
      {"hard_vocab_limit", "false"},
      {"pad_id", "0"}, {"unk_id", "1"}, {"bos_id", "2"}, {"eos_id", "3"},
      {"pad_piece", "<pad>"}, {"unk_piece", "<unk>"}, {"bos_piece", "<s>"}, {"eos_piece", "</s>"},
      {"control_symbols", absl::StrJoin(control, ",")},
      {"character_coverage", "1.0"},
      {"byte_fallback", "true"},
      {"num_threads", "2"},
      {"minloglevel", "2"},
  };
  std::string serialized, error;
  if (!SentencePieceModel::Train(args, sentences, &serialized, &error)) {
    return absl::InternalError(absl::StrCat("tokenizer training failed: ", error));
  }
  const std::string tmp = output_path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write(serialized.data(), static_cast<std::streamsize>(serialized.size()));
    if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), output_path.c_str()) != 0) {
    return absl::PermissionDeniedError(absl::StrCat("cannot rename ", tmp, " to ", output_path));
  }
  return absl::OkStatus();
}

}  // namespace infusion
