#include "scheduler/scheduler.h"

#include <algorithm>
#include <deque>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "engine/kv_cache/kv_cache_manager.h"
#include "scheduler/scheduled_request.h"
#include "scheduler/scheduler_impl.h"

namespace infusion::scheduler {

using engine::ExecutorInfo;
using engine::KvCacheManager;
using engine::KvCacheManagerOptions;
using engine::PromptPart;
using engine::SeqId;
using engine::Span;
using engine::SpanKind;
using engine::SpanOutput;
using engine::StepOutput;
using engine::StepPlan;
using engine::StepRunner;

using Seq = ScheduledRequest;

// Submission (any thread)

absl::StatusOr<RequestId> Scheduler::Impl::Submit(Request request,
                                                  std::shared_ptr<EventSink> sink) {
  if (sink == nullptr) return absl::InvalidArgumentError("no event sink");
  RETURN_IF_ERROR(ValidateRequest(request, info_, model_.boi_token_id));

  // Ids under the lock, the prompt's copy and keys outside it (it must not hold up the engine).
  RequestId id;
  SeqId cond_kv, uncond_kv;
  {
    absl::MutexLock lock(&mu_);
    id = next_id_++;
    cond_kv = next_kv_id_++;
    uncond_kv = next_kv_id_++;
  }
  auto seq = std::make_unique<Seq>(id, cond_kv, uncond_kv, info_.num_patches, model_.bos_token_id);
  seq->cond.Append(request.prompt);
  seq->req = std::move(request);
  seq->sink = std::move(sink);
  seq->submit_time = Now();
  seq->usage.prompt_tokens = seq->cond.size();
  absl::MutexLock lock(&mu_);
  if (stop_) return absl::UnavailableError("server shutting down");
  if (static_cast<int>(inbox_.size()) + stats_.waiting >= options_.max_queued) {
    return absl::ResourceExhaustedError(
        absl::StrCat("request queue is full (", options_.max_queued, " waiting)"));
  }
  inbox_.push_back(std::move(seq));
  return id;
}

// The step

bool Scheduler::Impl::Step() {
  const absl::Time start = absl::Now();
  const absl::Time now = Now();
  TakeInbox();
  ExpireDeadlines(now);
  Admit(now);
  Decisions decisions = Plan();
  MakeRoom(&decisions);
  std::vector<SpanRef> refs;
  StepPlan plan = BuildPlan(&decisions, &refs);
  const bool worked = !plan.spans.empty();
  if (worked) {
    for (const Span& span : plan.spans) {
      counters_.span_tokens[static_cast<int>(span.kind)] += span.num_positions();
    }
    StepOutput out = runner_->Run(std::move(plan));
    ++counters_.steps;
    counters_.forward_seconds += out.forward_seconds;
    Apply(decisions, refs, out);
  }
  Sweep();
  if (worked) counters_.step_seconds += absl::ToDoubleSeconds(absl::Now() - start);
  UpdateStats();
  return worked;
}

void Scheduler::Impl::TakeInbox() {
  std::vector<RequestId> cancels;
  std::deque<std::unique_ptr<Seq>> arrived;
  {
    absl::MutexLock lock(&mu_);
    arrived.swap(inbox_);
    cancels.swap(cancels_);
    // Counted as active from here, not from the end of the step: WaitIdle must not see an empty
    // inbox and a count from before these arrived.
    num_active_ += static_cast<int>(arrived.size());
  }
  for (auto& owned : arrived) {
    Seq* s = waiting_.emplace_back(std::move(owned)).get();
    absl::Status added = runner_->AddRequest(s->id, {s->req.text, s->req.image, s->req.max_images,
                                                     s->req.preview_every, s->cond.tokens()});
    if (!added.ok()) Finish(s, RequestState::kFailed, FinishReason::kError, added);
  }
  for (RequestId id : cancels) {
    for (auto* list : {&waiting_, &running_}) {
      for (auto& seq : *list) {
        if (seq->id == id) {
          Finish(seq.get(), RequestState::kCancelled, FinishReason::kCancelled,
                 absl::CancelledError("cancelled"));
        }
      }
    }
  }
}

void Scheduler::Impl::ExpireDeadlines(absl::Time now) {
  for (auto* list : {&waiting_, &running_}) {
    for (auto& seq : *list) {
      if (now >= seq->req.deadline) {
        Finish(seq.get(), RequestState::kTimedOut, FinishReason::kTimeout,
               absl::DeadlineExceededError("deadline exceeded"));
      } else if (seq->state == RequestState::kQueued &&
                 now - seq->submit_time >= seq->req.queue_timeout) {
        Finish(seq.get(), RequestState::kTimedOut, FinishReason::kTimeout,
               absl::DeadlineExceededError("timed out in the queue"));
      }
    }
  }
}

void Scheduler::Impl::Admit(absl::Time now) {
  // Blocks that admitted, not yet allocated requests are about to take.
  int free_blocks = kv_->num_free_blocks();
  for (const auto& seq : running_) {
    if (!seq->cond.allocated()) free_blocks -= seq->cond.BlocksToReserve(*kv_, seq->cond.size());
  }
  std::vector<Seq*> order;
  for (auto& seq : waiting_) {
    if (!IsTerminal(seq->state)) order.push_back(seq.get());
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const Seq* a, const Seq* b) { return a->req.priority > b->req.priority; });
  int running = 0;
  for (const auto& seq : running_) running += !IsTerminal(seq->state);
  for (Seq* seq : order) {
    if (running >= options_.max_running) break;
    // The prompt plus the next block it will write (its first generated position).
    const int cost = seq->cond.BlocksToReserve(*kv_, seq->cond.size()) + 1;
    if (cost > free_blocks) break;  // strict order: no overtaking, so nothing starves
    free_blocks -= cost;
    ++running;
    SetState(seq, RequestState::kPrefilling);
    seq->admit_time = now;
    seq->usage.queue_seconds = absl::ToDoubleSeconds(now - seq->submit_time);
    for (auto& owned : waiting_) {
      if (owned.get() == seq) running_.push_back(std::move(owned));
    }
  }
  waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), nullptr), waiting_.end());
}

