// Finds stop strings in streamed text without ever emitting part of one.
#ifndef INFUSION_ENGINE_SAMPLER_STOP_MATCHER_H_
#define INFUSION_ENGINE_SAMPLER_STOP_MATCHER_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace infusion::engine {

// Fed the decoded text of a request delta by delta, it returns what is safe to stream now: it
// holds back the longest tail that could still grow into a stop string, and when a stop string
// completes it returns the text before it and stops. As in the OpenAI API and vLLM, the stop
// string itself is not emitted. With valid UTF-8 in and out, a held-back tail always starts on a
// character boundary, since no valid stop string starts with a continuation byte.
//
//   StopMatcher m({"STOP"});
//   m.Feed("Hel")      -> {"Hel", false}
//   m.Feed("lo ST")    -> {"lo ", false}   ("ST" held back)
//   m.Feed("OP and")   -> {"", true}
class StopMatcher {
 public:
  struct Result {
    std::string text;      // Safe to emit now.
    bool stopped = false;  // A stop string completed; later Feed() calls return nothing.
  };

  // `stop_strings` must be non-empty strings (SamplingParams::Validate checks this).
  explicit StopMatcher(std::vector<std::string> stop_strings);

  Result Feed(absl::string_view delta);

  // Releases the held-back tail when the stream ends for another reason (a stop token,
  // max_tokens), since it can no longer become a stop string.
  std::string Flush();

  bool stopped() const { return stopped_; }

 private:
  // The length of the longest suffix of `pending_` that is a proper prefix of a stop string.
  size_t HeldBackLength() const;

  const std::vector<std::string> stop_strings_;
  std::string pending_;  // Received, not yet emitted; shorter than the longest stop string.
  bool stopped_ = false;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_SAMPLER_STOP_MATCHER_H_
