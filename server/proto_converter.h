// Proto <-> native conversion for the gRPC service. Requests map field for field onto the typed
// requests of serving/requests.h, unset fields staying unset: validation, the model's defaults
// and the prompt templates are the engine's (serving/request_preparer.h), so gRPC clients and
// in-process callers get the same requests and the same errors. Events become responses, image
// events PNGs of the model's image size.
//
// Thread-safe. ToResponse of an image event runs the codec (LibTorch): never call it on the
// engine thread.
#ifndef INFUSION_SERVER_PROTO_CONVERTER_H_
#define INFUSION_SERVER_PROTO_CONVERTER_H_

#include "absl/status/statusor.h"
#include "infusion/v1/infusion.pb.h"
#include "scheduler/request.h"
#include "serving/inference_engine.h"
#include "serving/requests.h"

namespace infusion::server {

class ProtoConverter {
 public:
  // `engine` must outlive the converter.
  explicit ProtoConverter(const serving::InferenceEngine* engine) : engine_(engine) {}

  static serving::GenerateRequest FromProto(const v1::GenerateRequest& proto);
  static serving::TextToImageRequest FromProto(const v1::TextToImageRequest& proto);
  static serving::CaptionRequest FromProto(const v1::CaptionRequest& proto);
  static serving::ChatRequest FromProto(const v1::ChatRequest& proto);
  static serving::EditImageRequest FromProto(const v1::EditImageRequest& proto);

  // Image events become PNGs of the model's image size.
  absl::StatusOr<v1::GenerateResponse> ToResponse(const scheduler::RequestEvent& event) const;

  v1::ModelInfo ModelInfo() const;

 private:
  absl::StatusOr<std::string> ToPng(const std::vector<float>& patches) const;

  const serving::InferenceEngine* const engine_;
};

}  // namespace infusion::server

#endif  // INFUSION_SERVER_PROTO_CONVERTER_H_
