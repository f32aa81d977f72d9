#include "server/http_server.h"

#include <httplib.h>
#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <functional>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "engine/codec/image.h"
#include "nlohmann/json.hpp"
#include "server/api_key_authenticator.h"
#include "server/http_api.h"
#include "server/server_metrics.h"
#include "serving/inference_engine.h"

namespace infusion::server {

using engine::EncodePng;
using engine::Image;
using scheduler::EventSink;
using scheduler::IsNormalEnd;
using scheduler::RequestEvent;
using scheduler::RequestId;
using scheduler::Usage;
using serving::EditImageRequest;
using serving::ImageParams;
using serving::InferenceEngine;
using serving::RequestOptions;
using serving::TextToImageRequest;

namespace {

// cpp-httplib's server with a deeper accept queue. Debian's cpp-httplib is a shared library that
// listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG is compiled into it; defining it here
// changes nothing): a burst of new connections beyond that has its handshakes dropped, and each
// such client waits for TCP's 1 s retransmission before its request even arrives (measured: a
// 1 s time-to-first-token tail when 32 clients connect at once). Linux lets listen() be called
// again on a listening socket to change its backlog; the kernel caps it at net.core.somaxconn.
template <typename Base>
class Listener : public Base {
 public:
  using Base::Base;
  bool DeepenBacklog() { return ::listen(this->svr_sock_, 4096) == 0; }
};

// Binds `server` to host:port (0: any free port, written to *bound_port) and runs its listener
// on *thread; returns once it accepts connections.
absl::Status Listen(httplib::Server& server, const std::function<bool()>& deepen_backlog,
                    absl::string_view what, const std::string& host, int port, int* bound_port,
                    std::thread* thread) {
  // "[::]" is how --host names IPv6's any address for gRPC; sockets want it without brackets.
  std::string address = host;
  if (address.size() > 2 && address.front() == '[' && address.back() == ']') {
    address = address.substr(1, address.size() - 2);
  }
  // cpp-httplib's default socket options add SO_REUSEPORT, with which a second server binds the
  // same port and the kernel splits connections between the two; a busy port must be an error.
  server.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  const bool bound = port == 0 ? (*bound_port = server.bind_to_any_port(address)) > 0
                               : server.bind_to_port(address, port);
  if (!bound) {
    return absl::UnavailableError(absl::StrCat(what, ": cannot listen on ", host, ":", port));
  }
  if (port != 0) *bound_port = port;
  if (!deepen_backlog()) LOG(WARNING) << what << ": cannot raise the listen backlog from 5";
  *thread = std::thread([&server] { server.listen_after_bind(); });
  // cpp-httplib 0.11's stop() does nothing until the listener runs, and has no call to wait for
  // it: without this wait, a Stop() right after Start() (a failed warm-up) would hang.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!server.is_running() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  if (!server.is_running()) {
    return absl::InternalError(absl::StrCat(what, ": the listener did not start"));
  }
  return absl::OkStatus();
}

}  // namespace

namespace {

using Json = nlohmann::json;

constexpr char kJson[] = "application/json";
constexpr char kPrometheusText[] = "text/plain; version=0.0.4; charset=utf-8";
// How long a handler waits for an event before it checks for a stop, and a stream probes its
// client with an SSE comment.
constexpr absl::Duration kPoll = absl::Milliseconds(250);
constexpr absl::Duration kProbeAfter = absl::Milliseconds(500);

// Generated text can end in the middle of a UTF-8 character (a byte-fallback token sampled
// alone); JSON must be UTF-8, so such bytes become U+FFFD instead of an exception.
std::string Dump(const Json& json) {
  return json.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

absl::Status FinishStatus(const RequestEvent& finish) {
  if (IsNormalEnd(finish.reason)) return absl::OkStatus();
  if (finish.status.ok()) return absl::InternalError("generation failed");
  return finish.status;
}

}  // namespace

// A request's events for the handler thread that pulls them (cpp-httplib's handlers block; the
// engine thread must not).
class HttpEventQueue : public EventSink {
 public:
  struct Timed {
    RequestEvent event;
    absl::Time time;  // when the engine emitted it: latency metrics must not count the hand-off
  };

  void OnEvent(RequestEvent event) override {
    absl::MutexLock lock(&mu_);
    events_.push_back(Timed{std::move(event), absl::Now()});
  }

  // The next event, or nullopt after `timeout` without one.
  std::optional<Timed> Next(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !events_.empty(); };
    if (!mu_.AwaitWithTimeout(absl::Condition(&ready), timeout)) return std::nullopt;
    Timed next = std::move(events_.front());
    events_.pop_front();
    return next;
  }

 private:
  absl::Mutex mu_;
  std::deque<Timed> events_ ABSL_GUARDED_BY(mu_);
};

