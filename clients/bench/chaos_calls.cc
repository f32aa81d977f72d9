#include "clients/bench/chaos_calls.h"

#include <google/protobuf/unknown_field_set.h>
#include <httplib.h>
#include <zlib.h>

#include <algorithm>
#include <functional>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "clients/bench/prompts.h"
#include "engine/codec/image.h"
#include "nlohmann/json.hpp"

namespace infusion::bench {

using engine::EncodePng;
using engine::Image;
using Json = nlohmann::json;

const char* FrontEndName(FrontEnd front_end) {
  return front_end == FrontEnd::kGrpc ? "grpc" : "http";
}

const char* PlanName(Plan plan) {
  switch (plan) {
    case Plan::kNormal: return "normal";
    case Plan::kCancel: return "cancel";
    case Plan::kDeadline: return "deadline";
    case Plan::kMalformed: return "malformed";
    case Plan::kUnknownFields: return "unknown_fields";
    case Plan::kStall: return "stall";
    case Plan::kAbandon: return "abandon";
    case Plan::kBurst: return "burst";
  }
  return "?";
}

// ---- ActiveClock ----

ActiveClock::ActiveClock()
    : ticker_([this] {
        // A tick comes every 50 ms; a gap of seconds is time the process did not run.
        while (!stop_.load()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          const double now = Elapsed();
          std::lock_guard<std::mutex> lock(mu_);
          if (now - last_tick_ > 2.0) paused_ += now - last_tick_ - 0.05;
          last_tick_ = now;
        }
      }) {}

ActiveClock::~ActiveClock() {
  stop_ = true;
  ticker_.join();
}

double ActiveClock::Elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double ActiveClock::Now() const {
  const double now = Elapsed();
  std::lock_guard<std::mutex> lock(mu_);
  // Right after a pause, other threads may run before the ticker has counted it.
  const double pending = now - last_tick_ > 2.0 ? now - last_tick_ - 0.05 : 0;
  return now - paused_ - pending;
}

double ActiveClock::paused_s() const {
  std::lock_guard<std::mutex> lock(mu_);
  return paused_;
}

// ---- CallTracker ----

int64_t CallTracker::Begin(CallRecord record) {
  std::lock_guard<std::mutex> lock(mu_);
  record.id = next_id_++;
  record.start = clock_->Now();
  const int64_t id = record.id;
  calls_.emplace(id, std::move(record));
  return id;
}

void CallTracker::FirstEvent(int64_t id) {
  const double now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  CallRecord& r = calls_.at(id);
  if (r.first_event < 0) r.first_event = now;
}

void CallTracker::Finish(int64_t id, const std::string& outcome, const std::string& detail,
                         const std::string& protocol_error) {
  const double now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  CallRecord& r = calls_.at(id);
  if (r.end >= 0) {  // a second outcome for one call: a bug in this tool, shown as one
    r.protocol_error += " finished twice;";
    return;
  }
  r.end = now;
  r.outcome = outcome;
  r.detail = detail.substr(0, 300);
  r.protocol_error = protocol_error;
}

std::vector<CallRecord> CallTracker::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<CallRecord> out;
  out.reserve(calls_.size());
  for (const auto& [id, r] : calls_) out.push_back(r);
  return out;
}

int CallTracker::InFlight(double* oldest_age) const {
  const double now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  double oldest = 0;
  for (const auto& [id, r] : calls_) {
    if (r.end >= 0) continue;
    ++n;
    oldest = std::max(oldest, now - r.start);
  }
  if (oldest_age != nullptr) *oldest_age = oldest;
  return n;
}

// ---- Inputs ----

namespace {

constexpr int kMessageLimitBytes = 2 << 20;  // the server's --max_message_mb 2 (chaos.cc)

std::string Be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

std::string PngChunk(const std::string& type, const std::string& data) {
  const std::string body = type + data;
  const uint32_t crc = static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size())));
  return Be32(static_cast<uint32_t>(data.size())) + body + Be32(crc);
}

std::string ValidPng(int width, int height) {
  Image image;
  image.width = width;
  image.height = height;
  image.rgb.resize(static_cast<size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = &image.rgb[(static_cast<size_t>(y) * width + x) * 3];
      const bool inside = (x - width / 2) * (x - width / 2) + (y - height / 2) * (y - height / 2) <
                          (width / 4) * (width / 4);
      p[0] = inside ? 220 : 250;
      p[1] = inside ? 30 : 250;
      p[2] = inside ? 40 : 250;
    }
  }
  return *EncodePng(image);
}

