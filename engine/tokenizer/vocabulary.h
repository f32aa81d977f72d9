// The pieces of a sentencepiece model, checked as sentencepiece checks them on load, with the
// lookups the encoders and the decoder need.
#ifndef INFUSION_ENGINE_TOKENIZER_VOCABULARY_H_
#define INFUSION_ENGINE_TOKENIZER_VOCABULARY_H_

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/tokenizer/piece_trie.h"
#include "engine/tokenizer/sentencepiece_model_proto.h"

namespace infusion::engine {

// One piece of an encoder's segmentation: a span of the normalized text and its id.
struct EncodedPiece {
  std::string_view piece;
  int id;
};

class Vocabulary {
 public:
  using PieceType = SentencePieceModelProto::PieceType;

  // InvalidArgument for an empty, NUL-holding or duplicate piece, a missing or second <unk>,
  // a byte piece other than <0x00>..<0xFF>, or byte pieces without byte_fallback (or not all 256
  // of them with it).
  static absl::StatusOr<std::unique_ptr<Vocabulary>> Create(
      std::vector<SentencePieceModelProto::Piece> pieces, bool byte_fallback);

  int size() const { return static_cast<int>(pieces_.size()); }
  const std::string& piece(int id) const { return pieces_[id].piece; }
  float score(int id) const { return pieces_[id].score; }
  PieceType type(int id) const { return pieces_[id].type; }

  // Id of `piece` of any type; -1 when there is none.
  int Find(std::string_view piece) const;
  // Id of `piece` when text may segment into it (normal, user-defined or unused); else -1.
  int FindSegmentable(std::string_view piece) const;

  int unk_id() const { return unk_id_; }
  bool byte_fallback() const { return byte_fallback_; }
  int ByteId(unsigned char byte) const { return byte_ids_[byte]; }  // needs byte_fallback()
  // The byte that the byte piece `id` stands for.
  unsigned char ByteValue(int id) const;

  // Normal, user-defined and unused pieces: the ones text may segment into.
  const PieceTrie& segmentable_pieces() const { return segmentable_; }
  // The user-defined pieces, which the normalizer and BPE keep whole.
  const PieceTrie& user_defined_pieces() const { return user_defined_; }

  // Lowest and highest score of the normal pieces, folded from FLT_MAX and FLT_MIN (the least
  // positive float) as sentencepiece does, so max_score() is never below ~0. The unigram encoder
  // prices unknown and user-defined pieces from them.
  float min_score() const { return min_score_; }
  float max_score() const { return max_score_; }

 private:
  Vocabulary() = default;

  std::vector<SentencePieceModelProto::Piece> pieces_;
  absl::flat_hash_map<std::string_view, int> ids_;  // keys view pieces_
  PieceTrie segmentable_;
  PieceTrie user_defined_;
  std::array<int, 256> byte_ids_{};
  int unk_id_ = -1;
  bool byte_fallback_ = false;
  float min_score_ = 0.0f;
  float max_score_ = 0.0f;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_TOKENIZER_VOCABULARY_H_
