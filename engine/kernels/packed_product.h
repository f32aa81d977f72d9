// y = x W^T for the fused decoder stack (engine/model/fused_decoder.h): the weight packed once
// into panels of 16 output columns, [panels][in][16], so that a tile of up to 6 rows x 16 columns
// streams its panel once with vector multiply-adds and no horizontal sums (the register tile of
// BLIS's Haswell kernel). A caller splits the panels between the threads it already runs, so a
// product costs no wake-up of a thread pool: at the bundled model's sizes a product is tens of
// microseconds, the same order as waking a sleeping OpenMP or OpenBLAS thread.
//
// Runs AVX2 + FMA code where the CPU has it (checked once at run time), portable C++ elsewhere.
// Sums run over `in` in order for every output, in float32 (results differ from a BLAS's only in
// rounding: tests/model/fused_decoder_test.cc).
//
// Where the CPU has AVX512-BF16, a weight can also carry a bfloat16 copy of its panels for
// PackedProductBf16: inputs and weights rounded to bfloat16 (nearest even), products summed in
// float32 by the dot-product instruction, twice the float32 kernel's arithmetic rate. Each
// output's sum still runs over `in` in order, so a row's result depends on nothing but that row
// (batched == alone holds in bfloat16 as in float32).
#ifndef INFUSION_ENGINE_KERNELS_PACKED_PRODUCT_H_
#define INFUSION_ENGINE_KERNELS_PACKED_PRODUCT_H_

#include <cstdint>
#include <memory>

namespace infusion::engine {

// What a product does with its result tile.
enum class ProductEpilogue {
  kStore,       // y = x W^T
  kAccumulate,  // y += x W^T (a residual connection)
  kSwiGlu,      // a PackSwiGlu weight: y[:, i] = silu((x G^T)[:, i]) * (x U^T)[:, i]
};

class PackedWeight {
 public:
  static constexpr int kPanelWidth = 16;

  PackedWeight() = default;
  // w: [out, in] row-major (a Linear layer's weight).
  static PackedWeight Pack(const float* w, int64_t out, int64_t in);
  // The SwiGLU of a gate and an up projection (each [width, in]) as one product: panel p holds
  // gate rows [8p, 8p + 8) then the same up rows, so that its tile yields 8 finished outputs.
  static PackedWeight PackSwiGlu(const float* gate, const float* up, int64_t width, int64_t in);

  bool empty() const { return data_ == nullptr; }
  int64_t in() const { return in_; }
  // Columns of the result: out of Pack, width of PackSwiGlu.
  int64_t out() const { return out_; }
  int64_t panels() const { return panels_; }
  bool swiglu() const { return swiglu_; }
  const float* panel(int64_t p) const { return data_.get() + p * in_ * kPanelWidth; }

  // Adds the bfloat16 copy of the panels that PackedProductBf16 reads: panel p is
  // [ceil(in / 2)][16][2], each pair of consecutive inputs side by side (the operand layout of
  // AVX512-BF16's dot product), an odd `in` padded with a zero.
  void AddBf16Panels();
  bool has_bf16() const { return bf16_ != nullptr; }
  const uint16_t* bf16_panel(int64_t p) const {
    return bf16_.get() + p * ((in_ + 1) / 2) * 2 * kPanelWidth;
  }

 private:
  struct Free {
    void operator()(void* p) const;
  };
  std::unique_ptr<float, Free> data_;
  std::unique_ptr<uint16_t, Free> bf16_;
  int64_t in_ = 0, out_ = 0, panels_ = 0;
  bool swiglu_ = false;
};

// Rows [0, rows) of x (row r at x + r * ldx, w.in() wide) times panels [panel_begin, panel_end)
// of w, into the matching columns of y (row r at y + r * ldy). `epilogue` must be kSwiGlu
// exactly when w was packed by PackSwiGlu.
void PackedProduct(const float* x, int64_t rows, int64_t ldx, const PackedWeight& w,
                   int64_t panel_begin, int64_t panel_end, float* y, int64_t ldy,
                   ProductEpilogue epilogue);

// Whether PackedProductBf16 can run here: the CPU has AVX512-BF16 (and the portable code is not
// forced).
bool PackedProductBf16Supported();

// The bfloat16 (nearest even; a NaN stays a NaN) of each float of rows [0, rows) of x (row r at
// x + r * ldx, `width` wide) into xb (row r at xb + r * ldxb), a zero after an odd width: the
// input rows of PackedProductBf16. ldxb must be even and at least width rounded up to even.
void ConvertRowsToBf16(const float* x, int64_t rows, int64_t ldx, int64_t width, uint16_t* xb,
                       int64_t ldxb);

// PackedProduct over bfloat16 input rows (ConvertRowsToBf16; ldx even, in uint16 elements) and
// w's bfloat16 panels (w.has_bf16()), with float32 sums and results. Requires
// PackedProductBf16Supported().
void PackedProductBf16(const uint16_t* x, int64_t rows, int64_t ldx, const PackedWeight& w,
                       int64_t panel_begin, int64_t panel_end, float* y, int64_t ldy,
                       ProductEpilogue epilogue);

// Which code PackedProduct runs on this CPU: "avx2" or "portable".
const char* PackedProductIsa();
// Tests: run the portable code even where the CPU has AVX2 (process-wide; not thread-safe
// against running products).
void ForcePortablePackedProduct(bool force);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_KERNELS_PACKED_PRODUCT_H_
