// End-to-end: the real infusion-server on a loopback port, driven through the client library.
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/version.h"
#include "engine/codec/image.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/server_process.h"

namespace infusion::testing {

using engine::DecodeImage;
using engine::EncodePng;
using engine::Image;

namespace {

using client::CallOptions;
using client::InfusionClient;
using client::StreamResult;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kPngMagic[] = "\x89PNG\r\n\x1a\n";

// A temporary directory, removed with its contents.
class ScratchDir {
 public:
  ScratchDir() {
    char path[] = "/tmp/infusion-e2e-XXXXXX";
    path_ = mkdtemp(path);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string ReadTestImage() {
  std::ifstream file(INFUSION_SOURCE_DIR "/tests/data/images/shapes/red_circle.png",
                     std::ios::binary);
  std::stringstream bytes;
  bytes << file.rdbuf();
  return bytes.str();
}

v1::Image TestImage() {
  v1::Image image;
  image.set_data(ReadTestImage());
  return image;
}

// Records the kinds of a stream's events, in order: t(ext), p(rogress), i(mage), f(inish).
struct EventLog {
  std::string kinds;
  std::vector<v1::ImageProgress> progress;

  CallOptions Options() {
    CallOptions call;
    call.on_event = [this](const v1::GenerateResponse& r) {
      switch (r.event_case()) {
        case v1::GenerateResponse::kText:
          kinds += 't';
          break;
        case v1::GenerateResponse::kProgress:
          kinds += 'p';
          progress.push_back(r.progress());
          break;
        case v1::GenerateResponse::kImage:
          kinds += 'i';
          break;
        case v1::GenerateResponse::kFinish:
          kinds += 'f';
          break;
        case v1::GenerateResponse::EVENT_NOT_SET:
          kinds += '?';
          break;
      }
      return true;
    };
    return call;
  }
};

v1::TextToImageRequest TextToImage(const std::string& prompt, int steps, uint64_t seed = 1) {
  v1::TextToImageRequest request;
  request.set_prompt(prompt);
  request.mutable_image()->set_steps(steps);
  request.mutable_image()->set_seed(seed);
  return request;
}

// Waits until the engine holds no request and no KV block (the metrics say so).
// How long a test waits for an event that must come (the server going idle, a counter moving)
// before it fails: generous, so that a loaded machine slows the test down instead of failing it.
// The scheduler's own tests check that a cancellation frees its blocks within one step.
constexpr absl::Duration kGenerous = absl::Seconds(60);

absl::Status AwaitIdle(const ServerProcess& server, absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  std::string last;
  while (absl::Now() < end) {
    absl::StatusOr<std::string> metrics = HttpGet(server.metrics_port(), "/metrics");
    if (!metrics.ok()) return metrics.status();
    last = *metrics;
    if (MetricValue(last, "infusion_kv_cache_usage_ratio").value_or(-1) == 0 &&
        MetricValue(last, "infusion_requests_running").value_or(-1) == 0 &&
        MetricValue(last, "infusion_requests_waiting").value_or(-1) == 0) {
      return absl::OkStatus();
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError("the engine did not become idle:\n" + last);
}

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = ServerProcess::Start({"--max_image_bytes=65536", "--max_image_pixels=16384"});
    if (server.ok()) {
      server_ = server->release();
    } else {
      start_error_ = new std::string(server.status().ToString());
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr) << *start_error_;
    client_ = server_->Client();
  }

  static ServerProcess* server_;
  static std::string* start_error_;
  std::unique_ptr<InfusionClient> client_;
};

ServerProcess* ServerTest::server_ = nullptr;
std::string* ServerTest::start_error_ = nullptr;

TEST_F(ServerTest, TextToImageStreamsProgressThenImageThenFinish) {
  v1::TextToImageRequest request = TextToImage("a red circle", /*steps=*/3);
  request.mutable_image()->set_preview_every(2);
  EventLog log;
  absl::StatusOr<StreamResult> result = client_->TextToImage(request, log.Options());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(log.kinds, "pppif");
  ASSERT_EQ(log.progress.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(log.progress[i].step(), i + 1);
    EXPECT_EQ(log.progress[i].total_steps(), 3);
  }
  // A preview after every second step only.
  EXPECT_TRUE(log.progress[0].preview_png().empty());
  EXPECT_THAT(log.progress[1].preview_png(), StartsWith(std::string(kPngMagic, 8)));
  EXPECT_TRUE(log.progress[2].preview_png().empty());
  ASSERT_EQ(result->images.size(), 1u);
  const v1::GeneratedImage& image = result->images[0];
  EXPECT_EQ(image.width(), 32);
  EXPECT_EQ(image.height(), 32);
  absl::StatusOr<Image> decoded = DecodeImage(image.png());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->width, 32);
  EXPECT_EQ(result->finish.reason(), "image");
  EXPECT_EQ(result->finish.usage().image_steps(), 3);
  EXPECT_GT(result->finish.usage().prompt_tokens(), 2);  // <s>, the prompt, <boi>
}

TEST_F(ServerTest, SameSeedSameImageOtherSeedOtherImage) {
  auto a = client_->TextToImage(TextToImage("a red circle", 2, /*seed=*/7));
  auto b = client_->TextToImage(TextToImage("a red circle", 2, /*seed=*/7));
  auto c = client_->TextToImage(TextToImage("a red circle", 2, /*seed=*/8));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->images[0].png(), b->images[0].png());
  EXPECT_NE(a->images[0].png(), c->images[0].png());
}

TEST_F(ServerTest, EditImageStreamsTheEditedImage) {
  v1::EditImageRequest request;
  *request.mutable_image() = TestImage();
  request.set_instruction("make the circle blue");
  request.mutable_image_params()->set_steps(2);
  EventLog log;
  absl::StatusOr<StreamResult> result = client_->EditImage(request, log.Options());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(log.kinds, "ppif");
  EXPECT_EQ(result->finish.reason(), "image");
  // The source image's 4 patches, its <boi> <eoi>, the template and the instruction.
  EXPECT_GT(result->finish.usage().prompt_tokens(), 4 + 2 + 4);
}

TEST_F(ServerTest, CaptionStreamsTextThenFinishAndIsDeterministicWhenGreedy) {
  v1::CaptionRequest request;
  *request.mutable_image() = TestImage();
  request.set_prompt("A picture of");
  request.mutable_text()->set_max_tokens(6);
  request.mutable_text()->set_temperature(0.0f);
  EventLog log;
  absl::StatusOr<StreamResult> first = client_->Caption(request, log.Options());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(log.kinds, ::testing::MatchesRegex("t*f"));
  EXPECT_EQ(static_cast<int>(log.kinds.size()) - 1, first->text_events);
  EXPECT_THAT(first->finish.reason(), ::testing::AnyOf("stop", "length"));
  EXPECT_GE(first->finish.usage().generated_tokens(), 1);
  EXPECT_LE(first->finish.usage().generated_tokens(), 6);
  absl::StatusOr<StreamResult> second = client_->Caption(request);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(first->text, second->text);
}

TEST_F(ServerTest, ChatTakesImagesInMessages) {
  v1::ChatRequest request;
  v1::Message* system = request.add_messages();
  system->set_role("system");
  system->add_parts()->set_text("You describe pictures.");
  v1::Message* user = request.add_messages();
  user->set_role("user");
  *user->add_parts()->mutable_image() = TestImage();
  user->add_parts()->set_text("What is this?");
  request.mutable_text()->set_max_tokens(5);
  request.set_max_images(0);
  EventLog log;
  absl::StatusOr<StreamResult> result = client_->Chat(request, log.Options());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(log.kinds, ::testing::MatchesRegex("t*f"));
  EXPECT_THAT(result->finish.reason(), ::testing::AnyOf("stop", "length"));
  EXPECT_GT(result->finish.usage().prompt_tokens(), 4);  // the image's patches and more
}

TEST_F(ServerTest, GenerateTakesInterleavedParts) {
  v1::GenerateRequest request;
  request.add_parts()->set_text("Here is a shape:");
  *request.add_parts()->mutable_image() = TestImage();
  request.add_parts()->set_text("It is");
  request.mutable_text()->set_max_tokens(4);
  request.mutable_image()->set_steps(2);
  EventLog log;
  absl::StatusOr<StreamResult> result = client_->Generate(request, log.Options());
  ASSERT_TRUE(result.ok()) << result.status();
  // Text, and images if the model opens one (each announced by its progress), then the end.
  EXPECT_THAT(log.kinds, ::testing::MatchesRegex("(t|p+i)*f"));
  EXPECT_LE(result->images.size(), 1u);  // max_images defaults to 1
}

TEST_F(ServerTest, GetModelInfoDescribesTheModel) {
  absl::StatusOr<v1::ModelInfo> info = client_->GetModelInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->name(), "tiny-model");
  EXPECT_EQ(info->context_length(), 256);
  EXPECT_EQ(info->vocab_size(), 320);
  EXPECT_EQ(info->image_size(), 32);
  EXPECT_EQ(info->image_tokens(), 4);  // a 4x4 latent grid in 2x2 patches
  EXPECT_EQ(info->codec(), "taef2");
  EXPECT_EQ(info->max_image_bytes(), 65536);
  EXPECT_EQ(info->max_image_pixels(), 16384);
  EXPECT_TRUE(info->default_image().has_steps());
  EXPECT_EQ(info->default_image().sampler(), "ddim");
}

TEST_F(ServerTest, InvalidRequestsAreInvalidArgumentNamingTheField) {
  const std::string too_many_pixels =
      *EncodePng(Image{256, 256, std::vector<uint8_t>(256 * 256 * 3)});
  struct Case {
    std::string name;
    std::function<absl::Status(const InfusionClient&)> call;
    std::string field;  // the message must name it
  };
  auto t2i = [](std::function<void(v1::TextToImageRequest*)> edit) {
    return [edit](const InfusionClient& c) {
      v1::TextToImageRequest r = TextToImage("a red circle", 2);
      edit(&r);
      return c.TextToImage(r).status();
    };
  };
  auto caption = [](std::function<void(v1::CaptionRequest*)> edit) {
    return [edit](const InfusionClient& c) {
      v1::CaptionRequest r;
      *r.mutable_image() = TestImage();
      r.mutable_text()->set_max_tokens(2);
      edit(&r);
      return c.Caption(r).status();
    };
  };
  auto chat = [](std::function<void(v1::ChatRequest*)> edit) {
    return [edit](const InfusionClient& c) {
      v1::ChatRequest r;
      v1::Message* m = r.add_messages();
      m->set_role("user");
      m->add_parts()->set_text("hello");
      r.mutable_text()->set_max_tokens(2);
      edit(&r);
      return c.Chat(r).status();
    };
  };
  const std::vector<Case> cases = {
      {"empty prompt", t2i([](auto* r) { r->set_prompt(""); }), "prompt must not be empty"},
      {"undecodable image", caption([](auto* r) { r->mutable_image()->set_data("not an image"); }),
       "image.data"},
      {"missing image", caption([](auto* r) { r->clear_image(); }), "image.data"},
      {"oversized image",
       caption([](auto* r) { r->mutable_image()->set_data(std::string(70000, 'x')); }),
       "image.data"},
      {"too many pixels", caption([&](auto* r) { r->mutable_image()->set_data(too_many_pixels); }),
       "image.data"},
      {"zero steps", t2i([](auto* r) { r->mutable_image()->set_steps(0); }), "image.steps"},
      {"too many steps", t2i([](auto* r) { r->mutable_image()->set_steps(5000); }), "image.steps"},
      {"negative guidance", t2i([](auto* r) { r->mutable_image()->set_guidance_scale(-1); }),
       "image.guidance_scale"},
      {"huge guidance", t2i([](auto* r) { r->mutable_image()->set_guidance_scale(500); }),
       "image.guidance_scale"},
      {"unknown sampler", t2i([](auto* r) { r->mutable_image()->set_sampler("euler"); }),
       "image.sampler"},
      {"max_tokens beyond the context",
       caption([](auto* r) { r->mutable_text()->set_max_tokens(100000); }), "text.max_tokens"},
      {"top_p zero", caption([](auto* r) { r->mutable_text()->set_top_p(0); }), "text.top_p"},
      {"invalid UTF-8 prompt", t2i([](auto* r) { r->set_prompt("a \xff\xfe circle"); }),
       "prompt is not valid UTF-8"},
      {"invalid UTF-8 deep inside",
       chat([](auto* r) { r->mutable_messages(0)->mutable_parts(0)->set_text("\xc3\x28"); }),
       "messages[0].parts[0].text is not valid UTF-8"},
      {"unknown role", chat([](auto* r) { r->mutable_messages(0)->set_role("bot"); }),
       "messages[0].role"},
      {"no messages", chat([](auto* r) { r->clear_messages(); }), "messages"},
      {"empty edit instruction",
       [](const InfusionClient& c) {
         v1::EditImageRequest r;
         *r.mutable_image() = TestImage();
         return c.EditImage(r).status();
       },
       "instruction must not be empty"},
      {"empty generate",
       [](const InfusionClient& c) { return c.Generate(v1::GenerateRequest()).status(); }, "parts"},
  };
  for (const Case& c : cases) {
    const absl::Status status = c.call(*client_);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name << ": " << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.field)) << c.name;
  }
}

