// The StepRunner of the engine: runs each step on an Executor, then processes the step's outputs
// as one batch. For every text span it samples the next token (each request with its own seeded
// sampler), decodes it incrementally and matches stop strings; for every image it combines the
// guided rows and takes the solver step through the request's ImageDenoiser. What the scheduler
// gets back are decisions and ready-to-stream text, never logits or noise.
//
// Faults stay with their request: a span the executor failed, or whose logits or noise
// prediction hold NaN or infinity, fails that span's request alone (SpanOutput::status); the
// other spans of the step are processed as if it had not been there.
//
// Engine thread only.
#ifndef INFUSION_ENGINE_OUTPUT_OUTPUT_PROCESSOR_H_
#define INFUSION_ENGINE_OUTPUT_OUTPUT_PROCESSOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/executor/executor.h"
#include "engine/executor/step_runner.h"
#include "engine/model/model_config.h"
#include "engine/sampler/image_denoiser.h"
#include "engine/sampler/noise_schedule.h"
#include "engine/sampler/stop_matcher.h"
#include "engine/sampler/text_sampler.h"
#include "engine/tokenizer/text_decoder.h"

namespace infusion::engine {

struct OutputProcessorOptions {
  // Tokens the engine places itself and never samples: <s>, <eoi>; <boi> once a request has
  // drawn the images it may.
  int32_t bos_token_id = 2;
  int32_t boi_token_id = 4;
  int32_t eoi_token_id = 5;
  int32_t num_train_timesteps = 1000;  // of the model's noise schedule
  // A fresh decoder per request (Tokenizer::NewDecoder); null: token ids only, no text.
  std::function<std::unique_ptr<TextDecoder>()> new_decoder;

  // The token ids and schedule length of a model's config.json (new_decoder left unset).
  static OutputProcessorOptions FromConfig(const ModelConfig& config);
};

class OutputProcessor final : public StepRunner {
 public:
  // `executor` must outlive the processor.
  static absl::StatusOr<std::unique_ptr<OutputProcessor>> Create(
      const OutputProcessorOptions& options, Executor* executor);

  const ExecutorInfo& info() const override { return executor_->info(); }
  absl::Status AddRequest(int64_t id, const RunnerRequest& request) override;
  StepOutput Run(StepPlan plan) override;
  std::string RemoveRequest(int64_t id, bool flush_text) override;

  int num_requests() const { return static_cast<int>(requests_.size()); }

 private:
  struct RequestOutputs {
    RunnerRequest params;
    std::unique_ptr<TextSampler> sampler;
    std::unique_ptr<TextDecoder> decoder;  // null without options_.new_decoder
    std::unique_ptr<StopMatcher> stop;
    int images_started = 0;
    std::optional<ImageDenoiser> image;  // the image being drawn
  };

  OutputProcessor(const OutputProcessorOptions& options, Executor* executor,
                  std::unique_ptr<NoiseSchedule> schedule)
      : options_(options), executor_(executor), schedule_(std::move(schedule)) {}

  // The executor's step; when it throws or returns the wrong number of results, each span run
  // alone, so that a failure stays with the request whose span failed.
  StepResult Execute(const StepPlan& plan);
  // Points the denoise spans at their images' latents and timesteps, starting images as needed.
  void PrepareImages(StepPlan* plan, StepOutput* out);
  void SampleToken(RequestOutputs& request, std::vector<float>& logits, SpanOutput* out);
  void AdvanceImage(RequestOutputs& request, const float* eps_cond, const float* eps_uncond,
                    SpanOutput* out);

  const OutputProcessorOptions options_;
  Executor* const executor_;
  const std::unique_ptr<NoiseSchedule> schedule_;
  absl::flat_hash_map<int64_t, RequestOutputs> requests_;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_OUTPUT_OUTPUT_PROCESSOR_H_
