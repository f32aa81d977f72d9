// A way to run one benchmark request to completion: in-process through the scheduler, or over
// gRPC. The load generator (load_generator.h) drives a Driver from many threads.
#ifndef INFUSION_CLIENTS_BENCH_DRIVER_H_
#define INFUSION_CLIENTS_BENCH_DRIVER_H_

#include <chrono>
#include <cstdint>
#include <optional>

#include "clients/bench/request_timing.h"

namespace infusion::bench {

// The benchmark's clock: seconds since the driver was created.
class BenchClock {
 public:
  double Now() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

struct WorkloadParams {
  int chat_max_tokens = 64;  // new tokens per chat request, end tokens ignored
  int image_steps = 25;
  float guidance_scale = 3.0f;
  // In-process t2i: count each image's decode to pixels (the engine's, with its step, else the
  // codec's on the client's thread) inside its timing, as infusion-server has the pixels before
  // it replies. The remote drivers always get decoded images.
  bool decode_images = true;
};

class Driver {
 public:
  virtual ~Driver() = default;
  // Runs request number `index` of the given kind; thread-safe; blocks until it finishes.
  virtual RequestTiming Run(WorkKind kind, int index) = 0;
  const BenchClock& clock() const { return clock_; }
  // Whether an image request's timing includes decoding it to pixels.
  virtual bool DecodesImages() const { return true; }

  // The engine's cumulative step counters, where the driver can see them (in-process).
  struct EngineCounters {
    int64_t steps = 0;
    double step_seconds = 0, forward_seconds = 0;
  };
  virtual std::optional<EngineCounters> Counters() const { return std::nullopt; }

 protected:
  BenchClock clock_;
};

}  // namespace infusion::bench

#endif  // INFUSION_CLIENTS_BENCH_DRIVER_H_
