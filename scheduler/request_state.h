// The lifecycle of a request inside the scheduler: its states in chronological order and the
// transitions between them, written down once (kAllowedTransitions in request_state.cc):
//
//   kQueued ──admit──▶ kPrefilling ──prompt done──▶ kDecoding ◀──logits── kCommitting
//      ▲                  │  (t2i, edit: kDenoising)    │ <boi>               ▲
//      │                  ▼                             ▼                     │ image done
//      └──preempted── any running state         kDenoising ─────────────────┘
//
// Any non-terminal state may end: kFinished (stop, length, or the image of a text-to-image or
// edit request, from kDecoding or kDenoising), kCancelled, kFailed, kTimedOut.
#ifndef INFUSION_SCHEDULER_REQUEST_STATE_H_
#define INFUSION_SCHEDULER_REQUEST_STATE_H_

namespace infusion::scheduler {

enum class RequestState {
  kQueued,      // submitted, waiting for KV blocks (again, when preempted)
  kPrefilling,  // computing the prompt's K/V (or recomputing everything after a preemption)
  kDecoding,    // sampling text tokens
  kDenoising,   // denoising an image
  kCommitting,  // writing a finished image (its K/V at t = 0) and <eoi>; text follows
  kFinished,    // stop, length, or the image of a text-to-image / edit request
  kCancelled,   // the client cancelled
  kFailed,      // the executor failed it, it can never fit, or the engine shut down
  kTimedOut,    // deadline or queue timeout
};

inline bool IsTerminal(RequestState s) { return s >= RequestState::kFinished; }
const char* RequestStateName(RequestState s);

// Whether the lifecycle above allows `from` -> `to`.
bool IsAllowedTransition(RequestState from, RequestState to);

}  // namespace infusion::scheduler

#endif  // INFUSION_SCHEDULER_REQUEST_STATE_H_
