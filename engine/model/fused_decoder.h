// The decoder layers of an inference step on CPU as one parallel region of plain C++ (the fused
// path): per layer, RMSNorm, the [q; k; v] product, rotary embedding and the KV-cache write,
// paged attention, the o product added to the residual, RMSNorm, the [gate; up] product with its
// SwiGLU, and the down product added to the residual — 8 phases separated by spinning barriers
// instead of ~25 LibTorch operators, each with its own dispatch, allocation and (for products)
// wake-up of a thread pool. Weights are packed once (engine/kernels/packed_product.h), buffers are
// kept across steps, and the paged KV cache is read and written in place.
//
// With bfloat16 panels in its weights (PackedWeight::AddBf16Panels), a step can send chosen rows
// (the executor: the positions of images being denoised) through the bfloat16 products; every
// other operation, and every other row, stays float32.
//
// Torch-free. The LibTorch modules (engine/model/layers.h) stay the reference, the training path
// and the path of anything but float32 inference on CPU; tests/model/fused_decoder_test.cc holds
// this one to them.
#ifndef INFUSION_ENGINE_MODEL_FUSED_DECODER_H_
#define INFUSION_ENGINE_MODEL_FUSED_DECODER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/attention/paged_attention.h"
#include "engine/kernels/packed_product.h"
#include "engine/kernels/phase_timer.h"
#include "engine/model/model_config.h"

namespace infusion::engine {

class SpinBarrier;  // engine/kernels/spin_barrier.h

struct FusedLayerWeights {
  std::vector<float> input_norm, post_norm;  // [hidden]
  PackedWeight qkv;                          // [q; k; v] rows of the three projections
  PackedWeight o;
  PackedWeight gate_up;  // PackedWeight::PackSwiGlu
  PackedWeight down;
};

// A step's paged attention, as the executor's backend holds it (engine/executor).
struct FusedAttentionStep {
  const std::vector<AttentionSpan>* spans = nullptr;
  const std::vector<int32_t>* write_rows = nullptr;   // packed rows whose K/V are written ...
  const std::vector<int64_t>* write_slots = nullptr;  // ... to these slots
  // Layer 0 of the caches (layouts of engine/attention/paged_attention.h); layer l starts
  // l * *_layer_stride floats further.
  float* k_cache = nullptr;
  float* v_cache = nullptr;
  int64_t k_layer_stride = 0;
  int64_t v_layer_stride = 0;
  int block_size = 0;
};

class FusedDecoderStack {
 public:
  FusedDecoderStack(const ModelConfig& config, std::vector<FusedLayerWeights> layers);
  ~FusedDecoderStack();

  // x: [rows, hidden] float32, the embedded positions, replaced by the last layer's output;
  // positions: [rows] RoPE positions. bf16_rows: null, or [rows] flags: the rows whose products
  // run in bfloat16 (needs has_bf16()).
  void Forward(float* x, int64_t rows, const int64_t* positions, const FusedAttentionStep& step,
               const uint8_t* bf16_rows = nullptr);

  // Whether the weights carry bfloat16 panels.
  bool has_bf16() const;

  // Where the steps' time goes, for infusion-bench --engine (engine/kernels/phase_timer.h).
  void EnablePhaseTiming(bool enable) { timing_ = enable; }
  PhaseTimes phase_times() const { return times_; }
  void ResetPhaseTimes() { times_ = {}; }

 private:
  // Everything one thread does in a step; `barrier` separates the phases.
  void RunThread(int thread, int threads, float* x, int64_t rows, const int64_t* positions,
                 const FusedAttentionStep& step, SpinBarrier& barrier);
  void Reserve(int64_t rows, int threads);
  // y (+)= x W^T for every row, each run of rows in its precision; panels [begin, end) of w.
  void Product(const float* x, const uint16_t* x_bf16, int64_t ldx, int64_t ldx_bf16,
               const PackedWeight& w, int64_t begin, int64_t end, float* y, int64_t ldy,
               ProductEpilogue epilogue) const;
  // The bfloat16 rows of [row_begin, row_end) of x (ldx wide), to x_bf16.
  void ConvertOwnRows(const float* x, int64_t ldx, int64_t row_begin, int64_t row_end,
                      uint16_t* x_bf16, int64_t ldx_bf16) const;

  int64_t hidden_, heads_, kv_heads_, head_dim_, intermediate_;
  float eps_;
  std::vector<float> inv_freq_;  // [head_dim / 2], as ComputeRotaryTables
  std::vector<FusedLayerWeights> layers_;

  // Buffers kept across steps, grown to the largest step seen.
  int64_t capacity_rows_ = 0;
  std::vector<float> normed_;  // [rows, hidden]
  std::vector<float> qkv_;     // [rows, (heads + 2 kv_heads) head_dim]
  std::vector<float> attn_;    // [rows, heads head_dim]
  std::vector<float> mlp_;     // [rows, intermediate]
  std::vector<float> cos_, sin_;  // [rows, head_dim]
  // The step's rows as runs of one precision, and the bfloat16 copies of the products' inputs
  // for its bfloat16 rows (rows padded to even widths).
  struct RowRun {
    int64_t begin, end;
    bool bf16;
  };
  std::vector<RowRun> runs_;
  bool any_bf16_ = false;
  int64_t hidden_bf16_, q_width_bf16_, intermediate_bf16_;
  std::vector<uint16_t> normed_bf16_, attn_bf16_, mlp_bf16_;
  std::vector<PagedAttentionScratch> scratch_;  // one per thread
  PagedAttentionWork work_;
  std::unique_ptr<std::atomic<int64_t>[]> next_item_;  // per layer: attention items claimed
  bool timing_ = false;
  PhaseTimes times_;  // written by thread 0 only
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_MODEL_FUSED_DECODER_H_
