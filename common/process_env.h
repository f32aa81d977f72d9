// Process-wide settings for binaries that run the model, applied first thing in main().
#ifndef INFUSION_COMMON_PROCESS_ENV_H_
#define INFUSION_COMMON_PROCESS_ENV_H_

namespace infusion {

// 1. LibTorch's OpenMP threads spin for a while after each parallel region (libgomp's default:
//    300,000 spins, milliseconds), and OpenBLAS (Debian's pthread build) runs matrix products on
//    threads of its own: on 2 cores the spinning threads starve the OpenBLAS ones (a training
//    step took 10x longer, docs/training.md). Sleeping at once instead (OMP_WAIT_POLICY=passive,
//    the setting until 2026-12-07) costs a wake-up at every region: a bfloat16 TAEF2 decode of
//    one image took 12.0 ms against 7.4. A short spin, GOMP_SPINCOUNT=1000 (~10 us), has neither
//    cost: against passive, a training step 1.87 -> 1.62 s, text-to-image at 8 clients ~7% and
//    the mixed load ~5% faster, chat unchanged (docs/benchmarks.md, session 16). libgomp reads
//    both variables when it is loaded, before main, so unless the user set either the process
//    restarts itself once with GOMP_SPINCOUNT=1000.
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
