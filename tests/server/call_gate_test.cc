#include "server/call_gate.h"

#include <thread>

#include "gtest/gtest.h"

namespace infusion::server {
namespace {

TEST(CallGateTest, ClosingRefusesNewCallsAndWaitsForTheRunningOnes) {
  CallGate gate;
  std::optional<CallGate::Ticket> running = gate.TryEnter();
  ASSERT_TRUE(running.has_value());
  EXPECT_TRUE(gate.TryEnter().has_value());  // taken and given back at once
  gate.Close();
  EXPECT_TRUE(gate.closed());
  EXPECT_FALSE(gate.TryEnter().has_value());
  EXPECT_FALSE(gate.AwaitEmpty(absl::Now() + absl::Milliseconds(10)));  // one still runs

  std::thread finisher([&] {
    absl::SleepFor(absl::Milliseconds(20));
    running.reset();
  });
  EXPECT_TRUE(gate.AwaitEmpty(absl::Now() + absl::Seconds(60)));
  finisher.join();
}

TEST(CallGateTest, AMovedTicketLeavesOnce) {
  CallGate gate;
  {
    std::optional<CallGate::Ticket> first = gate.TryEnter();
    CallGate::Ticket moved = *std::move(first);
    first.reset();  // the moved-from ticket holds nothing
    EXPECT_FALSE(gate.AwaitEmpty(absl::Now()));
  }
  EXPECT_TRUE(gate.AwaitEmpty(absl::Now()));
}

}  // namespace
}  // namespace infusion::server
