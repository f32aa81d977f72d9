// AttentionBackend over the paged KV cache: in each layer, first writes the step's new K/V of
// every writing span into its cache slots (so that a span may read blocks another span of the
// same step fills), then runs the CPU paged-attention kernel for all spans at once.
#ifndef INFUSION_ENGINE_EXECUTOR_PAGED_ATTENTION_BACKEND_H_
#define INFUSION_ENGINE_EXECUTOR_PAGED_ATTENTION_BACKEND_H_

#include <vector>

#include <ATen/core/Tensor.h>

#include "engine/attention/paged_attention.h"
#include "engine/model/attention_backend.h"
#include "engine/model/fused_decoder.h"

namespace infusion::engine {

class PagedAttentionBackend : public AttentionBackend {
 public:
  // k_cache: [num_layers, num_blocks, num_kv_heads, head_dim, block_size] (keys transposed
  // within each block), v_cache: [num_layers, num_blocks, block_size, num_kv_heads, head_dim];
  // float32, contiguous. `spans` point into memory the caller keeps alive for the forward pass.
  PagedAttentionBackend(at::Tensor k_cache, at::Tensor v_cache, std::vector<AttentionSpan> spans,
                        std::vector<int32_t> write_rows, std::vector<int64_t> write_slots);

  at::Tensor Forward(int layer, const at::Tensor& q, const at::Tensor& k,
                     const at::Tensor& v) override;
  const FusedAttentionStep* fused_step() const override { return &fused_step_; }

 private:
  at::Tensor k_cache_, v_cache_;
  std::vector<AttentionSpan> spans_;
  std::vector<int32_t> write_rows_;   // packed rows whose K/V are written ...
  std::vector<int64_t> write_slots_;  // ... to these slots
  FusedAttentionStep fused_step_;     // the same, for the fused decoder stack
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_EXECUTOR_PAGED_ATTENTION_BACKEND_H_
