// How the transformer's attention reads keys and values. The model computes q/k/v (RoPE applied)
// for the packed positions of a step and hands them to a backend:
//   - DenseAttention (here): a dense masked softmax over [B, L] rows; the trainer's path and the
//     test oracle (full recompute, no cache);
//   - the engine's paged backend: writes K/V into the paged cache and attends each span against
//     its own cached prefix.
#ifndef INFUSION_ENGINE_MODEL_ATTENTION_BACKEND_H_
#define INFUSION_ENGINE_MODEL_ATTENTION_BACKEND_H_

#include <ATen/core/Tensor.h>

namespace infusion::engine {

struct FusedAttentionStep;  // engine/model/fused_decoder.h

class AttentionBackend {
 public:
  virtual ~AttentionBackend() = default;
  // q: [T, num_heads, head_dim]; k, v: [T, num_kv_heads, head_dim], RoPE already applied to q, k.
  // Query head h uses key/value head h / (num_heads / num_kv_heads) (grouped-query attention).
  // Returns [T, num_heads, head_dim].
  virtual at::Tensor Forward(int layer, const at::Tensor& q, const at::Tensor& k,
                             const at::Tensor& v) = 0;
  // The paged KV cache and this step's spans, for the fused CPU decoder stack; null (the
  // default) where the backend has none, and the layers then run module by module.
  virtual const FusedAttentionStep* fused_step() const { return nullptr; }
};

// softmax(q k^T / sqrt(head_dim) + mask) v over B rows of L positions, packed as T = B * L.
class DenseAttention : public AttentionBackend {
 public:
  // mask: [B, L, L] bool (see attention_mask.h), true where query i may attend to key j.
  explicit DenseAttention(at::Tensor mask);
  at::Tensor Forward(int layer, const at::Tensor& q, const at::Tensor& k,
                     const at::Tensor& v) override;

 private:
  at::Tensor mask_;  // [B, 1, L, L] bool
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_MODEL_ATTENTION_BACKEND_H_
