// What a caller of InferenceEngine asks for, one struct per kind of request, in the caller's
// terms: text as strings, images as PNG/JPEG bytes. Proto-free and torch-free; the gRPC server
// maps its messages onto these one to one (server/proto_converter.h), so field names, and the
// names errors give them ("text.top_p", "messages[2].role", "image.data"), are the API's.
//
// An unset optional takes the model's default (generation.json) when the engine prepares the
// request; an unset seed is drawn at random. A field set to zero is set: guidance_scale = 0 is
// unconditional generation, not "the default".
#ifndef INFUSION_SERVING_REQUESTS_H_
#define INFUSION_SERVING_REQUESTS_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace infusion::serving {

// Text sampling (vLLM's / the OpenAI API's SamplingParams).
struct TextParams {
  std::optional<int32_t> max_tokens;        // >= 1, and fits after the prompt
  std::optional<float> temperature;         // >= 0; 0 = greedy
  std::optional<float> top_p;               // (0, 1]; 1 = off
  std::optional<int32_t> top_k;             // >= 0; 0 = off
  std::optional<float> min_p;               // [0, 1]; 0 = off (not in generation.json)
  std::optional<float> repetition_penalty;  // > 0; 1 = off
  std::optional<uint64_t> seed;             // unset: drawn at random
  std::vector<std::string> stop;            // generation ends before the first match
  bool ignore_eos = false;  // generate max_tokens whatever the model says (benchmarks)
};

// Image generation (diffusers' pipeline arguments).
struct ImageParams {
  std::optional<int32_t> steps;         // denoising steps, [1, 1000] and the model's schedule
  std::optional<float> guidance_scale;  // [0, 50]; 1 = no classifier-free guidance
  std::optional<float> eta;             // [0, 1], DDIM only: 0 = deterministic
  std::optional<uint64_t> seed;         // unset: drawn at random
  std::optional<std::string> sampler;   // "ddim" | "ddpm"
  int32_t preview_every = 0;            // a preview of the clean image every N steps; 0 = none
};

// An image as a client sends it, decoded (and checked against the engine's ImageLimits) when the
// request is prepared.
struct EncodedImage {
  std::string data;  // PNG or JPEG bytes
};

// One piece of user content. kNone stands for a part that says neither (a proto oneof left
// unset); it is refused with an error naming the part.
struct InputPart {
  enum class Kind { kNone, kText, kImage };
  Kind kind = Kind::kNone;
  std::string text;    // kText
  EncodedImage image;  // kImage

  static InputPart Text(std::string text) {
    InputPart p;
    p.kind = Kind::kText;
    p.text = std::move(text);
    return p;
  }
  static InputPart Image(std::string encoded) {
    InputPart p;
    p.kind = Kind::kImage;
    p.image.data = std::move(encoded);
    return p;
  }
};

struct InputMessage {
  std::string role;  // "system" | "user" | "assistant"
  std::vector<InputPart> parts;
};

// What every request carries besides its content; none of it changes the output.
struct RequestOptions {
  std::string name;                              // for logs (e.g. the RPC)
  int priority = 0;                              // higher is admitted first
  absl::Time deadline = absl::InfiniteFuture();  // then the request ends with DEADLINE_EXCEEDED
  // Asked between the pieces of work that prepare the request before Submit returns (each
  // image's decoding and encoding, each text's tokenization): true ends the preparation with
  // CANCELLED (e.g. the gRPC client went away). Used only during Submit; may be empty.
  std::function<bool()> cancelled;
};

// Open generation over interleaved text and images; the model may draw images itself.
struct GenerateRequest {
  std::vector<InputPart> parts;
  std::optional<int32_t> max_images;  // images the model may open itself, [0, 16]; unset = 1
  TextParams text;
  ImageParams image;  // for the images the model opens
  RequestOptions options;
};

struct TextToImageRequest {
  std::string prompt;
  ImageParams image;
  RequestOptions options;
};

struct CaptionRequest {
  EncodedImage image;
  std::string prompt;  // optional text after the image, e.g. "A photo of"
  TextParams text;
  RequestOptions options;
};

struct ChatRequest {
  std::vector<InputMessage> messages;
  std::optional<int32_t> max_images;  // images the reply may hold, [0, 16]; unset = 1
  TextParams text;
  ImageParams image;  // for the images the reply opens
  RequestOptions options;
};

struct EditImageRequest {
  EncodedImage image;
  std::string instruction;
  ImageParams image_params;
  RequestOptions options;
};

}  // namespace infusion::serving

#endif  // INFUSION_SERVING_REQUESTS_H_
