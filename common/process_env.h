// Process-wide settings that must be in place before the libraries that read them are loaded.
#ifndef INFUSION_COMMON_PROCESS_ENV_H_
#define INFUSION_COMMON_PROCESS_ENV_H_

namespace infusion {

// LibTorch's OpenMP threads spin for a while after each parallel region (libgomp's default wait
// policy), and OpenBLAS (Debian's pthread build) runs matrix products on threads of its own: on
// 2 cores the spinning threads starve the OpenBLAS ones (a training step took 10x longer,
// docs/training.md; an engine step 3-40x). libgomp reads OMP_WAIT_POLICY when it is loaded,
// before main, so unless the user chose a policy the process restarts itself once with
// "passive". Call first thing in main() of every binary that runs the model.
void UsePassiveOpenMpWaits(char** argv);

}  // namespace infusion

#endif  // INFUSION_COMMON_PROCESS_ENV_H_