namespace {

// The next event of a streamed reply, waiting at most kPoll. Without one, nullopt, and
// *keep_streaming says whether the stream goes on: it ends (and the request is cancelled) when the
// server is draining or the client is gone. Silence (queued, prefilling) is broken by an SSE
// comment now and then, since only a write finds out whether the client is still there.
std::optional<HttpEventQueue::Timed> NextStreamEvent(HttpEventQueue& events,
                                                      const std::atomic<bool>& stopping,
                                                      RequestId id, InferenceEngine* engine,
                                                      httplib::DataSink& sink,
                                                      absl::Time* last_write,
                                                      bool* keep_streaming) {
  std::optional<HttpEventQueue::Timed> next = events.Next(kPoll);
  if (next.has_value()) return next;
  *keep_streaming = true;
  if (stopping) {
    engine->Cancel(id);
    *keep_streaming = false;
  } else if (absl::Now() - *last_write > kProbeAfter) {
    *last_write = absl::Now();
    static constexpr char kComment[] = ": waiting\n\n";
    if (!sink.write(kComment, sizeof(kComment) - 1)) {
      engine->Cancel(id);
      *keep_streaming = false;
    }
  }
  return std::nullopt;
}

}  // namespace

namespace {

// The JSON of a text reply in OpenAI's two shapes: chat completions and (legacy) completions.
struct TextFormat {
  bool chat = true;
  std::string id;
  std::string model;
  int64_t created = 0;

  Json Envelope(const char* object) const {
    return Json{{"id", id}, {"object", object}, {"created", created}, {"model", model}};
  }

  static Json UsageJson(const Usage& usage) {
    return Json{{"prompt_tokens", usage.prompt_tokens},
                {"completion_tokens", usage.generated_tokens},
                {"total_tokens", usage.prompt_tokens + usage.generated_tokens}};
  }

  // One streamed piece; `finish_reason` null until the last.
  Json Chunk(const std::string& text, const Json& finish_reason, bool first,
             bool include_usage) const {
    Json choice{{"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish_reason}};
    if (chat) {
      Json delta = Json::object();
      if (first) delta["role"] = "assistant";
      if (!text.empty() || first) delta["content"] = text;
      choice["delta"] = delta;
    } else {
      choice["text"] = text;
    }
    Json chunk = Envelope(chat ? "chat.completion.chunk" : "text_completion");
    chunk["choices"] = Json::array({choice});
    if (include_usage) chunk["usage"] = nullptr;  // OpenAI: null on every chunk but the last
    return chunk;
  }

  Json UsageChunk(const Usage& usage) const {
    Json chunk = Envelope(chat ? "chat.completion.chunk" : "text_completion");
    chunk["choices"] = Json::array();
    chunk["usage"] = UsageJson(usage);
    return chunk;
  }

  Json Whole(const std::string& text, const char* finish_reason, const Usage& usage) const {
    Json choice{{"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish_reason}};
    if (chat) {
      choice["message"] = Json{{"role", "assistant"}, {"content", text}};
    } else {
      choice["text"] = text;
    }
    Json reply = Envelope(chat ? "chat.completion" : "text_completion");
    reply["choices"] = Json::array({choice});
    reply["usage"] = UsageJson(usage);
    return reply;
  }
};

void SendError(httplib::Response& res, const http::Error& error) {
  res.status = error.http_status;
  if (error.retry) res.set_header("Retry-After", "1");
  res.set_content(Dump(http::ErrorBody(error)), kJson);
}

absl::StatusOr<Json> ParseBody(const httplib::Request& req) {
  Json body = Json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return absl::InvalidArgumentError("the request body is not valid JSON");
  return body;
}

}  // namespace

namespace {

// How often a handler that computes a whole reply checks that its client is still connected.
constexpr absl::Duration kProbeEvery = absl::Milliseconds(100);

// A peer's address as cpp-httplib writes Request::remote_addr / local_addr.
std::string NumericHost(const sockaddr_storage& address, socklen_t length, int* port) {
  char host[NI_MAXHOST] = {};
  char service[NI_MAXSERV] = {};
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&address), length, host, sizeof(host),
                  service, sizeof(service), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "";
  }
  *port = std::atoi(service);
  return host;
}

// The socket of the connection `req` came on. cpp-httplib 0.11 gives a handler no way to it (and
// no Request::is_connection_closed), so it is looked up: the TLS session knows it; otherwise it
// is the open socket whose two ends are the request's local and remote address. While the
// handler runs, cpp-httplib keeps that socket open, so the descriptor found stays its own.
int ConnectionFd(const httplib::Request& req) {
  if (req.ssl != nullptr) return SSL_get_fd(req.ssl);
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int found = -1;
  while (const dirent* entry = readdir(dir)) {
    int fd = 0;
    if (!absl::SimpleAtoi(entry->d_name, &fd)) continue;
    sockaddr_storage local{}, remote{};
    socklen_t local_length = sizeof(local), remote_length = sizeof(remote);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_length) != 0 ||
        (local.ss_family != AF_INET && local.ss_family != AF_INET6) ||
        getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &remote_length) != 0) {
      continue;
    }
    int local_port = -1, remote_port = -1;
    if (NumericHost(local, local_length, &local_port) == req.local_addr &&
        local_port == req.local_port &&
        NumericHost(remote, remote_length, &remote_port) == req.remote_addr &&
        remote_port == req.remote_port) {
      found = fd;
      break;
    }
  }
  closedir(dir);
  return found;
}

