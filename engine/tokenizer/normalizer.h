// Text -> the normalized form that sentencepiece segments: the model's character rules (none for
// the "identity" rule; a compiled charsmap such as nmt_nfkc's otherwise), spaces squeezed and
// trimmed (remove_extra_whitespaces), a leading space added (add_dummy_prefix), and spaces
// written as U+2581 "▁" (escape_whitespaces). Malformed UTF-8 bytes become U+FFFD.
#ifndef INFUSION_ENGINE_TOKENIZER_NORMALIZER_H_
#define INFUSION_ENGINE_TOKENIZER_NORMALIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tokenizer/piece_trie.h"
#include "engine/tokenizer/sentencepiece_model_proto.h"

namespace infusion::engine {

// U+2581 LOWER ONE EIGHTH BLOCK, sentencepiece's visible space.
inline constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";

class Normalizer {
 public:
  // `user_defined` holds pieces that pass through unchanged (borrowed: it must outlive the
  // normalizer). InvalidArgument when the spec's precompiled charsmap is malformed.
  static absl::StatusOr<std::unique_ptr<Normalizer>> Create(
      const SentencePieceModelProto::NormalizerSpec& spec, const PieceTrie* user_defined);

  std::string Normalize(std::string_view text) const;

 private:
  Normalizer(const SentencePieceModelProto::NormalizerSpec& spec, const PieceTrie* user_defined);

  // The normalized form of the first character (or user-defined piece, or longest charsmap rule)
  // of non-empty `text`, and the number of bytes of `text` it stands for.
  std::pair<std::string_view, size_t> NormalizePrefix(std::string_view text) const;
  // Length of the longest charsmap rule matching a prefix of `text` (0 if none); its
  // replacement goes to *replacement.
  size_t LongestRule(std::string_view text, std::string_view* replacement) const;

  const bool add_dummy_prefix_;
  const bool remove_extra_whitespaces_;
  const bool escape_whitespaces_;
  const PieceTrie* const user_defined_;
  // The charsmap: a darts-clone double-array trie over rule sources, whose values index the
  // NUL-terminated replacement strings in `replacements_`.
  std::vector<uint32_t> rule_trie_;
  std::string replacements_;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_TOKENIZER_NORMALIZER_H_
