// Text <-> token ids through a sentencepiece model (tokenizer.model of a model directory).
//
// Special tokens (<pad>, <unk>, <s>, </s>, <boi>, <eoi>, chat roles) are sentencepiece control
// symbols: Encode never produces them from text, so user text cannot forge an image boundary or
// a chat turn; the engine inserts them by id. Decode drops them.
#ifndef INFUSION_ENGINE_TOKENIZER_TOKENIZER_H_
#define INFUSION_ENGINE_TOKENIZER_TOKENIZER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace infusion {

class SentencePieceModel;

struct SpecialTokens;

// The pieces of the special tokens, in the id order that TrainTokenizer gives them (0..9).
extern const char* const kSpecialTokenPieces[10];

class Tokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const std::string& path);
  ~Tokenizer();

  std::vector<int> Encode(std::string_view text) const;
  std::string Decode(const std::vector<int>& ids) const;
  int vocab_size() const;
  // -1 when the piece is not in the vocabulary.
  int PieceToId(std::string_view piece) const;
  std::string IdToPiece(int id) const;

  // InvalidArgument naming the token when the tokenizer's id of a special piece differs from the
  // config's, or the tokenizer is larger than `vocab_size`.
  absl::Status CheckCompatible(const SpecialTokens& tokens, int vocab_size) const;

 private:
  Tokenizer();
  std::unique_ptr<SentencePieceModel> processor_;
};

struct TokenizerTrainOptions {
  int vocab_size = 1024;             // upper bound; a small corpus may yield fewer pieces
  std::string model_type = "unigram";  // or "bpe"
  absl::Status Validate() const;
};

// Trains a sentencepiece model on `sentences` and writes it to `output_path`, with the special
// tokens at ids 0..9 (kSpecialTokenPieces) matching the SpecialTokens defaults.
absl::Status TrainTokenizer(const std::vector<std::string>& sentences,
                            const TokenizerTrainOptions& options, const std::string& output_path);

}  // namespace infusion

#endif  // INFUSION_ENGINE_TOKENIZER_TOKENIZER_H_