// Whether the client of a call that answers at the end (no stream, so no write to fail) has
// closed its connection: asked at most every kProbeEvery, since the reply's events may keep
// coming. A peer that shut down its side (POLLRDHUP) is gone: HTTP clients wait for the reply
// with the connection open.
class ConnectionProbe {
 public:
  explicit ConnectionProbe(const httplib::Request& req) : req_(&req) {}

  bool ClientGone() {
    const absl::Time now = absl::Now();
    if (now < next_) return false;
    next_ = now + kProbeEvery;
    if (fd_ == kNotLookedUp) fd_ = ConnectionFd(*req_);
    if (fd_ < 0) return false;
    pollfd probe{fd_, POLLRDHUP, 0};
    return poll(&probe, 1, 0) > 0 && (probe.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
  }

 private:
  static constexpr int kNotLookedUp = -2;
  const httplib::Request* req_;
  int fd_ = kNotLookedUp;
  absl::Time next_ = absl::Now() + kProbeEvery;
};

}  // namespace

// One admitted API call: its gate ticket, its metrics and log line, and its request id. Shared by
// the handler and, for a stream, by the content provider that outlives the handler.
class HttpServer::Call {
 public:
  Call(const Environment& env, const httplib::Request& req, std::string route,
       std::string request_id, CallGate::Ticket ticket, absl::Time arrival)
      : recorder_(env.metrics, Frontend::kHttp, std::move(route), std::move(request_id), arrival),
        ticket_(std::move(ticket)),
        probe_(req) {}
  ~Call() { End(absl::CancelledError("the client went away")); }  // no-op once ended

  const std::string& request_id() const { return recorder_.request_id(); }
  absl::Time arrival() const { return recorder_.arrival(); }

  // The metrics of one event of the call's request.
  void Observe(const HttpEventQueue::Timed& timed) { recorder_.Observe(timed.event, timed.time); }

  // Counts the call once, with the outcome it ended with, and logs it.
  void End(const absl::Status& status) { recorder_.End(status.code()); }

  // Whether the client left; for replies computed whole, asked only while the handler runs.
  bool ClientGone() { return probe_.ClientGone(); }

  // Marks `options` as this call's: named by its request id, and cancelled (its preparation
  // stopping between images and texts) once the client leaves. The engine asks `cancelled` only
  // within Submit, on the handler's thread, while the call is alive.
  void Attach(RequestOptions* options) {
    options->name = request_id();
    options->cancelled = [this] { return ClientGone(); };
  }

 private:
  CallRecorder recorder_;
  CallGate::Ticket ticket_;
  ConnectionProbe probe_;
};

