// Fused inference kernels for the backbone's memory-bound steps, over raw float buffers. Each
// replaces a chain of 3–7 LibTorch operators (one pass over memory and one parallel region
// instead of one per operator); at a batch of 8 guided images those chains were a quarter of a
// denoise step (infusion-bench --engine --profile). LibTorch's composition stays the reference
// and the training path (engine/model/layers.cc); tests/model/fused_kernels_test.cc holds each
// kernel to it.
#ifndef INFUSION_ENGINE_KERNELS_ELEMENTWISE_H_
#define INFUSION_ENGINE_KERNELS_ELEMENTWISE_H_

#include <cstdint>

namespace infusion::engine {

// out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight, for rows r < rows of width dim.
void RmsNormRows(const float* x, const float* weight, float eps, int64_t rows, int64_t dim,
                 float* out);

// out[r][i] = silu(in[r][i]) * in[r][width + i]: the SwiGLU of a fused [gate; up] product
// ([rows, 2 * width] in, [rows, width] out).
void SwiGluRows(const float* in, int64_t rows, int64_t width, float* out);

// Rotary embedding in place, rotate-half convention, on `heads` heads of head_dim in each of
// `rows` rows (row r starts at x + r * row_stride). cos and sin are [rows, head_dim] tables
// whose halves repeat (engine/model/layers.h, ComputeRotaryTables).
void RotaryInPlace(float* x, int64_t rows, int64_t row_stride, int heads, int head_dim,
                   const float* cos, const float* sin);

// One row of RmsNormRows and of RotaryInPlace, for callers that split rows between threads of
// their own (engine/model/fused_decoder.h).
void RmsNormRow(const float* x, const float* weight, float eps, int64_t dim, float* out);
void RotaryRow(float* x, int heads, int64_t head_dim, const float* cos, const float* sin);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_KERNELS_ELEMENTWISE_H_
