#include "server/event_queue.h"

namespace infusion::server {

using scheduler::RequestEvent;

void EventQueue::OnEvent(RequestEvent event) {
  const absl::Time now = absl::Now();
  bool wake = false;
  {
    absl::MutexLock lock(&mu_);
    events_.push_back({std::move(event), now});
    wake = !consumer_active_;
    consumer_active_ = true;
  }
  if (wake) wake_();
}

std::optional<TimedEvent> EventQueue::Pop() {
  absl::MutexLock lock(&mu_);
  if (events_.empty()) {
    consumer_active_ = false;
    return std::nullopt;
  }
  TimedEvent next = std::move(events_.front());
  events_.pop_front();
  return next;
}

}  // namespace infusion::server
