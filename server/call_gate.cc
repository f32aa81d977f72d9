#include "server/call_gate.h"

namespace infusion::server {

std::optional<CallGate::Ticket> CallGate::TryEnter() {
  absl::MutexLock lock(&mu_);
  if (closed_) return std::nullopt;
  ++in_flight_;
  return Ticket(this);
}

void CallGate::Leave() {
  absl::MutexLock lock(&mu_);
  --in_flight_;
}

void CallGate::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

bool CallGate::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

bool CallGate::AwaitEmpty(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto empty = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; };
  return mu_.AwaitWithDeadline(absl::Condition(&empty), deadline);
}

}  // namespace infusion::server
