// The in-process backend of infusion-eval: a ModelExecutor and a Scheduler in this process, with
// the prompt templates of docs/model-format.md §7 (engine/prompt). Each batch is submitted to the
// scheduler at once, so continuous batching runs its requests together.
#ifndef INFUSION_CLIENTS_EVAL_IN_PROCESS_GENERATOR_H_
#define INFUSION_CLIENTS_EVAL_IN_PROCESS_GENERATOR_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "clients/eval/generator.h"
#include "engine/executor/model_executor.h"
#include "engine/output/output_processor.h"
#include "engine/processor/model_processor.h"
#include "engine/prompt/prompt_builder.h"
#include "scheduler/scheduler.h"

namespace infusion::eval {

struct InProcessOptions {
  std::string model_dir;
  int num_threads = 0;                        // LibTorch/OpenMP threads; 0 = number of cores
  int bf16_min_rows = 0;                      // ModelExecutorOptions::bf16_min_rows
  size_t kv_cache_bytes = size_t{256} << 20;  // K and V of every layer
  int max_running = 64;                       // requests the scheduler runs at once
  GenerationParams params;

  absl::Status Validate() const;  // InvalidArgument naming the field
};

class InProcessGenerator : public Generator {
 public:
  static absl::StatusOr<std::unique_ptr<InProcessGenerator>> Create(
      const InProcessOptions& options);
  ~InProcessGenerator() override;  // stops the engine thread

  absl::StatusOr<std::vector<Image>> TextToImage(
      const std::vector<TextToImageTask>& tasks) override;
  absl::StatusOr<std::vector<std::string>> Caption(const std::vector<CaptionTask>& tasks) override;
  absl::StatusOr<std::vector<std::string>> Chat(const std::vector<ChatTask>& tasks) override;
  absl::StatusOr<std::vector<Image>> Edit(const std::vector<EditTask>& tasks) override;

  // The model's tokenizer, codec and serving defaults.
  const ModelProcessor& processor() const { return *processor_; }

 private:
  // What one request produced.
  struct Output {
    std::string text;
    std::vector<float> patches;  // [n * patch_dim]; empty unless the request drew an image
  };

  InProcessGenerator(const GenerationParams& params, std::unique_ptr<ModelProcessor> processor);

  // A request that draws one image after `prompt` (t2i, edit), guided against its uncond prefix.
  Request ImageRequest(TaskKind kind, BuiltPrompt prompt, uint64_t seed) const;
  // A request that writes text greedily until one of `stop_token_ids`.
  Request TextRequest(TaskKind kind, std::vector<PromptPart> prompt,
                      std::vector<int32_t> stop_token_ids) const;
  // Submits every request at once and waits until all have finished.
  absl::StatusOr<std::vector<Output>> RunAll(std::vector<Request> requests);
  absl::StatusOr<std::vector<Image>> DecodeImages(const std::vector<Output>& outputs) const;

  GenerationParams params_;
  std::unique_ptr<ModelProcessor> processor_;
  PromptBuilder builder_;
  std::unique_ptr<ModelExecutor> executor_;
  std::unique_ptr<OutputProcessor> runner_;
  std::unique_ptr<Scheduler> scheduler_;
};

}  // namespace infusion::eval

#endif  // INFUSION_CLIENTS_EVAL_IN_PROCESS_GENERATOR_H_
