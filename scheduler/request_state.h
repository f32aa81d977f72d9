// The lifecycle of a request inside the scheduler, in chronological order.
#ifndef INFUSION_SCHEDULER_REQUEST_STATE_H_
#define INFUSION_SCHEDULER_REQUEST_STATE_H_

namespace infusion {

enum class RequestState {
  kQueued,      // submitted, waiting for KV blocks  -> kPrefilling | kCancelled | kTimedOut
  kPrefilling,  // computing the prompt's K/V        -> kDecoding | kDenoising | kQueued (preempted) | terminal
  kDecoding,    // sampling text tokens               -> kDenoising (<boi>) | kFinished | kQueued | terminal
  kDenoising,   // denoising an image, then committing it (its K/V at t = 0 and <eoi>)
                //                                    -> kDecoding | kFinished | kQueued | terminal
  kFinished,    // stop token, length, or the image of a text-to-image / edit request
  kCancelled,   // the client cancelled
  kFailed,      // the executor failed this request
  kTimedOut,    // deadline or queue timeout
};

inline bool IsTerminal(RequestState s) { return s >= RequestState::kFinished; }

}  // namespace infusion

#endif  // INFUSION_SCHEDULER_REQUEST_STATE_H_
