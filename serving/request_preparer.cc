#include "serving/request_preparer.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"

namespace infusion::serving {

using engine::BuiltPrompt;
using engine::ChatMessage;
using engine::ChatRole;
using engine::ContentPart;
using engine::DecodeImage;
using engine::DiffusionParams;
using engine::DiffusionSolver;
using engine::GenerationConfig;
using engine::Image;
using engine::ImageLimits;
using engine::ModelConfig;
using engine::ModelProcessor;
using engine::PromptPart;
using engine::SamplingParams;
using engine::SpecialTokens;
using scheduler::Request;
using scheduler::TaskKind;

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

absl::StatusOr<int> ToMaxImages(const std::optional<int32_t>& value) {
  if (!value.has_value()) return 1;
  if (*value < 0 || *value > RequestPreparer::kMaxImagesPerReply) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_images must be in [0, ", RequestPreparer::kMaxImagesPerReply, "], got ", *value));
  }
  return *value;
}

// Asked between the pieces of work a request's preparation does: a cancelled call or a passed
// deadline stops it there.
absl::Status CheckLive(const RequestOptions& options) {
  if (options.cancelled && options.cancelled()) {
    return absl::CancelledError("the request was cancelled while its input was prepared");
  }
  if (absl::Now() > options.deadline) {
    return absl::DeadlineExceededError("the deadline passed while the request's input was prepared");
  }
  return absl::OkStatus();
}

int CountImages(const std::vector<InputPart>& parts) {
  int n = 0;
  for (const InputPart& part : parts) n += part.kind == InputPart::Kind::kImage;
  return n;
}

void ApplyOptions(const RequestOptions& options, Request* request) {
  request->name = options.name;
  request->priority = options.priority;
  request->deadline = options.deadline;
}

}  // namespace

RequestPreparer::RequestPreparer(const ModelProcessor* processor, const ImageLimits& image_limits)
    : processor_(processor), image_limits_(image_limits), builder_(processor->config().tokens) {}

uint64_t RequestPreparer::RandomSeed() const {
  absl::MutexLock lock(&seed_mu_);
  return absl::Uniform<uint64_t>(seed_gen_);
}

absl::StatusOr<SamplingParams> RequestPreparer::ToSamplingParams(
    const TextParams& in, std::vector<int32_t> stop_token_ids) const {
  const GenerationConfig& defaults = processor_->generation();
  SamplingParams p;
  p.max_tokens = in.max_tokens.value_or(defaults.max_tokens);
  p.temperature = in.temperature.value_or(defaults.temperature);
  p.top_p = in.top_p.value_or(defaults.top_p);
  p.top_k = in.top_k.value_or(defaults.top_k);
  p.min_p = in.min_p.value_or(0.0f);
  p.repetition_penalty = in.repetition_penalty.value_or(defaults.repetition_penalty);
  p.seed = in.seed.has_value() ? *in.seed : RandomSeed();
  if (in.stop.size() > static_cast<size_t>(kMaxStopStrings)) {
    return absl::InvalidArgumentError(absl::StrCat("text.stop must hold at most ", kMaxStopStrings,
                                                   " strings, got ", in.stop.size()));
  }
  for (size_t i = 0; i < in.stop.size(); ++i) {
    if (in.stop[i].size() > static_cast<size_t>(kMaxStopStringBytes)) {
      return absl::InvalidArgumentError(absl::StrCat("text.stop[", i, "] must be at most ",
                                                     kMaxStopStringBytes, " bytes, got ",
                                                     in.stop[i].size()));
    }
  }
  p.stop = in.stop;
  // ignore_eos (benchmarks, as vLLM's): generate max_tokens whatever the model says.
  if (!in.ignore_eos) p.stop_token_ids = std::move(stop_token_ids);
  if (absl::Status s = p.Validate(); !s.ok()) return InField("text", s);
  return p;
}