// `png` with its header's width and height replaced (the pixel data left as it is).
std::string PatchPngSize(std::string png, uint32_t width, uint32_t height) {
  // Signature (8 bytes), then IHDR: length (4), "IHDR" (4), width, height, ...; CRC after 13 bytes.
  png.replace(16, 4, Be32(width));
  png.replace(20, 4, Be32(height));
  const uint32_t crc = static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(png.data() + 12), 17));
  png.replace(29, 4, Be32(crc));
  return png;
}

// A 16x16 PNG whose image data inflates to 8 MiB, 10,000 times what its pixels need.
std::string PngBomb() {
  std::string ihdr = Be32(16) + Be32(16);
  ihdr += std::string{8, 2, 0, 0, 0};  // 8-bit RGB, deflate, no filter method, not interlaced
  const std::string zeros(8 << 20, '\0');
  uLongf size = compressBound(static_cast<uLong>(zeros.size()));
  std::string compressed(size, '\0');
  compress2(reinterpret_cast<Bytef*>(compressed.data()), &size,
            reinterpret_cast<const Bytef*>(zeros.data()), static_cast<uLong>(zeros.size()), 9);
  compressed.resize(size);
  return std::string("\x89PNG\r\n\x1a\n", 8) + PngChunk("IHDR", ihdr) +
         PngChunk("IDAT", compressed) + PngChunk("IEND", "");
}

std::string Garbage(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::string JpegScans(int scans) {
  std::string s = "\xFF\xD8";
  for (int i = 0; i < scans; ++i) s += std::string("\xFF\xDA\x00\x02", 4);
  return s + "\xFF\xD9";
}

std::string LongPrompt(int words) {
  std::string s;
  for (int i = 0; i < words; ++i) s += i % 2 ? "red circle " : "blue square ";
  return s;
}

const char kInvalidUtf8[] = "a red \xC3\x28 circle \xFF\xFE";

std::string DataUrl(const std::string& bytes) {
  return "data:image/png;base64," + absl::Base64Escape(bytes);
}

std::string Cut(const std::string& s) { return s.size() <= 300 ? s : s.substr(0, 300) + "..."; }

v1::ChatRequest ChatOf(const std::string& text, int max_tokens) {
  v1::ChatRequest r;
  v1::Message* m = r.add_messages();
  m->set_role("user");
  m->add_parts()->set_text(text);
  r.mutable_text()->set_max_tokens(max_tokens);
  r.mutable_text()->set_ignore_eos(true);
  return r;
}

v1::TextToImageRequest ImageOf(const std::string& prompt, int steps) {
  v1::TextToImageRequest r;
  r.set_prompt(prompt);
  r.mutable_image()->set_steps(steps);
  return r;
}

v1::CaptionRequest CaptionOf(const std::string& image) {
  v1::CaptionRequest r;
  r.mutable_image()->set_data(image);
  r.set_prompt("A picture of");
  r.mutable_text()->set_max_tokens(8);
  return r;
}

v1::EditImageRequest EditOf(const std::string& image, const std::string& instruction,
                            int steps) {
  v1::EditImageRequest r;
  r.mutable_image()->set_data(image);
  r.set_instruction(instruction);
  r.mutable_image_params()->set_steps(steps);
  return r;
}

Json ChatBody(const Json& content, int max_tokens, bool stream) {
  Json body = {{"messages", Json::array({{{"role", "user"}, {"content", content}}})},
               {"max_tokens", max_tokens},
               {"ignore_eos", true},
               {"stream", stream}};
  if (stream) body["stream_options"] = {{"include_usage", true}};
  return body;
}

Json ImageBody(const std::string& prompt, int steps, bool stream) {
  Json body = {{"prompt", prompt}, {"n", 1}, {"steps", steps}, {"response_format", "b64_json"}};
  if (stream) {
    body["stream"] = true;
    body["partial_images"] = 1;
  }
  return body;
}

std::string Multipart(const std::string& boundary,
                      const std::vector<std::pair<std::string, std::string>>& fields,
                      const std::string* image) {
  std::string s;
  for (const auto& [name, value] : fields) {
    absl::StrAppend(&s, "--", boundary, "\r\nContent-Disposition: form-data; name=\"", name,
                    "\"\r\n\r\n", value, "\r\n");
  }
  if (image != nullptr) {
    absl::StrAppend(&s, "--", boundary,
                    "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"in.png\"\r\n"
                    "Content-Type: image/png\r\n\r\n",
                    *image, "\r\n");
  }
  absl::StrAppend(&s, "--", boundary, "--\r\n");
  return s;
}

using GrpcSend = std::function<absl::StatusOr<client::StreamResult>(
    const client::InfusionClient&, const client::CallOptions&)>;

template <typename Request>
GrpcSend SendChat(Request r) {
  return [r](const client::InfusionClient& c, const client::CallOptions& o) { return c.Chat(r, o); };
}
GrpcSend SendImage(v1::TextToImageRequest r) {
  return [r](const client::InfusionClient& c, const client::CallOptions& o) {
    return c.TextToImage(r, o);
  };
}
GrpcSend SendCaption(v1::CaptionRequest r) {
  return [r](const client::InfusionClient& c, const client::CallOptions& o) {
    return c.Caption(r, o);
  };
}
GrpcSend SendEdit(v1::EditImageRequest r) {
  return [r](const client::InfusionClient& c, const client::CallOptions& o) {
    return c.EditImage(r, o);
  };
}

}  // namespace