HttpServer::HttpServer(Environment env)
    : env_(std::move(env)), created_(absl::ToUnixSeconds(absl::Now())) {}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                              Environment env) {
  std::unique_ptr<HttpServer> s(new HttpServer(std::move(env)));
  std::function<bool()> deepen_backlog;
  if (options.tls_cert.empty()) {
    auto plain = std::make_unique<Listener<httplib::Server>>();
    deepen_backlog = [server = plain.get()] { return server->DeepenBacklog(); };
    s->server_ = std::move(plain);
  } else {
    auto tls = std::make_unique<Listener<httplib::SSLServer>>(options.tls_cert.c_str(),
                                                              options.tls_key.c_str());
    deepen_backlog = [server = tls.get()] { return server->DeepenBacklog(); };
    s->server_ = std::move(tls);
  }
  if (!s->server_->is_valid()) return absl::InvalidArgumentError("HTTP: invalid TLS certificate or key");
  const int threads = options.threads;
  s->server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s->server_->set_payload_max_length(options.max_body_bytes);
  // Server-sent events are many small writes: without TCP_NODELAY, Nagle's algorithm holds each
  // one back until the client acknowledges the previous (up to its 40 ms delayed ACK).
  s->server_->set_tcp_nodelay(true);
  // cpp-httplib closes a kept-alive connection after 5 requests by default, so a busy client
  // reconnects (and may meet a full accept queue) every fifth call. A connection holds a pool
  // thread only while it is open, and an idle one is closed after the keep-alive timeout.
  s->server_->set_keep_alive_max_count(100000);
  s->AddRoutes();
  RETURN_IF_ERROR(Listen(*s->server_, deepen_backlog, "HTTP", options.host, options.port,
                         &s->port_, &s->thread_));
  return s;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  stopping_ = true;
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

void HttpServer::AddRoutes() {
  httplib::Server& s = *server_;
  s.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}", kJson);
  });
  s.Get("/ready", [this](const httplib::Request&, httplib::Response& res) {
    const bool ready = ready_ && !env_.gate->closed();
    res.status = ready ? 200 : 503;
    res.set_content(ready ? "{\"status\":\"ready\"}" : "{\"status\":\"not ready\"}", kJson);
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(Metrics(), kPrometheusText);
  });
  s.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
    Serve("Models", req, res, [this](std::shared_ptr<Call> call, const httplib::Request& req,
                                     httplib::Response& res) { Models(*call, req, res); });
  });
  s.Get(R"(/v1/models/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
    Serve("Models", req, res, [this](std::shared_ptr<Call> call, const httplib::Request& req,
                                     httplib::Response& res) { Models(*call, req, res); });
  });
  s.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    Serve("ChatCompletions", req, res,
          [this](std::shared_ptr<Call> call, const httplib::Request& req, httplib::Response& res) {
            ChatCompletions(call, req, res);
          });
  });
  s.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    Serve("Completions", req, res,
          [this](std::shared_ptr<Call> call, const httplib::Request& req, httplib::Response& res) {
            Completions(call, req, res);
          });
  });
  s.Post("/v1/images/generations", [this](const httplib::Request& req, httplib::Response& res) {
    Serve("ImageGenerations", req, res,
          [this](std::shared_ptr<Call> call, const httplib::Request& req, httplib::Response& res) {
            ImageGenerations(call, req, res);
          });
  });
  s.Post("/v1/images/edits", [this](const httplib::Request& req, httplib::Response& res) {
    Serve("ImageEdits", req, res,
          [this](std::shared_ptr<Call> call, const httplib::Request& req, httplib::Response& res) {
            ImageEdits(call, req, res);
          });
  });
  // Whatever cpp-httplib answers by itself (404 no route, 413 body too large, 400 unparsable
  // request) gets a body in OpenAI's shape too, so clients show a message instead of a parse error.
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    http::Error e;
    e.http_status = res.status;
    e.type = "invalid_request_error";
    if (res.status == 404) {
      e.code = "not_found";
      e.message = absl::StrCat("no route ", req.method, " ", req.path);
    } else if (res.status == 413) {
      e.code = "request_too_large";
      e.message = "the request body is larger than the server accepts (--max_message_mb)";
    } else {
      e.type = res.status >= 500 ? "server_error" : "invalid_request_error";
      e.message = absl::StrCat("HTTP ", res.status);
    }
    res.set_content(Dump(http::ErrorBody(e)), kJson);
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    LOG(ERROR) << "HTTP handler: " << what;
    http::Error e;
    e.http_status = 500;
    e.type = "server_error";
    e.message = absl::StrCat("internal error: ", what);
    SendError(res, e);
  });
}

template <typename Handler>
void HttpServer::Serve(const char* route, const httplib::Request& req, httplib::Response& res,
                       Handler handler) {
  const absl::Time arrival = absl::Now();
  std::string request_id = RequestIdFrom(req.get_header_value("x-request-id"));
  res.set_header("x-request-id", request_id);
  std::optional<CallGate::Ticket> ticket = env_.gate->TryEnter();
  absl::Status admitted = ticket.has_value()
                              ? absl::OkStatus()
                              : absl::UnavailableError("the server is shutting down");
  if (admitted.ok() && env_.authenticator != nullptr) {
    admitted = env_.authenticator->Authenticate(req.get_header_value("Authorization"));
  }
  if (!admitted.ok()) {
    CallRecorder(env_.metrics, Frontend::kHttp, route, request_id, arrival).End(admitted.code());
    if (admitted.code() == absl::StatusCode::kUnauthenticated) {
      res.set_header("WWW-Authenticate", "Bearer");
    }
    SendError(res, http::ToError(admitted));
    return;
  }
  auto call = std::make_shared<Call>(env_, req, route, std::move(request_id),
                                     *std::move(ticket), arrival);
  handler(std::move(call), req, res);
}

std::string HttpServer::Metrics() const { return ScrapeMetrics(env_.collectables); }

