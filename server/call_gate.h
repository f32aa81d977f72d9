// Admits calls until it is closed and counts the ones in flight, so that a drain can refuse new
// calls at once, then wait for the running ones (and only for them: gRPC's own shutdown would also
// wait for every open health Watch stream).
#ifndef INFUSION_SERVER_CALL_GATE_H_
#define INFUSION_SERVER_CALL_GATE_H_

#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace infusion::server {

class CallGate {
 public:
  // Held by a call while it runs; leaves the gate when destroyed.
  class Ticket {
   public:
    explicit Ticket(CallGate* gate) : gate_(gate) {}
    Ticket(Ticket&& other) noexcept : gate_(other.gate_) { other.gate_ = nullptr; }
    Ticket& operator=(Ticket&&) = delete;
    ~Ticket() {
      if (gate_ != nullptr) gate_->Leave();
    }

   private:
    CallGate* gate_;
  };

  // A ticket, or nullopt once the gate is closed.
  std::optional<Ticket> TryEnter();
  void Close();
  bool closed() const;
  // Waits until no ticket is held or `deadline` passes; true when none is held.
  bool AwaitEmpty(absl::Time deadline);

 private:
  void Leave();

  mutable absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace infusion::server

#endif  // INFUSION_SERVER_CALL_GATE_H_
