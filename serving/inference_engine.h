// The one object every front end builds to serve a model in-process: infusion-server,
// infusion-bench and infusion-eval. It loads the model directory and owns its parts — the
// ModelProcessor (tokenizer, codec, generation.json), the ModelExecutor and the Scheduler with
// its engine thread — and takes typed requests (serving/requests.h): it validates them, applies
// the model's defaults, builds the prompt and submits it, in one place for every caller (vLLM's
// LLMEngine, TensorRT-LLM's Executor). A new front end (HTTP) is then an adapter of its wire
// format onto these calls.
//
// Threads: Submit, Prepare, Cancel, Stats and DecodeImage may be called from any thread at once.
// Submit and Prepare decode request images, and DecodeImage waits for the engine thread to run
// the codec: none of them may be called on the engine thread, that is, inside an EventSink. Each
// request's events reach its sink on the engine thread (see scheduler/scheduler.h);
// RequestStream hands them to a thread that pulls.
#ifndef INFUSION_SERVING_INFERENCE_ENGINE_H_
#define INFUSION_SERVING_INFERENCE_ENGINE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/codec/image.h"
#include "engine/executor/model_executor.h"
#include "engine/model/generation_config.h"
#include "engine/model/model_config.h"
#include "engine/processor/model_processor.h"
#include "scheduler/request.h"
#include "scheduler/scheduler.h"
#include "serving/request_preparer.h"
#include "serving/requests.h"

namespace infusion::engine {
class OutputProcessor;
}  // namespace infusion::engine

namespace infusion::serving {

struct InferenceEngineOptions {
  engine::ModelExecutorOptions executor;  // model directory, device, threads, bf16, KV-cache size
  scheduler::SchedulerOptions
      scheduler;                     // step token budget, running and queue limits, prefix cache
  engine::ImageLimits image_limits;  // request images: encoded bytes and pixels
  // false: no engine thread; requests are prepared and queued but never run (tests of request
  // preparation, which need no steps).
  bool start_engine_thread = true;

  absl::Status Validate() const;  // InvalidArgument naming the field
};

class InferenceEngine {
 public:
  static absl::StatusOr<std::unique_ptr<InferenceEngine>> Create(
      const InferenceEngineOptions& options);
  ~InferenceEngine();  // stops the engine thread

  // Prepares `request` (see Prepare) and queues it; its events go to `sink`, ending with exactly
  // one finish event. Errors: Prepare's; the scheduler's (ResourceExhausted when the queue is
  // full, InvalidArgument for a request that can never run, e.g. larger than the KV cache).
  absl::StatusOr<scheduler::RequestId> Submit(const GenerateRequest& request,
                                              std::shared_ptr<scheduler::EventSink> sink);
  absl::StatusOr<scheduler::RequestId> Submit(const TextToImageRequest& request,
                                              std::shared_ptr<scheduler::EventSink> sink);
  absl::StatusOr<scheduler::RequestId> Submit(const CaptionRequest& request,
                                              std::shared_ptr<scheduler::EventSink> sink);
  absl::StatusOr<scheduler::RequestId> Submit(const ChatRequest& request,
                                              std::shared_ptr<scheduler::EventSink> sink);
  absl::StatusOr<scheduler::RequestId> Submit(const EditImageRequest& request,
                                              std::shared_ptr<scheduler::EventSink> sink);

  // What Submit would queue, without queueing it: validated (InvalidArgument naming the field),
  // unset fields filled from generation.json, unset seeds drawn, the prompt template applied.
  // For tests and tools that look at a request; Submit is the way in.
  absl::StatusOr<scheduler::Request> Prepare(const GenerateRequest& request) const;
  absl::StatusOr<scheduler::Request> Prepare(const TextToImageRequest& request) const;
  absl::StatusOr<scheduler::Request> Prepare(const CaptionRequest& request) const;
  absl::StatusOr<scheduler::Request> Prepare(const ChatRequest& request) const;
  absl::StatusOr<scheduler::Request> Prepare(const EditImageRequest& request) const;

  // Ends a request with FinishReason::kCancelled (status CANCELLED) at the next step, which frees
  // its KV blocks; a request that has already finished is left alone.
  void Cancel(scheduler::RequestId id);

  // Stops the engine thread; requests still queued or running get no more events. For shutdown,
  // once no sink may be called any more; the destructor does it too.
  void Stop();

  scheduler::SchedulerStats Stats() const;

  // The patches of an image or preview event -> an image of the model's size. InvalidArgument
  // when `patches` is not one image's worth. The codec runs on the engine thread between two
  // steps, in one batch with the other images waiting then (Scheduler::RunBetweenSteps): on
  // the compute threads the steps use, instead of beside them on the same cores. Blocks the
  // caller until then (at most a step); runs on the caller's thread when no engine thread runs.
  absl::StatusOr<engine::Image> DecodeImage(const std::vector<float>& patches) const;
  // The pixels of a kImage event: those the engine decoded with its step (`decoded`, the
  // event's `image`), or, where it could not, DecodeImage of the event's `patches`.
  absl::StatusOr<engine::Image> FinalImage(const std::shared_ptr<const engine::Image>& decoded,
                                           const std::vector<float>& patches) const;

  // Model facts.
  const std::string& model_name() const { return model_name_; }  // the directory's base name
  const engine::ModelConfig& config() const { return processor_->config(); }
  const engine::GenerationConfig& generation() const {
    return processor_->generation();
  }  // defaults
  const engine::ImageLimits& image_limits() const { return image_limits_; }
  // The model's tokenizer and codec, for callers that need them beside requests (thread-safe).
  const engine::ModelProcessor& processor() const { return *processor_; }

 private:
  struct DecodeJob;  // one DecodeImage call waiting for DecodeQueued

  InferenceEngine() = default;
  // Decodes every queued DecodeJob in one codec batch and wakes their callers.
  void DecodeQueued() const ABSL_LOCKS_EXCLUDED(decode_mu_);
  // One codec batch; null for every image when the codec fails (logged).
  std::vector<std::shared_ptr<const engine::Image>> DecodeBatch(
      const std::vector<const std::vector<float>*>& patches) const;
  template <typename Typed>
  absl::StatusOr<scheduler::RequestId> PrepareAndSubmit(const Typed& request,
                                                        std::shared_ptr<scheduler::EventSink> sink);

  std::string model_name_;
  engine::ImageLimits image_limits_;
  std::unique_ptr<engine::ModelProcessor> processor_;
  std::unique_ptr<RequestPreparer> preparer_;  // uses processor_
  std::unique_ptr<engine::ModelExecutor> executor_;
  std::unique_ptr<engine::OutputProcessor> runner_;  // runs steps on executor_
  std::unique_ptr<scheduler::Scheduler> scheduler_;  // declared after the runner it drives

  mutable absl::Mutex decode_mu_;
  mutable std::vector<std::shared_ptr<DecodeJob>> decode_queue_ ABSL_GUARDED_BY(decode_mu_);
};

}  // namespace infusion::serving

#endif  // INFUSION_SERVING_INFERENCE_ENGINE_H_
