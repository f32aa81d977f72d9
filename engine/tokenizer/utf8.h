// The two UTF-8 primitives that sentencepiece's encoder and decoder are built on, with its exact
// rules: a character's length is read from its lead byte alone, and decoding rejects overlong
// forms, surrogates and code points above U+10FFFF, consuming one byte of a malformed sequence.
#ifndef INFUSION_ENGINE_TOKENIZER_UTF8_H_
#define INFUSION_ENGINE_TOKENIZER_UTF8_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace infusion::engine {

// U+FFFD REPLACEMENT CHARACTER, which stands for each byte of malformed input.
inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

// Length of the character that starts with `lead`, from the lead byte only (1 for a stray
// continuation byte). Callers clip it to the bytes that remain.
inline size_t Utf8CharLength(char lead) {
  return "\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[static_cast<unsigned char>(lead) >> 4];
}

// Length of the first character of `text`, clipped to `text.size()`.
inline size_t Utf8PrefixLength(std::string_view text) {
  const size_t length = Utf8CharLength(text[0]);
  return length < text.size() ? length : text.size();
}

// True when `text` (non-empty) starts with a well-formed character; *length is its byte length,
// or 1 when it is malformed.
bool DecodeUtf8Prefix(std::string_view text, size_t* length);

// Appends `bytes` to *out, each malformed byte replaced by U+FFFD.
void AppendWithReplacement(std::string_view bytes, std::string* out);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_TOKENIZER_UTF8_H_
