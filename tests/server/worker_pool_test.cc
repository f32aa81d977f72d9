#include "server/worker_pool.h"

#include <atomic>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace infusion::server {
namespace {

TEST(WorkerPoolTest, RunsEveryPostedTaskBeforeItIsDestroyed) {
  std::atomic<int> sum{0};
  {
    WorkerPool pool(3);
    for (int i = 1; i <= 100; ++i) pool.Post([&sum, i] { sum += i; });
  }
  EXPECT_EQ(sum.load(), 5050);
}

TEST(WorkerPoolTest, RunsTasksOnItsOwnThreads) {
  WorkerPool pool(1);
  absl::Notification done;
  std::thread::id worker;
  pool.Post([&] {
    worker = std::this_thread::get_id();
    done.Notify();
  });
  done.WaitForNotification();
  EXPECT_NE(worker, std::this_thread::get_id());
}

}  // namespace
}  // namespace infusion::server
