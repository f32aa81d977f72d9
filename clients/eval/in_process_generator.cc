#include "clients/eval/in_process_generator.h"

#include <limits>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace infusion::eval {
namespace {

// Gathers the outputs of one batch. Sinks call it on the engine thread (briefly, under a mutex);
// Wait() blocks the evaluating thread until every request has finished. Shared by the sinks, so
// that it outlives the last engine-thread call even after Wait() has returned.
class BatchCollector {
 public:
  explicit BatchCollector(size_t size) : texts_(size), patches_(size), remaining_(size) {}

  void Record(size_t index, RequestEvent event) {
    absl::MutexLock lock(&mu_);
    switch (event.type) {
      case RequestEvent::Type::kText:
        texts_[index] += event.text;
        break;
      case RequestEvent::Type::kImage:
        patches_[index] = std::move(event.patches);
        break;
      case RequestEvent::Type::kImageProgress:
        break;
      case RequestEvent::Type::kFinish:
        if (!event.status.ok()) Fail(index, event.status);
        --remaining_;
        break;
    }
  }

  // For a request that never reached the scheduler.
  void Refused(size_t index, const absl::Status& status) {
    absl::MutexLock lock(&mu_);
    Fail(index, status);
    --remaining_;
  }

  // The texts and image patches of every request, or the first failure.
  absl::Status Wait(std::vector<std::string>* texts, std::vector<std::vector<float>>* patches) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](size_t* remaining) { return *remaining == 0; }, &remaining_));
    if (!status_.ok()) return status_;
    *texts = std::move(texts_);
    *patches = std::move(patches_);
    return absl::OkStatus();
  }

 private:
  void Fail(size_t index, const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (status_.ok()) {
      status_ = absl::Status(status.code(),
                             absl::StrCat("request ", index, " of the batch: ", status.message()));
    }
  }

  absl::Mutex mu_;
  std::vector<std::string> texts_ ABSL_GUARDED_BY(mu_);
  std::vector<std::vector<float>> patches_ ABSL_GUARDED_BY(mu_);
  size_t remaining_ ABSL_GUARDED_BY(mu_);
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

class CollectingSink : public EventSink {
 public:
  CollectingSink(std::shared_ptr<BatchCollector> collector, size_t index)
      : collector_(std::move(collector)), index_(index) {}
  void OnEvent(RequestEvent event) override { collector_->Record(index_, std::move(event)); }

 private:
  std::shared_ptr<BatchCollector> collector_;
  size_t index_;
};

ChatMessage UserTurn(std::vector<ContentPart> parts) {
  ChatMessage m;
  m.role = ChatRole::kUser;
  m.parts = std::move(parts);
  return m;
}

}  // namespace

absl::Status InProcessOptions::Validate() const {
  if (model_dir.empty()) return absl::InvalidArgumentError("model_dir must name a model directory");
  if (num_threads < 0) {
    return absl::InvalidArgumentError(absl::StrCat("num_threads must be >= 0, got ", num_threads));
  }
  if (max_running < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max_running must be >= 1, got ", max_running));
  }
  return params.Validate();
}

InProcessGenerator::InProcessGenerator(const GenerationParams& params,
                                       std::unique_ptr<ModelProcessor> processor)
    : params_(params), processor_(std::move(processor)), builder_(processor_->config().tokens) {}

InProcessGenerator::~InProcessGenerator() {
  if (scheduler_) scheduler_->Stop();
}

absl::StatusOr<std::unique_ptr<InProcessGenerator>> InProcessGenerator::Create(
    const InProcessOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  ASSIGN_OR_RETURN(std::unique_ptr<ModelProcessor> processor,
                   ModelProcessor::Create(options.model_dir));
  std::unique_ptr<InProcessGenerator> g(
      new InProcessGenerator(options.params, std::move(processor)));

  ModelExecutorOptions executor_options;
  executor_options.model_dir = options.model_dir;
  executor_options.num_threads = options.num_threads;
  executor_options.bf16_min_rows = options.bf16_min_rows;
  executor_options.kv_cache_bytes = options.kv_cache_bytes;
  ASSIGN_OR_RETURN(g->executor_, ModelExecutor::Create(executor_options));

  const ModelProcessor* p = g->processor_.get();
  OutputProcessorOptions output = OutputProcessorOptions::FromConfig(p->config());
  output.new_decoder = [p] { return p->NewTextDecoder(); };
  ASSIGN_OR_RETURN(g->runner_, OutputProcessor::Create(output, g->executor_.get()));
  const SchedulerModelInfo info = SchedulerModelInfo::FromConfig(p->config());
  SchedulerOptions scheduler_options;
  scheduler_options.max_running = options.max_running;
  // A batch is submitted whole; the KV cache, not the queue, bounds what runs at once.
  scheduler_options.max_queued = std::numeric_limits<int>::max();
  ASSIGN_OR_RETURN(g->scheduler_, Scheduler::Create(scheduler_options, info, g->runner_.get()));
  g->scheduler_->Start();
  return g;
}

