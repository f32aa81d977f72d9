#include "server/http_api.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

namespace infusion::server::http {

using engine::EncodeJpeg;
using engine::EncodePng;
using engine::Image;
using scheduler::FinishReason;
using serving::ImageParams;
using serving::InputMessage;
using serving::InputPart;
using serving::TextParams;

namespace {

using Json = nlohmann::json;

absl::Status Bad(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", what));
}

// JSON null counts as absent: clients serialise unset options as null.
const Json* Find(const Json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::Status ReadFloat(const Json& body, const char* key, std::optional<float>* out) {
  const Json* v = Find(body, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_number()) return Bad(key, "must be a number");
  // A JSON number past float's range (1e39) would become infinity, which every range check of
  // the engine's of the form `x >= 0` lets through (found by fuzz/http_json_fuzzer.cc).
  const double d = v->get<double>();
  if (!(std::abs(d) <= std::numeric_limits<float>::max())) {
    return Bad(key, absl::StrCat("is out of range, got ", d));
  }
  *out = static_cast<float>(d);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<int64_t>> ReadInteger(const Json& body, const char* key) {
  const Json* v = Find(body, key);
  if (v == nullptr) return std::optional<int64_t>();
  // 10.0 is how some clients (and JSON round trips through doubles) write 10.
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (std::floor(d) != d || std::abs(d) > 9e15) return Bad(key, "must be an integer");
    return std::optional<int64_t>(static_cast<int64_t>(d));
  }
  if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t{std::numeric_limits<int64_t>::max()}) {
    return Bad(key, "is too large");
  }
  if (!v->is_number_integer()) return Bad(key, "must be an integer");
  return std::optional<int64_t>(v->get<int64_t>());
}

absl::Status ReadInt32(const Json& body, const char* key, std::optional<int32_t>* out) {
  ASSIGN_OR_RETURN(std::optional<int64_t> v, ReadInteger(body, key));
  if (!v.has_value()) return absl::OkStatus();
  if (*v < std::numeric_limits<int32_t>::min() || *v > std::numeric_limits<int32_t>::max()) {
    return Bad(key, absl::StrCat("is out of range, got ", *v));
  }
  *out = static_cast<int32_t>(*v);
  return absl::OkStatus();
}

// OpenAI's seed is any 64-bit integer; infusion's generators take its bits unchanged.
absl::StatusOr<std::optional<uint64_t>> ReadSeed(const Json& body) {
  const Json* v = Find(body, "seed");
  if (v == nullptr) return std::optional<uint64_t>();
  if (v->is_number_unsigned()) return std::optional<uint64_t>(v->get<uint64_t>());
  ASSIGN_OR_RETURN(std::optional<int64_t> s, ReadInteger(body, "seed"));
  return std::optional<uint64_t>(static_cast<uint64_t>(*s));
}

absl::StatusOr<bool> ReadBool(const Json& body, const char* key) {
  const Json* v = Find(body, key);
  if (v == nullptr) return false;
  if (!v->is_boolean()) return Bad(key, "must be true or false");
  return v->get<bool>();
}

absl::StatusOr<std::string> ReadString(const Json& body, const char* key) {
  const Json* v = Find(body, key);
  if (v == nullptr) return std::string();
  if (!v->is_string()) return Bad(key, "must be a string");
  return v->get<std::string>();
}

absl::Status ReadStop(const Json& body, std::vector<std::string>* out) {
  const Json* v = Find(body, "stop");
  if (v == nullptr) return absl::OkStatus();
  if (v->is_string()) {
    out->push_back(v->get<std::string>());
    return absl::OkStatus();
  }
  if (!v->is_array()) return Bad("stop", "must be a string or an array of strings");
  for (size_t i = 0; i < v->size(); ++i) {
    if (!(*v)[i].is_string()) return Bad(absl::StrCat("stop[", i, "]"), "must be a string");
    out->push_back((*v)[i].get<std::string>());
  }
  return absl::OkStatus();
}

// Options of OpenAI's that would change the reply in ways infusion does not offer: refused rather
// than silently ignored, so a client never gets something other than it asked for.
absl::Status RefuseUnsupported(const Json& body) {
  ASSIGN_OR_RETURN(std::optional<int64_t> n, ReadInteger(body, "n"));
  if (n.has_value() && *n != 1) return Bad("n", absl::StrCat("must be 1, got ", *n));
  ASSIGN_OR_RETURN(bool logprobs, ReadBool(body, "logprobs"));
  if (logprobs) return Bad("logprobs", "is not supported");
  for (const char* penalty : {"frequency_penalty", "presence_penalty"}) {
    std::optional<float> value;
    RETURN_IF_ERROR(ReadFloat(body, penalty, &value));
    if (value.has_value() && *value != 0.0f) {
      return Bad(penalty, "is not supported (use repetition_penalty)");
    }
  }
  if (const Json* tools = Find(body, "tools"); tools != nullptr && !tools->empty()) {
    return Bad("tools", "are not supported");
  }
  return absl::OkStatus();
}

// The sampling fields shared by chat and completions, OpenAI's names plus vLLM's extensions
// (top_k, min_p, repetition_penalty, ignore_eos).
absl::Status ReadTextParams(const Json& body, TextParams* p, FieldNames* names) {
  RETURN_IF_ERROR(ReadInt32(body, "max_tokens", &p->max_tokens));
  std::optional<int32_t> max_completion_tokens;
  RETURN_IF_ERROR(ReadInt32(body, "max_completion_tokens", &max_completion_tokens));
  if (max_completion_tokens.has_value()) {
    // OpenAI's newer name wins over the deprecated one when both are sent.
    p->max_tokens = max_completion_tokens;
    names->max_tokens = "max_completion_tokens";
  }
  RETURN_IF_ERROR(ReadFloat(body, "temperature", &p->temperature));
  RETURN_IF_ERROR(ReadFloat(body, "top_p", &p->top_p));
  RETURN_IF_ERROR(ReadInt32(body, "top_k", &p->top_k));
  RETURN_IF_ERROR(ReadFloat(body, "min_p", &p->min_p));
  RETURN_IF_ERROR(ReadFloat(body, "repetition_penalty", &p->repetition_penalty));
  ASSIGN_OR_RETURN(p->seed, ReadSeed(body));
  RETURN_IF_ERROR(ReadStop(body, &p->stop));
  ASSIGN_OR_RETURN(p->ignore_eos, ReadBool(body, "ignore_eos"));
  return absl::OkStatus();
}

absl::Status ReadStreamOptions(const Json& body, bool* stream, bool* include_usage) {
  ASSIGN_OR_RETURN(*stream, ReadBool(body, "stream"));
  const Json* options = Find(body, "stream_options");
  if (options == nullptr) return absl::OkStatus();
  if (!options->is_object()) return Bad("stream_options", "must be an object");
  const Json* usage = Find(*options, "include_usage");
  if (usage == nullptr) return absl::OkStatus();
  if (!usage->is_boolean()) return Bad("stream_options.include_usage", "must be true or false");
  *include_usage = usage->get<bool>();
  return absl::OkStatus();
}

absl::Status CheckObject(const Json& body) {
  if (!body.is_object()) return absl::InvalidArgumentError("the request body must be a JSON object");
  return absl::OkStatus();
}

absl::StatusOr<InputPart> ReadContentPart(const Json& part, const std::string& field) {
  if (!part.is_object()) return Bad(field, "must be an object");
  ASSIGN_OR_RETURN(std::string type, ReadString(part, "type"));
  if (type == "text") {
    const Json* text = Find(part, "text");
    if (text == nullptr || !text->is_string()) return Bad(field + ".text", "must be a string");
    return InputPart::Text(text->get<std::string>());
  }
  if (type == "image_url") {
    const Json* image_url = Find(part, "image_url");
    std::string url;
    if (image_url != nullptr && image_url->is_string()) {
      url = image_url->get<std::string>();  // older clients send the URL itself
    } else if (image_url != nullptr && image_url->is_object() && Find(*image_url, "url") &&
               (*image_url)["url"].is_string()) {
      url = (*image_url)["url"].get<std::string>();
    } else {
      return Bad(field + ".image_url.url", "must be a string");
    }
    ASSIGN_OR_RETURN(std::string bytes, DecodeDataUrl(url, field + ".image_url.url"));
    return InputPart::Image(std::move(bytes));
  }
  return Bad(field + ".type", absl::StrCat("must be \"text\" or \"image_url\", got \"", type, "\""));
}

absl::StatusOr<InputMessage> ReadMessage(const Json& message, const std::string& field) {
  if (!message.is_object()) return Bad(field, "must be an object");
  InputMessage m;
  const Json* role = Find(message, "role");
  if (role == nullptr || !role->is_string()) return Bad(field + ".role", "must be a string");
  m.role = role->get<std::string>();
  // OpenAI's "developer" role is the system role of its newer models.
  if (m.role == "developer") m.role = "system";
  const Json* content = Find(message, "content");
  const std::string content_field = field + ".content";
  if (content == nullptr) {
    // An assistant turn that only called tools has no content; an empty turn is the engine's to
    // judge (it refuses an empty question, naming the message).
  } else if (content->is_string()) {
    m.parts.push_back(InputPart::Text(content->get<std::string>()));
  } else if (content->is_array()) {
    for (size_t j = 0; j < content->size(); ++j) {
      ASSIGN_OR_RETURN(InputPart part,
                       ReadContentPart((*content)[j], absl::StrCat(content_field, "[", j, "]")));
      m.parts.push_back(std::move(part));
    }
  } else {
    return Bad(content_field, "must be a string or an array of content parts");
  }
  return m;
}

// The first word of an engine message is the field at fault when it is followed by one of these
// ("top_p must be ...", "image.data: ...", "parts[0] has neither ...").
bool StartsWithField(absl::string_view message, size_t* end) {
  size_t i = 0;
  while (i < message.size() && (absl::ascii_isalnum(message[i]) || message[i] == '_' ||
                                message[i] == '.' || message[i] == '[' || message[i] == ']')) {
    ++i;
  }
  if (i == 0) return false;
  absl::string_view rest = message.substr(i);
  if (!absl::StartsWith(rest, ":") && !absl::StartsWith(rest, " must") &&
      !absl::StartsWith(rest, " has") && !absl::StartsWith(rest, " is") &&
      !absl::StartsWith(rest, " are")) {
    return false;
  }
  *end = i;
  return true;
}

// The engine's name of a field (serving/requests.h) -> the client's.
std::string ClientField(absl::string_view field, const FieldNames& names) {
  if (field == "text.max_tokens") return names.max_tokens;
  std::string out(field);
  for (absl::string_view prefix : {"text.", "image_params.", "image."}) {
    if (absl::StartsWith(out, prefix) && out != "image.data") {
      out = out.substr(prefix.size());
      break;
    }
  }
  if (out == "image.data") out = "image";
  if (out == "instruction") out = "prompt";
  if (absl::StartsWith(out, "parts")) out = names.parts + out.substr(5);
  // messages[i].parts[j] -> messages[i].content[j]
  for (size_t at = out.find(".parts"); at != std::string::npos; at = out.find(".parts", at)) {
    out.replace(at, 6, ".content");
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> DecodeDataUrl(const std::string& url, const std::string& field) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "data:")) {
    return Bad(field, "must be a data: URL (data:image/png;base64,...); the server fetches nothing");
  }
  const size_t comma = rest.find(',');
  if (comma == absl::string_view::npos) return Bad(field, "is a data: URL without a comma");
  const absl::string_view media = rest.substr(0, comma);
  if (!absl::EndsWith(media, ";base64")) return Bad(field, "must be base64 (data:...;base64,...)");
  if (!absl::StartsWith(media, "image/png") && !absl::StartsWith(media, "image/jpeg") &&
      !absl::StartsWith(media, "image/jpg")) {
    return Bad(field, absl::StrCat("must hold a PNG or a JPEG, got ", media));
  }
  std::string bytes;
  if (!absl::Base64Unescape(rest.substr(comma + 1), &bytes)) {
    return Bad(field, "holds invalid base64");
  }
  return bytes;
}

absl::StatusOr<ChatCompletionCall> ParseChatCompletion(const Json& body) {
  RETURN_IF_ERROR(CheckObject(body));
  ChatCompletionCall call;
  ASSIGN_OR_RETURN(call.model, ReadString(body, "model"));
  RETURN_IF_ERROR(RefuseUnsupported(body));
  const Json* messages = Find(body, "messages");
  if (messages == nullptr || !messages->is_array()) return Bad("messages", "must be an array");
  for (size_t i = 0; i < messages->size(); ++i) {
    ASSIGN_OR_RETURN(InputMessage m, ReadMessage((*messages)[i], absl::StrCat("messages[", i, "]")));
    call.request.messages.push_back(std::move(m));
  }
  RETURN_IF_ERROR(ReadTextParams(body, &call.request.text, &call.names));
  // A chat completion's reply is text: the OpenAI API has no place for images the model draws.
  call.request.max_images = 0;
  RETURN_IF_ERROR(ReadStreamOptions(body, &call.stream, &call.include_usage));
  return call;
}

absl::StatusOr<CompletionCall> ParseCompletion(const Json& body) {
  RETURN_IF_ERROR(CheckObject(body));
  CompletionCall call;
  call.names.parts = "prompt";
  ASSIGN_OR_RETURN(call.model, ReadString(body, "model"));
  RETURN_IF_ERROR(RefuseUnsupported(body));
  const Json* prompt = Find(body, "prompt");
  if (prompt != nullptr && prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) {
    prompt = &(*prompt)[0];  // a batch of one
  }
  if (prompt == nullptr || !prompt->is_string()) {
    return Bad("prompt", "must be a string (one prompt per request)");
  }
  call.prompt = prompt->get<std::string>();
  call.request.parts.push_back(InputPart::Text(call.prompt));
  call.request.max_images = 0;
  RETURN_IF_ERROR(ReadTextParams(body, &call.request.text, &call.names));
  ASSIGN_OR_RETURN(call.echo, ReadBool(body, "echo"));
  RETURN_IF_ERROR(ReadStreamOptions(body, &call.stream, &call.include_usage));
  return call;
}

namespace {

// The fields of both image endpoints: how many, which size and seed, the output format, and
// infusion's extensions (denoising steps, guidance scale).
absl::Status ReadImageOptions(const Json& body, ImageCallOptions* options, ImageParams* params) {
  ASSIGN_OR_RETURN(options->model, ReadString(body, "model"));
  ASSIGN_OR_RETURN(std::optional<int64_t> n, ReadInteger(body, "n"));
  if (n.has_value() && (*n < 1 || *n > kMaxImagesPerCall)) {
    return Bad("n", absl::StrCat("must be in [1, ", kMaxImagesPerCall, "], got ", *n));
  }
  options->n = static_cast<int>(n.value_or(1));
  ASSIGN_OR_RETURN(options->size, ReadString(body, "size"));
  if (options->size == "auto") options->size.clear();
  ASSIGN_OR_RETURN(std::string format, ReadString(body, "response_format"));
  if (!format.empty() && format != "b64_json") {
    return Bad("response_format",
               absl::StrCat("must be \"b64_json\" (the server keeps no files), got \"", format,
                            "\""));
  }
  ASSIGN_OR_RETURN(std::string output_format, ReadString(body, "output_format"));
  if (!output_format.empty() && output_format != "png" && output_format != "jpeg") {
    return Bad("output_format",
               absl::StrCat("must be \"png\" or \"jpeg\", got \"", output_format, "\""));
  }
  if (!output_format.empty()) options->output_format = output_format;
  ASSIGN_OR_RETURN(std::optional<int64_t> compression, ReadInteger(body, "output_compression"));
  if (compression.has_value() && (*compression < 0 || *compression > 100)) {
    return Bad("output_compression", absl::StrCat("must be in [0, 100], got ", *compression));
  }
  options->output_compression = static_cast<int>(compression.value_or(100));
  ASSIGN_OR_RETURN(options->stream, ReadBool(body, "stream"));
  if (options->stream && options->n != 1) {
    return Bad("n", absl::StrCat("must be 1 when stream is true, got ", options->n));
  }
  std::optional<int32_t> partial;
  RETURN_IF_ERROR(ReadInt32(body, "partial_images", &partial));
  if (partial.has_value() && (*partial < 0 || *partial > kMaxPartialImages)) {
    return Bad("partial_images",
               absl::StrCat("must be in [0, ", kMaxPartialImages, "], got ", *partial));
  }
  options->partial_images = partial.value_or(0);
  ASSIGN_OR_RETURN(options->seed, ReadSeed(body));
  RETURN_IF_ERROR(ReadInt32(body, "steps", &params->steps));
  RETURN_IF_ERROR(ReadFloat(body, "guidance_scale", &params->guidance_scale));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ImageGenerationCall> ParseImageGeneration(const Json& body) {
  RETURN_IF_ERROR(CheckObject(body));
  ImageGenerationCall call;
  const Json* prompt = Find(body, "prompt");
  if (prompt == nullptr || !prompt->is_string()) return Bad("prompt", "must be a string");
  call.request.prompt = prompt->get<std::string>();
  RETURN_IF_ERROR(ReadImageOptions(body, &call.options, &call.request.image));
  return call;
}

absl::StatusOr<ImageEditCall> ParseImageEdit(
    const std::vector<std::pair<std::string, std::string>>& fields, std::string image) {
  // A form's values are strings; those that read as JSON numbers or booleans count as such, so
  // that one reader checks both endpoints.
  Json body = Json::object();
  for (const auto& [name, value] : fields) {
    Json parsed = Json::parse(value, nullptr, /*allow_exceptions=*/false);
    body[name] = parsed.is_number() || parsed.is_boolean() ? parsed : Json(value);
  }
  ImageEditCall call;
  const Json* prompt = Find(body, "prompt");
  if (prompt == nullptr || !prompt->is_string()) return Bad("prompt", "must be a string");
  call.request.instruction = prompt->get<std::string>();
  if (image.empty()) return Bad("image", "must be a PNG or JPEG file");
  call.request.image.data = std::move(image);
  RETURN_IF_ERROR(ReadImageOptions(body, &call.options, &call.request.image_params));
  return call;
}

absl::StatusOr<std::string> EncodeOutput(const Image& image, const ImageCallOptions& options) {
  if (options.output_format == "jpeg") {
    return EncodeJpeg(image, std::max(1, options.output_compression));
  }
  return EncodePng(image);
}

absl::StatusOr<ImageEditCall> ParseImageEditForm(const httplib::MultipartFormDataMap& parts) {
  std::vector<std::pair<std::string, std::string>> fields;
  std::string image;
  for (const auto& [name, part] : parts) {
    if (name == "image" || name == "image[]") {
      image = part.content;
    } else if (part.filename.empty()) {
      fields.emplace_back(name, part.content);
    }
  }
  return ParseImageEdit(fields, std::move(image));
}

Error ToError(const absl::Status& status, const FieldNames& names) {
  Error e;
  std::string message(status.message());
  size_t end = 0;
  const bool about_field = (status.code() == absl::StatusCode::kInvalidArgument ||
                            status.code() == absl::StatusCode::kOutOfRange ||
                            status.code() == absl::StatusCode::kNotFound) &&
                           StartsWithField(message, &end);
  if (about_field) {
    e.param = ClientField(absl::string_view(message).substr(0, end), names);
    message = e.param + message.substr(end);
  }
  e.message = std::move(message);
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
      e.http_status = 400;
      e.type = "invalid_request_error";
      break;
    case absl::StatusCode::kUnauthenticated:
      e.http_status = 401;
      e.type = "invalid_request_error";
      e.code = "invalid_api_key";
      break;
    case absl::StatusCode::kPermissionDenied:
      e.http_status = 403;
      e.type = "permission_error";
      break;
    case absl::StatusCode::kNotFound:
      e.http_status = 404;
      e.type = "invalid_request_error";
      e.code = e.param == "model" ? "model_not_found" : "not_found";
      break;
    case absl::StatusCode::kResourceExhausted:
      e.http_status = 429;
      e.type = "rate_limit_error";
      e.code = "queue_full";
      e.retry = true;
      break;
    case absl::StatusCode::kUnavailable:
      e.http_status = 503;
      e.type = "server_error";
      e.code = "unavailable";
      break;
    case absl::StatusCode::kDeadlineExceeded:
      e.http_status = 504;
      e.type = "server_error";
      e.code = "timeout";
      break;
    default:
      e.http_status = 500;
      e.type = "server_error";
      break;
  }
  return e;
}

Json ErrorBody(const Error& error) {
  return Json{{"error",
               {{"message", error.message},
                {"type", error.type},
                {"param", error.param.empty() ? Json(nullptr) : Json(error.param)},
                {"code", error.code.empty() ? Json(nullptr) : Json(error.code)}}}};
}

const char* FinishReasonString(FinishReason reason) {
  return reason == FinishReason::kLength ? "length" : "stop";
}

}  // namespace infusion::server::http