struct ChaosCalls::Malformed {
  FrontEnd front_end;
  std::string op, name;
  std::vector<std::string> expected;
  GrpcSend grpc;  // gRPC: sends it
  // HTTP: the raw request.
  std::string method = "POST", path, content_type = "application/json", body;
};

ChaosCalls::ChaosCalls(std::unique_ptr<client::InfusionClient> client, std::string http_url,
                       std::string api_key, double call_timeout_s, CallTracker* tracker)
    : client_(std::move(client)),
      http_url_(std::move(http_url)),
      api_key_(std::move(api_key)),
      call_timeout_s_(call_timeout_s),
      tracker_(tracker),
      png_(ValidPng(48, 40)) {
  const std::string small = ValidPng(8, 8);
  const std::string huge_header = PatchPngSize(small, 40000, 40000);
  const std::string strip = PatchPngSize(small, 2000, 1);
  const std::string mismatch = PatchPngSize(small, 64, 64);
  const std::string truncated = png_.substr(0, png_.size() / 2);
  const std::string bomb = PngBomb();
  const std::string garbage = Garbage(2048, 7);
  const std::string no_scan = JpegScans(0);
  const std::string many_scans = JpegScans(200);
  const std::string over_image_limit = Garbage((1 << 20) + 4096, 9);  // --max_image_bytes 1 MiB
  const std::string long_prompt = LongPrompt(1500);       // far beyond the 256-position context
  const std::string over_message = std::string((3 << 20), 'a');  // --max_message_mb 2
  const std::vector<std::string> ia = {"INVALID_ARGUMENT"};
  const std::vector<std::string> bad = {"HTTP 400"};
  auto grpc = [&](const std::string& op, const std::string& name, GrpcSend send,
                  std::vector<std::string> expected = {"INVALID_ARGUMENT"}) {
    Malformed m;
    m.front_end = FrontEnd::kGrpc;
    m.op = op;
    m.name = name;
    m.expected = std::move(expected);
    m.grpc = std::move(send);
    malformed_.push_back(std::move(m));
  };
  auto http = [&](const std::string& op, const std::string& name, const std::string& path,
                  std::string body, std::vector<std::string> expected = {"HTTP 400"},
                  std::string content_type = "application/json", std::string method = "POST") {
    Malformed m;
    m.front_end = FrontEnd::kHttp;
    m.op = op;
    m.name = name;
    m.expected = std::move(expected);
    m.path = path;
    m.body = std::move(body);
    m.content_type = std::move(content_type);
    m.method = std::move(method);
    malformed_.push_back(std::move(m));
  };

  // gRPC: every field the validator checks, every way an image can be bad, unparsable bytes.
  grpc("t2i", "empty prompt", SendImage(ImageOf("", 4)));
  grpc("t2i", "invalid UTF-8 prompt", SendImage(ImageOf(kInvalidUtf8, 4)));
  {
    auto r = ImageOf("a red circle", 0);
    grpc("t2i", "steps 0", SendImage(r));
    r.mutable_image()->set_steps(5000);
    grpc("t2i", "steps 5000", SendImage(r));
    r.mutable_image()->set_steps(4);
    r.mutable_image()->set_guidance_scale(500);
    grpc("t2i", "guidance 500", SendImage(r));
    r.mutable_image()->set_guidance_scale(3);
    r.mutable_image()->set_sampler("euler");
    grpc("t2i", "sampler euler", SendImage(r));
    r.mutable_image()->set_sampler("ddim");
    r.mutable_image()->set_eta(2);
    grpc("t2i", "eta 2", SendImage(r));
  }
  grpc("t2i", "prompt longer than the context", SendImage(ImageOf(long_prompt, 4)));
  {
    v1::ChatRequest r;
    r.mutable_text()->set_max_tokens(4);
    grpc("chat", "no messages", SendChat(r));
    r = ChatOf("hello", 4);
    r.mutable_messages(0)->set_role("bot");
    grpc("chat", "role bot", SendChat(r));
    r = ChatOf("hello", 4);
    r.mutable_messages(0)->clear_parts();
    grpc("chat", "message without parts", SendChat(r));
    r = ChatOf("hello", 4);
    r.mutable_text()->set_top_p(0);
    grpc("chat", "top_p 0", SendChat(r));
    r = ChatOf("hello", 4);
    r.mutable_text()->set_temperature(-1);
    grpc("chat", "temperature -1", SendChat(r));
    r = ChatOf("hello", 4);
    r.mutable_text()->set_top_k(-1);
    grpc("chat", "top_k -1", SendChat(r));
    r = ChatOf("hello", 100000);
    grpc("chat", "max_tokens 100000", SendChat(r));
    r = ChatOf("hello", 4);
    r.set_max_images(20);
    grpc("chat", "max_images 20", SendChat(r));
    grpc("chat", "invalid UTF-8 text", SendChat(ChatOf(kInvalidUtf8, 4)));
    grpc("chat", "message over --max_message_mb", SendChat(ChatOf(over_message, 4)),
         {"RESOURCE_EXHAUSTED"});
    // Field 1 (messages) holding bytes that are no Message: the request does not parse.
    r.Clear();
    r.GetReflection()->MutableUnknownFields(&r)->AddLengthDelimited(
        1, std::string("\x0a\xff\xff\xff\xff\x0f", 6));
    grpc("chat", "unparsable protobuf", SendChat(r));
  }
  grpc("caption", "garbage image", SendCaption(CaptionOf(garbage)));
  grpc("caption", "empty image", SendCaption(CaptionOf("")));
  grpc("caption", "truncated PNG", SendCaption(CaptionOf(truncated)));
  grpc("caption", "PNG header 40000x40000", SendCaption(CaptionOf(huge_header)));
  grpc("caption", "PNG 2000x1 strip", SendCaption(CaptionOf(strip)));
  grpc("caption", "PNG header larger than its data", SendCaption(CaptionOf(mismatch)));
  grpc("caption", "PNG bomb (8 MiB of zeros in a 16x16)", SendCaption(CaptionOf(bomb)));
  grpc("caption", "JPEG without a scan", SendCaption(CaptionOf(no_scan)));
  grpc("caption", "JPEG of 200 scans", SendCaption(CaptionOf(many_scans)));
  grpc("caption", "image over --max_image_bytes", SendCaption(CaptionOf(over_image_limit)));
  grpc("edit", "garbage image", SendEdit(EditOf(garbage, "make it blue", 4)));
  grpc("edit", "empty instruction", SendEdit(EditOf(png_, "", 4)));
  grpc("edit", "no image", SendEdit([&] {
         auto r = EditOf("", "make it blue", 4);
         r.clear_image();
         return r;
       }()));
  grpc("edit", "steps -1", SendEdit(EditOf(png_, "make it blue", -1)));

  // HTTP: bad JSON, wrong types, out-of-range values, bad images, bad multipart, wrong routes.
  const std::string chat = "/v1/chat/completions";
  const std::string images = "/v1/images/generations";
  const std::string edits = "/v1/images/edits";
  http("chat", "truncated JSON", chat, "{\"messages\": [");
  http("chat", "unclosed array", chat, "[1,2");
  http("chat", "JSON null", chat, "null");
  http("chat", "empty body", chat, "");
  http("chat", "binary body", chat, std::string("\xff\xfe{}\x00\x01", 6));
  http("chat", "invalid UTF-8 in a string", chat,
       absl::StrCat("{\"messages\": [{\"role\": \"user\", \"content\": \"", kInvalidUtf8,
                    "\"}]}"));
  http("chat", "JSON nested 100000 deep", chat,
       std::string(100000, '[') + std::string(100000, ']'));
  http("chat", "messages a string", chat, R"({"messages": "hi"})");
  http("chat", "messages empty", chat, R"({"messages": []})");
  {
    auto with = [](const char* key, Json value) {
      Json b = ChatBody("hi", 4, false);
      b[key] = std::move(value);
      return b.dump();
    };
    http("chat", "max_tokens a string", chat, with("max_tokens", "ten"));
    http("chat", "temperature -5", chat, with("temperature", -5));
    http("chat", "n 2", chat, with("n", 2));
    http("chat", "logprobs true", chat, with("logprobs", true));
    http("chat", "max_tokens 100000", chat, with("max_tokens", 100000));
    http("chat", "top_p 7", chat, with("top_p", 7));
    http("chat", "model unknown", chat, with("model", "no-such-model"), {"HTTP 404"});
    http("chat", "role bot", chat,
         Json{{"messages", Json::array({{{"role", "bot"}, {"content", "hi"}}})}}.dump());
    auto image_part = [](const std::string& url) {
      return ChatBody(Json::array({{{"type", "text"}, {"text", "What is this?"}},
                                   {{"type", "image_url"}, {"image_url", {{"url", url}}}}}),
                      4, false)
          .dump();
    };
    http("caption", "image_url not base64", chat, image_part("data:image/png;base64,!!!!"));
    http("caption", "image_url not a data URL", chat, image_part("http://example.com/a.png"));
    http("caption", "image_url garbage bytes", chat, image_part(DataUrl(garbage)));
    http("caption", "image_url PNG header 40000x40000", chat, image_part(DataUrl(huge_header)));
    http("caption", "image_url PNG bomb", chat, image_part(DataUrl(bomb)));
    http("caption", "image_url truncated PNG", chat, image_part(DataUrl(truncated)));
  }
  http("chat", "prompt longer than the context", chat, ChatBody(long_prompt, 4, false).dump());
  // cpp-httplib answers 413 from the Content-Length alone and may close the connection while
  // the body is still being sent: the client then sees its write fail.
  http("chat", "body over --max_message_mb", chat, ChatBody(over_message, 4, false).dump(),
       {"HTTP 413", "transport: Write", "transport: Read"});
  http("completions", "prompt an object", "/v1/completions", R"({"prompt": {"a": 1}})");
  {
    auto with = [](const char* key, Json value) {
      Json b = ImageBody("a red circle", 4, false);
      b[key] = std::move(value);
      return b.dump();
    };
    http("t2i", "size 13x13", images, with("size", "13x13"));
    http("t2i", "n 99", images, with("n", 99));
    http("t2i", "steps 0", images, with("steps", 0));
    http("t2i", "prompt empty", images, with("prompt", ""));
    http("t2i", "prompt a number", images, with("prompt", 5));
    http("t2i", "partial_images 9", images, with("partial_images", 9));
    http("t2i", "response_format url", images, with("response_format", "url"));
  }
  const std::string boundary = "chaosBoundary7";
  const std::string multipart = "multipart/form-data; boundary=" + boundary;
  http("edit", "JSON instead of multipart", edits, R"({"prompt": "make it blue"})");
  http("edit", "multipart garbage", edits, Garbage(1500, 3), bad, multipart);
  http("edit", "multipart without image", edits,
       Multipart(boundary, {{"prompt", "make it blue"}}, nullptr), bad, multipart);
  http("edit", "multipart garbage image", edits,
       Multipart(boundary, {{"prompt", "make it blue"}, {"steps", "4"}}, &garbage), bad,
       multipart);
  http("edit", "multipart PNG bomb", edits,
       Multipart(boundary, {{"prompt", "make it blue"}, {"steps", "4"}}, &bomb), bad, multipart);
  {
    std::string cut = Multipart(boundary, {{"prompt", "make it blue"}}, &png_);
    cut.resize(cut.size() / 2);  // the closing boundary never comes
    http("edit", "multipart cut short", edits, cut, bad, multipart);
  }
  http("edit", "multipart without boundary", edits,
       Multipart(boundary, {{"prompt", "make it blue"}}, &png_), bad, "multipart/form-data");
  http("raw", "unknown route", "/v1/no/such/route", "{}", {"HTTP 404"});
  http("raw", "GET on a POST route", chat, "", {"HTTP 404", "HTTP 405"}, "", "GET");
}