TEST_F(ServerTest, DeadlineIsHonoured) {
  CallOptions call;
  call.timeout = absl::Milliseconds(50);
  const absl::Status status =
      client_->TextToImage(TextToImage("a red circle", /*steps=*/1000), call).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_TRUE(AwaitIdle(*server_, kGenerous).ok());
}

TEST_F(ServerTest, CancellationMidImageFreesTheKvBlocks) {
  double usage_while_running = -1;
  int progress = 0;
  CallOptions call;
  call.on_event = [&](const v1::GenerateResponse& r) {
    if (!r.has_progress() || ++progress < 2) return true;
    const absl::StatusOr<std::string> metrics = HttpGet(server_->metrics_port(), "/metrics");
    usage_while_running =
        metrics.ok() ? MetricValue(*metrics, "infusion_kv_cache_usage_ratio").value_or(-1) : -1;
    return false;  // cancel
  };
  const absl::Status status =
      client_->TextToImage(TextToImage("a red circle", /*steps=*/1000), call).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_GT(usage_while_running, 0);
  ASSERT_TRUE(AwaitIdle(*server_, kGenerous).ok());
  // The server saw the call end as cancelled.
  const absl::Time end = absl::Now() + kGenerous;
  double cancelled = 0;
  while (absl::Now() < end && cancelled < 1) {
    cancelled =
        MetricValue(*HttpGet(server_->metrics_port(), "/metrics"),
                    R"(infusion_requests_total{code="CANCELLED",frontend="grpc",rpc="TextToImage"})")
            .value_or(0);
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_GE(cancelled, 1);
}

TEST_F(ServerTest, MetricsPassPromtoolAndCountTheTraffic) {
  ASSERT_TRUE(client_->TextToImage(TextToImage("a red circle", 2)).ok());
  ASSERT_TRUE(client_->GetModelInfo().ok());
  absl::StatusOr<std::string> metrics = HttpGet(server_->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  for (const char* family :
       {"infusion_requests_total", "infusion_time_to_first_token_seconds",
        "infusion_inter_token_latency_seconds", "infusion_time_to_image_seconds",
        "infusion_e2e_request_latency_seconds", "infusion_request_queue_time_seconds",
        "infusion_requests_running", "infusion_requests_waiting", "infusion_kv_cache_usage_ratio",
        "infusion_prefix_cache_queries_total", "infusion_prefix_cache_hits_total",
        "infusion_preemptions_total", "infusion_prompt_tokens_total",
        "infusion_generation_tokens_total", "infusion_denoise_steps_total",
        "infusion_step_tokens_total", "infusion_build_info", "infusion_model_info",
        "infusion_request_finished_total", "infusion_request_prompt_tokens",
        "infusion_request_generation_tokens", "process_cpu_seconds_total",
        "process_resident_memory_bytes", "process_virtual_memory_bytes", "process_open_fds",
        "process_max_fds", "process_start_time_seconds"}) {
    EXPECT_THAT(*metrics, HasSubstr(std::string("# TYPE ") + family + " ")) << family;
  }
  auto value = [&](const std::string& series) { return MetricValue(*metrics, series).value_or(0); };
  EXPECT_GE(value(R"(infusion_requests_total{code="OK",frontend="grpc",rpc="TextToImage"})"), 1);
  EXPECT_GE(value(R"(infusion_requests_total{code="OK",frontend="grpc",rpc="GetModelInfo"})"), 1);
  EXPECT_GE(value("infusion_denoise_steps_total"), 2);
  EXPECT_GE(value(R"(infusion_time_to_image_seconds_count{frontend="grpc"})"), 1);
  EXPECT_GE(value(R"(infusion_step_tokens_total{span="denoise"})"), 8);
  EXPECT_EQ(value(absl::StrCat("infusion_build_info{version=\"", kVersion, "\"}")), 1);
  // The image's request ended with reason "image"; its prompt length was observed.
  EXPECT_GE(value(R"(infusion_request_finished_total{frontend="grpc",reason="image"})"), 1);
  EXPECT_GE(value(R"(infusion_request_prompt_tokens_count{frontend="grpc"})"), 1);
  EXPECT_GE(value(R"(infusion_request_prompt_tokens_sum{frontend="grpc"})"), 1);
  // The process: started within the last hour, holding memory and files.
  const double now = absl::ToUnixSeconds(absl::Now());
  EXPECT_GT(value("process_start_time_seconds"), now - 3600);
  EXPECT_LE(value("process_start_time_seconds"), now + 1);
  EXPECT_GT(value("process_resident_memory_bytes"), 1 << 20);
  EXPECT_GT(value("process_cpu_seconds_total"), 0);
  EXPECT_GT(value("process_open_fds"), 3);
  EXPECT_GE(value("process_max_fds"), value("process_open_fds"));

  ASSERT_STRNE(INFUSION_PROMTOOL, "") << "promtool (Debian package prometheus) is needed";
  const ScratchDir scratch;
  const std::string path = scratch.File("metrics.txt");
  std::ofstream(path) << *metrics;
  const std::string command = std::string(INFUSION_PROMTOOL) + " check metrics < " + path;
  EXPECT_EQ(std::system(command.c_str()), 0) << *metrics;
}

TEST_F(ServerTest, MetricsEndpointServesOnlyMetrics) {
  EXPECT_TRUE(HttpGet(server_->metrics_port(), "/metrics?x=1").ok());
  EXPECT_THAT(HttpGet(server_->metrics_port(), "/").status().message(), HasSubstr("404"));
}

// --- servers of their own ---

TEST(ServerAuthTest, KeysFileRequiresABearerKey) {
  const ScratchDir scratch;
  const std::string keys = scratch.File("api_keys");
  std::ofstream(keys) << "# infusion keys\nkey-one\n\n  key-two  \n";
  auto server = ServerProcess::Start({"--api_keys_file=" + keys});
  ASSERT_TRUE(server.ok()) << server.status();
  const ServerProcess& s = **server;
  for (const std::string key : {"", "key-three", "key-on"}) {
    auto client = s.Client(key);
    EXPECT_EQ(client->GetModelInfo().status().code(), absl::StatusCode::kUnauthenticated) << key;
    EXPECT_EQ(client->TextToImage(TextToImage("a red circle", 1)).status().code(),
              absl::StatusCode::kUnauthenticated)
        << key;
  }
  for (const std::string key : {"key-one", "key-two"}) {
    auto client = s.Client(key);
    EXPECT_TRUE(client->GetModelInfo().ok()) << key;
    EXPECT_TRUE(client->TextToImage(TextToImage("a red circle", 1)).ok()) << key;
  }
  // Health stays open to probes that carry no key.
  auto anonymous = s.Client();
  EXPECT_EQ(anonymous->CheckHealth("infusion.v1.Infusion").value_or(client::ServingStatus()),
            grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST(ServerTlsTest, ServesTlsWithTheGivenCertificate) {
  const ScratchDir scratch;
  const std::string cert = scratch.File("server.crt"), key = scratch.File("server.key");
  const std::string openssl =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 -keyout " +
      key + " -out " + cert + " 2>/dev/null";
  ASSERT_EQ(std::system(openssl.c_str()), 0) << openssl;
  std::ifstream cert_file(cert);
  client::ClientOptions tls;
  tls.tls = true;
  tls.tls_root_certs.assign(std::istreambuf_iterator<char>(cert_file), {});
  auto server = ServerProcess::Start({"--tls_cert=" + cert, "--tls_key=" + key}, tls);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE((*server)->Client()->TextToImage(TextToImage("a red circle", 1)).ok());
  // A plaintext client gets no answer.
  client::ClientOptions plain;
  plain.server = (*server)->address();
  plain.timeout = kGenerous;  // UNAVAILABLE comes at once; a deadline would only mean "busy"
  EXPECT_EQ((*client::InfusionClient::Create(plain))->GetModelInfo().status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(ServerOverloadTest, AFullQueueIsResourceExhausted) {
  auto server = ServerProcess::Start({"--max_running=1", "--max_queued=1"});
  ASSERT_TRUE(server.ok()) << server.status();
  const ServerProcess& s = **server;
  // A runs; B waits in the queue, which then is full; C is refused.
  absl::Notification a_running;
  absl::Status a, b;
  std::thread first([&] {
    CallOptions call;
    call.on_event = [&](const v1::GenerateResponse&) {
      if (!a_running.HasBeenNotified()) a_running.Notify();
      return true;
    };
    a = s.Client()->TextToImage(TextToImage("a red circle", 1000), call).status();
  });
  a_running.WaitForNotification();
  std::thread second([&] { b = s.Client()->TextToImage(TextToImage("a red circle", 2)).status(); });
  const absl::Time end = absl::Now() + kGenerous;
  while (absl::Now() < end && MetricValue(HttpGet(s.metrics_port(), "/metrics").value_or(""),
                                          "infusion_requests_waiting")
                                      .value_or(0) < 1) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  const absl::Status c = s.Client()->TextToImage(TextToImage("a red circle", 2)).status();
  EXPECT_EQ(c.code(), absl::StatusCode::kResourceExhausted) << c;
  first.join();
  second.join();
  EXPECT_TRUE(a.ok()) << a;
  EXPECT_TRUE(b.ok()) << b;
}

TEST(ServerDrainTest, SigtermFinishesRunningCallsRefusesNewOnesAndExitsZero) {
  // A grace far longer than any wait below: had the drain waited for it, Wait would time out.
  auto started = ServerProcess::Start({"--drain_grace=600s"});
  ASSERT_TRUE(started.ok()) << started.status();
  ServerProcess& server = **started;

  // A health watcher that never hangs up must not hold the drain for the grace period.
  std::vector<client::ServingStatus> seen;
  absl::Notification not_serving;
  std::thread watcher([&] {
    server.Client()
        ->WatchHealth("",
                      [&](client::ServingStatus s) {
                        seen.push_back(s);
                        if (s == grpc::health::v1::HealthCheckResponse::NOT_SERVING)
                          not_serving.Notify();
                        return true;
                      })
        .IgnoreError();
  });

  absl::Notification running;
  std::atomic<int> progress_after_sigterm{0};
  std::atomic<bool> sigterm_sent{false};
  absl::StatusOr<StreamResult> long_call;
  std::thread caller([&] {
    CallOptions call;
    call.on_event = [&](const v1::GenerateResponse& r) {
      if (r.has_progress()) {
        if (!running.HasBeenNotified()) running.Notify();
        if (sigterm_sent) ++progress_after_sigterm;
      }
      return true;
    };
    long_call = server.Client()->TextToImage(TextToImage("a red circle", 1000), call);
  });

  running.WaitForNotification();
  server.Signal(SIGTERM);
  sigterm_sent = true;
  ASSERT_TRUE(not_serving.WaitForNotificationWithTimeout(kGenerous));
  // While the running call finishes, new calls are refused.
  const absl::Status refused =
      server.Client()->TextToImage(TextToImage("a red circle", 2)).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  caller.join();
  ASSERT_TRUE(long_call.ok()) << long_call.status();
  EXPECT_EQ(long_call->images.size(), 1u);
  EXPECT_GT(progress_after_sigterm.load(), 0);

  absl::StatusOr<int> exit_code = server.Wait(kGenerous);
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();  // not the 600 s grace
  EXPECT_EQ(*exit_code, 0) << server.Log();
  EXPECT_THAT(server.Log(), Not(HasSubstr("grace period over")));
  watcher.join();
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen.front(), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(seen.back(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
}

TEST(ServerDrainTest, CallsStillRunningAfterTheGracePeriodAreCancelled) {
  auto started = ServerProcess::Start({"--drain_grace=100ms"});
  ASSERT_TRUE(started.ok()) << started.status();
  ServerProcess& server = **started;
  absl::Notification running;
  absl::StatusOr<StreamResult> long_call;
  v1::GenerateResponse last;
  std::thread caller([&] {
    CallOptions call;
    call.on_event = [&](const v1::GenerateResponse& response) {
      last = response;
      if (!running.HasBeenNotified()) running.Notify();
      return true;
    };
    long_call = server.Client()->TextToImage(TextToImage("a red circle", 1000), call);
  });
  running.WaitForNotification();
  server.Signal(SIGTERM);
  caller.join();
  // As docs/api.md section 4 says: a finish event `cancelled`, then CANCELLED (not gRPC's
  // UNAVAILABLE "Cancelling all calls" without a finish event).
  EXPECT_EQ(long_call.status().code(), absl::StatusCode::kCancelled) << long_call.status();
  ASSERT_TRUE(last.has_finish()) << last.DebugString();
  EXPECT_EQ(last.finish().reason(), "cancelled");
  absl::StatusOr<int> exit_code = server.Wait(kGenerous);
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0) << server.Log();
  EXPECT_THAT(server.Log(), HasSubstr("grace period over"));
}

}  // namespace
}  // namespace infusion::testing
