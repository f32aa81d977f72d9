// A sense-counting barrier for the phases of one fused inference step, shared by the threads of
// one OpenMP region: it spins (then yields) instead of sleeping, because the phases are
// microseconds long, shorter than a futex wake-up of a sleeping thread. Used by the fused decoder
// stack and the fused U-Net.
#ifndef INFUSION_ENGINE_KERNELS_SPIN_BARRIER_H_
#define INFUSION_ENGINE_KERNELS_SPIN_BARRIER_H_

#include <immintrin.h>
#include <sched.h>

#include <atomic>

namespace infusion::engine {

class SpinBarrier {
 public:
  explicit SpinBarrier(int threads) : threads_(threads) {}

  void Wait() {
    if (threads_ == 1) return;
    const int generation = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) == threads_ - 1) {
      arrived_.store(0, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_acq_rel);
      return;
    }
    // A thread descheduled by the OS (a loaded machine) must not be spun against for long.
    for (int spins = 0; generation_.load(std::memory_order_acquire) == generation; ++spins) {
      if (spins < 20000) {
        _mm_pause();
      } else {
        sched_yield();
      }
    }
  }

 private:
  const int threads_;
  alignas(64) std::atomic<int> arrived_{0};
  alignas(64) std::atomic<int> generation_{0};
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_KERNELS_SPIN_BARRIER_H_
