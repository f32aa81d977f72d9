// Proto <-> native conversion and request validation, in one place: every INVALID_ARGUMENT the
// API returns for a request's content comes from here and names the field ("text.top_p must be
// in (0, 1], got 0", "messages[2].role ..."). Unset parameters take the model's defaults
// (generation.json); unset seeds are drawn at random.
//
// Thread-safe. Converting a request with images, and a response with an image, runs the image
// codec (LibTorch): never call them on the engine thread.
#ifndef INFUSION_SERVER_PROTO_CONVERTER_H_
#define INFUSION_SERVER_PROTO_CONVERTER_H_

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
#include "infusion/v1/infusion.pb.h"
#include "scheduler/request.h"

namespace infusion {

class ProtoConverter {
 public:
  static constexpr float kMaxGuidanceScale = 50.0f;
  static constexpr int kMaxImagesPerReply = 16;

  // `processor` must outlive the converter.
  ProtoConverter(const ModelProcessor* processor, const ImageLimits& image_limits);

  absl::StatusOr<Request> ToRequest(const v1::GenerateRequest& proto) const;
  absl::StatusOr<Request> ToRequest(const v1::TextToImageRequest& proto) const;
  absl::StatusOr<Request> ToRequest(const v1::CaptionRequest& proto) const;
  absl::StatusOr<Request> ToRequest(const v1::ChatRequest& proto) const;
  absl::StatusOr<Request> ToRequest(const v1::EditImageRequest& proto) const;

  // Image events become PNGs of the model's image size.
  absl::StatusOr<v1::GenerateResponse> ToResponse(const RequestEvent& event) const;

  v1::ModelInfo ModelInfo() const;

 private:
  absl::StatusOr<SamplingParams> ToSamplingParams(const v1::TextParams& proto,
                                                  std::vector<int32_t> stop_token_ids) const;
  // Fills request->image and request->preview_every; `field` names the ImageParams in errors.
  absl::Status ToImageParams(const v1::ImageParams& proto, absl::string_view field,
                             Request* request) const;
  absl::StatusOr<PromptPart> ToImagePart(const v1::Image& proto, absl::string_view field) const;
  // InvalidArgument when a text-generating request cannot fit max_tokens after its prompt.
  absl::Status CheckTextFits(const Request& request, absl::string_view prompt_field) const;
  // InvalidArgument when an image-generating request's prompt leaves no room for the image.
  absl::Status CheckImageFits(const Request& request, absl::string_view prompt_field) const;
  int Positions(const std::vector<PromptPart>& prompt) const;
  absl::StatusOr<std::string> ToPng(const std::vector<float>& patches) const;
  uint64_t RandomSeed() const;

  const ModelProcessor* const processor_;
  const ImageLimits image_limits_;
  const PromptBuilder builder_;
  mutable absl::Mutex seed_mu_;
  mutable absl::BitGen seed_gen_ ABSL_GUARDED_BY(seed_mu_);
};

}  // namespace infusion

#endif  // INFUSION_SERVER_PROTO_CONVERTER_H_