absl::Status RequestPreparer::ToImageParams(const ImageParams& in, absl::string_view field,
                                            Request* request) const {
  const GenerationConfig& defaults = processor_->generation();
  const ModelConfig& config = processor_->config();
  DiffusionParams& p = request->image;
  p.steps = in.steps.value_or(defaults.image_steps);
  p.guidance_scale = in.guidance_scale.value_or(defaults.guidance_scale);
  p.eta = in.eta.value_or(defaults.eta);
  p.seed = in.seed.has_value() ? *in.seed : RandomSeed();
  config.ApplyDiffusionTo(&p);
  const std::string& sampler = in.sampler.has_value() ? *in.sampler : defaults.sampler;
  if (sampler == "ddim") {
    p.solver = DiffusionSolver::kDdim;
  } else if (sampler == "ddpm") {
    p.solver = DiffusionSolver::kDdpm;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".sampler must be \"ddim\" or \"ddpm\", got \"", sampler, "\""));
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
  if (in.preview_every < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".preview_every must be >= 0, got ", in.preview_every));
  }
  request->preview_every = in.preview_every;
  return absl::OkStatus();
}

absl::StatusOr<PromptPart> RequestPreparer::ToImagePart(const EncodedImage& in,
                                                        absl::string_view field,
                                                        const RequestOptions& options) const {
  RETURN_IF_ERROR(CheckLive(options));
  absl::StatusOr<Image> image = DecodeImage(in.data, image_limits_);
  if (!image.ok()) return AboutField(absl::StrCat(field, ".data"), image.status());
  RETURN_IF_ERROR(CheckLive(options));
  return PromptPart::Image(processor_->EncodeImage(*image));
}

absl::StatusOr<std::vector<ContentPart>> RequestPreparer::ToContentParts(
    const std::vector<InputPart>& parts, absl::string_view field,
    const RequestOptions& options) const {
  std::vector<ContentPart> out;
  out.reserve(parts.size());
  for (size_t i = 0; i < parts.size(); ++i) {
    const InputPart& part = parts[i];
    const std::string part_field = absl::StrCat(field, "[", i, "]");
    switch (part.kind) {
      case InputPart::Kind::kText:
        RETURN_IF_ERROR(CheckLive(options));
        out.push_back(PromptPart::Text(processor_->Tokenize(part.text)));
        break;
      case InputPart::Kind::kImage: {
        ASSIGN_OR_RETURN(PromptPart image,
                         ToImagePart(part.image, absl::StrCat(part_field, ".image"), options));
        out.push_back(std::move(image));
        break;
      }
      case InputPart::Kind::kNone:
        return absl::InvalidArgumentError(absl::StrCat(part_field, " has neither text nor image"));
    }
  }
  return out;
}

absl::Status RequestPreparer::CheckImagesCouldFit(int images, absl::string_view field) const {
  const int context = processor_->config().max_position_embeddings;
  const int64_t positions = int64_t{images} * processor_->config().image.num_patches();
  if (positions >= context) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", images, " images take ", positions,
                     " positions, the model's context is ", context));
  }
  return absl::OkStatus();
}

int RequestPreparer::Positions(const std::vector<PromptPart>& prompt) const {
  int n = 0;
  for (const PromptPart& part : prompt) {
    n += part.is_image() ? processor_->config().image.num_patches()
                         : static_cast<int>(part.tokens.size());
  }
  return n;
}

