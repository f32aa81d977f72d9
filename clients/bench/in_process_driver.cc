#include "clients/bench/in_process_driver.h"

#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "engine/prompt/prompt_builder.h"
#include "clients/bench/prompts.h"

namespace infusion::bench {
namespace {

// Records event times of one request; Wait() blocks until its finish event.
class TimingSink : public EventSink {
 public:
  TimingSink(const BenchClock& clock, RequestTiming* timing) : clock_(clock), timing_(timing) {}

  void OnEvent(RequestEvent event) override {
    const double now = clock_.Now();
    absl::MutexLock lock(&mu_);
    switch (event.type) {
      case RequestEvent::Type::kText:
        if (!timing_->first_token) timing_->first_token = now;
        timing_->token_times.push_back(now);
        break;
      case RequestEvent::Type::kImage:
        timing_->image = now;
        break;
      case RequestEvent::Type::kImageProgress:
        break;
      case RequestEvent::Type::kFinish:
        timing_->end = now;
        timing_->ok = event.status.ok();
        timing_->error = event.status.ToString();
        timing_->output_tokens = event.usage.generated_tokens;
        done_ = true;
        break;
    }
  }

  void Wait() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
  }

 private:
  const BenchClock& clock_;
  absl::Mutex mu_;
  RequestTiming* timing_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<InProcessDriver>> InProcessDriver::Create(
    const ModelExecutorOptions& executor_options, const SchedulerOptions& scheduler_options,
    const WorkloadParams& workload) {
  std::unique_ptr<InProcessDriver> d(new InProcessDriver());
  d->workload_ = workload;
  ASSIGN_OR_RETURN(d->processor_, ModelProcessor::Create(executor_options.model_dir));
  ASSIGN_OR_RETURN(d->executor_, ModelExecutor::Create(executor_options));
  ModelProcessor* processor = d->processor_.get();
  OutputProcessorOptions output = OutputProcessorOptions::FromConfig(processor->config());
  output.new_decoder = [processor] { return processor->NewTextDecoder(); };
  ASSIGN_OR_RETURN(d->runner_, OutputProcessor::Create(output, d->executor_.get()));
  ASSIGN_OR_RETURN(d->scheduler_,
                   Scheduler::Create(scheduler_options,
                                     SchedulerModelInfo::FromConfig(processor->config()),
                                     d->runner_.get()));
  d->scheduler_->Start();
  return d;
}

InProcessDriver::~InProcessDriver() {
  if (scheduler_) scheduler_->Stop();
}

Request InProcessDriver::MakeRequest(WorkKind kind, int index) const {
  const ModelConfig& c = processor_->config();
  PromptBuilder builder(c.tokens);
  Request r;
  if (kind == WorkKind::kChat) {
    ChatMessage m;
    m.role = ChatRole::kUser;
    m.parts.push_back(PromptPart::Text(processor_->Tokenize(ChatPrompt(index))));
    r.kind = TaskKind::kChat;
    r.prompt = builder.Chat({m}).prompt;
    r.text.temperature = 0;
    r.text.max_tokens = workload_.chat_max_tokens;  // no stop tokens: end tokens are ignored
  } else {
    BuiltPrompt p = builder.TextToImage(processor_->Tokenize(ImagePrompt(index)));
    r.kind = TaskKind::kTextToImage;
    r.prompt = std::move(p.prompt);
    r.uncond_prompt = std::move(p.uncond_prompt);
    r.starts_with_image = true;
    r.finish_after_image = true;
    r.image.steps = workload_.image_steps;
    r.image.guidance_scale = workload_.guidance_scale;
    r.image.seed = static_cast<uint64_t>(index);
    c.ApplyDiffusionTo(&r.image);
  }
  return r;
}

RequestTiming InProcessDriver::Run(WorkKind kind, int index) {
  RequestTiming timing;
  timing.kind = kind;
  Request request = MakeRequest(kind, index);
  timing.start = clock_.Now();
  auto sink = std::make_shared<TimingSink>(clock_, &timing);
  absl::StatusOr<RequestId> id = scheduler_->Submit(std::move(request), sink);
  if (!id.ok()) {
    timing.error = id.status().ToString();
    timing.end = clock_.Now();
    return timing;
  }
  sink->Wait();
  return timing;
}

}  // namespace infusion::bench
