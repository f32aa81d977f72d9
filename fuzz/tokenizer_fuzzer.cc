// tokenizer.model of a model directory: Tokenizer::Load from a file (the server's entry point),
// then what the server does with a loaded tokenizer: encode request text, decode sampled ids.
//
// Properties: no crash, hang or undefined behaviour; Load refuses with InvalidArgument; the ids
// Encode gives are in the vocabulary; Decode takes any id, in range or not.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/memory_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const infusion::MemoryFile file(data, size);
  absl::StatusOr<std::unique_ptr<infusion::engine::Tokenizer>> tokenizer =
      infusion::engine::Tokenizer::Load(file.path());
  if (!tokenizer.ok()) {
    FUZZ_CHECK(tokenizer.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  const infusion::engine::Tokenizer& t = **tokenizer;
  // Text with spaces, punctuation, multi-byte characters, a control character and a byte that is
  // not UTF-8 (the server refuses those, the tokenizer must still not crash on them).
  for (const char* text : {"", " ", "Hello, world!  a red circle", "ünïcödé 日本語 🙂",
                           "tab\there\nnew line", "bad \xff byte"}) {
    const std::vector<int> ids = t.Encode(text);
    for (int id : ids) FUZZ_CHECK(id >= 0 && id < t.vocab_size());
    t.Decode(ids);
  }
  t.Decode({-1, 0, 1, 2, t.vocab_size() - 1, t.vocab_size(), 1 << 30});
  for (int id = 0; id < t.vocab_size() && id < 64; ++id) {
    FUZZ_CHECK(t.PieceToId(t.IdToPiece(id)) == id);  // pieces are unique
  }
  return 0;
}