// Plans the computation of every not-yet-computed position of one sequence, if the budget allows
// a chunk of it.
void Scheduler::Impl::PlanRemainder(Seq* seq, bool uncond, SpanKind kind, bool want_logits,
                                    int* budget, Decisions* d) const {
  const KvSequence& s = uncond ? seq->uncond : seq->cond;
  const auto [begin, end] = s.NextChunk(*kv_, std::min(*budget, options_.max_prefill_chunk));
  if (end <= begin) return;
  if (kind == SpanKind::kPrefill && end - begin == 1 && s.allocated()) kind = SpanKind::kDecode;
  d->fills.push_back({seq, uncond, kind, begin, end, want_logits && end == s.size()});
  *budget -= end - begin;
}

Decisions Scheduler::Impl::Plan() const {
  Decisions d;
  int budget = options_.max_tokens_per_step;
  bool text_waiting = false;
  for (const auto& seq : running_) {
    text_waiting = text_waiting || seq->state == RequestState::kPrefilling ||
                   seq->state == RequestState::kDecoding;
  }
  // 1. Decode tokens and image commits: short, and they unblock text.
  for (const auto& owned : running_) {
    Seq* seq = owned.get();
    if (seq->state == RequestState::kDecoding || seq->state == RequestState::kCommitting) {
      const SpanKind kind =
          seq->state == RequestState::kCommitting ? SpanKind::kCommit : SpanKind::kDecode;
      PlanRemainder(seq, /*uncond=*/false, kind, /*want_logits=*/true, &budget, &d);
    }
  }
  // 2. Denoise steps, within the image share while text is waiting.
  int image_budget =
      text_waiting ? static_cast<int>(options_.max_image_share * options_.max_tokens_per_step)
                   : budget;
  for (const auto& owned : running_) {
    Seq* seq = owned.get();
    if (seq->state != RequestState::kDenoising) continue;
    const int rows = seq->uses_cfg ? 2 : 1;
    const int pending = (seq->cond.size() - seq->cond.FirstToCompute(*kv_)) +
                        (seq->uses_cfg ? seq->uncond.size() - seq->uncond.FirstToCompute(*kv_) : 0);
    const int cost = info_.num_patches * rows + pending;
    if (cost > std::min(budget, image_budget)) break;  // in order: the oldest image first
    // The prefix (a sampled <boi>, the CFG prefix) is written in the same step, before the
    // denoise spans read it.
    int prefix_budget = pending;
    PlanRemainder(seq, false, SpanKind::kPrefill, false, &prefix_budget, &d);
    if (seq->uses_cfg) PlanRemainder(seq, true, SpanKind::kPrefill, false, &prefix_budget, &d);
    if (prefix_budget != 0) continue;  // a prefix that cannot be completed in one chunk
    d.denoise.push_back(seq);
    budget -= cost;
    image_budget -= cost;
  }
  // 3. Prompt chunks with what is left.
  for (const auto& owned : running_) {
    Seq* seq = owned.get();
    if (seq->state != RequestState::kPrefilling || budget <= 0) continue;
    // A request preempted while drawing resumes denoising; it samples no token after its prompt.
    const bool want_logits = !seq->req.starts_with_image && !seq->in_image;
    PlanRemainder(seq, false, SpanKind::kPrefill, want_logits, &budget, &d);
  }
  return d;
}

