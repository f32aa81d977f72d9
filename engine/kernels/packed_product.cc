#include "engine/kernels/packed_product.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "engine/kernels/cpu_features.h"
#include "engine/kernels/vector_math.h"

namespace infusion::engine {
namespace {

constexpr int kWidth = PackedWeight::kPanelWidth;
constexpr int kHalf = kWidth / 2;
// Rows of one register tile: 6 rows x 2 vectors of 8 = 12 accumulators of the 16 AVX2 registers.
constexpr int kTileRows = 6;

float* AllocatePanels(int64_t panels, int64_t in) {
  const size_t bytes = static_cast<size_t>(panels * in * kWidth) * sizeof(float);
  void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, bytes);
  return static_cast<float*>(p);
}

// Writes a finished tile row (kWidth sums, `a` the first 8 and `b` the last 8) to y.
inline void FinishRow(const float* a, const float* b, float* y, int cols,
                      ProductEpilogue epilogue) {
  if (epilogue == ProductEpilogue::kSwiGlu) {
    float out[kHalf];
#pragma omp simd
    for (int i = 0; i < kHalf; ++i) out[i] = FastSilu(a[i]) * b[i];
    for (int i = 0; i < cols; ++i) y[i] = out[i];
    return;
  }
  for (int i = 0; i < cols; ++i) {
    const float v = i < kHalf ? a[i] : b[i - kHalf];
    y[i] = epilogue == ProductEpilogue::kAccumulate ? y[i] + v : v;
  }
}

template <int kRows>
__attribute__((target("avx2,fma"))) void TileAvx2(const float* x, int64_t ldx, const float* panel,
                                                 int64_t in, float* y, int64_t ldy, int cols,
                                                 ProductEpilogue epilogue) {
  // Every loop over rows is unrolled, so that the accumulators live in registers only (GCC
  // otherwise mirrors them to the stack in every iteration, which halved the kernel's speed).
  __m256 lo[kRows], hi[kRows];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
  for (int64_t i = 0; i < in; ++i) {
    const __m256 b0 = _mm256_load_ps(panel + i * kWidth);
    const __m256 b1 = _mm256_load_ps(panel + i * kWidth + kHalf);
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const __m256 a = _mm256_broadcast_ss(x + r * ldx + i);
      lo[r] = _mm256_fmadd_ps(a, b0, lo[r]);
      hi[r] = _mm256_fmadd_ps(a, b1, hi[r]);
    }
  }
  alignas(32) float tile[kRows][kWidth];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
    _mm256_store_ps(tile[r], lo[r]);
    _mm256_store_ps(tile[r] + kHalf, hi[r]);
  }
  for (int r = 0; r < kRows; ++r) {
    float* yr = y + r * ldy;
    if (cols == kWidth && epilogue != ProductEpilogue::kSwiGlu) {
      __m256 a = _mm256_load_ps(tile[r]), b = _mm256_load_ps(tile[r] + kHalf);
      if (epilogue == ProductEpilogue::kAccumulate) {
        a = _mm256_add_ps(a, _mm256_loadu_ps(yr));
        b = _mm256_add_ps(b, _mm256_loadu_ps(yr + kHalf));
      }
      _mm256_storeu_ps(yr, a);
      _mm256_storeu_ps(yr + kHalf, b);
      continue;
    }
    FinishRow(tile[r], tile[r] + kHalf, yr, cols, epilogue);
  }
}

// The same tile in portable C++ (the compiler vectorises the inner loops at whatever width the
// build targets).
template <int kRows>
void TilePortable(const float* x, int64_t ldx, const float* panel, int64_t in, float* y,
                  int64_t ldy, int cols, ProductEpilogue epilogue) {
  float acc[kRows][kWidth] = {};
  for (int64_t i = 0; i < in; ++i) {
    const float* b = panel + i * kWidth;
    for (int r = 0; r < kRows; ++r) {
      const float a = x[r * ldx + i];
#pragma omp simd
      for (int c = 0; c < kWidth; ++c) acc[r][c] += a * b[c];
    }
  }
  for (int r = 0; r < kRows; ++r) FinishRow(acc[r], acc[r] + kHalf, y + r * ldy, cols, epilogue);
}

using TileFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, int,
                        ProductEpilogue);

bool force_portable = false;

bool HasAvx2() {
  return DetectCpuFeatures().avx2_fma && !force_portable;
}

TileFn PickTile(int rows) {
  static const TileFn avx2[kTileRows + 1] = {nullptr,      TileAvx2<1>, TileAvx2<2>, TileAvx2<3>,
                                             TileAvx2<4>, TileAvx2<5>, TileAvx2<6>};
  static const TileFn portable[kTileRows + 1] = {nullptr,          TilePortable<1>,
                                                 TilePortable<2>,  TilePortable<3>,
                                                 TilePortable<4>,  TilePortable<5>,
                                                 TilePortable<6>};
  return HasAvx2() ? avx2[rows] : portable[rows];
}

}  // namespace

void PackedWeight::Free::operator()(float* p) const { std::free(p); }

PackedWeight PackedWeight::Pack(const float* w, int64_t out, int64_t in) {
  PackedWeight packed;
  packed.in_ = in;
  packed.out_ = out;
  packed.panels_ = (out + kWidth - 1) / kWidth;
  packed.data_.reset(AllocatePanels(packed.panels_, in));
  for (int64_t o = 0; o < out; ++o) {
    float* column = packed.data_.get() + (o / kWidth) * in * kWidth + o % kWidth;
    for (int64_t i = 0; i < in; ++i) column[i * kWidth] = w[o * in + i];
  }
  return packed;
}

PackedWeight PackedWeight::PackSwiGlu(const float* gate, const float* up, int64_t width,
                                      int64_t in) {
  PackedWeight packed;
  packed.in_ = in;
  packed.out_ = width;
  packed.panels_ = (width + kHalf - 1) / kHalf;
  packed.swiglu_ = true;
  packed.data_.reset(AllocatePanels(packed.panels_, in));
  for (int64_t o = 0; o < width; ++o) {
    float* column = packed.data_.get() + (o / kHalf) * in * kWidth + o % kHalf;
    for (int64_t i = 0; i < in; ++i) {
      column[i * kWidth] = gate[o * in + i];
      column[i * kWidth + kHalf] = up[o * in + i];
    }
  }
  return packed;
}

void PackedProduct(const float* x, int64_t rows, int64_t ldx, const PackedWeight& w,
                   int64_t panel_begin, int64_t panel_end, float* y, int64_t ldy,
                   ProductEpilogue epilogue) {
  const int64_t columns_per_panel = w.swiglu() ? kHalf : kWidth;
  for (int64_t p = panel_begin; p < panel_end; ++p) {
    const int64_t first = p * columns_per_panel;
    const int cols = static_cast<int>(std::min(columns_per_panel, w.out() - first));
    const float* panel = w.panel(p);
    for (int64_t r = 0; r < rows; r += kTileRows) {
      const int tile_rows = static_cast<int>(std::min<int64_t>(kTileRows, rows - r));
      PickTile(tile_rows)(x + r * ldx, ldx, panel, w.in(), y + r * ldy + first, ldy, cols,
                          epilogue);
    }
  }
}

const char* PackedProductIsa() { return HasAvx2() ? "avx2" : "portable"; }

void ForcePortablePackedProduct(bool force) { force_portable = force; }

}  // namespace infusion::engine
