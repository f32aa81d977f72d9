#include "engine/tokenizer/unigram_encoder.h"

#include <algorithm>

#include "engine/tokenizer/utf8.h"

namespace infusion::engine {
namespace {

// An unknown character costs this much more than the least likely piece.
constexpr float kUnknownPenalty = 10.0f;

// The best path over normalized[0, end) for some `end`: its last piece and its score.
struct BestPath {
  int id = -1;
  int start = -1;  // byte offset of the last piece; -1 while no path ends here
  float score = 0.0f;
};

}  // namespace

std::vector<EncodedPiece> UnigramEncode(const Vocabulary& vocab, std::string_view normalized) {
  // sentencepiece's Model::EncodeOptimized, down to its arithmetic: a piece's score is added in
  // double and compared against the stored float, ties keep the earlier candidate, and a
  // user-defined piece scores length * max_score - 0.1. Scores that tie or nearly tie then
  // resolve to the same path.
  const int size = static_cast<int>(normalized.size());
  const float unknown_score = vocab.min_score() - kUnknownPenalty;
  std::vector<BestPath> best(size + 1);
  for (int start = 0; start < size;) {
    const float score_here = best[start].score;
    const size_t char_length = Utf8PrefixLength(normalized.substr(start));
    bool covers_one_char = false;
    vocab.segmentable_pieces().ForEachPrefix(normalized.substr(start), [&](size_t length, int id) {
      if (vocab.type(id) == Vocabulary::PieceType::kUnused) return;
      const double piece_score =
          vocab.type(id) == Vocabulary::PieceType::kUserDefined
              ? static_cast<double>(static_cast<float>(length) * vocab.max_score()) - 0.1
              : static_cast<double>(vocab.score(id));
      const double candidate = piece_score + static_cast<double>(score_here);
      BestPath& target = best[start + length];
      if (target.start == -1 || candidate > static_cast<double>(target.score)) {
        target = {id, start, static_cast<float>(candidate)};
      }
      covers_one_char = covers_one_char || length == char_length;
    });
    if (!covers_one_char) {
      const float candidate = unknown_score + score_here;
      BestPath& target = best[start + char_length];
      if (target.start == -1 || candidate > target.score) {
        target = {vocab.unk_id(), start, candidate};
      }
    }
    start += char_length;
  }

  std::vector<EncodedPiece> pieces;
  for (int end = size; end > 0; end = best[end].start) {
    pieces.push_back({normalized.substr(best[end].start, end - best[end].start), best[end].id});
  }
  std::reverse(pieces.begin(), pieces.end());
  return pieces;
}

}  // namespace infusion::engine
