#include "trainer/document_attention.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <map>

#include "common/logging.h"
#include "engine/model/attention_mask.h"

namespace infusion::trainer {

using engine::BuildAttentionMask;

DocumentAttention::DocumentAttention(const at::Tensor& image_ids, const at::Tensor& doc_ids) {
  CHECK_EQ(image_ids.dim(), 2);
  const at::Tensor images = image_ids.contiguous(), docs = doc_ids.contiguous();
  const int64_t rows = docs.size(0), length = docs.size(1);
  const int64_t* doc = docs.data_ptr<int64_t>();
  // Start positions (in the flattened batch) of the documents of each length.
  std::map<int64_t, std::vector<int64_t>> starts_by_length;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t begin = r * length, end = begin; begin < (r + 1) * length; begin = end) {
      while (end < (r + 1) * length && doc[end] == doc[begin]) ++end;
      starts_by_length[end - begin].push_back(begin);
    }
  }
  std::vector<int64_t> order;
  order.reserve(rows * length);
  for (const auto& [n, starts] : starts_by_length) {
    const int64_t first = static_cast<int64_t>(order.size());
    for (int64_t start : starts) {
      for (int64_t i = 0; i < n; ++i) order.push_back(start + i);
    }
    const int64_t count = static_cast<int64_t>(starts.size());
    const at::Tensor positions =
        at::tensor(std::vector<int64_t>(order.begin() + first, order.end()), at::kLong);
    const at::Tensor group_images = images.view(-1).index_select(0, positions).view({count, n});
    groups_.push_back(
        {count, n, BuildAttentionMask(group_images, at::zeros_like(group_images)).unsqueeze(1)});
  }
  order_ = at::tensor(order, at::kLong);
  inverse_ = at::empty_like(order_);
  inverse_.index_put_({order_}, at::arange(order_.numel(), at::kLong));
}

at::Tensor DocumentAttention::Forward(int /*layer*/, const at::Tensor& q, const at::Tensor& k,
                                      const at::Tensor& v) {
  const int64_t heads = q.size(1), kv_heads = k.size(1), dim = q.size(2);
  const int64_t groups_per_kv = heads / kv_heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(dim));
  const at::Tensor qo = q.index_select(0, order_), ko = k.index_select(0, order_),
                   vo = v.index_select(0, order_);
  // [n, L, K, D] -> [n, H, L, D], each key/value head serving heads / K query heads.
  auto heads_first = [&](const at::Tensor& x, int64_t count, int64_t length) {
    at::Tensor t = x.view({count, length, kv_heads, 1, dim});
    t = t.expand({count, length, kv_heads, groups_per_kv, dim})
            .reshape({count, length, heads, dim});
    return t.transpose(1, 2);
  };
  std::vector<at::Tensor> outputs;
  int64_t offset = 0;
  for (const Group& g : groups_) {
    const int64_t n = g.count * g.length;
    const at::Tensor qg =
        qo.narrow(0, offset, n).view({g.count, g.length, heads, dim}).transpose(1, 2);
    const at::Tensor kg = heads_first(ko.narrow(0, offset, n), g.count, g.length);
    const at::Tensor vg = heads_first(vo.narrow(0, offset, n), g.count, g.length);
    const at::Tensor scores =
        (at::matmul(qg, kg.transpose(-2, -1)) * scale)
            .masked_fill(g.mask.logical_not(), -std::numeric_limits<float>::infinity());
    const at::Tensor out = at::matmul(at::softmax(scores, -1), vg);  // [count, H, L, D]
    outputs.push_back(out.transpose(1, 2).reshape({n, heads, dim}));
    offset += n;
  }
  return at::cat(outputs).index_select(0, inverse_);
}

}  // namespace infusion::trainer
