// Text <-> token ids through a sentencepiece model (tokenizer.model of a model directory).
//
// Special tokens (<pad>, <unk>, <s>, </s>, <boi>, <eoi>, chat roles) are sentencepiece control
// symbols: Encode never produces them from text, so user text cannot forge an image boundary or
// a chat turn; the engine inserts them by id. Decode drops them.
//
// The model file is read and applied here, in plain C++, with sentencepiece's exact results
// (unigram and BPE models; the identity normalizer or a precompiled charsmap such as nmt_nfkc):
// libsentencepiece embeds its own protobuf, which clashes with the one LibTorch and gRPC load.
// Training runs sentencepiece's `spm_train` program in a separate process for the same reason.
// A Tokenizer is immutable after Load, so Encode and Decode may run on many threads at once.
#ifndef INFUSION_ENGINE_TOKENIZER_TOKENIZER_H_
#define INFUSION_ENGINE_TOKENIZER_TOKENIZER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/tokenizer/text_decoder.h"

namespace infusion::engine {

class Normalizer;
class Vocabulary;

struct SpecialTokens;

// The pieces of the special tokens, in the id order that TrainTokenizer gives them (0..9).
extern const char* const kSpecialTokenPieces[10];

class Tokenizer {
 public:
  class StreamDecoder;

  // NotFound when `path` cannot be read; InvalidArgument when it is not a well-formed
  // sentencepiece model, or uses what this tokenizer does not implement (WORD or CHAR models,
  // treat_whitespace_as_suffix, denormalization rules).
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const std::string& path);
  ~Tokenizer();

  std::vector<int> Encode(std::string_view text) const;
  // Control tokens and out-of-range ids decode to nothing, <unk> to " ⁇ " (the model's
  // unk_surface), and byte pieces to their bytes, U+FFFD standing for malformed UTF-8.
  std::string Decode(const std::vector<int>& ids) const;
  // A decoder of one stream of generated tokens, with Decode()'s exact result (text_decoder.h).
  // It borrows this tokenizer, which must outlive it.
  std::unique_ptr<TextDecoder> NewDecoder() const;
  int vocab_size() const;
  // -1 when the piece is not in the vocabulary.
  int PieceToId(std::string_view piece) const;
  std::string IdToPiece(int id) const;

  // InvalidArgument naming the token when the tokenizer's id of a special piece differs from the
  // config's, or the tokenizer is larger than `vocab_size`.
  absl::Status CheckCompatible(const SpecialTokens& tokens, int vocab_size) const;

 private:
  Tokenizer();

  std::unique_ptr<Vocabulary> vocab_;
  std::unique_ptr<Normalizer> normalizer_;  // borrows vocab_'s user-defined pieces
  bool bpe_ = false;                        // else unigram
  // The normalizer's settings that also shape decoding: which leading "▁" are dropped.
  bool add_dummy_prefix_ = true;
  bool remove_extra_whitespaces_ = true;
  std::string unk_surface_;
};

struct TokenizerTrainOptions {
  int vocab_size = 1024;               // upper bound; a small corpus may yield fewer pieces
  std::string model_type = "unigram";  // or "bpe"
  absl::Status Validate() const;
};

// Trains a sentencepiece model on `sentences` (one per line; a sentence holding a newline counts
// as several) with the identity normalizer and byte fallback, and writes it to `output_path`,
// with the special tokens at ids 0..9 (kSpecialTokenPieces) matching the SpecialTokens defaults.
// Needs the `spm_train` program (Debian package `sentencepiece`); NotFound without it.
absl::Status TrainTokenizer(const std::vector<std::string>& sentences,
                            const TokenizerTrainOptions& options, const std::string& output_path);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_TOKENIZER_TOKENIZER_H_
