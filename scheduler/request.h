// What a client asks of the scheduler and what it hears back. Torch-free and proto-free: the
// server converts gRPC messages into these (server/), the scheduler runs them.
#ifndef INFUSION_SCHEDULER_REQUEST_H_
#define INFUSION_SCHEDULER_REQUEST_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/executor/executor.h"
#include "engine/prompt/prompt_part.h"
#include "engine/sampler/diffusion_params.h"
#include "engine/sampler/sampling_params.h"

namespace infusion::engine {
struct Image;  // engine/codec/image.h
}  // namespace infusion::engine

namespace infusion::scheduler {

using RequestId = int64_t;

enum class TaskKind {
  kText,         // text generation, images only if the model draws them (max_images)
  kTextToImage,  // prompt ends with <boi>; one image, then finish
  kCaption,      // image in the prompt, text out
  kChat,         // chat template; text out, images if the model draws them
  kEdit,         // source image + instruction, prompt ends with <boi>; one image, then finish
};
const char* TaskKindName(TaskKind kind);

struct Request {
  std::string name;  // for logs (e.g. the RPC's request id)
  TaskKind kind = TaskKind::kText;
  // The conditional prompt, template applied (engine/prompt/prompt_builder.h). When
  // `starts_with_image` the last token is <boi> and the request starts in image mode.
  std::vector<engine::PromptPart> prompt;
  // The classifier-free-guidance prefix (ending with <boi>) used while denoising; empty: no CFG
  // (also when the guidance scale is 1).
  std::vector<engine::PromptPart> uncond_prompt;
  bool starts_with_image = false;
  int max_images = 0;           // images the model may open with <boi> during text generation
  bool finish_after_image = false;  // t2i / edit: finish once the image is drawn (no commit)

  engine::SamplingParams text;    // max_tokens, temperature, stop ids/strings, seed, ...
  engine::DiffusionParams image;  // steps, solver, guidance, seed, ...
  int preview_every = 0;  // emit a preview of the clean-image estimate every N steps (0 = never)

  int priority = 0;                           // higher runs first
  absl::Time deadline = absl::InfiniteFuture();  // the request fails with DEADLINE_EXCEEDED after
  absl::Duration queue_timeout = absl::InfiniteDuration();  // longest wait before admission
};

enum class FinishReason { kStop, kLength, kImage, kCancelled, kError, kTimeout };
const char* FinishReasonName(FinishReason reason);  // "stop", "length", "image", ...
// Whether the request ended as asked (stop, length, its image), not by a cancel, error or timeout.
bool IsNormalEnd(FinishReason reason);

struct Usage {
  int prompt_tokens = 0;     // prompt positions, image patches included
  int generated_tokens = 0;  // sampled text tokens
  int image_steps = 0;       // denoising steps run
  double queue_seconds = 0;  // from Submit to admission
};

struct RequestEvent {
  enum class Type { kText, kImageProgress, kImage, kFinish };
  Type type = Type::kText;
  std::string text;                     // kText: the next piece of text (valid UTF-8)
  int step = 0, total_steps = 0;        // kImageProgress: step k of N done
  std::vector<float> patches;           // kImageProgress: preview x0 estimate (may be empty);
                                        // kImage: the final image, normalised patches
  uint64_t seed = 0;                    // kImage: the seed that drew it (image seed + index)
  // kImage: the image decoded to pixels, when the scheduler has an ImageDecoder (else null).
  std::shared_ptr<const engine::Image> image;
  FinishReason reason = FinishReason::kStop;  // kFinish
  absl::Status status;                  // kFinish: not OK for kError / kTimeout / kCancelled
  Usage usage;                          // kFinish
};

// Positions a prompt occupies, an image counting as its patches.
int PromptPositions(const std::vector<engine::PromptPart>& prompt, int num_patches);

// InvalidArgument when `request` can never run on a model of `info`: bad parameters, a prompt
// token out of range, an image of the wrong size, an empty prompt, one too long for the model or
// the KV cache, or an image request whose prompt does not end with <boi>.
absl::Status ValidateRequest(const Request& request, const engine::ExecutorInfo& info,
                             int boi_token_id);

// Receives a request's events, in order, exactly one kFinish last. Called on the engine thread:
// implementations must not block (queue the event and return).
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void OnEvent(RequestEvent event) = 0;
};

}  // namespace infusion::scheduler

#endif  // INFUSION_SCHEDULER_REQUEST_H_
