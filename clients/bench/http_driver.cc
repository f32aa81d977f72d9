#include "clients/bench/http_driver.h"

#include <httplib.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "clients/bench/prompts.h"
#include "nlohmann/json.hpp"

namespace infusion::bench {
namespace {

using Json = nlohmann::json;

// Feeds the server-sent events of a streamed chat completion, line by line, to `on_data` (the
// JSON after "data: "); bytes may arrive split anywhere.
class SseReader {
 public:
  template <typename OnData>
  void Feed(const char* data, size_t size, OnData on_data) {
    pending_.append(data, size);
    for (size_t end; (end = pending_.find('\n')) != std::string::npos;) {
      std::string line = pending_.substr(0, end);
      pending_.erase(0, end + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (absl::StartsWith(line, "data: ")) on_data(line.substr(6));
    }
  }

 private:
  std::string pending_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<HttpDriver>> HttpDriver::Create(const std::string& url,
                                                                const std::string& api_key,
                                                                const WorkloadParams& workload) {
  httplib::Client probe(url);
  if (!probe.is_valid()) return absl::InvalidArgumentError(absl::StrCat("bad --http URL ", url));
  probe.set_connection_timeout(5);
  httplib::Headers headers;
  if (!api_key.empty()) headers.emplace("Authorization", "Bearer " + api_key);
  const httplib::Result ready = probe.Get("/v1/models", headers);
  if (!ready) {
    return absl::UnavailableError(absl::StrCat(url, ": ", httplib::to_string(ready.error())));
  }
  if (ready->status != 200) {
    return absl::UnavailableError(absl::StrCat(url, "/v1/models: HTTP ", ready->status, " ",
                                               ready->body));
  }
  return std::unique_ptr<HttpDriver>(new HttpDriver(url, api_key, workload));
}

RequestTiming HttpDriver::Run(WorkKind kind, int index) {
  RequestTiming timing;
  timing.kind = kind;
  // One client per load-generator thread, so that its connection is kept alive between requests
  // as a real client's would be (a thread runs one request at a time).
  thread_local std::unique_ptr<httplib::Client> thread_client;
  thread_local std::string thread_url;
  if (thread_client == nullptr || thread_url != url_) {
    thread_url = url_;
    thread_client = std::make_unique<httplib::Client>(url_);
    thread_client->set_read_timeout(600);
    thread_client->set_keep_alive(true);
    thread_client->set_tcp_nodelay(true);
  }
  httplib::Client& client = *thread_client;
  httplib::Headers headers;
  if (!api_key_.empty()) headers.emplace("Authorization", "Bearer " + api_key_);
  timing.start = clock_.Now();
  if (kind == WorkKind::kChat) {
    const Json body = {
        {"messages", Json::array({{{"role", "user"}, {"content", ChatPrompt(index)}}})},
        {"max_tokens", workload_.chat_max_tokens},
        {"temperature", 0},
        {"ignore_eos", true},
        {"stream", true},
        {"stream_options", {{"include_usage", true}}}};
    SseReader reader;
    std::string error;
    httplib::Request request;
    request.method = "POST";
    request.path = "/v1/chat/completions";
    request.headers = headers;
    request.body = body.dump();
    request.set_header("Content-Type", "application/json");
    request.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
      reader.Feed(data, size, [&](const std::string& payload) {
        if (payload == "[DONE]") return;
        const Json chunk = Json::parse(payload, nullptr, /*allow_exceptions=*/false);
        if (chunk.is_discarded()) return;
        if (chunk.contains("error")) error = chunk["error"].dump();
        if (chunk.contains("usage") && chunk["usage"].is_object()) {
          timing.output_tokens = chunk["usage"].value("completion_tokens", 0);
        }
        if (!chunk.contains("choices") || chunk["choices"].empty()) return;
        const Json& delta = chunk["choices"][0]["delta"];
        if (delta.contains("content") && delta["content"].is_string() &&
            !delta["content"].get<std::string>().empty()) {
          const double now = clock_.Now();
          if (!timing.first_token) timing.first_token = now;
          timing.token_times.push_back(now);
        }
      });
      return true;
    };
    const httplib::Result result = client.send(request);
    timing.end = clock_.Now();
    if (!result) {
      timing.error = httplib::to_string(result.error());
    } else if (result->status != 200) {
      timing.error = absl::StrCat("HTTP ", result->status);
    } else if (!error.empty()) {
      timing.error = error;
    } else {
      timing.ok = true;
    }
    return timing;
  }
  const Json body = {{"prompt", ImagePrompt(index)},
                     {"n", 1},
                     {"response_format", "b64_json"},
                     {"seed", index},
                     {"steps", workload_.image_steps},
                     {"guidance_scale", workload_.guidance_scale}};
  const httplib::Result result =
      client.Post("/v1/images/generations", headers, body.dump(), "application/json");
  timing.end = clock_.Now();
  if (!result) {
    timing.error = httplib::to_string(result.error());
  } else if (result->status != 200) {
    timing.error = absl::StrCat("HTTP ", result->status, " ", result->body.substr(0, 200));
  } else {
    timing.image = timing.end;
    timing.ok = true;
  }
  return timing;
}

}  // namespace infusion::bench
