// Load: many concurrent mixed requests through one server, a tenth of them cancelled by their
// clients mid-stream. Every other request must complete, and the engine must end holding no
// request and no KV block.
#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/server_process.h"

namespace infusion::testing {
namespace {

using client::CallOptions;
using client::InfusionClient;
using client::StreamResult;

constexpr int kRequests = 240;
constexpr int kClientThreads = 16;
enum Kind { kTextToImage, kCaption, kChat, kEdit, kGenerate, kNumKinds };

v1::Image TestImage() {
  std::ifstream file(INFUSION_SOURCE_DIR "/tests/data/images/shapes/red_circle.png",
                     std::ios::binary);
  std::stringstream bytes;
  bytes << file.rdbuf();
  v1::Image image;
  image.set_data(bytes.str());
  return image;
}

absl::StatusOr<StreamResult> Call(const InfusionClient& client, Kind kind, int i,
                                  const CallOptions& call) {
  v1::TextParams text;
  text.set_max_tokens(2 + i % 5);
  text.set_temperature(0.8f);
  text.set_seed(i);
  v1::ImageParams image;
  image.set_steps(2 + i % 3);
  image.set_seed(i);
  switch (kind) {
    case kTextToImage: {
      v1::TextToImageRequest r;
      r.set_prompt(i % 2 ? "a red circle" : "three yellow squares");
      *r.mutable_image() = image;
      return client.TextToImage(r, call);
    }
    case kCaption: {
      v1::CaptionRequest r;
      *r.mutable_image() = TestImage();
      *r.mutable_text() = text;
      return client.Caption(r, call);
    }
    case kChat: {
      v1::ChatRequest r;
      v1::Message* m = r.add_messages();
      m->set_role("user");
      m->add_parts()->set_text("Draw me a circle, please.");
      *r.mutable_text() = text;
      *r.mutable_image() = image;
      return client.Chat(r, call);
    }
    case kEdit: {
      v1::EditImageRequest r;
      *r.mutable_image() = TestImage();
      r.set_instruction("make the circle blue");
      *r.mutable_image_params() = image;
      return client.EditImage(r, call);
    }
    case kGenerate: {
      v1::GenerateRequest r;
      r.add_parts()->set_text("Once upon a time");
      *r.mutable_text() = text;
      *r.mutable_image() = image;
      return client.Generate(r, call);
    }
    case kNumKinds:
      break;
  }
  return absl::InternalError("no such kind");
}

double SumOfSeries(const std::string& metrics, const std::string& prefix) {
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(metrics, '\n')) {
    if (!absl::StartsWith(line, prefix)) continue;
    double value = 0;
    if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) sum += value;
  }
  return sum;
}

TEST(ServerLoadTest, MixedRequestsWithATenthCancelledCompleteAndLeakNoBlock) {
  auto server = ServerProcess::Start({"--max_queued=1024"});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::unique_ptr<InfusionClient> client = (*server)->Client();

  struct Outcome {
    bool cancel = false;
    absl::StatusOr<StreamResult> result;
  };
  std::vector<Outcome> outcomes(kRequests);
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClientThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < kRequests; i = next++) {
        Outcome& o = outcomes[i];
        o.cancel = i % 10 == 7;
        CallOptions call;
        call.on_event = [cancel = o.cancel](const v1::GenerateResponse&) { return !cancel; };
        o.result = Call(*client, static_cast<Kind>(i % kNumKinds), i, call);
      }
    });
  }
  for (std::thread& t : threads) t.join();

  int cancelled = 0;
  for (int i = 0; i < kRequests; ++i) {
    const Outcome& o = outcomes[i];
    const Kind kind = static_cast<Kind>(i % kNumKinds);
    if (o.cancel) {
      // Cancelled at its first event; a stream already complete by then may still end OK.
      cancelled += !o.result.ok();
      EXPECT_TRUE(o.result.ok() || o.result.status().code() == absl::StatusCode::kCancelled)
          << i << ": " << o.result.status();
      continue;
    }
    ASSERT_TRUE(o.result.ok()) << i << ": " << o.result.status();
    if (kind == kTextToImage || kind == kEdit) {
      EXPECT_EQ(o.result->finish.reason(), "image") << i;
      EXPECT_EQ(o.result->images.size(), 1u) << i;
      EXPECT_EQ(o.result->progress_events, 2 + i % 3) << i;
    } else {
      EXPECT_THAT(o.result->finish.reason(), ::testing::AnyOf("stop", "length")) << i;
      EXPECT_LE(o.result->finish.usage().generated_tokens(), 2 + i % 5) << i;
    }
  }
  EXPECT_GE(cancelled, kRequests / 20);  // most of the tenth asked to cancel were cancelled

  // Every call is accounted for by the server, and nothing is left in the engine.
  const absl::Time end = absl::Now() + absl::Seconds(60);  // generous: the suite may share the CPU
  std::string metrics;
  while (absl::Now() < end) {
    metrics = HttpGet((*server)->metrics_port(), "/metrics").value_or("");
    if (SumOfSeries(metrics, "infusion_requests_total{") == kRequests &&
        MetricValue(metrics, "infusion_kv_cache_usage_ratio").value_or(-1) == 0 &&
        MetricValue(metrics, "infusion_requests_running").value_or(-1) == 0 &&
        MetricValue(metrics, "infusion_requests_waiting").value_or(-1) == 0) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(SumOfSeries(metrics, "infusion_requests_total{"), kRequests) << metrics;
  EXPECT_EQ(MetricValue(metrics, "infusion_kv_cache_usage_ratio").value_or(-1), 0) << metrics;
  EXPECT_EQ(MetricValue(metrics, "infusion_requests_running").value_or(-1), 0);
  EXPECT_EQ(MetricValue(metrics, "infusion_requests_waiting").value_or(-1), 0);
  EXPECT_GE(SumOfSeries(metrics, "infusion_requests_total{code=\"OK\""), kRequests - cancelled);
}

}  // namespace
}  // namespace infusion::testing
