// The OpenAI HTTP API's JSON <-> serving/'s typed requests, for HttpServer. Only the wire format
// is handled here: a body's fields are read into a typed request, unset fields staying unset, and
// everything else (ranges, the model's defaults, prompt templates, whether it fits the context) is
// the InferenceEngine's, so HTTP and gRPC clients get the same rules. Errors come back in
// OpenAI's shape, naming the field as the client spelled it ("max_completion_tokens",
// "messages[1].content[0]"), also when the engine found the problem under its own name.
//
// Fields this API does not know are ignored, as OpenAI's own servers do: clients send extras
// (`user`, `store`, `metadata`) that do not change the output. A known field that would change
// the output in a way infusion cannot honour (n > 1, logprobs, tools) is refused with a 400.
//
// Pure functions: thread-safe, no model needed.
#ifndef INFUSION_SERVER_HTTP_API_H_
#define INFUSION_SERVER_HTTP_API_H_

#include <httplib.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/codec/image.h"
#include "nlohmann/json.hpp"
#include "scheduler/request.h"
#include "serving/requests.h"

namespace infusion::server::http {

// How the client spelled fields the engine knows under another name, for error messages.
struct FieldNames {
  std::string max_tokens = "max_tokens";  // or "max_completion_tokens"
  std::string parts = "parts";            // chat: unused; completions: "prompt"
};

// POST /v1/chat/completions.
struct ChatCompletionCall {
  serving::ChatRequest request;
  std::string model;  // empty when the client named none
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  FieldNames names;
};
absl::StatusOr<ChatCompletionCall> ParseChatCompletion(const nlohmann::json& body);

// POST /v1/completions: a plain prompt continued as text (no chat template, no images).
struct CompletionCall {
  serving::GenerateRequest request;
  std::string model;
  bool stream = false;
  bool include_usage = false;
  bool echo = false;  // the prompt is written before the completion
  std::string prompt;
  FieldNames names;
};
absl::StatusOr<CompletionCall> ParseCompletion(const nlohmann::json& body);

// What /v1/images/generations and /v1/images/edits share.
struct ImageCallOptions {
  std::string model;
  int n = 1;                     // images, each its own request; image i uses seed + i
  std::optional<uint64_t> seed;  // unset: the server draws one and reports it per image
  std::string size;              // empty: the model's size
  bool stream = false;           // server-sent events: partial images, then the image (n = 1)
  int partial_images = 0;        // previews streamed before the image, [0, 3] as OpenAI's
  std::string output_format = "png";  // "png" | "jpeg"
  int output_compression = 100;       // [0, 100]: the JPEG quality (a PNG is lossless)
};

// The bytes of `image` in `options.output_format`.
absl::StatusOr<std::string> EncodeOutput(const engine::Image& image,
                                         const ImageCallOptions& options);
inline constexpr int kMaxImagesPerCall = 8;
inline constexpr int kMaxPartialImages = 3;

// POST /v1/images/generations (JSON).
struct ImageGenerationCall {
  serving::TextToImageRequest request;
  ImageCallOptions options;
};
absl::StatusOr<ImageGenerationCall> ParseImageGeneration(const nlohmann::json& body);

// POST /v1/images/edits (multipart/form-data): `fields` are the form's text fields by name,
// `image` the bytes of its `image` file.
struct ImageEditCall {
  serving::EditImageRequest request;
  ImageCallOptions options;
};
absl::StatusOr<ImageEditCall> ParseImageEdit(
    const std::vector<std::pair<std::string, std::string>>& fields, std::string image);
// The same from the form's parts as cpp-httplib parsed them: the file part `image` (or
// `image[]`, OpenAI's clients' name for a list; one is served) and the parts without a filename
// as text fields; other files are ignored.
absl::StatusOr<ImageEditCall> ParseImageEditForm(const httplib::MultipartFormDataMap& parts);

// An error as the client sees it.
struct Error {
  int http_status = 500;
  std::string type;     // "invalid_request_error", "authentication_error", ...
  std::string code;     // machine-readable, may be empty
  std::string param;    // the field at fault, may be empty
  std::string message;  // starts with the field's name when there is one
  bool retry = false;   // 429: the client may retry (Retry-After is sent)
};

// A Status from parsing, the authenticator or the engine -> the OpenAI error. The engine names
// fields as serving/requests.h does ("text.top_p must be ..."); `names` turns them into the
// client's ("top_p must be ...", param "top_p").
Error ToError(const absl::Status& status, const FieldNames& names = {});
nlohmann::json ErrorBody(const Error& error);

// OpenAI's finish_reason for a request that ended normally: "stop" or "length".
const char* FinishReasonString(scheduler::FinishReason reason);

// The bytes of a `data:` URL holding a PNG or JPEG ("data:image/png;base64,..."); `field` names
// the URL in errors. Other URLs are refused: the server fetches nothing.
absl::StatusOr<std::string> DecodeDataUrl(const std::string& url, const std::string& field);

}  // namespace infusion::server::http

#endif  // INFUSION_SERVER_HTTP_API_H_
