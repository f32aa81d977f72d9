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

// Rows of tile t when `rows` rows are cut into as few tiles as kTileRows allows, as evenly as
// possible (32 rows: 6 6 5 5 5 5, not 6 6 6 6 6 2): a tile of one or two rows has too few
// independent sums to hide the multiply-add latency. A row's sums do not depend on its tile.
inline int BalancedTileRows(int64_t rows, int64_t t) {
  const int64_t tiles = (rows + kTileRows - 1) / kTileRows;
  return static_cast<int>(rows / tiles + (t < rows % tiles ? 1 : 0));
}

// Zeroed, 64-byte aligned.
void* AllocateZeroed(size_t bytes) {
  void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, bytes);
  return p;
}

float* AllocatePanels(int64_t panels, int64_t in) {
  return static_cast<float*>(
      AllocateZeroed(static_cast<size_t>(panels * in * kWidth) * sizeof(float)));
}

// Round to nearest even, as AVX512-BF16's conversion does: a NaN stays a (quiet) NaN, and a
// denormal input becomes a zero of its sign.
inline uint16_t FloatToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  if ((u & 0x7f800000u) == 0) return static_cast<uint16_t>((u >> 16) & 0x8000u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
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
                                                 ProductEpilogue epilogue, const float* next) {
  // Every loop over rows is unrolled, so that the accumulators live in registers only (GCC
  // otherwise mirrors them to the stack in every iteration, which halved the kernel's speed).
  // `next`, when not null, is the panel the caller multiplies after this one: one of its 64-byte
  // lines is requested per input, so that it streams in while this panel's tiles compute (the
  // first tile of a panel otherwise waits on memory: at 32 rows over the bundled model's 24 MB
  // of weights this took the product from ~72% to ~85% of its in-cache speed on one thread).
  __m256 lo[kRows], hi[kRows];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
  for (int64_t i = 0; i < in; ++i) {
    if (next != nullptr) {
      _mm_prefetch(reinterpret_cast<const char*>(next + i * kWidth), _MM_HINT_T0);
    }
    const __m256 b0 = _mm256_load_ps(panel + i * kWidth);
    const __m256 b1 = _mm256_load_ps(panel + i * kWidth + kHalf);
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const __m256 a = _mm256_broadcast_ss(x + r * ldx + i);
      lo[r] = _mm256_fmadd_ps(a, b0, lo[r]);
      hi[r] = _mm256_fmadd_ps(a, b1, hi[r]);
    }
  }
  if (epilogue == ProductEpilogue::kSwiGlu) {  // every row at once, as in TileBf16
    alignas(32) float gate[kRows * kHalf], up[kRows * kHalf], out[kRows * kHalf];
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      _mm256_store_ps(gate + r * kHalf, lo[r]);
      _mm256_store_ps(up + r * kHalf, hi[r]);
    }
