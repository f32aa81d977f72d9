#include "clients/bench/in_process_driver.h"

#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "clients/bench/prompts.h"
#include "common/status_macros.h"

namespace infusion::bench {

using engine::ModelExecutorOptions;
using scheduler::EventSink;
using scheduler::RequestEvent;
using scheduler::RequestId;
using scheduler::SchedulerOptions;
using serving::ChatRequest;
using serving::InferenceEngine;
using serving::InferenceEngineOptions;
using serving::InputPart;
using serving::TextToImageRequest;

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
        images_.push_back({std::move(event.patches), std::move(event.image)});
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

  struct FinalImage {
    std::vector<float> patches;
    std::shared_ptr<const engine::Image> pixels;  // decoded by the engine, if it did
  };
  // Every image of the request, once Wait has returned.
  std::vector<FinalImage> TakeImages() {
    absl::MutexLock lock(&mu_);
    return std::move(images_);
  }

 private:
  const BenchClock& clock_;
  absl::Mutex mu_;
  RequestTiming* timing_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<FinalImage> images_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<InProcessDriver>> InProcessDriver::Create(
    const ModelExecutorOptions& executor_options, const SchedulerOptions& scheduler_options,
    const WorkloadParams& workload) {
  std::unique_ptr<InProcessDriver> d(new InProcessDriver());
  d->workload_ = workload;
  InferenceEngineOptions options;
  options.executor = executor_options;
  options.scheduler = scheduler_options;
  ASSIGN_OR_RETURN(d->engine_, InferenceEngine::Create(options));
  return d;
}

InProcessDriver::~InProcessDriver() = default;

absl::StatusOr<RequestId> InProcessDriver::Submit(WorkKind kind, int index,
                                                  std::shared_ptr<EventSink> sink) {
  if (kind == WorkKind::kChat) {
    ChatRequest r;
    r.messages.push_back({"user", {InputPart::Text(ChatPrompt(index))}});
    // A text workload: the model may not open images in its replies, and every reply is
    // chat_max_tokens long whatever the model says.
    r.max_images = 0;
    r.text.temperature = 0.0f;
    r.text.max_tokens = workload_.chat_max_tokens;
    r.text.ignore_eos = true;
    r.options.name = "bench-chat";
    return engine_->Submit(r, std::move(sink));
  }
  // Steps, guidance and seed from the flags; the sampler and eta are the model's.
  TextToImageRequest r;
  r.prompt = ImagePrompt(index);
  r.image.steps = workload_.image_steps;
  r.image.guidance_scale = workload_.guidance_scale;
  r.image.seed = static_cast<uint64_t>(index);
  r.options.name = "bench-t2i";
  return engine_->Submit(r, std::move(sink));
}

RequestTiming InProcessDriver::Run(WorkKind kind, int index) {
  RequestTiming timing;
  timing.kind = kind;
  // The clock starts before Submit, which tokenizes and applies the template, as a server's
  // latency includes its request conversion.
  timing.start = clock_.Now();
  auto sink = std::make_shared<TimingSink>(clock_, &timing);
  absl::StatusOr<RequestId> id = Submit(kind, index, sink);
  if (!id.ok()) {
    timing.error = id.status().ToString();
    timing.end = clock_.Now();
    return timing;
  }
  sink->Wait();
  if (kind == WorkKind::kTextToImage && workload_.decode_images && timing.ok) {
    // What a server has before it replies: the engine's pixels, or the codec's if it has none.
    for (const TimingSink::FinalImage& final : sink->TakeImages()) {
      absl::StatusOr<engine::Image> image = engine_->FinalImage(final.pixels, final.patches);
      if (!image.ok()) {
        timing.ok = false;
        timing.error = image.status().ToString();
      }
    }
    timing.image = timing.end = clock_.Now();
  }
  return timing;
}

}  // namespace infusion::bench
