#include "scheduler/request_state.h"

namespace infusion::scheduler {
namespace {

using S = RequestState;
constexpr int kNumStates = static_cast<int>(S::kTimedOut) + 1;

// kAllowedTransitions[from][to]. Rows: from; columns in enum order:
//   Queued Prefilling Decoding Denoising Committing | Finished Cancelled Failed TimedOut
constexpr bool kAllowedTransitions[kNumStates][kNumStates] = {
    /* kQueued     */ {0, 1, 0, 0, 0, /**/ 0, 1, 1, 1},
    /* kPrefilling */ {1, 0, 1, 1, 0, /**/ 1, 1, 1, 1},
    /* kDecoding   */ {1, 0, 0, 1, 0, /**/ 1, 1, 1, 1},
    /* kDenoising  */ {1, 0, 0, 0, 1, /**/ 1, 1, 1, 1},
    /* kCommitting */ {1, 0, 1, 0, 0, /**/ 0, 1, 1, 1},
    /* kFinished   */ {0, 0, 0, 0, 0, /**/ 0, 0, 0, 0},
    /* kCancelled  */ {0, 0, 0, 0, 0, /**/ 0, 0, 0, 0},
    /* kFailed     */ {0, 0, 0, 0, 0, /**/ 0, 0, 0, 0},
    /* kTimedOut   */ {0, 0, 0, 0, 0, /**/ 0, 0, 0, 0},
};

}  // namespace

bool IsAllowedTransition(RequestState from, RequestState to) {
  return kAllowedTransitions[static_cast<int>(from)][static_cast<int>(to)];
}

const char* RequestStateName(RequestState s) {
  switch (s) {
    case S::kQueued: return "queued";
    case S::kPrefilling: return "prefilling";
    case S::kDecoding: return "decoding";
    case S::kDenoising: return "denoising";
    case S::kCommitting: return "committing";
    case S::kFinished: return "finished";
    case S::kCancelled: return "cancelled";
    case S::kFailed: return "failed";
    case S::kTimedOut: return "timed_out";
  }
  return "unknown";
}

}  // namespace infusion::scheduler
