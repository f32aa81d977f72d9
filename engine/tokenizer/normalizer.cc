#include "engine/tokenizer/normalizer.h"

#include "engine/tokenizer/utf8.h"

namespace infusion::engine {
namespace {

// (Debian's Abseil has its own string_view, so EndsWith does not take std's.)
bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

uint32_t ReadLittleEndian32(const char* p) {
  const auto* b = reinterpret_cast<const uint8_t*>(p);
  return static_cast<uint32_t>(b[0]) | static_cast<uint32_t>(b[1]) << 8 |
         static_cast<uint32_t>(b[2]) << 16 | static_cast<uint32_t>(b[3]) << 24;
}

// Fields of a darts-clone double-array unit (darts.h, DoubleArrayUnit).
bool HasLeaf(uint32_t unit) { return ((unit >> 8) & 1) == 1; }
uint32_t Value(uint32_t unit) { return unit & ((1U << 31) - 1); }
uint32_t Label(uint32_t unit) { return unit & ((1U << 31) | 0xFF); }
uint32_t Offset(uint32_t unit) { return (unit >> 10) << ((unit & (1U << 9)) >> 6); }

}  // namespace

Normalizer::Normalizer(const SentencePieceModelProto::NormalizerSpec& spec,
                       const PieceTrie* user_defined)
    : add_dummy_prefix_(spec.add_dummy_prefix),
      remove_extra_whitespaces_(spec.remove_extra_whitespaces),
      escape_whitespaces_(spec.escape_whitespaces),
      user_defined_(user_defined) {}

absl::StatusOr<std::unique_ptr<Normalizer>> Normalizer::Create(
    const SentencePieceModelProto::NormalizerSpec& spec, const PieceTrie* user_defined) {
  std::unique_ptr<Normalizer> normalizer(new Normalizer(spec, user_defined));
  const std::string_view blob = spec.precompiled_charsmap;
  if (blob.empty()) return normalizer;
  // Layout: <trie size in bytes: uint32 LE><double-array units: uint32 LE><replacements>.
  const uint32_t trie_size = blob.size() >= 4 ? ReadLittleEndian32(blob.data()) : 0;
  if (blob.size() < 4 || trie_size == 0 || trie_size % 4 != 0 || trie_size > blob.size() - 4) {
    return absl::InvalidArgumentError("NormalizerSpec.precompiled_charsmap is malformed");
  }
  normalizer->rule_trie_.resize(trie_size / 4);
  for (size_t i = 0; i < normalizer->rule_trie_.size(); ++i) {
    normalizer->rule_trie_[i] = ReadLittleEndian32(blob.data() + 4 + 4 * i);
  }
  normalizer->replacements_ = std::string(blob.substr(4 + trie_size));
  return normalizer;
}

std::string Normalizer::Normalize(std::string_view text) const {
  std::string out;
  // Mirrors sentencepiece's Normalizer::Normalize step by step; the odd cases (a rule that maps
  // to several spaces, a literal "▁" at the end of the text) then come out as they do there.
  if (remove_extra_whitespaces_) {
    while (!text.empty()) {
      const auto [normalized, consumed] = NormalizePrefix(text);
      if (normalized != " ") break;
      text.remove_prefix(consumed);
    }
  }
  if (text.empty()) return out;

  const std::string_view space = escape_whitespaces_ ? kSpaceSymbol : " ";
  out.reserve(text.size() * 3);
  if (add_dummy_prefix_) out.append(space);
  bool is_prev_space = remove_extra_whitespaces_;
  while (!text.empty()) {
    auto [normalized, consumed] = NormalizePrefix(text);
    while (is_prev_space && !normalized.empty() && normalized[0] == ' ') {
      normalized.remove_prefix(1);
    }
    if (!normalized.empty()) {
      for (const char c : normalized) {
        if (c == ' ') {
          out.append(space);
        } else {
          out.push_back(c);
        }
      }
      is_prev_space = EndsWith(normalized, " ");
    }
    text.remove_prefix(consumed);
    if (!remove_extra_whitespaces_) is_prev_space = false;
  }
  if (remove_extra_whitespaces_) {
    while (EndsWith(out, space)) out.resize(out.size() - space.size());
  }
  return out;
}

std::pair<std::string_view, size_t> Normalizer::NormalizePrefix(std::string_view text) const {
  if (user_defined_ != nullptr) {
    if (const size_t length = user_defined_->LongestPrefix(text); length > 0) {
      return {text.substr(0, length), length};
    }
  }
  std::string_view replacement;
  if (const size_t length = LongestRule(text, &replacement); length > 0) {
    return {replacement, length};
  }
  size_t length;
  if (!DecodeUtf8Prefix(text, &length)) return {kReplacementCharacter, 1};
  return {text.substr(0, length), length};
}

size_t Normalizer::LongestRule(std::string_view text, std::string_view* replacement) const {
  // darts-clone's commonPrefixSearch, keeping the longest match. Every index is bounds-checked:
  // the array comes from a file, and a corrupt one must not read outside it.
  if (rule_trie_.empty()) return 0;
  size_t longest = 0;
  uint32_t node = Offset(rule_trie_[0]);
  for (size_t i = 0; i < text.size(); ++i) {
    const uint8_t byte = static_cast<uint8_t>(text[i]);
    node ^= byte;
    if (node >= rule_trie_.size()) break;
    const uint32_t unit = rule_trie_[node];
    if (Label(unit) != byte) break;
    node ^= Offset(unit);
    if (!HasLeaf(unit)) continue;
    if (node >= rule_trie_.size()) break;
    const uint32_t value = Value(rule_trie_[node]);
    if (value >= replacements_.size()) break;
    const size_t end = replacements_.find('\0', value);
    *replacement = std::string_view(replacements_).substr(value, end - value);
    longest = i + 1;
  }
  return longest;
}

}  // namespace infusion::engine
