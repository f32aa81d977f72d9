#include "server/proto_converter.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/tokenizer/utf8.h"

namespace infusion {
namespace {

// `status` (a Validate() message that starts with the field's name) with the field's parent
// prepended: "top_p must be ..." -> "text.top_p must be ...".
absl::Status InField(absl::string_view parent, const absl::Status& status) {
  return absl::InvalidArgumentError(absl::StrCat(parent, ".", status.message()));
}

// `status` about the value of `field`: "image.data: image is empty".
absl::Status AboutField(absl::string_view field, const absl::Status& status) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", status.message()));
}

absl::StatusOr<ChatRole> ToRole(const std::string& role, absl::string_view field) {
  if (role == "system") return ChatRole::kSystem;
  if (role == "user") return ChatRole::kUser;
  if (role == "assistant") return ChatRole::kAssistant;
  return absl::InvalidArgumentError(
      absl::StrCat(field, " must be \"system\", \"user\" or \"assistant\", got \"", role, "\""));
}

absl::StatusOr<int> ToMaxImages(bool has, int32_t value) {
  if (!has) return 1;
  if (value < 0 || value > ProtoConverter::kMaxImagesPerReply) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_images must be in [0, ", ProtoConverter::kMaxImagesPerReply, "], got ", value));
  }
  return value;
}

std::string BaseName(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

ProtoConverter::ProtoConverter(const ModelProcessor* processor, const ImageLimits& image_limits)
    : processor_(processor), image_limits_(image_limits), builder_(processor->config().tokens) {}

uint64_t ProtoConverter::RandomSeed() const {
  absl::MutexLock lock(&seed_mu_);
  return absl::Uniform<uint64_t>(seed_gen_);
}

absl::StatusOr<SamplingParams> ProtoConverter::ToSamplingParams(
    const v1::TextParams& proto, std::vector<int32_t> stop_token_ids) const {
  const GenerationConfig& defaults = processor_->generation();
  SamplingParams p;
  p.max_tokens = proto.has_max_tokens() ? proto.max_tokens() : defaults.max_tokens;
  p.temperature = proto.has_temperature() ? proto.temperature() : defaults.temperature;
  p.top_p = proto.has_top_p() ? proto.top_p() : defaults.top_p;
  p.top_k = proto.has_top_k() ? proto.top_k() : defaults.top_k;
  p.min_p = proto.has_min_p() ? proto.min_p() : 0.0f;
  p.repetition_penalty =
      proto.has_repetition_penalty() ? proto.repetition_penalty() : defaults.repetition_penalty;
  p.seed = proto.has_seed() ? proto.seed() : RandomSeed();
  p.stop.assign(proto.stop().begin(), proto.stop().end());
  // ignore_eos (benchmarks, as vLLM's): generate max_tokens whatever the model says.
  if (!proto.ignore_eos()) p.stop_token_ids = std::move(stop_token_ids);
  if (absl::Status s = p.Validate(); !s.ok()) return InField("text", s);
  return p;
}

absl::Status ProtoConverter::ToImageParams(const v1::ImageParams& proto, absl::string_view field,
                                           Request* request) const {
  const GenerationConfig& defaults = processor_->generation();
  const ModelConfig& config = processor_->config();
  DiffusionParams& p = request->image;
  p.steps = proto.has_steps() ? proto.steps() : defaults.image_steps;
  p.guidance_scale = proto.has_guidance_scale() ? proto.guidance_scale() : defaults.guidance_scale;
  p.eta = proto.has_eta() ? proto.eta() : defaults.eta;
  p.seed = proto.has_seed() ? proto.seed() : RandomSeed();
  config.ApplyDiffusionTo(&p);
  const std::string& sampler = proto.sampler().empty() ? defaults.sampler : proto.sampler();
  if (sampler == "ddim") {
    p.solver = DiffusionSolver::kDdim;
  } else if (sampler == "ddpm") {
    p.solver = DiffusionSolver::kDdpm;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".sampler must be \"ddim\" or \"ddpm\", got \"", proto.sampler(), "\""));
  }
  if (absl::Status s = p.Validate(); !s.ok()) return InField(field, s);
  if (!(p.guidance_scale <= kMaxGuidanceScale)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".guidance_scale must be in [0, ",
                                                   kMaxGuidanceScale, "], got ", p.guidance_scale));
  }
  if (p.steps > config.diffusion.num_train_timesteps) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".steps must be at most the model's ",
                                                   config.diffusion.num_train_timesteps,
                                                   " training timesteps, got ", p.steps));
  }
  if (proto.preview_every() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".preview_every must be >= 0, got ", proto.preview_every()));
  }
  request->preview_every = proto.preview_every();
  return absl::OkStatus();
}