std::string ScrapeMetrics(const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables) {
  std::vector<prometheus::MetricFamily> families;
  for (const std::weak_ptr<prometheus::Collectable>& weak : collectables) {
    if (std::shared_ptr<prometheus::Collectable> collectable = weak.lock()) {
      for (prometheus::MetricFamily& family : collectable->Collect()) {
        families.push_back(std::move(family));
      }
    }
  }
  return prometheus::TextSerializer().Serialize(families);
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& host, int port,
    std::vector<std::weak_ptr<prometheus::Collectable>> collectables) {
  std::unique_ptr<MetricsServer> s(new MetricsServer());
  auto server = std::make_unique<Listener<httplib::Server>>();
  const std::function<bool()> deepen_backlog = [raw = server.get()] {
    return raw->DeepenBacklog();
  };
  s->server_ = std::move(server);
  // Scrapes are short and few; two threads let a slow scraper not hold up the next one. Every
  // response closes its connection, so that an idle scraper's kept-alive connection never holds
  // one of the two threads.
  s->server_->new_task_queue = [] { return new httplib::ThreadPool(2); };
  s->server_->set_keep_alive_max_count(1);
  s->server_->Get("/metrics", [collectables = std::move(collectables)](
                                  const httplib::Request&, httplib::Response& res) {
    res.set_content(ScrapeMetrics(collectables), kPrometheusText);
  });
  s->server_->Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}", kJson);
  });
  RETURN_IF_ERROR(Listen(*s->server_, deepen_backlog, "metrics", host, port, &s->port_,
                         &s->thread_));
  return s;
}

MetricsServer::MetricsServer() = default;

MetricsServer::~MetricsServer() {
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

void HttpServer::Models(Call& call, const httplib::Request& req, httplib::Response& res) {
  const std::string& name = env_.engine->model_name();
  const Json model{{"id", name}, {"object", "model"}, {"created", created_}, {"owned_by", "infusion"}};
  if (req.matches.size() > 1) {
    if (req.matches[1].str() != name) {
      const absl::Status unknown = absl::NotFoundError(absl::StrCat(
          "model must be \"", name, "\" (the one served here), got \"", req.matches[1].str(),
          "\""));
      call.End(unknown);
      SendError(res, http::ToError(unknown));
      return;
    }
    call.End(absl::OkStatus());
    res.set_content(Dump(model), kJson);
    return;
  }
  call.End(absl::OkStatus());
  res.set_content(Dump(Json{{"object", "list"}, {"data", Json::array({model})}}), kJson);
}

namespace {

absl::Status CheckModel(const std::string& asked, const std::string& served) {
  if (asked.empty() || asked == served) return absl::OkStatus();
  return absl::NotFoundError(absl::StrCat("model must be \"", served,
                                          "\" (the one served here; GET /v1/models), got \"",
                                          asked, "\""));
}

// A streamed text reply: the state the content provider keeps between its calls.
struct TextStream {
  std::shared_ptr<HttpEventQueue> events;
  RequestId id = 0;
  TextFormat format;
  bool include_usage = false;
  std::string prefix;  // completions' echo: sent as the first piece
  bool first = true;
  bool finished = false;
  absl::Time last_write = absl::Now();
};

bool WriteSse(httplib::DataSink& sink, const std::string& data) {
  const std::string line = absl::StrCat("data: ", data, "\n\n");
  return sink.write(line.data(), line.size());
}

}  // namespace

template <typename Typed>
void HttpServer::RunText(std::shared_ptr<Call> call, const Typed& request, bool chat, bool stream,
                         bool include_usage, const std::string& prefix,
                         const http::FieldNames& names, httplib::Response& res) {
  auto events = std::make_shared<HttpEventQueue>();
  absl::StatusOr<RequestId> id = env_.engine->Submit(request, events);
  if (!id.ok()) {
    call->End(id.status());
    SendError(res, http::ToError(id.status(), names));
    return;
  }
  TextFormat format{chat, absl::StrCat(chat ? "chatcmpl-" : "cmpl-", call->request_id()),
                    env_.engine->model_name(), absl::ToUnixSeconds(call->arrival())};
  InferenceEngine* engine = env_.engine;
  if (!stream) {
    std::string text = prefix;
    bool cancelled = false;
    bool client_gone = false;
    while (true) {
      // A client that left frees its KV blocks at the engine's next step, as a stream's does.
      if (!client_gone && !cancelled && call->ClientGone()) {
        engine->Cancel(*id);
        client_gone = true;
      }
      std::optional<HttpEventQueue::Timed> next = events->Next(kProbeEvery);
      if (!next.has_value()) {
        // A drain past its grace period: the engine ends the request at its next step.
        if (stopping_ && !cancelled && !client_gone) {
          engine->Cancel(*id);
          cancelled = true;
        }
        continue;
      }
      call->Observe(*next);
      const RequestEvent& event = next->event;
      if (event.type == RequestEvent::Type::kText) text += event.text;
      if (event.type != RequestEvent::Type::kFinish) continue;
      absl::Status status = FinishStatus(event);
      if (cancelled && absl::IsCancelled(status)) {
        status = absl::UnavailableError("the server is shutting down");
      }
      call->End(status);
      if (!status.ok()) {
        SendError(res, http::ToError(status, names));
      } else {
        res.set_content(
            Dump(format.Whole(text, http::FinishReasonString(event.reason), event.usage)), kJson);
      }
      return;
    }
  }
  auto state = std::make_shared<TextStream>();
  state->events = std::move(events);
  state->id = *id;
  state->format = std::move(format);
  state->include_usage = include_usage;
  state->prefix = prefix;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, engine, call, state](size_t /*offset*/, httplib::DataSink& sink) {
        if (state->first) {
          state->first = false;
          // The role comes first, as OpenAI's streams do; clients wait for it.
          if (!WriteSse(sink, Dump(state->format.Chunk(state->prefix, nullptr, /*first=*/true,
                                                       state->include_usage)))) {
            engine->Cancel(state->id);
            return false;
          }
        }
        bool keep_streaming = true;
        std::optional<HttpEventQueue::Timed> next = NextStreamEvent(
            *state->events, stopping_, state->id, engine, sink, &state->last_write,
            &keep_streaming);
        if (!next.has_value()) return keep_streaming;
        call->Observe(*next);
        const RequestEvent& event = next->event;
        state->last_write = absl::Now();
        if (event.type == RequestEvent::Type::kText) {
          if (!WriteSse(sink, Dump(state->format.Chunk(event.text, nullptr, /*first=*/false,
                                                       state->include_usage)))) {
            engine->Cancel(state->id);  // the client is gone: free its KV blocks
            return false;
          }
          return true;
        }
        if (event.type != RequestEvent::Type::kFinish) return true;
        state->finished = true;
        const absl::Status status = FinishStatus(event);
        call->End(status);
        if (!status.ok()) {
          // The status line has gone out as 200: the error travels as an event, as OpenAI's do.
          WriteSse(sink, Dump(http::ErrorBody(http::ToError(status))));
        } else {
          WriteSse(sink, Dump(state->format.Chunk("", http::FinishReasonString(event.reason),
                                                  /*first=*/false, state->include_usage)));
          if (state->include_usage) WriteSse(sink, Dump(state->format.UsageChunk(event.usage)));
          WriteSse(sink, "[DONE]");
        }
        sink.done();
        return true;
      },
      [engine, state](bool /*success*/) {
        // The response is gone before the request ended (write failed, server stopping).
        if (!state->finished) engine->Cancel(state->id);
      });
}