#pragma omp simd
    for (int i = 0; i < kRows * kHalf; ++i) out[i] = FastSilu(gate[i]) * up[i];
    for (int r = 0; r < kRows; ++r) std::memcpy(y + r * ldy, out + r * kHalf, cols * sizeof(float));
    return;
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
                  int64_t ldy, int cols, ProductEpilogue epilogue, const float* /*next*/) {
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

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_ps() as an unused merge source, which
// -Wmaybe-uninitialized reports once per instantiation (a known false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// The bfloat16 tile: kRows rows x kPanels panels of 16 columns (2 x 6 = 12 accumulators of the 32
// AVX-512 registers), one dot-product instruction per row, panel and pair of inputs.
template <int kRows, int kPanels>
__attribute__((target("avx512f,avx512bf16"))) void TileBf16(
    const uint16_t* x, int64_t ldx, const uint16_t* const* panels, int64_t pairs, float* const* y,
    int64_t ldy, const int* cols, ProductEpilogue epilogue) {
  __m512 acc[kPanels][kRows];
#pragma GCC unroll 8
  for (int q = 0; q < kPanels; ++q) {
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) acc[q][r] = _mm512_setzero_ps();
  }
  const uint16_t* p0 = panels[0];
  const uint16_t* p1 = kPanels == 2 ? panels[1] : panels[0];
  for (int64_t i = 0; i < pairs; ++i) {
    const __m512bh b0 = (__m512bh)_mm512_load_si512(p0 + i * 2 * kWidth);
    const __m512bh b1 = (__m512bh)_mm512_load_si512(p1 + i * 2 * kWidth);
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      int32_t pair;
      std::memcpy(&pair, x + r * ldx + 2 * i, sizeof(pair));
      const __m512bh a = (__m512bh)_mm512_set1_epi32(pair);
      acc[0][r] = _mm512_dpbf16_ps(acc[0][r], a, b0);
      if constexpr (kPanels == 2) acc[1][r] = _mm512_dpbf16_ps(acc[1][r], a, b1);
    }
  }
  if (epilogue == ProductEpilogue::kSwiGlu) {
    // Every row of the tile at once (the sigmoid's exponential and division are long chains:
    // one row at a time left them latency-bound), in this function's AVX-512 lanes.
    constexpr int kCount = kPanels * kRows * kHalf;
    alignas(64) float gate[kCount], up[kCount], out[kCount];
#pragma GCC unroll 8
    for (int q = 0; q < kPanels; ++q) {
#pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r) {
        const __m512 v = acc[q][r];
        const int at = (q * kRows + r) * kHalf;
        _mm256_store_ps(gate + at, _mm512_castps512_ps256(v));
        _mm256_store_ps(up + at, _mm512_castps512_ps256(_mm512_shuffle_f32x4(v, v, 0xee)));
      }
    }
#pragma omp simd
    for (int i = 0; i < kCount; ++i) out[i] = FastSilu(gate[i]) * up[i];
    for (int q = 0; q < kPanels; ++q) {
      for (int r = 0; r < kRows; ++r) {
        std::memcpy(y[q] + r * ldy, out + (q * kRows + r) * kHalf, cols[q] * sizeof(float));
      }
    }
    return;
  }
  alignas(64) float tile[kRows][kWidth];
#pragma GCC unroll 8
  for (int q = 0; q < kPanels; ++q) {
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      float* yr = y[q] + r * ldy;
      if (cols[q] == kWidth && epilogue != ProductEpilogue::kSwiGlu) {
        __m512 v = acc[q][r];
        if (epilogue == ProductEpilogue::kAccumulate) v = _mm512_add_ps(v, _mm512_loadu_ps(yr));
        _mm512_storeu_ps(yr, v);
        continue;
      }
      _mm512_store_ps(tile[r], acc[q][r]);
      FinishRow(tile[r], tile[r] + kHalf, yr, cols[q], epilogue);
    }
  }
}

#pragma GCC diagnostic pop

using TileBf16Fn = void (*)(const uint16_t*, int64_t, const uint16_t* const*, int64_t,
                            float* const*, int64_t, const int*, ProductEpilogue);

TileBf16Fn PickTileBf16(int rows, bool two_panels) {
  static const TileBf16Fn one[kTileRows + 1] = {
      nullptr,          TileBf16<1, 1>, TileBf16<2, 1>, TileBf16<3, 1>,
      TileBf16<4, 1>,   TileBf16<5, 1>, TileBf16<6, 1>};
  static const TileBf16Fn two[kTileRows + 1] = {
      nullptr,          TileBf16<1, 2>, TileBf16<2, 2>, TileBf16<3, 2>,
      TileBf16<4, 2>,   TileBf16<5, 2>, TileBf16<6, 2>};
  return two_panels ? two[rows] : one[rows];
}

__attribute__((target("avx512f,avx512bf16,avx512vl"))) void ConvertRowBf16Avx512(
    const float* x, int64_t width, uint16_t* xb) {
  int64_t i = 0;
  for (; i + 16 <= width; i += 16) {
    const __m256bh v = _mm512_cvtneps_pbh(_mm512_loadu_ps(x + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(xb + i), (__m256i)v);
  }
  for (; i < width; ++i) xb[i] = FloatToBf16(x[i]);
}

using TileFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, int,
                        ProductEpilogue, const float*);

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

