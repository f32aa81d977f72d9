#include "server/proto_converter.h"

#include <string>
#include <utility>
#include <vector>

#include "common/status_macros.h"
#include "common/version.h"
#include "engine/tokenizer/utf8.h"

namespace infusion::server {

using engine::AppendWithReplacement;
using engine::CodecName;
using engine::EncodePng;
using engine::GenerationConfig;
using engine::Image;
using engine::ModelConfig;
using engine::PatchEncoderName;
using scheduler::FinishReasonName;
using scheduler::RequestEvent;
using serving::CaptionRequest;
using serving::ChatRequest;
using serving::EditImageRequest;
using serving::EncodedImage;
using serving::GenerateRequest;
using serving::ImageParams;
using serving::InputMessage;
using serving::InputPart;
using serving::TextParams;
using serving::TextToImageRequest;

namespace {

TextParams ToNative(const v1::TextParams& proto) {
  TextParams p;
  if (proto.has_max_tokens()) p.max_tokens = proto.max_tokens();
  if (proto.has_temperature()) p.temperature = proto.temperature();
  if (proto.has_top_p()) p.top_p = proto.top_p();
  if (proto.has_top_k()) p.top_k = proto.top_k();
  if (proto.has_min_p()) p.min_p = proto.min_p();
  if (proto.has_repetition_penalty()) p.repetition_penalty = proto.repetition_penalty();
  if (proto.has_seed()) p.seed = proto.seed();
  p.stop.assign(proto.stop().begin(), proto.stop().end());
  p.ignore_eos = proto.ignore_eos();
  return p;
}

ImageParams ToNative(const v1::ImageParams& proto) {
  ImageParams p;
  if (proto.has_steps()) p.steps = proto.steps();
  if (proto.has_guidance_scale()) p.guidance_scale = proto.guidance_scale();
  if (proto.has_eta()) p.eta = proto.eta();
  if (proto.has_seed()) p.seed = proto.seed();
  // proto3 cannot tell an empty string from an unset one; the API documents "" as the default.
  if (!proto.sampler().empty()) p.sampler = proto.sampler();
  p.preview_every = proto.preview_every();
  return p;
}

EncodedImage ToNative(const v1::Image& proto) { return EncodedImage{proto.data()}; }

std::vector<InputPart> ToNative(const google::protobuf::RepeatedPtrField<v1::Part>& proto) {
  std::vector<InputPart> parts;
  parts.reserve(proto.size());
  for (const v1::Part& part : proto) {
    switch (part.kind_case()) {
      case v1::Part::kText:
        parts.push_back(InputPart::Text(part.text()));
        break;
      case v1::Part::kImage:
        parts.push_back(InputPart::Image(part.image().data()));
        break;
      case v1::Part::KIND_NOT_SET:
        parts.emplace_back();  // refused by the engine, which names the part
        break;
    }
  }
  return parts;
}

}  // namespace

GenerateRequest ProtoConverter::FromProto(const v1::GenerateRequest& proto) {
  GenerateRequest r;
  r.parts = ToNative(proto.parts());
  if (proto.has_max_images()) r.max_images = proto.max_images();
  r.text = ToNative(proto.text());
  r.image = ToNative(proto.image());
  return r;
}

TextToImageRequest ProtoConverter::FromProto(const v1::TextToImageRequest& proto) {
  TextToImageRequest r;
  r.prompt = proto.prompt();
  r.image = ToNative(proto.image());
  return r;
}

CaptionRequest ProtoConverter::FromProto(const v1::CaptionRequest& proto) {
  CaptionRequest r;
  r.image = ToNative(proto.image());
  r.prompt = proto.prompt();
  r.text = ToNative(proto.text());
  return r;
}

ChatRequest ProtoConverter::FromProto(const v1::ChatRequest& proto) {
  ChatRequest r;
  r.messages.reserve(proto.messages_size());
  for (const v1::Message& m : proto.messages()) {
    r.messages.push_back(InputMessage{m.role(), ToNative(m.parts())});
  }
  if (proto.has_max_images()) r.max_images = proto.max_images();
  r.text = ToNative(proto.text());
  r.image = ToNative(proto.image());
  return r;
}

EditImageRequest ProtoConverter::FromProto(const v1::EditImageRequest& proto) {
  EditImageRequest r;
  r.image = ToNative(proto.image());
  r.instruction = proto.instruction();
  r.image_params = ToNative(proto.image_params());
  return r;
}

absl::StatusOr<std::string> ProtoConverter::ToPng(const std::vector<float>& patches) const {
  ASSIGN_OR_RETURN(Image image, engine_->DecodeImage(patches));
  return EncodePng(image);
}

absl::StatusOr<v1::GenerateResponse> ProtoConverter::ToResponse(const RequestEvent& event) const {
  v1::GenerateResponse response;
  switch (event.type) {
    case RequestEvent::Type::kText:
      // A proto3 string must be UTF-8, and clients refuse to parse one that is not; the text
      // reaching here can hold malformed bytes (a byte-fallback token sampled alone).
      AppendWithReplacement(event.text, response.mutable_text()->mutable_text());
      break;
    case RequestEvent::Type::kImageProgress: {
      v1::ImageProgress* progress = response.mutable_progress();
      progress->set_step(event.step);
      progress->set_total_steps(event.total_steps);
      if (!event.patches.empty()) {
        ASSIGN_OR_RETURN(*progress->mutable_preview_png(), ToPng(event.patches));
      }
      break;
    }
    case RequestEvent::Type::kImage: {
      v1::GeneratedImage* image = response.mutable_image();
      ASSIGN_OR_RETURN(const Image pixels, engine_->FinalImage(event.image, event.patches));
      ASSIGN_OR_RETURN(*image->mutable_png(), EncodePng(pixels));
      image->set_width(engine_->config().image.image_size);
      image->set_height(engine_->config().image.image_size);
      image->set_seed(event.seed);
      break;
    }
    case RequestEvent::Type::kFinish: {
      v1::Finish* finish = response.mutable_finish();
      finish->set_reason(FinishReasonName(event.reason));
      v1::Usage* usage = finish->mutable_usage();
      usage->set_prompt_tokens(event.usage.prompt_tokens);
      usage->set_generated_tokens(event.usage.generated_tokens);
      usage->set_image_steps(event.usage.image_steps);
      usage->set_queue_seconds(event.usage.queue_seconds);
      break;
    }
  }
  return response;
}

v1::ModelInfo ProtoConverter::ModelInfo() const {
  const ModelConfig& config = engine_->config();
  const GenerationConfig& defaults = engine_->generation();
  v1::ModelInfo info;
  info.set_name(engine_->model_name());
  info.set_server_version(kVersion);
  info.set_context_length(config.max_position_embeddings);
  info.set_vocab_size(config.vocab_size);
  info.set_image_size(config.image.image_size);
  info.set_image_tokens(config.image.num_patches());
  info.set_codec(CodecName(config.image.codec));
  info.set_patch_encoder(PatchEncoderName(config.image.patch_encoder));
  v1::TextParams* text = info.mutable_default_text();
  text->set_max_tokens(defaults.max_tokens);
  text->set_temperature(defaults.temperature);
  text->set_top_p(defaults.top_p);
  text->set_top_k(defaults.top_k);
  text->set_min_p(0.0f);
  text->set_repetition_penalty(defaults.repetition_penalty);
  v1::ImageParams* image = info.mutable_default_image();
  image->set_steps(defaults.image_steps);
  image->set_guidance_scale(defaults.guidance_scale);
  image->set_sampler(defaults.sampler);
  image->set_eta(defaults.eta);
  info.set_max_image_bytes(static_cast<int64_t>(engine_->image_limits().max_bytes));
  info.set_max_image_pixels(engine_->image_limits().max_pixels);
  return info;
}

}  // namespace infusion::server
