// The scheduler's state and the steps of its loop, shared by scheduler.cc only: the declaration
// of Scheduler::Impl (scheduler/scheduler.h), kept apart so that scheduler.cc holds the policy.
#ifndef INFUSION_SCHEDULER_SCHEDULER_IMPL_H_
#define INFUSION_SCHEDULER_SCHEDULER_IMPL_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "engine/executor/step_runner.h"
#include "engine/kv_cache/kv_cache_manager.h"
#include "scheduler/scheduled_request.h"
#include "scheduler/scheduler.h"

namespace infusion::scheduler {

class Scheduler::Impl {
 public:
  Impl(const SchedulerOptions& options, const SchedulerModelInfo& model, engine::StepRunner* runner,
       std::unique_ptr<engine::KvCacheManager> kv)
      : options_(options),
        model_(model),
        runner_(runner),
        info_(runner->info()),
        kv_(std::move(kv)) {}

  ~Impl() { Stop(); }

  absl::StatusOr<RequestId> Submit(Request request, std::shared_ptr<EventSink> sink);
  void Cancel(RequestId id) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    cancels_.push_back(id);
  }
  bool Step();
  void Start();
  void Stop();
  void WaitIdle() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](Impl* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
          return self->inbox_.empty() && self->num_active_ == 0;
        },
        this));
  }
  SchedulerStats Stats() const {
    absl::MutexLock lock(&mu_);
    return stats_;
  }
  bool RunBetweenSteps(std::function<void()> task) ABSL_LOCKS_EXCLUDED(mu_);
  void SetImageDecoder(Scheduler::ImageDecoder decoder) { image_decoder_ = std::move(decoder); }

 private:
  // --- the step, in order ---
  void TakeInbox();
  void ExpireDeadlines(absl::Time now);
  void Admit(absl::Time now);
  Decisions Plan() const;
  void MakeRoom(Decisions* decisions);
  engine::StepPlan BuildPlan(Decisions* decisions, std::vector<SpanRef>* refs);
  void Apply(const Decisions& decisions, const std::vector<SpanRef>& refs, engine::StepOutput& out);
  void Sweep();

  // --- request progress ---
  void PlanRemainder(ScheduledRequest* seq, bool uncond, engine::SpanKind kind, bool want_logits,
                     int* budget, Decisions* d) const;
  void OnToken(ScheduledRequest* seq, const engine::SpanOutput& out);
  void StartImage(ScheduledRequest* seq);
  void OnImageStep(ScheduledRequest* seq, engine::SpanOutput& out,
                   std::shared_ptr<const engine::Image> image);
  // The decoded pixels of the images this step finished, by span (null elsewhere); empty when
  // the step finished none.
  std::vector<std::shared_ptr<const engine::Image>> DecodeFinishedImages(
      const std::vector<SpanRef>& refs, const engine::StepOutput& out);
  void EmitText(ScheduledRequest* seq, std::string text);
  void SetState(ScheduledRequest* seq, RequestState to);
  void Finish(ScheduledRequest* seq, RequestState state, FinishReason reason, absl::Status status);
  void Preempt(ScheduledRequest* seq);
  void UpdateStats();

  absl::Time Now() const { return options_.clock ? options_.clock() : absl::Now(); }

  const SchedulerOptions options_;
  const SchedulerModelInfo model_;
  engine::StepRunner* const runner_;
  const engine::ExecutorInfo info_;

  // Shared with gRPC threads.
  mutable absl::Mutex mu_;
  std::deque<std::unique_ptr<ScheduledRequest>> inbox_ ABSL_GUARDED_BY(mu_);
  std::vector<RequestId> cancels_ ABSL_GUARDED_BY(mu_);
  int num_active_ ABSL_GUARDED_BY(mu_) = 0;  // waiting + running, after the last step
  RequestId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  engine::SeqId next_kv_id_ ABSL_GUARDED_BY(mu_) = 1;
  SchedulerStats stats_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);  // RunBetweenSteps
  std::thread thread_;

  // Engine thread only.
  Scheduler::ImageDecoder image_decoder_;  // set before Start
  std::unique_ptr<engine::KvCacheManager> kv_;
  std::vector<std::unique_ptr<ScheduledRequest>> waiting_;  // in arrival order
  std::vector<std::unique_ptr<ScheduledRequest>> running_;  // in admission order
  SchedulerStats counters_;  // cumulative, copied into stats_ after each step
};

}  // namespace infusion::scheduler

#endif  // INFUSION_SCHEDULER_SCHEDULER_IMPL_H_
