#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/http_server.h"
#include "tests/server/server_process.h"

namespace infusion::server {
namespace {

using ::testing::HasSubstr;
using testing::HttpGet;

TEST(MetricsServerTest, ServesTheCollectablesAtSlashMetrics) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter()
      .Name("test_events_total")
      .Help("events")
      .Register(*registry)
      .Add({})
      .Increment(3);
  auto gone = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter().Name("gone_total").Help("gone").Register(*gone).Add({});
  auto endpoint = MetricsServer::Start("127.0.0.1", 0, {registry, gone});
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  gone.reset();  // an expired collectable is skipped

  absl::StatusOr<std::string> body = HttpGet((*endpoint)->port(), "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_THAT(*body, HasSubstr("# TYPE test_events_total counter\ntest_events_total 3\n"));
  EXPECT_THAT(*body, ::testing::Not(HasSubstr("gone_total")));
  EXPECT_THAT(std::string(HttpGet((*endpoint)->port(), "/other").status().message()),
              HasSubstr("404"));
}

TEST(MetricsServerTest, ABusyPortIsAnError) {
  auto first = MetricsServer::Start("127.0.0.1", 0, {});
  ASSERT_TRUE(first.ok());
  auto second = MetricsServer::Start("127.0.0.1", (*first)->port(), {});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace infusion::server