namespace {

ImageParams& ParamsOf(TextToImageRequest& request) { return request.image; }
ImageParams& ParamsOf(EditImageRequest& request) { return request.image_params; }
const char* EventPrefix(const TextToImageRequest&) { return "image_generation"; }
const char* EventPrefix(const EditImageRequest&) { return "image_edit"; }

bool WriteSseEvent(httplib::DataSink& sink, const std::string& event, const Json& data) {
  const std::string text = absl::StrCat("event: ", event, "\ndata: ", Dump(data), "\n\n");
  return sink.write(text.data(), text.size());
}

// A streamed image: the state the content provider keeps between its calls.
struct ImageStream {
  std::shared_ptr<HttpEventQueue> events;
  RequestId id = 0;
  std::string prefix;  // "image_generation" | "image_edit"
  std::string size;
  uint64_t seed = 0;
  int partial_images = 0;
  http::ImageCallOptions options;  // the output format
  int partials_sent = 0;
  std::vector<float> image;  // the final patches
  std::shared_ptr<const Image> pixels;  // and the engine's decode of them, if any
  bool finished = false;
  absl::Time last_write = absl::Now();
};

}  // namespace

void HttpServer::StreamImage(std::shared_ptr<Call> call, std::shared_ptr<HttpEventQueue> events,
                             RequestId id, const std::string& prefix, const std::string& size,
                             uint64_t seed, const http::ImageCallOptions& options,
                             httplib::Response& res) {
  auto state = std::make_shared<ImageStream>();
  state->events = std::move(events);
  state->id = id;
  state->prefix = prefix;
  state->size = size;
  state->seed = seed;
  state->partial_images = options.partial_images;
  state->options = options;
  InferenceEngine* engine = env_.engine;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, engine, call, state](size_t /*offset*/, httplib::DataSink& sink) {
        bool keep_streaming = true;
        std::optional<HttpEventQueue::Timed> next = NextStreamEvent(
            *state->events, stopping_, state->id, engine, sink, &state->last_write,
            &keep_streaming);
        if (!next.has_value()) return keep_streaming;
        call->Observe(*next);
        RequestEvent& event = next->event;
        const Json common{{"created_at", absl::ToUnixSeconds(call->arrival())},
                          {"size", state->size},
                          {"output_format", state->options.output_format},
                          {"quality", "auto"},
                          {"background", "opaque"},
                          {"seed", state->seed}};
        if (event.type == RequestEvent::Type::kImageProgress) {
          if (event.patches.empty() || state->partials_sent >= state->partial_images) return true;
          absl::StatusOr<Image> image = engine->DecodeImage(event.patches);
          absl::StatusOr<std::string> png =
              image.ok() ? http::EncodeOutput(*image, state->options) : image.status();
          if (!png.ok()) return true;  // a preview is a courtesy; the image still comes
          Json partial = common;
          partial["type"] = state->prefix + ".partial_image";
          partial["b64_json"] = absl::Base64Escape(*png);
          partial["partial_image_index"] = state->partials_sent++;
          state->last_write = absl::Now();
          if (!WriteSseEvent(sink, state->prefix + ".partial_image", partial)) {
            engine->Cancel(state->id);
            return false;
          }
          return true;
        }
        if (event.type == RequestEvent::Type::kImage) {
          state->image = std::move(event.patches);
          state->pixels = std::move(event.image);
          return true;
        }
        if (event.type != RequestEvent::Type::kFinish) return true;
        state->finished = true;
        absl::Status status = FinishStatus(event);
        absl::StatusOr<std::string> png = absl::InternalError("no image");
        if (status.ok()) {
          absl::StatusOr<Image> image = engine->FinalImage(state->pixels, state->image);
          png = image.ok() ? http::EncodeOutput(*image, state->options) : image.status();
          if (!png.ok()) status = absl::InternalError(absl::StrCat("image: ", png.status().message()));
        }
        call->End(status);
        if (!status.ok()) {
          WriteSseEvent(sink, "error", http::ErrorBody(http::ToError(status)));
        } else {
          Json completed = common;
          completed["type"] = state->prefix + ".completed";
          completed["b64_json"] = absl::Base64Escape(*png);
          completed["usage"] = Json{{"input_tokens", event.usage.prompt_tokens},
                                    {"output_tokens", 0},
                                    {"total_tokens", event.usage.prompt_tokens},
                                    {"image_steps", event.usage.image_steps}};
          WriteSseEvent(sink, state->prefix + ".completed", completed);
        }
        sink.done();
        return true;
      },
      [engine, state](bool /*success*/) {
        if (!state->finished) engine->Cancel(state->id);
      });
}

