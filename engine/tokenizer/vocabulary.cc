#include "engine/tokenizer/vocabulary.h"

#include <algorithm>
#include <cfloat>

#include "absl/strings/str_cat.h"

namespace infusion::engine {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// sentencepiece's byte pieces are exactly "<0x00>".."<0xFF>", upper-case hex; -1 for others.
int ParseBytePiece(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  const int high = HexDigit(piece[3]);
  const int low = HexDigit(piece[4]);
  return high < 0 || low < 0 ? -1 : high * 16 + low;
}

bool IsSegmentable(Vocabulary::PieceType type) {
  return type == Vocabulary::PieceType::kNormal || type == Vocabulary::PieceType::kUserDefined ||
         type == Vocabulary::PieceType::kUnused;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Vocabulary>> Vocabulary::Create(
    std::vector<SentencePieceModelProto::Piece> pieces, bool byte_fallback) {
  std::unique_ptr<Vocabulary> vocab(new Vocabulary());
  vocab->pieces_ = std::move(pieces);
  vocab->byte_fallback_ = byte_fallback;
  vocab->byte_ids_.fill(-1);
  vocab->min_score_ = FLT_MAX;
  vocab->max_score_ = FLT_MIN;
  vocab->ids_.reserve(vocab->pieces_.size());
  for (int id = 0; id < vocab->size(); ++id) {
    const SentencePieceModelProto::Piece& p = vocab->pieces_[id];
    const auto error = [&](const char* what) {
      return absl::InvalidArgumentError(absl::StrCat("piece ", id, " (\"", p.piece, "\"): ", what));
    };
    if (p.piece.empty()) return error("empty piece");
    if (p.piece.find('\0') != std::string::npos) return error("piece holds a NUL byte");
    if (!vocab->ids_.emplace(p.piece, id).second) return error("piece is defined twice");
    switch (p.type) {
      case PieceType::kNormal:
        vocab->min_score_ = std::min(vocab->min_score_, p.score);
        vocab->max_score_ = std::max(vocab->max_score_, p.score);
        break;
      case PieceType::kUnknown:
        if (vocab->unk_id_ >= 0) return error("a second unknown piece");
        vocab->unk_id_ = id;
        break;
      case PieceType::kUserDefined:
        vocab->user_defined_.Insert(p.piece, id);
        break;
      case PieceType::kByte: {
        if (!byte_fallback) return error("byte piece in a model without byte_fallback");
        const int byte = ParseBytePiece(p.piece);
        if (byte < 0) return error("malformed byte piece");
        vocab->byte_ids_[byte] = id;
        break;
      }
      case PieceType::kControl:
      case PieceType::kUnused:
        break;
    }
    if (IsSegmentable(p.type)) vocab->segmentable_.Insert(p.piece, id);
  }
  if (vocab->unk_id_ < 0) return absl::InvalidArgumentError("no unknown piece (<unk>)");
  if (byte_fallback &&
      std::find(vocab->byte_ids_.begin(), vocab->byte_ids_.end(), -1) != vocab->byte_ids_.end()) {
    return absl::InvalidArgumentError("byte_fallback is set but not all 256 byte pieces exist");
  }
  return vocab;
}

int Vocabulary::Find(std::string_view piece) const {
  const auto it = ids_.find(piece);
  return it == ids_.end() ? -1 : it->second;
}

int Vocabulary::FindSegmentable(std::string_view piece) const {
  const int id = Find(piece);
  return id >= 0 && IsSegmentable(type(id)) ? id : -1;
}

unsigned char Vocabulary::ByteValue(int id) const {
  return static_cast<unsigned char>(ParseBytePiece(piece(id)));
}

}  // namespace infusion::engine
