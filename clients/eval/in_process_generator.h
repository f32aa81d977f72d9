// The in-process backend of infusion-eval: an InferenceEngine in this process, given the same
// typed requests as ServerGenerator sends over gRPC (so both backends get the same prompts,
// defaults and validation). Each batch is submitted at once, so continuous batching runs its
// requests together.
#ifndef INFUSION_CLIENTS_EVAL_IN_PROCESS_GENERATOR_H_
#define INFUSION_CLIENTS_EVAL_IN_PROCESS_GENERATOR_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "clients/eval/generator.h"
#include "engine/processor/model_processor.h"
#include "scheduler/request.h"
#include "serving/inference_engine.h"
#include "serving/requests.h"

namespace infusion::eval {

struct InProcessOptions {
  std::string model_dir;
  int num_threads = 0;                        // LibTorch/OpenMP threads; 0 = number of cores
  int bf16_min_rows = 0;                      // ModelExecutorOptions::bf16_min_rows
  bool bf16_images = true;                    // ModelExecutorOptions::bf16_images
  size_t kv_cache_bytes = size_t{256} << 20;  // K and V of every layer
  int max_running = 64;                       // requests the scheduler runs at once
  GenerationParams params;

  absl::Status Validate() const;  // InvalidArgument naming the field
};

class InProcessGenerator : public Generator {
 public:
  static absl::StatusOr<std::unique_ptr<InProcessGenerator>> Create(
      const InProcessOptions& options);

  absl::StatusOr<std::vector<engine::Image>> TextToImage(
      const std::vector<TextToImageTask>& tasks) override;
  absl::StatusOr<std::vector<std::string>> Caption(const std::vector<CaptionTask>& tasks) override;
  absl::StatusOr<std::vector<std::string>> Chat(const std::vector<ChatTask>& tasks) override;
  absl::StatusOr<std::vector<engine::Image>> Edit(const std::vector<EditTask>& tasks) override;

  // The model's tokenizer, codec and serving defaults.
  const engine::ModelProcessor& processor() const { return engine_->processor(); }

 private:
  // What one request produced.
  struct Output {
    std::string text;
    std::vector<float> patches;  // [n * patch_dim]; empty unless the request drew an image
    std::shared_ptr<const engine::Image> image;  // the engine's decode of them, if any
  };

  InProcessGenerator(const GenerationParams& params,
                     std::unique_ptr<serving::InferenceEngine> engine)
      : params_(params), engine_(std::move(engine)) {}

  // Image parameters of a t2i or edit request: steps and guidance from the run's parameters
  // (else the model's), the task's seed.
  serving::ImageParams ImageRequestParams(uint64_t seed) const;
  // Text parameters of a caption or chat request: greedy, at most max_text_tokens.
  serving::TextParams TextRequestParams() const;
  // Submits every request at once (Typed: one of serving/requests.h) and waits until all have
  // finished.
  template <typename Typed>
  absl::StatusOr<std::vector<Output>> RunAll(const std::vector<Typed>& requests);
  absl::StatusOr<std::vector<engine::Image>> DecodeImages(const std::vector<Output>& outputs) const;

  GenerationParams params_;
  std::unique_ptr<serving::InferenceEngine> engine_;
};

}  // namespace infusion::eval

#endif  // INFUSION_CLIENTS_EVAL_IN_PROCESS_GENERATOR_H_