absl::StatusOr<std::unique_ptr<ChaosCalls>> ChaosCalls::Create(const std::string& grpc_address,
                                                                const std::string& http_url,
                                                                const std::string& api_key,
                                                                double call_timeout_s,
                                                                CallTracker* tracker) {
  client::ClientOptions options;
  options.server = grpc_address;
  options.api_key = api_key;
  absl::StatusOr<std::unique_ptr<client::InfusionClient>> c =
      client::InfusionClient::Create(options);
  if (!c.ok()) return c.status();
  return std::unique_ptr<ChaosCalls>(
      new ChaosCalls(*std::move(c), http_url, api_key, call_timeout_s, tracker));
}

ChaosCalls::~ChaosCalls() = default;

int ChaosCalls::num_malformed() const { return static_cast<int>(malformed_.size()); }

std::vector<std::string> ChaosCalls::MalformedNames() const {
  std::vector<std::string> names;
  for (const Malformed& m : malformed_) {
    names.push_back(absl::StrCat(FrontEndName(m.front_end), "/", m.op, ": ", m.name));
  }
  return names;
}

CallSpec ChaosCalls::MalformedSpec(int i) const {
  return {malformed_[i].front_end, Plan::kMalformed, i};
}

// Normal ops: gRPC chat, t2i, caption, edit; HTTP the same plus completions and the streamed
// and unstreamed forms (see RunHttp).
constexpr int kGrpcOps = 4;
constexpr int kHttpOps = 7;

