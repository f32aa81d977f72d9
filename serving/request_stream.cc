#include "serving/request_stream.h"

#include <utility>

namespace infusion::serving {

using scheduler::RequestEvent;

void RequestStream::OnEvent(RequestEvent event) {
  absl::MutexLock lock(&mu_);
  events_.push_back(std::move(event));
}

std::optional<RequestEvent> RequestStream::Next() {
  absl::MutexLock lock(&mu_);
  if (finish_returned_) return std::nullopt;
  mu_.Await(absl::Condition(
      +[](std::deque<RequestEvent>* events) { return !events->empty(); }, &events_));
  RequestEvent event = std::move(events_.front());
  events_.pop_front();
  finish_returned_ = event.type == RequestEvent::Type::kFinish;
  return event;
}

}  // namespace infusion::serving
