#include "server/event_queue.h"

#include "gtest/gtest.h"

namespace infusion::server {

using scheduler::RequestEvent;

namespace {

RequestEvent Text(const std::string& text) {
  RequestEvent e;
  e.type = RequestEvent::Type::kText;
  e.text = text;
  return e;
}

TEST(EventQueueTest, WakesTheConsumerOncePerIdlePeriodAndKeepsOrder) {
  int wakes = 0;
  EventQueue queue([&] { ++wakes; });
  EXPECT_FALSE(queue.Pop().has_value());  // idle from the start

  queue.OnEvent(Text("a"));
  queue.OnEvent(Text("b"));  // the consumer is already woken
  EXPECT_EQ(wakes, 1);
  EXPECT_EQ(queue.Pop()->event.text, "a");
  queue.OnEvent(Text("c"));  // still owned by the consumer: no new wake-up
  EXPECT_EQ(wakes, 1);
  EXPECT_EQ(queue.Pop()->event.text, "b");
  EXPECT_EQ(queue.Pop()->event.text, "c");
  EXPECT_FALSE(queue.Pop().has_value());  // now idle

  queue.OnEvent(Text("d"));
  EXPECT_EQ(wakes, 2);
  std::optional<TimedEvent> d = queue.Pop();
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->event.text, "d");
  EXPECT_LE(d->time, absl::Now());
}

}  // namespace
}  // namespace infusion::server