CallSpec ChaosCalls::Pick(const ChaosMix& mix, std::mt19937_64& rng) const {
  std::discrete_distribution<int> plans({mix.normal, mix.cancel, mix.deadline, mix.malformed,
                                         mix.unknown_fields, mix.stall, mix.abandon});
  static constexpr Plan kPlans[] = {Plan::kNormal,        Plan::kCancel, Plan::kDeadline,
                                    Plan::kMalformed,     Plan::kUnknownFields,
                                    Plan::kStall,         Plan::kAbandon};
  CallSpec spec;
  spec.plan = kPlans[plans(rng)];
  spec.front_end = rng() % 2 == 0 ? FrontEnd::kGrpc : FrontEnd::kHttp;
  // HTTP has no deadlines to send; abandoning a stream is an HTTP client's way.
  if (spec.plan == Plan::kDeadline) spec.front_end = FrontEnd::kGrpc;
  if (spec.plan == Plan::kAbandon) spec.front_end = FrontEnd::kHttp;
  if (spec.plan == Plan::kMalformed) {
    spec.index = static_cast<int>(rng() % malformed_.size());
    spec.front_end = malformed_[spec.index].front_end;
  } else {
    spec.index = static_cast<int>(rng() % (spec.front_end == FrontEnd::kGrpc ? kGrpcOps : kHttpOps));
  }
  return spec;
}

