// Process-wide settings for binaries that run the model, applied first thing in main().
#ifndef INFUSION_COMMON_PROCESS_ENV_H_
#define INFUSION_COMMON_PROCESS_ENV_H_

namespace infusion {

// 1. LibTorch's OpenMP threads spin for a while after each parallel region (libgomp's default
//    wait policy), and OpenBLAS (Debian's pthread build) runs matrix products on threads of its
//    own: on 2 cores the spinning threads starve the OpenBLAS ones (a training step took 10x
//    longer, docs/training.md). libgomp reads OMP_WAIT_POLICY when it is loaded, before main, so
//    unless the user chose a policy the process restarts itself once with "passive".
//    OpenBLAS's own threads likewise spin after each product (2^28 cycles by default) before
//    they sleep: the logits product of every decode step left one spinning beside the fused
//    decoder's two threads, which then waited on each other at their barriers (13% of a chat
//    load's samples in sched_yield). OPENBLAS_THREAD_TIMEOUT, read when OpenBLAS is loaded, is
//    set to its shortest (4) the same way unless the user chose one: chat at 32 clients went
//    from 3,992-4,399 to 5,453-5,533 tokens/s here; a training step did not change.
// 2. A forward pass allocates and frees the same few-MiB activation buffers every step; glibc
//    would return them to the kernel (munmap, heap trim) and fault fresh zeroed pages back in
//    the next step. Freed memory is kept instead (mallopt), which made a step of 8 guided images
//    ~8% faster here (docs/benchmarks.md).
void PrepareComputeProcess(char** argv);

}  // namespace infusion

#endif  // INFUSION_COMMON_PROCESS_ENV_H_