template <typename Typed>
void HttpServer::RunImages(std::shared_ptr<Call> call, const Typed& request,
                           const http::ImageCallOptions& options, httplib::Response& res) {
  absl::Status status = CheckModel(options.model, env_.engine->model_name());
  const int size = env_.engine->config().image.image_size;
  const std::string served = absl::StrCat(size, "x", size);
  if (status.ok() && !options.size.empty() && options.size != served) {
    status = absl::InvalidArgumentError(absl::StrCat(
        "size must be \"", served, "\" (the only size this model draws), got \"", options.size,
        "\""));
  }
  if (!status.ok()) {
    call->End(status);
    SendError(res, http::ToError(status));
    return;
  }
  // The seed of each image is returned with it, so that any one of them can be drawn again.
  uint64_t seed = 0;
  if (options.seed.has_value()) {
    seed = *options.seed;
  } else {
    thread_local absl::BitGen gen;
    seed = absl::Uniform<uint64_t>(gen) >> 11;  // below 2^53: exact as a JavaScript number
  }
  std::vector<std::shared_ptr<HttpEventQueue>> queues;
  std::vector<RequestId> ids;
  for (int i = 0; i < options.n && status.ok(); ++i) {
    Typed one = request;
    ParamsOf(one).seed = seed + i;
    if (options.partial_images > 0) {
      // Previews evenly spread over the denoising steps; those past partial_images are dropped.
      const int steps = ParamsOf(one).steps.value_or(env_.engine->generation().image_steps);
      ParamsOf(one).preview_every = std::max(1, steps / (options.partial_images + 1));
    }
    call->Attach(&one.options);
    auto queue = std::make_shared<HttpEventQueue>();
    absl::StatusOr<RequestId> id = env_.engine->Submit(one, queue);
    if (id.ok()) {
      queues.push_back(std::move(queue));
      ids.push_back(*id);
    } else {
      status = id.status();
    }
  }
  if (options.stream && status.ok()) {
    StreamImage(std::move(call), queues[0], ids[0], EventPrefix(request), served, seed, options,
                res);
    return;
  }
  Json data = Json::array();
  Usage total;
  bool client_gone = false;
  for (size_t i = 0; i < queues.size(); ++i) {
    // One failed, or the client left: the call fails as a whole.
    if (!status.ok() || client_gone) env_.engine->Cancel(ids[i]);
    std::vector<float> patches;
    std::shared_ptr<const Image> pixels;  // the engine's decode of them, if any
    while (true) {
      if (!client_gone && call->ClientGone()) {
        client_gone = true;
        for (size_t j = i; j < ids.size(); ++j) env_.engine->Cancel(ids[j]);
      }
      std::optional<HttpEventQueue::Timed> next = queues[i]->Next(kProbeEvery);
      if (!next.has_value()) {
        if (stopping_) env_.engine->Cancel(ids[i]);
        continue;
      }
      call->Observe(*next);
      if (next->event.type == RequestEvent::Type::kImage) {
        patches = std::move(next->event.patches);
        pixels = std::move(next->event.image);
      }
      if (next->event.type != RequestEvent::Type::kFinish) continue;
      if (status.ok()) status = FinishStatus(next->event);
      total.prompt_tokens += next->event.usage.prompt_tokens;
      total.image_steps += next->event.usage.image_steps;
      break;
    }
    if (!status.ok()) continue;
    absl::StatusOr<Image> image = env_.engine->FinalImage(pixels, patches);
    absl::StatusOr<std::string> png =
        image.ok() ? http::EncodeOutput(*image, options) : image.status();
    if (!png.ok()) {
      status = absl::InternalError(absl::StrCat("image: ", png.status().message()));
      continue;
    }
    data.push_back(Json{{"b64_json", absl::Base64Escape(*png)}, {"seed", seed + i}});
  }
  call->End(status);
  if (!status.ok()) {
    SendError(res, http::ToError(status));
    return;
  }
  Json reply{{"created", absl::ToUnixSeconds(call->arrival())},
             {"data", std::move(data)},
             {"output_format", options.output_format},
             {"size", served},
             {"usage",
              {{"input_tokens", total.prompt_tokens},
               {"output_tokens", 0},
               {"total_tokens", total.prompt_tokens},
               {"image_steps", total.image_steps}}}};
  res.set_content(Dump(reply), kJson);
}

