#include "engine/model/compute_threads.h"

#include <dlfcn.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <thread>

namespace infusion::engine {

int SetComputeThreads(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  // Looked up rather than linked: LibTorch may sit on another BLAS (the reference one, MKL).
  using SetBlasThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetBlasThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set(threads);
  }
  return threads;
}

}  // namespace infusion::engine
