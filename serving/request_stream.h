// A request's events for a caller that pulls them instead of being called on the engine thread
// (benchmarks, evaluations, tests, the server's warm-up): pass a RequestStream to
// InferenceEngine::Submit as the sink, then call Next() until it returns nullopt.
//
//   auto stream = std::make_shared<RequestStream>();
//   ASSIGN_OR_RETURN(RequestId id, engine->Submit(request, stream));
//   while (std::optional<RequestEvent> event = stream->Next()) { ... }
#ifndef INFUSION_SERVING_REQUEST_STREAM_H_
#define INFUSION_SERVING_REQUEST_STREAM_H_

#include <deque>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "scheduler/request.h"

namespace infusion::serving {

class RequestStream : public scheduler::EventSink {
 public:
  // Engine thread: queues the event and returns.
  void OnEvent(scheduler::RequestEvent event) override;

  // Blocks until the request's next event and returns it; the finish event is the last one,
  // after which Next() returns nullopt at once. Blocks for good if the engine is stopped before
  // the request finishes, so only call it while the engine runs.
  std::optional<scheduler::RequestEvent> Next();

 private:
  absl::Mutex mu_;
  std::deque<scheduler::RequestEvent> events_ ABSL_GUARDED_BY(mu_);
  bool finish_returned_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace infusion::serving

#endif  // INFUSION_SERVING_REQUEST_STREAM_H_
