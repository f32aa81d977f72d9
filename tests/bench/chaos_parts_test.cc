#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "clients/bench/chaos_calls.h"
#include "clients/bench/chaos_server.h"
#include "gtest/gtest.h"

namespace infusion::bench {
namespace {

TEST(SumMetricTest, SumsTheSamplesWhoseLabelsMatch) {
  const std::string text =
      "# HELP infusion_requests_total Finished calls\n"
      "# TYPE infusion_requests_total counter\n"
      "infusion_requests_total{rpc=\"Chat\",code=\"OK\"} 3\n"
      "infusion_requests_total{rpc=\"Caption\",code=\"OK\"} 4 1700000000000\n"
      "infusion_requests_total{rpc=\"Chat\",code=\"INTERNAL\"} 0\n"
      "infusion_requests_running 2\n"
      "infusion_requests_running_max 9\n";
  EXPECT_EQ(*SumMetric(text, "infusion_requests_total"), 7);
  EXPECT_EQ(*SumMetric(text, "infusion_requests_total", {"code=\"OK\""}), 7);
  EXPECT_EQ(*SumMetric(text, "infusion_requests_total", {"code=\"OK\"", "rpc=\"Chat\""}), 3);
  EXPECT_EQ(*SumMetric(text, "infusion_requests_total", {"code=\"INTERNAL\""}), 0);
  EXPECT_EQ(*SumMetric(text, "infusion_requests_running"), 2);  // not the _max series
  EXPECT_EQ(SumMetric(text, "infusion_requests_total", {"code=\"UNKNOWN\""}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(SumMetric(text, "infusion_requests_waiting").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(SumMetric("infusion_requests_waiting x\n", "infusion_requests_waiting")
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
}

// The shared machine's quiet.sh stops whole jobs with SIGSTOP: that time is not the calls'.
TEST(ActiveClockTest, LeavesOutTimeTheProcessWasStopped) {
  ActiveClock clock;
  const auto wall_start = std::chrono::steady_clock::now();
  const double start = clock.Now();
  const pid_t parent = getpid();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // only async-signal-safe calls here
    usleep(200 * 1000);
    kill(parent, SIGSTOP);
    usleep(3500 * 1000);
    kill(parent, SIGCONT);
    _exit(0);
  }
  waitpid(child, nullptr, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  ASSERT_GE(wall, 3.5);
  EXPECT_GE(clock.paused_s(), 2.5);
  EXPECT_LT(clock.Now() - start, wall - 2.5);
  EXPECT_GT(clock.Now() - start, 0.3);
}

TEST(CallTrackerTest, OneOutcomePerCall) {
  ActiveClock clock;
  CallTracker tracker(&clock);
  CallRecord record;
  record.op = "chat";
  const int64_t a = tracker.Begin(record);
  const int64_t b = tracker.Begin(record);
  EXPECT_NE(a, b);
  EXPECT_EQ(tracker.InFlight(), 2);
  tracker.FirstEvent(a);
  tracker.Finish(a, "OK", "", "");
  EXPECT_EQ(tracker.InFlight(), 1);
  tracker.Finish(a, "CANCELLED", "", "");  // a second outcome is a fault, kept visible
  const std::vector<CallRecord> calls = tracker.Snapshot();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].outcome, "OK");
  EXPECT_GE(calls[0].first_event, calls[0].start);
  EXPECT_TRUE(absl::StrContains(calls[0].protocol_error, "finished twice"));
  EXPECT_LT(calls[1].end, 0);
}

// With no server at the other end, every call still ends with exactly one outcome: the
// transport's failure, never a hang.
TEST(ChaosCallsTest, CatalogueAndCallsWithoutAServer) {
  ActiveClock clock;
  CallTracker tracker(&clock);
  auto calls = ChaosCalls::Create("127.0.0.1:1", "http://127.0.0.1:1", "", 30, &tracker);
  ASSERT_TRUE(calls.ok()) << calls.status();
  const std::vector<std::string> names = (*calls)->MalformedNames();
  ASSERT_EQ(static_cast<int>(names.size()), (*calls)->num_malformed());
  EXPECT_GE(names.size(), 60u);
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), names.size());
  int grpc = 0, http = 0;
  for (int i = 0; i < (*calls)->num_malformed(); ++i) {
    const CallSpec spec = (*calls)->MalformedSpec(i);
    (spec.front_end == FrontEnd::kGrpc ? grpc : http)++;
    EXPECT_TRUE(absl::StartsWith(names[i], FrontEndName(spec.front_end))) << names[i];
  }
  EXPECT_GT(grpc, 20);
  EXPECT_GT(http, 20);

  std::mt19937_64 rng(5);
  std::set<Plan> plans;
  for (int i = 0; i < 2000; ++i) {
    const CallSpec spec = (*calls)->Pick(ChaosMix(), rng);
    plans.insert(spec.plan);
    if (spec.plan == Plan::kDeadline) EXPECT_EQ(spec.front_end, FrontEnd::kGrpc);
    if (spec.plan == Plan::kAbandon) EXPECT_EQ(spec.front_end, FrontEnd::kHttp);
    if (spec.plan == Plan::kMalformed) {
      ASSERT_LT(spec.index, (*calls)->num_malformed());
      EXPECT_EQ(spec.front_end, (*calls)->MalformedSpec(spec.index).front_end);
    }
  }
  EXPECT_EQ(plans.size(), 7u);  // every plan of the mix but bursts, which are sent apart

  (*calls)->Run({FrontEnd::kGrpc, Plan::kNormal, 0}, rng);
  (*calls)->Run({FrontEnd::kHttp, Plan::kNormal, 0}, rng);
  (*calls)->Run((*calls)->MalformedSpec(0), rng);
  const std::vector<CallRecord> records = tracker.Snapshot();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].outcome, "UNAVAILABLE");
  EXPECT_TRUE(absl::StartsWith(records[1].outcome, "transport: ")) << records[1].outcome;
  EXPECT_EQ(records[2].outcome, "UNAVAILABLE");
  for (const CallRecord& r : records) {
    EXPECT_GE(r.end, r.start);
    EXPECT_TRUE(r.protocol_error.empty()) << r.protocol_error;
    EXPECT_FALSE(r.expected.empty());
  }
}

}  // namespace
}  // namespace infusion::bench
