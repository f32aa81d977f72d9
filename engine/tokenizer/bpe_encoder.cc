#include "engine/tokenizer/bpe_encoder.h"

#include <queue>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "engine/tokenizer/utf8.h"

namespace infusion::engine {
namespace {

// A run of the text in the doubly linked list of current symbols.
struct Symbol {
  int prev;                // -1 at the start
  int next;                // -1 at the end
  bool frozen;             // a user-defined piece, never merged
  std::string_view piece;  // empty once merged into its left neighbour
};

// A candidate merge of symbols[left] with its right neighbour symbols[right].
struct Merge {
  int left;
  int right;
  float score;  // of the merged piece
  size_t size;  // bytes of the merged piece; a mismatch later means the merge went stale
};

struct MergeOrder {
  bool operator()(const Merge& a, const Merge& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

// Merged pieces of type UNUSED, with the two pieces they were merged from.
using UnusedMerges =
    absl::flat_hash_map<std::string_view, std::pair<std::string_view, std::string_view>>;

// An unused piece may not be emitted: split it back into what it was merged from.
void Resegment(const Vocabulary& vocab, const UnusedMerges& unused, std::string_view piece,
               std::vector<EncodedPiece>* out) {
  int id = vocab.Find(piece);
  if (id < 0) id = vocab.unk_id();
  const auto it = unused.find(piece);
  if (vocab.type(id) != Vocabulary::PieceType::kUnused || it == unused.end()) {
    out->push_back({piece, id});
    return;
  }
  Resegment(vocab, unused, it->second.first, out);
  Resegment(vocab, unused, it->second.second, out);
}

}  // namespace

std::vector<EncodedPiece> BpeEncode(const Vocabulary& vocab, std::string_view normalized) {
  // sentencepiece's bpe::Model::SampleEncode without dropout; a priority queue of candidate
  // merges makes it O(n log n).
  std::vector<Symbol> symbols;
  symbols.reserve(normalized.size());
  for (std::string_view rest = normalized; !rest.empty();) {
    size_t length = vocab.user_defined_pieces().LongestPrefix(rest);
    const bool frozen = length > 0;
    if (!frozen) length = Utf8PrefixLength(rest);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back(
        {index - 1, length < rest.size() ? index + 1 : -1, frozen, rest.substr(0, length)});
    rest.remove_prefix(length);
  }

  std::priority_queue<Merge, std::vector<Merge>, MergeOrder> agenda;
  UnusedMerges unused;
  const auto add_merge = [&](int left, int right) {
    if (left < 0 || right < 0 || symbols[left].frozen || symbols[right].frozen) return;
    const std::string_view piece(symbols[left].piece.data(),
                                 symbols[left].piece.size() + symbols[right].piece.size());
    const int id = vocab.FindSegmentable(piece);
    if (id < 0) return;
    agenda.push({left, right, vocab.score(id), piece.size()});
    if (vocab.type(id) == Vocabulary::PieceType::kUnused) {
      unused[piece] = {symbols[left].piece, symbols[right].piece};
    }
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) add_merge(i - 1, i);

  while (!agenda.empty()) {
    const Merge top = agenda.top();
    agenda.pop();
    Symbol& left = symbols[top.left];
    Symbol& right = symbols[top.right];
    if (left.piece.empty() || right.piece.empty() ||
        left.piece.size() + right.piece.size() != top.size) {
      continue;
    }
    left.piece = std::string_view(left.piece.data(), top.size);
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    right.piece = std::string_view();
    add_merge(left.prev, top.left);
    add_merge(top.left, left.next);
  }

  std::vector<EncodedPiece> pieces;
  for (int i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
    Resegment(vocab, unused, symbols[i].piece, &pieces);
  }
  return pieces;
}

}  // namespace infusion::engine
