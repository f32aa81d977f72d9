// Typed requests (serving/requests.h) -> scheduler Requests, in one place: validation, every
// INVALID_ARGUMENT a request's content earns naming its field ("text.top_p must be in (0, 1],
// got 0", "messages[2].role ..."); the model's defaults (generation.json) for unset fields;
// random seeds for unset seeds; the prompt templates (engine/prompt/prompt_builder.h); and the
// checks that the prompt and what it asks for fit the model's context. InferenceEngine owns the
// one instance; nothing else builds a Request for serving.
//
// Every bound that needs no decoding (sampling and image parameters, stop strings, the number of
// images against the context) is checked before any image is decoded or text tokenized; the
// work that follows is bounded by what it produces (engine/codec/image.h) and stops, between
// pieces, when the request's options say it was cancelled or its deadline has passed.
//
// Thread-safe. Preparing a request with images decodes and encodes them (the codec runs
// LibTorch): never call it on the engine thread.
#ifndef INFUSION_SERVING_REQUEST_PREPARER_H_
#define INFUSION_SERVING_REQUEST_PREPARER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "engine/codec/image.h"
#include "engine/processor/model_processor.h"
#include "engine/prompt/prompt_builder.h"
#include "scheduler/request.h"
#include "serving/requests.h"

namespace infusion::serving {

class RequestPreparer {
 public:
  static constexpr float kMaxGuidanceScale = 50.0f;
  static constexpr int kMaxImagesPerReply = 16;
  // Stop strings: each is matched against the text of every token, so their number and length
  // bound the engine thread's work per token (OpenAI allows 4; 16 leaves room).
  static constexpr int kMaxStopStrings = 16;
  static constexpr int kMaxStopStringBytes = 256;

  // `processor` must outlive the preparer.
  RequestPreparer(const engine::ModelProcessor* processor, const engine::ImageLimits& image_limits);

  absl::StatusOr<scheduler::Request> Prepare(const GenerateRequest& in) const;
  absl::StatusOr<scheduler::Request> Prepare(const TextToImageRequest& in) const;
  absl::StatusOr<scheduler::Request> Prepare(const CaptionRequest& in) const;
  absl::StatusOr<scheduler::Request> Prepare(const ChatRequest& in) const;
  absl::StatusOr<scheduler::Request> Prepare(const EditImageRequest& in) const;

 private:
  absl::StatusOr<engine::SamplingParams> ToSamplingParams(
      const TextParams& in, std::vector<int32_t> stop_token_ids) const;
  // Fills request->image and request->preview_every; `field` names the ImageParams in errors.
  absl::Status ToImageParams(const ImageParams& in, absl::string_view field,
                             scheduler::Request* request) const;
  // Decodes and encodes one image; `options` is asked whether to stop between the two.
  absl::StatusOr<engine::PromptPart> ToImagePart(const EncodedImage& in, absl::string_view field,
                                                 const RequestOptions& options) const;
  // The parts of a message or of an open-generation request; `field` names the list in errors.
  absl::StatusOr<std::vector<engine::ContentPart>> ToContentParts(
      const std::vector<InputPart>& parts, absl::string_view field,
      const RequestOptions& options) const;
  // InvalidArgument when `images` images could not fit the context whatever the text: refused
  // before any is decoded.
  absl::Status CheckImagesCouldFit(int images, absl::string_view field) const;
  // InvalidArgument when a text-generating request cannot fit max_tokens after its prompt.
  absl::Status CheckTextFits(const scheduler::Request& request,
                             absl::string_view prompt_field) const;
  // InvalidArgument when an image-generating request's prompt leaves no room for the image.
  absl::Status CheckImageFits(const scheduler::Request& request,
                              absl::string_view prompt_field) const;
  int Positions(const std::vector<engine::PromptPart>& prompt) const;
  uint64_t RandomSeed() const;

  const engine::ModelProcessor* const processor_;
  const engine::ImageLimits image_limits_;
  const engine::PromptBuilder builder_;
  mutable absl::Mutex seed_mu_;
  mutable absl::BitGen seed_gen_ ABSL_GUARDED_BY(seed_mu_);
};

}  // namespace infusion::serving

#endif  // INFUSION_SERVING_REQUEST_PREPARER_H_
