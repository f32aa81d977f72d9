// A request's events on their way from the engine thread to the thread that writes them to the
// client. The engine never waits here: OnEvent appends and, when the queue was idle, wakes the
// consumer through a callback (which must not block either).
//
// The consumer drains with Pop() until it returns nothing; from the wake-up until then it owns
// the queue, so exactly one consumer runs at a time and events keep their order.
#ifndef INFUSION_SERVER_EVENT_QUEUE_H_
#define INFUSION_SERVER_EVENT_QUEUE_H_

#include <deque>
#include <functional>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "scheduler/request.h"

namespace infusion::server {

struct TimedEvent {
  scheduler::RequestEvent event;
  absl::Time time;  // when the engine emitted it (latency metrics must not count the hand-off)
};

class EventQueue : public scheduler::EventSink {
 public:
  explicit EventQueue(std::function<void()> wake) : wake_(std::move(wake)) {}

  // Engine thread.
  void OnEvent(scheduler::RequestEvent event) override;

  // Consumer: the oldest event, or nullopt, which makes the queue idle (the next OnEvent wakes
  // the consumer again).
  std::optional<TimedEvent> Pop();

 private:
  const std::function<void()> wake_;
  absl::Mutex mu_;
  std::deque<TimedEvent> events_ ABSL_GUARDED_BY(mu_);
  bool consumer_active_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace infusion::server

#endif  // INFUSION_SERVER_EVENT_QUEUE_H_
