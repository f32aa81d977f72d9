#include "common/process_env.h"

#include <malloc.h>
#include <unistd.h>

#include <cstdlib>

namespace infusion {

void PrepareComputeProcess(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("OMP_WAIT_POLICY", "passive", /*overwrite=*/1);
    execv("/proc/self/exe", argv);  // returns only on failure: then run with the default policy
  }
  mallopt(M_MMAP_THRESHOLD, 256 << 20);  // blocks below 256 MiB come from the heap...
  mallopt(M_TRIM_THRESHOLD, 512 << 20);  // ...which is not trimmed below 512 MiB free
  mallopt(M_TOP_PAD, 64 << 20);          // and grows 64 MiB at a time
}

}  // namespace infusion