void HttpServer::ImageGenerations(std::shared_ptr<Call> call, const httplib::Request& req,
                                  httplib::Response& res) {
  absl::StatusOr<Json> body = ParseBody(req);
  absl::StatusOr<http::ImageGenerationCall> parsed =
      body.ok() ? http::ParseImageGeneration(*body) : body.status();
  if (!parsed.ok()) {
    call->End(parsed.status());
    SendError(res, http::ToError(parsed.status()));
    return;
  }
  RunImages(std::move(call), parsed->request, parsed->options, res);
}

void HttpServer::ImageEdits(std::shared_ptr<Call> call, const httplib::Request& req,
                            httplib::Response& res) {
  absl::StatusOr<http::ImageEditCall> parsed =
      absl::InvalidArgumentError("the request body must be multipart/form-data");
  if (req.is_multipart_form_data()) parsed = http::ParseImageEditForm(req.files);
  if (!parsed.ok()) {
    call->End(parsed.status());
    SendError(res, http::ToError(parsed.status()));
    return;
  }
  RunImages(std::move(call), parsed->request, parsed->options, res);
}

void HttpServer::ChatCompletions(std::shared_ptr<Call> call, const httplib::Request& req,
                                 httplib::Response& res) {
  absl::StatusOr<Json> body = ParseBody(req);
  absl::StatusOr<http::ChatCompletionCall> parsed =
      body.ok() ? http::ParseChatCompletion(*body) : body.status();
  absl::Status status = parsed.ok() ? CheckModel(parsed->model, env_.engine->model_name())
                                    : parsed.status();
  if (!status.ok()) {
    call->End(status);
    SendError(res, http::ToError(status));
    return;
  }
  call->Attach(&parsed->request.options);
  RunText(std::move(call), parsed->request, /*chat=*/true, parsed->stream, parsed->include_usage,
          "", parsed->names, res);
}

void HttpServer::Completions(std::shared_ptr<Call> call, const httplib::Request& req,
                             httplib::Response& res) {
  absl::StatusOr<Json> body = ParseBody(req);
  absl::StatusOr<http::CompletionCall> parsed =
      body.ok() ? http::ParseCompletion(*body) : body.status();
  absl::Status status = parsed.ok() ? CheckModel(parsed->model, env_.engine->model_name())
                                    : parsed.status();
  if (!status.ok()) {
    call->End(status);
    SendError(res, http::ToError(status));
    return;
  }
  call->Attach(&parsed->request.options);
  RunText(std::move(call), parsed->request, /*chat=*/false, parsed->stream,
          parsed->include_usage, parsed->echo ? parsed->prompt : "", parsed->names, res);
}

}  // namespace infusion::server