absl::Status RequestPreparer::CheckTextFits(const Request& request,
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

absl::Status RequestPreparer::CheckImageFits(const Request& request,
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

absl::StatusOr<Request> RequestPreparer::Prepare(const GenerateRequest& in) const {
  const SpecialTokens& t = processor_->config().tokens;
  if (in.parts.empty()) return absl::InvalidArgumentError("parts must not be empty");
  Request r;
  ApplyOptions(in.options, &r);
  r.kind = TaskKind::kText;
  // What needs no decoding first: a request refused for its parameters costs no image decoding.
  ASSIGN_OR_RETURN(r.max_images, ToMaxImages(in.max_images));
  ASSIGN_OR_RETURN(r.text, ToSamplingParams(in.text, {t.eos}));
  RETURN_IF_ERROR(ToImageParams(in.image, "image", &r));
  RETURN_IF_ERROR(CheckImagesCouldFit(CountImages(in.parts), "parts"));
  ASSIGN_OR_RETURN(std::vector<ContentPart> parts, ToContentParts(in.parts, "parts", in.options));
  if (Positions(parts) == 0) return absl::InvalidArgumentError("parts: the prompt is empty");
  r.prompt = builder_.Interleaved(parts).prompt;
  if (r.max_images > 0) r.uncond_prompt = builder_.UnconditionalImagePrefix();
  RETURN_IF_ERROR(CheckTextFits(r, "parts"));
  return r;
}

absl::StatusOr<Request> RequestPreparer::Prepare(const TextToImageRequest& in) const {
  Request r;
  ApplyOptions(in.options, &r);
  r.kind = TaskKind::kTextToImage;
  RETURN_IF_ERROR(ToImageParams(in.image, "image", &r));
  RETURN_IF_ERROR(CheckLive(in.options));
  const std::vector<int32_t> prompt = processor_->Tokenize(in.prompt);
  if (prompt.empty()) return absl::InvalidArgumentError("prompt must not be empty");
  BuiltPrompt built = builder_.TextToImage(prompt);
  r.prompt = std::move(built.prompt);
  r.uncond_prompt = std::move(built.uncond_prompt);
  r.starts_with_image = true;
  r.finish_after_image = true;
  RETURN_IF_ERROR(CheckImageFits(r, "prompt"));
  return r;
}

absl::StatusOr<Request> RequestPreparer::Prepare(const CaptionRequest& in) const {
  const SpecialTokens& t = processor_->config().tokens;
  Request r;
  ApplyOptions(in.options, &r);
  r.kind = TaskKind::kCaption;
  ASSIGN_OR_RETURN(r.text, ToSamplingParams(in.text, {t.eos}));
  ASSIGN_OR_RETURN(PromptPart image, ToImagePart(in.image, "image", in.options));
  RETURN_IF_ERROR(CheckLive(in.options));
  r.prompt = builder_.Caption(image, processor_->Tokenize(in.prompt)).prompt;
  RETURN_IF_ERROR(CheckTextFits(r, "prompt"));
  return r;
}

absl::StatusOr<Request> RequestPreparer::Prepare(const ChatRequest& in) const {
  const SpecialTokens& t = processor_->config().tokens;
  if (in.messages.empty()) return absl::InvalidArgumentError("messages must not be empty");
  Request r;
  ApplyOptions(in.options, &r);
  r.kind = TaskKind::kChat;
  // What needs no decoding first: a request refused for its parameters, its roles or its number
  // of images costs no image decoding.
  ASSIGN_OR_RETURN(r.max_images, ToMaxImages(in.max_images));
  ASSIGN_OR_RETURN(r.text, ToSamplingParams(in.text, {t.end_of_turn, t.eos}));
  RETURN_IF_ERROR(ToImageParams(in.image, "image", &r));
  std::vector<ChatMessage> messages(in.messages.size());
  int images = 0;
  for (size_t i = 0; i < in.messages.size(); ++i) {
    ASSIGN_OR_RETURN(messages[i].role,
                     ToRole(in.messages[i].role, absl::StrCat("messages[", i, "].role")));
    images += CountImages(in.messages[i].parts);
  }
  RETURN_IF_ERROR(CheckImagesCouldFit(images, "messages"));
  for (size_t i = 0; i < in.messages.size(); ++i) {
    const InputMessage& m = in.messages[i];
    const std::string field = absl::StrCat("messages[", i, "]");
    ChatMessage& message = messages[i];
    ASSIGN_OR_RETURN(message.parts,
                     ToContentParts(m.parts, absl::StrCat(field, ".parts"), in.options));
    // An assistant turn may be empty (the model ended it at once); a question may not.
    if (Positions(message.parts) == 0 && message.role != ChatRole::kAssistant) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".parts: the message is empty"));
    }
  }
  r.prompt = builder_.Chat(messages).prompt;
  if (r.max_images > 0) r.uncond_prompt = builder_.UnconditionalImagePrefix();
  RETURN_IF_ERROR(CheckTextFits(r, "messages"));
  return r;
}

absl::StatusOr<Request> RequestPreparer::Prepare(const EditImageRequest& in) const {
  Request r;
  ApplyOptions(in.options, &r);
  r.kind = TaskKind::kEdit;
  RETURN_IF_ERROR(ToImageParams(in.image_params, "image_params", &r));
  ASSIGN_OR_RETURN(PromptPart source, ToImagePart(in.image, "image", in.options));
  RETURN_IF_ERROR(CheckLive(in.options));
  const std::vector<int32_t> instruction = processor_->Tokenize(in.instruction);
  if (instruction.empty()) return absl::InvalidArgumentError("instruction must not be empty");
  BuiltPrompt built = builder_.Edit(source, instruction);
  r.prompt = std::move(built.prompt);
  r.uncond_prompt = std::move(built.uncond_prompt);
  r.starts_with_image = true;
  r.finish_after_image = true;
  RETURN_IF_ERROR(CheckImageFits(r, "instruction"));
  return r;
}

}  // namespace infusion::serving
