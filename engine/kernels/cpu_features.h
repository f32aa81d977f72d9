// The instruction sets of the CPU this process runs on, detected once at run time (CPUID and the
// operating system's XCR0), for the kernels that pick a code path by them and for the logs and
// benchmark reports that say which path ran.
#ifndef INFUSION_ENGINE_KERNELS_CPU_FEATURES_H_
#define INFUSION_ENGINE_KERNELS_CPU_FEATURES_H_

#include <string>

namespace infusion::engine {

struct CpuFeatures {
  bool avx2_fma = false;     // the fused kernels' AVX2 + FMA paths (portable C++ otherwise)
  bool avx512f = false;
  bool avx512_bf16 = false;  // AVX512-BF16 dot products
  bool amx_bf16 = false;     // AMX tiles with bfloat16, enabled by the operating system

  // bfloat16 products in hardware: without either, LibTorch converts element by element and a
  // bfloat16 product is far slower than a float32 one (--bf16_min_rows).
  bool native_bf16() const { return avx512_bf16 || amx_bf16; }
  // The features present, e.g. "avx2 fma avx512f avx512_bf16", or "baseline" without them.
  std::string ToString() const;
};

// Detected on the first call; the same object afterwards.
const CpuFeatures& DetectCpuFeatures();

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_KERNELS_CPU_FEATURES_H_