absl::StatusOr<PromptPart> ProtoConverter::ToImagePart(const v1::Image& proto,
                                                       absl::string_view field) const {
  absl::StatusOr<Image> image = DecodeImage(proto.data(), image_limits_);
  if (!image.ok()) return AboutField(absl::StrCat(field, ".data"), image.status());
  return PromptPart::Image(processor_->EncodeImage(*image));
}

int ProtoConverter::Positions(const std::vector<PromptPart>& prompt) const {
  int n = 0;
  for (const PromptPart& part : prompt) {
    n += part.is_image() ? processor_->config().image.num_patches()
                         : static_cast<int>(part.tokens.size());
  }
  return n;
}

absl::Status ProtoConverter::CheckTextFits(const Request& request,
                                           absl::string_view prompt_field) const {
  const int context = processor_->config().max_position_embeddings;
  const int prompt = Positions(request.prompt);
  if (prompt >= context) {
    return absl::InvalidArgumentError(absl::StrCat(prompt_field, ": the prompt takes ", prompt,
                                                   " positions, the model's context is ", context));
  }
  if (request.text.max_tokens > context - prompt) {
    return absl::InvalidArgumentError(absl::StrCat(
        "text.max_tokens must be at most ", context - prompt, " (the context is ", context,
        " positions, the prompt takes ", prompt, "), got ", request.text.max_tokens));
  }
  return absl::OkStatus();
}

absl::Status ProtoConverter::CheckImageFits(const Request& request,
                                            absl::string_view prompt_field) const {
  const int context = processor_->config().max_position_embeddings;
  const int prompt = Positions(request.prompt);
  const int image = processor_->config().image.num_patches() + 1;  // the patches and <eoi>
  if (prompt + image >= context) {
    return absl::InvalidArgumentError(absl::StrCat(prompt_field, ": the prompt takes ", prompt,
                                                   " positions and the image ", image,
                                                   ", the model's context is ", context));
  }
  return absl::OkStatus();
}

absl::StatusOr<Request> ProtoConverter::ToRequest(const v1::GenerateRequest& proto) const {
  const SpecialTokens& t = processor_->config().tokens;
  if (proto.parts().empty()) return absl::InvalidArgumentError("parts must not be empty");
  std::vector<ContentPart> parts;
  for (int i = 0; i < proto.parts_size(); ++i) {
    const v1::Part& part = proto.parts(i);
    const std::string field = absl::StrCat("parts[", i, "]");
    switch (part.kind_case()) {
      case v1::Part::kText:
        parts.push_back(PromptPart::Text(processor_->Tokenize(part.text())));
        break;
      case v1::Part::kImage: {
        ASSIGN_OR_RETURN(PromptPart image,
                         ToImagePart(part.image(), absl::StrCat(field, ".image")));
        parts.push_back(std::move(image));
        break;
      }
      case v1::Part::KIND_NOT_SET:
        return absl::InvalidArgumentError(absl::StrCat(field, " has neither text nor image"));
    }
  }
  if (Positions(parts) == 0) return absl::InvalidArgumentError("parts: the prompt is empty");
  Request r;
  r.kind = TaskKind::kText;
  r.prompt = builder_.Interleaved(parts).prompt;
  ASSIGN_OR_RETURN(r.max_images, ToMaxImages(proto.has_max_images(), proto.max_images()));
  if (r.max_images > 0) r.uncond_prompt = builder_.UnconditionalImagePrefix();
  ASSIGN_OR_RETURN(r.text, ToSamplingParams(proto.text(), {t.eos}));
  RETURN_IF_ERROR(ToImageParams(proto.image(), "image", &r));
  RETURN_IF_ERROR(CheckTextFits(r, "parts"));
  return r;
}

absl::StatusOr<Request> ProtoConverter::ToRequest(const v1::TextToImageRequest& proto) const {
  const std::vector<int32_t> prompt = processor_->Tokenize(proto.prompt());
  if (prompt.empty()) return absl::InvalidArgumentError("prompt must not be empty");
  BuiltPrompt built = builder_.TextToImage(prompt);
  Request r;
  r.kind = TaskKind::kTextToImage;
  r.prompt = std::move(built.prompt);
  r.uncond_prompt = std::move(built.uncond_prompt);
  r.starts_with_image = true;
  r.finish_after_image = true;
  RETURN_IF_ERROR(ToImageParams(proto.image(), "image", &r));
  RETURN_IF_ERROR(CheckImageFits(r, "prompt"));
  return r;
}

