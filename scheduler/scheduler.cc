#include "scheduler/scheduler.h"

#include <algorithm>
#include <deque>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "engine/kv_cache/kv_cache_manager.h"
#include "engine/sampler/diffusion_sampler.h"
#include "engine/sampler/noise_schedule.h"
#include "engine/sampler/stop_matcher.h"
#include "engine/sampler/text_sampler.h"
#include "engine/sampler/utf8.h"
#include "scheduler/request_state.h"
#include "scheduler/sequence.h"

namespace infusion {
namespace {

// Everything the scheduler knows about one request. Owned by the engine thread.
struct Seq {
  Seq(int num_patches, int32_t image_token)
      : cond(num_patches, image_token), uncond(num_patches, image_token) {}

  RequestId id = 0;
  Request req;
  std::shared_ptr<EventSink> sink;
  RequestState state = RequestState::kQueued;
  absl::Time submit_time, admit_time;

  Sequence cond;    // the request's own sequence: prompt, generated text, committed images
  Sequence uncond;  // the classifier-free-guidance prefix while an image is drawn
  bool uses_cfg = false;  // the image in progress is guided

  std::unique_ptr<TextSampler> sampler;
  std::unique_ptr<StopMatcher> stop;  // stop strings over the streamed text
  std::vector<int32_t> text_tokens;  // generated text tokens, for detokenization
  size_t decoded_bytes = 0;          // bytes of the detokenized text already fed to `stop`
  int images_drawn = 0;
  std::optional<DiffusionState> diffusion;  // the image being denoised
  bool committing = false;  // the finished image and <eoi> are being written to the cache
  Usage usage;

  SeqId cond_kv() const { return id * 2; }
  SeqId uncond_kv() const { return id * 2 + 1; }
};

// A planned run of positions of one sequence that computes (and writes) K/V.
struct Fill {
  Seq* seq;
  bool uncond;
  SpanKind kind;
  int begin;
  int end;
  bool want_logits;
};

// Side-effect-free decisions of one step.
struct Decisions {
  std::vector<Fill> fills;
  std::vector<Seq*> denoise;
};

// Which plan span produced what, for applying the results.
struct SpanRef {
  enum class Role { kFill, kDenoiseCond, kDenoiseUncond };
  Role role;
  Seq* seq;
  int fill_index;  // kFill: index into Decisions::fills
};

}  // namespace

SchedulerModelInfo SchedulerModelInfo::FromConfig(
    const ModelConfig& config, std::function<std::string(const std::vector<int32_t>&)> decode) {
  SchedulerModelInfo info;
  info.bos_token_id = config.tokens.bos;
  info.eos_token_id = config.tokens.eos;
  info.boi_token_id = config.tokens.boi;
  info.eoi_token_id = config.tokens.eoi;
  info.end_of_turn_token_id = config.tokens.end_of_turn;
  info.num_train_timesteps = config.diffusion.num_train_timesteps;
  info.decode = std::move(decode);
  return info;
}

absl::Status SchedulerOptions::Validate() const {
  auto bad = [](const char* field, const char* what) {
    return absl::InvalidArgumentError(absl::StrCat("scheduler: ", field, " ", what));
  };
  if (max_tokens_per_step < 1) return bad("max_tokens_per_step", "must be positive");
  if (!(max_image_share > 0 && max_image_share <= 1)) return bad("max_image_share", "must be in (0, 1]");
  if (max_prefill_chunk < 1) return bad("max_prefill_chunk", "must be positive");
  if (max_running < 1) return bad("max_running", "must be positive");
  if (max_queued < 1) return bad("max_queued", "must be positive");
  return absl::OkStatus();
}

class Scheduler::Impl {
 public:
  Impl(const SchedulerOptions& options, const SchedulerModelInfo& model, Executor* executor,
       std::unique_ptr<KvCacheManager> kv, std::unique_ptr<NoiseSchedule> schedule)
      : options_(options),
        model_(model),
        executor_(executor),
        info_(executor->info()),
        kv_(std::move(kv)),
        schedule_(std::move(schedule)) {}

  ~Impl() { Stop(); }

