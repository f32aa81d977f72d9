#include "engine/sampler/stop_matcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "common/logging.h"

namespace infusion::engine {

StopMatcher::StopMatcher(std::vector<std::string> stop_strings)
    : stop_strings_(std::move(stop_strings)) {
  for (const std::string& stop : stop_strings_) CHECK(!stop.empty()) << "empty stop string";
}

StopMatcher::Result StopMatcher::Feed(absl::string_view delta) {
  Result result;
  if (stopped_) {
    result.stopped = true;
    return result;
  }
  pending_.append(delta.data(), delta.size());
  // The earliest match wins. `pending_` held no complete stop string before this delta, so
  // searching all of it finds only matches that end in the new text.
  size_t match = std::string::npos;
  for (const std::string& stop : stop_strings_) match = std::min(match, pending_.find(stop));
  if (match != std::string::npos) {
    result.text = pending_.substr(0, match);
    result.stopped = stopped_ = true;
    pending_.clear();
    return result;
  }
  const size_t emit = pending_.size() - HeldBackLength();
  result.text = pending_.substr(0, emit);
  pending_.erase(0, emit);
  return result;
}

std::string StopMatcher::Flush() { return std::exchange(pending_, std::string()); }

size_t StopMatcher::HeldBackLength() const {
  const absl::string_view pending = pending_;
  size_t held = 0;
  for (const std::string& stop : stop_strings_) {
    for (size_t length = std::min(pending.size(), stop.size() - 1); length > held; --length) {
      if (absl::StartsWith(stop, pending.substr(pending.size() - length))) {
        held = length;
        break;
      }
    }
  }
  return held;
}

}  // namespace infusion::engine
