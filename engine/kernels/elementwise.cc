#include "engine/kernels/elementwise.h"

#include <cmath>

#include "engine/kernels/vector_math.h"

namespace infusion::engine {
namespace {

// Elements below which a kernel stays on the calling thread. Vectorised, these kernels stream
// ~10 elements per ns, so below ~2M elements waking the pool (tens of microseconds with a
// passive OpenMP wait policy) costs more than the second core saves.
constexpr int64_t kParallelMinElements = int64_t{1} << 21;

}  // namespace

__attribute__((target_clones("avx512f", "avx2", "default"))) void RmsNormRow(const float* x,
                                                                             const float* weight,
                                                                             float eps, int64_t dim,
                                                                             float* out) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < dim; ++i) sum += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(sum / static_cast<float>(dim) + eps);
#pragma omp simd
  for (int64_t i = 0; i < dim; ++i) out[i] = x[i] * inv * weight[i];
}

static __attribute__((target_clones("avx512f", "avx2", "default"))) void SwiGluRow(const float* in,
                                                                            int64_t width,
                                                                            float* out) {
  const float* up = in + width;
#pragma omp simd
  for (int64_t i = 0; i < width; ++i) out[i] = FastSilu(in[i]) * up[i];
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void RotaryRow(
    float* x, int heads, int64_t head_dim, const float* __restrict cos,
    const float* __restrict sin) {
  const int64_t half = head_dim / 2;
  const float* __restrict cos_hi = cos + half;
  const float* __restrict sin_hi = sin + half;
  for (int h = 0; h < heads; ++h) {
    float* __restrict a = x + h * head_dim;  // the two halves of one head never overlap
    float* __restrict b = a + half;
#pragma omp simd
    for (int64_t i = 0; i < half; ++i) {
      const float lo = a[i], hi = b[i];
      a[i] = lo * cos[i] - hi * sin[i];
      b[i] = hi * cos_hi[i] + lo * sin_hi[i];
    }
  }
}

void RmsNormRows(const float* x, const float* weight, float eps, int64_t rows, int64_t dim,
                 float* out) {
#pragma omp parallel for if (rows * dim >= kParallelMinElements)
  for (int64_t r = 0; r < rows; ++r) RmsNormRow(x + r * dim, weight, eps, dim, out + r * dim);
}

void SwiGluRows(const float* in, int64_t rows, int64_t width, float* out) {
#pragma omp parallel for if (rows * width >= kParallelMinElements)
  for (int64_t r = 0; r < rows; ++r) SwiGluRow(in + r * 2 * width, width, out + r * width);
}

void RotaryInPlace(float* x, int64_t rows, int64_t row_stride, int heads, int head_dim,
                   const float* cos, const float* sin) {
#pragma omp parallel for if (rows * heads * head_dim >= kParallelMinElements)
  for (int64_t r = 0; r < rows; ++r) {
    RotaryRow(x + r * row_stride, heads, head_dim, cos + r * head_dim, sin + r * head_dim);
  }
}

}  // namespace infusion::engine
