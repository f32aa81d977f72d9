#include "server/server_metrics.h"

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/process_collector.h"

namespace infusion::server {

using scheduler::FinishReason;
using scheduler::RequestEvent;

namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

TEST(RequestIdTest, KeepsAPlainIdAndBoundsTheRest) {
  EXPECT_EQ(RequestIdFrom("req-42"), "req-42");
  EXPECT_THAT(RequestIdFrom(""), MatchesRegex("[0-9a-f]{16}"));
  EXPECT_NE(RequestIdFrom(""), RequestIdFrom(""));
  // Control characters, spaces, quotes and bytes past ASCII cannot reach a log line or header.
  EXPECT_EQ(RequestIdFrom("a b\n\"c\xC3\xA9"), "a_b__c__");
  EXPECT_EQ(RequestIdFrom("00-4bf92f35-00f067aa.1:x/y+z=@~"), "00-4bf92f35-00f067aa.1:x/y+z=@~");
  const std::string id = RequestIdFrom(std::string(1000, 'x'));
  EXPECT_EQ(id, std::string(kMaxRequestIdBytes, 'x'));
}

std::string Scrape(prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

TEST(ServerMetricsTest, FinishReasonsAndLengthsByFrontend) {
  prometheus::Registry registry;
  ServerMetrics metrics(&registry, {{"model", "m"}});
  RequestEvent finish;
  finish.type = RequestEvent::Type::kFinish;
  finish.reason = FinishReason::kLength;
  finish.usage.prompt_tokens = 7;
  finish.usage.generated_tokens = 30;
  CallRecorder call(&metrics, Frontend::kHttp, "ChatCompletions", "id-1", absl::Now());
  RequestEvent text;
  text.text = "a";
  call.Observe(text, absl::Now());
  call.Observe(text, absl::Now());
  call.Observe(finish, absl::Now());
  call.End(absl::StatusCode::kOk);
  call.End(absl::StatusCode::kCancelled);  // counted once
  finish.reason = FinishReason::kCancelled;
  CallRecorder cancelled(&metrics, Frontend::kGrpc, "Chat", "id-2", absl::Now());
  cancelled.Observe(finish, absl::Now());
  cancelled.End(absl::StatusCode::kCancelled);

  const std::string text_format = Scrape(registry);
  EXPECT_THAT(
      text_format,
      HasSubstr(
          "infusion_requests_total{code=\"OK\",frontend=\"http\",rpc=\"ChatCompletions\"} 1\n"));
  EXPECT_THAT(
      text_format,
      HasSubstr("infusion_requests_total{code=\"CANCELLED\",frontend=\"grpc\",rpc=\"Chat\"} 1\n"));
  EXPECT_THAT(text_format, ::testing::Not(HasSubstr("code=\"CANCELLED\",frontend=\"http\"")));
  EXPECT_THAT(
      text_format,
      HasSubstr("infusion_request_finished_total{frontend=\"http\",reason=\"length\"} 1\n"));
  EXPECT_THAT(
      text_format,
      HasSubstr("infusion_request_finished_total{frontend=\"grpc\",reason=\"cancelled\"} 1\n"));
  // Lengths of the normal end only: 30 output tokens fall in the bucket up to 50, not 20.
  EXPECT_THAT(text_format,
              HasSubstr("infusion_request_generation_tokens_count{frontend=\"http\"} 1\n"));
  EXPECT_THAT(text_format,
              HasSubstr("infusion_request_generation_tokens_sum{frontend=\"http\"} 30\n"));
  EXPECT_THAT(
      text_format,
      HasSubstr("infusion_request_generation_tokens_bucket{frontend=\"http\",le=\"20\"} 0\n"));
  EXPECT_THAT(
      text_format,
      HasSubstr("infusion_request_generation_tokens_bucket{frontend=\"http\",le=\"50\"} 1\n"));
  EXPECT_THAT(text_format, HasSubstr("infusion_request_prompt_tokens_sum{frontend=\"http\"} 7\n"));
  EXPECT_THAT(text_format,
              ::testing::Not(HasSubstr("infusion_request_prompt_tokens_count{frontend=\"grpc\"}")));
  EXPECT_THAT(text_format,
              HasSubstr("infusion_inter_token_latency_seconds_count{frontend=\"http\"} 1\n"));
  EXPECT_THAT(text_format,
              HasSubstr("infusion_time_to_first_token_seconds_count{frontend=\"http\"} 1\n"));
}

TEST(ProcessCollectorTest, ParsesProcStat) {
  // proc(5): the command name may hold spaces and parentheses.
  const std::string stat =
      "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1000 "
      "123456789 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  std::optional<ProcessStat> parsed = ParseProcStat(stat, /*ticks_per_second=*/100, 4096);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_DOUBLE_EQ(parsed->cpu_seconds, 3.0);     // (250 + 50) / 100
  EXPECT_DOUBLE_EQ(parsed->start_seconds, 10.0);  // 1000 / 100
  EXPECT_DOUBLE_EQ(parsed->virtual_bytes, 123456789);
  EXPECT_DOUBLE_EQ(parsed->resident_bytes, 2048.0 * 4096);
  EXPECT_FALSE(ParseProcStat("4242 (x) S 1 2", 100, 4096).has_value());
  EXPECT_FALSE(ParseProcStat("no parenthesis", 100, 4096).has_value());
}

TEST(ProcessCollectorTest, ReadsThisProcess) {
  const std::string text = prometheus::TextSerializer().Serialize(ProcessCollector().Collect());
  for (const char* family :
       {"process_cpu_seconds_total counter", "process_resident_memory_bytes gauge",
        "process_virtual_memory_bytes gauge", "process_open_fds gauge", "process_max_fds gauge",
        "process_start_time_seconds gauge"}) {
    EXPECT_THAT(text, HasSubstr(std::string("# TYPE ") + family)) << text;
  }
}

}  // namespace
}  // namespace infusion::server
