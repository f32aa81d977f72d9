// FUZZ_CHECK: a property of the code under test, checked in every build (the replay tests are
// built with NDEBUG). A failure aborts, which libFuzzer reports as a crash with its input.
#ifndef INFUSION_FUZZ_FUZZ_CHECK_H_
#define INFUSION_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

#endif  // INFUSION_FUZZ_FUZZ_CHECK_H_