void PackedWeight::Free::operator()(void* p) const { std::free(p); }

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

void PackedWeight::AddBf16Panels() {
  const int64_t pairs = (in_ + 1) / 2;
  bf16_.reset(static_cast<uint16_t*>(
      AllocateZeroed(static_cast<size_t>(panels_ * pairs * 2 * kWidth) * sizeof(uint16_t))));
  for (int64_t p = 0; p < panels_; ++p) {
    const float* source = panel(p);
    uint16_t* target = bf16_.get() + p * pairs * 2 * kWidth;
    for (int64_t i = 0; i < in_; ++i) {
      for (int c = 0; c < kWidth; ++c) {
        target[(i / 2) * 2 * kWidth + c * 2 + i % 2] = FloatToBf16(source[i * kWidth + c]);
      }
    }
  }
}

bool PackedProductBf16Supported() { return DetectCpuFeatures().avx512_bf16 && !force_portable; }

void ConvertRowsToBf16(const float* x, int64_t rows, int64_t ldx, int64_t width, uint16_t* xb,
                       int64_t ldxb) {
  const bool vector = DetectCpuFeatures().avx512_bf16;
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * ldx;
    uint16_t* out = xb + r * ldxb;
    if (vector) {
      ConvertRowBf16Avx512(row, width, out);
    } else {
      for (int64_t i = 0; i < width; ++i) out[i] = FloatToBf16(row[i]);
    }
    if (width % 2 != 0) out[width] = 0;
  }
}

void PackedProductBf16(const uint16_t* x, int64_t rows, int64_t ldx, const PackedWeight& w,
                       int64_t panel_begin, int64_t panel_end, float* y, int64_t ldy,
                       ProductEpilogue epilogue) {
  const int64_t columns_per_panel = w.swiglu() ? kHalf : kWidth;
  const int64_t pairs = (w.in() + 1) / 2;
  for (int64_t p = panel_begin; p < panel_end; p += 2) {
    const int count = p + 1 < panel_end ? 2 : 1;
    const uint16_t* panels[2];
    float* outputs[2];
    int cols[2];
    for (int q = 0; q < count; ++q) {
      const int64_t first = (p + q) * columns_per_panel;
      panels[q] = w.bf16_panel(p + q);
      outputs[q] = y + first;
      cols[q] = static_cast<int>(std::min(columns_per_panel, w.out() - first));
    }
    for (int64_t r = 0; r < rows; r += kTileRows) {
      const int tile_rows = static_cast<int>(std::min<int64_t>(kTileRows, rows - r));
      float* tile_outputs[2] = {outputs[0] + r * ldy, outputs[count - 1] + r * ldy};
      PickTileBf16(tile_rows, count == 2)(x + r * ldx, ldx, panels, pairs, tile_outputs, ldy,
                                          cols, epilogue);
    }
  }
}

void PackedProduct(const float* x, int64_t rows, int64_t ldx, const PackedWeight& w,
                   int64_t panel_begin, int64_t panel_end, float* y, int64_t ldy,
                   ProductEpilogue epilogue) {
  const int64_t columns_per_panel = w.swiglu() ? kHalf : kWidth;
  for (int64_t p = panel_begin; p < panel_end; ++p) {
    const int64_t first = p * columns_per_panel;
    const int cols = static_cast<int>(std::min(columns_per_panel, w.out() - first));
    const float* panel = w.panel(p);
    const float* next = p + 1 < panel_end ? w.panel(p + 1) : nullptr;
    for (int64_t r = 0, t = 0; r < rows; ++t) {
      const int tile_rows = BalancedTileRows(rows, t);
      PickTile(tile_rows)(x + r * ldx, ldx, panel, w.in(), y + r * ldy + first, ldy, cols,
                          epilogue, t == 0 ? next : nullptr);  // the first tile fetches ahead
      r += tile_rows;
    }
  }
}

const char* PackedProductIsa() { return HasAvx2() ? "avx2" : "portable"; }

void ForcePortablePackedProduct(bool force) { force_portable = force; }

}  // namespace infusion::engine
