#include "engine/model/attention_backend.h"

#include <cmath>

#include <ATen/ATen.h>

#include "common/logging.h"

namespace infusion::engine {

// Repeats each of the kv heads `groups` times: [B, L, Hkv, D] -> [B, L, Hkv * groups, D].
static at::Tensor RepeatKv(const at::Tensor& x, int64_t groups) {
  if (groups == 1) return x;
  const auto s = x.sizes();
  return x.unsqueeze(3).expand({s[0], s[1], s[2], groups, s[3]}).reshape({s[0], s[1], s[2] * groups, s[3]});
}

DenseAttention::DenseAttention(at::Tensor mask) : mask_(mask.unsqueeze(1)) {
  CHECK_EQ(mask.dim(), 3);
}

at::Tensor DenseAttention::Forward(int layer, const at::Tensor& q, const at::Tensor& k,
                                   const at::Tensor& v) {
  const int64_t batch = mask_.size(0), length = mask_.size(2);
  const int64_t heads = q.size(1), kv_heads = k.size(1), dim = q.size(2);
  CHECK_EQ(q.size(0), batch * length);
  const at::Tensor qb = q.view({batch, length, heads, dim}).transpose(1, 2);  // [B, H, L, D]
  const at::Tensor kb = RepeatKv(k.view({batch, length, kv_heads, dim}), heads / kv_heads).transpose(1, 2);
  const at::Tensor vb = RepeatKv(v.view({batch, length, kv_heads, dim}), heads / kv_heads).transpose(1, 2);
  at::Tensor scores = at::matmul(qb, kb.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(dim)));
  scores = scores.masked_fill(mask_.logical_not(), -std::numeric_limits<float>::infinity());
  const at::Tensor out = at::matmul(at::softmax(scores, -1), vb);  // [B, H, L, D]
  return out.transpose(1, 2).reshape({batch * length, heads, dim});
}

}  // namespace infusion::engine
