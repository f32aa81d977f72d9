// One knob for the CPU thread pools that run the model.
#ifndef INFUSION_ENGINE_MODEL_COMPUTE_THREADS_H_
#define INFUSION_ENGINE_MODEL_COMPUTE_THREADS_H_

namespace infusion::engine {

// Sets the threads of every CPU pool the forward pass uses: LibTorch's intra-op (OpenMP) pool,
// which also runs engine/attention, and OpenBLAS's own pool (Debian's pthread build), which
// LibTorch's setting does not reach. `threads` <= 0 means the number of cores. Returns the count
// set.
int SetComputeThreads(int threads);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_MODEL_COMPUTE_THREADS_H_