void ChaosCalls::Run(const CallSpec& spec, std::mt19937_64& rng) {
  if (spec.front_end == FrontEnd::kGrpc) {
    RunGrpc(spec, rng);
  } else {
    RunHttp(spec, rng);
  }
}

void ChaosCalls::RunGrpc(const CallSpec& spec, std::mt19937_64& rng) {
  CallRecord record;
  record.front_end = FrontEnd::kGrpc;
  record.plan = spec.plan;
  GrpcSend send;
  client::CallOptions call;
  const int index = static_cast<int>(rng() % 1000);
  if (spec.plan == Plan::kMalformed) {
    const Malformed& m = malformed_[spec.index];
    record.op = m.op;
    record.variant = m.name;
    record.expected = m.expected;
    send = m.grpc;
  } else {
    static constexpr const char* kOps[] = {"chat", "t2i", "caption", "edit"};
    record.op = spec.plan == Plan::kBurst ? "t2i" : kOps[spec.index];
    const int steps = 3 + static_cast<int>(rng() % 6);
    const int tokens = 4 + static_cast<int>(rng() % 21);
    if (record.op == "chat") {
      v1::ChatRequest r = ChatOf(ChatPrompt(index), tokens);
      if (spec.plan == Plan::kUnknownFields) {
        auto* unknown = r.GetReflection()->MutableUnknownFields(&r);
        unknown->AddVarint(99, 7);
        unknown->AddLengthDelimited(100, "from a newer client");
        r.mutable_text()->GetReflection()->MutableUnknownFields(r.mutable_text())->AddFixed32(
            77, 5);
      }
      send = SendChat(r);
    } else if (record.op == "t2i") {
      send = SendImage(ImageOf(ImagePrompt(index), spec.plan == Plan::kBurst ? 4 : steps));
    } else if (record.op == "caption") {
      send = SendCaption(CaptionOf(png_));
    } else {
      send = SendEdit(EditOf(png_, "make the circle blue", steps));
    }
    switch (spec.plan) {
      case Plan::kCancel: record.expected = {"CANCELLED", "OK", "RESOURCE_EXHAUSTED"}; break;
      case Plan::kDeadline:
        record.expected = {"DEADLINE_EXCEEDED", "OK", "RESOURCE_EXHAUSTED"};
        break;
      default: record.expected = {"OK", "RESOURCE_EXHAUSTED"};
    }
  }
  int cancel_after = 0;  // events; 0 = never
  double stall_s = 0;
  if (spec.plan == Plan::kCancel) {
    cancel_after = 1 + static_cast<int>(rng() % 3);
    record.variant = absl::StrCat("cancel after ", cancel_after, " events");
  } else if (spec.plan == Plan::kDeadline) {
    const int ms = 1 + static_cast<int>(rng() % 40);
    call.timeout = absl::Milliseconds(ms);
    record.variant = absl::StrCat("deadline ", ms, " ms");
  } else if (spec.plan == Plan::kStall) {
    stall_s = 1.0 + static_cast<double>(rng() % 2000) / 1000;
    record.variant = absl::StrFormat("stop reading for %.1f s", stall_s);
  }
  const int64_t id = tracker_->Begin(record);
  int events = 0, finishes = 0;
  std::string protocol_error;
  call.on_event = [&](const v1::GenerateResponse& event) {
    if (events++ == 0) tracker_->FirstEvent(id);
    if (finishes > 0) protocol_error += " an event after the finish;";
    if (event.has_finish()) ++finishes;
    if (stall_s > 0 && events == 1) {
      std::this_thread::sleep_for(std::chrono::duration<double>(stall_s));
    }
    return cancel_after == 0 || events < cancel_after;
  };
  const absl::StatusOr<client::StreamResult> result = send(*client_, call);
  if (finishes > 1) protocol_error += absl::StrCat(" ", finishes, " finish events;");
  if (result.ok()) {
    const std::string& reason = result->finish.reason();
    if (finishes != 1) protocol_error += " OK without a finish event;";
    if (reason != "stop" && reason != "length" && reason != "image") {
      protocol_error += absl::StrCat(" OK with finish reason \"", reason, "\";");
    }
    if ((record.op == "t2i" || record.op == "edit") && result->images.empty()) {
      protocol_error += " no image;";
    }
  }
  const absl::Status status = result.status();
  tracker_->Finish(id, absl::StatusCodeToString(status.code()), std::string(status.message()),
                   protocol_error);
}

