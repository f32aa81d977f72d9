#include "engine/tokenizer/piece_trie.h"

namespace infusion::engine {

PieceTrie::PieceTrie() : values_(1, -1) {}

void PieceTrie::Insert(std::string_view key, int value) {
  int32_t node = 0;
  for (const char c : key) {
    const auto [it, inserted] =
        children_.try_emplace(EdgeKey(node, static_cast<uint8_t>(c)), values_.size());
    if (inserted) values_.push_back(-1);
    node = it->second;
  }
  values_[node] = value;
}

size_t PieceTrie::LongestPrefix(std::string_view text) const {
  size_t longest = 0;
  ForEachPrefix(text, [&longest](size_t length, int) { longest = length; });
  return longest;
}

}  // namespace infusion::engine
