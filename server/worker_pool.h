// A few threads running posted tasks in order of posting. The server builds responses here
// (decoding latents and encoding PNGs runs LibTorch) so that neither the engine thread nor gRPC's
// callback threads do that work.
#ifndef INFUSION_SERVER_WORKER_POOL_H_
#define INFUSION_SERVER_WORKER_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace infusion::server {

class WorkerPool {
 public:
  explicit WorkerPool(int num_threads);
  // Runs every task already posted, then joins the threads.
  ~WorkerPool();

  void Post(std::function<void()> task);

 private:
  void Work();

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace infusion::server

#endif  // INFUSION_SERVER_WORKER_POOL_H_
