// Streaming detokenization: token ids in, text out, a token at a time.
#ifndef INFUSION_ENGINE_TOKENIZER_TEXT_DECODER_H_
#define INFUSION_ENGINE_TOKENIZER_TEXT_DECODER_H_

#include <cstdint>
#include <string>

namespace infusion::engine {

// The text of one growing sequence of generated tokens. Add() returns what the new token settles:
// never part of a UTF-8 character that later bytes may still complete. Every Add() and the last
// Finish() concatenated are the tokenizer's Decode() of the whole sequence, and each call costs
// time proportional to its own token, not to the text so far.
class TextDecoder {
 public:
  virtual ~TextDecoder() = default;
  virtual std::string Add(int32_t token_id) = 0;
  // The text held back (an incomplete character, shown as U+FFFD as Decode() shows it). No Add()
  // may follow.
  virtual std::string Finish() = 0;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_TOKENIZER_TEXT_DECODER_H_
