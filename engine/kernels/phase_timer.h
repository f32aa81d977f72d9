// The phases of one fused inference step (engine/model/fused_decoder.h, fused_unet.h): every
// thread of the step's OpenMP region ends each phase at a shared SpinBarrier, and with timing on,
// thread 0 books the phase's wall time, from its start to the barrier after it (so waiting for
// the slower thread counts), as a product phase or another (infusion-bench --engine).
#ifndef INFUSION_ENGINE_KERNELS_PHASE_TIMER_H_
#define INFUSION_ENGINE_KERNELS_PHASE_TIMER_H_

#include <chrono>

#include "engine/kernels/spin_barrier.h"

namespace infusion::engine {

// Wall time of the phases booked since timing was enabled.
struct PhaseTimes {
  double product_seconds = 0;  // matrix products and convolutions (one packed product each)
  double other_seconds = 0;    // norms, rotary and cache writes, attention, gathers
};

// One thread's end of the phases of one step.
class PhaseTimer {
 public:
  // times: where this thread books its phases (thread 0 with timing on); null: no booking.
  PhaseTimer(SpinBarrier& barrier, PhaseTimes* times) : barrier_(barrier), times_(times) {
    if (times_ != nullptr) start_ = Clock::now();
  }

  // Waits for every thread, then books the phase that ends here.
  void EndPhase(bool product) {
    barrier_.Wait();
    if (times_ == nullptr) return;
    const Clock::time_point now = Clock::now();
    (product ? times_->product_seconds : times_->other_seconds) +=
        std::chrono::duration<double>(now - start_).count();
    start_ = now;
  }

  // A wait inside a phase: books nothing.
  void Wait() { barrier_.Wait(); }

 private:
  using Clock = std::chrono::steady_clock;
  SpinBarrier& barrier_;
  PhaseTimes* const times_;
  Clock::time_point start_;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_KERNELS_PHASE_TIMER_H_