  absl::StatusOr<RequestId> Submit(Request request, std::shared_ptr<EventSink> sink);
  void Cancel(RequestId id) {
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

 private:
  // --- the step, in order ---
  void TakeInbox(absl::Time now);
  void ExpireDeadlines(absl::Time now);
  void Admit(absl::Time now);
  Decisions Plan() const;
  void MakeRoom(Decisions* decisions);
  StepPlan BuildPlan(Decisions* decisions, std::vector<SpanRef>* refs);
  void Apply(const Decisions& decisions, const std::vector<SpanRef>& refs,
             const StepResult& result);
  void Sweep();

  // --- helpers ---
  absl::Time Now() const { return options_.clock ? options_.clock() : absl::Now(); }
  int BlocksFor(int positions) const {
    return (positions + info_.block_size - 1) / info_.block_size;
  }
  int NewBlocksNeeded(const Seq& seq, const Fill& fill) const;
  void PlanRemainder(Seq* seq, bool uncond, SpanKind kind, bool want_logits, int* budget,
                     Decisions* d) const;
  void OnLogits(Seq* seq, const std::vector<float>& logits);
  void StartImage(Seq* seq);
  void OnNoise(Seq* seq, const std::vector<float>& eps_cond, const std::vector<float>* eps_uncond);
  // Streams newly decoded text; `final` also releases a held-back incomplete tail.
  void EmitText(Seq* seq, bool final = false);
  void Emit(Seq* seq, RequestEvent event) { seq->sink->OnEvent(std::move(event)); }
  void Finish(Seq* seq, RequestState state, FinishReason reason, absl::Status status);
  void Preempt(Seq* seq);
  void ReleaseKv(Seq* seq);
  void UpdateStats();

  const SchedulerOptions options_;
  const SchedulerModelInfo model_;
  Executor* const executor_;
  const ExecutorInfo info_;

  // Shared with gRPC threads.
  mutable absl::Mutex mu_;
  std::deque<std::unique_ptr<Seq>> inbox_ ABSL_GUARDED_BY(mu_);
  std::vector<RequestId> cancels_ ABSL_GUARDED_BY(mu_);
  int num_active_ ABSL_GUARDED_BY(mu_) = 0;  // waiting + running, after the last step
  RequestId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  SchedulerStats stats_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;

  // Engine thread only.
  std::unique_ptr<KvCacheManager> kv_;
  std::unique_ptr<NoiseSchedule> schedule_;
  std::vector<std::unique_ptr<Seq>> waiting_;  // in arrival order
  std::vector<std::unique_ptr<Seq>> running_;  // in admission order
  SchedulerStats counters_;                    // cumulative, copied into stats_ after each step
};

// ---------------------------------------------------------------------------------------------
// Submission (any thread)

absl::StatusOr<RequestId> Scheduler::Impl::Submit(Request request,
                                                  std::shared_ptr<EventSink> sink) {
  if (sink == nullptr) return absl::InvalidArgumentError("no event sink");
  RETURN_IF_ERROR(request.text.Validate());
  if (request.starts_with_image || request.max_images > 0) RETURN_IF_ERROR(request.image.Validate());
  auto seq = std::make_unique<Seq>(info_.num_patches, model_.bos_token_id);
  for (const auto& part : request.prompt) {
    if (part.is_image() &&
        static_cast<int>(part.image_patches.size()) != info_.num_patches * info_.patch_dim) {
      return absl::InvalidArgumentError("prompt image has the wrong number of latent values");
    }
    for (int32_t t : part.tokens) {
      if (t < 0 || t >= info_.vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat("prompt token id ", t, " out of range"));
      }
    }
  }
  seq->cond.Append(request.prompt);
  if (seq->cond.size() == 0) return absl::InvalidArgumentError("empty prompt");
  const int image_positions = request.starts_with_image ? info_.num_patches + 1 : 0;
  if (seq->cond.size() + image_positions >= info_.max_positions) {
    return absl::InvalidArgumentError(absl::StrCat("prompt of ", seq->cond.size(),
                                                   " positions leaves no room in the model's ",
                                                   info_.max_positions));
  }
  if (BlocksFor(seq->cond.size() + image_positions + 1) > info_.num_kv_blocks) {
    return absl::InvalidArgumentError("prompt does not fit in the KV cache");
  }
  if (request.starts_with_image &&
      (seq->cond.tokens().back() != model_.boi_token_id)) {
    return absl::InvalidArgumentError("an image request's prompt must end with <boi>");
  }
  auto sampler = TextSampler::Create(request.text, seq->cond.tokens());
  if (!sampler.ok()) return sampler.status();
  seq->sampler = std::move(*sampler);
  seq->stop = std::make_unique<StopMatcher>(request.text.stop);
  seq->req = std::move(request);
  seq->sink = std::move(sink);
  seq->submit_time = Now();
  seq->usage.prompt_tokens = seq->cond.size();

