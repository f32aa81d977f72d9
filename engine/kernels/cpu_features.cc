#include "engine/kernels/cpu_features.h"

#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace infusion::engine {
namespace {

#if defined(__x86_64__) || defined(__i386__)
// XCR0: the register state the operating system saves on a context switch, so may be used.
uint64_t ReadXcr0() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d) || (c & bit_OSXSAVE) == 0) return 0;
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

CpuFeatures Detect() {
  CpuFeatures f;
  // libgcc's checks include the operating system's support of the AVX and AVX-512 registers.
  f.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512_bf16 = f.avx512f && __builtin_cpu_supports("avx512bf16");
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    constexpr unsigned kAmxBf16 = 1u << 22;  // CPUID.(EAX=7,ECX=0):EDX
    constexpr unsigned kAmxTile = 1u << 24;
    constexpr uint64_t kTileState = (1ull << 17) | (1ull << 18);  // XTILECFG, XTILEDATA
    f.amx_bf16 = (d & kAmxBf16) != 0 && (d & kAmxTile) != 0 &&
                 (ReadXcr0() & kTileState) == kTileState;
  }
  return f;
}
#else
CpuFeatures Detect() { return {}; }
#endif

}  // namespace

std::string CpuFeatures::ToString() const {
  std::string out;
  const auto add = [&out](bool has, const char* name) {
    if (!has) return;
    if (!out.empty()) out += ' ';
    out += name;
  };
  add(avx2_fma, "avx2 fma");
  add(avx512f, "avx512f");
  add(avx512_bf16, "avx512_bf16");
  add(amx_bf16, "amx_bf16");
  return out.empty() ? "baseline" : out;
}

const CpuFeatures& DetectCpuFeatures() {
  static const CpuFeatures features = Detect();
  return features;
}

}  // namespace infusion::engine
