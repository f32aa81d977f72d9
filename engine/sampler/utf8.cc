#include "engine/sampler/utf8.h"

#include <algorithm>
#include <cstdint>

namespace infusion::engine {
namespace {

enum class SequenceKind { kComplete, kTruncated, kInvalid };

struct Sequence {
  SequenceKind kind;
  size_t length;  // Bytes the sequence spans in the input (1 for an invalid lead byte).
};

// Classifies the character starting at bytes[0], by Table 3-7 of the Unicode Standard: the lead
// byte fixes the length and the range of the second byte; later bytes are 0x80..0xBF.
Sequence ReadSequence(absl::string_view bytes) {
  const auto byte = [&bytes](size_t i) { return static_cast<uint8_t>(bytes[i]); };
  const uint8_t lead = byte(0);
  size_t length;
  uint8_t second_min = 0x80, second_max = 0xBF;
  if (lead <= 0x7F) {
    return {SequenceKind::kComplete, 1};
  } else if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;  // Overlong below U+0800.
    if (lead == 0xED) second_max = 0x9F;  // Surrogates U+D800..U+DFFF.
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;  // Overlong below U+10000.
    if (lead == 0xF4) second_max = 0x8F;  // Above U+10FFFF.
  } else {
    return {SequenceKind::kInvalid, 1};  // A continuation byte, an overlong C0/C1, or F5..FF.
  }
  for (size_t i = 1; i < length; ++i) {
    if (i == bytes.size()) return {SequenceKind::kTruncated, i};
    const uint8_t min = i == 1 ? second_min : 0x80;
    const uint8_t max = i == 1 ? second_max : 0xBF;
    if (byte(i) < min || byte(i) > max) return {SequenceKind::kInvalid, 1};
  }
  return {SequenceKind::kComplete, length};
}

bool IsContinuationByte(char c) { return (static_cast<uint8_t>(c) & 0xC0) == 0x80; }

}  // namespace

size_t Utf8CompletePrefixLength(absl::string_view bytes) {
  // Only the last character can be incomplete: look back past at most three continuation bytes
  // for its lead byte.
  const size_t floor = bytes.size() - std::min<size_t>(bytes.size(), 4);
  for (size_t start = bytes.size(); start > floor;) {
    --start;
    if (IsContinuationByte(bytes[start])) continue;
    const bool truncated = ReadSequence(bytes.substr(start)).kind == SequenceKind::kTruncated;
    return truncated ? start : bytes.size();
  }
  return bytes.size();
}

bool IsValidUtf8(absl::string_view bytes) {
  while (!bytes.empty()) {
    const Sequence sequence = ReadSequence(bytes);
    if (sequence.kind != SequenceKind::kComplete) return false;
    bytes.remove_prefix(sequence.length);
  }
  return true;
}

}  // namespace infusion::engine