void ChaosCalls::RunHttp(const CallSpec& spec, std::mt19937_64& rng) {
  CallRecord record;
  record.front_end = FrontEnd::kHttp;
  record.plan = spec.plan;
  std::string method = "POST", path, content_type = "application/json", body;
  bool stream = false;
  const int index = static_cast<int>(rng() % 1000);
  if (spec.plan == Plan::kMalformed) {
    const Malformed& m = malformed_[spec.index];
    record.op = m.op;
    record.variant = m.name;
    record.expected = m.expected;
    method = m.method;
    path = m.path;
    content_type = m.content_type;
    body = m.body;
  } else {
    // Plans that act on a stream take a streamed form of the op.
    const bool needs_stream = spec.plan == Plan::kCancel || spec.plan == Plan::kStall ||
                              spec.plan == Plan::kAbandon;
    int op = spec.plan == Plan::kBurst ? 3 : spec.index;
    if (needs_stream && (op == 1 || op == 2)) op = 0;  // chat and completions: streamed chat
    if (needs_stream && op == 3) op = 4;               // images: streamed images
    const int steps = 3 + static_cast<int>(rng() % 6);
    const int tokens = 4 + static_cast<int>(rng() % 21);
    switch (op) {
      case 0:
      case 1: {
        record.op = "chat";
        stream = op == 0;
        Json b = ChatBody(ChatPrompt(index), tokens, stream);
        if (spec.plan == Plan::kUnknownFields) {
          b["user"] = "chaos";
          b["metadata"] = {{"k", "v"}};
          b["x_future_field"] = Json::array({1, {{"nested", nullptr}}});
        }
        path = "/v1/chat/completions";
        body = b.dump();
        break;
      }
      case 2:
        record.op = "completions";
        path = "/v1/completions";
        body = Json{{"prompt", "a red circle and"}, {"max_tokens", tokens}}.dump();
        break;
      case 3:
      case 4:
        record.op = "t2i";
        stream = op == 4;
        path = "/v1/images/generations";
        body = ImageBody(ImagePrompt(index), spec.plan == Plan::kBurst ? 4 : steps, stream).dump();
        break;
      case 5:
        record.op = "caption";
        stream = true;
        path = "/v1/chat/completions";
        body = ChatBody(Json::array({{{"type", "text"}, {"text", "What is in this picture?"}},
                                     {{"type", "image_url"}, {"image_url", {{"url", DataUrl(png_)}}}}}),
                        8, true)
                   .dump();
        break;
      default: {
        record.op = "edit";
        const std::string boundary = absl::StrCat("chaos", rng());
        content_type = "multipart/form-data; boundary=" + boundary;
        path = "/v1/images/edits";
        body = Multipart(boundary,
                         {{"prompt", "make the circle blue"}, {"steps", std::to_string(steps)},
                          {"response_format", "b64_json"}},
                         &png_);
      }
    }
    switch (spec.plan) {
      case Plan::kCancel:
      case Plan::kAbandon:
        record.expected = {"client closed", "HTTP 200", "HTTP 429"};
        break;
      default: record.expected = {"HTTP 200", "HTTP 429"};
    }
  }
  int close_after = 0;  // SSE data events; 0 = never
  double stall_s = 0;
  if (spec.plan == Plan::kCancel) {
    close_after = 1 + static_cast<int>(rng() % 2);
    record.variant = absl::StrCat("close after ", close_after, " events");
  } else if (spec.plan == Plan::kStall) {
    stall_s = 1.0 + static_cast<double>(rng() % 3000) / 1000;
    record.variant = absl::StrFormat("stop reading for %.1f s", stall_s);
  } else if (spec.plan == Plan::kAbandon) {
    stall_s = 0.5 + static_cast<double>(rng() % 1500) / 1000;
    close_after = 1;
    record.variant = absl::StrFormat("stop reading, close after %.1f s", stall_s);
  }
  if (!stream && spec.plan != Plan::kMalformed) {
    record.variant += record.variant.empty() ? "unstreamed" : ", unstreamed";
  }
  const int64_t id = tracker_->Begin(record);

  httplib::Client client(http_url_);
  client.set_connection_timeout(30);
  // The watchdog judges hangs on active time; the socket's own timeout is wall time, which a
  // machine-wide pause (up to ~10 minutes) also counts.
  client.set_read_timeout(static_cast<time_t>(call_timeout_s_) + 900);
  client.set_write_timeout(60);
  httplib::Request request;
  request.method = method;
  request.path = path;
  if (!api_key_.empty()) request.set_header("Authorization", "Bearer " + api_key_);
  if (!content_type.empty() && method == "POST") request.set_header("Content-Type", content_type);
  request.body = body;

  // What came back: the body (kept up to 64 KiB), and for an event stream what its events said.
  std::string received, pending, event_type;
  int data_events = 0, done = 0, error_events = 0, finish_chunks = 0, completed = 0, after_end = 0;
  bool closed_by_us = false;
  request.response_handler = [&](const httplib::Response&) {
    tracker_->FirstEvent(id);
    return true;
  };
  request.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    if (received.size() < (64 << 10)) received.append(data, std::min<size_t>(size, 64 << 10));
    if (!stream) return true;
    pending.append(data, size);
    bool keep = true;
    for (size_t end; (end = pending.find('\n')) != std::string::npos;) {
      std::string line = pending.substr(0, end);
      pending.erase(0, end + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (absl::StartsWith(line, "event: ")) {
        event_type = line.substr(7);
        continue;
      }
      if (!absl::StartsWith(line, "data: ")) {
        if (line.empty()) event_type.clear();
        continue;
      }
      const std::string payload = line.substr(6);
      ++data_events;
      if (done > 0 || completed > 0 || error_events > 0) ++after_end;
      if (payload == "[DONE]") {
        ++done;
      } else {
        const Json j = Json::parse(payload, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded()) {
          continue;
        } else if (event_type == "error" || j.contains("error")) {
          ++error_events;
        } else if (absl::EndsWith(event_type, ".completed")) {
          ++completed;
        } else if (j.contains("choices") && j["choices"].is_array() && !j["choices"].empty() &&
                   !j["choices"][0].value("finish_reason", Json()).is_null()) {
          ++finish_chunks;
        }
      }
      if (data_events == 1 && stall_s > 0) {
        std::this_thread::sleep_for(std::chrono::duration<double>(stall_s));
      }
      if (close_after > 0 && data_events >= close_after) keep = false;
    }
    if (!keep) closed_by_us = true;
    return keep;
  };
  const httplib::Result result = client.send(request);
  std::string outcome, detail, protocol_error;
  if (!result) {
    outcome = closed_by_us && result.error() == httplib::Error::Canceled
                  ? "client closed"
                  : "transport: " + httplib::to_string(result.error());
  } else {
    const int status = result->status;
    const std::string& text = result->body.empty() ? received : result->body;
    outcome = absl::StrCat("HTTP ", status);
    if (status != 200) {
      detail = Cut(text);
      const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (status >= 400 && (j.is_discarded() || !j.contains("error"))) {
        protocol_error += " an error without an OpenAI error body;";
      }
    } else if (stream) {
      if (error_events > 0) {
        outcome = "HTTP 200 error event";
        detail = Cut(received);
      }
      if (after_end > 0) protocol_error += " events after the end of the stream;";
      if (record.op == "t2i" || record.op == "edit") {
        if (error_events + completed != 1) {
          protocol_error += absl::StrCat(" ", completed, " completed and ", error_events,
                                         " error events;");
        }
      } else if (error_events == 0 && (done != 1 || finish_chunks != 1)) {
        protocol_error +=
            absl::StrCat(" ", done, " [DONE] and ", finish_chunks, " finish chunks;");
      }
    } else {
      const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !(j.contains("choices") || j.contains("data"))) {
        protocol_error += " a 200 whose body is not a completion;";
      }
    }
  }
  tracker_->Finish(id, outcome, detail, protocol_error);
}

}  // namespace infusion::bench