// Out of KV blocks: preempt the lowest-priority, latest-admitted requests (by recompute) until
// the step's allocations fit. Runs before any allocation of the step, so nothing is half-done.
void Scheduler::Impl::MakeRoom(Decisions* d) {
  while (true) {
    int needed = 0;
    for (const Fill& f : d->fills) needed += f.kv().BlocksToReserve(*kv_, f.end);
    if (needed <= kv_->num_free_blocks()) return;
    Seq* victim = nullptr;
    int running = 0;
    for (auto& owned : running_) {
      Seq* s = owned.get();
      if (IsTerminal(s->state)) continue;
      ++running;
      if (victim == nullptr || s->req.priority < victim->req.priority ||
          (s->req.priority == victim->req.priority && s->admit_time >= victim->admit_time)) {
        victim = s;
      }
    }
    if (victim == nullptr) return;
    if (running == 1) {
      // Alone and still out of room: it can never finish; recomputing it would loop forever.
      Finish(victim, RequestState::kFailed, FinishReason::kError,
             absl::ResourceExhaustedError("the request needs more KV-cache blocks than exist"));
    } else {
      Preempt(victim);
    }
    auto gone = [victim](const Fill& f) { return f.seq == victim; };
    d->fills.erase(std::remove_if(d->fills.begin(), d->fills.end(), gone), d->fills.end());
    d->denoise.erase(std::remove(d->denoise.begin(), d->denoise.end(), victim), d->denoise.end());
  }
}

StepPlan Scheduler::Impl::BuildPlan(Decisions* d, std::vector<SpanRef>* refs) {
  StepPlan plan;
  // Reserve slots first; block tables are read after every sequence's own change.
  std::vector<bool> ok(d->fills.size(), false);
  for (size_t i = 0; i < d->fills.size(); ++i) {
    Fill& f = d->fills[i];
    absl::StatusOr<int> first = f.kv().Reserve(kv_.get(), f.end, &plan.block_copies);
    if (!first.ok()) continue;  // retried next step
    f.begin = std::min(f.begin, *first);
    ok[i] = true;
  }
  for (size_t i = 0; i < d->fills.size(); ++i) {
    if (!ok[i]) continue;
    const Fill& f = d->fills[i];
    Span span = f.kv().MakeSpan(*kv_, f.kind, f.seq->id, f.begin, f.end);
    span.want_logits = f.want_logits;
    plan.spans.push_back(std::move(span));
    refs->push_back({SpanRef::Role::kFill, f.seq, static_cast<int>(i)});
  }
  for (Seq* seq : d->denoise) {
    // Skip an image whose prefix did not get its blocks this step.
    bool ready = true;
    for (size_t i = 0; i < d->fills.size(); ++i) {
      if (d->fills[i].seq == seq && !ok[i]) ready = false;
    }
    if (!ready) continue;
    plan.spans.push_back(seq->cond.MakeDenoiseSpan(*kv_, seq->id, /*guidance_row=*/false));
    refs->push_back({SpanRef::Role::kDenoiseCond, seq, -1});
    if (seq->uses_cfg) {
      plan.spans.push_back(seq->uncond.MakeDenoiseSpan(*kv_, seq->id, /*guidance_row=*/true));
      refs->push_back({SpanRef::Role::kDenoiseUncond, seq, -1});
    }
  }
  return plan;
}

