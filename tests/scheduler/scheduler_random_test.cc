// Thousands of steps of random arrivals (text, images, chats that draw), cancellations, deadlines
// and queue timeouts under KV pressure. At the end: no leaked block, exactly one terminal event
// per request (the last event), and no request waited past its queue bound.
#include <gtest/gtest.h>

#include <random>

#include "scheduler/scheduler.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace infusion::testing {

using engine::OutputProcessor;
using engine::PromptPart;
using scheduler::FinishReason;
using scheduler::Request;
using scheduler::RequestEvent;
using scheduler::RequestId;
using scheduler::Scheduler;
using scheduler::SchedulerOptions;
using scheduler::SchedulerStats;

namespace {

using Type = RequestEvent::Type;

struct Tracked {
  RequestId id;
  std::shared_ptr<RecordingSink> sink;
  absl::Time submitted;
  absl::Duration queue_timeout;
};

void RunRandom(uint64_t seed, bool prefix_cache) {
  std::mt19937_64 rng(seed);
  absl::Time now = absl::UnixEpoch();
  SchedulerOptions options;
  options.clock = [&now] { return now; };
  options.max_tokens_per_step = 48;
  options.max_running = 12;
  options.max_queued = 40;
  options.enable_prefix_cache = prefix_cache;
  FakeExecutor executor(/*num_blocks=*/28, /*block_size=*/4);
  executor.ForceNextToken(/*after=*/17, /*next=*/4);  // sometimes the model opens an image
  std::unique_ptr<OutputProcessor> runner = MakeRunner(&executor);
  auto scheduler = Scheduler::Create(options, FakeModelInfo(), runner.get());
  ASSERT_TRUE(scheduler.ok());
  Scheduler& s = **scheduler;

  std::vector<Tracked> tracked;
  int refused = 0;
  for (int step = 0; step < 3000; ++step) {
    now += absl::Milliseconds(10);
    for (int arrivals = step < 2700 ? rng() % 3 : 0; arrivals > 0; --arrivals) {
      Request r;
      const int kind = rng() % 3;
      if (kind == 0) {
        r = TextRequest(2 + rng() % 14, 1 + rng() % 40, 11 + rng() % 3);
      } else if (kind == 1) {
        r = ImageRequest(3 + rng() % 6, 1 + rng() % 12, rng() % 2 ? 3.0f : 1.0f, rng());
      } else {
        r = TextRequest(3 + rng() % 6, 4 + rng() % 30, 15);
        r.max_images = 1;
        r.image.steps = 1 + rng() % 3;
        r.uncond_prompt = {PromptPart::Text({2, 4})};
        if (rng() % 2) r.prompt.push_back(PromptPart::Image(std::vector<float>(8, 0.1f * (rng() % 4))));
      }
      r.priority = rng() % 3;
      if (rng() % 5 == 0) r.deadline = now + absl::Milliseconds(50 + rng() % 400);
      r.queue_timeout = absl::Milliseconds(300 + rng() % 700);
      auto sink = std::make_shared<RecordingSink>();
      const absl::Duration timeout = r.queue_timeout;
      auto id = s.Submit(std::move(r), sink);
      if (id.ok()) {
        tracked.push_back({*id, sink, now, timeout});
      } else {
        ASSERT_EQ(id.status().code(), absl::StatusCode::kResourceExhausted);
        ++refused;
      }
    }
    // Cancel one of the recent requests now and then (most of them are still running).
    if (!tracked.empty() && rng() % 4 == 0) {
      s.Cancel(tracked[tracked.size() - 1 - rng() % std::min<size_t>(tracked.size(), 20)].id);
    }
    s.Step();
  }
  for (int i = 0; i < 2000 && s.Stats().running + s.Stats().waiting > 0; ++i) {
    now += absl::Milliseconds(10);
    s.Step();
  }
  const SchedulerStats stats = s.Stats();
  EXPECT_EQ(stats.running + stats.waiting, 0);
  EXPECT_EQ(stats.kv_blocks_used, 0) << "leaked KV blocks";
  EXPECT_EQ(executor.errors(), 0) << "bad slot writes or reads of unwritten slots";
  EXPECT_EQ(stats.invalid_transitions, 0) << "a transition outside the lifecycle table";
  EXPECT_EQ(runner->num_requests(), 0) << "the runner still holds state of ended requests";
  int finished = 0, images = 0, cancelled = 0, timed_out = 0;
  for (const Tracked& t : tracked) {
    const auto events = t.sink->events();
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(t.sink->CountType(Type::kFinish), 1) << "request " << t.id;
    EXPECT_EQ(events.back().type, Type::kFinish) << "request " << t.id;
    const RequestEvent& f = events.back();
    finished += f.reason == FinishReason::kStop || f.reason == FinishReason::kLength ||
                f.reason == FinishReason::kImage;
    images += t.sink->CountType(Type::kImage);
    cancelled += f.reason == FinishReason::kCancelled;
    timed_out += f.reason == FinishReason::kTimeout;
    // Admission (or the timeout) came within the queue bound, give or take one step.
    EXPECT_LE(absl::Seconds(f.usage.queue_seconds), t.queue_timeout + absl::Milliseconds(10))
        << "request " << t.id;
  }
  // The run exercised what it claims to.
  EXPECT_GT(finished, 100);
  EXPECT_GT(images, 50);
  EXPECT_GT(cancelled, 10);
  EXPECT_GT(timed_out, 0);
  EXPECT_GT(stats.preemptions + refused, 0);
  std::printf("seed %llu prefix_cache %d: %zu requests, %d finished, %d images, %d cancelled, "
              "%d timed out, %d refused, %lld preemptions, %lld steps\n",
              static_cast<unsigned long long>(seed), prefix_cache, tracked.size(), finished,
              images, cancelled, timed_out, refused, static_cast<long long>(stats.preemptions),
              static_cast<long long>(stats.steps));
}

TEST(SchedulerRandomTest, WithPrefixCache) { RunRandom(1, true); }
TEST(SchedulerRandomTest, WithoutPrefixCache) { RunRandom(2, false); }
TEST(SchedulerRandomTest, AnotherSeed) { RunRandom(3, true); }

}  // namespace
}  // namespace infusion::testing