  absl::MutexLock lock(&mu_);
  if (static_cast<int>(inbox_.size()) + stats_.waiting >= options_.max_queued) {
    return absl::ResourceExhaustedError(
        absl::StrCat("request queue is full (", options_.max_queued, " waiting)"));
  }
  seq->id = next_id_++;
  const RequestId id = seq->id;
  inbox_.push_back(std::move(seq));
  return id;
}

// ---------------------------------------------------------------------------------------------
// The step

bool Scheduler::Impl::Step() {
  const absl::Time now = Now();
  TakeInbox(now);
  ExpireDeadlines(now);
  Admit(now);
  Decisions decisions = Plan();
  MakeRoom(&decisions);
  std::vector<SpanRef> refs;
  StepPlan plan = BuildPlan(&decisions, &refs);
  const bool worked = !plan.spans.empty();
  if (worked) {
    const StepResult result = executor_->Execute(plan);
    for (const Span& span : plan.spans) {
      counters_.span_tokens[static_cast<int>(span.kind)] += span.num_positions();
    }
    ++counters_.steps;
    Apply(decisions, refs, result);
  }
  Sweep();
  UpdateStats();
  return worked;
}

void Scheduler::Impl::TakeInbox(absl::Time now) {
  std::vector<RequestId> cancels;
  {
    absl::MutexLock lock(&mu_);
    while (!inbox_.empty()) {
      waiting_.push_back(std::move(inbox_.front()));
      inbox_.pop_front();
    }
    cancels.swap(cancels_);
  }
  for (RequestId id : cancels) {
    for (auto* list : {&waiting_, &running_}) {
      for (auto& seq : *list) {
        if (seq->id == id && !IsTerminal(seq->state)) {
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
      if (IsTerminal(seq->state)) continue;
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
    if (!seq->cond.allocated) {
      free_blocks -= kv_->CostToAllocate(seq->cond.keys()).num_free_blocks_needed;
    }
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
    const int cost = kv_->CostToAllocate(seq->cond.keys()).num_free_blocks_needed + 1;
    if (cost > free_blocks) break;  // strict order: no overtaking, so nothing starves
    free_blocks -= cost;
    ++running;
    seq->state = RequestState::kPrefilling;
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
  const Sequence& s = uncond ? seq->uncond : seq->cond;
  const int begin =
      s.allocated ? s.num_computed : kv_->CostToAllocate(s.keys()).num_cached_positions;
  if (begin >= s.size()) return;
  const int end = s.ChunkEnd(begin, std::min(*budget, options_.max_prefill_chunk));
  if (end <= begin) return;
  const bool last = end == s.size();
  if (kind == SpanKind::kPrefill && end - begin == 1 && s.allocated) kind = SpanKind::kDecode;
  d->fills.push_back({seq, uncond, kind, begin, end, want_logits && last});
  *budget -= end - begin;
}

Decisions Scheduler::Impl::Plan() const {
  Decisions d;
  int budget = options_.max_tokens_per_step;
  bool text_waiting = false;
  for (const auto& owned : running_) {
    const Seq& seq = *owned;
    if (seq.state == RequestState::kPrefilling || seq.state == RequestState::kDecoding) {
      text_waiting = true;
    }
  }
  // 1. Decode tokens and image commits: short, and they unblock text.
  for (const auto& owned : running_) {
    Seq* seq = owned.get();
    if (seq->state == RequestState::kDecoding ||
        (seq->state == RequestState::kDenoising && seq->committing)) {
      const SpanKind kind = seq->committing ? SpanKind::kCommit : SpanKind::kDecode;
      PlanRemainder(seq, /*uncond=*/false, kind, /*want_logits=*/true, &budget, &d);
    }
  }
  // 2. Denoise steps, within the image share while text is waiting.
  int image_budget =
      text_waiting ? static_cast<int>(options_.max_image_share * options_.max_tokens_per_step)
                   : budget;
  for (const auto& owned : running_) {
    Seq* seq = owned.get();
    if (seq->state != RequestState::kDenoising || seq->committing) continue;
    const int rows = seq->uses_cfg ? 2 : 1;
    const int pending = (seq->cond.size() - seq->cond.num_computed) +
                        (seq->uses_cfg ? seq->uncond.size() - seq->uncond.num_computed : 0);
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
    const bool want_logits = !seq->req.starts_with_image && !seq->diffusion.has_value();
    PlanRemainder(seq, false, SpanKind::kPrefill, want_logits, &budget, &d);
  }
  return d;
}

int Scheduler::Impl::NewBlocksNeeded(const Seq& seq, const Fill& fill) const {
  const Sequence& s = fill.uncond ? seq.uncond : seq.cond;
  const SeqId kv = fill.uncond ? seq.uncond_kv() : seq.cond_kv();
  if (!s.allocated) {
    std::vector<uint64_t> keys(s.keys().begin(), s.keys().begin() + fill.end);
    return kv_->CostToAllocate(keys).num_free_blocks_needed;
  }
  return kv_->FreeBlocksNeededToAppend(kv, fill.end - s.num_computed).value_or(0);
}

// Out of KV blocks: preempt the lowest-priority, latest-admitted requests (by recompute) until
// the step's allocations fit. Runs before any allocation of the step, so nothing is half-done.
void Scheduler::Impl::MakeRoom(Decisions* d) {
  while (true) {
    int needed = 0;
    for (const Fill& f : d->fills) needed += NewBlocksNeeded(*f.seq, f);
    if (needed <= kv_->num_free_blocks()) return;
    Seq* victim = nullptr;
    for (auto& owned : running_) {
      Seq* s = owned.get();
      if (IsTerminal(s->state)) continue;
      if (victim == nullptr || s->req.priority < victim->req.priority ||
          (s->req.priority == victim->req.priority && s->admit_time >= victim->admit_time)) {
        victim = s;
      }
    }
    if (victim == nullptr) return;
    int running = 0;
    for (auto& owned : running_) running += !IsTerminal(owned->state);
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
  const int n = info_.num_patches;
  // Allocate and append first; block tables are read after every sequence's own change.
  std::vector<bool> ok(d->fills.size(), false);
  for (size_t i = 0; i < d->fills.size(); ++i) {
    Fill& f = d->fills[i];
    Sequence& s = f.uncond ? f.seq->uncond : f.seq->cond;
    const SeqId kv = f.uncond ? f.seq->uncond_kv() : f.seq->cond_kv();
    if (!s.allocated) {
      std::vector<uint64_t> keys(s.keys().begin(), s.keys().begin() + f.end);
      absl::StatusOr<int> hits = kv_->Allocate(kv, keys);
      if (!hits.ok()) continue;  // retried next step
      s.allocated = true;
      s.num_computed = *hits;
      f.begin = std::min(f.begin, *hits);
    } else {
      std::vector<uint64_t> keys(s.keys().begin() + s.num_computed, s.keys().begin() + f.end);
      absl::StatusOr<AppendResult> appended = kv_->Append(kv, keys);
      if (!appended.ok()) continue;
      if (appended->copy) plan.block_copies.emplace_back(appended->copy->src, appended->copy->dst);
    }
    ok[i] = true;
  }
  for (size_t i = 0; i < d->fills.size(); ++i) {
    if (!ok[i]) continue;
    const Fill& f = d->fills[i];
    const Sequence& s = f.uncond ? f.seq->uncond : f.seq->cond;
    const SeqId kv = f.uncond ? f.seq->uncond_kv() : f.seq->cond_kv();
    Span span;
    span.kind = f.kind;
    span.seq_id = f.seq->id;
    span.start_position = f.begin;
    span.tokens.assign(s.tokens().begin() + f.begin, s.tokens().begin() + f.end);
    for (const Sequence::ImageRun& image : s.images()) {
      if (image.start + n <= f.begin || image.start >= f.end) continue;
      SpanImage si;
      si.first_patch = std::max(0, f.begin - image.start);
      si.offset = image.start + si.first_patch - f.begin;
      si.patches = image.patches->data();
      span.images.push_back(si);
    }
    const auto table = kv_->BlockTable(kv);
    span.block_table.assign(table->begin(), table->end());
    span.slots = *kv_->SlotMapping(kv, f.begin, f.end);
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
    const float t = static_cast<float>(CurrentTimestep(*seq->diffusion));
    for (bool uncond : {false, true}) {
      if (uncond && !seq->uses_cfg) break;
      const Sequence& s = uncond ? seq->uncond : seq->cond;
      Span span;
      span.kind = SpanKind::kDenoise;
      span.seq_id = seq->id;
      span.start_position = s.size();
      span.tokens.assign(n, model_.bos_token_id);
      span.images.push_back({0, 0, seq->diffusion->x.data(), t, /*predict_noise=*/true});
      const auto table = kv_->BlockTable(uncond ? seq->uncond_kv() : seq->cond_kv());
      span.block_table.assign(table->begin(), table->end());
      plan.spans.push_back(std::move(span));
      refs->push_back({uncond ? SpanRef::Role::kDenoiseUncond : SpanRef::Role::kDenoiseCond, seq, -1});
    }
  }
  return plan;
}

void Scheduler::Impl::Apply(const Decisions& d, const std::vector<SpanRef>& refs,
                            const StepResult& result) {
  // Fills first (they complete prefixes), then the noise of each denoised image.
  std::vector<const std::vector<float>*> cond_eps(refs.size(), nullptr);
  for (size_t i = 0; i < refs.size(); ++i) {
    const SpanRef& ref = refs[i];
    Seq* seq = ref.seq;
    if (IsTerminal(seq->state)) continue;
    const SpanResult& r = result.spans[i];
    if (!r.status.ok()) {
      Finish(seq, RequestState::kFailed, FinishReason::kError, r.status);
      continue;
    }
    if (ref.role != SpanRef::Role::kFill) continue;
    const Fill& f = d.fills[ref.fill_index];
    Sequence& s = f.uncond ? seq->uncond : seq->cond;
    s.num_computed = f.end;
    if (f.kind == SpanKind::kPrefill && !f.uncond) counters_.prompt_tokens += f.end - f.begin;
    if (f.want_logits) {
      OnLogits(seq, r.logits);
    } else if (seq->state == RequestState::kPrefilling && !f.uncond &&
               s.num_computed == s.size()) {
      if (seq->diffusion.has_value()) {
        seq->state = RequestState::kDenoising;  // preempted mid-image: resume where it was
      } else if (seq->req.starts_with_image) {
        StartImage(seq);
      }
    }
  }
  for (size_t i = 0; i < refs.size(); ++i) {
    if (refs[i].role != SpanRef::Role::kDenoiseCond) continue;
    Seq* seq = refs[i].seq;
    if (IsTerminal(seq->state) || !result.spans[i].status.ok()) continue;
    const std::vector<float>* uncond = nullptr;
    if (seq->uses_cfg) {
      const SpanResult& u = result.spans[i + 1];  // the unconditional row follows its cond row
      if (!u.status.ok()) continue;
      uncond = &u.eps[0];
    }
    OnNoise(seq, result.spans[i].eps[0], uncond);
  }
}

// ---------------------------------------------------------------------------------------------
// Request progress

void Scheduler::Impl::OnLogits(Seq* seq, const std::vector<float>& logits_in) {
  std::vector<float> logits = logits_in;
  const float kMasked = -std::numeric_limits<float>::infinity();
  // Tokens the engine places itself, never sampled.
  for (int id : {model_.bos_token_id, model_.eoi_token_id}) logits[id] = kMasked;
  if (seq->images_drawn >= seq->req.max_images) logits[model_.boi_token_id] = kMasked;
  if (seq->committing) {
    seq->committing = false;
    seq->state = RequestState::kDecoding;
  }
  seq->state = RequestState::kDecoding;
  if (seq->usage.generated_tokens >= seq->req.text.max_tokens) {  // e.g. after an image
    Finish(seq, RequestState::kFinished, FinishReason::kLength, absl::OkStatus());
    return;
  }
  const int32_t token = seq->sampler->Sample(logits).token_id;
  ++seq->usage.generated_tokens;
  ++counters_.generated_tokens;
  const auto& stops = seq->req.text.stop_token_ids;
  if (std::find(stops.begin(), stops.end(), token) != stops.end()) {
    Finish(seq, RequestState::kFinished, FinishReason::kStop, absl::OkStatus());
    return;
  }
  seq->cond.AppendTokens({token});
  if (token == model_.boi_token_id) {
    StartImage(seq);
    return;
  }
  seq->text_tokens.push_back(token);
  EmitText(seq);
  if (IsTerminal(seq->state)) return;
  if (seq->usage.generated_tokens >= seq->req.text.max_tokens) {
    Finish(seq, RequestState::kFinished, FinishReason::kLength, absl::OkStatus());
  } else if (seq->cond.size() + 1 >= info_.max_positions) {
    Finish(seq, RequestState::kFinished, FinishReason::kLength, absl::OkStatus());
  }
}

void Scheduler::Impl::EmitText(Seq* seq, bool final) {
  if (!model_.decode) return;
  const std::string text = model_.decode(seq->text_tokens);
  // The detokenizer shows a byte sequence cut short as U+FFFD until its last byte arrives; hold
  // such a tail back (unless the request is ending) so that what was emitted stays a prefix.
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";
  size_t stable = text.size();
  while (!final && stable >= 3 && text.compare(stable - 3, 3, kReplacement) == 0) stable -= 3;
  if (stable <= seq->decoded_bytes) return;
  const std::string fresh = text.substr(seq->decoded_bytes, stable - seq->decoded_bytes);
  const size_t complete = final ? fresh.size() : Utf8CompletePrefixLength(fresh);
  seq->decoded_bytes += complete;
  StopMatcher::Result r = seq->stop->Feed(fresh.substr(0, complete));
  if (!r.text.empty()) {
    RequestEvent e;
    e.type = RequestEvent::Type::kText;
    e.text = std::move(r.text);
    Emit(seq, std::move(e));
  }
  if (r.stopped) Finish(seq, RequestState::kFinished, FinishReason::kStop, absl::OkStatus());
}

void Scheduler::Impl::StartImage(Seq* seq) {
  const int elements = info_.num_patches * info_.patch_dim;
  absl::StatusOr<DiffusionState> state = DiffusionState::Start(*schedule_, seq->req.image, elements);
  if (!state.ok()) {
    Finish(seq, RequestState::kFailed, FinishReason::kError, state.status());
    return;
  }
  // Each image of a request gets its own noise: the seed advances with the image index.
  if (seq->images_drawn > 0) {
    DiffusionParams params = seq->req.image;
    params.seed += static_cast<uint64_t>(seq->images_drawn);
    state = DiffusionState::Start(*schedule_, params, elements);
  }
  seq->diffusion = std::move(*state);
  seq->state = RequestState::kDenoising;
  seq->uses_cfg = seq->req.image.guidance_scale != 1.0f && !seq->req.uncond_prompt.empty();
  if (seq->uses_cfg) {
    seq->uncond = Sequence(info_.num_patches, model_.bos_token_id);
    seq->uncond.Append(seq->req.uncond_prompt);
  }
}

void Scheduler::Impl::OnNoise(Seq* seq, const std::vector<float>& eps_cond,
                              const std::vector<float>* eps_uncond) {
  std::vector<float> eps = eps_cond;
  if (eps_uncond != nullptr) ApplyGuidance(eps_cond, *eps_uncond, seq->req.image.guidance_scale,
                                           absl::MakeSpan(eps));
  DiffusionState& state = *seq->diffusion;
  const int total = static_cast<int>(state.timesteps.size());
  const bool preview = seq->req.preview_every > 0 &&
                       (static_cast<int>(state.step) + 1) % seq->req.preview_every == 0;
  RequestEvent progress;
  progress.type = RequestEvent::Type::kImageProgress;
  progress.total_steps = total;
  if (preview) progress.patches = PredictX0(*schedule_, seq->req.image, eps.data(), state);
  ::infusion::Step(*schedule_, seq->req.image, eps.data(), &state);
  progress.step = static_cast<int>(state.step);
  ++seq->usage.image_steps;
  ++counters_.denoise_steps;
  Emit(seq, std::move(progress));
  if (!Done(state)) return;

  RequestEvent image;
  image.type = RequestEvent::Type::kImage;
  image.patches = state.x;
  Emit(seq, std::move(image));
  ++seq->images_drawn;
  if (seq->uncond.allocated) {
    kv_->Free(seq->uncond_kv()).IgnoreError();
    seq->uncond.allocated = false;
  }
  seq->uses_cfg = false;
  std::vector<float> latents = std::move(state.x);
  seq->diffusion.reset();
  if (seq->req.finish_after_image) {
    Finish(seq, RequestState::kFinished, FinishReason::kImage, absl::OkStatus());
    return;
  }
  // Commit: the clean image (t = 0) and <eoi> enter the context; text resumes after them.
  const uint64_t hash = PromptPart::Image(latents).image_hash;
  seq->cond.AppendImage(std::move(latents), hash);
  seq->cond.AppendTokens({model_.eoi_token_id});
  seq->committing = true;
}

void Scheduler::Impl::ReleaseKv(Seq* seq) {
  for (bool uncond : {false, true}) {
    Sequence& s = uncond ? seq->uncond : seq->cond;
    if (s.allocated) {
      kv_->Free(uncond ? seq->uncond_kv() : seq->cond_kv()).IgnoreError();
      s.allocated = false;
    }
    s.num_computed = 0;
  }
}

void Scheduler::Impl::Finish(Seq* seq, RequestState state, FinishReason reason,
                             absl::Status status) {
  if (IsTerminal(seq->state)) return;
  seq->state = state;  // terminal from here on: nested calls (a stop string in the tail) return
  // Text held back (an incomplete character, or what might have begun a stop string) is the
  // client's after all.
  const bool normal_end = reason == FinishReason::kStop || reason == FinishReason::kLength ||
                          reason == FinishReason::kImage;
  if (normal_end && !seq->stop->stopped()) {
    EmitText(seq, /*final=*/true);
  }
  if (normal_end && !seq->stop->stopped()) {
    std::string held = seq->stop->Flush();
    if (!held.empty()) {
      RequestEvent e;
      e.type = RequestEvent::Type::kText;
      e.text = std::move(held);
      Emit(seq, std::move(e));
    }
  }
  ReleaseKv(seq);
  RequestEvent e;
  e.type = RequestEvent::Type::kFinish;
  e.reason = reason;
  e.status = std::move(status);
  e.usage = seq->usage;
  Emit(seq, std::move(e));
}

// Recompute preemption: the request keeps everything it generated (text, committed images, and
// the latents and step index of an image in progress) and re-enters the queue at its place.
void Scheduler::Impl::Preempt(Seq* seq) {
  ReleaseKv(seq);
  ++counters_.preemptions;
  const bool in_image = seq->diffusion.has_value();
  seq->state = RequestState::kQueued;
  if (in_image) {
    // Resumes denoising from the same step once its prefix is recomputed.
    seq->uncond = Sequence(info_.num_patches, model_.bos_token_id);
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

void Scheduler::Impl::Sweep() {
  auto done = [](const std::unique_ptr<Seq>& s) { return IsTerminal(s->state); };
  running_.erase(std::remove_if(running_.begin(), running_.end(), done), running_.end());
  waiting_.erase(std::remove_if(waiting_.begin(), waiting_.end(), done), waiting_.end());
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
  thread_ = std::thread([this] {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        if (stop_) return;
      }
      if (!Step()) {
        // Idle: sleep until a submission, a cancellation or a stop (or a short timeout, so
        // queue timeouts of waiting requests still fire).
        absl::MutexLock lock(&mu_);
        mu_.AwaitWithTimeout(absl::Condition(
                                 +[](Impl* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
                                   return self->stop_ || !self->inbox_.empty() ||
                                          !self->cancels_.empty();
                                 },
                                 this),
                             absl::Milliseconds(20));
      }
    }
  });
}

void Scheduler::Impl::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

// ---------------------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(const SchedulerOptions& options,
                                                             const SchedulerModelInfo& model,
                                                             Executor* executor) {
  RETURN_IF_ERROR(options.Validate());
  if (executor == nullptr) return absl::InvalidArgumentError("scheduler: no executor");
  const ExecutorInfo& info = executor->info();
  KvCacheManagerOptions kv_options;
  kv_options.num_blocks = info.num_kv_blocks;
  kv_options.block_size = info.block_size;
  kv_options.enable_prefix_cache = options.enable_prefix_cache;
  ASSIGN_OR_RETURN(std::unique_ptr<KvCacheManager> kv, KvCacheManager::Create(kv_options));
  NoiseScheduleOptions schedule_options;
  schedule_options.num_train_steps = model.num_train_timesteps;
  ASSIGN_OR_RETURN(std::unique_ptr<NoiseSchedule> schedule, NoiseSchedule::Create(schedule_options));
  return std::unique_ptr<Scheduler>(new Scheduler(
      std::make_unique<Impl>(options, model, executor, std::move(kv), std::move(schedule))));
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
SchedulerStats Scheduler::Stats() const { return impl_->Stats(); }

}  // namespace infusion
