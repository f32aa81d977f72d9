// UTF-8 checks for streaming text: a token may end in the middle of a multi-byte character
// (byte-fallback tokenizers emit one byte per token), and a streamed delta must not split one.
#ifndef INFUSION_ENGINE_SAMPLER_UTF8_H_
#define INFUSION_ENGINE_SAMPLER_UTF8_H_

#include <cstddef>

#include "absl/strings/string_view.h"

namespace infusion::engine {

// How many leading bytes of `bytes` may be emitted now: all of them, except a trailing sequence
// that is a valid but incomplete UTF-8 character, which later bytes may complete. Bytes that can
// never become valid are not held back (the caller decides how to show them), so the stream
// cannot stall.  "a\xC3" -> 1 (the first byte of "é"), "a\xC3\xA9" -> 3, "a\xFF" -> 2.
size_t Utf8CompletePrefixLength(absl::string_view bytes);

// Whether `bytes` is well-formed UTF-8 (Unicode Table 3-7: no overlong forms, no surrogates,
// nothing above U+10FFFF, no truncated character).
bool IsValidUtf8(absl::string_view bytes);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_SAMPLER_UTF8_H_
