#include "engine/tokenizer/utf8.h"

#include <cstdint>

namespace infusion::engine {
namespace {

bool IsTrailByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

bool IsValidCodePoint(uint32_t c) { return c < 0xD800 || (c >= 0xE000 && c <= 0x10FFFF); }

}  // namespace

bool DecodeUtf8Prefix(std::string_view text, size_t* length) {
  const auto byte = [&text](size_t i) {
    return static_cast<uint32_t>(static_cast<uint8_t>(text[i]));
  };
  *length = 1;
  const uint32_t lead = byte(0);
  if (lead < 0x80) return true;
  if (text.size() >= 2 && (lead & 0xE0) == 0xC0) {
    const uint32_t c = ((lead & 0x1F) << 6) | (byte(1) & 0x3F);
    if (IsTrailByte(text[1]) && c >= 0x80 && IsValidCodePoint(c)) *length = 2;
  } else if (text.size() >= 3 && (lead & 0xF0) == 0xE0) {
    const uint32_t c = ((lead & 0x0F) << 12) | ((byte(1) & 0x3F) << 6) | (byte(2) & 0x3F);
    if (IsTrailByte(text[1]) && IsTrailByte(text[2]) && c >= 0x800 && IsValidCodePoint(c)) {
      *length = 3;
    }
  } else if (text.size() >= 4 && (lead & 0xF8) == 0xF0) {
    const uint32_t c = ((lead & 0x07) << 18) | ((byte(1) & 0x3F) << 12) | ((byte(2) & 0x3F) << 6) |
                       (byte(3) & 0x3F);
    if (IsTrailByte(text[1]) && IsTrailByte(text[2]) && IsTrailByte(text[3]) && c >= 0x10000 &&
        IsValidCodePoint(c)) {
      *length = 4;
    }
  }
  return *length > 1;
}

void AppendWithReplacement(std::string_view bytes, std::string* out) {
  while (!bytes.empty()) {
    size_t length;
    if (DecodeUtf8Prefix(bytes, &length)) {
      out->append(bytes.data(), length);
    } else {
      out->append(kReplacementCharacter);
    }
    bytes.remove_prefix(length);
  }
}

}  // namespace infusion::engine
