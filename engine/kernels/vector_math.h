// Scalar math written so that GCC vectorises it inside `#pragma omp simd` loops (no calls, no
// branches): the kernels' exponentials run 16 lanes at a time instead of one libm call each.
#ifndef INFUSION_ENGINE_KERNELS_VECTOR_MATH_H_
#define INFUSION_ENGINE_KERNELS_VECTOR_MATH_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace infusion::engine {

// e^x for float, within 2 ulp of std::exp on [-87, 88]; inputs outside are clamped to it (so
// e^-inf = ~1.6e-38, not 0, which is what a softmax or a sigmoid needs). Cody–Waite range
// reduction x = n ln 2 + r, |r| <= ln 2 / 2, and Cephes' degree-6 polynomial for e^r.
inline float FastExp(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;  // 2^n, n in [-126, 127]
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

// x * sigmoid(x).
inline float FastSilu(float x) { return x / (1.0f + FastExp(-x)); }

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_KERNELS_VECTOR_MATH_H_