std::vector<std::shared_ptr<const engine::Image>> Scheduler::Impl::DecodeFinishedImages(
    const std::vector<SpanRef>& refs, const StepOutput& out) {
  std::vector<std::shared_ptr<const engine::Image>> images;  // stays empty in most steps
  if (!image_decoder_) return images;
  std::vector<size_t> spans;
  std::vector<const std::vector<float>*> patches;
  for (size_t i = 0; i < refs.size(); ++i) {
    const SpanOutput& o = out.spans[i];
    if (refs[i].role == SpanRef::Role::kDenoiseCond && o.status.ok() && !o.image.empty() &&
        !IsTerminal(refs[i].seq->state)) {
      spans.push_back(i);
      patches.push_back(&o.image);
    }
  }
  if (patches.empty()) return images;
  std::vector<std::shared_ptr<const engine::Image>> decoded = image_decoder_(patches);
  images.resize(refs.size());
  for (size_t k = 0; k < spans.size() && k < decoded.size(); ++k) {
    images[spans[k]] = std::move(decoded[k]);
  }
  return images;
}

// Fills first (they complete prefixes), then each image's step; the plan has them in that order.
void Scheduler::Impl::Apply(const Decisions& d, const std::vector<SpanRef>& refs, StepOutput& out) {
  std::vector<std::shared_ptr<const engine::Image>> images = DecodeFinishedImages(refs, out);
  for (size_t i = 0; i < refs.size(); ++i) {
    const SpanRef& ref = refs[i];
    Seq* seq = ref.seq;
    if (IsTerminal(seq->state)) continue;
    SpanOutput& o = out.spans[i];
    if (!o.status.ok()) {
      Finish(seq, RequestState::kFailed, FinishReason::kError, o.status);
      continue;
    }
    if (ref.role == SpanRef::Role::kDenoiseCond) {
      OnImageStep(seq, o, images.empty() ? nullptr : std::move(images[i]));
    }
    if (ref.role != SpanRef::Role::kFill) continue;
    const Fill& f = d.fills[ref.fill_index];
    f.kv().MarkComputed(f.end);
    if (f.kind == SpanKind::kPrefill && !f.uncond) counters_.prompt_tokens += f.end - f.begin;
    if (f.want_logits) {
      OnToken(seq, o);
    } else if (seq->state == RequestState::kPrefilling && !f.uncond &&
               seq->cond.num_uncomputed() == 0) {
      if (seq->in_image) {
        SetState(seq, RequestState::kDenoising);  // preempted mid-image: resume where it was
      } else if (seq->req.starts_with_image) {
        StartImage(seq);
      }
    }
  }
}

void Scheduler::Impl::Sweep() {
  auto done = [](const std::unique_ptr<Seq>& s) { return IsTerminal(s->state); };
  running_.erase(std::remove_if(running_.begin(), running_.end(), done), running_.end());
  waiting_.erase(std::remove_if(waiting_.begin(), waiting_.end(), done), waiting_.end());
}

// Request progress

void Scheduler::Impl::OnToken(Seq* seq, const SpanOutput& out) {
  if (seq->state != RequestState::kDecoding) SetState(seq, RequestState::kDecoding);
  ++seq->usage.generated_tokens;
  ++counters_.generated_tokens;
  const auto& stops = seq->req.text.stop_token_ids;
  if (std::find(stops.begin(), stops.end(), out.token) != stops.end()) {
    Finish(seq, RequestState::kFinished, FinishReason::kStop, absl::OkStatus());
    return;
  }
  seq->cond.AppendTokens({out.token});
  if (out.token == model_.boi_token_id) {
    StartImage(seq);
    return;
  }
  EmitText(seq, out.text);
  if (out.stop_string) {
    Finish(seq, RequestState::kFinished, FinishReason::kStop, absl::OkStatus());
  } else if (seq->usage.generated_tokens >= seq->req.text.max_tokens ||
             seq->cond.size() + 1 >= info_.max_positions) {
    Finish(seq, RequestState::kFinished, FinishReason::kLength, absl::OkStatus());
  }
}

void Scheduler::Impl::StartImage(Seq* seq) {
  SetState(seq, RequestState::kDenoising);
  seq->in_image = true;
  seq->uses_cfg = seq->req.image.guidance_scale != 1.0f && !seq->req.uncond_prompt.empty();
  seq->uncond.Release(kv_.get());
  seq->uncond.Clear();
  if (seq->uses_cfg) seq->uncond.Append(seq->req.uncond_prompt);
}

