// The JSON bodies of the OpenAI-compatible HTTP API: the bytes a client POSTs to
// /v1/chat/completions, /v1/completions and /v1/images/generations, parsed as HttpServer does
// (nlohmann::json without exceptions) and read by each endpoint's parser (server/http_api.h).
// Every input goes through all three, so one corpus covers the fields they share.
//
// Properties: no crash, no exception escaping (nlohmann throws on a wrong type), every refusal is
// InvalidArgument and becomes a 400 whose body serialises as the server writes it; an accepted
// call is within the bounds the parser promises (images: n in [1, 8], previews in [0, 3], one
// image when streamed; text: no images drawn) and every float it holds is finite.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "fuzz/fuzz_check.h"
#include "nlohmann/json.hpp"
#include "server/http_api.h"

namespace {

using Json = nlohmann::json;
namespace http = infusion::server::http;

void CheckRefusal(const absl::Status& status, const http::FieldNames& names = {}) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  const http::Error error = http::ToError(status, names);
  FUZZ_CHECK(error.http_status == 400);
  // As HttpServer writes it: a field name can hold any bytes of the body, UTF-8 or not.
  const std::string body =
      http::ErrorBody(error).dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
  FUZZ_CHECK(!body.empty());
}

bool Finite(const std::optional<float>& value) { return !value || std::isfinite(*value); }

// Every number the parser hands the engine is one the engine can range-check: finite.
void CheckTextParams(const infusion::serving::TextParams& p) {
  FUZZ_CHECK(Finite(p.temperature) && Finite(p.top_p) && Finite(p.min_p) &&
             Finite(p.repetition_penalty));
}

void CheckImageOptions(const http::ImageCallOptions& options) {
  FUZZ_CHECK(options.n >= 1 && options.n <= http::kMaxImagesPerCall);
  FUZZ_CHECK(options.partial_images >= 0 && options.partial_images <= http::kMaxPartialImages);
  FUZZ_CHECK(!options.stream || options.n == 1);
  FUZZ_CHECK(options.size != "auto");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Json body = Json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return 0;  // HttpServer answers 400 "not valid JSON" itself

  absl::StatusOr<http::ChatCompletionCall> chat = http::ParseChatCompletion(body);
  if (chat.ok()) {
    FUZZ_CHECK(chat->request.max_images == 0);
    FUZZ_CHECK(body.is_object() && body.contains("messages"));
    FUZZ_CHECK(chat->request.messages.size() == body["messages"].size());
    CheckTextParams(chat->request.text);
  } else {
    CheckRefusal(chat.status());
  }

  http::FieldNames completion_names;
  completion_names.parts = "prompt";
  absl::StatusOr<http::CompletionCall> completion = http::ParseCompletion(body);
  if (completion.ok()) {
    FUZZ_CHECK(completion->request.max_images == 0);
    FUZZ_CHECK(completion->request.parts.size() == 1);
    FUZZ_CHECK(completion->names.parts == "prompt");
    CheckTextParams(completion->request.text);
  } else {
    CheckRefusal(completion.status(), completion_names);
  }

  absl::StatusOr<http::ImageGenerationCall> image = http::ParseImageGeneration(body);
  if (image.ok()) {
    CheckImageOptions(image->options);
    FUZZ_CHECK(Finite(image->request.image.guidance_scale));
  } else {
    CheckRefusal(image.status());
  }
  return 0;
}
