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

using engine::EncodePng;
using engine::Image;
using scheduler::EventSink;
using scheduler::RequestEvent;
using scheduler::RequestId;
using serving::CaptionRequest;
using serving::ChatRequest;
using serving::EditImageRequest;
using serving::EncodedImage;
using serving::ImageParams;
using serving::InferenceEngine;
using serving::TextParams;
using serving::InferenceEngineOptions;
using serving::InputPart;
using serving::TextToImageRequest;

namespace {

// Gathers the outputs of one batch. Sinks call it on the engine thread (briefly, under a mutex);
// Wait() blocks the evaluating thread until every request has finished. Shared by the sinks, so
// that it outlives the last engine-thread call even after Wait() has returned.
class BatchCollector {
 public:
  explicit BatchCollector(size_t size)
      : texts_(size), patches_(size), images_(size), remaining_(size) {}

  void Record(size_t index, RequestEvent event) {
    absl::MutexLock lock(&mu_);
    switch (event.type) {
      case RequestEvent::Type::kText:
        texts_[index] += event.text;
        break;
      case RequestEvent::Type::kImage:
        patches_[index] = std::move(event.patches);
        images_[index] = std::move(event.image);
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

  // The texts, image patches and decoded images of every request, or the first failure.
  absl::Status Wait(std::vector<std::string>* texts, std::vector<std::vector<float>>* patches,
                    std::vector<std::shared_ptr<const Image>>* images) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](size_t* remaining) { return *remaining == 0; }, &remaining_));
    if (!status_.ok()) return status_;
    *texts = std::move(texts_);
    *patches = std::move(patches_);
    *images = std::move(images_);
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
  std::vector<std::shared_ptr<const Image>> images_ ABSL_GUARDED_BY(mu_);
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

// Images travel as PNG, as a client's do; PNG is lossless, so the model sees the task's pixels.
absl::StatusOr<EncodedImage> ToEncoded(const Image& image) {
  ASSIGN_OR_RETURN(std::string png, EncodePng(image));
  return EncodedImage{std::move(png)};
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

absl::StatusOr<std::unique_ptr<InProcessGenerator>> InProcessGenerator::Create(
    const InProcessOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  InferenceEngineOptions engine_options;
  engine_options.executor.model_dir = options.model_dir;
  engine_options.executor.num_threads = options.num_threads;
  engine_options.executor.bf16_min_rows = options.bf16_min_rows;
  engine_options.executor.bf16_images = options.bf16_images;
  engine_options.executor.kv_cache_bytes = options.kv_cache_bytes;
  engine_options.scheduler.max_running = options.max_running;
  // A batch is submitted whole; the KV cache, not the queue, bounds what runs at once.
  engine_options.scheduler.max_queued = std::numeric_limits<int>::max();
  ASSIGN_OR_RETURN(std::unique_ptr<InferenceEngine> engine,
                   InferenceEngine::Create(engine_options));
  return std::unique_ptr<InProcessGenerator>(
      new InProcessGenerator(options.params, std::move(engine)));
}

ImageParams InProcessGenerator::ImageRequestParams(uint64_t seed) const {
  ImageParams p;
  p.steps = params_.image_steps;
  p.guidance_scale = params_.guidance_scale;
  p.seed = seed;
  return p;
}

TextParams InProcessGenerator::TextRequestParams() const {
  TextParams p;
  p.max_tokens = params_.max_text_tokens;
  p.temperature = 0.0f;
  p.seed = 0;  // greedy decoding draws nothing; a fixed seed keeps the request reproducible
  return p;
}

template <typename Typed>
absl::StatusOr<std::vector<InProcessGenerator::Output>> InProcessGenerator::RunAll(
    const std::vector<Typed>& requests) {
  const size_t n = requests.size();
  auto collector = std::make_shared<BatchCollector>(n);
  for (size_t i = 0; i < n; ++i) {
    absl::StatusOr<RequestId> id =
        engine_->Submit(requests[i], std::make_shared<CollectingSink>(collector, i));
    if (!id.ok()) collector->Refused(i, id.status());
  }
  std::vector<std::string> texts;
  std::vector<std::vector<float>> patches;
  std::vector<std::shared_ptr<const Image>> images;
  RETURN_IF_ERROR(collector->Wait(&texts, &patches, &images));
  std::vector<Output> outputs(n);
  for (size_t i = 0; i < n; ++i) {
    outputs[i] = {std::move(texts[i]), std::move(patches[i]), std::move(images[i])};
  }
  return outputs;
}

absl::StatusOr<std::vector<Image>> InProcessGenerator::DecodeImages(
    const std::vector<Output>& outputs) const {
  std::vector<Image> images;
  images.reserve(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    absl::StatusOr<Image> image = engine_->FinalImage(outputs[i].image, outputs[i].patches);
    if (!image.ok()) {
      return absl::InternalError(
          absl::StrCat("request ", i, " of the batch: ", image.status().message()));
    }
    images.push_back(*std::move(image));
  }
  return images;
}

absl::StatusOr<std::vector<Image>> InProcessGenerator::TextToImage(
    const std::vector<TextToImageTask>& tasks) {
  std::vector<TextToImageRequest> requests(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    requests[i].prompt = tasks[i].prompt;
    requests[i].image = ImageRequestParams(tasks[i].seed);
  }
  ASSIGN_OR_RETURN(std::vector<Output> outputs, RunAll(requests));
  return DecodeImages(outputs);
}

absl::StatusOr<std::vector<std::string>> InProcessGenerator::Caption(
    const std::vector<CaptionTask>& tasks) {
  std::vector<CaptionRequest> requests(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    // No prompt: the trainer's captioning documents are `<s> [img] caption </s>`.
    ASSIGN_OR_RETURN(requests[i].image, ToEncoded(tasks[i].image));
    requests[i].text = TextRequestParams();
  }
  ASSIGN_OR_RETURN(std::vector<Output> outputs, RunAll(requests));
  std::vector<std::string> texts;
  texts.reserve(outputs.size());
  for (Output& o : outputs) texts.push_back(std::move(o.text));
  return texts;
}

absl::StatusOr<std::vector<std::string>> InProcessGenerator::Chat(
    const std::vector<ChatTask>& tasks) {
  std::vector<ChatRequest> requests(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    ASSIGN_OR_RETURN(EncodedImage image, ToEncoded(tasks[i].image));
    requests[i].messages.push_back(
        {"user", {InputPart::Image(std::move(image.data)), InputPart::Text(tasks[i].question)}});
    requests[i].max_images = 0;  // answers are words
    requests[i].text = TextRequestParams();
  }
  ASSIGN_OR_RETURN(std::vector<Output> outputs, RunAll(requests));
  std::vector<std::string> texts;
  texts.reserve(outputs.size());
  for (Output& o : outputs) texts.push_back(std::move(o.text));
  return texts;
}

absl::StatusOr<std::vector<Image>> InProcessGenerator::Edit(const std::vector<EditTask>& tasks) {
  std::vector<EditImageRequest> requests(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    ASSIGN_OR_RETURN(requests[i].image, ToEncoded(tasks[i].source));
    requests[i].instruction = tasks[i].instruction;
    requests[i].image_params = ImageRequestParams(tasks[i].seed);
  }
  ASSIGN_OR_RETURN(std::vector<Output> outputs, RunAll(requests));
  return DecodeImages(outputs);
}

}  // namespace infusion::eval
