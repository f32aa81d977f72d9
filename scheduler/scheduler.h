// Continuous batching of text decoding and image denoising over one executor.
//
// Thread model: Submit, Cancel and Stats may be called from any thread (gRPC threads); they only
// touch the inbox under a mutex. Everything else — request state, the KV-cache manager, planning,
// the executor — belongs to the engine thread that calls Step() (or runs Run()). Events go out
// through each request's EventSink, called on the engine thread.
//
// One Step(): admit -> plan -> run -> apply -> emit (see docs/architecture.md). The scheduler
// only decides: what the model runs and what becomes of each request. Sampling, detokenization,
// stop strings, guidance and the solver happen behind the StepRunner (engine/output/).
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
#include "engine/executor/step_runner.h"
#include "engine/model/model_config.h"
#include "scheduler/request.h"

namespace infusion::scheduler {

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

// Model facts the scheduler needs, besides ExecutorInfo: the tokens it places or acts on.
struct SchedulerModelInfo {
  int bos_token_id = 2;  // also stored at image positions (ignored by the model)
  int boi_token_id = 4;
  int eoi_token_id = 5;

  static SchedulerModelInfo FromConfig(const engine::ModelConfig& config);
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
  // Engine-thread time in Step() (steps that ran something), and the part of it spent in the
  // executor's forward passes: the rest is the cost of scheduling and output processing.
  double step_seconds = 0;
  double forward_seconds = 0;
  // Lifecycle transitions outside request_state.h's table (a bug if ever non-zero).
  int64_t invalid_transitions = 0;
};

class Scheduler {
 public:
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(const SchedulerOptions& options,
                                                           const SchedulerModelInfo& model,
                                                           engine::StepRunner* runner);
  ~Scheduler();

  // Queues a request. InvalidArgument when it cannot ever run (too long for the model or the
  // cache, bad parameters); ResourceExhausted when the queue is full; Unavailable once stopped.
  // Never blocks on the engine.
  absl::StatusOr<RequestId> Submit(Request request, std::shared_ptr<EventSink> sink);
  // Ends a request with FinishReason::kCancelled; its KV blocks are freed by the next step.
  void Cancel(RequestId id);

  // Engine thread: one iteration. Returns false when there was nothing to do.
  bool Step();
  // Starts an engine thread that calls Step() while there is work, sleeping otherwise.
  void Start();
  // Stops the engine thread (if started), then ends every request still queued or running with
  // one finish event (kError, UNAVAILABLE "server shutting down") and frees its blocks. Later
  // submissions are refused. Idempotent.
  void Stop();
  // Blocks until no request is queued or running (for drains and tests).
  void WaitIdle();
  // Queues `task` for the engine thread, which runs queued tasks in order between two steps (or
  // as soon as it is idle), on the same cores and compute threads as the steps instead of
  // beside them. Returns false, queuing nothing, when no engine thread runs (not started,
  // stopped, or this is the engine thread): the caller then runs the task itself. Tasks queued
  // when Stop() is called still run, on the stopping thread. A task must not block on the
  // engine.
  bool RunBetweenSteps(std::function<void()> task);

  // Decodes final images to pixels: one result per patches vector, in order (null where one
  // failed). Runs on the engine thread after a step, once for all the images that step
  // finished, and must not block on the engine.
  using ImageDecoder = std::function<std::vector<std::shared_ptr<const engine::Image>>(
      const std::vector<const std::vector<float>*>& patches)>;
  // With a decoder, each kImage event carries its decoded image (RequestEvent::image): the
  // images of a step decode in one batch on the engine's compute threads, before their events
  // go out. Call before Start.
  void SetImageDecoder(ImageDecoder decoder);

  SchedulerStats Stats() const;

 private:
  class Impl;
  explicit Scheduler(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace infusion::scheduler

#endif  // INFUSION_SCHEDULER_SCHEDULER_H_
