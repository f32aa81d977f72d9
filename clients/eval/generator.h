// What infusion-eval asks of a model: the four tasks of the mission, each as one batch. A batch
// API, not one call per sample, because the in-process backend submits a whole batch to the
// scheduler at once and lets continuous batching run it — that is what makes an evaluation of
// hundreds of samples fast — and the server backend keeps many requests in flight.
//
// Backends: InProcessGenerator (scheduler + executor in this process), ServerGenerator (gRPC to
// `infusion-server`), and in the tests an oracle that draws the expected scenes.
#ifndef INFUSION_CLIENTS_EVAL_GENERATOR_H_
#define INFUSION_CLIENTS_EVAL_GENERATOR_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/codec/image.h"

namespace infusion::eval {

// How a backend generates; the same for every task of a run.
struct GenerationParams {
  std::optional<int> image_steps;       // denoising steps; unset: the model's generation.json
  std::optional<float> guidance_scale;  // CFG scale; unset: the model's generation.json
  int max_text_tokens = 96;             // longest caption or answer, its stop token included

  absl::Status Validate() const;  // InvalidArgument naming the field
};

struct TextToImageTask {
  std::string prompt;
  uint64_t seed = 0;  // of the initial noise
};

struct CaptionTask {
  engine::Image image;  // any size; the backend resizes it to the model's
};

// One user turn holding the image, then the question; the reply is read greedily to the end of
// the assistant's turn.
struct ChatTask {
  engine::Image image;
  std::string question;
};

struct EditTask {
  engine::Image source;
  std::string instruction;
  uint64_t seed = 0;  // of the initial noise
};

// Each call returns one output per task, in task order, or the first failure of the batch: an
// evaluation that silently dropped samples would report a score over a different set.
// Images come back at the model's size; text is greedy (temperature 0) and stops at the end of
// the caption (</s>) or of the assistant's turn (<|end|>).
class Generator {
 public:
  virtual ~Generator() = default;

  virtual absl::StatusOr<std::vector<engine::Image>> TextToImage(
      const std::vector<TextToImageTask>& tasks) = 0;
  virtual absl::StatusOr<std::vector<std::string>> Caption(
      const std::vector<CaptionTask>& tasks) = 0;
  virtual absl::StatusOr<std::vector<std::string>> Chat(const std::vector<ChatTask>& tasks) = 0;
  virtual absl::StatusOr<std::vector<engine::Image>> Edit(const std::vector<EditTask>& tasks) = 0;
};

}  // namespace infusion::eval

#endif  // INFUSION_CLIENTS_EVAL_GENERATOR_H_
