// Continuous batching of text decoding and image denoising over one executor.
//
// Thread model: Submit, Cancel and Stats may be called from any thread (gRPC threads); they only
// touch the inbox under a mutex. Everything else — request state, the KV-cache manager, planning,
// the executor — belongs to the engine thread that calls Step() (or runs Run()). Events go out
// through each request's EventSink, called on the engine thread.
//
// One Step(): admit -> plan -> execute -> apply -> emit (see docs/architecture.md).
#ifndef INFUSION_SCHEDULER_SCHEDULER_H_
#define INFUSION_SCHEDULER_SCHEDULER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/executor/executor.h"
#include "engine/model/model_config.h"
#include "scheduler/request.h"

namespace infusion {

struct SchedulerOptions {
  int max_tokens_per_step = 512;   // positions computed per step, all spans together
  // Upper bound on the share of a step's token budget taken by denoise spans while text is
  // waiting to run, so chat latency stays bounded while images render.
  double max_image_share = 0.75;
  int max_prefill_chunk = 256;     // longest prefill chunk of one request per step
  int max_running = 64;            // requests admitted at once
  int max_queued = 256;            // waiting requests; Submit refuses more (RESOURCE_EXHAUSTED)
  bool enable_prefix_cache = true;
  // Time source for deadlines and queue timeouts; null = absl::Now (tests use a fake clock).
  std::function<absl::Time()> clock;
  absl::Status Validate() const;
};

// Model facts the scheduler needs, besides ExecutorInfo.
struct SchedulerModelInfo {
  int bos_token_id = 2;
  int eos_token_id = 3;
  int boi_token_id = 4;
  int eoi_token_id = 5;
  int end_of_turn_token_id = 9;
  int num_train_timesteps = 1000;
  // Decodes generated token ids to text (the tokenizer's Decode); used for streaming deltas and
  // stop strings.
  std::function<std::string(const std::vector<int32_t>&)> decode;

  // The ids and schedule of a model's config.json, with its detokenizer.
  static SchedulerModelInfo FromConfig(
      const ModelConfig& config, std::function<std::string(const std::vector<int32_t>&)> decode);
};

// Cumulative counters and current gauges, for metrics and tests.
struct SchedulerStats {
  int running = 0;            // admitted, not finished
  int waiting = 0;            // submitted, not admitted
  double kv_usage = 0;        // fraction of KV blocks held by requests
  int kv_blocks_used = 0;
  int kv_blocks_total = 0;
  int64_t steps = 0;
  int64_t preemptions = 0;
  int64_t prefix_cache_queried_blocks = 0;
  int64_t prefix_cache_hit_blocks = 0;
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  int64_t denoise_steps = 0;
  // Positions computed, by span kind (prefill, decode, denoise, commit).
  int64_t span_tokens[4] = {0, 0, 0, 0};
};

class Scheduler {
 public:
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(const SchedulerOptions& options,
                                                           const SchedulerModelInfo& model,
                                                           Executor* executor);
  ~Scheduler();

  // Queues a request. InvalidArgument when it cannot ever run (too long for the model or the
  // cache, bad parameters); ResourceExhausted when the queue is full. Never blocks on the engine.
  absl::StatusOr<RequestId> Submit(Request request, std::shared_ptr<EventSink> sink);
  // Ends a request with FinishReason::kCancelled; its KV blocks are freed by the next step.
  void Cancel(RequestId id);

  // Engine thread: one iteration. Returns false when there was nothing to do.
  bool Step();
  // Starts / stops an engine thread that calls Step() while there is work, sleeping otherwise.
  void Start();
  void Stop();
  // Blocks until no request is queued or running (for drains and tests).
  void WaitIdle();

  SchedulerStats Stats() const;

 private:
  class Impl;
  explicit Scheduler(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace infusion

#endif  // INFUSION_SCHEDULER_SCHEDULER_H_
