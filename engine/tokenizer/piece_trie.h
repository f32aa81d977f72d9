// A byte trie from vocabulary pieces to ids: the common-prefix search that the unigram lattice
// and the user-defined-symbol matcher run at every character of the input.
#ifndef INFUSION_ENGINE_TOKENIZER_PIECE_TRIE_H_
#define INFUSION_ENGINE_TOKENIZER_PIECE_TRIE_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace infusion::engine {

class PieceTrie {
 public:
  PieceTrie();

  // `key` must be non-empty and `value` >= 0; a second Insert of the same key replaces the value.
  void Insert(std::string_view key, int value);

  // Calls visit(length, value) for every key that is a prefix of `text`, shortest first.
  template <typename Visit>
  void ForEachPrefix(std::string_view text, Visit&& visit) const {
    int32_t node = 0;
    for (size_t i = 0; i < text.size(); ++i) {
      node = Child(node, static_cast<uint8_t>(text[i]));
      if (node < 0) return;
      if (values_[node] >= 0) visit(i + 1, values_[node]);
    }
  }

  // Length of the longest key that is a prefix of `text`; 0 when there is none.
  size_t LongestPrefix(std::string_view text) const;

 private:
  int32_t Child(int32_t node, uint8_t byte) const {
    const auto it = children_.find(EdgeKey(node, byte));
    return it == children_.end() ? -1 : it->second;
  }
  static uint64_t EdgeKey(int32_t node, uint8_t byte) {
    return (static_cast<uint64_t>(node) << 8) | byte;
  }

  absl::flat_hash_map<uint64_t, int32_t> children_;  // EdgeKey(parent, byte) -> child node
  std::vector<int32_t> values_;                      // per node; -1 where no key ends; [0] = root
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_TOKENIZER_PIECE_TRIE_H_