absl::StatusOr<Request> ProtoConverter::ToRequest(const v1::CaptionRequest& proto) const {
  const SpecialTokens& t = processor_->config().tokens;
  ASSIGN_OR_RETURN(PromptPart image, ToImagePart(proto.image(), "image"));
  Request r;
  r.kind = TaskKind::kCaption;
  r.prompt = builder_.Caption(image, processor_->Tokenize(proto.prompt())).prompt;
  ASSIGN_OR_RETURN(r.text, ToSamplingParams(proto.text(), {t.eos}));
  RETURN_IF_ERROR(CheckTextFits(r, "prompt"));
  return r;
}

absl::StatusOr<Request> ProtoConverter::ToRequest(const v1::ChatRequest& proto) const {
  const SpecialTokens& t = processor_->config().tokens;
  if (proto.messages().empty()) return absl::InvalidArgumentError("messages must not be empty");
  std::vector<ChatMessage> messages;
  for (int i = 0; i < proto.messages_size(); ++i) {
    const v1::Message& m = proto.messages(i);
    const std::string field = absl::StrCat("messages[", i, "]");
    ChatMessage message;
    ASSIGN_OR_RETURN(message.role, ToRole(m.role(), absl::StrCat(field, ".role")));
    for (int j = 0; j < m.parts_size(); ++j) {
      const v1::Part& part = m.parts(j);
      const std::string part_field = absl::StrCat(field, ".parts[", j, "]");
      switch (part.kind_case()) {
        case v1::Part::kText:
          message.parts.push_back(PromptPart::Text(processor_->Tokenize(part.text())));
          break;
        case v1::Part::kImage: {
          ASSIGN_OR_RETURN(PromptPart image,
                           ToImagePart(part.image(), absl::StrCat(part_field, ".image")));
          message.parts.push_back(std::move(image));
          break;
        }
        case v1::Part::KIND_NOT_SET:
          return absl::InvalidArgumentError(
              absl::StrCat(part_field, " has neither text nor image"));
      }
    }
    // An assistant turn may be empty (the model ended it at once); a question may not.
    if (Positions(message.parts) == 0 && message.role != ChatRole::kAssistant) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".parts: the message is empty"));
    }
    messages.push_back(std::move(message));
  }
  Request r;
  r.kind = TaskKind::kChat;
  r.prompt = builder_.Chat(messages).prompt;
  ASSIGN_OR_RETURN(r.max_images, ToMaxImages(proto.has_max_images(), proto.max_images()));
  if (r.max_images > 0) r.uncond_prompt = builder_.UnconditionalImagePrefix();
  ASSIGN_OR_RETURN(r.text, ToSamplingParams(proto.text(), {t.end_of_turn, t.eos}));
  RETURN_IF_ERROR(ToImageParams(proto.image(), "image", &r));
  RETURN_IF_ERROR(CheckTextFits(r, "messages"));
  return r;
}

absl::StatusOr<Request> ProtoConverter::ToRequest(const v1::EditImageRequest& proto) const {
  ASSIGN_OR_RETURN(PromptPart source, ToImagePart(proto.image(), "image"));
  const std::vector<int32_t> instruction = processor_->Tokenize(proto.instruction());
  if (instruction.empty()) return absl::InvalidArgumentError("instruction must not be empty");
  BuiltPrompt built = builder_.Edit(source, instruction);
  Request r;
  r.kind = TaskKind::kEdit;
  r.prompt = std::move(built.prompt);
  r.uncond_prompt = std::move(built.uncond_prompt);
  r.starts_with_image = true;
  r.finish_after_image = true;
  RETURN_IF_ERROR(ToImageParams(proto.image_params(), "image_params", &r));
  RETURN_IF_ERROR(CheckImageFits(r, "instruction"));
  return r;
}

absl::StatusOr<std::string> ProtoConverter::ToPng(const std::vector<float>& patches) const {
  return EncodePng(processor_->DecodeImage(patches));
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
      ASSIGN_OR_RETURN(*image->mutable_png(), ToPng(event.patches));
      image->set_width(processor_->config().image.image_size);
      image->set_height(processor_->config().image.image_size);
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
  const ModelConfig& config = processor_->config();
  const GenerationConfig& defaults = processor_->generation();
  v1::ModelInfo info;
  info.set_name(BaseName(processor_->model_dir()));
  info.set_server_version(INFUSION_VERSION);
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
  info.set_max_image_bytes(static_cast<int64_t>(image_limits_.max_bytes));
  info.set_max_image_pixels(image_limits_.max_pixels);
  return info;
}

}  // namespace infusion
