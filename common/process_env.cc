#include "common/process_env.h"

#include <malloc.h>
#include <unistd.h>

#include <cstdlib>

namespace infusion {

void PrepareComputeProcess(char** argv) {
  bool restart = false;
  if (std::getenv("OMP_WAIT_POLICY") == nullptr && std::getenv("GOMP_SPINCOUNT") == nullptr) {
    setenv("GOMP_SPINCOUNT", "1000", /*overwrite=*/1);  // ~10 us of spinning, then sleep
    restart = true;
  }
  if (std::getenv("OPENBLAS_THREAD_TIMEOUT") == nullptr) {
    setenv("OPENBLAS_THREAD_TIMEOUT", "4", /*overwrite=*/1);  // OpenBLAS's shortest: 2^4 cycles
    restart = true;
  }
  if (restart) {
    execv("/proc/self/exe", argv);  // returns only on failure: then run with the defaults
  }
  mallopt(M_MMAP_THRESHOLD, 256 << 20);  // blocks below 256 MiB come from the heap...
  mallopt(M_TRIM_THRESHOLD, 512 << 20);  // ...which is not trimmed below 512 MiB free
  mallopt(M_TOP_PAD, 64 << 20);          // and grows 64 MiB at a time
}

}  // namespace infusion
