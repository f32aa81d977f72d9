#include "serving/inference_engine.h"

#include <exception>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "engine/output/output_processor.h"

namespace infusion::serving {

using engine::Image;
using engine::ImageConfig;
using engine::ModelExecutor;
using engine::ModelProcessor;
using engine::OutputProcessor;
using engine::OutputProcessorOptions;
using scheduler::EventSink;
using scheduler::Request;
using scheduler::RequestId;
using scheduler::Scheduler;
using scheduler::SchedulerModelInfo;
using scheduler::SchedulerOptions;
using scheduler::SchedulerStats;

namespace {

std::string BaseName(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The only place a Scheduler is built for serving: when its construction changes (what it is
// told about the model, what it drives), this function is the one to edit.
// The scheduler over the engine's output processing (sampling, detokenization, stop strings,
// guidance and the solver), which runs each step on the executor.
absl::Status MakeScheduler(const SchedulerOptions& options, const ModelProcessor* processor,
                           ModelExecutor* executor, std::unique_ptr<OutputProcessor>* runner,
                           std::unique_ptr<Scheduler>* scheduler) {
  OutputProcessorOptions output = OutputProcessorOptions::FromConfig(processor->config());
  output.new_decoder = [processor] { return processor->NewTextDecoder(); };
  ASSIGN_OR_RETURN(*runner, OutputProcessor::Create(output, executor));
  ASSIGN_OR_RETURN(*scheduler, Scheduler::Create(
                                   options, SchedulerModelInfo::FromConfig(processor->config()),
                                   runner->get()));
  return absl::OkStatus();
}

}  // namespace

absl::Status InferenceEngineOptions::Validate() const {
  RETURN_IF_ERROR(executor.Validate());
  RETURN_IF_ERROR(scheduler.Validate());
  if (image_limits.max_bytes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("image_limits.max_bytes must be >= 1, got ", image_limits.max_bytes));
  }
  if (image_limits.max_pixels < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("image_limits.max_pixels must be >= 1, got ", image_limits.max_pixels));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<InferenceEngine>> InferenceEngine::Create(
    const InferenceEngineOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<InferenceEngine> e(new InferenceEngine());
  engine::CodecOptions codec;
  codec.bf16_decode = options.executor.bf16_images;  // images in bfloat16 from end to end
  ASSIGN_OR_RETURN(e->processor_, ModelProcessor::Create(options.executor.model_dir, codec));
  e->model_name_ = BaseName(e->processor_->model_dir());
  e->image_limits_ = options.image_limits;
  e->preparer_ = std::make_unique<RequestPreparer>(e->processor_.get(), options.image_limits);
  ASSIGN_OR_RETURN(e->executor_, ModelExecutor::Create(options.executor));
  RETURN_IF_ERROR(MakeScheduler(options.scheduler, e->processor_.get(), e->executor_.get(),
                                &e->runner_, &e->scheduler_));
  // Finished images decode on the engine thread, a step's images in one batch, so that each
  // kImage event carries its pixels (DecodeImage serves previews and other callers).
  e->scheduler_->SetImageDecoder(
      [engine = e.get()](const std::vector<const std::vector<float>*>& patches) {
        return engine->DecodeBatch(patches);
      });
  if (options.start_engine_thread) e->scheduler_->Start();
  return e;
}

InferenceEngine::~InferenceEngine() {
  if (scheduler_ != nullptr) scheduler_->Stop();
}

template <typename Typed>
absl::StatusOr<RequestId> InferenceEngine::PrepareAndSubmit(const Typed& request,
                                                            std::shared_ptr<EventSink> sink) {
  ASSIGN_OR_RETURN(Request prepared, preparer_->Prepare(request));
  return scheduler_->Submit(std::move(prepared), std::move(sink));
}

absl::StatusOr<RequestId> InferenceEngine::Submit(const GenerateRequest& request,
                                                  std::shared_ptr<EventSink> sink) {
  return PrepareAndSubmit(request, std::move(sink));
}

absl::StatusOr<RequestId> InferenceEngine::Submit(const TextToImageRequest& request,
                                                  std::shared_ptr<EventSink> sink) {
  return PrepareAndSubmit(request, std::move(sink));
}

absl::StatusOr<RequestId> InferenceEngine::Submit(const CaptionRequest& request,
                                                  std::shared_ptr<EventSink> sink) {
  return PrepareAndSubmit(request, std::move(sink));
}

absl::StatusOr<RequestId> InferenceEngine::Submit(const ChatRequest& request,
                                                  std::shared_ptr<EventSink> sink) {
  return PrepareAndSubmit(request, std::move(sink));
}

absl::StatusOr<RequestId> InferenceEngine::Submit(const EditImageRequest& request,
                                                  std::shared_ptr<EventSink> sink) {
  return PrepareAndSubmit(request, std::move(sink));
}

absl::StatusOr<Request> InferenceEngine::Prepare(const GenerateRequest& request) const {
  return preparer_->Prepare(request);
}

absl::StatusOr<Request> InferenceEngine::Prepare(const TextToImageRequest& request) const {
  return preparer_->Prepare(request);
}

absl::StatusOr<Request> InferenceEngine::Prepare(const CaptionRequest& request) const {
  return preparer_->Prepare(request);
}

absl::StatusOr<Request> InferenceEngine::Prepare(const ChatRequest& request) const {
  return preparer_->Prepare(request);
}

absl::StatusOr<Request> InferenceEngine::Prepare(const EditImageRequest& request) const {
  return preparer_->Prepare(request);
}

void InferenceEngine::Cancel(RequestId id) { scheduler_->Cancel(id); }

void InferenceEngine::Stop() { scheduler_->Stop(); }

SchedulerStats InferenceEngine::Stats() const { return scheduler_->Stats(); }

struct InferenceEngine::DecodeJob {
  const std::vector<float>* patches = nullptr;  // the caller's, alive until `done`
  absl::StatusOr<Image> image = absl::InternalError("image not decoded");
  absl::Notification done;
};

absl::StatusOr<Image> InferenceEngine::DecodeImage(const std::vector<float>& patches) const {
  const ImageConfig& image = config().image;
  const size_t expected = static_cast<size_t>(image.num_patches()) * image.patch_dim();
  if (patches.size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat("an image of this model has ", expected,
                                                   " latent values, got ", patches.size()));
  }
  auto job = std::make_shared<DecodeJob>();
  job->patches = &patches;
  {
    absl::MutexLock lock(&decode_mu_);
    decode_queue_.push_back(job);
  }
  if (!scheduler_->RunBetweenSteps([this] { DecodeQueued(); })) DecodeQueued();
  job->done.WaitForNotification();
  return std::move(job->image);
}

absl::StatusOr<Image> InferenceEngine::FinalImage(const std::shared_ptr<const Image>& decoded,
                                                  const std::vector<float>& patches) const {
  if (decoded != nullptr) return *decoded;
  return DecodeImage(patches);
}

std::vector<std::shared_ptr<const Image>> InferenceEngine::DecodeBatch(
    const std::vector<const std::vector<float>*>& patches) const {
  std::vector<std::shared_ptr<const Image>> out(patches.size());
  try {
    std::vector<Image> images = processor_->DecodeImages(patches);
    for (size_t i = 0; i < images.size() && i < out.size(); ++i) {
      out[i] = std::make_shared<const Image>(std::move(images[i]));
    }
  } catch (const std::exception& e) {  // LibTorch throws c10::Error: null results, no crash
    LOG(ERROR) << "image decode failed: " << e.what();
  }
  return out;
}

void InferenceEngine::DecodeQueued() const {
  std::vector<std::shared_ptr<DecodeJob>> jobs;
  {
    absl::MutexLock lock(&decode_mu_);
    jobs.swap(decode_queue_);
  }
  if (jobs.empty()) return;  // an earlier call took them
  std::vector<const std::vector<float>*> batch;
  for (const auto& job : jobs) batch.push_back(job->patches);
  std::vector<std::shared_ptr<const Image>> images = DecodeBatch(batch);
  for (size_t i = 0; i < jobs.size(); ++i) {
    jobs[i]->image = images[i] != nullptr ? absl::StatusOr<Image>(*images[i])
                                          : absl::InternalError("image decode failed");
    jobs[i]->done.Notify();
  }
}

}  // namespace infusion::serving