Request InProcessGenerator::ImageRequest(TaskKind kind, BuiltPrompt prompt, uint64_t seed) const {
  const GenerationConfig& defaults = processor_->generation();
  Request r;
  r.kind = kind;
  r.prompt = std::move(prompt.prompt);
  r.uncond_prompt = std::move(prompt.uncond_prompt);
  r.starts_with_image = true;
  r.finish_after_image = true;
  r.image.solver = defaults.sampler == "ddpm" ? DiffusionSolver::kDdpm : DiffusionSolver::kDdim;
  r.image.eta = defaults.eta;
  r.image.steps = params_.image_steps.value_or(defaults.image_steps);
  r.image.guidance_scale = params_.guidance_scale.value_or(defaults.guidance_scale);
  r.image.seed = seed;
  processor_->config().ApplyDiffusionTo(&r.image);
  return r;
}

Request InProcessGenerator::TextRequest(TaskKind kind, std::vector<PromptPart> prompt,
                                        std::vector<int32_t> stop_token_ids) const {
  Request r;
  r.kind = kind;
  r.prompt = std::move(prompt);
  r.text.temperature = 0;
  r.text.max_tokens = params_.max_text_tokens;
  r.text.stop_token_ids = std::move(stop_token_ids);
  return r;
}

absl::StatusOr<std::vector<InProcessGenerator::Output>> InProcessGenerator::RunAll(
    std::vector<Request> requests) {
  const size_t n = requests.size();
  auto collector = std::make_shared<BatchCollector>(n);
  for (size_t i = 0; i < n; ++i) {
    absl::StatusOr<RequestId> id =
        scheduler_->Submit(std::move(requests[i]), std::make_shared<CollectingSink>(collector, i));
    if (!id.ok()) collector->Refused(i, id.status());
  }
  std::vector<std::string> texts;
  std::vector<std::vector<float>> patches;
  RETURN_IF_ERROR(collector->Wait(&texts, &patches));
  std::vector<Output> outputs(n);
  for (size_t i = 0; i < n; ++i) outputs[i] = {std::move(texts[i]), std::move(patches[i])};
  return outputs;
}

absl::StatusOr<std::vector<Image>> InProcessGenerator::DecodeImages(
    const std::vector<Output>& outputs) const {
  const size_t patch_floats = static_cast<size_t>(processor_->config().image.num_patches()) *
                              processor_->config().image.patch_dim();
  std::vector<Image> images;
  images.reserve(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i].patches.size() != patch_floats) {
      return absl::InternalError(absl::StrCat("request ", i, " of the batch finished with ",
                                              outputs[i].patches.size(), " image values, expected ",
                                              patch_floats));
    }
    images.push_back(processor_->DecodeImage(outputs[i].patches));
  }
  return images;
}

absl::StatusOr<std::vector<Image>> InProcessGenerator::TextToImage(
    const std::vector<TextToImageTask>& tasks) {
  std::vector<Request> requests;
  requests.reserve(tasks.size());
  for (const TextToImageTask& task : tasks) {
    requests.push_back(ImageRequest(TaskKind::kTextToImage,
                                    builder_.TextToImage(processor_->Tokenize(task.prompt)),
                                    task.seed));
  }
  ASSIGN_OR_RETURN(std::vector<Output> outputs, RunAll(std::move(requests)));
  return DecodeImages(outputs);
}

absl::StatusOr<std::vector<std::string>> InProcessGenerator::Caption(
    const std::vector<CaptionTask>& tasks) {
  std::vector<Request> requests;
  requests.reserve(tasks.size());
  for (const CaptionTask& task : tasks) {
    // The trainer's captioning documents are `<s> [img] caption </s>`: no text before the caption.
    BuiltPrompt p = builder_.Caption(PromptPart::Image(processor_->EncodeImage(task.image)), {});
    requests.push_back(
        TextRequest(TaskKind::kCaption, std::move(p.prompt), {processor_->config().tokens.eos}));
  }
  ASSIGN_OR_RETURN(std::vector<Output> outputs, RunAll(std::move(requests)));
  std::vector<std::string> texts;
  texts.reserve(outputs.size());
  for (Output& o : outputs) texts.push_back(std::move(o.text));
  return texts;
}

absl::StatusOr<std::vector<std::string>> InProcessGenerator::Chat(
    const std::vector<ChatTask>& tasks) {
  const SpecialTokens& t = processor_->config().tokens;
  std::vector<Request> requests;
  requests.reserve(tasks.size());
  for (const ChatTask& task : tasks) {
    BuiltPrompt p =
        builder_.Chat({UserTurn({PromptPart::Image(processor_->EncodeImage(task.image)),
                                 PromptPart::Text(processor_->Tokenize(task.question))})});
    requests.push_back(TextRequest(TaskKind::kChat, std::move(p.prompt), {t.end_of_turn, t.eos}));
  }
  ASSIGN_OR_RETURN(std::vector<Output> outputs, RunAll(std::move(requests)));
  std::vector<std::string> texts;
  texts.reserve(outputs.size());
  for (Output& o : outputs) texts.push_back(std::move(o.text));
  return texts;
}

absl::StatusOr<std::vector<Image>> InProcessGenerator::Edit(const std::vector<EditTask>& tasks) {
  std::vector<Request> requests;
  requests.reserve(tasks.size());
  for (const EditTask& task : tasks) {
    requests.push_back(
        ImageRequest(TaskKind::kEdit,
                     builder_.Edit(PromptPart::Image(processor_->EncodeImage(task.source)),
                                   processor_->Tokenize(task.instruction)),
                     task.seed));
  }
  ASSIGN_OR_RETURN(std::vector<Output> outputs, RunAll(std::move(requests)));
  return DecodeImages(outputs);
}

}  // namespace infusion::eval
