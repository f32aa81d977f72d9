#include "common/process_env.h"

#include <unistd.h>

#include <cstdlib>

namespace infusion {

void UsePassiveOpenMpWaits(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  setenv("OMP_WAIT_POLICY", "passive", /*overwrite=*/1);
  execv("/proc/self/exe", argv);  // returns only on failure: then run with the default policy
}

}  // namespace infusion
