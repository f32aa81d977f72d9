#include "engine/executor/paged_attention_backend.h"

#include <ATen/ATen.h>
#include <ATen/record_function.h>

#include <cmath>

#include "common/logging.h"

namespace infusion::engine {

PagedAttentionBackend::PagedAttentionBackend(at::Tensor k_cache, at::Tensor v_cache,
                                             std::vector<AttentionSpan> spans,
                                             std::vector<int32_t> write_rows,
                                             std::vector<int64_t> write_slots)
    : k_cache_(std::move(k_cache)),
      v_cache_(std::move(v_cache)),
      spans_(std::move(spans)),
      write_rows_(std::move(write_rows)),
      write_slots_(std::move(write_slots)) {
  CHECK(k_cache_.is_contiguous() && v_cache_.is_contiguous());
  CHECK_EQ(write_rows_.size(), write_slots_.size());
  fused_step_.spans = &spans_;
  fused_step_.write_rows = &write_rows_;
  fused_step_.write_slots = &write_slots_;
  fused_step_.k_cache = k_cache_.data_ptr<float>();
  fused_step_.v_cache = v_cache_.data_ptr<float>();
  fused_step_.k_layer_stride = k_cache_.stride(0);
  fused_step_.v_layer_stride = v_cache_.stride(0);
  fused_step_.block_size = static_cast<int>(v_cache_.size(2));
}

at::Tensor PagedAttentionBackend::Forward(int layer, const at::Tensor& q, const at::Tensor& k,
                                          const at::Tensor& v) {
  RECORD_FUNCTION("infusion::paged_attention", std::vector<c10::IValue>());
  // Rows may be strided (views of the fused [q | k | v] product) as long as each row packs its
  // heads; anything else is copied first.
  auto packed_rows = [](const at::Tensor& t) {
    return t.scalar_type() == at::kFloat && t.stride(2) == 1 && t.stride(1) == t.size(2) &&
           t.stride(0) >= t.size(1) * t.size(2);
  };
  const at::Tensor qc = packed_rows(q) ? q : q.contiguous();
  at::Tensor kc = k, vc = v;
  if (!packed_rows(k) || !packed_rows(v) || k.stride(0) != v.stride(0)) {
    kc = k.contiguous();
    vc = v.contiguous();
  }
  // k: [blocks, Hkv, D, bs] (transposed per block), v: [blocks, bs, Hkv, D].
  at::Tensor k_cache = k_cache_[layer], v_cache = v_cache_[layer];
  const int block_size = static_cast<int>(v_cache.size(1));
  const int kv_heads = static_cast<int>(k.size(1)), head_dim = static_cast<int>(k.size(2));
  WriteKvCache(kc.data_ptr<float>(), vc.data_ptr<float>(), kc.stride(0), write_rows_, write_slots_,
               kv_heads, head_dim, block_size, k_cache.data_ptr<float>(),
               v_cache.data_ptr<float>());
  at::Tensor out = at::empty({q.size(0), q.size(1), q.size(2)}, q.options());
  PagedAttentionArgs args;
  args.q = qc.data_ptr<float>();
  args.k = kc.data_ptr<float>();
  args.v = vc.data_ptr<float>();
  args.q_row_stride = qc.stride(0);
  args.kv_row_stride = kc.stride(0);
  args.k_cache = k_cache.data_ptr<float>();
  args.v_cache = v_cache.data_ptr<float>();
  args.out = out.data_ptr<float>();
  args.num_heads = static_cast<int>(q.size(1));
  args.num_kv_heads = kv_heads;
  args.head_dim = head_dim;
  args.block_size = block_size;
  args.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  PagedAttention(args, spans_);
  return out;
}

}  // namespace infusion::engine