void Scheduler::Impl::OnImageStep(Seq* seq, SpanOutput& out,
                                  std::shared_ptr<const engine::Image> pixels) {
  ++seq->usage.image_steps;
  ++counters_.denoise_steps;
  RequestEvent progress;
  progress.type = RequestEvent::Type::kImageProgress;
  progress.step = out.image_step;
  progress.total_steps = out.image_steps;
  progress.patches = std::move(out.preview);
  seq->sink->OnEvent(std::move(progress));
  if (out.image.empty()) return;

  RequestEvent image;
  image.type = RequestEvent::Type::kImage;
  image.patches = out.image;
  image.image = std::move(pixels);
  // The k-th image of a request is drawn with seed + k (engine/sampler/image_denoiser.h).
  image.seed = seq->req.image.seed + static_cast<uint64_t>(seq->images_drawn);
  seq->sink->OnEvent(std::move(image));
  ++seq->images_drawn;
  seq->in_image = false;
  seq->uses_cfg = false;
  seq->uncond.Release(kv_.get());
  if (seq->req.finish_after_image) {
    Finish(seq, RequestState::kFinished, FinishReason::kImage, absl::OkStatus());
    return;
  }
  if (seq->usage.generated_tokens >= seq->req.text.max_tokens) {
    Finish(seq, RequestState::kFinished, FinishReason::kLength, absl::OkStatus());
    return;
  }
  // Commit: the clean image (t = 0) and <eoi> enter the context; text resumes after them.
  PromptPart committed = PromptPart::Image(std::move(out.image));
  seq->cond.AppendImage(std::move(committed.image_patches), committed.image_hash);
  seq->cond.AppendTokens({model_.eoi_token_id});
  SetState(seq, RequestState::kCommitting);
}

void Scheduler::Impl::EmitText(Seq* seq, std::string text) {
  if (text.empty()) return;
  RequestEvent e;
  e.type = RequestEvent::Type::kText;
  e.text = std::move(text);
  seq->sink->OnEvent(std::move(e));
}

void Scheduler::Impl::SetState(Seq* seq, RequestState to) {
  if (!IsAllowedTransition(seq->state, to)) {
    LOG(ERROR) << "request " << seq->id << ": transition " << RequestStateName(seq->state)
               << " -> " << RequestStateName(to) << " is not in the lifecycle table";
    ++counters_.invalid_transitions;
  }
  seq->state = to;
}

void Scheduler::Impl::Finish(Seq* seq, RequestState state, FinishReason reason,
                             absl::Status status) {
  if (IsTerminal(seq->state)) return;
  SetState(seq, state);
  // Text held back (an incomplete character, or what might have begun a stop string) is the
  // client's after all when the request ended normally.
  EmitText(seq, runner_->RemoveRequest(seq->id, /*flush_text=*/IsNormalEnd(reason)));
  seq->cond.Release(kv_.get());
  seq->uncond.Release(kv_.get());
  RequestEvent e;
  e.type = RequestEvent::Type::kFinish;
  e.reason = reason;
  e.status = std::move(status);
  e.usage = seq->usage;
  seq->sink->OnEvent(std::move(e));
}

// Recompute preemption: the request keeps everything it generated (text, committed images, and
// an image in progress, whose latents and step the runner keeps) and re-enters the queue at its
// place.
void Scheduler::Impl::Preempt(Seq* seq) {
  seq->cond.Release(kv_.get());
  seq->uncond.Release(kv_.get());
  ++counters_.preemptions;
  SetState(seq, RequestState::kQueued);
  if (seq->in_image) {
    // Resumes denoising from the same step once its prefixes are recomputed.
    seq->uncond.Clear();
    if (seq->uses_cfg) seq->uncond.Append(seq->req.uncond_prompt);
  }
  for (auto& owned : running_) {
    if (owned.get() == seq) {
      auto it = std::upper_bound(
          waiting_.begin(), waiting_.end(), seq,
          [](const Seq* s, const std::unique_ptr<Seq>& w) { return s->submit_time < w->submit_time; });
      waiting_.insert(it, std::move(owned));
      break;
    }
  }
  running_.erase(std::remove(running_.begin(), running_.end(), nullptr), running_.end());
}

