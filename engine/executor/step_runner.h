// What the scheduler drives each step: one forward pass and the work that follows it on the
// engine side. The scheduler only decides what runs (spans over its KV-cache sequences); a
// StepRunner computes it and turns the raw outputs into facts the scheduler acts on: the token
// each text span sampled and the text it adds, whether a stop string completed, and each image's
// denoising progress and final latents. Sampling state, detokenizers, stop matchers and solvers
// live behind this interface (engine/output/output_processor.h), so the scheduler stays free of
// all of them. Torch-free, so the scheduler's tests can run a fake executor behind a real runner.
//
// Engine thread only.
#ifndef INFUSION_ENGINE_EXECUTOR_STEP_RUNNER_H_
#define INFUSION_ENGINE_EXECUTOR_STEP_RUNNER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/executor/executor.h"
#include "engine/executor/step_plan.h"
#include "engine/sampler/diffusion_params.h"
#include "engine/sampler/sampling_params.h"

namespace infusion::engine {

// What a runner must know of a request to process its outputs.
struct RunnerRequest {
  SamplingParams text;    // sampling, stop token ids (never text), stop strings
  DiffusionParams image;  // every image it draws; the k-th (from 0) is seeded with seed + k
  int max_images = 0;     // images it may open itself; <boi> is never sampled beyond them
  int preview_every = 0;  // a preview of the clean-image estimate every N steps (0 = never)
  std::vector<int32_t> prompt_tokens;  // the repetition penalty's starting history
};

// What one span of a step produced, ready for the scheduler.
struct SpanOutput {
  absl::Status status;  // not OK: the span failed; the request fails with this status

  // Spans with want_logits.
  int32_t token = -1;         // the sampled token
  std::string text;           // the text it adds, ready to stream (may be empty)
  bool stop_string = false;   // a stop string completed; `text` is what came before it

  // The conditional denoise span of an image (its unconditional row's output is folded in).
  int image_step = 0;           // steps done, this one included
  int image_steps = 0;          // steps in all
  std::vector<float> preview;   // this step's clean-image estimate, when a preview was due
  std::vector<float> image;     // the clean latents [n * patch_dim], after the last step
};

struct StepOutput {
  std::vector<SpanOutput> spans;  // one per plan span, same order
  double forward_seconds = 0;     // of this step, in the executor's forward pass
};

class StepRunner {
 public:
  virtual ~StepRunner() = default;
  virtual const ExecutorInfo& info() const = 0;

  // Registers a request before its first span. InvalidArgument when its parameters cannot run.
  virtual absl::Status AddRequest(int64_t id, const RunnerRequest& request) = 0;

  // Runs one step. Span::seq_id is the request id. Denoise spans leave their image's patches and
  // timestep to the runner, which starts an image at the first denoise span of a request that
  // has none in progress and advances it once per step, combining the conditional row with the
  // unconditional one (Span::guidance_row) when the plan holds both. Never throws.
  virtual StepOutput Run(StepPlan plan) = 0;

  // Forgets a request that has ended. With `flush_text` (it ended normally) returns the text held
  // back so far: an incomplete character, or what might have begun a stop string.
  virtual std::string RemoveRequest(int64_t id, bool flush_text) = 0;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_EXECUTOR_STEP_RUNNER_H_