void Scheduler::Impl::UpdateStats() {
  absl::MutexLock lock(&mu_);
  stats_ = counters_;
  stats_.running = static_cast<int>(running_.size());
  stats_.waiting = static_cast<int>(waiting_.size());
  stats_.kv_usage = kv_->usage();
  stats_.kv_blocks_used = kv_->num_used_blocks();
  stats_.kv_blocks_total = kv_->num_blocks();
  stats_.prefix_cache_queried_blocks = kv_->prefix_cache_queried_blocks();
  stats_.prefix_cache_hit_blocks = kv_->prefix_cache_hit_blocks();
  num_active_ = stats_.running + stats_.waiting;
}

void Scheduler::Impl::Start() {
  absl::MutexLock lock(&mu_);  // the thread starts by taking it: it sees thread_ set
  if (stop_ || thread_.joinable()) return;
  thread_ = std::thread([this] {
    while (true) {
      std::vector<std::function<void()>> tasks;  // RunBetweenSteps, run before this step
      {
        absl::MutexLock lock(&mu_);
        if (stop_) return;
        tasks.swap(tasks_);
      }
      for (std::function<void()>& task : tasks) task();
      if (!Step()) {
        // Idle: sleep until a submission, a cancellation, a task or a stop (or a short
        // timeout, so queue timeouts of waiting requests still fire).
        absl::MutexLock lock(&mu_);
        mu_.AwaitWithTimeout(absl::Condition(
                                 +[](Impl* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
                                   return self->stop_ || !self->inbox_.empty() ||
                                          !self->cancels_.empty() || !self->tasks_.empty();
                                 },
                                 this),
                             absl::Milliseconds(20));
      }
    }
  });
}

bool Scheduler::Impl::RunBetweenSteps(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  // thread_ is only set under mu_ (Start), and joined only after stop_ is set under it (Stop).
  if (stop_ || !thread_.joinable() || std::this_thread::get_id() == thread_.get_id()) {
    return false;
  }
  tasks_.push_back(std::move(task));
  return true;
}

void Scheduler::Impl::Stop() {
  std::vector<std::function<void()>> tasks;
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;  // no task is queued from here on
  }
  if (thread_.joinable()) thread_.join();
  {
    absl::MutexLock lock(&mu_);
    tasks.swap(tasks_);
  }
  for (std::function<void()>& task : tasks) task();  // queued before the stop: callers wait
  // No engine thread from here on: this thread ends what is left.
  TakeInbox();
  for (auto* list : {&waiting_, &running_}) {
    for (auto& seq : *list) {
      Finish(seq.get(), RequestState::kFailed, FinishReason::kError,
             absl::UnavailableError("server shutting down"));
    }
  }
  Sweep();
  UpdateStats();
}

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(const SchedulerOptions& options,
                                                             const SchedulerModelInfo& model,
                                                             StepRunner* runner) {
  RETURN_IF_ERROR(options.Validate());
  if (runner == nullptr) return absl::InvalidArgumentError("scheduler: no step runner");
  const ExecutorInfo& info = runner->info();
  KvCacheManagerOptions kv_options;
  kv_options.num_blocks = info.num_kv_blocks;
  kv_options.block_size = info.block_size;
  kv_options.enable_prefix_cache = options.enable_prefix_cache;
  ASSIGN_OR_RETURN(std::unique_ptr<KvCacheManager> kv, KvCacheManager::Create(kv_options));
  return std::unique_ptr<Scheduler>(
      new Scheduler(std::make_unique<Impl>(options, model, runner, std::move(kv))));
}

Scheduler::Scheduler(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Scheduler::~Scheduler() = default;
absl::StatusOr<RequestId> Scheduler::Submit(Request request, std::shared_ptr<EventSink> sink) {
  return impl_->Submit(std::move(request), std::move(sink));
}
void Scheduler::Cancel(RequestId id) { impl_->Cancel(id); }
bool Scheduler::Step() { return impl_->Step(); }
void Scheduler::Start() { impl_->Start(); }
void Scheduler::Stop() { impl_->Stop(); }
void Scheduler::WaitIdle() { impl_->WaitIdle(); }
void Scheduler::SetImageDecoder(ImageDecoder decoder) {
  impl_->SetImageDecoder(std::move(decoder));
}
bool Scheduler::RunBetweenSteps(std::function<void()> task) {
  return impl_->RunBetweenSteps(std::move(task));
}
SchedulerStats Scheduler::Stats() const { return impl_->Stats(); }

}  // namespace infusion::scheduler
